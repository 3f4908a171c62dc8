#include "store/pg/value.hpp"
#include "store/pg/records.hpp"

#include <doctest/doctest.h>

#include <cstring>

using namespace portcullis::store;
using namespace portcullis::store::pg;
using std::chrono::duration_cast;
using std::chrono::hours;
using std::chrono::microseconds;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;
using std::chrono::system_clock;
using time_point = portcullis::store::pg::time_point;

TEST_CASE("integers and booleans parse strictly")
{
    std::int64_t v = 0;
    CHECK(parse_int64("42", v));
    CHECK(v == 42);
    CHECK(parse_int64("-9223372036854775808", v));
    CHECK(v == INT64_MIN);
    CHECK_FALSE(parse_int64("", v));
    CHECK_FALSE(parse_int64("12a", v));
    CHECK_FALSE(parse_int64("99999999999999999999", v));
    bool b = false;
    CHECK(parse_bool("t", b));
    CHECK(b);
    CHECK(parse_bool("f", b));
    CHECK_FALSE(b);
    CHECK_FALSE(parse_bool("true", b));
}

TEST_CASE("timestamptz text parses in UTC and with offsets")
{
    time_point t{};
    REQUIRE(parse_timestamp("1970-01-01 00:00:00+00", t));
    CHECK(t == time_point{});
    REQUIRE(parse_timestamp("2024-05-01 12:34:56.789+00", t));
    CHECK(duration_cast<milliseconds>(t.time_since_epoch()).count() == 1714566896789);
    REQUIRE(parse_timestamp("2024-05-01 14:34:56.789+02", t));
    CHECK(duration_cast<milliseconds>(t.time_since_epoch()).count() == 1714566896789);
    REQUIRE(parse_timestamp("2024-05-01 12:04:56-00:30", t));
    CHECK(duration_cast<seconds>(t.time_since_epoch()).count() == 1714566896);
    REQUIRE(parse_timestamp("2024-05-01 12:34:56.123456", t));
    CHECK(duration_cast<microseconds>(t.time_since_epoch()).count() % 1000000 == 123456);
    REQUIRE(parse_timestamp("infinity", t));
    CHECK(t == time_point::max());
    CHECK_FALSE(parse_timestamp("2024-13-01 00:00:00+00", t));
    CHECK_FALSE(parse_timestamp("2024-05-01", t));
    CHECK_FALSE(parse_timestamp("2024-05-01 00:00:00.+00", t));
    CHECK_FALSE(parse_timestamp("2024-05-01 00:00:00+0", t));
}

TEST_CASE("timestamps round-trip through their text form")
{
    auto now = time_point(duration_cast<microseconds>(system_clock::now().time_since_epoch()));
    time_point back{};
    auto text = format_timestamp(now);
    REQUIRE(parse_timestamp(text, back));
    CHECK(back == now);
    CHECK(format_timestamp(time_point{}) == "1970-01-01 00:00:00.000000+00");
}

TEST_CASE("uuid checks, generation and LIKE escaping")
{
    CHECK(is_uuid("123e4567-e89b-12d3-a456-426614174000"));
    CHECK(is_uuid("123E4567-E89B-12D3-A456-426614174000"));
    CHECK_FALSE(is_uuid("123e4567e89b12d3a456426614174000"));
    CHECK_FALSE(is_uuid("123e4567-e89b-12d3-a456-42661417400g"));
    CHECK_FALSE(is_uuid("'; drop table users; --"));
    auto a = random_uuid();
    CHECK(is_uuid(a));
    CHECK(a[14] == '4');
    CHECK(a != random_uuid());
    CHECK(escape_like("a_b%c\\d") == "a\\_b\\%c\\\\d");
}

TEST_CASE("params keep text values and NULLs in order")
{
    std::optional<std::string> none;
    params p(std::int64_t{7}, std::string_view("x"), true, none, std::optional<int>(3));
    REQUIRE(p.size() == 5);
    auto v = p.pointers();
    CHECK(std::strcmp(v[0], "7") == 0);
    CHECK(std::strcmp(v[1], "x") == 0);
    CHECK(std::strcmp(v[2], "t") == 0);
    CHECK(v[3] == nullptr);
    CHECK(std::strcmp(v[4], "3") == 0);
}
