#include "net/http.hpp"

namespace portcullis::net {
namespace {

int hex_value(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

}  // namespace

std::optional<std::string> percent_decode(std::string_view in, bool form)
{
    std::string out;
    out.reserve(in.size());
    for (std::size_t i = 0; i < in.size(); ++i) {
        char c = in[i];
        if (c == '%') {
            if (i + 2 >= in.size()) return std::nullopt;
            int hi = hex_value(in[i + 1]);
            int lo = hex_value(in[i + 2]);
            if (hi < 0 || lo < 0) return std::nullopt;
            out += static_cast<char>(hi * 16 + lo);
            i += 2;
        } else if (c == '+' && form) {
            out += ' ';
        } else {
            out += c;
        }
    }
    return out;
}

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
        auto decoded_key = percent_decode(key, true);
        if (decoded_key && *decoded_key == name) {
            auto v = percent_decode(value, true);
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
