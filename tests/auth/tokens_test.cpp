// End to end: tokens and sessions — refresh rotation and reuse, logout, logout-all,
// session listing and ending, REFRESH_REUSE_INTERVAL, ACCESS_TOKEN_LIFETIME, and the
// token attacks (alg none, other algorithms, tampering, wrong typ, expiry).

#include "auth_support.hpp"

#include <doctest/doctest.h>

#include <future>
#include <regex>

using namespace portcullis::test;
using namespace portcullis::test::auth;

namespace {

server_fixture& server()
{
    return shared_server();
}

// Rotation with a grace interval, and a short access lifetime.
server_fixture& grace_server()
{
    static server_fixture srv(env_map{
        {"RATE_LIMIT_EXEMPT", "127.0.0.1/32"}, {"REFRESH_REUSE_INTERVAL", "60"}, {"ACCESS_TOKEN_LIFETIME", "30"}});
    return srv;
}

bool works(const client& c, const std::string& access)
{
    return c.get("/api/users/me", access).status == 200;
}

std::vector<reply> parallel_refreshes(const client& c, const std::string& refresh, int n)
{
    std::vector<std::future<reply>> calls;
    for (int i = 0; i < n; ++i) {
        calls.push_back(std::async(std::launch::async, [&c, &refresh] {
            return c.call_unchecked("POST", "/api/auth/refresh", json{{"refresh", refresh}});
        }));
    }
    std::vector<reply> out;
    for (auto& f : calls) out.push_back(f.get());
    for (const auto& r : out) check_response(r, "parallel refresh");
    return out;
}

const std::regex uuid_re("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}");
const std::regex rfc3339(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]00:00))");

}  // namespace

TEST_CASE("tokens: HS256 JWTs with the contract's claims and lifetimes")
{
    client c(server().port());
    account a = register_active(c, "claims");
    auto s = login(c, a);
    auto h = header_of(s.access);
    CHECK(h["alg"] == "HS256");
    auto p = payload_of(s.access);
    auto q = payload_of(s.refresh);
    for (const auto& key : {"iss", "sub", "iat", "exp", "jti", "sid", "typ"}) {
        CHECK(p.contains(key));
        CHECK(q.contains(key));
    }
    // The refresh token's position in its session's refresh counter; none in access tokens.
    CHECK(q["ctr"] == 0);
    CHECK_FALSE(p.contains("ctr"));
    CHECK(p["typ"] == "access");
    CHECK(q["typ"] == "refresh");
    CHECK(p["sub"] == a.id);
    CHECK(p["sid"] == q["sid"]);
    CHECK(p["jti"] != q["jti"]);
    CHECK(p["exp"].get<std::int64_t>() - p["iat"].get<std::int64_t>() == 15 * 60);
    CHECK(q["exp"].get<std::int64_t>() - q["iat"].get<std::int64_t>() == 24 * 60 * 60);
    CHECK(std::abs(p["iat"].get<std::int64_t>() - unix_now()) < 60);
}

TEST_CASE("refresh: rotation; the old token is refused; reuse ends the whole session")
{
    client c(server().port());
    account a = register_active(c, "rotate");
    auto s = login(c, a);
    auto other = login(c, a, "other-device");

    auto r1 = c.post("/api/auth/refresh", {{"refresh", s.refresh}});
    REQUIRE(r1.status == 200);
    CHECK(r1.body["token_type"] == "Bearer");
    CHECK(r1.body["expires_in"] == 900);
    std::string a1 = r1.body["access"];
    std::string t1 = r1.body["refresh"];
    CHECK(t1 != s.refresh);
    CHECK(a1 != s.access);
    CHECK(payload_of(t1)["sid"] == payload_of(s.refresh)["sid"]);
    CHECK(works(c, a1));

    auto r2 = c.post("/api/auth/refresh", {{"refresh", t1}});
    REQUIRE(r2.status == 200);
    std::string a2 = r2.body["access"];
    std::string t2 = r2.body["refresh"];
    CHECK(works(c, a2));

    // An already-rotated token: 401 token_reused, and the session is over.
    auto reused = c.post("/api/auth/refresh", {{"refresh", s.refresh}});
    CHECK(reused.status == 401);
    CHECK(reused.code() == "token_reused");
    CHECK_FALSE(works(c, a2));
    CHECK_FALSE(works(c, a1));
    CHECK_FALSE(works(c, s.access));
    auto newest = c.post("/api/auth/refresh", {{"refresh", t2}});
    CHECK(newest.status == 401);
    // Other sessions of the user are untouched.
    CHECK(works(c, other.access));
    CHECK(c.post("/api/auth/refresh", {{"refresh", other.refresh}}).status == 200);

    auto empty = c.post("/api/auth/refresh", json::object());
    CHECK(empty.status == 400);
    auto typed = c.post("/api/auth/refresh", {{"refresh", 12}});
    CHECK(typed.status == 400);
    auto junk = c.post("/api/auth/refresh", {{"refresh", "not.a.token"}});
    CHECK(junk.status == 401);
    CHECK(junk.code() == "invalid_token");
}

