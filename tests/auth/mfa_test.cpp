// End to end: multi-factor authentication — TOTP enrolment (codes from oathtool, a TOTP
// client no one here wrote), the otpauth URI, the second login step, replay and drift,
// wrong codes, recovery codes (once each, mailed, replaced), disabling, cookie mode,
// amr through refresh and logout, and a password change killing a pending mfa_token.

#include "auth_support.hpp"

#include <doctest/doctest.h>

#include <cstdio>
#include <future>
#include <set>

using namespace portcullis::test;
using namespace portcullis::test::auth;

namespace {

server_fixture& server()
{
    return shared_server();
}

constexpr std::int64_t period = 30;

std::int64_t step_now()
{
    return unix_now() / period;
}

// The code oathtool computes for `secret` (base32) at time step `step`.
std::string oath(const std::string& secret, std::int64_t step)
{
    std::string cmd = "oathtool --totp -b " + secret + " -N @" + std::to_string(step * period) + " 2>&1";
    FILE* p = ::popen(cmd.c_str(), "r");
    REQUIRE(p != nullptr);
    std::string out;
    char buf[128];
    while (std::fgets(buf, sizeof buf, p) != nullptr) out += buf;
    int status = ::pclose(p);
    REQUIRE_MESSAGE(status == 0, out);
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
    REQUIRE_MESSAGE(out.size() == 6, out);
    return out;
}

// Runs `attempt(step)` with the current step; when the answer is a refusal and the clock
// crossed into the next step meanwhile (the code may have left the window because of
// that alone), tries again with the new step.
template <class F>
reply at_step(F attempt)
{
    for (int i = 0;; ++i) {
        std::int64_t before = step_now();
        reply r = attempt(before);
        if (r.status < 400 || step_now() == before || i == 2) return r;
    }
}

std::string percent_decode(const std::string& s)
{
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '%' && i + 2 < s.size()) {
            out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
            i += 2;
        } else {
            out += s[i];
        }
    }
    return out;
}

struct otpauth {
    std::string type;
    std::string label;
    std::map<std::string, std::string> params;
};

otpauth parse_otpauth(const std::string& uri)
{
    otpauth out;
    const std::string scheme = "otpauth://";
    REQUIRE(uri.rfind(scheme, 0) == 0);
    auto slash = uri.find('/', scheme.size());
    REQUIRE(slash != std::string::npos);
    out.type = uri.substr(scheme.size(), slash - scheme.size());
    auto q = uri.find('?', slash);
    REQUIRE(q != std::string::npos);
    out.label = percent_decode(uri.substr(slash + 1, q - slash - 1));
    std::string query = uri.substr(q + 1);
    std::size_t pos = 0;
    while (pos <= query.size()) {
        auto amp = query.find('&', pos);
        std::string part = query.substr(pos, amp == std::string::npos ? std::string::npos : amp - pos);
        auto eq = part.find('=');
        REQUIRE(eq != std::string::npos);
        out.params[part.substr(0, eq)] = percent_decode(part.substr(eq + 1));
        if (amp == std::string::npos) break;
        pos = amp + 1;
    }
    return out;
}

struct enrolled {
    account acct;
    session_tokens session;  // the session that enrolled (it survives the confirm)
    std::string secret;
    std::vector<std::string> recovery;
    std::int64_t confirm_step = 0;
};

// Registers, logs in, sets up TOTP and confirms it with oathtool's code for the current step.
enrolled enrol(const client& c, const std::string& tag)
{
    enrolled e;
    e.acct = register_active(c, tag);
    e.session = login(c, e.acct);
    auto setup = c.call("POST", "/api/auth/mfa/totp/setup", std::nullopt, e.session.access);
    REQUIRE_MESSAGE(setup.status == 200, setup.raw.body);
    e.secret = setup.body["secret"].get<std::string>();
    auto confirm = at_step([&](std::int64_t step) {
        e.confirm_step = step;
        return c.post("/api/auth/mfa/totp/confirm", {{"code", oath(e.secret, step)}}, e.session.access);
    });
    REQUIRE_MESSAGE(confirm.status == 200, confirm.raw.body);
    for (const auto& code : confirm.body["recovery_codes"]) e.recovery.push_back(code.get<std::string>());
    REQUIRE(e.recovery.size() == 10);
    return e;
}

