// The Mailboxlayer client against a local server answering in the API's documented
// shape, over TLS with a certificate made for the test; the host name resolved by the
// test DNS server. Also the address checker's cache and disposable list.
#include "verify/mailboxlayer.hpp"
#include "verify/address_checker.hpp"
#include "verify_support.hpp"

#include "test_env.hpp"

#include <doctest/doctest.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

using namespace portcullis;
using namespace portcullis::test::verify;
namespace asio = boost::asio;
using core::errc;

namespace {

dns_server& dns()
{
    return shared_dns_server();
}

mailboxlayer_stub& stub()
{
    static mailboxlayer_stub s;
    return s;
}

verify::mailboxlayer_settings client_settings()
{
    verify::mailboxlayer_settings s;
    s.url = stub().url();
    s.access_key = stub().access_key();
    s.ca_file = stub().ca_file();
    s.timeout = std::chrono::seconds(2);
    s.dns.servers = dns().address();
    return s;
}

// One check by the client or the whole checker, on an io_context of its own.
template <class Checker>
core::result<auth::address_verdict> ask(Checker& c, const std::string& email)
{
    asio::io_context ioc;
    auto f = asio::co_spawn(ioc, c.async_check(email, core::steady_clock::now() + std::chrono::seconds(30)),
                            asio::use_future);
    ioc.run();
    return f.get();
}

// The last request the stub logged.
nlohmann::json last_request()
{
    std::string log = stub().request_log();
    REQUIRE(!log.empty());
    log.pop_back();
    auto nl = log.rfind('\n');
    return nlohmann::json::parse(nl == std::string::npos ? log : log.substr(nl + 1));
}

}  // namespace

TEST_CASE("mailboxlayer: a deliverable address is accepted; key, address and smtp=1 arrive encoded")
{
    verify::mailboxlayer_client c(client_settings());
    auto v = ask(c, "ada+signup@example.com");
    std::string why = v.has_value() ? std::string() : v.error().message();
    REQUIRE_MESSAGE(v.has_value(), why);
    CHECK(v->accepted);
    auto req = last_request();
    CHECK(req["key_ok"] == true);
    CHECK(req["email"] == "ada+signup@example.com");  // '+' sent as %2B, not read as a space
    CHECK(req["smtp"] == "1");
    CHECK(req["path"] == "/api/check");
    CHECK(req["host"] == "api.mailboxlayer.test:" + std::to_string(stub().port()));
    CHECK(c.requests() == 1);
}

TEST_CASE("mailboxlayer: no mailbox, a misspelt domain and disposable domains are refused with their reason")
{
    verify::mailboxlayer_client c(client_settings());
    auto nobody = ask(c, "nobody@example.com");
    REQUIRE(nobody.has_value());
    CHECK_FALSE(nobody->accepted);
    CHECK(nobody->reason == "This mailbox does not exist.");

    auto typo = ask(c, "ada@gmial.com");
    REQUIRE(typo.has_value());
    CHECK_FALSE(typo->accepted);
    CHECK(typo->reason == "The domain of this address does not receive mail. Did you mean ada@gmail.com?");

    auto throwaway = ask(c, "ada@mailinator.com");
    REQUIRE(throwaway.has_value());
    CHECK(throwaway->reason == "Disposable e-mail addresses are not accepted.");
}

TEST_CASE("mailboxlayer: a wrong key, an exhausted plan, a 500 and a non-JSON body are failures of the checker")
{
    auto s = client_settings();
    s.access_key = "not-the-key";
    verify::mailboxlayer_client wrong(s);
    auto r = ask(wrong, "ada@example.com");
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error() == core::make_error_code(errc::dependency_failed));
    CHECK(last_request()["key_ok"] == false);

    verify::mailboxlayer_client c(client_settings());
    for (const char* email : {"quota@example.com", "broken@example.com", "garbage@example.com"}) {
        auto e = ask(c, email);
        REQUIRE_FALSE_MESSAGE(e.has_value(), email);
        CHECK_MESSAGE(e.error() == core::make_error_code(errc::dependency_failed), email);
    }
}