TEST_CASE("refresh: 20 parallel refreshes of one token, exactly one 200")
{
    client c(server().port());
    account a = register_active(c, "par20");
    auto s = login(c, a);
    auto replies = parallel_refreshes(c, s.refresh, 20);
    int ok = 0;
    std::string winner_access;
    for (const auto& r : replies) {
        if (r.status == 200) {
            ++ok;
            winner_access = r.body["access"];
        } else {
            CHECK(r.status == 401);
            CHECK(r.code() == "token_reused");
        }
    }
    CHECK(ok == 1);
    // The losers presented a rotated token: the session ended, the winner's pair with it.
    if (!winner_access.empty()) CHECK_FALSE(works(c, winner_access));
    // One rotation happened: the session's counter moved once.
    CHECK(pg_exec(server().database_url(), "SELECT refresh_counter FROM sessions WHERE id = '" +
                                               payload_of(s.refresh)["sid"].get<std::string>() + "'") == "1");
}

TEST_CASE("refresh: a token from before refresh counters (as the migration keeps it) still refreshes, once")
{
    client c(server().port());
    account a = register_active(c, "legacy");
    auto s = login(c, a);
    const std::string sid = payload_of(s.refresh)["sid"];
    // What 0005_refresh_counter.sql leaves for a session opened by an earlier version: its
    // usable token's random id, and a token that names it without a counter.
    const std::string legacy_id = "6f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a0b";
    REQUIRE(pg_exec(server().database_url(), "UPDATE sessions SET legacy_jti = '" + legacy_id + "' WHERE id = '" + sid +
                                                 "' RETURNING 1") == "1");
    json old = payload_of(s.refresh);
    old.erase("ctr");
    old["jti"] = legacy_id;
    const std::string old_token = sign_jwt({{"alg", "HS256"}, {"typ", "JWT"}}, old, jwt_key());

    auto moved = c.post("/api/auth/refresh", {{"refresh", old_token}});
    REQUIRE(moved.status == 200);
    CHECK(payload_of(moved.body["refresh"].get<std::string>())["ctr"] == 1);
    CHECK(payload_of(moved.body["refresh"].get<std::string>())["sid"] == sid);
    CHECK(works(c, moved.body["access"].get<std::string>()));
    CHECK(pg_exec(server().database_url(), "SELECT legacy_jti IS NULL FROM sessions WHERE id = '" + sid + "'") == "t");

    // The old token again: a reuse, the session ends.
    auto again = c.post("/api/auth/refresh", {{"refresh", old_token}});
    CHECK(again.status == 401);
    CHECK(again.code() == "token_reused");
    CHECK_FALSE(works(c, moved.body["access"].get<std::string>()));
}

