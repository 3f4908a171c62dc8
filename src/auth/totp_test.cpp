#include "auth/totp.hpp"

#include <doctest/doctest.h>

#include <set>

using namespace portcullis::auth;

namespace {
const std::string rfc_secret = "12345678901234567890";  // RFC 4226 / RFC 6238 SHA-1 seed
}

TEST_CASE("totp: RFC 4226 appendix D HOTP values")
{
    const char* expected[] = {"755224", "287082", "359152", "969429", "338314",
                              "254676", "287922", "162583", "399871", "520489"};
    for (std::uint64_t i = 0; i < 10; ++i) CHECK(hotp(rfc_secret, i) == expected[i]);
}

TEST_CASE("totp: RFC 6238 appendix B SHA-1 vectors (8 digits)")
{
    struct test_vector {
        std::int64_t time;
        const char* code;
    };
    const test_vector vectors[] = {{59, "94287082"},         {1111111109, "07081804"}, {1111111111, "14050471"},
                                   {1234567890, "89005924"}, {2000000000, "69279037"}, {20000000000, "65353130"}};
    for (const auto& v : vectors) {
        CAPTURE(v.time);
        CHECK(hotp(rfc_secret, static_cast<std::uint64_t>(totp_step(v.time)), 8) == v.code);
    }
    CHECK(totp_step(59) == 1);
    CHECK(totp_step(1111111109) == 0x23523EC);
}

TEST_CASE("totp: a code matches within one step either side, only after the last used step")
{
    const std::int64_t now = totp_step(1234567890);
    const std::string code = hotp(rfc_secret, static_cast<std::uint64_t>(now));
    CHECK(totp_match(rfc_secret, code, now, 1, -1) == now);
    // Clock drift of one step either way.
    CHECK(totp_match(rfc_secret, code, now + 1, 1, -1) == now);
    CHECK(totp_match(rfc_secret, code, now - 1, 1, -1) == now);
    CHECK_FALSE(totp_match(rfc_secret, code, now + 2, 1, -1));
    CHECK_FALSE(totp_match(rfc_secret, code, now - 2, 1, -1));
    // Replay: the step (or a later one) was used.
    CHECK_FALSE(totp_match(rfc_secret, code, now, 1, now));
    CHECK(totp_match(rfc_secret, code, now, 1, now - 1) == now);
    CHECK_FALSE(totp_match(rfc_secret, "12345", now, 1, -1));
    CHECK_FALSE(totp_match(rfc_secret, "12345a", now, 1, -1));
}

TEST_CASE("totp: base32 round trip and RFC 4648 vectors")
{
    CHECK(base32_encode("") == "");
    CHECK(base32_encode("f") == "MY");
    CHECK(base32_encode("fo") == "MZXQ");
    CHECK(base32_encode("foo") == "MZXW6");
    CHECK(base32_encode("foob") == "MZXW6YQ");
    CHECK(base32_encode("fooba") == "MZXW6YTB");
    CHECK(base32_encode("foobar") == "MZXW6YTBOI");
    CHECK(base32_decode("MZXW6YTBOI======") == std::optional<std::string>("foobar"));
    CHECK(base32_decode("mzxw6ytboi") == std::optional<std::string>("foobar"));
    CHECK_FALSE(base32_decode("MZ1W"));
    CHECK(base32_encode(rfc_secret) == "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
}

TEST_CASE("totp: otpauth URI names issuer and account, percent-encoded")
{
    CHECK(otpauth_uri("Port Cullis", "ann@example.com", "ABC") ==
          "otpauth://totp/Port%20Cullis:ann%40example.com?secret=ABC&issuer=Port%20Cullis&algorithm=SHA1&digits=6"
          "&period=30");
}

TEST_CASE("totp: recovery codes have 60 bits and one canonical form")
{
    std::set<std::string> seen;
    for (int i = 0; i < 50; ++i) {
        std::string c = generate_recovery_code();
        CHECK(c.size() == 14);
        auto n = normalize_recovery_code(c);
        REQUIRE(n);
        CHECK(n->size() == 12);
        seen.insert(*n);
    }
    CHECK(seen.size() == 50);
    CHECK(normalize_recovery_code("ABCD-EFGH-2345") == std::optional<std::string>("abcdefgh2345"));
    CHECK(normalize_recovery_code(" abcd efgh 2345 ") == std::optional<std::string>("abcdefgh2345"));
    CHECK_FALSE(normalize_recovery_code("abcd-efgh-234"));
    CHECK_FALSE(normalize_recovery_code("abcd-efgh-2341"));
    CHECK_FALSE(normalize_recovery_code("123456"));
}
