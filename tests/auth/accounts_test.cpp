// Why one file of this size: its cases share two servers (one with the resend cooldown
// off) and the register → code → verify path; apart they would start more servers.
// End to end: the account lifecycle rows of the contract (register, verify-email,
// resend-otp, login, cookie mode) and the rules of one-time codes, with codes read from
// the messages that reach the SMTP sink. The password rows are in passwords_test.cpp.

#include "auth_support.hpp"

#include <doctest/doctest.h>

#include <future>
#include <regex>
#include <thread>

using namespace portcullis::test;
using namespace portcullis::test::auth;

namespace {

server_fixture& server()
{
    return shared_server();
}

// A second server whose resend cooldown is off, for the flows that need a fresh code.
server_fixture& no_cooldown_server()
{
    static server_fixture srv(env_map{{"RATE_LIMIT_EXEMPT", "127.0.0.1/32"}, {"OTP_RESEND_COOLDOWN", "0"}});
    return srv;
}

const std::regex rfc3339(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]00:00))");

void check_own_view(const json& u)
{
    REQUIRE(u.is_object());
    std::set<std::string> keys;
    for (const auto& [k, v] : u.items()) keys.insert(k);
    CHECK(keys == std::set<std::string>{"id", "email", "username", "full_name", "phone_number", "is_active",
                                        "date_joined", "last_login"});
    CHECK(u["id"].is_string());
    CHECK(u["email"].is_string());
    CHECK(u["is_active"].is_boolean());
    CHECK(std::regex_match(u["date_joined"].get<std::string>(), rfc3339));
    CHECK((u["last_login"].is_null() || std::regex_match(u["last_login"].get<std::string>(), rfc3339)));
}

std::string upper(std::string s)
{
    for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return s;
}

}  // namespace

TEST_CASE("mail helpers: quoted-printable, text/plain part, standalone code")
{
    CHECK(decode_quoted_printable("a=3Db=\r\nc") == "a=bc");
    CHECK(decode_quoted_printable("x=\ny=20") == "xy ");
    std::string msg =
        "Subject: s\r\nContent-Type: multipart/alternative; boundary=\"B\"\r\n\r\n--B\r\n"
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
        "Your code:=20\r\n    48=\r\n1516\r\n--B\r\nContent-Type: text/html\r\n\r\n<b>999999</b>\r\n--B--\r\n";
    CHECK(text_plain_part(msg).find("481516") != std::string::npos);
    CHECK(standalone_code(text_plain_part(msg)).value() == "481516");
    CHECK_FALSE(standalone_code("order 1234567 and 12345").has_value());
    CHECK(standalone_code("code: 000123.").value() == "000123");
}

TEST_CASE("register: 201 inactive own view, a code e-mailed; verify-email activates; login by e-mail or username")
{
    client c(server().port());
    std::string email = unique_email("Reg.Case");
    std::string username = unique_username("reg");
    auto r = c.post("/api/auth/register", {{"email", email},
                                           {"username", username},
                                           {"password", good_password},
                                           {"full_name", "Ada Lovelace"},
                                           {"phone_number", "+44 20 7946 0000"}});
    REQUIRE(r.status == 201);
    check_own_view(r.body["user"]);
    CHECK(r.body["user"]["is_active"] == false);
    CHECK(r.body["user"]["username"] == username);
    CHECK(r.body["user"]["full_name"] == "Ada Lovelace");
    CHECK(r.body["user"]["phone_number"] == "+44 20 7946 0000");
    CHECK(r.body["user"]["last_login"].is_null());
    std::string id = r.body["user"]["id"];

    mailbox box(email);
    std::string msg = box.next_message(verify_subject);
    std::string text = text_plain_part(msg);
    auto code = standalone_code(text);
    REQUIRE(code.has_value());
    CHECK(code->size() == 6);

    // Before verification: right password 403, wrong password 401.
    auto early = c.post("/api/auth/login", {{"email", email}, {"password", good_password}});
    CHECK(early.status == 403);
    CHECK(early.code() == "email_not_verified");
    auto early_wrong = c.post("/api/auth/login", {{"email", email}, {"password", other_password}});
    CHECK(early_wrong.status == 401);
    CHECK(early_wrong.code() == "invalid_credentials");

    // A wrong code, then the right one.
    std::string wrong = *code == "000000" ? "000001" : "000000";
    auto bad = c.post("/api/auth/verify-email", {{"email", email}, {"otp", wrong}});
    CHECK(bad.status == 400);
    CHECK(bad.code() == "invalid_otp");
    auto ok = c.post("/api/auth/verify-email", {{"email", upper(email)}, {"otp", *code}});
    REQUIRE(ok.status == 200);
    check_own_view(ok.body["user"]);
    CHECK(ok.body["user"]["is_active"] == true);
    CHECK(ok.body["user"]["id"] == id);

    auto again = c.post("/api/auth/verify-email", {{"email", email}, {"otp", *code}});
    CHECK(again.status == 409);
    CHECK(again.code() == "already_verified");

    // Login by e-mail (any case) and by username.
    auto by_email = c.post("/api/auth/login", {{"email", upper(email)}, {"password", good_password}});
    REQUIRE(by_email.status == 200);
    CHECK(by_email.body["access"].is_string());
    CHECK(by_email.body["refresh"].is_string());
    CHECK(by_email.body["token_type"] == "Bearer");
    CHECK(by_email.body["expires_in"] == 900);
    check_own_view(by_email.body["user"]);
    CHECK(by_email.body["user"]["id"] == id);
    CHECK(by_email.body["user"]["is_active"] == true);
    CHECK(by_email.body["user"]["last_login"].is_string());
    CHECK(by_email.raw.header("set-cookie").empty());  // no cookies unless asked for

    auto by_username = c.post("/api/auth/login", {{"username", username}, {"password", good_password}});
    REQUIRE(by_username.status == 200);
    CHECK(by_username.body["user"]["id"] == id);
    auto me = c.get("/api/users/me", by_username.body["access"]);
    CHECK(me.status == 200);
    CHECK(me.body["id"] == id);
}