TEST_CASE("logout: blacklists the refresh token and ends its session at once")
{
    client c(server().port());
    account a = register_active(c, "logout");
    auto s = login(c, a);
    auto keep = login(c, a, "keep");
    CHECK(works(c, s.access));  // cached on the server before logout

    auto out = c.post("/api/auth/logout", {{"refresh", s.refresh}});
    CHECK(out.status == 200);
    auto after = c.get("/api/users/me", s.access);
    CHECK(after.status == 401);
    CHECK(after.code() == "token_revoked");
    auto refresh = c.post("/api/auth/refresh", {{"refresh", s.refresh}});
    CHECK(refresh.status == 401);
    CHECK(works(c, keep.access));

    // Authenticated logout of someone else's refresh token: forbidden, nothing ends.
    account b = register_active(c, "logout_b");
    auto sb = login(c, b);
    auto cross = c.post("/api/auth/logout", {{"refresh", sb.refresh}}, keep.access);
    CHECK(cross.status == 403);
    CHECK(works(c, sb.access));
    // With the owner's own access token it works.
    CHECK(c.post("/api/auth/logout", {{"refresh", sb.refresh}}, sb.access).status == 200);
    CHECK_FALSE(works(c, sb.access));

    CHECK(c.post("/api/auth/logout", json::object()).status == 400);
    CHECK(c.post("/api/auth/logout", {{"refresh", keep.access}}).status == 401);  // an access token is no refresh token
    CHECK(c.post("/api/auth/logout", {{"refresh", 5}}).status == 400);
    CHECK(works(c, keep.access));
}

TEST_CASE("logout-all: every session of the user ends")
{
    client c(server().port());
    account a = register_active(c, "all");
    account b = register_active(c, "all_b");
    std::vector<session_tokens> sessions;
    for (int i = 0; i < 3; ++i) sessions.push_back(login(c, a, "device-" + std::to_string(i)));
    auto sb = login(c, b);
    for (const auto& s : sessions) CHECK(works(c, s.access));

    auto none = c.post("/api/auth/logout-all", json::object());
    CHECK(none.status == 401);
    CHECK(none.code() == "not_authenticated");

    auto r = c.call("POST", "/api/auth/logout-all", std::nullopt, sessions[1].access);
    CHECK(r.status == 200);
    for (const auto& s : sessions) {
        CHECK_FALSE(works(c, s.access));
        CHECK(c.post("/api/auth/refresh", {{"refresh", s.refresh}}).status == 401);
    }
    CHECK(works(c, sb.access));
    CHECK(c.post("/api/auth/login", {{"email", a.email}, {"password", a.password}}).status == 200);
}

TEST_CASE("GET session and sessions; DELETE sessions/{id}")
{
    client c(server().port());
    account a = register_active(c, "sess");
    account b = register_active(c, "sess_b");
    auto s1 = login(c, a, "agent-one/1.0");
    auto s2 = login(c, a, "agent-two/2.0");
    auto sb = login(c, b);
    std::string sid1 = payload_of(s1.access)["sid"];
    std::string sid2 = payload_of(s2.access)["sid"];
    std::string sidb = payload_of(sb.access)["sid"];

    auto cur = c.get("/api/auth/session", s1.access);
    REQUIRE(cur.status == 200);
    CHECK(cur.body["user"]["id"] == a.id);
    CHECK(cur.body["user"]["email"].is_string());
    CHECK(cur.body["session"]["id"] == sid1);
    CHECK(std::regex_match(cur.body["session"]["id"].get<std::string>(), uuid_re));
    CHECK(std::regex_match(cur.body["session"]["created_at"].get<std::string>(), rfc3339));
    CHECK(std::regex_match(cur.body["session"]["expires_at"].get<std::string>(), rfc3339));
    CHECK(c.get("/api/auth/session").status == 401);

    auto list = c.get("/api/auth/sessions", s1.access);
    REQUIRE(list.status == 200);
    REQUIRE(list.body["results"].is_array());
    CHECK(list.body["results"].size() == 2);
    int current = 0;
    std::map<std::string, json> by_id;
    for (const auto& s : list.body["results"]) {
        for (const auto& key : {"id", "created_at", "last_used_at", "user_agent", "ip", "current"}) {
            CHECK(s.contains(key));
        }
        by_id[s["id"]] = s;
        if (s["current"] == true) {
            ++current;
            CHECK(s["id"] == sid1);
        }
    }
    CHECK(current == 1);
    CHECK(by_id.count(sidb) == 0);
    REQUIRE(by_id.count(sid2) == 1);
    CHECK(by_id[sid2]["user_agent"] == "agent-two/2.0");
    CHECK(by_id[sid1]["user_agent"] == "agent-one/1.0");
    CHECK(by_id[sid2]["ip"] == "127.0.0.1");
    CHECK(std::regex_match(by_id[sid2]["last_used_at"].get<std::string>(), rfc3339));

    // Someone else's session, an unknown one, and garbage: 404.
    auto foreign = c.call("DELETE", "/api/auth/sessions/" + sidb, std::nullopt, s1.access);
    CHECK(foreign.status == 404);
    CHECK(foreign.code() == "not_found");
    CHECK(works(c, sb.access));
    CHECK(c.call("DELETE", "/api/auth/sessions/00000000-0000-4000-8000-000000000000", std::nullopt, s1.access).status ==
          404);
    CHECK(c.call("DELETE", "/api/auth/sessions/not-a-uuid", std::nullopt, s1.access).status == 404);
    CHECK(c.call("DELETE", "/api/auth/sessions/" + sid2).status == 401);

    auto del = c.call("DELETE", "/api/auth/sessions/" + sid2, std::nullopt, s1.access);
    CHECK(del.status == 204);
    CHECK(del.raw.body.empty());
    CHECK_FALSE(works(c, s2.access));
    CHECK(c.post("/api/auth/refresh", {{"refresh", s2.refresh}}).status == 401);
    CHECK(c.call("DELETE", "/api/auth/sessions/" + sid2, std::nullopt, s1.access).status == 404);
    auto after = c.get("/api/auth/sessions", s1.access);
    CHECK(after.body["results"].size() == 1);
    CHECK(works(c, s1.access));
}

