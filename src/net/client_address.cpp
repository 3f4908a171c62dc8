#include "net/client_address.hpp"

#include "core/text.hpp"

#include <charconv>
#include <string>

namespace portcullis::net {

namespace ip = boost::asio::ip;

namespace {

bool all_digits(std::string_view s) noexcept
{
    if (s.empty()) return false;
    for (char c : s) {
        if (c < '0' || c > '9') return false;
    }
    return true;
}

// One hop: "1.2.3.4", "1.2.3.4:80", "2001:db8::1", "[2001:db8::1]" or "[2001:db8::1]:80".
std::optional<ip::address> parse_node(std::string_view s) noexcept
{
    s = core::trim(s);
    if (s.size() >= 2 && s.front() == '"' && s.back() == '"') s = s.substr(1, s.size() - 2);
    if (!s.empty() && s.front() == '[') {
        auto close = s.find(']');
        if (close == std::string_view::npos) return std::nullopt;
        std::string_view rest = s.substr(close + 1);
        if (!rest.empty() && (rest.front() != ':' || !all_digits(rest.substr(1)))) return std::nullopt;
        s = s.substr(1, close - 1);
    } else if (auto colon = s.find(':');
               colon != std::string_view::npos && s.find(':', colon + 1) == std::string_view::npos) {
        // One colon: IPv4 with a port.
        if (!all_digits(s.substr(colon + 1))) return std::nullopt;
        s = s.substr(0, colon);
    }
    if (s.empty() || s.size() > 64) return std::nullopt;
    boost::system::error_code ec;
    ip::address a = ip::make_address(std::string(s), ec);
    if (ec) return std::nullopt;
    return unmap(a);
}

// The node of one Forwarded element ("for=…;proto=…;by=…"); empty when it has none.
std::string_view forwarded_for(std::string_view element) noexcept
{
    while (!element.empty()) {
        auto semi = element.find(';');
        std::string_view pair = core::trim(element.substr(0, semi));
        element = semi == std::string_view::npos ? std::string_view{} : element.substr(semi + 1);
        auto eq = pair.find('=');
        if (eq != std::string_view::npos && core::ascii_iequals(core::trim(pair.substr(0, eq)), "for"))
            return pair.substr(eq + 1);
    }
    return {};
}

}  // namespace

bool address_block::contains(const ip::address& given) const noexcept
{
    ip::address a = unmap(given);
    std::array<unsigned char, 16> b{};
    if (a.is_v4()) {
        if (v6) return false;
        auto v4 = a.to_v4().to_bytes();
        std::copy(v4.begin(), v4.end(), b.begin());
    } else {
        if (!v6) return false;
        b = a.to_v6().to_bytes();
    }
    unsigned bits = prefix;
    for (std::size_t i = 0; bits > 0; ++i, bits = bits > 8 ? bits - 8 : 0) {
        auto mask = bits >= 8 ? 0xffu : (0xffu << (8 - bits)) & 0xffu;
        if ((b[i] & mask) != (bytes[i] & mask)) return false;
    }
    return true;
}

std::optional<address_block> parse_address_block(std::string_view text)
{
    text = core::trim(text);
    auto slash = text.find('/');
    boost::system::error_code ec;
    ip::address a = ip::make_address(std::string(text.substr(0, slash)), ec);
    if (ec) return std::nullopt;
    address_block out;
    if (a.is_v4()) {
        auto v4 = a.to_v4().to_bytes();
        std::copy(v4.begin(), v4.end(), out.bytes.begin());
        out.prefix = 32;
    } else {
        out.bytes = a.to_v6().to_bytes();
        out.v6 = true;
        out.prefix = 128;
    }
    if (slash != std::string_view::npos) {
        std::string_view p = text.substr(slash + 1);
        unsigned value = 0;
        auto [ptr, pec] = std::from_chars(p.data(), p.data() + p.size(), value);
        if (pec != std::errc{} || ptr != p.data() + p.size() || p.empty() || value > out.prefix) return std::nullopt;
        out.prefix = value;
    }
    return out;
}

bool in_any(const std::vector<address_block>& blocks, const ip::address& a) noexcept
{
    for (const auto& b : blocks) {
        if (b.contains(a)) return true;
    }
    return false;
}

ip::address unmap(const ip::address& a) noexcept
{
    if (a.is_v6() && a.to_v6().is_v4_mapped()) return ip::make_address_v4(ip::v4_mapped, a.to_v6());
    return a;
}

std::optional<ip::address> forwarded_client(std::span<const std::string_view> values, forwarding_header kind,
                                            const std::vector<address_block>& trusted)
{
    std::optional<ip::address> leftmost;
    for (auto v = values.rbegin(); v != values.rend(); ++v) {
        std::string_view rest = *v;
        while (!rest.empty()) {
            auto comma = rest.rfind(',');
            std::string_view hop = comma == std::string_view::npos ? rest : rest.substr(comma + 1);
            rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(0, comma);
            if (core::trim(hop).empty()) continue;
            if (kind == forwarding_header::forwarded) {
                hop = forwarded_for(hop);
                if (hop.empty()) return std::nullopt;
            }
            auto a = parse_node(hop);
            if (!a) return std::nullopt;
            if (!in_any(trusted, *a)) return a;
            leftmost = a;
        }
    }
    return leftmost;
}

}  // namespace portcullis::net