TEST_CASE("register: unique e-mail (case-insensitive) and username; username rules; password policy")
{
    client c(server().port());
    account a = register_active(c, "uniq");

    // Same address in another case: 409 email_taken.
    auto dup = c.post("/api/auth/register",
                      {{"email", upper(a.email)}, {"username", unique_username("other")}, {"password", good_password}});
    CHECK(dup.status == 409);
    CHECK(dup.code() == "email_taken");

    // Same username: 409 username_taken.
    auto taken = c.post("/api/auth/register",
                        {{"email", unique_email("uniq2")}, {"username", a.username}, {"password", good_password}});
    CHECK(taken.status == 409);
    CHECK(taken.code() == "username_taken");

    // A pending registration holds its username too.
    account pending = register_pending(c, "holder");
    auto taken_pending =
        c.post("/api/auth/register",
               {{"email", unique_email("uniq3")}, {"username", pending.username}, {"password", good_password}});
    CHECK(taken_pending.status == 409);
    CHECK(taken_pending.code() == "username_taken");

    // Username: 3-150 characters of [A-Za-z0-9@.+_-].
    for (const auto& bad :
         std::vector<std::string>{std::string("ab"), std::string(151, 'u'), std::string("has space"),
                                  std::string("semi;colon"), std::string("caf\xc3\xa9"), std::string("")}) {
        auto r = c.post("/api/auth/register",
                        {{"email", unique_email("badname")}, {"username", bad}, {"password", good_password}});
        INFO("username=", bad);
        CHECK(r.status == 400);
        CHECK(r.code() == "validation_failed");
        CHECK_FALSE(r.detail("username").empty());
    }
    std::string longest = unique_username("L");
    longest += std::string(150 - longest.size(), 'x');
    for (const auto& good : std::vector<std::string>{"a.b+c-d_e@" + unique_username("ok"), longest}) {
        auto r = c.post("/api/auth/register",
                        {{"email", unique_email("goodname")}, {"username", good}, {"password", good_password}});
        INFO("username=", good);
        CHECK(r.status == 201);
    }

    // Password policy like Django's defaults, with details on the password field.
    std::string uname = unique_username("policy");
    std::string addr = unique_email("policy");
    for (const auto& bad :
         std::vector<std::string>{std::string("Sh0rt!"), std::string("83749201746"), std::string("password"),
                                  std::string("qwerty123"), uname, uname + "1"}) {
        auto r = c.post("/api/auth/register", {{"email", addr}, {"username", uname}, {"password", bad}});
        INFO("password=", bad);
        CHECK(r.status == 400);
        CHECK(r.code() == "validation_failed");
        CHECK_FALSE(r.detail("password").empty());
    }

    // Several problems at once: one detail per field.
    auto many = c.post("/api/auth/register", {{"email", "not-an-address"}, {"username", "x"}, {"password", "123"}});
    CHECK(many.status == 400);
    CHECK(many.code() == "validation_failed");
    CHECK_FALSE(many.detail("email").empty());
    CHECK_FALSE(many.detail("username").empty());
    CHECK_FALSE(many.detail("password").empty());

    // Missing fields and wrong types are 400 validation_failed, never 500.
    auto missing = c.post("/api/auth/register", json::object());
    CHECK(missing.status == 400);
    CHECK(missing.code() == "validation_failed");
    CHECK_FALSE(missing.detail("email").empty());
    CHECK_FALSE(missing.detail("username").empty());
    CHECK_FALSE(missing.detail("password").empty());
    auto types = c.post("/api/auth/register", {{"email", 5}, {"username", true}, {"password", json::array()}});
    CHECK(types.status == 400);
    CHECK(types.code() == "validation_failed");
    auto opt_types = c.post("/api/auth/register", {{"email", unique_email("types")},
                                                   {"username", unique_username("types")},
                                                   {"password", good_password},
                                                   {"full_name", 12}});
    CHECK(opt_types.status == 400);
    CHECK(opt_types.code() == "validation_failed");
}

