// End to end: the password rows of the contract (change, forgot, verify-otp, reset),
// with codes read from the messages that reach the SMTP sink.

#include "auth_support.hpp"

#include <doctest/doctest.h>

#include <future>
#include <thread>

using namespace portcullis::test;
using namespace portcullis::test::auth;

namespace {

server_fixture& server()
{
    return shared_server();
}

std::string upper(std::string s)
{
    for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return s;
}

}  // namespace

TEST_CASE("password change: 200, every other session ends; wrong old password; mismatch; policy")
{
    client c(server().port());
    account a = register_active(c, "chg");
    auto s1 = login(c, a, "tab-one");
    auto s2 = login(c, a, "tab-two");
    json body = {{"old_password", a.password}, {"new_password", other_password}, {"confirm_password", other_password}};

    auto unauth = c.post("/api/auth/password/change", body);
    CHECK(unauth.status == 401);
    CHECK(unauth.code() == "not_authenticated");

    auto wrong_old = c.post(
        "/api/auth/password/change",
        {{"old_password", "Not-the-0ld-one"}, {"new_password", other_password}, {"confirm_password", other_password}},
        s1.access);
    CHECK(wrong_old.status == 400);
    CHECK_FALSE(wrong_old.detail("old_password").empty());

    auto mismatch = c.post("/api/auth/password/change",
                           {{"old_password", a.password},
                            {"new_password", other_password},
                            {"confirm_password", std::string(other_password) + "x"}},
                           s1.access);
    CHECK(mismatch.status == 400);
    CHECK(mismatch.code() == "password_mismatch");

    auto weak = c.post("/api/auth/password/change",
                       {{"old_password", a.password}, {"new_password", "12345678"}, {"confirm_password", "12345678"}},
                       s1.access);
    CHECK(weak.status == 400);
    CHECK(weak.code() == "validation_failed");
    auto missing = c.post("/api/auth/password/change", {{"old_password", a.password}}, s1.access);
    CHECK(missing.status == 400);
    CHECK(missing.code() == "validation_failed");

    // Nothing changed so far: both sessions still work.
    CHECK(c.get("/api/users/me", s2.access).status == 200);

    auto ok = c.post("/api/auth/password/change", body, s1.access);
    CHECK(ok.status == 200);
    CHECK(c.get("/api/users/me", s1.access).status == 200);  // the caller's session survives
    auto other = c.get("/api/users/me", s2.access);
    CHECK(other.status == 401);
    auto other_refresh = c.post("/api/auth/refresh", {{"refresh", s2.refresh}});
    CHECK(other_refresh.status == 401);
    CHECK(c.post("/api/auth/refresh", {{"refresh", s1.refresh}}).status == 200);

    CHECK(c.post("/api/auth/login", {{"email", a.email}, {"password", a.password}}).status == 401);
    CHECK(c.post("/api/auth/login", {{"email", a.email}, {"password", other_password}}).status == 200);
    mailbox(a.email).next_message(changed_subject);
}

