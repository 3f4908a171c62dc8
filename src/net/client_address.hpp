#pragma once
// The client address of a request. It is the TCP peer, unless the peer is a trusted
// proxy: then it is the right-most address of the proxy's forwarding header that is
// not itself a trusted proxy. The header of an untrusted peer is never read.

#include <boost/asio/ip/address.hpp>

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace portcullis::net {

// One CIDR block (IPv4 or IPv6), address bytes in network order.
struct address_block {
    std::array<unsigned char, 16> bytes{};
    bool v6 = false;
    unsigned prefix = 0;

    // IPv4-mapped IPv6 addresses match IPv4 blocks.
    bool contains(const boost::asio::ip::address& a) const noexcept;
};

// "10.0.0.0/8", "::1", "fd00::/8"; nullopt when malformed.
std::optional<address_block> parse_address_block(std::string_view text);

bool in_any(const std::vector<address_block>& blocks, const boost::asio::ip::address& a) noexcept;

// An IPv4-mapped IPv6 address becomes the IPv4 address; anything else is unchanged.
boost::asio::ip::address unmap(const boost::asio::ip::address& a) noexcept;

// Which header the trusted proxies set.
enum class forwarding_header { x_forwarded_for, forwarded };

// The client address from the values of every instance of the forwarding header, in
// the order received. Walks the hops from the right and returns the first that is not
// in `trusted`; the left-most when every hop is trusted. nullopt when the header is
// absent or a hop that decides is not an address ("unknown", an obfuscated name, junk):
// the caller then keeps the peer address.
std::optional<boost::asio::ip::address> forwarded_client(std::span<const std::string_view> values,
                                                         forwarding_header kind,
                                                         const std::vector<address_block>& trusted);

}  // namespace portcullis::net
