// The rules of the auth flows, against in-memory fakes and a clock the test moves:
// code expiry and attempts, login lock-outs, refresh rotation, reuse and its grace,
// a lost rotation reply, what ends sessions, and the second login step of MFA. The integration tests in tests/auth
// run the same flows against PostgreSQL, Redis and the HTTP layer.

#include "auth/sealed.hpp"
#include "auth/service.hpp"
#include "auth/testing/fakes.hpp"
#include "auth/totp.hpp"

#include <boost/json/parse.hpp>

#include <doctest/doctest.h>

#include <algorithm>

using namespace portcullis;
using auth::testing::run;
using core::errc;

namespace {

constexpr std::string_view secret = "unit-test-secret-key-unit-test-secret-key";
constexpr std::string_view password = "correct horse battery staple";

auth::hash_pool_settings cheap_hashing()
{
    auth::hash_pool_settings s;
    s.threads = 1;
    s.nice = 0;
    s.params.memory_kib = 64;
    s.params.iterations = 1;
    return s;
}

// Everything one I/O thread's service works with, in memory.
struct rig {
    boost::asio::io_context io;
    auth::testing::fake_clock clock;
    auth::testing::fake_db db{clock};
    auth::testing::fake_kv kv{clock};
    auth::testing::fake_mfa mfa{db};
    auth::testing::fake_enqueuer jobs;
    auth::testing::recording_sink sink;
    auth::testing::recording_audit audit;
    auth::hash_pool hashes{cheap_hashing()};
    auth::key_set keys{secret};
    auth::password_policy policy;
    auth::session_cache cache;
    std::optional<auth::service> svc;
    core::deadline far = core::steady_clock::now() + std::chrono::hours(1);

    explicit rig(auth::auth_settings s = {})
    {
        svc.emplace(auth::service::deps{db, db, db, kv, jobs, hashes, keys, policy, cache, sink, nullptr, nullptr,
                                        clock, &mfa, &audit},
                    std::move(s));
    }

    // The code of the last mail queued to anyone.
    std::string last_code()
    {
        REQUIRE_FALSE(jobs.jobs.empty());
        auto args = boost::json::parse(jobs.jobs.back().args).as_object();
        auto values = boost::json::parse(args.at("values").as_string()).as_object();
        auto code = auth::unseal(keys.seal, values.at("code_sealed").as_string());
        REQUIRE(code.has_value());
        return *code;
    }

    // A verified account with `password`.
    std::int64_t verified_user(std::string email = "ada@example.com", std::string username = "ada")
    {
        auth::register_input in{email, username, std::string(password), "Ada", "", "192.0.2.1"};
        auto u = run(io, svc->accounts().async_register(in, far));
        REQUIRE(u.has_value());
        auto v = run(io, svc->accounts().async_verify_email(email, last_code(), "192.0.2.1", far));
        REQUIRE(v.has_value());
        return u->id;
    }

    auth::outcome<auth::login_result> login(std::string ident = "ada@example.com",
                                            std::string pw = std::string(password), std::string ip = "192.0.2.1")
    {
        auth::login_input in{std::move(ident), std::move(pw), std::move(ip), "unit test"};
        return run(io, svc->sessions().async_login(std::move(in), far));
    }

    auth::outcome<auth::token_pair> refresh(const std::string& token)
    {
        return run(io, svc->sessions().async_refresh(token, far));
    }

    auth::outcome<auth::principal> authenticate(const std::string& access)
    {
        auth::credentials c;
        c.bearer = access;
        return run(io, svc->sessions().async_authenticate(c, far));
    }
};

template <class T>
errc code_of(const auth::outcome<T>& r)
{
    REQUIRE_FALSE(r.has_value());
    return static_cast<errc>(r.error().code.value());
}

}  // namespace

