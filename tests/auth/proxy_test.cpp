// End to end: the client address behind a trusted proxy (TRUSTED_PROXIES). It keys the
// per-IP limits, is the sessions list's `ip` and the access log's `peer`; the forwarding
// headers of a peer that is not a trusted proxy are ignored.

#include "auth_support.hpp"
#include "process.hpp"

#include <doctest/doctest.h>

using namespace portcullis::test;
using namespace portcullis::test::auth;

namespace {

// POST /api/auth/password/forgot (REGISTER_IP_LIMIT counts it per client address) from
// `source` with the given extra headers; returns the status.
int forgot_from(int port, const std::string& source, const header_list& headers)
{
    http_connection conn(port, std::chrono::seconds(20), source);
    json body{{"email", unique_email("px")}};
    return conn.request("POST", "/api/auth/password/forgot", body.dump(), headers).status;
}

}  // namespace

TEST_CASE("behind a trusted proxy the limits, the sessions list and the access log see the client")
{
    server_fixture srv(env_map{{"REGISTER_IP_LIMIT", "2"}, {"TRUSTED_PROXIES", "127.0.0.1"}});
    const int port = srv.port();
    // nginx appended 203.0.113.5; what the client wrote to its left is ignored.
    CHECK(forgot_from(port, "127.0.0.1", {{"X-Forwarded-For", "203.0.113.5"}}) == 202);
    CHECK(forgot_from(port, "127.0.0.1", {{"X-Forwarded-For", "198.51.100.1, 203.0.113.5"}}) == 202);
    CHECK(forgot_from(port, "127.0.0.1", {{"X-Forwarded-For", "198.51.100.2, 203.0.113.5"}}) == 429);
    // Other clients behind the same proxy keep their own allowance.
    CHECK(forgot_from(port, "127.0.0.1", {{"X-Forwarded-For", "203.0.113.6"}}) == 202);
    CHECK(forgot_from(port, "127.0.0.1", {{"X-Forwarded-For", "2001:db8::6"}}) == 202);

    client c(port);
    account a = register_active(c, "proxied");
    auto r = c.call("POST", "/api/auth/login", json{{"email", a.email}, {"password", a.password}}, {},
                    {{"X-Forwarded-For", "203.0.113.77"}});
    REQUIRE(r.status == 200);
    auto sessions = c.get("/api/auth/sessions", r.body["access"].get<std::string>());
    REQUIRE(sessions.status == 200);
    std::string listed = sessions.body.dump();
    CHECK(listed.find("\"ip\":\"203.0.113.77\"") != std::string::npos);
    CHECK(wait_for_text(srv.proc().log_path(), R"("peer":"203.0.113.77","proxy":"127.0.0.1")"));
}

TEST_CASE("a client that is not a trusted proxy cannot choose its address with forwarding headers")
{
    // One I/O thread: its log flush covers every request below.
    server_fixture srv(env_map{{"REGISTER_IP_LIMIT", "2"}, {"TRUSTED_PROXIES", "127.0.0.1"}, {"IO_THREADS", "1"}});
    const int port = srv.port();
    CHECK(forgot_from(port, "127.0.0.2", {{"X-Forwarded-For", "203.0.113.1"}}) == 202);
    CHECK(forgot_from(port, "127.0.0.2", {{"X-Forwarded-For", "203.0.113.2"}, {"Forwarded", "for=203.0.113.2"}}) ==
          202);
    // Counted against 127.0.0.2 whatever the headers say.
    CHECK(forgot_from(port, "127.0.0.2", {{"X-Forwarded-For", "203.0.113.3"}, {"Forwarded", "for=203.0.113.3"}}) ==
          429);
    CHECK(wait_for_text(srv.proc().log_path(), R"("status":429,)"));
    CHECK(srv.proc().log().find(R"("peer":"203.0.113.)") == std::string::npos);
}

TEST_CASE("TRUSTED_PROXY_HEADER=forwarded reads Forwarded: for= and ignores X-Forwarded-For")
{
    server_fixture srv(
        env_map{{"REGISTER_IP_LIMIT", "1"}, {"TRUSTED_PROXIES", "127.0.0.0/8"}, {"TRUSTED_PROXY_HEADER", "forwarded"}});
    const int port = srv.port();
    CHECK(forgot_from(port, "127.0.0.1", {{"Forwarded", "for=\"[2001:db8::7]:4711\";proto=https"}}) == 202);
    CHECK(forgot_from(port, "127.0.0.1", {{"Forwarded", "for=\"[2001:db8::7]\""}}) == 429);
    CHECK(forgot_from(port, "127.0.0.1", {{"Forwarded", "for=192.0.2.8"}, {"X-Forwarded-For", "2001:db8::7"}}) == 202);
}
