// Access tokens verified by clients no one here wrote: PyJWT (PyJWKClient) and the npm
// package `jose` (createRemoteJWKSet) against the served JWKS, for EdDSA and ES256;
// rotation under load; attacks on the key choice; the shared-secret migration mode.

#include "auth/jwt.hpp"
#include "auth_support.hpp"
#include "core/text.hpp"
#include "test_env.hpp"
#include "wait.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <fstream>
#include <mutex>
#include <thread>

using namespace portcullis::test;
using namespace portcullis::test::auth;
namespace pa = portcullis::auth;
using std::chrono::seconds;

namespace {

std::string jwks_url(const server_fixture& s)
{
    return "http://127.0.0.1:" + std::to_string(s.port()) + "/.well-known/jwks.json";
}

struct library_run {
    int status = -1;
    std::string output;
    int ok = 0;
};

library_run run_tool(std::vector<std::string> argv, const std::string& log)
{
    library_run r;
    r.status = run_command(std::move(argv), {}, log, std::chrono::seconds(120));
    r.output = read_file(log);
    std::size_t pos = 0;
    while ((pos = r.output.find("ok ", pos)) != std::string::npos) {
        if (pos == 0 || r.output[pos - 1] == '\n') ++r.ok;
        pos += 3;
    }
    return r;
}

// The library ran and refused every token (not: failed to start).
bool refused_by(const library_run& r)
{
    return r.status == 1 && r.ok == 0 && r.output.rfind("fail ", 0) == 0;
}

std::string write_tokens(const std::vector<std::string>& tokens, const std::string& name)
{
    const std::string path = make_temp_dir("jwks") + "/" + name;
    std::ofstream out(path);
    for (const auto& t : tokens) out << t << "\n";
    return path;
}

// PyJWT with PyJWKClient on the served JWKS.
library_run pyjwt(const server_fixture& s, const std::vector<std::string>& tokens, const std::string& issuer,
                  const std::string& audience = {})
{
    const std::string file = write_tokens(tokens, "tokens.txt");
    std::vector<std::string> argv = {"/usr/bin/python3", require_env("PORTCULLIS_JWKS_TOOLS") + "/verify_pyjwt.py",
                                     "--jwks",           jwks_url(s),
                                     "--issuer",         issuer};
    if (!audience.empty()) {
        argv.push_back("--audience");
        argv.push_back(audience);
    }
    argv.push_back(file);
    return run_tool(argv, file + ".pyjwt.log");
}

// jose's createRemoteJWKSet + jwtVerify on the served JWKS.
library_run jose(const server_fixture& s, const std::vector<std::string>& tokens, const std::string& issuer,
                 const std::string& audience = {})
{
    const std::string file = write_tokens(tokens, "tokens.txt");
    return run_tool({require_env("PORTCULLIS_NODE"), require_env("PORTCULLIS_JWKS_TOOLS") + "/verify_jose.mjs",
                     jwks_url(s), issuer, audience.empty() ? "-" : audience, file},
                    file + ".jose.log");
}

// `portcullis keys …` against the fixture's database; returns the exit status and output.
std::pair<int, std::string> keys_command(const server_fixture& s, std::vector<std::string> args, env_map extra = {})
{
    std::vector<std::string> argv = {require_env("PORTCULLIS_BINARY"), "keys"};
    argv.insert(argv.end(), args.begin(), args.end());
    env_map env = {{"PORTCULLIS_ENV", "development"},
                   {"PORTCULLIS_ENV_FILE", "/dev/null"},
                   {"SECRET_KEY", fixture_secret_key},
                   {"DATABASE_URL", s.database_url()},
                   {"LOG_LEVEL", "error"}};
    for (auto& [k, v] : extra) env[k] = v;
    const std::string log = s.dir() + "/keys-" + unique_name("cmd") + ".log";
    int st = run_command(argv, env, log, std::chrono::seconds(60));
    return {st, read_file(log)};
}

std::vector<std::string> jwks_kids(const client& c)
{
    auto r = c.call_unchecked("GET", "/.well-known/jwks.json");
    std::vector<std::string> out;
    if (r.status != 200) return out;
    for (const auto& k : r.body["keys"]) out.push_back(k["kid"].get<std::string>());
    return out;
}

bool contains(const std::vector<std::string>& v, const std::string& s)
{
    return std::find(v.begin(), v.end(), s) != v.end();
}

std::string kid_of(const std::string& token)
{
    return header_of(token).value("kid", "");
}

// SubjectPublicKeyInfo PEM of a raw Ed25519 public key.
std::string ed25519_pem(const std::string& raw)
{
    const std::string der = std::string("\x30\x2a\x30\x05\x06\x03\x2b\x65\x70\x03\x21\x00", 12) + raw;
    return "-----BEGIN PUBLIC KEY-----\n" + portcullis::core::base64_encode(der) + "\n-----END PUBLIC KEY-----\n";
}

std::string hs256_token(const json& header, const json& payload, const std::string& key)
{
    return sign_jwt(header, payload, key);
}

// header.payload signed by `k`, with any header.
std::string signed_by(const pa::signing_key& k, const json& header, const json& payload)
{
    std::string input = b64url(header.dump()) + "." + b64url(payload.dump());
    return input + "." + b64url(k.sign(input));
}

void expect_refused(const client& c, const std::string& token, const std::string& what)
{
    INFO(what);
    auto r = c.get("/api/users/me", token);
    CHECK(r.status == 401);
    CHECK(r.code() == "invalid_token");
}

}  // namespace