TEST_CASE("flows: a verification code expires with its TTL and dies after its attempts")
{
    auth::auth_settings s;
    s.otp_ttl = std::chrono::minutes(10);
    s.max_otp_attempts = 3;
    rig r(s);
    auth::register_input in{"bob@example.com", "bob", std::string(password), "", "", "192.0.2.7"};
    REQUIRE(run(r.io, r.svc->accounts().async_register(in, r.far)).has_value());
    std::string code = r.last_code();

    SUBCASE("expired")
    {
        r.clock.advance(std::chrono::minutes(10));
        auto v = run(r.io, r.svc->accounts().async_verify_email("bob@example.com", code, "192.0.2.7", r.far));
        CHECK(code_of(v) == errc::otp_expired);
    }
    SUBCASE("just before expiry it works, once")
    {
        r.clock.advance(std::chrono::minutes(9));
        auto v = run(r.io, r.svc->accounts().async_verify_email("bob@example.com", code, "192.0.2.7", r.far));
        REQUIRE(v.has_value());
        CHECK(v->verified());
        auto again = run(r.io, r.svc->accounts().async_verify_email("bob@example.com", code, "192.0.2.7", r.far));
        CHECK(code_of(again) == errc::already_verified);
    }
    SUBCASE("three wrong codes kill it")
    {
        std::string wrong = code == "000000" ? "111111" : "000000";
        for (int left = 2; left >= 0; --left) {
            auto v = run(r.io, r.svc->accounts().async_verify_email("bob@example.com", wrong, "192.0.2.7", r.far));
            CHECK(code_of(v) == errc::invalid_otp);
            REQUIRE(v.error().details.size() == 1);
            CHECK(v.error().details[0].second == "Wrong code; " + std::to_string(left) + " attempts left.");
        }
        auto right = run(r.io, r.svc->accounts().async_verify_email("bob@example.com", code, "192.0.2.7", r.far));
        CHECK(code_of(right) == errc::otp_expired);
    }
}

TEST_CASE("flows: resends wait for the cooldown, which every address gets")
{
    auth::auth_settings s;
    s.otp_resend_cooldown = std::chrono::seconds(60);
    rig r(s);
    auth::register_input in{"cy@example.com", "cyrus", std::string(password), "", "", "192.0.2.8"};
    REQUIRE(run(r.io, r.svc->accounts().async_register(in, r.far)).has_value());
    auto first = run(r.io, r.svc->accounts().async_resend_otp("cy@example.com", "192.0.2.8", r.far));
    CHECK(code_of(first) == errc::rate_limited);
    CHECK(first.error().retry_after == 60);
    auto unknown = run(r.io, r.svc->accounts().async_resend_otp("nobody@example.com", "192.0.2.8", r.far));
    CHECK(unknown.has_value());
    auto unknown_again = run(r.io, r.svc->accounts().async_resend_otp("nobody@example.com", "192.0.2.8", r.far));
    CHECK(code_of(unknown_again) == errc::rate_limited);
    r.clock.advance(std::chrono::seconds(60));
    auto jobs_before = r.jobs.jobs.size();
    CHECK(run(r.io, r.svc->accounts().async_resend_otp("cy@example.com", "192.0.2.8", r.far)).has_value());
    CHECK(r.jobs.jobs.size() == jobs_before + 1);
}

TEST_CASE("flows: wrong passwords from one address lock that pair out until the window ends")
{
    auth::auth_settings s;
    s.login_fail_limit = 5;
    s.login_fail_window = std::chrono::minutes(15);
    rig r(s);
    r.verified_user();
    for (int i = 0; i < 5; ++i)
        CHECK(code_of(r.login("ada@example.com", "wrong password")) == errc::invalid_credentials);
    auto locked = r.login();
    CHECK(code_of(locked) == errc::rate_limited);
    CHECK(locked.error().retry_after > 0);
    CHECK(locked.error().retry_after <= 15 * 60);
    // Another address is not locked out by these failures.
    CHECK(r.login("ada@example.com", std::string(password), "198.51.100.9").has_value());
    r.clock.advance(std::chrono::minutes(15));
    CHECK(r.login().has_value());
}

