#include "core/error.hpp"
#include "core/log.hpp"
#include "core/percent.hpp"
#include "core/random.hpp"

#include <doctest/doctest.h>

#include <set>

using namespace portcullis::core;

TEST_CASE("infrastructure codes belong to the unavailable condition")
{
    CHECK(make_error_code(errc::db_unavailable) == condition::unavailable);
    CHECK(make_error_code(errc::redis_unavailable) == condition::unavailable);
    CHECK(make_error_code(errc::timeout) == condition::unavailable);
    CHECK(make_error_code(errc::pool_exhausted) == condition::unavailable);
    CHECK(is_unavailable(make_error_code(errc::overloaded)));
    CHECK_FALSE(make_error_code(errc::email_taken) == condition::unavailable);
    CHECK_FALSE(is_unavailable(make_error_code(errc::invalid_credentials)));
    CHECK_FALSE(is_unavailable(boost::system::error_code{}));
}

TEST_CASE("error names are the contract's snake_case codes")
{
    CHECK(errc_name(errc::token_reused) == "token_reused");
    CHECK(make_error_code(errc::email_taken).message() == "email_taken");
}

TEST_CASE("random_below stays in range and covers it")
{
    std::set<std::uint64_t> seen;
    for (int i = 0; i < 2000; ++i) {
        auto v = random_below(10);
        CHECK(v < 10);
        seen.insert(v);
    }
    CHECK(seen.size() == 10);
}

TEST_CASE("random_token is base64url of the right length")
{
    auto t = random_token(32);
    CHECK(t.size() == 43);
    for (char c : t) CHECK((std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_'));
    CHECK(random_token(32) != t);
    CHECK(random_hex(8).size() == 16);
}

TEST_CASE("json escaping of log fields")
{
    std::string out;
    log::append_json_escaped(out, "a\"b\\c\n\x01");
    CHECK(out == "a\\\"b\\\\c\\n\\u0001");
}

TEST_CASE("rfc3339 formatting")
{
    CHECK(format_rfc3339(std::chrono::system_clock::time_point{}) == "1970-01-01T00:00:00Z");
}

TEST_CASE("percent-encoding: escapes decode, '+' only in form mode, bad escapes refused; encoding round-trips")
{
    CHECK(percent_decode("al%20ice%2b", false).value() == "al ice+");
    CHECK(percent_decode("a+b", true).value() == "a b");
    CHECK(percent_decode("a+b", false).value() == "a+b");
    CHECK_FALSE(percent_decode("%zz", false).has_value());
    CHECK_FALSE(percent_decode("%4", false).has_value());
    CHECK(percent_encode("ada+tag@example.com") == "ada%2Btag%40example.com");
    CHECK(percent_encode("A-z_0.9~") == "A-z_0.9~");
    CHECK(percent_decode(percent_encode("p@ss w:rd/\xff"), false).value() == "p@ss w:rd/\xff");
}
