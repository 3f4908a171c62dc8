#include "auth/validation.hpp"

#include "core/text.hpp"

#include <idn2.h>

#include <algorithm>
#include <optional>
#include <string>

namespace portcullis::auth {
namespace {

constexpr std::string_view invalid_email = "Enter a valid email address.";

bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

// RFC 5322 atext.
bool is_atext(char c)
{
    return is_alpha(c) || is_digit(c) || std::string_view("!#$%&'*+-/=?^_`{|}~").find(c) != std::string_view::npos;
}

bool is_dot_atom(std::string_view s)
{
    if (s.empty() || s.front() == '.' || s.back() == '.') return false;
    char prev = 0;
    for (char c : s) {
        if (c == '.') {
            if (prev == '.') return false;
        } else if (!is_atext(c)) {
            return false;
        }
        prev = c;
    }
    return true;
}

bool is_ldh_label(std::string_view l)
{
    if (l.empty() || l.size() > 63 || l.front() == '-' || l.back() == '-') return false;
    return std::all_of(l.begin(), l.end(), [](char c) { return is_alpha(c) || is_digit(c) || c == '-'; });
}

// A domain with non-ASCII characters in its ASCII form (A-labels), by UTS #46
// non-transitional processing with the STD3 rules: case mapping, NFC, the IDNA full
// stops (U+3002, U+FF0E, U+FF61), Punycode. nullopt when it is not a valid IDN.
std::optional<std::string> idn_to_ascii(std::string_view domain)
{
    // The ASCII characters must already be letters, digits, hyphens or dots: with the
    // STD3 rules libidn2 drops some others (an underscore) instead of refusing them.
    const bool ascii_ok = std::all_of(domain.begin(), domain.end(), [](char c) {
        return static_cast<unsigned char>(c) >= 0x80 || is_alpha(c) || is_digit(c) || c == '-' || c == '.';
    });
    if (!ascii_ok) return std::nullopt;
    const std::string in(domain);
    char* out = nullptr;
    const int rc =
        idn2_to_ascii_8z(in.c_str(), &out, IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT | IDN2_USE_STD3_ASCII_RULES);
    if (rc != IDN2_OK) return std::nullopt;
    std::string ascii(out);
    idn2_free(out);
    return ascii;
}

bool is_ascii(std::string_view s)
{
    return std::all_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

// Appends an ASCII label, lower-cased, to `out` when it is a host name label.
bool normalize_label(std::string_view label, std::string& out)
{
    std::string lowered = core::ascii_lower(label);
    if (!is_ldh_label(lowered)) return false;
    out += lowered;
    return true;
}

}  // namespace

normalized normalize_email(std::string_view input)
{
    normalized r;
    const std::string_view s = core::trim(input, core::whitespace);
    const auto at = s.rfind('@');
    if (s.empty() || at == std::string_view::npos) {
        r.error = invalid_email;
        return r;
    }
    const std::string_view local = s.substr(0, at);
    // A valid domain is at most 253 ASCII characters, at most four UTF-8 bytes each
    // before IDNA processing: anything longer is refused before that work.
    const std::string_view domain_raw = s.substr(at + 1);
    if (local.size() > 64 || !is_dot_atom(local) || domain_raw.size() > 4 * 253) {
        r.error = invalid_email;
        return r;
    }
    std::string domain_in;
    if (is_ascii(domain_raw)) {
        domain_in = domain_raw;
    } else if (auto ascii = idn_to_ascii(domain_raw)) {
        domain_in = std::move(*ascii);
    } else {
        r.error = invalid_email;
        return r;
    }
    if (domain_in.empty() || domain_in.back() == '.') {
        r.error = invalid_email;
        return r;
    }

    std::string domain;
    std::size_t labels = 0;
    std::size_t start = 0;
    std::string_view last;
    for (;;) {
        const auto dot = domain_in.find('.', start);
        const std::string_view label =
            std::string_view(domain_in).substr(start, dot == std::string::npos ? std::string::npos : dot - start);
        if (labels > 0) domain += '.';
        const std::size_t before = domain.size();
        if (!normalize_label(label, domain)) {
            r.error = invalid_email;
            return r;
        }
        last = std::string_view(domain).substr(before);
        ++labels;
        if (dot == std::string::npos) break;
        start = dot + 1;
    }
    const bool numeric_tld = std::all_of(last.begin(), last.end(), is_digit);
    if (labels < 2 || numeric_tld || domain.size() > 253 || local.size() + 1 + domain.size() > 254) {
        r.error = invalid_email;
        return r;
    }
    r.value.reserve(local.size() + 1 + domain.size());
    r.value.append(local);
    r.value += '@';
    r.value += domain;
    return r;
}

normalized normalize_username(std::string_view input)
{
    normalized r;
    const std::string_view s = core::trim(input, core::whitespace);
    const bool allowed = std::all_of(s.begin(), s.end(), [](char c) {
        return is_alpha(c) || is_digit(c) || c == '@' || c == '.' || c == '+' || c == '_' || c == '-';
    });
    if (!allowed) {
        r.error = "Enter a valid username. This value may contain only letters, numbers, and @/./+/-/_ characters.";
    } else if (s.size() < 3) {
        r.error = "Ensure this field has at least 3 characters.";
    } else if (s.size() > 150) {
        r.error = "Ensure this field has no more than 150 characters.";
    } else {
        r.value.assign(s);
    }
    return r;
}

}  // namespace portcullis::auth