TEST_CASE("flows: an unknown account costs a hash and answers like a wrong password")
{
    rig r;
    r.verified_user();
    auto before = r.hashes.stats().jobs_done;
    CHECK(code_of(r.login("nobody@example.com")) == errc::invalid_credentials);
    CHECK(r.hashes.stats().jobs_done == before + 1);
}

TEST_CASE("flows: refresh rotates once; a rotated token presented again ends the session")
{
    rig r;
    r.verified_user();
    auto in = r.login();
    REQUIRE(in.has_value());
    auto next = r.refresh(in->tokens.refresh);
    REQUIRE(next.has_value());
    CHECK(next->refresh != in->tokens.refresh);
    CHECK(next->session_id == in->tokens.session_id);
    CHECK(r.authenticate(next->access).has_value());

    r.sink.events.clear();
    CHECK(code_of(r.refresh(in->tokens.refresh)) == errc::token_reused);
    // The session ended everywhere: this process's caches and other instances.
    CHECK(r.sink.events == std::vector<std::string>{"s:" + in->tokens.session_id});
    CHECK(std::count(r.kv.published.begin(), r.kv.published.end(), "s:" + in->tokens.session_id) == 1);
    CHECK(code_of(r.refresh(next->refresh)) == errc::token_revoked);
    CHECK(code_of(r.authenticate(next->access)) == errc::token_revoked);
}

TEST_CASE("flows: security events for the audit trail, with where they came from and never a secret")
{
    rig r;
    auto id = r.verified_user();
    CHECK(r.audit.types() == std::vector<std::string>{"user.registered", "email.verified"});
    r.audit.events.clear();

    CHECK(code_of(r.login("ada@example.com", "wrong horse battery staple")) == errc::invalid_credentials);
    CHECK(code_of(r.login("nobody@example.com", "wrong horse battery staple")) == errc::invalid_credentials);
    auto in = r.login();
    REQUIRE(in.has_value());
    REQUIRE(r.audit.events.size() == 3);
    CHECK(r.audit.events[0].type == "login.failed");
    CHECK(r.audit.events[0].reason == "invalid_password");
    CHECK(r.audit.events[0].user_id == id);
    CHECK(r.audit.events[0].meta.ip == "192.0.2.1");
    CHECK(r.audit.events[0].meta.user_agent == "unit test");
    CHECK(r.audit.events[1].reason == "unknown_account");
    CHECK_FALSE(r.audit.events[1].user_id.has_value());
    CHECK(r.audit.events[2].type == "login.succeeded");
    CHECK(r.audit.events[2].session_id == in->tokens.session_id);

    auto next = r.refresh(in->tokens.refresh);
    REQUIRE(next.has_value());
    CHECK(code_of(r.refresh(in->tokens.refresh)) == errc::token_reused);
    CHECK(r.audit.events.back().type == "refresh.reused");
    CHECK(r.audit.events.back().session_id == in->tokens.session_id);

    for (const auto& e : r.audit.events) {
        for (const std::string* field :
             {&e.type, &e.session_id, &e.reason, &e.meta.ip, &e.meta.user_agent, &e.meta.request_id}) {
            CHECK(field->find(password) == std::string::npos);
            CHECK(field->find("wrong horse") == std::string::npos);
            CHECK(field->find(in->tokens.refresh) == std::string::npos);
        }
    }
}

TEST_CASE("flows: inside REFRESH_REUSE_INTERVAL the just-rotated token yields the same pair")
{
    auth::auth_settings s;
    s.refresh_reuse_interval = std::chrono::seconds(10);
    rig r(s);
    r.verified_user();
    auto in = r.login();
    REQUIRE(in.has_value());
    auto first = r.refresh(in->tokens.refresh);
    REQUIRE(first.has_value());
    r.clock.advance(std::chrono::seconds(10));
    auto second = r.refresh(in->tokens.refresh);
    REQUIRE(second.has_value());
    CHECK(second->refresh == first->refresh);
    CHECK(second->access == first->access);
    r.clock.advance(std::chrono::seconds(1));
    CHECK(code_of(r.refresh(in->tokens.refresh)) == errc::token_reused);
}

