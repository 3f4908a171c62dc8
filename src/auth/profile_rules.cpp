#include "auth/profile_rules.hpp"

#include "core/text.hpp"

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

bool check_profile_fields(const std::string* full_name, const std::string* phone_number, field_problems& out)
{
    bool sized = true;
    if (full_name != nullptr && core::utf8_count(*full_name) > full_name_max) {
        out.emplace_back("full_name", "Ensure this field has no more than 150 characters.");
        sized = false;
    } else if (full_name != nullptr && has_control(*full_name)) {
        out.emplace_back("full_name", "Control characters (such as line breaks) are not allowed.");
    }
    if (phone_number != nullptr && core::utf8_count(*phone_number) > phone_number_max) {
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
        auto cp = core::utf8_next(in.substr(i));
        // C0 controls and DEL become '?' like invalid bytes.
        bool ok = cp && !(cp->length == 1 && (cp->value < 0x20 || cp->value == 0x7f));
        std::size_t take = ok ? cp->length : 1;
        if (out.size() + take > max_bytes) break;
        if (ok)
            out.append(in.substr(i, take));
        else
            out += '?';
        i += take;
    }
    return out;
}

}  // namespace portcullis::auth
