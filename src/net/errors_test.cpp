#include "net/errors.hpp"
#include "core/error.hpp"
#include "net/framing.hpp"

#include <doctest/doctest.h>
#include <boost/beast/http/fields.hpp>

#include <map>
#include <string_view>

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

TEST_CASE("every error code has its entry in the error table")
{
    struct expected {
        unsigned status;
        std::string_view code;
    };
    // Every code of core::errc. One that is not listed here fails below, so a new code
    // cannot become a 500 without anyone deciding so.
    const std::map<errc, expected> table = {
        {errc::db_unavailable, {503, "unavailable"}},
        {errc::redis_unavailable, {503, "unavailable"}},
        {errc::timeout, {503, "unavailable"}},
        {errc::pool_exhausted, {503, "unavailable"}},
        {errc::overloaded, {503, "unavailable"}},
        {errc::smtp_unavailable, {503, "unavailable"}},
        {errc::dependency_failed, {503, "unavailable"}},
        {errc::validation_failed, {400, "validation_failed"}},
        {errc::malformed_json, {400, "malformed_json"}},
        {errc::invalid_otp, {400, "invalid_otp"}},
        {errc::otp_expired, {400, "otp_expired"}},
        {errc::password_mismatch, {400, "password_mismatch"}},
        {errc::not_authenticated, {401, "not_authenticated"}},
        {errc::invalid_token, {401, "invalid_token"}},
        {errc::token_expired, {401, "token_expired"}},
        {errc::token_revoked, {401, "token_revoked"}},
        {errc::token_reused, {401, "token_reused"}},
        {errc::invalid_credentials, {401, "invalid_credentials"}},
        {errc::forbidden, {403, "forbidden"}},
        {errc::email_not_verified, {403, "email_not_verified"}},
        {errc::not_found, {404, "not_found"}},
        {errc::email_taken, {409, "email_taken"}},
        {errc::username_taken, {409, "username_taken"}},
        {errc::already_verified, {409, "already_verified"}},
        {errc::rate_limited, {429, "rate_limited"}},
        {errc::smtp_rejected, {500, "internal"}},  // a job's outcome, never a request's
        {errc::csrf_failed, {403, "forbidden"}},
        {errc::internal, {500, "internal"}},
        {errc::invalid_code, {400, "invalid_code"}},
        {errc::mfa_token_invalid, {401, "invalid_mfa_token"}},
        {errc::mfa_already_enabled, {409, "mfa_already_enabled"}},
        {errc::mfa_not_enabled, {409, "mfa_not_enabled"}},
        {errc::account_disabled, {403, "account_disabled"}},
        {errc::last_admin, {409, "last_admin"}},
        {errc::mfa_setup_required, {409, "mfa_setup_required"}},
    };
    // Every value the category names is a code (errc_name says "unknown" for the others).
    int named = 0;
    for (int ev = 0; ev < 1000; ++ev) {
        const auto e = static_cast<errc>(ev);
        if (core::errc_name(e) == "unknown") continue;
        ++named;
        CAPTURE(core::errc_name(e));
        auto it = table.find(e);
        REQUIRE_MESSAGE(it != table.end(), "a code without an expected entry in this test");
        const auto d = net::describe(make_error_code(e));
        CHECK(d.status == it->second.status);
        CHECK(d.code == it->second.code);
        CHECK_FALSE(d.message.empty());
    }
    CHECK(named == static_cast<int>(table.size()));
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
