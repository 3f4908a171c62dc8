// End to end: the hardening of the auth flows — bounded validation cost, identifier
// caps and digested limit keys, account-wide login limits with back-off that the owner
// can always get past, atomic login limits, per-IP limits on code checks, codes and
// reset tokens bound to the password state, limits on password checks and on live
// sessions, and control characters in names.

#include "auth_support.hpp"
#include "core/text.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <thread>

using namespace portcullis::test;
using namespace portcullis::test::auth;
using portcullis::core::utf8_encode;

namespace {

reply wrong_login(const client& c, const std::string& email)
{
    return c.post("/api/auth/login", {{"email", email}, {"password", "Wrong-pass-1"}});
}

// Forgot -> code -> verify-otp: a reset token for the mailbox's address.
std::string reset_token(const client& c, mailbox& box)
{
    const std::string& email = box.address();
    REQUIRE(c.post("/api/auth/password/forgot", {{"email", email}}).status == 202);
    std::string code = box.next_code(reset_subject);
    auto r = c.post("/api/auth/password/verify-otp", {{"email", email}, {"otp", code}});
    REQUIRE(r.status == 200);
    return r.body["reset_token"];
}

std::vector<std::string> keys_with(const std::string& prefix, const std::string& part)
{
    std::vector<std::string> out;
    for (const auto& [k, v] : redis_dump(prefix)) {
        if (k.find(part) != std::string::npos) out.push_back(k);
    }
    return out;
}

}  // namespace

