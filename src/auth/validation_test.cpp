#include "auth/validation.hpp"

#include <doctest/doctest.h>

using namespace portcullis::auth;

namespace {
std::string email(std::string_view in)
{
    auto r = normalize_email(in);
    return r.ok() ? r.value : "ERROR: " + r.error;
}
}  // namespace

TEST_CASE("email: valid addresses are normalized")
{
    CHECK(email("alice@example.com") == "alice@example.com");
    CHECK(email("Alice@Example.COM") == "Alice@example.com");  // local part keeps its case
    CHECK(email("  bob@example.org\t") == "bob@example.org");
    CHECK(email("first.last+tag@sub.example.co.uk") == "first.last+tag@sub.example.co.uk");
    CHECK(email("o'brien!#$%&*/=?^_`{|}~-@example.com") == "o'brien!#$%&*/=?^_`{|}~-@example.com");
    CHECK(email("user@xn--bcher-kva.example") == "user@xn--bcher-kva.example");
    CHECK(email("user@a-b.c-d.example") == "user@a-b.c-d.example");
    CHECK(email("user@123.example") == "user@123.example");
}

TEST_CASE("email: IDN domains in their ASCII form")
{
    CHECK(email("user@bücher.example") == "user@xn--bcher-kva.example");
    CHECK(email("user@Bücher.Example") == "user@xn--bcher-kva.example");
    CHECK(email("user@ドメイン名例.jp") == "user@xn--eckwd4c7cu47r2wf.jp");
    CHECK(email("user@bücher。example") == "user@xn--bcher-kva.example");  // ideographic full stop
    // Upper-case non-ASCII letters are mapped (UTS #46) before encoding.
    CHECK(email("user@BÜCHER.example") == "user@xn--bcher-kva.example");
    CHECK(email("user@MÜNCHEN.DE") == "user@xn--mnchen-3ya.de");
    // NFC: u + combining diaeresis is the same domain as ü.
    CHECK(email("user@bu\u0308cher.example") == "user@xn--bcher-kva.example");
    CHECK(email("user@\u4ED6\u4EEC\u4E3A\u4EC0\u4E48\u4E0D\u8BF4\u4E2D\u6587.example") ==
          "user@xn--ihqwcrb4cv8a8dqg056pqjye.example");
    CHECK(email("user@bü_cher.example").starts_with("ERROR"));
    CHECK(email("user@-bücher.example").starts_with("ERROR"));
    CHECK(email("user@b\xfc"
                "cher.example")
              .starts_with("ERROR"));  // Latin-1, not UTF-8
}

TEST_CASE("email: invalid addresses")
{
    for (const char* bad : {"",
                            "   ",
                            "plain",
                            "@example.com",
                            "user@",
                            "user@localhost",
                            "user@.example.com",
                            "user@example..com",
                            "user@example.com.",
                            "user@-example.com",
                            "user@example-.com",
                            "user@exa_mple.com",
                            "user@exa mple.com",
                            ".user@example.com",
                            "user.@example.com",
                            "us..er@example.com",
                            "us er@example.com",
                            "user@example.123",
                            "user@[127.0.0.1]",
                            "\"quoted\"@example.com",
                            "user@@example.com",
                            "a@b@example.com",
                            "üser@example.com",
                            "user(comment)@example.com",
                            "user\n@example.com"}) {
        CAPTURE(bad);
        auto r = normalize_email(bad);
        CHECK_FALSE(r.ok());
        CHECK(r.error == "Enter a valid email address.");
    }
}

TEST_CASE("email: length limits")
{
    const std::string local64(64, 'l');
    CHECK(normalize_email(local64 + "@example.com").ok());
    CHECK_FALSE(normalize_email(local64 + "l@example.com").ok());

    const std::string label63(63, 'a');
    CHECK(normalize_email("u@" + label63 + ".com").ok());
    CHECK_FALSE(normalize_email("u@" + label63 + "a.com").ok());

    // 64 + 1 + 189 = 254 characters: the longest address accepted.
    const std::string domain189 = std::string(63, 'a') + "." + std::string(63, 'b') + "." + std::string(61, 'c');
    REQUIRE(domain189.size() == 189);
    CHECK(normalize_email(local64 + "@" + domain189).ok());
    CHECK_FALSE(normalize_email(local64 + "@" + domain189 + "c").ok());

    // A domain over 253 characters, even with a short local part.
    std::string long_domain;
    for (int i = 0; i < 4; ++i) long_domain += std::string(63, 'd') + ".";
    long_domain += "com";  // 4*64 + 3 = 259
    CHECK_FALSE(normalize_email("u@" + long_domain).ok());
}

TEST_CASE("username: 3-150 of letters, digits and @.+-_")
{
    CHECK(normalize_username("john_doe").value == "john_doe");
    CHECK(normalize_username("A.b+c@d-e_F").value == "A.b+c@d-e_F");
    CHECK(normalize_username("abc").ok());
    CHECK(normalize_username("  john  ").value == "john");
    CHECK(normalize_username(std::string(150, 'x')).ok());

    CHECK(normalize_username("ab").error == "Ensure this field has at least 3 characters.");
    CHECK(normalize_username("   ab ").error == "Ensure this field has at least 3 characters.");
    CHECK(normalize_username("").error == "Ensure this field has at least 3 characters.");
    CHECK(normalize_username(std::string(151, 'x')).error == "Ensure this field has no more than 150 characters.");
    const std::string invalid =
        "Enter a valid username. This value may contain only letters, numbers, and @/./+/-/_ characters.";
    CHECK(normalize_username("john doe").error == invalid);
    CHECK(normalize_username("jöhn").error == invalid);
    CHECK(normalize_username("john!").error == invalid);
    CHECK(normalize_username(std::string_view("jo\0hn", 5)).error == invalid);
}