// The mfa_token of a login that needs the second step.
std::string mfa_login(const client& c, const account& a)
{
    auto r = c.post("/api/auth/login", {{"email", a.email}, {"password", a.password}});
    REQUIRE_MESSAGE(r.status == 200, r.raw.body);
    REQUIRE(r.body.value("mfa_required", false));
    return r.body["mfa_token"].get<std::string>();
}

reply verify_code(const client& c, const std::string& token, const std::string& code)
{
    return c.post("/api/auth/mfa/verify", {{"mfa_token", token}, {"code", code}});
}

reply verify_recovery(const client& c, const std::string& token, const std::string& code)
{
    return c.post("/api/auth/mfa/verify", {{"mfa_token", token}, {"recovery_code", code}});
}

// A six-digit code that is none of the secret's codes around now.
std::string wrong_code(const std::string& secret)
{
    std::set<std::string> near;
    for (std::int64_t s = step_now() - 2; s <= step_now() + 3; ++s) near.insert(oath(secret, s));
    for (int n = 123456;; ++n) {
        std::string code = std::to_string(n);
        if (near.count(code) == 0) return code;
    }
}

const char* used_subject = "recovery code was used";

}  // namespace

TEST_CASE("mfa: enrolment with oathtool, the otpauth URI, status, and the other sessions ended")
{
    client c(server().port());
    account a = register_active(c, "mfa-enrol");
    auto s = login(c, a);
    CHECK(payload_of(s.access)["amr"] == json::array({"pwd"}));
    auto other = login(c, a, "other-device");

    auto status = c.get("/api/auth/mfa", s.access);
    REQUIRE(status.status == 200);
    CHECK(status.body == json{{"totp", false}, {"recovery_codes_left", 0}});
    CHECK(c.call("POST", "/api/auth/mfa/totp/setup").status == 401);

    auto first = c.call("POST", "/api/auth/mfa/totp/setup", std::nullopt, s.access);
    REQUIRE(first.status == 200);
    auto setup = c.call("POST", "/api/auth/mfa/totp/setup", std::nullopt, s.access);
    REQUIRE(setup.status == 200);
    const std::string secret = setup.body["secret"].get<std::string>();
    CHECK(secret.size() == 32);  // 160 bits in base32
    CHECK(secret != first.body["secret"].get<std::string>());
    auto uri = parse_otpauth(setup.body["otpauth_uri"].get<std::string>());
    CHECK(uri.type == "totp");
    CHECK(uri.label == "Portcullis:" + a.email);
    CHECK(uri.params["secret"] == secret);
    CHECK(uri.params["issuer"] == "Portcullis");
    CHECK(uri.params["algorithm"] == "SHA1");
    CHECK(uri.params["digits"] == "6");
    CHECK(uri.params["period"] == "30");

    // A new setup replaced the first one: its codes no longer confirm.
    const std::string first_secret = first.body["secret"].get<std::string>();
    auto stale = c.post("/api/auth/mfa/totp/confirm", {{"code", oath(first_secret, step_now())}}, s.access);
    CHECK(stale.status == 400);
    CHECK(stale.code() == "invalid_code");
    CHECK(c.post("/api/auth/mfa/totp/confirm", {{"code", "12345"}}, s.access).code() == "invalid_code");
    CHECK(c.post("/api/auth/mfa/totp/confirm", json::object(), s.access).code() == "validation_failed");

    auto confirm = at_step([&](std::int64_t step) {
        return c.post("/api/auth/mfa/totp/confirm", {{"code", oath(secret, step)}}, s.access);
    });
    REQUIRE_MESSAGE(confirm.status == 200, confirm.raw.body);
    std::set<std::string> codes;
    for (const auto& code : confirm.body["recovery_codes"]) {
        std::string text = code.get<std::string>();
        std::string bare;
        for (char ch : text) {
            if (ch != '-') bare += ch;
        }
        CHECK(bare.size() * 5 >= 50);  // base32: 5 bits a character
        codes.insert(text);
    }
    CHECK(codes.size() == 10);

    // Every other session ended; this one goes on.
    CHECK(c.get("/api/users/me", other.access).status == 401);
    CHECK(c.post("/api/auth/refresh", {{"refresh", other.refresh}}).status == 401);
    CHECK(c.get("/api/users/me", s.access).status == 200);

    status = c.get("/api/auth/mfa", s.access);
    CHECK(status.body == json{{"totp", true}, {"recovery_codes_left", 10}});
    auto again = c.call("POST", "/api/auth/mfa/totp/setup", std::nullopt, s.access);
    CHECK(again.status == 409);
    CHECK(again.code() == "mfa_already_enabled");
    auto confirm_again = c.post("/api/auth/mfa/totp/confirm", {{"code", oath(secret, step_now())}}, s.access);
    CHECK(confirm_again.code() == "mfa_already_enabled");
}

