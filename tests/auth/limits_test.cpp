// End to end: abuse limits and the timing rule — login failures per account+IP and
// per IP (429 with Retry-After), RATE_LIMIT_EXEMPT, register limits per IP and per
// address, and unknown-user vs wrong-password login timing with the default argon2
// parameters.

#include "auth_support.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <iostream>

using namespace portcullis::test;
using namespace portcullis::test::auth;

namespace {

double median(std::vector<double> v)
{
    std::sort(v.begin(), v.end());
    std::size_t n = v.size();
    return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

}  // namespace

TEST_CASE("100 wrong logins: 401 up to the per-account limit, then 429 with Retry-After; per-IP limit too")
{
    // Not exempt: the per-IP limits apply to loopback here.
    server_fixture srv(env_map{{"LOGIN_FAIL_LIMIT", "5"}, {"LOGIN_IP_LIMIT", "20"}, {"REGISTER_IP_LIMIT", "4"}});
    client c(srv.port());
    account a = register_active(c, "brute");

    int unauthorized = 0;
    int limited = 0;
    for (int i = 0; i < 100; ++i) {
        auto r = c.post("/api/auth/login", {{"email", a.email}, {"password", "Wrong-pass-" + std::to_string(i)}});
        if (r.status == 401) {
            CHECK(r.code() == "invalid_credentials");
            CHECK(limited == 0);  // no 401 after the first 429
            ++unauthorized;
        } else {
            CHECK(r.status == 429);
            CHECK(r.code() == "rate_limited");
            int ra = r.retry_after();
            CHECK(ra >= 1);
            CHECK(ra <= 15 * 60);
            ++limited;
        }
    }
    CHECK(unauthorized == 5);
    CHECK(limited == 95);
    // Even the right password waits now (by e-mail in any case, or the same e-mail).
    auto right = c.post("/api/auth/login", {{"email", a.email}, {"password", a.password}});
    CHECK(right.status == 429);

    // Per IP: 20 failures a minute across identifiers, then 429 for any identifier.
    int failures = 5;  // counted above
    for (int i = 0; failures < 20; ++i, ++failures) {
        auto r = c.post("/api/auth/login", {{"email", unique_email("spray")}, {"password", "Wrong-pass"}});
        CHECK(r.status == 401);
    }
    auto sprayed = c.post("/api/auth/login", {{"email", unique_email("spray")}, {"password", "Wrong-pass"}});
    CHECK(sprayed.status == 429);
    CHECK(sprayed.code() == "rate_limited");
    CHECK(sprayed.retry_after() >= 1);
    CHECK(sprayed.retry_after() <= 60);

    // Register per IP (REGISTER_IP_LIMIT=4 an hour; one was used above).
    int created = 0;
    reply last;
    for (int i = 0; i < 4; ++i) {
        last = c.post(
            "/api/auth/register",
            {{"email", unique_email("ipreg")}, {"username", unique_username("ipreg")}, {"password", good_password}});
        if (last.status == 201) ++created;
    }
    CHECK(created == 3);
    CHECK(last.status == 429);
    CHECK(last.code() == "rate_limited");
    CHECK(last.retry_after() >= 1);
}

TEST_CASE("RATE_LIMIT_EXEMPT skips the per-IP limits but not the per-account and per-address ones")
{
    server_fixture srv(env_map{{"RATE_LIMIT_EXEMPT", "127.0.0.1/32"},
                               {"LOGIN_FAIL_LIMIT", "3"},
                               {"LOGIN_IP_LIMIT", "5"},
                               {"REGISTER_IP_LIMIT", "2"},
                               {"ADDRESS_LIMIT", "3"}});
    client c(srv.port());
    for (int i = 0; i < 12; ++i) {
        auto r = c.post("/api/auth/login", {{"email", unique_email("exempt")}, {"password", "Wrong-pass"}});
        CHECK(r.status == 401);
    }
    // More registrations than REGISTER_IP_LIMIT from the exempt address.
    std::vector<account> made;
    for (int i = 0; i < 4; ++i) made.push_back(register_pending(c, "exreg"));
    CHECK(made.size() == 4);

    std::string id = unique_email("acct");
    for (int i = 0; i < 3; ++i)
        CHECK(c.post("/api/auth/login", {{"email", id}, {"password", "x-Wrong-1"}}).status == 401);
    auto limited = c.post("/api/auth/login", {{"email", id}, {"password", "x-Wrong-1"}});
    CHECK(limited.status == 429);
    CHECK(limited.retry_after() >= 1);

    // Per address: ADDRESS_LIMIT registrations of one pending address an hour.
    std::string addr = unique_email("addr");
    for (int i = 0; i < 3; ++i) {
        auto r = c.post("/api/auth/register",
                        {{"email", addr}, {"username", unique_username("addr")}, {"password", good_password}});
        CHECK(r.status == 201);
    }
    auto over = c.post("/api/auth/register",
                       {{"email", addr}, {"username", unique_username("addr")}, {"password", good_password}});
    CHECK(over.status == 429);
    CHECK(over.code() == "rate_limited");
}

TEST_CASE("login timing: unknown user and wrong password have medians within 25% (default argon2)")
{
    server_fixture srv(env_map{{"ARGON2_MEMORY_KIB", "19456"},
                               {"ARGON2_ITERATIONS", "2"},
                               {"RATE_LIMIT_EXEMPT", "127.0.0.1/32"},
                               {"LOGIN_FAIL_LIMIT", "100000"},
                               {"LOGIN_IP_LIMIT", "100000"},
                               {"LOGIN_ACCOUNT_LIMIT", "100000"},
                               {"LOGIN_ACCOUNT_FREE_FAILURES", "100000"},
                               {"PASSWORD_CHECK_LIMIT", "100000"}});
    client c(srv.port());
    account a = register_active(c, "timing");
    const int tries = 30;
    std::vector<double> unknown_ms;
    std::vector<double> wrong_ms;
    http_connection conn(srv.port(), std::chrono::seconds(30));
    auto timed = [&conn](const json& body, int expected) {
        auto t0 = std::chrono::steady_clock::now();
        auto r = conn.request("POST", "/api/auth/login", body.dump(), {{"Content-Type", "application/json"}});
        auto t1 = std::chrono::steady_clock::now();
        CHECK(r.status == expected);
        return std::chrono::duration<double, std::milli>(t1 - t0).count();
    };
    // Warm up both paths (pool connections, prepared statements, caches).
    for (int i = 0; i < 3; ++i) {
        timed({{"email", unique_email("warm")}, {"password", "Wrong-pass"}}, 401);
        timed({{"email", a.email}, {"password", "Wrong-pass"}}, 401);
    }
    // Interleaved, so drift in machine load hits both series alike.
    for (int i = 0; i < tries; ++i) {
        unknown_ms.push_back(timed({{"email", unique_email("nobody")}, {"password", "Wrong-pass-1"}}, 401));
        wrong_ms.push_back(timed({{"email", a.email}, {"password", "Wrong-pass-1"}}, 401));
    }
    double mu = median(unknown_ms);
    double mw = median(wrong_ms);
    std::cout << "login timing medians: unknown user " << mu << " ms, wrong password " << mw << " ms\n";
    MESSAGE("login timing medians: unknown user ", mu, " ms, wrong password ", mw, " ms");
    CHECK(mu > 0);
    CHECK(mw > 0);
    CHECK(std::abs(mu - mw) <= 0.25 * std::max(mu, mw));
}
