#pragma once
// Request-smuggling defences that Boost 1.81's Beast parser does not apply by
// itself: ambiguous message framing is refused before the body is read.

#include <boost/beast/http/fields.hpp>

#include <string_view>

namespace portcullis::net {

// Returns an empty view when the header block frames its body unambiguously, or a
// short reason otherwise: both Content-Length and Transfer-Encoding, several
// differing Content-Length values, a Transfer-Encoding other than a final
// "chunked", or chunked framing in HTTP/1.0.
std::string_view check_framing(const boost::beast::http::fields& fields, unsigned version);

// A Request-Id from the client is echoed only when it is short and plain.
bool request_id_is_sane(std::string_view id) noexcept;

}  // namespace portcullis::net