TEST_CASE("attacks: alg none, other algorithms, tampering, wrong typ, expiry, forged claims")
{
    client c(server().port());
    account a = register_active(c, "attack");
    account b = register_active(c, "attack_b");
    auto s = login(c, a);
    auto sb = login(c, b);
    const std::string key = jwt_key();
    json hs256 = {{"alg", "HS256"}, {"typ", "JWT"}};
    json claims = payload_of(s.access);

    // Positive control: re-signed with the derived key, the same claims are accepted,
    // so every refusal below is about the attack and not about the crafting.
    REQUIRE(works(c, sign_jwt(hs256, claims, key)));

    auto refused = [&](const std::string& token, const std::string& what) {
        auto r = c.get("/api/users/me", token);
        INFO(what);
        CHECK(r.status == 401);
        CHECK((r.code() == "invalid_token" || r.code() == "token_expired" || r.code() == "token_revoked" ||
               r.code() == "not_authenticated"));
        return r;
    };

    std::string body = b64url(claims.dump());
    refused(b64url(json{{"alg", "none"}, {"typ", "JWT"}}.dump()) + "." + body + ".", "alg none, empty signature");
    refused(b64url(json{{"alg", "none"}}.dump()) + "." + body, "alg none, two segments");
    refused(b64url(json{{"alg", "None"}, {"typ", "JWT"}}.dump()) + "." + body + "." +
                s.access.substr(s.access.rfind('.') + 1),
            "alg None with the original signature");
    refused(sign_jwt({{"alg", "HS512"}, {"typ", "JWT"}}, claims, key, true), "HS512 with the server key");
    refused(sign_jwt(hs256, claims, key, true), "HS256 header, SHA-512 MAC");
    refused(sign_jwt({{"alg", "HS384"}, {"typ", "JWT"}}, claims, key), "HS384 header");
    refused(sign_jwt({{"alg", "RS256"}, {"typ", "JWT"}}, claims, key), "RS256 header, HMAC signature");
    refused(sign_jwt(hs256, claims, jwt_key("another-secret-key-0123456789abcdef0123")), "another key");
    refused(sign_jwt(hs256, claims, "test-secret-key-0123456789abcdef0123456789"), "SECRET_KEY itself as the key");
    refused(sign_jwt({{"alg", "HS256"}, {"typ", "JWT"}, {"crit", {"exp"}}}, claims, key), "crit header");

    // Tampered payloads under the original signature.
    std::string sig = s.access.substr(s.access.rfind('.'));
    std::string head = s.access.substr(0, s.access.find('.'));
    json as_b = claims;
    as_b["sub"] = b.id;
    refused(head + "." + b64url(as_b.dump()) + sig, "sub changed to another user");
    json longer = claims;
    longer["exp"] = claims["exp"].get<std::int64_t>() + 86400;
    refused(head + "." + b64url(longer.dump()) + sig, "exp extended");
    std::string flipped = s.access;
    flipped[flipped.size() - 3] = flipped[flipped.size() - 3] == 'A' ? 'B' : 'A';
    refused(flipped, "signature bit flipped");

    // Wrong typ: refresh as access and the reverse; reset as access.
    refused(s.refresh, "refresh token as access");
    auto access_as_refresh = c.post("/api/auth/refresh", {{"refresh", s.access}});
    CHECK(access_as_refresh.status == 401);
    json reset = claims;
    reset["typ"] = "reset";
    refused(sign_jwt(hs256, reset, key), "typ reset as access");
    json no_typ = claims;
    no_typ.erase("typ");
    refused(sign_jwt(hs256, no_typ, key), "no typ");

    // Expired: authentic, live session, exp in the past.
    json expired = claims;
    expired["iat"] = unix_now() - 1000;
    expired["exp"] = unix_now() - 10;
    auto exp_r = refused(sign_jwt(hs256, expired, key), "expired access token");
    CHECK(exp_r.code() == "token_expired");
    json expired_refresh = payload_of(s.refresh);
    expired_refresh["iat"] = unix_now() - 1000;
    expired_refresh["exp"] = unix_now() - 10;
    auto exp_refresh = c.post("/api/auth/refresh", {{"refresh", sign_jwt(hs256, expired_refresh, key)}});
    CHECK(exp_refresh.status == 401);
    CHECK(exp_refresh.code() == "token_expired");

    // Authentic but forged claims (only a key holder could make these): still 401, never 500.
    json wrong_user = claims;
    wrong_user["sub"] = b.id;
    refused(sign_jwt(hs256, wrong_user, key), "another user's id on my session");
    json foreign_sid = claims;
    foreign_sid["sid"] = payload_of(sb.access)["sid"];
    refused(sign_jwt(hs256, foreign_sid, key), "my id on another user's session");
    for (const auto& bad_sid :
         std::vector<std::string>{"not-a-uuid", "00000000-0000-4000-8000-000000000000", "'; DROP TABLE users;--"}) {
        json j = claims;
        j["sid"] = bad_sid;
        refused(sign_jwt(hs256, j, key), "sid " + bad_sid);
    }
    for (const auto& bad_sub :
         std::vector<json>{json("0"), json("-1"), json("abc"), json(12), json("99999999999999999999")}) {
        json j = claims;
        j["sub"] = bad_sub;
        refused(sign_jwt(hs256, j, key), "sub " + bad_sub.dump());
    }
    json wrong_iss = claims;
    wrong_iss["iss"] = "someone-else";
    refused(sign_jwt(hs256, wrong_iss, key), "issuer");
    json refresh_claims = payload_of(s.refresh);
    for (const auto& bad_jti : std::vector<std::string>{"not-a-uuid", "00000000-0000-4000-8000-000000000000"}) {
        json j = refresh_claims;
        j["jti"] = bad_jti;
        auto r = c.post("/api/auth/refresh", {{"refresh", sign_jwt(hs256, j, key)}});
        INFO("jti ", bad_jti);
        CHECK(r.status == 401);
        auto lo = c.post("/api/auth/logout", {{"refresh", sign_jwt(hs256, j, key)}});
        CHECK(lo.status == 401);
    }

    // Malformed Authorization headers.
    auto none = c.get("/api/users/me");
    CHECK(none.status == 401);
    CHECK(none.code() == "not_authenticated");
    for (const auto& h :
         std::vector<std::string>{std::string("Basic dXNlcjpwYXNz"), std::string("Bearer"), std::string("Bearer "),
                                  std::string("Bearer a.b.c"), std::string("Bearer ") + std::string(5000, 'a'),
                                  "Bearer " + s.access + "x", "Bearer " + s.access + " extra"}) {
        auto r = c.call("GET", "/api/users/me", std::nullopt, {}, {{"Authorization", h}});
        INFO("Authorization: ", h.substr(0, 40));
        CHECK(r.status == 401);
    }
    // After all that, the real tokens still work.
    CHECK(works(c, s.access));
    CHECK(works(c, sb.access));
}