TEST_CASE("flows: a rotation whose reply was lost hands its successor to the retry, once")
{
    rig r;
    r.verified_user();
    auto in = r.login();
    REQUIRE(in.has_value());
    r.db.lose_next_rotation_reply = true;
    auto lost = r.refresh(in->tokens.refresh);
    CHECK(core::is_unavailable(lost.error().code));
    auto retry = r.refresh(in->tokens.refresh);
    REQUIRE(retry.has_value());
    CHECK(r.authenticate(retry->access).has_value());
    // The successor used, presenting the first token again is a reuse.
    REQUIRE(r.refresh(retry->refresh).has_value());
    CHECK(code_of(r.refresh(in->tokens.refresh)) == errc::token_reused);
}

TEST_CASE("flows: refresh tokens carry their session's counter; a forged id is refused and ends nothing")
{
    rig r;
    r.verified_user();
    auto in = r.login();
    REQUIRE(in.has_value());
    auto first = auth::verify(in->tokens.refresh, r.keys.jwt, auth::token_type::refresh, r.clock.now());
    REQUIRE(first.has_value());
    CHECK(first->ctr == 0);
    auto access = r.keys.access->verify(in->tokens.access, auth::token_type::access, r.clock.now());
    REQUIRE(access.has_value());
    CHECK(access->ctr == -1);
    auto next = r.refresh(in->tokens.refresh);
    REQUIRE(next.has_value());
    auto second = auth::verify(next->refresh, r.keys.jwt, auth::token_type::refresh, r.clock.now());
    REQUIRE(second.has_value());
    CHECK(second->ctr == 1);
    CHECK(second->sid == first->sid);
    CHECK(second->jti != first->jti);

    // Signed with the right key, but its id is not the one of its counter.
    auth::claims forged = *second;
    forged.jti = first->jti;
    CHECK(code_of(r.refresh(auth::sign(forged, r.keys.jwt))) == errc::invalid_token);
    forged.ctr = 7;
    forged.jti = second->jti;
    CHECK(code_of(r.refresh(auth::sign(forged, r.keys.jwt))) == errc::invalid_token);
    CHECK(r.db.live_sessions(r.db.users.begin()->first) == 1);
    CHECK(r.refresh(next->refresh).has_value());
}

TEST_CASE("flows: a refresh token from before counters rotates once into the counter scheme, then is a reuse")
{
    rig r;
    r.verified_user();
    auto in = r.login();
    REQUIRE(in.has_value());
    auto issued = auth::verify(in->tokens.refresh, r.keys.jwt, auth::token_type::refresh, r.clock.now());
    REQUIRE(issued.has_value());
    // As the migration leaves a session: its one usable token, by id, without a counter.
    const std::string legacy_id = "3f2c4e1a-9b7d-4c2e-8a1f-0d6b5e4c3a21";
    r.db.refresh[issued->sid].legacy_jti = legacy_id;
    auth::claims legacy = *issued;
    legacy.jti = legacy_id;
    legacy.ctr = -1;
    const std::string old_token = auth::sign(legacy, r.keys.jwt);

    // A legacy token with a malformed id is refused before the database.
    auth::claims malformed = legacy;
    malformed.jti = "not-a-uuid";
    CHECK(code_of(r.refresh(auth::sign(malformed, r.keys.jwt))) == errc::invalid_token);
    REQUIRE(r.db.live_sessions(r.db.users.begin()->first) == 1);

    auto moved = r.refresh(old_token);
    REQUIRE(moved.has_value());
    auto now_claims = auth::verify(moved->refresh, r.keys.jwt, auth::token_type::refresh, r.clock.now());
    REQUIRE(now_claims.has_value());
    CHECK(now_claims->ctr == 1);
    CHECK_FALSE(r.db.refresh[issued->sid].legacy_jti.has_value());
    CHECK(r.authenticate(moved->access).has_value());

    // Presented again, the legacy token is a reuse: the session ends.
    CHECK(code_of(r.refresh(old_token)) == errc::token_reused);
    CHECK(code_of(r.authenticate(moved->access)) == errc::token_revoked);
}

