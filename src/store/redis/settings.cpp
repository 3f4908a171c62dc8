#include "store/redis/settings.hpp"

#include <boost/url/parse.hpp>

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
    // Percent-escapes are checked by the parser: a bad one refuses the whole URL.
    const auto parsed = boost::urls::parse_uri(url);
    if (!parsed || parsed->scheme() != "redis" || !parsed->has_authority() || parsed->has_fragment()) return invalid;
    const boost::urls::url_view& u = *parsed;

    if (u.has_userinfo()) {
        if (u.has_password()) {
            base.username = u.user();
            base.password = u.password();
        } else {
            // redis://secret@host: a lone user-info is the password (like redis-py).
            base.username.clear();
            base.password = u.user();
        }
    }
    // Query parameters are not supported and are ignored. The host is kept as written
    // (an IPv6 literal without its brackets).
    if (const auto host = u.encoded_host_address(); !host.empty()) base.host = std::string(host);
    if (u.has_port() && (!parse_number(std::string_view(u.port()), base.port) || base.port == 0)) return invalid;

    std::string_view path = u.encoded_path();
    if (path.starts_with('/')) path.remove_prefix(1);
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
