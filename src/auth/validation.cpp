#include "auth/validation.hpp"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

namespace portcullis::auth {
namespace {

constexpr std::string_view invalid_email = "Enter a valid email address.";

bool is_space(char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

std::string_view trim(std::string_view s)
{
    while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
    return s;
}

bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}
char to_lower(char c)
{
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c;
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

bool decode_utf8(std::string_view s, std::vector<char32_t>& out)
{
    out.clear();
    std::size_t i = 0;
    while (i < s.size()) {
        const auto b0 = static_cast<unsigned char>(s[i]);
        std::size_t len = b0 < 0x80 ? 1 : (b0 >> 5) == 0x6 ? 2 : (b0 >> 4) == 0xe ? 3 : (b0 >> 3) == 0x1e ? 4 : 0;
        if (len == 0 || i + len > s.size()) return false;
        char32_t cp = len == 1 ? b0 : len == 2 ? (b0 & 0x1f) : len == 3 ? (b0 & 0x0f) : (b0 & 0x07);
        for (std::size_t k = 1; k < len; ++k) {
            const auto b = static_cast<unsigned char>(s[i + k]);
            if ((b & 0xc0) != 0x80) return false;
            cp = (cp << 6) | (b & 0x3f);
        }
        static constexpr char32_t min_for_len[] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min_for_len[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
        out.push_back(cp);
        i += len;
    }
    return true;
}

// RFC 3492 §5 parameters.
constexpr std::uint32_t base = 36, tmin = 1, tmax = 26, skew = 38, damp = 700;
constexpr std::uint32_t initial_bias = 72, initial_n = 128;

char encode_digit(std::uint32_t d)
{
    return static_cast<char>(d < 26 ? 'a' + d : '0' + (d - 26));
}

std::uint32_t adapt(std::uint32_t delta, std::uint32_t numpoints, bool first)
{
    delta = first ? delta / damp : delta / 2;
    delta += delta / numpoints;
    std::uint32_t k = 0;
    while (delta > ((base - tmin) * tmax) / 2) {
        delta /= base - tmin;
        k += base;
    }
    return k + (base - tmin + 1) * delta / (delta + skew);
}

// IDNA also separates labels with these full stops: U+3002, U+FF0E, U+FF61.
std::string map_dots(std::string_view domain)
{
    std::string out;
    out.reserve(domain.size());
    for (std::size_t i = 0; i < domain.size();) {
        const std::string_view rest = domain.substr(i);
        if (rest.starts_with("\xe3\x80\x82") || rest.starts_with("\xef\xbc\x8e") || rest.starts_with("\xef\xbd\xa1")) {
            out += '.';
            i += 3;
        } else {
            out += domain[i++];
        }
    }
    return out;
}

bool normalize_label(std::string_view label, std::string& out)
{
    const bool ascii =
        std::all_of(label.begin(), label.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
    std::string lowered(label);
    std::transform(lowered.begin(), lowered.end(), lowered.begin(), to_lower);
    if (ascii) {
        if (!is_ldh_label(lowered)) return false;
        out += lowered;
        return true;
    }
    if (lowered.empty() || lowered.front() == '-' || lowered.back() == '-') return false;
    // The ASCII characters of an internationalized label must still be letters, digits or hyphens.
    for (char c : lowered) {
        if (static_cast<unsigned char>(c) < 0x80 && !(is_alpha(c) || is_digit(c) || c == '-')) return false;
    }
    std::string encoded;
    if (!punycode_encode(lowered, encoded)) return false;
    encoded.insert(0, "xn--");
    if (encoded.size() > 63) return false;
    out += encoded;
    return true;
}

}  // namespace

bool punycode_encode(std::string_view utf8, std::string& out)
{
    std::vector<char32_t> input;
    if (!decode_utf8(utf8, input)) return false;
    out.clear();
    for (char32_t c : input) {
        if (c < 0x80) out += static_cast<char>(c);
    }
    const auto b = static_cast<std::uint32_t>(out.size());
    std::uint32_t h = b;
    if (b > 0) out += '-';

    constexpr std::uint32_t max = std::numeric_limits<std::uint32_t>::max();
    std::uint32_t n = initial_n, delta = 0, bias = initial_bias;
    const auto total = static_cast<std::uint32_t>(input.size());
    while (h < total) {
        std::uint32_t m = max;
        for (char32_t c : input) {
            if (c >= n && c < m) m = c;
        }
        if (m - n > (max - delta) / (h + 1)) return false;
        delta += (m - n) * (h + 1);
        n = m;
        for (char32_t c : input) {
            if (c < n) {
                if (delta == max) return false;
                ++delta;
            }
            if (c == n) {
                std::uint32_t q = delta;
                for (std::uint32_t k = base;; k += base) {
                    const std::uint32_t t = k <= bias ? tmin : k >= bias + tmax ? tmax : k - bias;
                    if (q < t) break;
                    out += encode_digit(t + (q - t) % (base - t));
                    q = (q - t) / (base - t);
                }
                out += encode_digit(q);
                bias = adapt(delta, h + 1, h == b);
                delta = 0;
                ++h;
            }
        }
        ++delta;
        ++n;
    }
    return true;
}

normalized normalize_email(std::string_view input)
{
    normalized r;
    const std::string_view s = trim(input);
    const auto at = s.rfind('@');
    if (s.empty() || at == std::string_view::npos) {
        r.error = invalid_email;
        return r;
    }
    const std::string_view local = s.substr(0, at);
    const std::string domain_in = map_dots(s.substr(at + 1));
    if (local.size() > 64 || !is_dot_atom(local) || domain_in.empty() || domain_in.back() == '.') {
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
    const std::string_view s = trim(input);
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
