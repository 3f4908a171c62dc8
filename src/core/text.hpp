#pragma once
// Text helpers shared by every layer: strict base64 and base64url, hex, UTF-8 code
// points, trimming and ASCII case folding. Pure functions: no allocation beyond the
// returned strings, no locale, no I/O, thread-safe.

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace portcullis::core {

// ---- base64 (RFC 4648) ----

// Base64url without padding (RFC 4648 §5), as JWS uses it.
std::string base64url_encode(std::string_view bytes);
void base64url_encode_append(std::string& out, std::string_view bytes);
// Strict decoding: alphabet A-Z a-z 0-9 - _ only, no padding, no whitespace, and
// unused trailing bits must be zero (one canonical text per value). Returns false
// on any violation; `out` is overwritten (and empty on failure).
bool base64url_decode(std::string_view text, std::string& out);
// Same into a caller buffer; returns the decoded length or -1 (also when it does not fit).
std::ptrdiff_t base64url_decode(std::string_view text, std::span<char> out) noexcept;

// Standard base64 with padding (RFC 4648 §4), no line breaks.
std::string base64_encode(std::string_view bytes);
// Strict decoding: the length is a multiple of four, '=' only as one or two final
// characters, alphabet A-Z a-z 0-9 + / only, unused trailing bits zero.
bool base64_decode(std::string_view text, std::string& out);

// ---- hex ----

inline constexpr std::string_view hex_digits_lower = "0123456789abcdef";
inline constexpr std::string_view hex_digits_upper = "0123456789ABCDEF";

// Lower-case hex of `bytes` (two characters per byte).
std::string hex_encode(std::string_view bytes);
std::string hex_encode(std::span<const unsigned char> bytes);
void hex_encode_append(std::string& out, std::span<const unsigned char> bytes);

// The value of one hex digit (either case), or -1 when `c` is not one.
constexpr int hex_value(char c) noexcept
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// ---- UTF-8 ----

// The length of the sequence that `lead` starts: 1 for ASCII, 2-4 for a lead byte, and
// 0 for a byte that cannot start one (a continuation byte, 0xF8-0xFF). The bytes
// after it are not looked at: use utf8_next to validate.
constexpr std::size_t utf8_sequence_length(unsigned char lead) noexcept
{
    if (lead < 0x80) return 1;
    if ((lead >> 5) == 0x6) return 2;
    if ((lead >> 4) == 0xe) return 3;
    if ((lead >> 3) == 0x1e) return 4;
    return 0;
}

struct utf8_code_point {
    char32_t value = 0;
    std::size_t length = 0;  // bytes it took, 1 to 4
};

// The code point at the start of `text`. nullopt when `text` is empty or does not start
// with well-formed UTF-8 (RFC 3629): a stray continuation byte, a truncated sequence, an
// overlong form, a surrogate (U+D800-U+DFFF) or a value past U+10FFFF.
std::optional<utf8_code_point> utf8_next(std::string_view text) noexcept;

// The number of code points in `text`, counting every byte that is not a continuation
// byte (exact for valid UTF-8; each stray byte of invalid text counts as one).
constexpr std::size_t utf8_count(std::string_view text) noexcept
{
    std::size_t n = 0;
    for (const char c : text) n += (static_cast<unsigned char>(c) & 0xc0) != 0x80;
    return n;
}

// Appends the UTF-8 form of `cp` (at most U+10FFFF; surrogates are encoded as given).
void utf8_append(std::string& out, char32_t cp);
std::string utf8_encode(char32_t cp);

// ---- blanks and case ----

inline constexpr std::string_view blanks = " \t";              // HTTP's OWS
inline constexpr std::string_view whitespace = " \t\n\v\f\r";  // C's isspace

// `s` without leading and trailing characters from `chars`.
constexpr std::string_view trim(std::string_view s, std::string_view chars = blanks) noexcept
{
    const auto first = s.find_first_not_of(chars);
    if (first == std::string_view::npos) return {};
    const auto last = s.find_last_not_of(chars);
    return s.substr(first, last - first + 1);
}

// A-Z to a-z; every other byte (and code point) unchanged, whatever the locale.
constexpr char ascii_lower(char c) noexcept
{
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c + ('a' - 'A')) : c;
}
constexpr char32_t ascii_lower(char32_t c) noexcept
{
    return c >= U'A' && c <= U'Z' ? c + (U'a' - U'A') : c;
}
std::string ascii_lower(std::string_view s);

// True when `a` and `b` are equal ignoring ASCII case.
constexpr bool ascii_iequals(std::string_view a, std::string_view b) noexcept
{
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
    }
    return true;
}

}  // namespace portcullis::core
