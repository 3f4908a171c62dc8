#include "store/redis/settings.hpp"

#include <charconv>

namespace portcullis::store::redis {
namespace {

int hex_value(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// Percent-decoding of the user-info part (passwords may hold '@' or ':').
bool percent_decode(std::string_view in, std::string& out)
{
    out.clear();
    for (std::size_t i = 0; i < in.size(); ++i) {
        if (in[i] != '%') {
            out.push_back(in[i]);
            continue;
        }
        if (i + 2 >= in.size()) return false;
        int hi = hex_value(in[i + 1]);
        int lo = hex_value(in[i + 2]);
        if (hi < 0 || lo < 0) return false;
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
    }
    return true;
}

template <class I>
bool parse_number(std::string_view s, I& out)
{
    if (s.empty()) return false;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc{} && p == s.data() + s.size();
}

}  // namespace

core::result<settings> parse_url(std::string_view url, settings base)
{
    const auto invalid = core::make_error_code(core::errc::validation_failed);
    constexpr std::string_view scheme = "redis://";
    if (!url.starts_with(scheme)) return invalid;
    std::string_view rest = url.substr(scheme.size());

    // Query parameters are not supported; drop them rather than misparse.
    if (auto q = rest.find('?'); q != std::string_view::npos) rest = rest.substr(0, q);

    std::string_view authority = rest;
    std::string_view path;
    if (auto slash = rest.find('/'); slash != std::string_view::npos) {
        authority = rest.substr(0, slash);
        path = rest.substr(slash + 1);
    }

    if (auto at = authority.rfind('@'); at != std::string_view::npos) {
        std::string_view userinfo = authority.substr(0, at);
        authority = authority.substr(at + 1);
        std::string_view user = userinfo;
        std::string_view pass;
        bool has_pass = false;
        if (auto colon = userinfo.find(':'); colon != std::string_view::npos) {
            user = userinfo.substr(0, colon);
            pass = userinfo.substr(colon + 1);
            has_pass = true;
        }
        if (!has_pass) {
            // redis://secret@host: a lone user-info is the password (like redis-py).
            pass = user;
            user = {};
        }
        if (!percent_decode(user, base.username) || !percent_decode(pass, base.password)) return invalid;
    }

    std::string_view host = authority;
    if (!authority.empty() && authority.front() == '[') {
        auto close = authority.find(']');
        if (close == std::string_view::npos) return invalid;
        host = authority.substr(1, close - 1);
        std::string_view after = authority.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':' || !parse_number(after.substr(1), base.port) || base.port == 0) return invalid;
        }
    } else if (auto colon = authority.rfind(':'); colon != std::string_view::npos) {
        host = authority.substr(0, colon);
        if (!parse_number(authority.substr(colon + 1), base.port) || base.port == 0) return invalid;
    }
    if (!host.empty()) base.host = std::string(host);

    if (!path.empty()) {
        int db = 0;
        if (!parse_number(path, db) || db < 0) return invalid;
        base.db = db;
    }
    return base;
}

}  // namespace portcullis::store::redis
