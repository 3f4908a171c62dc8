#include "store/pg/sqlstate.hpp"

#include <doctest/doctest.h>

using namespace portcullis;
using namespace portcullis::store::pg;

TEST_CASE("unique violations on users map to domain errors by constraint")
{
    CHECK(map_sqlstate("23505", "users_email_lower_key") == core::errc::email_taken);
    CHECK(map_sqlstate("23505", "users_username_key") == core::errc::username_taken);
    CHECK(map_sqlstate("23505", "sessions_pkey") == core::errc::internal);
}

TEST_CASE("infrastructure states are unavailable, cancellation is a timeout")
{
    for (auto s : {"08006", "08001", "57P01", "57P02", "57P03", "53300", "40001", "40P01", "25P03", "25006", ""}) {
        CAPTURE(s);
        auto e = map_sqlstate(s, "");
        CHECK(e == core::errc::db_unavailable);
        CHECK(core::is_unavailable(core::make_error_code(e)));
    }
    CHECK(map_sqlstate("57014", "") == core::errc::timeout);
    CHECK(map_sqlstate("42601", "") == core::errc::internal);  // syntax error: a bug
    CHECK(map_sqlstate("22P02", "") == core::errc::internal);
    CHECK(is_session_fatal("57P01"));
    CHECK(is_session_fatal("08006"));
    // A standby refusing a write: the connection must go, its successor reaches the primary.
    CHECK(is_session_fatal("25006"));
    CHECK_FALSE(is_session_fatal("57014"));
    CHECK_FALSE(is_session_fatal("23505"));
}
