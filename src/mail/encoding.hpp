#pragma once
// Byte-level encodings for e-mail: quoted-printable bodies, RFC 2047 header
// words, RFC 5322 dates, SMTP dot-stuffing and HTML escaping. Pure functions, no I/O.

#include <chrono>
#include <string>
#include <string_view>

namespace portcullis::mail {

// Quoted-printable (RFC 2045 6.7) of UTF-8 text. Line breaks (LF or CRLF) become CRLF hard
// breaks; encoded lines are at most 76 characters; trailing blanks and non-ASCII are escaped.
std::string quoted_printable_encode(std::string_view text);

// Inverse of quoted_printable_encode (lenient: soft breaks may end in LF or CRLF). For tests
// and tools that read stored messages.
std::string quoted_printable_decode(std::string_view encoded);

// A header value safe to put after "Name: ": printable ASCII is kept, anything else (UTF-8,
// controls, "=?") becomes RFC 2047 B-encoded words folded with CRLF SP. CR and LF in the
// input are replaced by spaces first, so a value can never inject a header.
std::string encode_header_text(std::string_view text);

// An RFC 5322 display-name phrase: an atom sequence as is, a quoted-string when it holds
// specials, encoded words when it is not ASCII. Empty input gives an empty string.
std::string encode_display_name(std::string_view name);

// RFC 5322 date in UTC: "Sat, 21 Nov 2026 14:07:00 +0000".
std::string format_rfc5322_date(std::chrono::system_clock::time_point t);

// The DATA payload for `message` (CRLF lines): lines starting with "." get a second ".",
// bare LF becomes CRLF, and the terminating CRLF "." CRLF is appended (RFC 5321 4.5.2).
std::string dot_stuff(std::string_view message);

// Escapes & < > " ' for HTML text and attribute values.
std::string html_escape(std::string_view text);

// CR, LF and other C0 controls replaced by spaces, then leading/trailing blanks trimmed.
std::string single_line(std::string_view text);

}  // namespace portcullis::mail