TEST_CASE("EdDSA and ES256: PyJWT and jose verify the tokens with the served JWKS; discovery; cache lifetime")
{
    for (const char* alg : {"EdDSA", "ES256"}) {
        CAPTURE(alg);
        server_fixture srv({{"JWT_ALGORITHM", alg}, {"JWT_ISSUER", "https://auth.test"}, {"JWT_AUDIENCE", "orders"}});
        client c(srv.port());
        account a = register_active(c, std::string("jwks_") + alg);
        auto s = login(c, a);
        json h = header_of(s.access);
        CHECK(h["alg"] == alg);
        CHECK(h["typ"] == "JWT");
        REQUIRE(h.contains("kid"));
        json p = payload_of(s.access);
        CHECK(p["iss"] == "https://auth.test");
        CHECK(p["aud"] == "orders");
        CHECK(c.get("/api/users/me", s.access).status == 200);
        // Refresh tokens are for this service only: HMAC under SECRET_KEY, no audience.
        CHECK(header_of(s.refresh)["alg"] == "HS256");
        CHECK_FALSE(payload_of(s.refresh).contains("aud"));

        auto jwks = c.get("/.well-known/jwks.json");
        REQUIRE(jwks.status == 200);
        CHECK(jwks.header("content-type").find("json") != std::string::npos);
        REQUIRE(jwks.body["keys"].size() == 1);
        const json& k = jwks.body["keys"][0];
        CHECK(k["kid"] == h["kid"]);
        CHECK(k["alg"] == alg);
        CHECK(k["use"] == "sig");
        CHECK(k["kty"] == (std::string(alg) == "EdDSA" ? "OKP" : "EC"));
        CHECK_FALSE(k.contains("d"));  // never the private part
        // Verifiers must not cache the JWKS longer than the publish-ahead time (default 20 min).
        const std::string cc = jwks.header("cache-control");
        REQUIRE(cc.find("max-age=") != std::string::npos);
        const int max_age = std::stoi(cc.substr(cc.find("max-age=") + 8));
        CHECK(max_age > 0);
        CHECK(max_age < 20 * 60);

        auto disc = c.get("/.well-known/openid-configuration");
        REQUIRE(disc.status == 200);
        CHECK(disc.body["issuer"] == "https://auth.test");
        CHECK(disc.body["jwks_uri"] == "https://auth.test/.well-known/jwks.json");

        // A second session's token too; both libraries verify both.
        auto s2 = login(c, a);
        auto py = pyjwt(srv, {s.access, s2.access}, "https://auth.test", "orders");
        INFO(py.output);
        CHECK(py.status == 0);
        CHECK(py.ok == 2);
        auto js = jose(srv, {s.access, s2.access}, "https://auth.test", "orders");
        INFO(js.output);
        CHECK(js.status == 0);
        CHECK(js.ok == 2);
        // Negative controls: the same libraries refuse another audience and a refresh token.
        CHECK(refused_by(pyjwt(srv, {s.access}, "https://auth.test", "billing")));
        CHECK(refused_by(jose(srv, {s.access}, "https://auth.test", "billing")));
        CHECK(refused_by(pyjwt(srv, {s.refresh}, "https://auth.test", "orders")));
        CHECK(refused_by(jose(srv, {s.refresh}, "https://auth.test", "orders")));
    }
}