TEST_CASE("register again while pending: the pending data is replaced and a new code is sent")
{
    client c(server().port());
    std::string email = unique_email("again");
    std::string first_name = unique_username("first");
    auto r1 = c.post("/api/auth/register",
                     {{"email", email}, {"username", first_name}, {"password", good_password}, {"full_name", "One"}});
    REQUIRE(r1.status == 201);
    mailbox box(email);
    std::string code1 = box.next_code(verify_subject);

    std::string second_name = unique_username("second");
    // A new code that happens to equal the first (one in a million) cannot show that the
    // first died: register again until they differ.
    std::string code2 = code1;
    for (int attempt = 0; attempt < 3 && code2 == code1; ++attempt) {
        auto r2 = c.post(
            "/api/auth/register",
            {{"email", upper(email)}, {"username", second_name}, {"password", other_password}, {"full_name", "Two"}});
        REQUIRE(r2.status == 201);
        CHECK(r2.body["user"]["username"] == second_name);
        CHECK(r2.body["user"]["full_name"] == "Two");
        CHECK(r2.body["user"]["is_active"] == false);
        code2 = box.next_code(verify_subject);
    }
    REQUIRE(code2 != code1);
    // Only one account exists for the address.
    CHECK(pg_exec(server().database_url(), "SELECT count(*) FROM users WHERE lower(email) = lower('" + email + "')") ==
          "1");

    auto old = c.post("/api/auth/verify-email", {{"email", email}, {"otp", code1}});
    CHECK(old.status == 400);
    CHECK(old.code() == "invalid_otp");
    auto ok = c.post("/api/auth/verify-email", {{"email", email}, {"otp", code2}});
    REQUIRE(ok.status == 200);
    CHECK(ok.body["user"]["username"] == second_name);
    CHECK(ok.body["user"]["full_name"] == "Two");

    CHECK(c.post("/api/auth/login", {{"email", email}, {"password", good_password}}).status == 401);
    CHECK(c.post("/api/auth/login", {{"username", second_name}, {"password", other_password}}).status == 200);
    // The first username was released.
    auto reuse = c.post("/api/auth/register",
                        {{"email", unique_email("again2")}, {"username", first_name}, {"password", good_password}});
    CHECK(reuse.status == 201);
}

TEST_CASE("resend-otp: 202 for unknown addresses too; 429 with Retry-After inside the cooldown")
{
    client c(server().port());
    std::string unknown = unique_email("nobody");
    auto r = c.post("/api/auth/resend-otp", {{"email", unknown}});
    CHECK(r.status == 202);
    CHECK(r.body["message"].is_string());
    auto again = c.post("/api/auth/resend-otp", {{"email", unknown}});
    CHECK(again.status == 429);
    CHECK(again.code() == "rate_limited");
    int retry = std::stoi(again.header("retry-after"));
    CHECK(retry >= 1);
    CHECK(retry <= 60);

    // A registration starts the cooldown of its address.
    account a = register_pending(c, "cool");
    auto inside = c.post("/api/auth/resend-otp", {{"email", a.email}});
    CHECK(inside.status == 429);
    CHECK(inside.code() == "rate_limited");
    CHECK(std::stoi(inside.header("retry-after")) >= 1);

    auto bad = c.post("/api/auth/resend-otp", {{"email", 42}});
    CHECK(bad.status == 400);
    auto none = c.post("/api/auth/resend-otp", json::object());
    CHECK(none.status == 400);
}