TEST_CASE("forgot / verify-otp / reset: 202 always, code only for active accounts, reset ends every session once")
{
    client c(server().port());
    account a = register_active(c, "reset");
    account pending = register_pending(c, "resetpend");
    auto s1 = login(c, a, "one");
    auto s2 = login(c, a, "two");

    // 202 for unknown, pending and active addresses alike.
    std::string ghost = unique_email("ghostreset");
    for (const auto& addr : {ghost, pending.email, a.email}) {
        auto r = c.post("/api/auth/password/forgot", {{"email", addr}});
        CHECK(r.status == 202);
        CHECK(r.body["message"].is_string());
    }
    mailbox box(a.email);
    std::string code = box.next_code(reset_subject);
    // A second request inside the cooldown answers the same and sends nothing new.
    CHECK(c.post("/api/auth/password/forgot", {{"email", a.email}}).status == 202);
    CHECK(c.post("/api/auth/password/forgot", {{"email", "bad"}}).status == 400);
    CHECK(c.post("/api/auth/password/forgot", {{"email", 7}}).status == 400);

    std::string wrong = code == "000000" ? "000001" : "000000";
    auto bad = c.post("/api/auth/password/verify-otp", {{"email", a.email}, {"otp", wrong}});
    CHECK(bad.status == 400);
    CHECK(bad.code() == "invalid_otp");
    // The verification code purpose is separate: a reset code does not verify e-mail and vice versa.
    auto ok = c.post("/api/auth/password/verify-otp", {{"email", upper(a.email)}, {"otp", code}});
    REQUIRE(ok.status == 200);
    REQUIRE(ok.body["reset_token"].is_string());
    std::string token = ok.body["reset_token"];
    auto reuse_code = c.post("/api/auth/password/verify-otp", {{"email", a.email}, {"otp", code}});
    CHECK(reuse_code.status == 400);

    // The reset token is no access token.
    CHECK(c.get("/api/users/me", token).status == 401);

    auto mismatch = c.post("/api/auth/password/reset", {{"reset_token", token},
                                                        {"new_password", other_password},
                                                        {"confirm_password", std::string(other_password) + "!"}});
    CHECK(mismatch.status == 400);
    CHECK(mismatch.code() == "password_mismatch");
    auto weak = c.post("/api/auth/password/reset",
                       {{"reset_token", token}, {"new_password", "password"}, {"confirm_password", "password"}});
    CHECK(weak.status == 400);
    CHECK(weak.code() == "validation_failed");
    auto bogus =
        c.post("/api/auth/password/reset",
               {{"reset_token", s1.refresh}, {"new_password", other_password}, {"confirm_password", other_password}});
    CHECK(bogus.status == 401);

    // Still no change: the sessions work.
    CHECK(c.get("/api/users/me", s1.access).status == 200);

    json reset = {{"reset_token", token}, {"new_password", other_password}, {"confirm_password", other_password}};
    auto done = c.post("/api/auth/password/reset", reset);
    CHECK(done.status == 200);
    auto twice = c.post("/api/auth/password/reset", reset);
    CHECK(twice.status == 401);

    for (const auto* s : {&s1, &s2}) {
        CHECK(c.get("/api/users/me", s->access).status == 401);
        CHECK(c.post("/api/auth/refresh", {{"refresh", s->refresh}}).status == 401);
    }
    CHECK(c.post("/api/auth/login", {{"email", a.email}, {"password", a.password}}).status == 401);
    CHECK(c.post("/api/auth/login", {{"email", a.email}, {"password", other_password}}).status == 200);

    // No reset code went to the unknown or the pending address (the marker arrives after them).
    account marker = register_pending(c, "marker2");
    mailbox(marker.email).next_code(verify_subject);
    mailbox pending_box(pending.email);
    mailbox ghost_box(ghost);
    CHECK_FALSE(eventually([&] { return pending_box.unseen(reset_subject) + ghost_box.unseen(reset_subject) > 0; },
                           std::chrono::milliseconds(500)));
    // The cooldown request above sent no second code.
    CHECK(box.unseen(reset_subject) == 0);
}

TEST_CASE("reset: 10 parallel resets with one token, exactly one succeeds")
{
    client c(server().port());
    account a = register_active(c, "parreset");
    REQUIRE(c.post("/api/auth/password/forgot", {{"email", a.email}}).status == 202);
    std::string code = mailbox(a.email).next_code(reset_subject);
    auto v = c.post("/api/auth/password/verify-otp", {{"email", a.email}, {"otp", code}});
    REQUIRE(v.status == 200);
    std::string token = v.body["reset_token"];
    auto password_of = [](int i) { return std::string(other_password) + std::to_string(i); };
    std::vector<std::future<reply>> calls;
    for (int i = 0; i < 10; ++i) {
        std::string pw = password_of(i);
        calls.push_back(std::async(std::launch::async, [&c, token, pw] {
            return c.call_unchecked("POST", "/api/auth/password/reset",
                                    json{{"reset_token", token}, {"new_password", pw}, {"confirm_password", pw}});
        }));
    }
    int ok = 0;
    int winner = -1;
    for (int i = 0; i < 10; ++i) {
        reply r = calls[static_cast<std::size_t>(i)].get();
        check_response(r, "parallel reset");
        if (r.status == 200) {
            ++ok;
            winner = i;
        } else {
            CHECK(r.status == 401);
        }
    }
    REQUIRE(ok == 1);
    // The winner's password is the one in force; a loser's is not.
    CHECK(c.post("/api/auth/login", {{"email", a.email}, {"password", password_of(winner)}}).status == 200);
    CHECK(c.post("/api/auth/login", {{"email", a.email}, {"password", password_of((winner + 1) % 10)}}).status == 401);
}
