#include "store/pg/value.hpp"

#include "core/random.hpp"
#include "core/text.hpp"

#include <charconv>
#include <cstdio>

namespace portcullis::store::pg {
namespace {

bool digits(std::string_view s, std::size_t pos, std::size_t n, int& out) noexcept
{
    if (pos + n > s.size()) return false;
    int v = 0;
    for (std::size_t i = pos; i < pos + n; ++i) {
        char c = s[i];
        if (c < '0' || c > '9') return false;
        v = v * 10 + (c - '0');
    }
    out = v;
    return true;
}

}  // namespace

bool parse_int64(std::string_view text, std::int64_t& out) noexcept
{
    if (text.empty()) return false;
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    return ec == std::errc{} && p == text.data() + text.size();
}

bool parse_bool(std::string_view text, bool& out) noexcept
{
    if (text == "t") {
        out = true;
        return true;
    }
    if (text == "f") {
        out = false;
        return true;
    }
    return false;
}

bool parse_timestamp(std::string_view s, time_point& out) noexcept
{
    using namespace std::chrono;
    if (s == "infinity") {
        out = time_point::max();
        return true;
    }
    if (s == "-infinity") {
        out = time_point::min();
        return true;
    }
    // YYYY-MM-DD HH:MM:SS[.f{1,6}][(+|-)HH[:MM[:SS]]]
    int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
    if (!digits(s, 0, 4, y) || s.size() < 19 || s[4] != '-' || !digits(s, 5, 2, mo) || s[7] != '-' ||
        !digits(s, 8, 2, d) || (s[10] != ' ' && s[10] != 'T') || !digits(s, 11, 2, h) || s[13] != ':' ||
        !digits(s, 14, 2, mi) || s[16] != ':' || !digits(s, 17, 2, sec)) {
        return false;
    }
    std::size_t pos = 19;
    std::int64_t micros = 0;
    if (pos < s.size() && s[pos] == '.') {
        ++pos;
        int n = 0;
        while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
            if (n < 6) {
                micros = micros * 10 + (s[pos] - '0');
                ++n;
            }
            ++pos;
        }
        if (n == 0) return false;
        for (; n < 6; ++n) micros *= 10;
    }
    int offset_seconds = 0;
    if (pos < s.size()) {
        char sign = s[pos];
        if (sign != '+' && sign != '-') return false;
        int oh = 0, om = 0, os = 0;
        if (!digits(s, pos + 1, 2, oh)) return false;
        pos += 3;
        if (pos < s.size()) {
            if (s[pos] != ':' || !digits(s, pos + 1, 2, om)) return false;
            pos += 3;
        }
        if (pos < s.size()) {
            if (s[pos] != ':' || !digits(s, pos + 1, 2, os)) return false;
            pos += 3;
        }
        if (pos != s.size()) return false;
        offset_seconds = (oh * 3600 + om * 60 + os) * (sign == '-' ? -1 : 1);
    }
    year_month_day ymd{year{y}, month{static_cast<unsigned>(mo)}, day{static_cast<unsigned>(d)}};
    if (!ymd.ok() || h > 23 || mi > 59 || sec > 60) return false;
    auto t = sys_days{ymd} + hours{h} + minutes{mi} + seconds{sec} + microseconds{micros} - seconds{offset_seconds};
    out = time_point(duration_cast<time_point::duration>(t.time_since_epoch()));
    return true;
}

std::string format_timestamp(time_point t)
{
    using namespace std::chrono;
    auto us = duration_cast<microseconds>(t.time_since_epoch());
    auto days = floor<std::chrono::days>(us);
    year_month_day ymd{sys_days{days}};
    auto rest = us - days;
    auto h = duration_cast<hours>(rest);
    rest -= h;
    auto m = duration_cast<minutes>(rest);
    rest -= m;
    auto s = duration_cast<seconds>(rest);
    rest -= s;
    char buf[48];
    int n =
        std::snprintf(buf, sizeof buf, "%04d-%02u-%02u %02d:%02d:%02d.%06lld+00", static_cast<int>(ymd.year()),
                      static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()), static_cast<int>(h.count()),
                      static_cast<int>(m.count()), static_cast<int>(s.count()), static_cast<long long>(rest.count()));
    return std::string(buf, static_cast<std::size_t>(n));
}

bool is_uuid(std::string_view s) noexcept
{
    if (s.size() != 36) return false;
    for (std::size_t i = 0; i < 36; ++i) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-') return false;
        } else if (core::hex_value(s[i]) < 0) {
            return false;
        }
    }
    return true;
}

std::string random_uuid()
{
    return core::random_uuid();
}

std::string escape_like(std::string_view text)
{
    std::string out;
    out.reserve(text.size() + 4);
    for (char c : text) {
        if (c == '%' || c == '_' || c == '\\') out += '\\';
        out += c;
    }
    return out;
}

const char* const* params::pointers() const
{
    pointers_.clear();
    pointers_.reserve(values_.size());
    for (const auto& v : values_) pointers_.push_back(v ? v->c_str() : nullptr);
    return pointers_.data();
}

std::int64_t rowset::affected() const noexcept
{
    if (!res_) return 0;
    std::int64_t n = 0;
    const char* t = PQcmdTuples(res_.get());
    return parse_int64(t, n) ? n : 0;
}

}  // namespace portcullis::store::pg
