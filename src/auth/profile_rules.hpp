#pragma once
// The rules for the free-text fields of a profile and for request text that is stored
// (registration, PATCH /api/users/me, a session's User-Agent).

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace portcullis::auth {

using field_problems = std::vector<std::pair<std::string, std::string>>;

// Appends the problems of a full name and a phone number (null: not given) to `out`.
// Returns false when a value is over its size limit, so nothing costlier (the
// password similarity check) looks at it.
bool check_profile_fields(const std::string* full_name, const std::string* phone_number, field_problems& out);

// Text from request headers (User-Agent) as PostgreSQL can store it: valid UTF-8
// without control characters, at most `max_bytes`, never cut inside a character.
// Anything else becomes '?'.
std::string storable_text(std::string_view in, std::size_t max_bytes);

}  // namespace portcullis::auth
