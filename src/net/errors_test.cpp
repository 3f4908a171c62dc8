#include "net/errors.hpp"
#include "core/error.hpp"
#include "net/framing.hpp"

#include <doctest/doctest.h>
#include <boost/beast/http/fields.hpp>

using namespace portcullis;
using core::errc;

TEST_CASE("the error table maps domain codes to the contract")
{
    CHECK(net::describe(make_error_code(errc::email_taken)).status == 409);
    CHECK(net::describe(make_error_code(errc::token_reused)).code == "token_reused");
    CHECK(net::describe(make_error_code(errc::invalid_credentials)).status == 401);
    CHECK(net::describe(make_error_code(errc::email_not_verified)).status == 403);
    CHECK(net::describe(make_error_code(errc::rate_limited)).status == 429);
    CHECK(net::describe(make_error_code(errc::malformed_json)).code == "malformed_json");
    auto unavailable = net::describe(make_error_code(errc::db_unavailable));
    CHECK(unavailable.status == 503);
    CHECK(unavailable.code == "unavailable");
    CHECK(net::describe(make_error_code(boost::system::errc::io_error)).status == 500);
}

TEST_CASE("error responses have the contract's shape and Retry-After")
{
    auto r = net::error_response(make_error_code(errc::validation_failed), {{"password", "too \"short\""}});
    CHECK(r.status == 400);
    CHECK(
        r.body ==
        R"({"error":{"code":"validation_failed","message":"The request did not pass validation.","details":{"password":"too \"short\""}}})");
    auto u = net::error_response(make_error_code(errc::redis_unavailable));
    CHECK(u.status == 503);
    REQUIRE(u.headers.size() == 1);
    CHECK(u.headers[0].first == "Retry-After");
    auto rl = net::error_response(make_error_code(errc::rate_limited), {}, 42);
    CHECK(rl.headers[0].second == "42");
}

TEST_CASE("ambiguous framing is detected")
{
    namespace http = boost::beast::http;
    http::fields f;
    CHECK(net::check_framing(f, 11).empty());
    f.insert(http::field::content_length, "5");
    CHECK(net::check_framing(f, 11).empty());
    f.insert(http::field::content_length, "5");
    CHECK(net::check_framing(f, 11).empty());
    f.insert(http::field::content_length, "6");
    CHECK_FALSE(net::check_framing(f, 11).empty());

    http::fields g;
    g.insert(http::field::content_length, "5, 7");
    CHECK_FALSE(net::check_framing(g, 11).empty());

    http::fields both;
    both.insert(http::field::transfer_encoding, "chunked");
    both.insert(http::field::content_length, "5");
    CHECK_FALSE(net::check_framing(both, 11).empty());

    http::fields te10;
    te10.insert(http::field::transfer_encoding, "chunked");
    CHECK(net::check_framing(te10, 11).empty());
    CHECK_FALSE(net::check_framing(te10, 10).empty());

    http::fields gz;
    gz.insert(http::field::transfer_encoding, "chunked, gzip");
    CHECK_FALSE(net::check_framing(gz, 11).empty());
}

TEST_CASE("request ids from clients are echoed only when sane")
{
    CHECK(net::request_id_is_sane("abc-123_x.y"));
    CHECK_FALSE(net::request_id_is_sane(""));
    CHECK_FALSE(net::request_id_is_sane("a b"));
    CHECK_FALSE(net::request_id_is_sane("a\"b"));
    CHECK_FALSE(net::request_id_is_sane(std::string(200, 'a')));
}
