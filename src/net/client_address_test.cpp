#include "net/client_address.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace portcullis::net;
namespace ip = boost::asio::ip;

namespace {

std::vector<address_block> blocks(std::initializer_list<const char*> texts)
{
    std::vector<address_block> out;
    for (const char* t : texts) out.push_back(*parse_address_block(t));
    return out;
}

std::string client(std::initializer_list<std::string_view> values, forwarding_header kind,
                   const std::vector<address_block>& trusted)
{
    std::vector<std::string_view> v(values);
    auto a = forwarded_client(v, kind, trusted);
    return a ? a->to_string() : std::string("none");
}

}  // namespace

TEST_CASE("address blocks: IPv4, IPv6, mapped addresses, malformed text")
{
    auto b = *parse_address_block("10.1.0.0/16");
    CHECK(b.contains(ip::make_address("10.1.200.3")));
    CHECK_FALSE(b.contains(ip::make_address("10.2.0.1")));
    CHECK(b.contains(ip::make_address("::ffff:10.1.2.3")));
    CHECK_FALSE(b.contains(ip::make_address("::1")));
    auto v6 = *parse_address_block("fd00::/8");
    CHECK(v6.contains(ip::make_address("fd12::1")));
    CHECK_FALSE(v6.contains(ip::make_address("fe80::1")));
    CHECK_FALSE(v6.contains(ip::make_address("10.1.2.3")));
    CHECK(parse_address_block("127.0.0.1")->contains(ip::make_address("127.0.0.1")));
    CHECK_FALSE(parse_address_block("127.0.0.1")->contains(ip::make_address("127.0.0.2")));
    CHECK(parse_address_block("0.0.0.0/0")->contains(ip::make_address("8.8.8.8")));
    CHECK_FALSE(parse_address_block("10.0.0.0/33"));
    CHECK_FALSE(parse_address_block("nginx"));
    CHECK_FALSE(parse_address_block("10.0.0.0/"));
    CHECK(unmap(ip::make_address("::ffff:1.2.3.4")).to_string() == "1.2.3.4");
}

TEST_CASE("X-Forwarded-For: the right-most hop that is not a trusted proxy")
{
    auto trusted = blocks({"127.0.0.1", "10.0.0.0/8"});
    const auto xff = forwarding_header::x_forwarded_for;
    CHECK(client({"203.0.113.7"}, xff, trusted) == "203.0.113.7");
    // A client-supplied value is to the left of what the proxy appended.
    CHECK(client({"1.1.1.1, 203.0.113.7"}, xff, trusted) == "203.0.113.7");
    CHECK(client({"1.1.1.1, 203.0.113.7, 10.0.0.5"}, xff, trusted) == "203.0.113.7");
    // Several header instances are one list, in order.
    CHECK(client({"1.1.1.1", "203.0.113.7,10.0.0.5"}, xff, trusted) == "203.0.113.7");
    CHECK(client({"2001:db8::1"}, xff, trusted) == "2001:db8::1");
    CHECK(client({"[2001:db8::1]:4711"}, xff, trusted) == "2001:db8::1");
    CHECK(client({"203.0.113.7:5555"}, xff, trusted) == "203.0.113.7");
    CHECK(client({"::ffff:203.0.113.7"}, xff, trusted) == "203.0.113.7");
    // Every hop trusted: the left-most.
    CHECK(client({"10.0.0.9, 10.0.0.5"}, xff, trusted) == "10.0.0.9");
    // Junk where the decision is made: no client address from the header.
    CHECK(client({"1.1.1.1, junk"}, xff, trusted) == "none");
    CHECK(client({"unknown"}, xff, trusted) == "none");
    CHECK(client({}, xff, trusted) == "none");
    CHECK(client({" , "}, xff, trusted) == "none");
    // Junk left of the decisive hop is never looked at.
    CHECK(client({"junk, 203.0.113.7"}, xff, trusted) == "203.0.113.7");
}

TEST_CASE("Forwarded: for= of the right-most element that is not a trusted proxy")
{
    auto trusted = blocks({"127.0.0.1"});
    const auto fwd = forwarding_header::forwarded;
    CHECK(client({"for=203.0.113.7"}, fwd, trusted) == "203.0.113.7");
    CHECK(client({"for=1.1.1.1, for=203.0.113.7;proto=https;by=127.0.0.1"}, fwd, trusted) == "203.0.113.7");
    CHECK(client({"For=\"[2001:db8:cafe::17]:4711\""}, fwd, trusted) == "2001:db8:cafe::17");
    CHECK(client({"proto=https;for=\"203.0.113.7:80\""}, fwd, trusted) == "203.0.113.7");
    CHECK(client({"for=203.0.113.7, for=127.0.0.1"}, fwd, trusted) == "203.0.113.7");
    CHECK(client({"for=unknown"}, fwd, trusted) == "none");
    CHECK(client({"for=_hidden"}, fwd, trusted) == "none");
    CHECK(client({"proto=https"}, fwd, trusted) == "none");
}
