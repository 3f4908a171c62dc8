#include "net/router.hpp"

#include <doctest/doctest.h>

using namespace portcullis::net;

namespace {
boost::asio::awaitable<response> dummy(request&)
{
    co_return response{};
}
}  // namespace

TEST_CASE("router matches literals, captures and reports 405 with Allow")
{
    router r;
    r.add("GET", "/healthz", dummy);
    r.add("GET", "/api/users/me", dummy);
    r.add("PATCH", "/api/users/me", dummy, body_kind::json);
    r.add("GET", "/api/users/{id}", dummy);
    r.add("DELETE", "/api/auth/sessions/{id}", dummy);

    path_params p;
    auto m = r.match("GET", "/healthz", p);
    CHECK(m.result == route_match::outcome::found);
    CHECK(m.route == "/healthz");

    m = r.match("GET", "/api/users/42", p);
    REQUIRE(m.result == route_match::outcome::found);
    CHECK(m.route == "/api/users/{id}");
    CHECK(p.get("id") == "42");

    m = r.match("PATCH", "/api/users/me", p);
    CHECK(m.result == route_match::outcome::found);
    CHECK(m.route == "/api/users/me");
    CHECK(m.body == body_kind::json);

    m = r.match("PUT", "/api/users/me", p);
    CHECK(m.result == route_match::outcome::method_not_allowed);
    CHECK(m.allow == "GET, PATCH");

    m = r.match("POST", "/api/auth/sessions/abc", p);
    CHECK(m.result == route_match::outcome::method_not_allowed);
    CHECK(m.allow == "DELETE");

    CHECK(r.match("GET", "/nope", p).result == route_match::outcome::not_found);
    CHECK(r.match("GET", "/api/users", p).result == route_match::outcome::not_found);
    CHECK(r.match("GET", "/api/users/42/extra", p).result == route_match::outcome::not_found);
    CHECK(r.match("GET", "/api/users/", p).result == route_match::outcome::not_found);
    CHECK(r.match("GET", "", p).result == route_match::outcome::not_found);
    CHECK(r.match("GET", "healthz", p).result == route_match::outcome::not_found);
}

TEST_CASE("router refuses malformed and duplicate templates")
{
    router r;
    CHECK_THROWS(r.add("GET", "no-slash", dummy));
    CHECK_THROWS(r.add("GET", "/a//b", dummy));
    CHECK_THROWS(r.add("GET", "/a/{b", dummy));
    r.add("GET", "/a", dummy);
    CHECK_THROWS(r.add("GET", "/a", dummy));
    CHECK(r.routes().size() == 1);
}

TEST_CASE("query parameters are percent-decoded")
{
    request req;
    req.query = "q=al%20ice&limit=5&empty=&plus=a+b";
    CHECK(req.query_param("q").value() == "al ice");
    CHECK(req.query_param("limit").value() == "5");
    CHECK(req.query_param("empty").value().empty());
    CHECK(req.query_param("plus").value() == "a b");
    CHECK_FALSE(req.query_param("missing").has_value());
}
