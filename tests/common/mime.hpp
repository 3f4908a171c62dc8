#pragma once
// Decoders for reading the messages the SMTP sink stored.

#include <string>

namespace portcullis::test {

// Quoted-printable (RFC 2045 6.7): =XX escapes and soft line breaks (CRLF or LF); a
// malformed escape is kept as it is.
std::string decode_quoted_printable(const std::string& text);

// Base64 that skips whatever is not in the alphabet (line breaks, padding).
std::string decode_base64_lenient(const std::string& text);

}  // namespace portcullis::test
