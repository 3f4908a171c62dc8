#include "net/http.hpp"

#include "core/percent.hpp"

namespace portcullis::net {

std::optional<std::string> request::query_param(std::string_view name) const
{
    std::string_view q = query;
    while (!q.empty()) {
        auto amp = q.find('&');
        std::string_view pair = q.substr(0, amp);
        q = amp == std::string_view::npos ? std::string_view{} : q.substr(amp + 1);
        auto eq = pair.find('=');
        std::string_view key = pair.substr(0, eq);
        std::string_view value = eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
        auto decoded_key = core::percent_decode(key, true);
        if (decoded_key && *decoded_key == name) {
            auto v = core::percent_decode(value, true);
            return v ? v : std::optional<std::string>(std::string{});
        }
    }
    return std::nullopt;
}

std::string_view request::cookie(std::string_view name) const
{
    std::string_view all = header("cookie");
    while (!all.empty()) {
        auto semi = all.find(';');
        std::string_view item = all.substr(0, semi);
        all = semi == std::string_view::npos ? std::string_view{} : all.substr(semi + 1);
        while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
        auto eq = item.find('=');
        if (eq == std::string_view::npos) continue;
        if (item.substr(0, eq) == name) return item.substr(eq + 1);
    }
    return {};
}

}  // namespace portcullis::net
