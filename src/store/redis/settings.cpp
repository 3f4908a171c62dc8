#include "store/redis/settings.hpp"

#include "core/percent.hpp"

#include <charconv>

namespace portcullis::store::redis {
namespace {

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
        auto username = core::percent_decode(user, false);
        auto password = core::percent_decode(pass, false);
        if (!username || !password) return invalid;
        base.username = std::move(*username);
        base.password = std::move(*password);
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

std::optional<std::vector<endpoint>> parse_endpoints(std::string_view list)
{
    std::vector<endpoint> out;
    while (!list.empty()) {
        auto comma = list.find(',');
        std::string_view item = list.substr(0, comma);
        list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
        while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
        while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
        if (item.empty()) continue;
        auto colon = item.rfind(':');
        if (colon == std::string_view::npos || colon == 0) return std::nullopt;
        std::string_view host = item.substr(0, colon);
        if (host.front() == '[') {
            if (host.size() < 3 || host.back() != ']') return std::nullopt;
            host = host.substr(1, host.size() - 2);
        } else if (host.find(':') != std::string_view::npos) {
            return std::nullopt;
        }
        endpoint e{std::string(host), 0};
        if (!parse_number(item.substr(colon + 1), e.port) || e.port == 0) return std::nullopt;
        out.push_back(std::move(e));
    }
    if (out.empty()) return std::nullopt;
    return out;
}

}  // namespace portcullis::store::redis