TEST_CASE("flows: logout with any refresh token of the session ends it; another user's token is forbidden")
{
    rig r;
    r.verified_user();
    auto in = r.login();
    REQUIRE(in.has_value());
    auto next = r.refresh(in->tokens.refresh);
    REQUIRE(next.has_value());
    auto out = run(r.io, r.svc->sessions().async_logout(in->tokens.refresh, std::nullopt, r.far));
    CHECK(out.has_value());
    CHECK(code_of(r.authenticate(next->access)) == errc::token_revoked);
    CHECK(code_of(r.refresh(next->refresh)) == errc::token_revoked);
    // Idempotent: the retry of a logout whose answer was lost succeeds too.
    CHECK(run(r.io, r.svc->sessions().async_logout(next->refresh, std::nullopt, r.far)).has_value());
    auth::principal someone_else{in->user.id + 1, "x", false};
    CHECK(code_of(run(r.io, r.svc->sessions().async_logout(next->refresh, someone_else, r.far))) == errc::forbidden);
}

TEST_CASE("flows: without the note a lost reply is not guessed away; with Redis down the retry gets 503")
{
    rig r;
    r.verified_user();
    auto in = r.login();
    REQUIRE(in.has_value());
    r.db.lose_next_rotation_reply = true;
    r.kv.down = true;
    CHECK(core::is_unavailable(r.refresh(in->tokens.refresh).error().code));
    auto retry = r.refresh(in->tokens.refresh);
    CHECK(core::is_unavailable(retry.error().code));
    CHECK(r.db.live_sessions(r.db.users.begin()->first) == 1);  // nothing ended on a guess
}

TEST_CASE("flows: a password change ends every other session and keeps the caller's")
{
    rig r;
    auto uid = r.verified_user();
    auto a = r.login();
    auto b = r.login();
    REQUIRE(a.has_value());
    REQUIRE(b.has_value());
    auto me = r.authenticate(a->tokens.access);
    REQUIRE(me.has_value());
    auto changed =
        run(r.io, r.svc->passwords().async_change_password(*me, std::string(password), "a new and longer passphrase",
                                                           "a new and longer passphrase", "192.0.2.1", r.far));
    REQUIRE(changed.has_value());
    CHECK(r.db.live_sessions(uid) == 1);
    CHECK(r.authenticate(a->tokens.access).has_value());
    CHECK(code_of(r.authenticate(b->tokens.access)) == errc::token_revoked);
    CHECK(r.jobs.jobs.back().args.find("password_changed") != std::string::npos);
    CHECK(code_of(r.login()) == errc::invalid_credentials);
    CHECK(r.login("ada@example.com", "a new and longer passphrase").has_value());
}

TEST_CASE("flows: a reset token works once, and not after the password changed")
{
    rig r;
    auto uid = r.verified_user();
    REQUIRE(r.login().has_value());
    REQUIRE(run(r.io, r.svc->passwords().async_forgot_password("ada@example.com", "192.0.2.1", r.far)).has_value());
    auto token =
        run(r.io, r.svc->passwords().async_verify_reset_otp("ada@example.com", r.last_code(), "192.0.2.1", r.far));
    REQUIRE(token.has_value());
    auto reset = [&](std::string pw) {
        return run(r.io, r.svc->passwords().async_reset_password(*token, pw, pw, r.far));
    };
    REQUIRE(reset("first new passphrase here").has_value());
    CHECK(r.db.live_sessions(uid) == 0);
    CHECK(code_of(reset("second new passphrase here")) == errc::token_revoked);
}

