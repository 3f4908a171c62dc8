#include "auth/password_policy.hpp"

#include "core/text.hpp"

#include <algorithm>

namespace portcullis::auth {

namespace detail {
// Defined in the source generated from data/common-passwords.txt: sorted, lower-cased.
extern const std::string_view common_passwords[];
extern const std::size_t common_passwords_count;
}  // namespace detail

namespace {

// UTF-8 to code points. Invalid bytes map to U+DC80..U+DCFF (Python's surrogateescape),
// so they still count as one distinct character each.
std::u32string decode_utf8(std::string_view s)
{
    std::u32string out;
    out.reserve(s.size());
    while (!s.empty()) {
        if (const auto cp = core::utf8_next(s)) {
            out.push_back(cp->value);
            s.remove_prefix(cp->length);
        } else {
            out.push_back(0xdc00 + static_cast<unsigned char>(s.front()));
            s.remove_prefix(1);
        }
    }
    return out;
}

constexpr std::size_t max_attribute_length = 254;

std::u32string lower(std::u32string s)
{
    for (char32_t& c : s) c = core::ascii_lower(c);
    return s;
}

// Python's \w for our purposes: ASCII letters, digits, '_' and every non-ASCII
// character (nearly all of them are letters in names and addresses).
bool is_word(char32_t c)
{
    return (c >= U'a' && c <= U'z') || (c >= U'A' && c <= U'Z') || (c >= U'0' && c <= U'9') || c == U'_' || c > 0x7f;
}

// difflib's SequenceMatcher.quick_ratio(), which Django's similarity validator uses:
// 2 * (characters in common, counted as multisets) / total length. Sorting bounds the
// cost at n log n whatever the input (the longest-block ratio is quadratic or worse).
double ratio(std::u32string_view a, std::u32string_view b)
{
    const std::size_t total = a.size() + b.size();
    if (total == 0) return 1.0;
    std::u32string x(a), y(b);
    std::sort(x.begin(), x.end());
    std::sort(y.begin(), y.end());
    std::size_t common = 0;
    for (std::size_t i = 0, j = 0; i < x.size() && j < y.size();) {
        if (x[i] < y[j]) {
            ++i;
        } else if (y[j] < x[i]) {
            ++j;
        } else {
            ++common;
            ++i;
            ++j;
        }
    }
    return 2.0 * static_cast<double>(common) / static_cast<double>(total);
}

// Django's shortcut: a value much shorter than the password cannot reach the ratio.
bool exceeds_maximum_length_ratio(std::size_t pwd_len, double max_similarity, std::size_t value_len)
{
    const double length_bound_similarity = max_similarity / 2 * static_cast<double>(pwd_len);
    return pwd_len >= 10 * value_len && static_cast<double>(value_len) < length_bound_similarity;
}

bool too_similar(const std::u32string& pwd, std::string_view value, double max_similarity)
{
    if (value.empty()) return false;
    // No stored attribute is longer than an e-mail address; a longer value (never valid)
    // is compared by its first 254 characters, so the cost stays bounded.
    std::u32string v = lower(decode_utf8(value.substr(0, 4 * max_attribute_length)));
    if (v.size() > max_attribute_length) v.resize(max_attribute_length);
    std::vector<std::u32string_view> parts;
    std::size_t start = 0;
    for (std::size_t i = 0; i <= v.size(); ++i) {
        if (i == v.size() || !is_word(v[i])) {
            if (i > start) parts.emplace_back(v.data() + start, i - start);
            start = i + 1;
        }
    }
    parts.emplace_back(v);
    for (auto part : parts) {
        if (exceeds_maximum_length_ratio(pwd.size(), max_similarity, part.size())) continue;
        if (ratio(pwd, part) >= max_similarity) return true;
    }
    return false;
}

std::string plural(std::size_t n, const char* one, const char* many)
{
    return std::to_string(n) + (n == 1 ? one : many);
}

}  // namespace

password_policy::password_policy(password_policy_settings settings) : settings_(settings) {}

std::vector<std::string> password_policy::problems(std::string_view password, const user_attributes& user) const
{
    std::vector<std::string> out;
    const std::u32string cps = decode_utf8(password);

    if (cps.size() <= settings_.max_length) {
        const std::u32string pwd = lower(cps);
        struct attribute {
            std::string_view value;
            const char* label;
        };
        for (const attribute& a : {attribute{user.username, "username"}, attribute{user.email, "email address"},
                                   attribute{user.full_name, "full name"}}) {
            if (too_similar(pwd, a.value, settings_.max_similarity)) {
                out.push_back(std::string("The password is too similar to the ") + a.label + ".");
                break;
            }
        }
    }
    if (cps.size() < settings_.min_length) {
        out.push_back("This password is too short. It must contain at least " +
                      plural(settings_.min_length, " character.", " characters."));
    }
    if (cps.size() > settings_.max_length) {
        out.push_back("This password is too long. It must contain at most " +
                      plural(settings_.max_length, " character.", " characters."));
    }
    if (settings_.reject_common && is_common_password(password)) out.push_back("This password is too common.");
    if (settings_.reject_numeric && !password.empty() &&
        std::all_of(password.begin(), password.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        out.push_back("This password is entirely numeric.");
    }
    return out;
}

field_errors password_policy::validate(std::string_view password, const user_attributes& user,
                                       std::string_view field) const
{
    field_errors errors;
    auto list = problems(password, user);
    if (list.empty()) return errors;
    std::string joined;
    for (const auto& m : list) {
        if (!joined.empty()) joined += ' ';
        joined += m;
    }
    errors.emplace(std::string(field), std::move(joined));
    return errors;
}

bool is_common_password(std::string_view password)
{
    // Django compares password.lower().strip().
    password = core::trim(password, core::whitespace);
    if (password.empty() || password.size() > 64) return false;
    const std::string key = core::ascii_lower(password);
    const auto* first = detail::common_passwords;
    const auto* last = first + detail::common_passwords_count;
    return std::binary_search(first, last, std::string_view(key));
}

std::size_t common_password_count() noexcept
{
    return detail::common_passwords_count;
}

double similarity_ratio(std::string_view a, std::string_view b)
{
    return ratio(decode_utf8(a), decode_utf8(b));
}

}  // namespace portcullis::auth