TEST_CASE("attacks: unknown kid, HS256 under the public key, jwk/jku/x5u headers")
{
    server_fixture srv(env_map{{"JWT_ALGORITHM", "EdDSA"}});
    client c(srv.port());
    account a = register_active(c, "jwks_attack");
    auto s = login(c, a);
    const json claims = payload_of(s.access);
    const std::string kid = kid_of(s.access);
    REQUIRE(c.get("/api/users/me", s.access).status == 200);

    auto jwks = c.get("/.well-known/jwks.json");
    REQUIRE(jwks.body["keys"].size() == 1);
    std::string raw_x;
    REQUIRE(pa::base64url_decode(jwks.body["keys"][0]["x"].get<std::string>(), raw_x));

    const auto attacker = pa::signing_key::generate(pa::jws_alg::eddsa);
    // Positive control: a token signed by the attacker's key under the attacker's kid has
    // the right shape (it is refused only for the key).
    expect_refused(c, signed_by(attacker, {{"alg", "EdDSA"}, {"kid", attacker.kid()}, {"typ", "JWT"}}, claims),
                   "unknown kid");
    expect_refused(c, signed_by(attacker, {{"alg", "EdDSA"}, {"kid", kid}, {"typ", "JWT"}}, claims),
                   "server's kid, attacker's signature");
    expect_refused(c, signed_by(attacker, {{"alg", "EdDSA"}, {"typ", "JWT"}}, claims), "no kid");
    for (const std::string& secret : {raw_x, ed25519_pem(raw_x), jwks.raw.body, jwks.body["keys"][0].dump()}) {
        expect_refused(c, hs256_token({{"alg", "HS256"}, {"kid", kid}, {"typ", "JWT"}}, claims, secret),
                       "HS256 signed with the public key (algorithm confusion)");
        expect_refused(c, hs256_token({{"alg", "HS256"}, {"typ", "JWT"}}, claims, secret),
                       "HS256 signed with the public key, no kid");
    }
    const json attacker_jwk = json::parse(attacker.public_jwk());
    expect_refused(
        c,
        signed_by(attacker, {{"alg", "EdDSA"}, {"kid", attacker.kid()}, {"jwk", attacker_jwk}, {"typ", "JWT"}}, claims),
        "embedded jwk");
    expect_refused(c, signed_by(attacker, {{"alg", "EdDSA"}, {"kid", kid}, {"jwk", attacker_jwk}}, claims),
                   "embedded jwk under the server's kid");
    const std::string evil = "http://127.0.0.1:" + std::to_string(srv.port()) + "/evil.json";
    expect_refused(c, signed_by(attacker, {{"alg", "EdDSA"}, {"kid", attacker.kid()}, {"jku", evil}}, claims), "jku");
    expect_refused(c, signed_by(attacker, {{"alg", "EdDSA"}, {"kid", attacker.kid()}, {"x5u", evil}}, claims), "x5u");
    // The genuine token still works after all of that, and so does an HS256 token of the
    // default mode (SECRET_KEY-derived key, as before the switch to EdDSA).
    CHECK(c.get("/api/users/me", s.access).status == 200);
    CHECK(c.get("/api/users/me", sign_jwt({{"alg", "HS256"}, {"typ", "JWT"}}, claims, jwt_key())).status == 200);
}

TEST_CASE("keys from files: another issuer or audience sharing the key is refused; PyJWT and jose verify")
{
    const std::string dir = make_temp_dir("jwks-keys");
    const auto key = pa::signing_key::generate(pa::jws_alg::es256);
    {
        std::ofstream(dir + "/signing.pem") << key.private_pem();
    }
    auto with = [&](const char* issuer, const char* audience) {
        return env_map{{"JWT_ALGORITHM", "ES256"},
                       {"JWT_PRIVATE_KEY_FILE", dir + "/signing.pem"},
                       {"JWT_ISSUER", issuer},
                       {"JWT_AUDIENCE", audience}};
    };
    server_fixture a_srv(with("https://a.test", "orders"));
    server_fixture b_srv(with("https://b.test", "orders"));
    server_fixture c_srv(with("https://a.test", "billing"));
    client a(a_srv.port()), b(b_srv.port()), cc(c_srv.port());
    auto ta = login(a, register_active(a, "files_a")).access;
    auto tb = login(b, register_active(b, "files_b")).access;
    auto tc = login(cc, register_active(cc, "files_c")).access;
    CHECK(kid_of(ta) == key.kid());
    CHECK(kid_of(tb) == key.kid());
    CHECK(a.get("/api/users/me", ta).status == 200);
    expect_refused(a, tb, "token of another issuer, same key");
    expect_refused(a, tc, "token of another audience, same key and issuer");

    auto jwks = a.get("/.well-known/jwks.json");
    REQUIRE(jwks.body["keys"].size() == 1);
    CHECK(jwks.body["keys"][0]["kid"] == key.kid());
    auto py = pyjwt(a_srv, {ta}, "https://a.test", "orders");
    INFO(py.output);
    CHECK(py.ok == 1);
    auto js = jose(a_srv, {ta}, "https://a.test", "orders");
    INFO(js.output);
    CHECK(js.ok == 1);
    CHECK(refused_by(pyjwt(a_srv, {tb}, "https://a.test", "orders")));
    CHECK(refused_by(jose(a_srv, {tc}, "https://a.test", "orders")));
}