TEST_CASE("flows: the reset token lives RESET lifetime")
{
    auth::auth_settings s;
    s.reset_lifetime = std::chrono::minutes(15);
    rig r(s);
    r.verified_user();
    REQUIRE(run(r.io, r.svc->passwords().async_forgot_password("ada@example.com", "192.0.2.1", r.far)).has_value());
    auto token =
        run(r.io, r.svc->passwords().async_verify_reset_otp("ada@example.com", r.last_code(), "192.0.2.1", r.far));
    REQUIRE(token.has_value());
    r.clock.advance(std::chrono::minutes(15) + std::chrono::seconds(1));
    auto late = run(r.io, r.svc->passwords().async_reset_password(*token, "first new passphrase here",
                                                                  "first new passphrase here", r.far));
    CHECK(code_of(late) == errc::token_expired);
}

TEST_CASE("flows: logins past max_sessions_per_user end the oldest sessions and announce them")
{
    auth::auth_settings s;
    s.max_sessions_per_user = 2;
    rig r(s);
    auto uid = r.verified_user();
    auto first = r.login();
    REQUIRE(first.has_value());
    r.clock.advance(std::chrono::seconds(1));
    REQUIRE(r.login().has_value());
    r.clock.advance(std::chrono::seconds(1));
    REQUIRE(r.login().has_value());
    CHECK(r.db.live_sessions(uid) == 2);
    CHECK(std::count(r.sink.events.begin(), r.sink.events.end(), "s:" + first->tokens.session_id) == 1);
    CHECK(code_of(r.authenticate(first->tokens.access)) == errc::token_revoked);
}

TEST_CASE("flows: with PostgreSQL down a login answers unavailable, never a domain error")
{
    rig r;
    r.verified_user();
    r.db.down = true;
    CHECK(core::is_unavailable(r.login().error().code));
    r.db.down = false;
    CHECK(r.login().has_value());
}

namespace {

// The TOTP code of raw `secret` at the fake clock's time, `steps` steps later.
std::string totp_at(const auth::testing::fake_clock& clock, const std::string& secret, std::int64_t steps = 0)
{
    auto step = auth::totp_step(core::to_unix(clock.now())) + steps;
    return auth::hotp(secret, static_cast<std::uint64_t>(step));
}

}  // namespace