TEST_CASE("mailboxlayer: an answer slower than the timeout is a timeout")
{
    auto s = client_settings();
    s.timeout = std::chrono::seconds(1);
    verify::mailboxlayer_client c(s);
    auto started = std::chrono::steady_clock::now();
    auto r = ask(c, "slow@example.com");
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error() == core::make_error_code(errc::timeout));
    CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(4));
}

TEST_CASE("mailboxlayer: TLS is verified: an unknown CA or a certificate for another name fails")
{
    auto s = client_settings();
    s.ca_file.clear();  // the system store does not know the test certificate
    verify::mailboxlayer_client untrusted(s);
    auto r = ask(untrusted, "ada@example.com");
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error() == core::make_error_code(errc::dependency_failed));

    auto other = client_settings();
    other.url = stub().url("other.mailboxlayer.test");  // resolves to the stub; not in its certificate
    verify::mailboxlayer_client wrong_name(other);
    auto w = ask(wrong_name, "ada@example.com");
    REQUIRE_FALSE(w.has_value());
    CHECK(w.error() == core::make_error_code(errc::dependency_failed));
}

TEST_CASE("checker: definite verdicts are cached; failures are not")
{
    verify::checker_settings s;
    s.mode = "mailboxlayer";
    s.dns.servers = dns().address();
    s.dns.timeout = std::chrono::seconds(2);
    s.mailboxlayer = client_settings();
    auto checker = verify::make_address_checker(s);
    REQUIRE(checker != nullptr);

    int before = stub().requests();
    std::string email = test::unique_name("cached") + "@example.com";
    REQUIRE(ask(*checker, email).has_value());
    REQUIRE(ask(*checker, email).has_value());
    CHECK(stub().requests() == before + 1);

    REQUIRE_FALSE(ask(*checker, "broken@example.com").has_value());
    REQUIRE_FALSE(ask(*checker, "broken@example.com").has_value());
    CHECK(stub().requests() == before + 3);
}

TEST_CASE("checker: the disposable list refuses before any lookup, subdomains included, and reloads")
{
    std::string dir = test::make_temp_dir("disposable");
    std::string list = dir + "/domains.txt";
    std::ofstream(list) << "# test list\nthrowaway.example\n";

    verify::checker_settings s;
    s.mode = "mx";
    s.dns.servers = dns().address();
    s.disposable_domains_file = list;
    auto checker = verify::make_address_checker(s);
    REQUIRE(checker != nullptr);

    auto sub = ask(*checker, "ada@eu.throwaway.example");
    REQUIRE(sub.has_value());
    CHECK_FALSE(sub->accepted);
    CHECK(sub->reason == "Disposable e-mail addresses are not accepted.");
    auto good = ask(*checker, "ada@mail.test");
    REQUIRE(good.has_value());
    CHECK(good->accepted);
    auto none = ask(*checker, "ada@nothing-here.test");
    REQUIRE(none.has_value());
    CHECK(none->reason == "The domain of this address does not receive mail.");

    std::ofstream(list, std::ios::app) << "a-only.test\n";
    CHECK(checker->reload());
    auto now_listed = ask(*checker, "ada@a-only.test");
    REQUIRE(now_listed.has_value());
    CHECK_FALSE(now_listed->accepted);

    std::filesystem::remove(list);
    CHECK_FALSE(checker->reload());  // kept the old list
    auto still = ask(*checker, "ada@a-only.test");
    REQUIRE(still.has_value());
    CHECK_FALSE(still->accepted);
}

TEST_CASE("checker: syntax mode with no list needs no checker")
{
    verify::checker_settings s;
    CHECK(verify::make_address_checker(s) == nullptr);
}