TEST_CASE("resend-otp outside the cooldown sends a new code; the previous code dies")
{
    client c(no_cooldown_server().port());
    account a = register_pending(c, "resend");
    mailbox box(a.email);
    std::string code1 = box.next_code(verify_subject);
    // A new code that happens to equal the first (one in a million) cannot show that the
    // first died: resend until they differ.
    std::string code2 = code1;
    for (int attempt = 0; attempt < 3 && code2 == code1; ++attempt) {
        auto r = c.post("/api/auth/resend-otp", {{"email", a.email}});
        CHECK(r.status == 202);
        code2 = box.next_code(verify_subject);
    }
    REQUIRE(code2 != code1);
    auto old = c.post("/api/auth/verify-email", {{"email", a.email}, {"otp", code1}});
    CHECK(old.status == 400);
    auto ok = c.post("/api/auth/verify-email", {{"email", a.email}, {"otp", code2}});
    CHECK(ok.status == 200);
    // A verified address gets 202 and no message. Every mail job the server enqueued is
    // settled (done or dead) once the queue's totals say so; then no mail may be there.
    CHECK(c.post("/api/auth/resend-otp", {{"email", a.email}}).status == 202);
    const std::string stats_key = no_cooldown_server().redis_prefix() + "jobs:stats";
    auto stat = [&](const char* field) {
        auto v = redis_command({"HGET", stats_key, field});
        return v.empty() || v[0].empty() ? 0L : std::stol(v[0]);
    };
    REQUIRE_MESSAGE(
        eventually([&] { return stat("done") + stat("dead") >= stat("enqueued"); }, std::chrono::seconds(30)),
        "mail jobs still pending after 30 s");
    CHECK(box.unseen(verify_subject) == 0);
}

TEST_CASE("OTP: three wrong codes kill the code, the right one is then refused; a new code works")
{
    client c(no_cooldown_server().port());
    account a = register_pending(c, "otp3");
    mailbox box(a.email);
    std::string code = box.next_code(verify_subject);
    std::set<std::string> wrong_codes;
    for (int i = 0; wrong_codes.size() < 3; ++i) {
        char buf[16];
        std::snprintf(buf, sizeof buf, "%06d", (std::stoi(code) + 1 + i) % 1000000);
        wrong_codes.insert(buf);
    }
    for (const auto& w : wrong_codes) {
        auto r = c.post("/api/auth/verify-email", {{"email", a.email}, {"otp", w}});
        CHECK(r.status == 400);
        CHECK(r.code() == "invalid_otp");
    }
    auto refused = c.post("/api/auth/verify-email", {{"email", a.email}, {"otp", code}});
    CHECK(refused.status == 400);
    CHECK((refused.code() == "otp_expired" || refused.code() == "invalid_otp"));
    CHECK(pg_exec(no_cooldown_server().database_url(), "SELECT is_active::text FROM users WHERE id = " + a.id) ==
          "false");

    // Not 6 digits: invalid_otp; not a string: validation_failed.
    for (const auto& junk : std::vector<std::string>{"12345", "1234567", "abcdef", " 12345"}) {
        auto r = c.post("/api/auth/verify-email", {{"email", a.email}, {"otp", junk}});
        CHECK(r.status == 400);
    }
    auto typed = c.post("/api/auth/verify-email", {{"email", a.email}, {"otp", 123456}});
    CHECK(typed.status == 400);
    CHECK(typed.code() == "validation_failed");

    CHECK(c.post("/api/auth/resend-otp", {{"email", a.email}}).status == 202);
    std::string fresh = box.next_code(verify_subject);
    auto ok = c.post("/api/auth/verify-email", {{"email", a.email}, {"otp", fresh}});
    CHECK(ok.status == 200);
    CHECK(ok.body["user"]["is_active"] == true);
}