TEST_CASE("migration mode: JWT_SIGNING_KEY signs HS256 access tokens that PyJWT verifies with the shared secret")
{
    const std::string shared = "django-insecure-shared-signing-key-0123456789abcdef";
    server_fixture srv(env_map{{"JWT_SIGNING_KEY", shared}});
    client c(srv.port());
    auto s = login(c, register_active(c, "jwks_shared"));
    CHECK(header_of(s.access)["alg"] == "HS256");
    CHECK(c.get("/api/users/me", s.access).status == 200);
    // The JWKS never carries a symmetric key.
    auto jwks = c.get("/.well-known/jwks.json");
    REQUIRE(jwks.status == 200);
    CHECK(jwks.body["keys"].empty());

    const std::string dir = make_temp_dir("jwks-shared");
    {
        std::ofstream(dir + "/secret") << shared;
        std::ofstream(dir + "/wrong") << shared << "x";
    }
    const std::string tokens = write_tokens({s.access}, "shared.txt");
    auto ok = run_tool({"/usr/bin/python3", require_env("PORTCULLIS_JWKS_TOOLS") + "/verify_pyjwt.py", "--secret-file",
                        dir + "/secret", "--issuer", "portcullis", tokens},
                       dir + "/ok.log");
    INFO(ok.output);
    CHECK(ok.ok == 1);
    auto wrong = run_tool({"/usr/bin/python3", require_env("PORTCULLIS_JWKS_TOOLS") + "/verify_pyjwt.py",
                           "--secret-file", dir + "/wrong", "--issuer", "portcullis", tokens},
                          dir + "/wrong.log");
    CHECK(refused_by(wrong));
    // A token under the SECRET_KEY-derived key (as earlier versions issued) still works here.
    CHECK(
        c.get("/api/users/me", sign_jwt({{"alg", "HS256"}, {"typ", "JWT"}}, payload_of(s.access), jwt_key())).status ==
        200);
}