TEST_CASE("mfa: login asks for the second step; amr through refresh and logout; replay refused; token single use")
{
    client c(server().port());
    enrolled e = enrol(c, "mfa-login");

    // A wrong password says nothing about MFA.
    auto wrong = c.post("/api/auth/login", {{"email", e.acct.email}, {"password", other_password}});
    CHECK(wrong.status == 401);
    CHECK(wrong.code() == "invalid_credentials");
    CHECK_FALSE(wrong.body.contains("mfa_required"));

    auto r = c.post("/api/auth/login", {{"email", e.acct.email}, {"password", e.acct.password}});
    REQUIRE(r.status == 200);
    CHECK(r.body["mfa_required"] == true);
    CHECK(r.body["expires_in"] == 300);
    CHECK_FALSE(r.body.contains("access"));
    CHECK_FALSE(r.body.contains("refresh"));
    CHECK(r.set_cookies().empty());
    const std::string token = r.body["mfa_token"].get<std::string>();

    // The confirm's code (its step) was used: replay is refused, and the token survives it.
    auto replay = verify_code(c, token, oath(e.secret, e.confirm_step));
    CHECK(replay.status == 400);
    CHECK(replay.code() == "invalid_code");

    const std::int64_t step = e.confirm_step + 1;  // drift +1 from the confirm's step: inside the window
    auto ok = verify_code(c, token, oath(e.secret, step));
    REQUIRE_MESSAGE(ok.status == 200, ok.raw.body);
    CHECK(ok.body["user"]["email"] == e.acct.email);
    const std::string access = ok.body["access"].get<std::string>();
    const std::string refresh = ok.body["refresh"].get<std::string>();
    CHECK(payload_of(access)["amr"] == json::array({"pwd", "otp"}));
    CHECK(c.get("/api/users/me", access).status == 200);

    // Single use.
    auto twice = verify_code(c, token, oath(e.secret, step + 1));
    CHECK(twice.status == 401);
    CHECK(twice.code() == "invalid_mfa_token");
    CHECK(verify_code(c, "not-a-token", oath(e.secret, step)).code() == "invalid_mfa_token");

    // The same code (and an earlier one) with a new mfa_token: refused.
    std::string token2 = mfa_login(c, e.acct);
    CHECK(verify_code(c, token2, oath(e.secret, step)).code() == "invalid_code");
    CHECK(verify_code(c, token2, oath(e.secret, step - 1)).code() == "invalid_code");

    // Refresh keeps amr; logout ends the session.
    auto refreshed = c.post("/api/auth/refresh", {{"refresh", refresh}});
    REQUIRE(refreshed.status == 200);
    CHECK(payload_of(refreshed.body["access"].get<std::string>())["amr"] == json::array({"pwd", "otp"}));
    CHECK(payload_of(refreshed.body["refresh"].get<std::string>())["amr"] == json::array({"pwd", "otp"}));
    auto out = c.post("/api/auth/logout", {{"refresh", refreshed.body["refresh"]}});
    CHECK(out.status == 200);
    CHECK(c.post("/api/auth/refresh", {{"refresh", refreshed.body["refresh"]}}).status == 401);
    CHECK(c.get("/api/users/me", refreshed.body["access"].get<std::string>()).status == 401);
}

TEST_CASE("mfa: clock drift of one step either way is accepted, two steps are not")
{
    client c(server().port());
    auto pending = [&](const std::string& tag) {
        account a = register_active(c, tag);
        auto s = login(c, a);
        auto setup = c.call("POST", "/api/auth/mfa/totp/setup", std::nullopt, s.access);
        REQUIRE(setup.status == 200);
        return std::pair<std::string, std::string>(s.access, setup.body["secret"].get<std::string>());
    };
    {
        auto [access, secret] = pending("mfa-drift-plus");
        // Two steps behind, or three ahead, is outside the window whatever step the server
        // has reached by the time it checks.
        auto behind = c.post("/api/auth/mfa/totp/confirm", {{"code", oath(secret, step_now() - 2)}}, access);
        CHECK(behind.code() == "invalid_code");
        auto ahead = c.post("/api/auth/mfa/totp/confirm", {{"code", oath(secret, step_now() + 3)}}, access);
        CHECK(ahead.code() == "invalid_code");
        auto plus = c.post("/api/auth/mfa/totp/confirm", {{"code", oath(secret, step_now() + 1)}}, access);
        CHECK_MESSAGE(plus.status == 200, plus.raw.body);
    }
    {
        auto [access, secret] = pending("mfa-drift-minus");
        auto minus = at_step([&](std::int64_t now) {
            return c.post("/api/auth/mfa/totp/confirm", {{"code", oath(secret, now - 1)}}, access);
        });
        CHECK_MESSAGE(minus.status == 200, minus.raw.body);
    }
}

