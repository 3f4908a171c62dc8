// Unit tests of the pure parts: the domain list and the reading of Mailboxlayer answers.
// The DNS and HTTPS clients are tested against real servers in tests/verify.
#include "verify/domain_list.hpp"
#include "verify/mailboxlayer.hpp"

#include <doctest/doctest.h>

using namespace portcullis;
using verify::domain_list;
using verify::read_mailboxlayer_answer;

TEST_CASE("domain_list: comments, blanks, case and trailing dots; a domain matches its subdomains")
{
    auto list = domain_list::parse("# disposable\nMailinator.com\n\n  trashmail.de.  # inline\r\n0-mail.com\n");
    CHECK(list.size() == 3);
    CHECK(list.contains("mailinator.com"));
    CHECK(list.contains("MAILINATOR.COM"));
    CHECK(list.contains("eu.mailinator.com"));
    CHECK(list.contains("trashmail.de"));
    CHECK_FALSE(list.contains("notmailinator.com"));
    CHECK_FALSE(list.contains("com"));
    CHECK_FALSE(list.contains("example.org"));
    CHECK_FALSE(domain_list::parse("").contains("example.org"));
}

TEST_CASE("domain_list: an unreadable file is an error naming the variable")
{
    CHECK_THROWS_WITH_AS(domain_list::load("/nonexistent/disposable.txt"), doctest::Contains("DISPOSABLE_DOMAINS_FILE"),
                         std::runtime_error);
}

namespace {

// An answer in the documented shape, with some members replaced.
std::string answer(std::string_view overrides = "")
{
    std::string base = R"({"email":"ada@example.com","did_you_mean":"","user":"ada","domain":"example.com",)"
                       R"("format_valid":true,"mx_found":true,"smtp_check":true,"catch_all":false,"role":false,)"
                       R"("disposable":false,"free":false,"score":0.96)";
    if (!overrides.empty()) base += "," + std::string(overrides);
    return base + "}";
}

}  // namespace

TEST_CASE("mailboxlayer: a deliverable address is accepted")
{
    auto v = read_mailboxlayer_answer(answer());
    REQUIRE(v.has_value());
    CHECK(v->accepted);
}

TEST_CASE("mailboxlayer: each refusing member gives its own reason, with the suggestion")
{
    auto bad_format = read_mailboxlayer_answer(answer(R"("format_valid":false)"));
    REQUIRE(bad_format.has_value());
    CHECK_FALSE(bad_format->accepted);
    CHECK(bad_format->reason == "This e-mail address is not valid.");

    auto no_mx = read_mailboxlayer_answer(answer(R"("mx_found":false,"did_you_mean":"ada@gmail.com")"));
    REQUIRE(no_mx.has_value());
    CHECK_FALSE(no_mx->accepted);
    CHECK(no_mx->reason == "The domain of this address does not receive mail. Did you mean ada@gmail.com?");

    auto no_box = read_mailboxlayer_answer(answer(R"("smtp_check":false)"));
    REQUIRE(no_box.has_value());
    CHECK(no_box->reason == "This mailbox does not exist.");

    // A suggestion that is not a plain address is not repeated to the client.
    auto odd = read_mailboxlayer_answer(answer(R"("mx_found":false,"did_you_mean":"visit http://evil.example now")"));
    REQUIRE(odd.has_value());
    CHECK(odd->reason == "The domain of this address does not receive mail.");

    auto disposable = read_mailboxlayer_answer(answer(R"("disposable":true)"));
    REQUIRE(disposable.has_value());
    CHECK(disposable->reason == "Disposable e-mail addresses are not accepted.");
}

TEST_CASE("mailboxlayer: a skipped or unanswered SMTP probe does not refuse")
{
    auto v = read_mailboxlayer_answer(
        R"({"email":"a@b.example","format_valid":true,"mx_found":true,"smtp_check":null,"disposable":false})");
    REQUIRE(v.has_value());
    CHECK(v->accepted);
    auto w = read_mailboxlayer_answer(R"({"email":"a@b.example","format_valid":true,"mx_found":true})");
    REQUIRE(w.has_value());
    CHECK(w->accepted);
}

TEST_CASE("mailboxlayer: error objects and bodies of another shape are failures of the checker")
{
    using portcullis::core::errc;
    auto key = read_mailboxlayer_answer(
        R"({"success":false,"error":{"code":101,"type":"invalid_access_key","info":"You have not supplied a valid API Access Key."}})");
    REQUIRE_FALSE(key.has_value());
    CHECK(key.error() == portcullis::core::make_error_code(errc::dependency_failed));
    CHECK_FALSE(read_mailboxlayer_answer(R"({"error":{"code":104,"type":"usage_limit_reached"}})").has_value());
    CHECK_FALSE(read_mailboxlayer_answer("<html>Bad gateway</html>").has_value());
    CHECK_FALSE(read_mailboxlayer_answer("[]").has_value());
    CHECK_FALSE(read_mailboxlayer_answer(R"({"format_valid":"yes","mx_found":true})").has_value());
    CHECK_FALSE(read_mailboxlayer_answer(R"({"mx_found":true})").has_value());
}

TEST_CASE("mailboxlayer: URLs that cannot be used are refused naming the variable")
{
    verify::mailboxlayer_settings s;
    s.access_key = "k";
    s.url = "ftp://apilayer.net/api/check";
    CHECK_THROWS_WITH_AS(verify::mailboxlayer_client{s}, doctest::Contains("MAILBOXLAYER_URL"), std::invalid_argument);
    s.url = "not a url";
    CHECK_THROWS_WITH_AS(verify::mailboxlayer_client{s}, doctest::Contains("MAILBOXLAYER_URL"), std::invalid_argument);
    s.url = "https://apilayer.net/api/check?access_key=inline";
    CHECK_THROWS_WITH_AS(verify::mailboxlayer_client{s}, doctest::Contains("MAILBOXLAYER_URL"), std::invalid_argument);
    s.url = "https://apilayer.net/api/check";
    s.ca_file = "/nonexistent/ca.pem";
    CHECK_THROWS_WITH_AS(verify::mailboxlayer_client{s}, doctest::Contains("MAILBOXLAYER_CA_FILE"),
                         std::invalid_argument);
    s.ca_file.clear();
    CHECK_NOTHROW(verify::mailboxlayer_client{s});
}

TEST_CASE("dns: server lists are checked for syntax")
{
    CHECK(verify::valid_server_list("127.0.0.1:5353"));
    CHECK(verify::valid_server_list("127.0.0.1,[::1]:53"));
    CHECK_FALSE(verify::valid_server_list("not an address"));
}
