#include "auth/crypto.hpp"

#include <doctest/doctest.h>

#include <stdexcept>

using namespace portcullis::auth;

namespace {
std::string hex(const sha256_digest& d)
{
    return portcullis::core::hex_encode(d);
}
std::string unhex(std::string_view h)
{
    std::string out;
    for (std::size_t i = 0; i + 1 < h.size(); i += 2)
        out += static_cast<char>(std::stoi(std::string(h.substr(i, 2)), nullptr, 16));
    return out;
}
}  // namespace

TEST_CASE("sha256: FIPS 180-2 example")
{
    CHECK(hex(sha256("abc")) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    CHECK(hex(sha256("")) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST_CASE("hmac_sha256: RFC 4231 test cases 1 and 2")
{
    const std::string key1(20, '\x0b');
    CHECK(hex(hmac_key(key1).mac("Hi There")) == "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    hmac_key jefe("Jefe");
    CHECK(hex(jefe.mac("what do ya want for nothing?")) ==
          "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    // Parts are concatenated; the prepared key is reusable.
    CHECK(hex(jefe.mac({"what do ya ", "want for nothing?"})) ==
          "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    // RFC 4231 test case 6: a key longer than the block size is hashed first.
    const std::string key6(131, '\xaa');
    CHECK(hex(hmac_key(key6).mac("Test Using Larger Than Block-Size Key - Hash Key First")) ==
          "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

TEST_CASE("hkdf_sha256: RFC 5869 test case 1")
{
    const std::string ikm(22, '\x0b');
    const std::string salt = unhex("000102030405060708090a0b0c");
    const std::string info = unhex("f0f1f2f3f4f5f6f7f8f9");
    const std::string okm = hkdf_sha256(ikm, salt, info, 42);
    CHECK(portcullis::core::hex_encode(okm) ==
          "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865");
}

TEST_CASE("derive_secret_keys: independent, deterministic 32-byte subkeys")
{
    const auto a = derive_secret_keys("a very secret key");
    const auto b = derive_secret_keys("a very secret key");
    const auto c = derive_secret_keys("another secret key");
    CHECK(a.jwt.size() == 32);
    CHECK(a.otp.size() == 32);
    CHECK(a.jwt == b.jwt);
    CHECK(a.otp == b.otp);
    CHECK(a.jwt != a.otp);
    CHECK(a.jwt != a.csrf);
    CHECK(a.otp != a.cursor);
    CHECK(a.jwt != c.jwt);
    CHECK(derive_subkey("a very secret key", "jwt") == a.jwt);
    CHECK_THROWS_AS(derive_secret_keys(""), std::invalid_argument);
}

TEST_CASE("constant_time_equal")
{
    CHECK(constant_time_equal("", ""));
    CHECK(constant_time_equal("abc", "abc"));
    CHECK_FALSE(constant_time_equal("abc", "abd"));
    CHECK_FALSE(constant_time_equal("abc", "abcd"));
}
