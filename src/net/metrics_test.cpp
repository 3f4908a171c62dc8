#include "net/metrics.hpp"

#include <doctest/doctest.h>

#include <thread>

using namespace portcullis::net;
using namespace std::chrono_literals;

namespace {
const route_totals* find(const request_totals& t, std::string_view route, std::string_view method = "GET")
{
    if (route == unmatched_route) method = unmatched_route;
    for (const auto& r : t.routes) {
        if (r.route == route && r.method == method) return &r;
    }
    return nullptr;
}
}  // namespace

TEST_CASE("request metrics count by method, route template and status, unknown ones as '-'")
{
    request_metrics m(
        {{"GET", "/healthz"}, {"GET", "/api/users/{id}"}, {"GET", "/api/users/{id}"}, {"PATCH", "/api/users/{id}"}});
    m.on_request("GET", "/healthz", 200, 300us);
    m.on_request("GET", "/healthz", 200, 2ms);
    m.on_request("GET", "/api/users/{id}", 404, 20ms);
    m.on_request("PATCH", "/api/users/{id}", 403, 1ms);
    m.on_request("-", "-", 404, 100us);
    m.on_request("GET", "/not/registered", 400, 100us);
    m.on_request("BREW", "/healthz", 405, 100us);  // a method the route does not have
    m.on_request("GET", "/healthz", 99, 100us);    // out of range: in the histogram, no status series

    request_totals t;
    m.add_to(t);
    REQUIRE(t.routes.size() == 4);
    CHECK(t.routes.back().route == "-");
    CHECK(t.routes.back().method == "-");

    const auto* patch = find(t, "/api/users/{id}", "PATCH");
    REQUIRE(patch != nullptr);
    REQUIRE(patch->statuses.size() == 1);
    CHECK(patch->statuses[0] == std::pair<unsigned, std::uint64_t>{403, 1});
    const auto* get = find(t, "/api/users/{id}");
    REQUIRE(get != nullptr);
    CHECK(get->statuses[0] == std::pair<unsigned, std::uint64_t>{404, 1});

    const auto* h = find(t, "/healthz");
    REQUIRE(h != nullptr);
    REQUIRE(h->statuses.size() == 1);
    CHECK(h->statuses[0] == std::pair<unsigned, std::uint64_t>{200, 2});
    CHECK(h->count == 3);
    CHECK(h->buckets[0] == 2);  // 0.0001 s and 0.0003 s, both ≤ 0.0005
    CHECK(h->buckets[2] == 1);  // 0.002 s, in (0.001, 0.0025]
    CHECK(h->duration_sum == doctest::Approx(0.0024));

    const auto* u = find(t, "-");
    REQUIRE(u != nullptr);
    CHECK(u->statuses.size() == 3);
    CHECK(u->count == 3);
}

TEST_CASE("request metrics of several threads add up; a bucket at +Inf; connections")
{
    request_metrics a(std::vector<route_key>{{"GET", "/x"}});
    request_metrics b({{"GET", "/x"}, {"GET", "/y"}});
    std::thread ta([&a] {
        for (int i = 0; i < 1000; ++i) a.on_request("GET", "/x", 200, 1ms);
        a.on_connection(1);
        a.on_connection(1);
        a.on_connection(-1);
    });
    std::thread tb([&b] {
        for (int i = 0; i < 500; ++i) b.on_request("GET", "/x", 503, 30s);
        b.on_connection(1);
    });
    ta.join();
    tb.join();

    request_totals t;
    a.add_to(t);
    b.add_to(t);
    CHECK(t.open_connections == 2);
    CHECK(t.connections_total == 3);
    const auto* x = find(t, "/x");
    REQUIRE(x != nullptr);
    REQUIRE(x->statuses.size() == 2);
    CHECK(x->statuses[0] == std::pair<unsigned, std::uint64_t>{200, 1000});
    CHECK(x->statuses[1] == std::pair<unsigned, std::uint64_t>{503, 500});
    CHECK(x->count == 1500);
    CHECK(x->buckets.back() == 500);
    CHECK(find(t, "/y") != nullptr);
    CHECK(t.routes.back().route == "-");
}
