// EMAIL_VALIDATION end to end: the real server registering against dnsmasq, the
// Mailboxlayer stand-in and a disposable-domain list; fail-open and fail-closed when the
// checker cannot be reached; SIGHUP reloads the list.
#include "../auth/auth_support.hpp"
#include "server_fixture.hpp"
#include "test_env.hpp"
#include "verify_support.hpp"
#include "wait.hpp"

#include <doctest/doctest.h>
#include <signal.h>

#include <fstream>
#include <thread>

using namespace portcullis::test;
using namespace portcullis::test::auth;
using namespace portcullis::test::verify;

namespace {

dns_server& dns()
{
    return shared_dns_server();
}

json body_for(const std::string& email)
{
    return {{"email", email}, {"username", unique_name("v")}, {"password", good_password}};
}

std::string fresh(const std::string& domain)
{
    return unique_name("reg") + "@" + domain;
}

}  // namespace

TEST_CASE("mx: addresses whose domain receives mail register; the others get validation_failed on email")
{
    server_fixture srv({{"EMAIL_VALIDATION", "mx"}, {"DNS_SERVERS", dns().address()}});
    client c(srv.port());

    CHECK(c.post("/api/auth/register", body_for(fresh("mail.test"))).status == 201);
    CHECK(c.post("/api/auth/register", body_for(fresh("a-only.test"))).status == 201);
    for (const char* domain : {"nothing-here.test", "nullmx.test", "txt-only.test"}) {
        auto r = c.post("/api/auth/register", body_for(fresh(domain)));
        CHECK_MESSAGE(r.status == 400, domain);
        CHECK(r.code() == "validation_failed");
        CHECK(r.detail("email") == "The domain of this address does not receive mail.");
    }
}

TEST_CASE("mx: DNS unreachable: fail-closed answers 503 with Retry-After, fail-open registers")
{
    silent_udp silent;
    {
        server_fixture closed({{"EMAIL_VALIDATION", "mx"},
                               {"DNS_SERVERS", silent.address()},
                               {"EMAIL_VALIDATION_TIMEOUT", "1"},
                               {"EMAIL_VALIDATION_FAIL_OPEN", "false"}});
        client c(closed.port());
        auto r = c.call_unchecked("POST", "/api/auth/register", body_for(fresh("mail.test")));
        CHECK(r.status == 503);
        CHECK(r.code() == "unavailable");
        CHECK_FALSE(r.header("retry-after").empty());
    }
    server_fixture open(
        {{"EMAIL_VALIDATION", "mx"}, {"DNS_SERVERS", refusing_udp_address()}, {"EMAIL_VALIDATION_FAIL_OPEN", "true"}});
    client c(open.port());
    CHECK(c.post("/api/auth/register", body_for(fresh("mail.test"))).status == 201);
    CHECK(read_file(open.proc().log_path()).find("email_check_unavailable") != std::string::npos);
}

TEST_CASE("mailboxlayer: the server asks the API; refusals name the reason; the key never reaches the log")
{
    mailboxlayer_stub stub;
    server_fixture srv({{"EMAIL_VALIDATION", "mailboxlayer"},
                        {"MAILBOXLAYER_ACCESS_KEY", stub.access_key()},
                        {"MAILBOXLAYER_URL", stub.url()},
                        {"MAILBOXLAYER_CA_FILE", stub.ca_file()},
                        {"DNS_SERVERS", dns().address()}});
    client c(srv.port());

    std::string good = fresh("example.com");
    CHECK(c.post("/api/auth/register", body_for(good)).status == 201);
    CHECK(stub.request_log().find(good) != std::string::npos);

    auto nobody = c.post("/api/auth/register", body_for("nobody@example.com"));
    CHECK(nobody.status == 400);
    CHECK(nobody.detail("email") == "This mailbox does not exist.");
    auto typo = c.post("/api/auth/register", body_for(unique_name("t") + "@gmial.com"));
    CHECK(typo.status == 400);
    CHECK(typo.detail("email").find("Did you mean") != std::string::npos);

    // The plan ran out: fail-open by default, so the registration goes through.
    CHECK(c.post("/api/auth/register", body_for("quota@example.com")).status == 201);
    CHECK(read_file(srv.proc().log_path()).find(stub.access_key()) == std::string::npos);
}

TEST_CASE("disposable list: refused in syntax mode too, and SIGHUP picks up a new entry")
{
    std::string dir = make_temp_dir("disposable");
    std::string list = dir + "/domains.txt";
    std::ofstream(list) << "throwaway.example\n";
    server_fixture srv({{"DISPOSABLE_DOMAINS_FILE", list}});
    client c(srv.port());

    auto r = c.post("/api/auth/register", body_for(fresh("throwaway.example")));
    CHECK(r.status == 400);
    CHECK(r.detail("email") == "Disposable e-mail addresses are not accepted.");
    CHECK(c.post("/api/auth/register", body_for(fresh("example.org"))).status == 201);

    std::ofstream(list, std::ios::app) << "burner.example\n";
    srv.proc().signal(SIGHUP);
    // The reload is asynchronous: poll until the new entry is refused (bounded).
    CHECK(wait_until([&] { return c.post("/api/auth/register", body_for(fresh("burner.example"))).status == 400; },
                     std::chrono::seconds(5), std::chrono::milliseconds(50)));
}

TEST_CASE("start-up refuses an unreadable disposable list, naming the variable")
{
    std::string dir = make_temp_dir("badlist");
    std::map<std::string, std::string> env{{"DISPOSABLE_DOMAINS_FILE", dir + "/missing.txt"},
                                           {"PORTCULLIS_ENV", "development"},
                                           {"DATABASE_URL", require_env("PORTCULLIS_TEST_DATABASE_URL")},
                                           {"REDIS_URL", require_env("PORTCULLIS_TEST_REDIS_URL")},
                                           {"LISTEN", "127.0.0.1:0"}};
    process p({require_env("PORTCULLIS_BINARY"), "serve"}, env, dir + "/serve.log");
    auto status = p.wait(std::chrono::seconds(30));
    REQUIRE(status.has_value());
    CHECK(*status != 0);
    CHECK(read_file(dir + "/serve.log").find("DISPOSABLE_DOMAINS_FILE") != std::string::npos);
}