TEST_CASE("verify-email: 10 parallel right codes activate the account exactly once")
{
    client c(server().port());
    account a = register_pending(c, "par10");
    std::string code = mailbox(a.email).next_code(verify_subject);
    std::vector<std::future<reply>> calls;
    for (int i = 0; i < 10; ++i) {
        calls.push_back(std::async(std::launch::async, [&c, &a, &code] {
            return c.call_unchecked("POST", "/api/auth/verify-email", json{{"email", a.email}, {"otp", code}});
        }));
    }
    int ok = 0;
    for (auto& f : calls) {
        reply r = f.get();
        check_response(r, "parallel verify-email");
        if (r.status == 200) {
            ++ok;
            CHECK(r.body["user"]["is_active"] == true);
        } else {
            CHECK((r.status == 400 || r.status == 409));
        }
    }
    CHECK(ok == 1);
    std::string row = pg_exec(server().database_url(),
                              "SELECT count(*)::text || ':' || bool_and(is_active)::text || ':' ||"
                              " bool_and(email_verified_at IS NOT NULL)::text FROM users WHERE lower(email) = lower('" +
                                  a.email + "')");
    CHECK(row == "1:true:true");
    CHECK(c.post("/api/auth/login", {{"email", a.email}, {"password", a.password}}).status == 200);
    CHECK(c.post("/api/auth/verify-email", {{"email", a.email}, {"otp", code}}).status == 409);
}

TEST_CASE("login: unknown user and wrong password give the same 401; bad bodies are 400")
{
    client c(server().port());
    account a = register_active(c, "login");
    auto unknown = c.post("/api/auth/login", {{"email", unique_email("ghost")}, {"password", good_password}});
    auto unknown_name =
        c.post("/api/auth/login", {{"username", unique_username("ghost")}, {"password", good_password}});
    auto wrong = c.post("/api/auth/login", {{"email", a.email}, {"password", other_password}});
    auto wrong_name = c.post("/api/auth/login", {{"username", a.username}, {"password", other_password}});
    for (const auto* r : {&unknown, &unknown_name, &wrong, &wrong_name}) {
        CHECK(r->status == 401);
        CHECK(r->code() == "invalid_credentials");
        CHECK(r->body == unknown.body);
    }
    // Usernames are exact: another case is another (unknown) user.
    CHECK(c.post("/api/auth/login", {{"username", upper(a.username)}, {"password", a.password}}).status == 401);

    auto no_password = c.post("/api/auth/login", {{"email", a.email}});
    CHECK(no_password.status == 400);
    CHECK(no_password.code() == "validation_failed");
    auto no_identity = c.post("/api/auth/login", {{"password", a.password}});
    CHECK(no_identity.status == 400);
    CHECK(no_identity.code() == "validation_failed");
    auto typed = c.post("/api/auth/login", {{"email", a.email}, {"password", 12345678}});
    CHECK(typed.status == 400);
    auto cookie_typed = c.post("/api/auth/login", {{"email", a.email}, {"password", a.password}, {"cookie", "yes"}});
    CHECK(cookie_typed.status == 400);
}