TEST_CASE("mfa: five wrong codes kill the mfa_token; the account is then limited like login")
{
    client c(server().port());
    enrolled e = enrol(c, "mfa-wrong");
    std::string token = mfa_login(c, e.acct);
    std::string bad = wrong_code(e.secret);
    for (int i = 0; i < 5; ++i) {
        auto r = verify_code(c, token, bad);
        CHECK(r.status == 400);
        CHECK(r.code() == "invalid_code");
    }
    auto dead = verify_code(c, token, oath(e.secret, e.confirm_step + 1));
    CHECK(dead.status == 401);
    CHECK(dead.code() == "invalid_mfa_token");
    // Five failures of this account from this network: further codes wait, as passwords do.
    std::string token2 = mfa_login(c, e.acct);
    auto limited = verify_code(c, token2, oath(e.secret, e.confirm_step + 1));
    CHECK(limited.status == 429);
    CHECK(limited.retry_after() > 0);
    // Bad input is a clear 400.
    auto neither = c.post("/api/auth/mfa/verify", {{"mfa_token", token2}});
    CHECK(neither.code() == "validation_failed");
    auto both = c.post("/api/auth/mfa/verify", {{"mfa_token", token2}, {"code", "123456"}, {"recovery_code", "x"}});
    CHECK(both.code() == "validation_failed");
}

TEST_CASE("mfa: recovery codes work once each and are mailed; a new set kills the old; disable")
{
    client c(server().port());
    enrolled e = enrol(c, "mfa-recovery");
    mailbox box(e.acct.email);

    std::string token = mfa_login(c, e.acct);
    auto ok = verify_recovery(c, token, e.recovery[0]);
    REQUIRE_MESSAGE(ok.status == 200, ok.raw.body);
    CHECK(payload_of(ok.body["access"].get<std::string>())["amr"] == json::array({"pwd", "otp"}));
    std::string mail = text_plain_part(box.next_message(used_subject));
    CHECK(mail.find("9 recovery codes are left") != std::string::npos);

    // Used once: refused the second time; the token survives a wrong code. Upper case
    // and without dashes is the same code.
    token = mfa_login(c, e.acct);
    CHECK(verify_recovery(c, token, e.recovery[0]).code() == "invalid_code");
    std::string upper;
    for (char ch : e.recovery[1]) {
        if (ch != '-') upper += static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    }
    auto second = verify_recovery(c, token, upper);
    CHECK_MESSAGE(second.status == 200, second.raw.body);
    box.next_message(used_subject);
    const std::string access = second.body["access"].get<std::string>();
    CHECK(c.get("/api/auth/mfa", access).body == json{{"totp", true}, {"recovery_codes_left", 8}});

    // A new set: the password and a code are needed; the old set dies.
    auto no_password =
        c.post("/api/auth/mfa/recovery-codes", {{"password", other_password}, {"code", e.recovery[2]}}, access);
    CHECK(no_password.status == 400);
    CHECK(no_password.code() == "validation_failed");
    auto fresh =
        c.post("/api/auth/mfa/recovery-codes", {{"password", e.acct.password}, {"code", e.recovery[2]}}, access);
    REQUIRE_MESSAGE(fresh.status == 200, fresh.raw.body);
    box.next_message(used_subject);
    std::vector<std::string> set;
    for (const auto& code : fresh.body["recovery_codes"]) set.push_back(code.get<std::string>());
    REQUIRE(set.size() == 10);
    CHECK(c.get("/api/auth/mfa", access).body == json{{"totp", true}, {"recovery_codes_left", 10}});
    token = mfa_login(c, e.acct);
    CHECK(verify_recovery(c, token, e.recovery[3]).code() == "invalid_code");
    auto with_new = verify_code(c, token, set[0]);  // "code" takes a recovery code too
    CHECK_MESSAGE(with_new.status == 200, with_new.raw.body);
    box.next_message(used_subject);

    // Disable: password and a code; then MFA is off and recovery codes are gone.
    auto no_code =
        c.call("DELETE", "/api/auth/mfa/totp", json{{"password", e.acct.password}, {"code", set[0]}}, access);
    CHECK(no_code.status == 400);
    CHECK(no_code.code() == "invalid_code");
    auto off = c.call("DELETE", "/api/auth/mfa/totp", json{{"password", e.acct.password}, {"code", set[1]}}, access);
    CHECK_MESSAGE(off.status == 204, off.raw.body);
    CHECK(c.get("/api/auth/mfa", access).body == json{{"totp", false}, {"recovery_codes_left", 0}});
    auto again = c.call("DELETE", "/api/auth/mfa/totp", json{{"password", e.acct.password}, {"code", set[2]}}, access);
    CHECK(again.status == 409);
    CHECK(again.code() == "mfa_not_enabled");
    auto plain = login(c, e.acct);
    CHECK(payload_of(plain.access)["amr"] == json::array({"pwd"}));
}