TEST_CASE("register: an oversized full name is refused for its size before the password is compared")
{
    server_fixture srv;
    client c(srv.port());
    // 1791 distinct two-byte characters (3582 bytes, under the 4096-byte field cap), and a
    // name of the same characters interleaved with 'x': the worst case of the longest-block
    // similarity (minutes of one I/O thread).
    std::string password;
    for (char32_t cp = 0x100; cp < 0x7ff; ++cp) password += utf8_encode(cp);
    std::string pattern;
    for (char32_t cp = 0x100; cp < 0x7ff; ++cp) pattern += utf8_encode(cp) + "x";
    std::string huge;
    while (huge.size() + pattern.size() < 900'000) huge += pattern;

    auto r = c.post("/api/auth/register", {{"email", unique_email("h1")},
                                           {"username", unique_username("h1")},
                                           {"password", password},
                                           {"full_name", huge}});
    CHECK(r.status == 400);
    CHECK(r.code() == "validation_failed");
    CHECK_FALSE(r.detail("full_name").empty());

    // Under the transport cap but over 150 characters: its own message, no similarity verdict.
    std::string name;
    for (char32_t cp = 0x100; name.size() < 3990; ++cp) name += utf8_encode(cp) + "x";
    REQUIRE(password.size() <= 4096);
    auto mid = c.post("/api/auth/register", {{"email", unique_email("h1")},
                                             {"username", unique_username("h1")},
                                             {"password", password},
                                             {"full_name", name}});
    INFO(mid.raw.body);
    CHECK(mid.status == 400);
    CHECK(mid.detail("full_name") == "Ensure this field has no more than 150 characters.");
    CHECK(mid.detail("password").find("similar") == std::string::npos);
    // The server answers at once afterwards.
    CHECK(c.get("/healthz").status == 200);
}

TEST_CASE("login: over-long identifiers are refused before any I/O; limit keys never contain identifiers")
{
    server_fixture srv;
    client c(srv.port());
    std::string long_local(300, 'a');
    auto by_mail = c.post("/api/auth/login", {{"email", long_local + "@example.com"}, {"password", "Wrong-pass-1"}});
    CHECK(by_mail.status == 400);
    CHECK(by_mail.detail("email") == "Ensure this field has no more than 254 characters.");
    auto by_name = c.post("/api/auth/login", {{"username", std::string(151, 'u')}, {"password", "Wrong-pass-1"}});
    CHECK(by_name.status == 400);
    CHECK(by_name.detail("username") == "Ensure this field has no more than 150 characters.");
    CHECK(keys_with(srv.redis_prefix(), "aaaaaaaaaa").empty());
    CHECK(keys_with(srv.redis_prefix(), "uuuuuuuuuu").empty());

    // A normal failed login is counted under a digest of the identifier.
    std::string who = unique_email("keyed");
    CHECK(wrong_login(c, who).status == 401);
    CHECK_FALSE(keys_with(srv.redis_prefix(), "rl:login:").empty());
    std::string local = who.substr(0, who.find('@'));
    const auto limit_keys_naming = [&] {
        auto keys = keys_with(srv.redis_prefix(), "rl:");
        return std::count_if(keys.begin(), keys.end(),
                             [&](const std::string& k) { return k.find(local) != std::string::npos; });
    };
    CHECK(limit_keys_naming() == 0);
    // Register/forgot address limits too.
    CHECK(c.post("/api/auth/password/forgot", {{"email", who}}).status == 202);
    CHECK_FALSE(keys_with(srv.redis_prefix(), "rl:forgot:addr:").empty());
    CHECK(limit_keys_naming() == 0);
}

TEST_CASE("login: an account-wide failure limit holds across networks; the owner's network and a reset get past it")
{
    server_fixture srv(env_map{{"LOGIN_FAIL_LIMIT", "1000"},
                               {"LOGIN_IP_LIMIT", "1000"},
                               {"LOGIN_ACCOUNT_LIMIT", "5"},
                               {"LOGIN_ACCOUNT_FREE_FAILURES", "1000"},
                               {"OTP_RESEND_COOLDOWN", "0"}});
    client c(srv.port());
    account a = register_active(c, "acctwide");
    for (int i = 0; i < 5; ++i) CHECK(wrong_login(c, a.email).status == 401);
    auto held = wrong_login(c, a.email);
    CHECK(held.status == 429);
    CHECK(held.retry_after() >= 1);
    // The right password waits too: this network never logged in to the account.
    CHECK(c.post("/api/auth/login", {{"email", a.email}, {"password", a.password}}).status == 429);
    // By username it is the same account, so the same limit.
    CHECK(c.post("/api/auth/login", {{"username", a.username}, {"password", a.password}}).status == 429);

    // The owner resets the password: the failure run ends.
    mailbox box(a.email);
    std::string token = reset_token(c, box);
    REQUIRE(c.post("/api/auth/password/reset",
                   {{"reset_token", token}, {"new_password", other_password}, {"confirm_password", other_password}})
                .status == 200);
    REQUIRE(c.post("/api/auth/login", {{"email", a.email}, {"password", other_password}}).status == 200);

    // Now this network is known to the account: failures from elsewhere cannot lock it out.
    for (int i = 0; i < 7; ++i) CHECK(wrong_login(c, a.email).status == 401);
    CHECK(c.post("/api/auth/login", {{"email", a.email}, {"password", other_password}}).status == 200);
    for (int i = 0; i < 6; ++i) CHECK(wrong_login(c, a.email).status == 401);
    // A network that never logged in (this one, once its marker is gone) is held.
    auto known = keys_with(srv.redis_prefix(), "rl:login:known:");
    REQUIRE_FALSE(known.empty());
    for (const auto& k : known) redis_command({"DEL", k});
    CHECK(c.post("/api/auth/login", {{"email", a.email}, {"password", other_password}}).status == 429);
}

TEST_CASE("login: past the free failures every further failure makes the account wait longer")
{
    server_fixture srv(env_map{{"LOGIN_FAIL_LIMIT", "1000"},
                               {"LOGIN_IP_LIMIT", "1000"},
                               {"LOGIN_ACCOUNT_FREE_FAILURES", "2"},
                               {"LOGIN_ACCOUNT_MAX_DELAY", "600"}});
    client c(srv.port());
    account a = register_active(c, "backoff");
    CHECK(wrong_login(c, a.email).status == 401);
    CHECK(wrong_login(c, a.email).status == 401);
    // The third failure starts a 2-second wait before the next attempt.
    CHECK(wrong_login(c, a.email).status == 401);
    auto waiting = c.post("/api/auth/login", {{"email", a.email}, {"password", a.password}});
    CHECK(waiting.status == 429);
    CHECK(waiting.retry_after() >= 1);
    CHECK(waiting.retry_after() <= 2);
}

TEST_CASE("login: 20 parallel wrong passwords get exactly LOGIN_FAIL_LIMIT answers of 401")
{
    server_fixture srv(env_map{{"LOGIN_FAIL_LIMIT", "5"}, {"LOGIN_ACCOUNT_LIMIT", "1000"}});
    client c(srv.port());
    account a = register_active(c, "burst");
    std::vector<reply> replies(20);
    std::vector<std::thread> threads;
    for (std::size_t i = 0; i < replies.size(); ++i) {
        threads.emplace_back([&, i] {
            replies[i] = c.call_unchecked("POST", "/api/auth/login", json{{"email", a.email}, {"password", "Wrong-1"}});
        });
    }
    for (auto& t : threads) t.join();
    int unauthorized = 0, limited = 0;
    for (const auto& r : replies) {
        check_response(r, "parallel login");
        unauthorized += r.status == 401;
        limited += r.status == 429;
    }
    CHECK(unauthorized == 5);
    CHECK(limited == 15);
}

TEST_CASE("code checks: failed checks are limited per IP across addresses; answers do not tell an outstanding code")
{
    server_fixture srv(env_map{{"OTP_IP_LIMIT", "3"}});
    client c(srv.port());
    // Guesses spread over many addresses.
    for (int i = 0; i < 3; ++i) {
        auto r = c.post("/api/auth/password/verify-otp", {{"email", unique_email("spread")}, {"otp", "123456"}});
        CHECK(r.status == 400);
        // No code was ever sent: the same answer as a wrong one.
        CHECK(r.code() == "invalid_otp");
    }
    auto held = c.post("/api/auth/password/verify-otp", {{"email", unique_email("spread")}, {"otp", "123456"}});
    CHECK(held.status == 429);
    CHECK(held.retry_after() >= 1);
    auto held_verify = c.post("/api/auth/verify-email", {{"email", unique_email("spread")}, {"otp", "123456"}});
    CHECK(held_verify.status == 429);
}

TEST_CASE("verify-email: 'already verified' is answered after the code check, so it is throttled like a guess")
{
    server_fixture srv(env_map{{"OTP_IP_LIMIT", "2"}});
    client c(srv.port());
    account a = register_active(c, "verified409");
    CHECK(c.post("/api/auth/verify-email", {{"email", a.email}, {"otp", "123456"}}).status == 409);
    CHECK(c.post("/api/auth/verify-email", {{"email", a.email}, {"otp", "123456"}}).status == 409);
    auto held = c.post("/api/auth/verify-email", {{"email", a.email}, {"otp", "123456"}});
    CHECK(held.status == 429);
}

TEST_CASE("reset: a code sent before a password change no longer works; a completed reset voids other tokens")
{
    server_fixture srv(env_map{{"OTP_RESEND_COOLDOWN", "0"}});
    client c(srv.port());
    account a = register_active(c, "bound");
    REQUIRE(c.post("/api/auth/password/forgot", {{"email", a.email}}).status == 202);
    mailbox box(a.email);
    std::string code = box.next_code(reset_subject);
    auto s = login(c, a);
    REQUIRE(
        c.post("/api/auth/password/change",
               {{"old_password", a.password}, {"new_password", other_password}, {"confirm_password", other_password}},
               s.access)
            .status == 200);
    auto stale = c.post("/api/auth/password/verify-otp", {{"email", a.email}, {"otp", code}});
    CHECK(stale.status == 400);
    CHECK(stale.code() == "invalid_otp");

    // Two reset tokens for the same password: the first reset voids the second.
    std::string t1 = reset_token(c, box);
    std::string t2 = reset_token(c, box);
    const std::string third = "Zq8$lantern-Heron";
    CHECK(
        c.post("/api/auth/password/reset", {{"reset_token", t1}, {"new_password", third}, {"confirm_password", third}})
            .status == 200);
    auto late = c.post("/api/auth/password/reset",
                       {{"reset_token", t2}, {"new_password", good_password}, {"confirm_password", good_password}});
    CHECK(late.status == 401);
    CHECK(late.code() == "token_revoked");
    CHECK(c.post("/api/auth/login", {{"email", a.email}, {"password", third}}).status == 200);
}

TEST_CASE("password checks: change and delete are limited with login; live sessions are capped")
{
    server_fixture srv(env_map{{"PASSWORD_CHECK_LIMIT", "4"}, {"MAX_SESSIONS_PER_USER", "2"}});
    client c(srv.port());
    account a = register_active(c, "checks");
    auto s1 = login(c, a, "one");
    auto s2 = login(c, a, "two");
    auto s3 = login(c, a, "three");
    // The third login ended the oldest session.
    CHECK(c.get("/api/users/me", s1.access).status == 401);
    CHECK(c.get("/api/users/me", s3.access).status == 200);
    auto list = c.get("/api/auth/sessions", s3.access);
    REQUIRE(list.status == 200);
    CHECK(list.body["results"].size() == 2);

    // A wrong current password is a password check like a login.
    auto wrong =
        c.post("/api/auth/password/change",
               {{"old_password", "Not-it-123"}, {"new_password", other_password}, {"confirm_password", other_password}},
               s3.access);
    CHECK(wrong.status == 400);
    // Four checks a minute: the next one, even with the right password, waits.
    auto change =
        c.post("/api/auth/password/change",
               {{"old_password", a.password}, {"new_password", other_password}, {"confirm_password", other_password}},
               s3.access);
    CHECK(change.status == 429);
    CHECK(change.retry_after() >= 1);
    auto del = c.call("DELETE", "/api/users/me", json{{"password", a.password}}, s3.access);
    CHECK(del.status == 429);
    CHECK(c.post("/api/auth/login", {{"email", a.email}, {"password", a.password}}).status == 429);
    (void)s2;
}

TEST_CASE("password checks: wrong current passwords count towards the account's login failures")
{
    server_fixture srv(env_map{{"LOGIN_FAIL_LIMIT", "2"}});
    client c(srv.port());
    account a = register_active(c, "oldpw");
    auto s = login(c, a);
    for (int i = 0; i < 2; ++i) {
        auto r = c.call("DELETE", "/api/users/me", json{{"password", "Not-it-123"}}, s.access);
        CHECK(r.status == 400);
    }
    auto held = c.call("DELETE", "/api/users/me", json{{"password", a.password}}, s.access);
    CHECK(held.status == 429);
    CHECK(c.get("/api/users/me", s.access).status == 200);
}

TEST_CASE("names with control characters are refused (they would go raw into mail text)")
{
    server_fixture srv;
    client c(srv.port());
    auto r = c.post("/api/auth/register", {{"email", unique_email("ctl")},
                                           {"username", unique_username("ctl")},
                                           {"password", good_password},
                                           {"full_name", "Alice\n\nACTION REQUIRED: reply with the code"}});
    CHECK(r.status == 400);
    CHECK_FALSE(r.detail("full_name").empty());
    account a = register_active(c, "ctlpatch");
    auto s = login(c, a);
    auto p = c.call("PATCH", "/api/users/me", json{{"full_name", "a\r\nb"}}, s.access);
    CHECK(p.status == 400);
    CHECK_FALSE(p.detail("full_name").empty());
    CHECK(c.call("PATCH", "/api/users/me", json{{"full_name", "Zoë d'Arc"}}, s.access).status == 200);
}

TEST_CASE("cookie mode: cookie_only keeps the tokens out of the body; COOKIE_NAME_PREFIX uses __Host-/__Secure- names")
{
    server_fixture srv(env_map{{"COOKIE_NAME_PREFIX", "true"}, {"COOKIE_SECURE", "true"}});
    client c(srv.port());
    account a = register_active(c, "hostcookie");
    auto r = c.post("/api/auth/login",
                    {{"email", a.email}, {"password", a.password}, {"cookie", true}, {"cookie_only", true}});
    REQUIRE(r.status == 200);
    CHECK_FALSE(r.body.contains("access"));
    CHECK_FALSE(r.body.contains("refresh"));
    CHECK(r.body["user"]["email"] == a.email);
    std::map<std::string, std::string> jar;
    for (const auto& line : r.set_cookies()) {
        auto eq = line.find('=');
        auto semi = line.find(';');
        jar[line.substr(0, eq)] = line.substr(eq + 1, semi - eq - 1);
        CHECK(line.find("; Secure") != std::string::npos);
    }
    REQUIRE(jar.count("__Host-access") == 1);
    REQUIRE(jar.count("__Secure-refresh") == 1);
    REQUIRE(jar.count("__Host-csrf_token") == 1);
    CHECK(jar.count("access") == 0);

    auto me = c.call("GET", "/api/users/me", std::nullopt, {}, {{"Cookie", "__Host-access=" + jar["__Host-access"]}});
    CHECK(me.status == 200);
    // The unprefixed name is not read.
    auto plain = c.call("GET", "/api/users/me", std::nullopt, {}, {{"Cookie", "access=" + jar["__Host-access"]}});
    CHECK(plain.status == 401);

    auto refreshed = c.call(
        "POST", "/api/auth/refresh", json{{"cookie_only", true}}, {},
        {{"Cookie", "__Secure-refresh=" + jar["__Secure-refresh"] + "; __Host-csrf_token=" + jar["__Host-csrf_token"]},
         {"X-CSRF-Token", jar["__Host-csrf_token"]}});
    REQUIRE(refreshed.status == 200);
    CHECK_FALSE(refreshed.body.contains("access"));
    CHECK_FALSE(refreshed.body.contains("refresh"));
    CHECK(refreshed.set_cookies().size() == 3);
}
