// The c-ares lookups of EMAIL_VALIDATION=mx against a real DNS server (dnsmasq on
// loopback with test records), a server that refuses and one that never answers.
#include "verify/dns.hpp"
#include "verify_support.hpp"

#include <doctest/doctest.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include <chrono>
#include <vector>

using namespace portcullis;
using namespace portcullis::test::verify;
namespace asio = boost::asio;
using core::errc;

namespace {

dns_server& dns()
{
    return shared_dns_server();
}

verify::dns_settings settings(const std::string& servers, std::chrono::milliseconds timeout = std::chrono::seconds(3))
{
    verify::dns_settings s;
    s.servers = servers;
    s.timeout = timeout;
    return s;
}

core::result<bool> accepts(const std::string& domain, const verify::dns_settings& s)
{
    asio::io_context ioc;
    auto f = asio::co_spawn(ioc, verify::async_domain_accepts_mail(domain, s), asio::use_future);
    ioc.run();
    return f.get();
}

bool yes(const std::string& domain)
{
    auto r = accepts(domain, settings(dns().address()));
    std::string why = r.has_value() ? std::string() : domain + ": " + r.error().message();
    REQUIRE_MESSAGE(r.has_value(), why);
    return *r;
}

}  // namespace

TEST_CASE("mx: a domain with an MX record receives mail")
{
    CHECK(yes("mail.test"));
}

TEST_CASE("mx: with no MX, an A or an AAAA record is the implicit MX")
{
    CHECK(yes("a-only.test"));
    CHECK(yes("v6-only.test"));
}

TEST_CASE("mx: a domain that does not exist, has no address, or publishes the null MX does not")
{
    CHECK_FALSE(yes("nothing-here.test"));
    CHECK_FALSE(yes("txt-only.test"));
    CHECK_FALSE(yes("nullmx.test"));
}

TEST_CASE("mx: a server that refuses is a failure of the checker, reported at once")
{
    auto started = std::chrono::steady_clock::now();
    auto r = accepts("mail.test", settings(refusing_udp_address(), std::chrono::seconds(10)));
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error() == core::make_error_code(errc::dependency_failed));
    // Refused, not timed out: well inside the 10 s budget.
    CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(8));
}

TEST_CASE("mx: a server that never answers ends in a timeout within the budget")
{
    silent_udp silent;
    auto started = std::chrono::steady_clock::now();
    auto r = accepts("mail.test", settings(silent.address(), std::chrono::seconds(1)));
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error() == core::make_error_code(errc::timeout));
    CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(5));
}

TEST_CASE("mx: when the first server is down, the next one answers")
{
    auto r = accepts("mail.test", settings(refusing_udp_address() + "," + dns().address()));
    REQUIRE(r.has_value());
    CHECK(*r);
}

TEST_CASE("mx: a hundred lookups at once on one thread each get their own answer")
{
    asio::io_context ioc;
    auto s = settings(dns().address());
    std::vector<std::string> names{"mail.test", "a-only.test", "v6-only.test", "nothing-here.test", "nullmx.test"};
    std::vector<std::future<core::result<bool>>> futures;
    for (int i = 0; i < 100; ++i) {
        futures.push_back(
            asio::co_spawn(ioc, verify::async_domain_accepts_mail(names[i % names.size()], s), asio::use_future));
    }
    ioc.run();
    for (int i = 0; i < 100; ++i) {
        auto r = futures[i].get();
        REQUIRE(r.has_value());
        CHECK(*r == (i % 5 < 3));
    }
}

TEST_CASE("resolve_host: A and AAAA records, and a name without addresses")
{
    asio::io_context ioc;
    auto s = settings(dns().address());
    auto a = asio::co_spawn(ioc, verify::async_resolve_host("mx1.mail.test", s), asio::use_future);
    auto v6 = asio::co_spawn(ioc, verify::async_resolve_host("v6-only.test", s), asio::use_future);
    auto none = asio::co_spawn(ioc, verify::async_resolve_host("nothing-here.test", s), asio::use_future);
    ioc.run();
    auto ra = a.get();
    REQUIRE(ra.has_value());
    REQUIRE(ra->size() == 1);
    CHECK(ra->front().to_string() == "127.0.0.10");
    auto r6 = v6.get();
    REQUIRE(r6.has_value());
    REQUIRE(r6->size() == 1);
    CHECK(r6->front().to_string() == "fd00::11");
    auto rn = none.get();
    REQUIRE_FALSE(rn.has_value());
    CHECK(rn.error() == core::make_error_code(errc::dependency_failed));
}