TEST_CASE("mfa: cookie mode of /mfa/verify sets the session cookies")
{
    client c(server().port());
    enrolled e = enrol(c, "mfa-cookie");
    std::string token = mfa_login(c, e.acct);
    auto r = c.post(
        "/api/auth/mfa/verify",
        {{"mfa_token", token}, {"code", oath(e.secret, e.confirm_step + 1)}, {"cookie", true}, {"cookie_only", true}});
    REQUIRE_MESSAGE(r.status == 200, r.raw.body);
    CHECK_FALSE(r.body.contains("access"));
    CHECK_FALSE(r.body.contains("refresh"));
    std::map<std::string, std::string> jar;
    for (const auto& line : r.set_cookies()) {
        auto eq = line.find('=');
        auto semi = line.find(';');
        REQUIRE(eq != std::string::npos);
        jar[line.substr(0, eq)] = line.substr(eq + 1, semi - eq - 1);
    }
    REQUIRE(jar.count("access") == 1);
    REQUIRE(jar.count("refresh") == 1);
    REQUIRE(jar.count("csrf_token") == 1);
    CHECK(payload_of(jar["access"])["amr"] == json::array({"pwd", "otp"}));
    auto me = c.call("GET", "/api/users/me", std::nullopt, {}, {{"Cookie", "access=" + jar["access"]}});
    CHECK(me.status == 200);
}

TEST_CASE("mfa: a password change kills a pending mfa_token")
{
    client c(server().port());
    enrolled e = enrol(c, "mfa-pwchange");
    std::string token = mfa_login(c, e.acct);
    auto changed = c.post(
        "/api/auth/password/change",
        {{"old_password", e.acct.password}, {"new_password", other_password}, {"confirm_password", other_password}},
        e.session.access);
    REQUIRE_MESSAGE(changed.status == 200, changed.raw.body);
    auto r = verify_code(c, token, oath(e.secret, e.confirm_step + 1));
    CHECK(r.status == 401);
    CHECK(r.code() == "invalid_mfa_token");
    // The new password leads to the second step, whose right code opens a session.
    e.acct.password = other_password;
    std::string token2 = mfa_login(c, e.acct);
    auto ok = verify_code(c, token2, oath(e.secret, e.confirm_step + 1));
    CHECK_MESSAGE(ok.status == 200, ok.raw.body);
}

TEST_CASE("mfa: one code sent with two mfa_tokens at once opens one session")
{
    client c(server().port());
    enrolled e = enrol(c, "mfa-race");
    std::vector<std::string> tokens;
    for (int i = 0; i < 4; ++i) tokens.push_back(mfa_login(c, e.acct));
    const std::string code = oath(e.secret, e.confirm_step + 1);
    std::vector<std::future<reply>> calls;
    for (const auto& t : tokens) {
        calls.push_back(std::async(std::launch::async, [&c, t, code] {
            return c.call_unchecked("POST", "/api/auth/mfa/verify", json{{"mfa_token", t}, {"code", code}});
        }));
    }
    int opened = 0;
    for (auto& f : calls) {
        reply r = f.get();
        check_response(r, "parallel verify");
        if (r.status == 200) {
            ++opened;
        } else {
            CHECK(r.code() == "invalid_code");
        }
    }
    CHECK(opened == 1);
}
