#pragma once
// The one table from error codes to HTTP: status, the contract's `code`, and a
// human-readable message. Lower layers never speak HTTP; this is where they meet it.

#include "net/http.hpp"

#include <boost/system/error_code.hpp>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace portcullis::net {

struct error_info {
    unsigned status;
    std::string_view code;
    std::string_view message;
};

// Maps any error_code to what the client sees. Unknown codes are 500 "internal".
error_info describe(const boost::system::error_code& ec) noexcept;

using error_details = std::vector<std::pair<std::string, std::string>>;

// {"error": {"code", "message", "details"?}} with the table's status; adds
// Retry-After for 503 and 429 (seconds, `retry_after` overrides the default).
response error_response(const boost::system::error_code& ec, const error_details& details = {},
                        unsigned retry_after = 0);

// Why a request could not be read; each maps to one response, after which the connection closes.
enum class protocol_error {
    header_too_large,   // 431
    trailer_too_large,  // 431
    body_too_large,     // 413
    chunk_too_long,     // 400: a chunk line past the limit
    malformed,          // 400
    ambiguous_framing,  // 400
    trailer_refused,    // 400
    // Routing, before a handler runs.
    method_not_allowed,      // 405 (the caller adds Allow)
    unsupported_media_type,  // 415: a JSON route given another body type
};

response protocol_error_response(protocol_error e);

// The same shape for statuses with no error_code of their own (404 route, 405, 413, 415, 431).
response error_response(unsigned status, std::string_view code, std::string_view message,
                        const error_details& details = {});

}  // namespace portcullis::net