TEST_CASE("cookie mode: HttpOnly Secure SameSite=Strict cookies, readable csrf_token, CSRF echo on unsafe methods")
{
    client c(server().port());
    account a = register_active(c, "cookie");
    auto r = c.post("/api/auth/login", {{"email", a.email}, {"password", a.password}, {"cookie", true}});
    REQUIRE(r.status == 200);
    std::map<std::string, std::string> jar;
    std::map<std::string, std::string> attrs;
    for (const auto& line : r.set_cookies()) {
        auto eq = line.find('=');
        auto semi = line.find(';');
        REQUIRE(eq != std::string::npos);
        jar[line.substr(0, eq)] = line.substr(eq + 1, semi - eq - 1);
        attrs[line.substr(0, eq)] = line;
    }
    REQUIRE(jar.count("access") == 1);
    REQUIRE(jar.count("refresh") == 1);
    REQUIRE(jar.count("csrf_token") == 1);
    CHECK(jar["access"] == r.body["access"]);
    CHECK(jar["refresh"] == r.body["refresh"]);
    CHECK_FALSE(jar["csrf_token"].empty());
    for (const auto& name : std::vector<std::string>{"access", "refresh"}) {
        INFO(attrs[name]);
        CHECK(attrs[name].find("; HttpOnly") != std::string::npos);
        CHECK(attrs[name].find("; Secure") != std::string::npos);
        CHECK(attrs[name].find("; SameSite=Strict") != std::string::npos);
    }
    INFO(attrs["csrf_token"]);
    CHECK(attrs["csrf_token"].find("HttpOnly") == std::string::npos);  // readable by the page's script
    CHECK(attrs["csrf_token"].find("; Secure") != std::string::npos);
    CHECK(attrs["csrf_token"].find("; SameSite=Strict") != std::string::npos);

    std::string cookies = "access=" + jar["access"] + "; csrf_token=" + jar["csrf_token"];
    // Safe methods need only the cookie.
    auto me = c.call("GET", "/api/users/me", std::nullopt, {}, {{"Cookie", cookies}});
    CHECK(me.status == 200);
    CHECK(me.body["id"] == a.id);
    // Unsafe methods need X-CSRF-Token equal to the csrf_token cookie.
    json patch = {{"full_name", "Cookie Monster"}};
    auto no_csrf = c.call("PATCH", "/api/users/me", patch, {}, {{"Cookie", cookies}});
    CHECK(no_csrf.status == 403);
    CHECK(no_csrf.code() == "forbidden");
    auto wrong_csrf = c.call("PATCH", "/api/users/me", patch, {}, {{"Cookie", cookies}, {"X-CSRF-Token", "nope"}});
    CHECK(wrong_csrf.status == 403);
    // A header matching a forged cookie is not enough either: the token is bound to the session.
    auto forged = c.call("PATCH", "/api/users/me", patch, {},
                         {{"Cookie", "access=" + jar["access"] + "; csrf_token=forged"}, {"X-CSRF-Token", "forged"}});
    CHECK(forged.status == 403);
    auto with_csrf =
        c.call("PATCH", "/api/users/me", patch, {}, {{"Cookie", cookies}, {"X-CSRF-Token", jar["csrf_token"]}});
    CHECK(with_csrf.status == 200);
    CHECK(with_csrf.body["full_name"] == "Cookie Monster");
    auto logout_all_no_csrf = c.call("POST", "/api/auth/logout-all", std::nullopt, {}, {{"Cookie", cookies}});
    CHECK(logout_all_no_csrf.status == 403);
    // A bearer token needs no CSRF echo.
    auto bearer_patch = c.call("PATCH", "/api/users/me", json{{"full_name", "Bearer"}}, r.body["access"]);
    CHECK(bearer_patch.status == 200);

    // Refresh from the cookie, with the CSRF echo; new cookies come back.
    std::string refresh_cookies = "refresh=" + jar["refresh"] + "; csrf_token=" + jar["csrf_token"];
    auto no_echo = c.call("POST", "/api/auth/refresh", json::object(), {}, {{"Cookie", refresh_cookies}});
    CHECK(no_echo.status == 403);
    // A forged pair (header equal to a forged cookie) is refused without using up the token.
    auto forged_refresh =
        c.call("POST", "/api/auth/refresh", json::object(), {},
               {{"Cookie", "refresh=" + jar["refresh"] + "; csrf_token=forged"}, {"X-CSRF-Token", "forged"}});
    CHECK(forged_refresh.status == 403);
    auto refreshed = c.call("POST", "/api/auth/refresh", json::object(), {},
                            {{"Cookie", refresh_cookies}, {"X-CSRF-Token", jar["csrf_token"]}});
    REQUIRE(refreshed.status == 200);
    CHECK(refreshed.body["refresh"] != jar["refresh"]);
    bool new_access_cookie = false;
    for (const auto& line : refreshed.set_cookies()) {
        if (line.rfind("access=" + refreshed.body["access"].get<std::string>(), 0) == 0) new_access_cookie = true;
    }
    CHECK(new_access_cookie);

    // Logout from the cookie clears them; the session's access token is refused from then on.
    std::string new_cookies = "access=" + refreshed.body["access"].get<std::string>() +
                              "; refresh=" + refreshed.body["refresh"].get<std::string>() +
                              "; csrf_token=" + jar["csrf_token"];
    std::string refresh_only =
        "refresh=" + refreshed.body["refresh"].get<std::string>() + "; csrf_token=" + jar["csrf_token"];
    auto logout_no_csrf = c.call("POST", "/api/auth/logout", json::object(), {}, {{"Cookie", refresh_only}});
    CHECK(logout_no_csrf.status == 403);
    auto logout_forged =
        c.call("POST", "/api/auth/logout", json::object(), {},
               {{"Cookie", "refresh=" + refreshed.body["refresh"].get<std::string>() + "; csrf_token=forged"},
                {"X-CSRF-Token", "forged"}});
    CHECK(logout_forged.status == 403);
    CHECK(c.get("/api/users/me", refreshed.body["access"]).status == 200);
    auto out = c.call("POST", "/api/auth/logout", json::object(), {},
                      {{"Cookie", new_cookies}, {"X-CSRF-Token", jar["csrf_token"]}});
    CHECK(out.status == 200);
    bool cleared = false;
    for (const auto& line : out.set_cookies()) {
        if (line.rfind("access=;", 0) == 0 && line.find("Max-Age=0") != std::string::npos) cleared = true;
    }
    CHECK(cleared);
    auto after = c.call("GET", "/api/users/me", std::nullopt, {},
                        {{"Cookie", "access=" + refreshed.body["access"].get<std::string>()}});
    CHECK(after.status == 401);
}

