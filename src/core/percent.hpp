#pragma once
// Percent-encoding (RFC 3986) of URL parts: query strings, user info.

#include <optional>
#include <string>
#include <string_view>

namespace portcullis::core {

// Decodes %XX escapes, and '+' as a space when `plus_as_space` (form-encoded queries).
// nullopt on a bad or cut-off escape.
std::optional<std::string> percent_decode(std::string_view in, bool plus_as_space);

// Escapes every byte but RFC 3986's unreserved characters (A-Z a-z 0-9 - . _ ~), so the
// result reads the same in any part of a URL; '+' in particular becomes %2B.
std::string percent_encode(std::string_view in);

}  // namespace portcullis::core