TEST_CASE("REFRESH_REUSE_INTERVAL: the just-rotated token returns the same pair and the session survives")
{
    client c(grace_server().port());
    account a = register_active(c, "grace");
    auto s = login(c, a);

    auto r1 = c.post("/api/auth/refresh", {{"refresh", s.refresh}});
    REQUIRE(r1.status == 200);
    CHECK(r1.body["expires_in"] == 30);  // ACCESS_TOKEN_LIFETIME
    auto p = payload_of(r1.body["access"]);
    CHECK(p["exp"].get<std::int64_t>() - p["iat"].get<std::int64_t>() == 30);

    auto again = c.post("/api/auth/refresh", {{"refresh", s.refresh}});
    REQUIRE(again.status == 200);
    CHECK(again.body["access"] == r1.body["access"]);
    CHECK(again.body["refresh"] == r1.body["refresh"]);
    CHECK(works(c, r1.body["access"]));

    // Parallel presentations of the just-rotated token: all get the same successor.
    auto replies = parallel_refreshes(c, s.refresh, 10);
    for (const auto& r : replies) {
        CHECK(r.status == 200);
        CHECK(r.body["refresh"] == r1.body["refresh"]);
    }
    CHECK(works(c, r1.body["access"]));

    // Once the successor is itself rotated, the grace is over: reuse ends the session.
    auto r2 = c.post("/api/auth/refresh", {{"refresh", r1.body["refresh"]}});
    REQUIRE(r2.status == 200);
    CHECK(r2.body["refresh"] != r1.body["refresh"]);
    auto late = c.post("/api/auth/refresh", {{"refresh", s.refresh}});
    CHECK(late.status == 401);
    CHECK(late.code() == "token_reused");
    CHECK_FALSE(works(c, r2.body["access"]));
    CHECK(c.post("/api/auth/refresh", {{"refresh", r2.body["refresh"]}}).status == 401);

    // Logout inside the interval ends the session: the grace does not resurrect it.
    auto s2 = login(c, a);
    auto n1 = c.post("/api/auth/refresh", {{"refresh", s2.refresh}});
    REQUIRE(n1.status == 200);
    CHECK(c.post("/api/auth/logout", {{"refresh", n1.body["refresh"]}}).status == 200);
    auto resurrect = c.post("/api/auth/refresh", {{"refresh", s2.refresh}});
    CHECK(resurrect.status == 401);
    CHECK_FALSE(works(c, n1.body["access"]));
}