TEST_CASE("flows: MFA: the mfa_token is single use, dies after five wrong codes, with its TTL, and on a new password")
{
    rig r;
    std::int64_t id = r.verified_user();
    auto first = r.login();
    REQUIRE(first.has_value());
    CHECK_FALSE(first->mfa);
    auto me = r.authenticate(first->tokens.access);
    REQUIRE(me.has_value());

    auto setup = run(r.io, r.svc->mfa().async_setup(*me, r.far));
    REQUIRE(setup.has_value());
    auto secret = auth::base32_decode(setup->secret);
    REQUIRE(secret);
    CHECK(secret->size() == 20);
    // Sealed at rest: the store never sees the secret.
    REQUIRE(r.mfa.records[id].state.pending_sealed);
    CHECK(r.mfa.records[id].state.pending_sealed->find(setup->secret) == std::string::npos);
    auto codes = run(r.io, r.svc->mfa().async_confirm(*me, totp_at(r.clock, *secret), "192.0.2.1", r.far));
    REQUIRE(codes.has_value());
    CHECK(codes->size() == 10);
    CHECK(r.db.users[id].mfa_enabled);
    for (const auto& [digest, used] : r.mfa.records[id].codes) {
        for (const auto& c : *codes) CHECK(digest.find(c) == std::string::npos);
    }

    auto verify = [&](const std::string& token, std::string code, const std::string& ip = "192.0.2.1") {
        return run(r.io, r.svc->mfa().async_verify(token, auth::mfa_code{std::move(code), false}, ip, "unit", r.far));
    };

    SUBCASE("a right code opens a session with amr otp; the token and the code work once")
    {
        auto l = r.login();
        REQUIRE(l.has_value());
        REQUIRE(l->mfa);
        CHECK(l->tokens.access.empty());
        CHECK(l->mfa->expires_in == std::chrono::minutes(5));
        std::string code = totp_at(r.clock, *secret, 1);
        auto ok = verify(l->mfa->token, code);
        REQUIRE(ok.has_value());
        auto claims = r.keys.access->verify(ok->tokens.access, auth::token_type::access, r.clock.now());
        REQUIRE(claims.has_value());
        CHECK(claims->otp);
        auto refreshed = r.refresh(ok->tokens.refresh);
        REQUIRE(refreshed.has_value());
        CHECK(r.keys.access->verify(refreshed->access, auth::token_type::access, r.clock.now())->otp);
        CHECK(code_of(verify(l->mfa->token, totp_at(r.clock, *secret, 1))) == errc::mfa_token_invalid);
        auto again = r.login();
        REQUIRE(again.has_value());
        CHECK(code_of(verify(again->mfa->token, code)) == errc::invalid_code);
        CHECK(code_of(verify(again->mfa->token, totp_at(r.clock, *secret, 0))) == errc::invalid_code);
    }
    SUBCASE("five wrong codes kill the token")
    {
        auto l = r.login("ada@example.com", std::string(password), "198.51.100.9");
        REQUIRE(l.has_value());
        std::string right = totp_at(r.clock, *secret, 1);
        std::string wrong = right == "000000" ? "111111" : "000000";
        for (int i = 0; i < 5; ++i) CHECK(code_of(verify(l->mfa->token, wrong, "198.51.100.9")) == errc::invalid_code);
        CHECK(code_of(verify(l->mfa->token, right, "198.51.100.10")) == errc::mfa_token_invalid);
    }
    SUBCASE("the token lives five minutes")
    {
        auto l = r.login();
        REQUIRE(l.has_value());
        r.clock.advance(std::chrono::minutes(5));
        CHECK(code_of(verify(l->mfa->token, totp_at(r.clock, *secret))) == errc::mfa_token_invalid);
    }
    SUBCASE("a password change kills a pending token")
    {
        auto l = r.login();
        REQUIRE(l.has_value());
        auto changed = run(
            r.io, r.svc->passwords().async_change_password(*me, std::string(password), "a new and longer passphrase",
                                                           "a new and longer passphrase", "192.0.2.1", r.far));
        REQUIRE(changed.has_value());
        CHECK(code_of(verify(l->mfa->token, totp_at(r.clock, *secret, 1))) == errc::mfa_token_invalid);
    }
    SUBCASE("a recovery code works once and is mailed")
    {
        auto l = r.login();
        REQUIRE(l.has_value());
        std::size_t mails = r.jobs.jobs.size();
        auto ok = run(r.io, r.svc->mfa().async_verify(l->mfa->token, auth::mfa_code{(*codes)[0], true}, "192.0.2.1",
                                                      "unit", r.far));
        REQUIRE(ok.has_value());
        REQUIRE(r.jobs.jobs.size() == mails + 1);
        CHECK(r.jobs.jobs.back().args.find("mfa_recovery_code_used") != std::string::npos);
        auto types = r.audit.types();
        REQUIRE(types.size() >= 2);
        CHECK(types[types.size() - 2] == "mfa.recovery_code_used");
        CHECK(types.back() == "login.succeeded");
        CHECK(r.audit.events.back().reason == "password+mfa");
        auto l2 = r.login();
        REQUIRE(l2.has_value());
        auto twice = run(r.io, r.svc->mfa().async_verify(l2->mfa->token, auth::mfa_code{(*codes)[0], true}, "192.0.2.1",
                                                         "unit", r.far));
        CHECK(code_of(twice) == errc::invalid_code);
        CHECK(r.audit.events.back().type == "login.failed");
        CHECK(r.audit.events.back().reason == "invalid_second_factor");
        auto status = run(r.io, r.svc->mfa().async_status(*me, r.far));
        REQUIRE(status.has_value());
        CHECK(status->recovery_codes_left == 9);
    }
}
