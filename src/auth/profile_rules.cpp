#include "auth/profile_rules.hpp"

#include <cstdint>

namespace portcullis::auth {

namespace {

constexpr std::size_t full_name_max = 150;
constexpr std::size_t phone_number_max = 32;

// Control characters (C0, DEL, C1) have no place in a name that mails quote.
bool has_control(std::string_view s)
{
    for (std::size_t i = 0; i < s.size(); ++i) {
        auto c = static_cast<unsigned char>(s[i]);
        if (c < 0x20 || c == 0x7f) return true;
        if (c == 0xc2 && i + 1 < s.size() && static_cast<unsigned char>(s[i + 1]) < 0xa0) return true;
    }
    return false;
}

}  // namespace

std::size_t char_count(std::string_view s)
{
    std::size_t n = 0;
    for (char c : s) n += (static_cast<unsigned char>(c) & 0xc0) != 0x80;
    return n;
}

bool check_profile_fields(const std::string* full_name, const std::string* phone_number, field_problems& out)
{
    bool sized = true;
    if (full_name != nullptr && char_count(*full_name) > full_name_max) {
        out.emplace_back("full_name", "Ensure this field has no more than 150 characters.");
        sized = false;
    } else if (full_name != nullptr && has_control(*full_name)) {
        out.emplace_back("full_name", "Control characters (such as line breaks) are not allowed.");
    }
    if (phone_number != nullptr && char_count(*phone_number) > phone_number_max) {
        out.emplace_back("phone_number", "Enter a valid phone number.");
        sized = false;
    }
    return sized;
}

std::string storable_text(std::string_view in, std::size_t max_bytes)
{
    std::string out;
    std::size_t i = 0;
    while (i < in.size()) {
        auto c = static_cast<unsigned char>(in[i]);
        std::size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
        bool ok = len != 0 && i + len <= in.size();
        std::uint32_t cp = len == 1 ? c : len == 2 ? (c & 0x1f) : len == 3 ? (c & 0x0f) : (c & 0x07);
        for (std::size_t k = 1; ok && k < len; ++k) {
            auto cc = static_cast<unsigned char>(in[i + k]);
            ok = (cc & 0xc0) == 0x80;
            cp = (cp << 6) | (cc & 0x3f);
        }
        // Overlong forms, surrogates and values past U+10FFFF are not UTF-8 either.
        if (ok && len > 1) {
            static constexpr std::uint32_t min_cp[] = {0, 0, 0x80, 0x800, 0x10000};
            ok = cp >= min_cp[len] && cp <= 0x10ffff && !(cp >= 0xd800 && cp <= 0xdfff);
        }
        if (ok && len == 1 && (c < 0x20 || c == 0x7f)) ok = false;
        std::size_t take = ok ? len : 1;
        if (out.size() + take > max_bytes) break;
        if (ok)
            out.append(in.substr(i, len));
        else
            out += '?';
        i += take;
    }
    return out;
}

}  // namespace portcullis::auth