TEST_CASE("revocation reaches every I/O thread at once and other instances through Redis")
{
    client c(server().port());
    account a = register_active(c, "spread");
    auto s = login(c, a);
    // Fresh connections land on both I/O threads (SO_REUSEPORT): warm every cache.
    for (int i = 0; i < 16; ++i) REQUIRE(works(c, s.access));
    REQUIRE(c.post("/api/auth/logout", {{"refresh", s.refresh}}).status == 200);
    for (int i = 0; i < 16; ++i) CHECK_FALSE(works(c, s.access));

    // A second instance on the same database and Redis prefix.
    server_fixture twin(env_map{{"RATE_LIMIT_EXEMPT", "127.0.0.1/32"},
                                {"DATABASE_URL", server().database_url()},
                                {"REDIS_PREFIX", server().redis_prefix()}},
                        false);
    client c2(twin.port());
    auto s2 = login(c, a);
    for (int i = 0; i < 16; ++i) REQUIRE(works(c2, s2.access));
    REQUIRE(works(c, s2.access));
    auto t0 = std::chrono::steady_clock::now();
    REQUIRE(c.post("/api/auth/logout", {{"refresh", s2.refresh}}).status == 200);
    // The other instance learns it from the stream: allow it the stream's latency only.
    bool refused = eventually([&] { return !works(c2, s2.access); }, std::chrono::seconds(3));
    CHECK(refused);
    MESSAGE("revocation seen by the other instance after ",
            std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count(),
            " ms");
    for (int i = 0; i < 16; ++i) CHECK_FALSE(works(c2, s2.access));

    // A profile change on one instance is visible on the other.
    auto s3 = login(c, a);
    for (int i = 0; i < 8; ++i) REQUIRE(c2.get("/api/users/me", s3.access).status == 200);
    REQUIRE(c.call("PATCH", "/api/users/me", json{{"full_name", "Renamed Twin"}}, s3.access).status == 200);
    CHECK(eventually([&] { return c2.get("/api/users/me", s3.access).body.value("full_name", "") == "Renamed Twin"; },
                     std::chrono::seconds(3)));
}