TEST_CASE(
    "rotation under load: no valid token refused by Portcullis, PyJWT or jose; old key published until its "
    "last token expired; retire")
{
    const env_map env = {{"JWT_ALGORITHM", "EdDSA"},
                         {"ACCESS_TOKEN_LIFETIME", "30"},
                         {"JWT_KEY_PUBLISH_AHEAD", "3"},
                         {"JWT_KEY_REFRESH", "1"}};
    server_fixture srv(env);
    client c(srv.port());
    const std::string old_kid = kid_of(login(c, register_active(c, "rot_0")).access);
    REQUIRE(jwks_kids(c) == std::vector<std::string>{old_kid});

    constexpr int workers = 3;
    std::vector<account> accounts;
    for (int i = 0; i < workers; ++i) accounts.push_back(register_active(c, "rot_" + std::to_string(i + 1)));
    std::mutex mu;
    std::vector<std::pair<std::string, std::int64_t>> issued;  // token, exp
    std::vector<std::string> refusals;
    std::atomic<bool> stop{false};
    std::vector<std::thread> load;
    for (int i = 0; i < workers; ++i) {
        load.emplace_back([&, i] {
            auto r = c.call_unchecked("POST", "/api/auth/login",
                                      json{{"email", accounts[i].email}, {"password", accounts[i].password}});
            if (r.status != 200) {
                std::lock_guard lock(mu);
                refusals.push_back("login " + std::to_string(r.status));
                return;
            }
            std::string refresh = r.body["refresh"];
            std::string access = r.body["access"];
            auto until = std::chrono::steady_clock::now() + std::chrono::seconds(60);
            while (!stop && std::chrono::steady_clock::now() < until) {
                auto me = c.call_unchecked("GET", "/api/users/me", std::nullopt, access);
                auto next = c.call_unchecked("POST", "/api/auth/refresh", json{{"refresh", refresh}});
                std::lock_guard lock(mu);
                if (me.status != 200) refusals.push_back("me " + std::to_string(me.status) + " " + me.code());
                if (next.status != 200) {
                    refusals.push_back("refresh " + std::to_string(next.status) + " " + next.code());
                    return;
                }
                access = next.body["access"];
                refresh = next.body["refresh"];
                issued.emplace_back(access, payload_of(access)["exp"].get<std::int64_t>());
            }
        });
    }
    auto count_of = [&](const std::string& kid) {
        std::lock_guard lock(mu);
        return std::count_if(issued.begin(), issued.end(), [&](const auto& t) { return kid_of(t.first) == kid; });
    };
    const auto poll = std::chrono::milliseconds(100);  // the conditions ask the server
    REQUIRE(wait_until([&] { return count_of(old_kid) >= 5; }, seconds(30), poll));

    auto [st, out] = keys_command(srv, {"rotate"}, env);
    INFO(out);
    REQUIRE(st == 0);
    const std::string new_kid = out.substr(0, out.find(' '));
    REQUIRE_FALSE(new_kid.empty());
    // Published first (while the old key still signs), then signing.
    REQUIRE(wait_until([&] { return contains(jwks_kids(c), new_kid); }, seconds(20), poll));
    CHECK(contains(jwks_kids(c), old_kid));
    REQUIRE(wait_until([&] { return count_of(new_kid) >= 5; }, seconds(30), poll));
    stop = true;
    for (auto& t : load) t.join();

    CHECK(refusals.empty());
    for (const auto& r : refusals) MESSAGE(r);
    std::vector<std::string> tokens;
    std::int64_t last_old_exp = 0;
    for (const auto& [t, exp] : issued) {
        tokens.push_back(t);
        if (kid_of(t) == old_kid) last_old_exp = std::max(last_old_exp, exp);
    }
    MESSAGE("tokens issued during the rotation: " << tokens.size() << " (old key " << count_of(old_kid) << ", new key "
                                                  << count_of(new_kid) << ")");
    // Every token, old key and new, verifies with both libraries.
    auto py = pyjwt(srv, tokens, "portcullis");
    INFO(py.output.substr(0, 2000));
    CHECK(py.status == 0);
    CHECK(py.ok == static_cast<int>(tokens.size()));
    auto js = jose(srv, tokens, "portcullis");
    INFO(js.output.substr(0, 2000));
    CHECK(js.status == 0);
    CHECK(js.ok == static_cast<int>(tokens.size()));

    // The old key stays in the JWKS until its last token has expired, then leaves.
    REQUIRE(wait_until([&] { return !contains(jwks_kids(c), old_kid); }, seconds(90), poll));
    CHECK(unix_now() >= last_old_exp);
    auto listed = keys_command(srv, {"list"}, env);
    CHECK(listed.second.find("expired") != std::string::npos);

    // Leaked key: rotate --now, then retire the key that signed until then.
    auto fresh = login(c, accounts[0]).access;
    REQUIRE(kid_of(fresh) == new_kid);
    auto refused = keys_command(srv, {"retire", new_kid}, env);
    CHECK(refused.first != 0);  // the key that signs cannot be retired
    auto now_cmd = keys_command(srv, {"rotate", "--now"}, env);
    REQUIRE(now_cmd.first == 0);
    const std::string third = now_cmd.second.substr(0, now_cmd.second.find(' '));
    REQUIRE(wait_until([&] { return contains(jwks_kids(c), third); }, seconds(20), poll));
    CHECK(c.get("/api/users/me", fresh).status == 200);  // still accepted: not retired yet
    REQUIRE(keys_command(srv, {"retire", new_kid}, env).first == 0);
    REQUIRE(wait_until([&] { return !contains(jwks_kids(c), new_kid); }, seconds(20), poll));
    expect_refused(c, fresh, "token of a retired key");
    auto after = login(c, accounts[0]).access;
    CHECK(kid_of(after) == third);
    CHECK(c.get("/api/users/me", after).status == 200);
    CHECK(refused_by(pyjwt(srv, {fresh}, "portcullis")));
    CHECK(refused_by(jose(srv, {fresh}, "portcullis")));
}