namespace {
// `code` as a standalone digit run somewhere in `text`.
bool contains_code(const std::string& text, const std::string& code)
{
    for (auto pos = text.find(code); pos != std::string::npos; pos = text.find(code, pos + 1)) {
        bool before = pos > 0 && std::isdigit(static_cast<unsigned char>(text[pos - 1]));
        bool after =
            pos + code.size() < text.size() && std::isdigit(static_cast<unsigned char>(text[pos + code.size()]));
        if (!before && !after) return true;
    }
    return false;
}
}  // namespace

TEST_CASE("codes: never stored in plain text (Redis, job payloads, PostgreSQL); e-mail states the 10-minute validity")
{
    client c(server().port());
    account a = register_pending(c, "plain");
    mailbox box(a.email);
    std::string msg = box.next_message(verify_subject);
    std::string text = text_plain_part(msg);
    std::string code = standalone_code(text).value();
    CHECK(text.find("10 minutes") != std::string::npos);
    CHECK_FALSE(contains_code(msg.substr(0, msg.find("\r\n\r\n")), code));  // not in the headers (Subject)

    auto dump = redis_dump(server().redis_prefix());
    CHECK_FALSE(dump.empty());
    bool otp_key = false;
    for (const auto& [key, value] : dump) {
        INFO(key);
        CHECK_FALSE(contains_code(key, code));
        CHECK_FALSE(contains_code(value, code));
        if (key.find("otp:verify_email:") != std::string::npos && key.find(a.email) != std::string::npos)
            otp_key = true;
    }
    CHECK(otp_key);  // the digest is there, under the address
    // Valid 10 minutes (OTP_TTL); the resend cooldown runs 60 s.
    auto ttl = redis_command({"TTL", server().redis_prefix() + "otp:verify_email:" + a.email});
    REQUIRE(ttl.size() == 1);
    CHECK(std::stoi(ttl[0]) > 540);
    CHECK(std::stoi(ttl[0]) <= 600);
    auto cooldown = c.post("/api/auth/resend-otp", {{"email", a.email}});
    CHECK(cooldown.status == 429);
    CHECK(std::stoi(cooldown.header("retry-after")) > 40);
    CHECK(std::stoi(cooldown.header("retry-after")) <= 60);
    CHECK(pg_exec(server().database_url(), "SELECT count(*) FROM users t WHERE t.id = " + a.id +
                                               " AND t::text ~ '(^|[^0-9])" + code + "([^0-9]|$)'") == "0");

    // The reset flow too, and its token lives 15 minutes.
    REQUIRE(c.post("/api/auth/verify-email", {{"email", a.email}, {"otp", code}}).status == 200);
    REQUIRE(c.post("/api/auth/password/forgot", {{"email", a.email}}).status == 202);
    std::string reset_code = box.next_code(reset_subject);
    for (const auto& [key, value] : redis_dump(server().redis_prefix())) {
        INFO(key);
        CHECK_FALSE(contains_code(value, reset_code));
    }
    auto ok = c.post("/api/auth/password/verify-otp", {{"email", a.email}, {"otp", reset_code}});
    REQUIRE(ok.status == 200);
    auto p = payload_of(ok.body["reset_token"]);
    CHECK(p["typ"] == "reset");
    CHECK(p["sub"] == a.id);
    CHECK(p["exp"].get<std::int64_t>() - p["iat"].get<std::int64_t>() == 15 * 60);
}

TEST_CASE("OTP: codes are bound to their purpose")
{
    client c(server().port());
    account a = register_pending(c, "purpose");
    std::string code = mailbox(a.email).next_code(verify_subject);
    auto as_reset = c.post("/api/auth/password/verify-otp", {{"email", a.email}, {"otp", code}});
    CHECK(as_reset.status == 400);
    CHECK(as_reset.body.value("reset_token", json()).is_null());
    auto ok = c.post("/api/auth/verify-email", {{"email", a.email}, {"otp", code}});
    CHECK(ok.status == 200);

    REQUIRE(c.post("/api/auth/password/forgot", {{"email", a.email}}).status == 202);
    std::string reset_code = mailbox(a.email).next_code(reset_subject);
    account b = register_pending(c, "purpose_b");
    // Another address's code does not work for this one either.
    auto cross = c.post("/api/auth/verify-email", {{"email", b.email}, {"otp", reset_code}});
    CHECK(cross.status == 400);
    CHECK(c.post("/api/auth/password/verify-otp", {{"email", a.email}, {"otp", reset_code}}).status == 200);
}

