#pragma once
// Mapping of server errors (SQLSTATE + constraint name) to Portcullis codes. Pure,
// so it is unit-tested without a server.

#include "core/error.hpp"

#include <string_view>

namespace portcullis::store::pg {

// Constraint (unique index) names of the schema that mean a domain outcome.
inline constexpr std::string_view users_email_key = "users_email_lower_key";
inline constexpr std::string_view users_username_key = "users_username_key";

// errc for an error result: unique violations on the users' email/username → email_taken /
// username_taken; connection, shutdown and resource classes, and a write refused by a
// standby (25006) → db_unavailable; query
// cancelled (statement_timeout or our cancel) → timeout; anything else → internal (a bug).
core::errc map_sqlstate(std::string_view sqlstate, std::string_view constraint) noexcept;

// True when the error means the session is unusable afterwards (the server ends it).
bool is_session_fatal(std::string_view sqlstate) noexcept;

}  // namespace portcullis::store::pg
