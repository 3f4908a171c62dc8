#include "auth/otp.hpp"
#include "core/text.hpp"

#include <doctest/doctest.h>

#include <array>
#include <set>

using namespace portcullis::auth;

namespace {
std::string hex_of(const std::string& bytes)
{
    return portcullis::core::hex_encode(bytes);
}
}  // namespace

TEST_CASE("otp: six zero-padded digits, uniform from the CSPRNG")
{
    std::array<int, 10> leading{};
    std::set<std::string> seen;
    constexpr int samples = 20000;
    for (int i = 0; i < samples; ++i) {
        const std::string code = generate_otp();
        REQUIRE(code.size() == 6);
        REQUIRE(is_otp_syntax(code));
        ++leading[static_cast<std::size_t>(code[0] - '0')];
        seen.insert(code);
    }
    // Every leading digit, '0' included (zero padding), about 2000 times each; the
    // bounds are > 9 standard deviations wide, so a correct generator never fails.
    for (int n : leading) {
        CHECK(n > 1500);
        CHECK(n < 2500);
    }
    CHECK(seen.size() > 19000);  // ~19,800 distinct expected out of 10^6
}

TEST_CASE("otp: syntax check")
{
    CHECK(is_otp_syntax("000000"));
    CHECK(is_otp_syntax("123456"));
    for (const char* bad : {"", "12345", "1234567", "12a456", " 12345", "123456 ", "-12345", "+12345",
                            "\xef\xbc\x91\xef\xbc\x92\xef\xbc\x93\xef\xbc\x94\xef\xbc\x95\xef\xbc\x96"}) {
        CAPTURE(bad);
        CHECK_FALSE(is_otp_syntax(bad));
    }
}

TEST_CASE("otp: key derivation and digest match an independent computation")
{
    // Expected values computed with Python's hmac/hashlib (HKDF written out per RFC 5869):
    //   prk = HMAC(b'portcullis', ikm); okm = HMAC(prk, info + b'\x01')
    //   digest = HMAC(okm, b'verify_email\x00alice@example.com\x00012345').hexdigest()
    const std::string otp_key = derive_secret_keys("unit-test secret key").otp;
    CHECK(hex_of(otp_key) == "6ec5d17e28329bbce57027041eb37240d03d1a23467c41423582c93a58fc840d");
    CHECK(hex_of(derive_secret_keys("unit-test secret key").jwt) ==
          "da5af9ac763c375a4024838dd5e2a4b83902596117cfb1a219df6168383432cb");
    const hmac_key key(otp_key);
    CHECK(otp_digest(key, otp_purpose::verify_email, "alice@example.com", "012345") ==
          "462bc6a5d614f00e65b435b949900b73fcfd654af57783c29c4d098d726a8287");
}

TEST_CASE("otp: the digest is bound to purpose, address, code and key")
{
    const hmac_key key(derive_secret_keys("unit-test secret key").otp);
    const auto base = otp_digest(key, otp_purpose::verify_email, "alice@example.com", "012345");
    CHECK(base.size() == 64);
    CHECK(otp_digest(key, otp_purpose::verify_email, "Alice@Example.COM", "012345") == base);
    CHECK(otp_digest(key, otp_purpose::reset_password, "alice@example.com", "012345") != base);
    CHECK(otp_digest(key, otp_purpose::verify_email, "bob@example.com", "012345") != base);
    CHECK(otp_digest(key, otp_purpose::verify_email, "alice@example.com", "012346") != base);
    CHECK(otp_digest(hmac_key(derive_secret_keys("other secret").otp), otp_purpose::verify_email, "alice@example.com",
                     "012345") != base);
    // The separator keeps fields from sliding into each other.
    CHECK(otp_digest(key, otp_purpose::verify_email, "alice@example.com0", "12345") != base);

    CHECK(otp_digest_equal(base, otp_digest(key, otp_purpose::verify_email, "alice@example.com", "012345")));
    CHECK_FALSE(otp_digest_equal(base, otp_digest(key, otp_purpose::verify_email, "alice@example.com", "999999")));
    CHECK_FALSE(otp_digest_equal(base, base.substr(1)));
    CHECK(to_string(otp_purpose::verify_email) == "verify_email");
    CHECK(to_string(otp_purpose::reset_password) == "reset_password");
}