TEST_CASE("OTP: at most 10 wrong codes per address an hour across resends, then 429")
{
    client c(no_cooldown_server().port());
    account a = register_pending(c, "cap");
    mailbox box(a.email);
    std::string code = box.next_code(verify_subject);
    int wrong_sent = 0;
    auto wrong_for = [](const std::string& right, int i) {
        char buf[16];
        std::snprintf(buf, sizeof buf, "%06d", (std::stoi(right) + 7 + i) % 1000000);
        return std::string(buf);
    };
    for (int round = 0; round < 4; ++round) {
        if (round > 0) {
            REQUIRE(c.post("/api/auth/resend-otp", {{"email", a.email}}).status == 202);
            code = box.next_code(verify_subject);
        }
        for (int i = 0; i < 3 && wrong_sent < 10; ++i, ++wrong_sent) {
            auto r = c.post("/api/auth/verify-email", {{"email", a.email}, {"otp", wrong_for(code, i)}});
            CHECK(r.status == 400);
            CHECK(r.code() == "invalid_otp");
        }
    }
    REQUIRE(wrong_sent == 10);
    auto locked = c.post("/api/auth/verify-email", {{"email", a.email}, {"otp", code}});
    CHECK(locked.status == 429);
    CHECK(locked.code() == "rate_limited");
    int retry = std::stoi(locked.header("retry-after"));
    CHECK(retry >= 1);
    CHECK(retry <= 3600);
    CHECK(pg_exec(no_cooldown_server().database_url(), "SELECT is_active::text FROM users WHERE id = " + a.id) ==
          "false");
}

TEST_CASE("register: parallel registrations of one address leave one pending account, never a 500")
{
    client c(server().port());
    std::string email = unique_email("parreg");
    std::vector<std::future<reply>> calls;
    for (int i = 0; i < 8; ++i) {
        std::string username = unique_username("parreg");
        calls.push_back(std::async(std::launch::async, [&c, email, username] {
            return c.call_unchecked("POST", "/api/auth/register",
                                    json{{"email", email}, {"username", username}, {"password", good_password}});
        }));
    }
    int created = 0;
    for (auto& f : calls) {
        reply r = f.get();
        check_response(r, "parallel register");
        if (r.status == 201)
            ++created;
        else
            CHECK(r.status == 429);  // the per-address limit (5 an hour) may cut in
    }
    CHECK(created >= 1);
    CHECK(pg_exec(server().database_url(), "SELECT count(*) FROM users WHERE lower(email) = lower('" + email + "')") ==
          "1");
}

TEST_CASE("OTP expiry and cooldown end are the Redis TTLs: an expired code is otp_expired, then resend works")
{
    // Time is moved by shortening the keys' TTLs (whose full values the plain-text test
    // checks), instead of waiting out 10 minutes and 60 seconds.
    client c(server().port());
    account a = register_pending(c, "expire");
    mailbox box(a.email);
    std::string code = box.next_code(verify_subject);
    std::string otp_key = server().redis_prefix() + "otp:verify_email:" + a.email;
    std::string cooldown_key = server().redis_prefix() + "cooldown:verify_email:" + a.email;
    REQUIRE(redis_command({"EXISTS", otp_key}) == std::vector<std::string>{"1"});
    REQUIRE(redis_command({"EXISTS", cooldown_key}) == std::vector<std::string>{"1"});
    CHECK(c.post("/api/auth/resend-otp", {{"email", a.email}}).status == 429);
    redis_command({"PEXPIRE", otp_key, "1"});
    redis_command({"PEXPIRE", cooldown_key, "1"});
    REQUIRE(eventually([&] {
        return redis_command({"EXISTS", otp_key}) == std::vector<std::string>{"0"} &&
               redis_command({"EXISTS", cooldown_key}) == std::vector<std::string>{"0"};
    }));
    auto expired = c.post("/api/auth/verify-email", {{"email", a.email}, {"otp", code}});
    CHECK(expired.status == 400);
    CHECK(expired.code() == "otp_expired");
    auto resend = c.post("/api/auth/resend-otp", {{"email", a.email}});
    CHECK(resend.status == 202);
    std::string fresh = box.next_code(verify_subject);
    CHECK(c.post("/api/auth/verify-email", {{"email", a.email}, {"otp", fresh}}).status == 200);
}
