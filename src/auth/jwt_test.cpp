#include "auth/jwt.hpp"

#include <doctest/doctest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <chrono>

using namespace portcullis::auth;
using portcullis::core::errc;
using std::chrono::seconds;
using std::chrono::system_clock;

namespace {

const std::string secret = derive_secret_keys("unit-test secret key").jwt;

system_clock::time_point at(std::int64_t unix_seconds)
{
    return system_clock::time_point(seconds(unix_seconds));
}

claims sample(token_type typ = token_type::access)
{
    claims c;
    c.iss = "portcullis";
    c.sub = "42";
    c.iat = 1'700'000'000;
    c.exp = 1'700'000'900;
    c.jti = "k3J8wq0LbV9yXn2TfP4sRg";
    c.sid = "7";
    c.typ = typ;
    return c;
}

// Builds header.payload.signature with any HMAC digest, to forge what an attacker
// (or a misconfigured peer) might send.
std::string craft(std::string_view header_json, std::string_view payload_json, std::string_view key,
                  const EVP_MD* md = EVP_sha256())
{
    std::string token = base64url_encode(header_json) + "." + base64url_encode(payload_json);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(md, key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(token.data()),
         token.size(), mac, &len);
    return token + "." + base64url_encode(std::string_view(reinterpret_cast<const char*>(mac), len));
}

const std::string good_payload =
    R"({"iss":"portcullis","sub":"42","iat":1700000000,"exp":1700000900,"jti":"j1","sid":"7","typ":"access"})";

errc error_of(const portcullis::core::result<claims>& r)
{
    REQUIRE_FALSE(r.has_value());
    return static_cast<errc>(r.error().value());
}

}  // namespace

TEST_CASE("jwt: RFC 7515 appendix A.1 HS256 example verifies with its JWK key")
{
    // JWK "k" of the example, base64url.
    std::string key;
    REQUIRE(base64url_decode("AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow",
                             key));
    const std::string token =
        "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9"
        ".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
        ".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    auto payload = detail::verify_jws(token, jwt_key(key));
    REQUIRE(payload.has_value());
    CHECK(*payload == "{\"iss\":\"joe\",\r\n \"exp\":1300819380,\r\n \"http://example.com/is_root\":true}");

    // One flipped signature character, or another key, and it no longer verifies.
    std::string bad = token;
    bad.back() = bad.back() == 'k' ? 'j' : 'k';
    CHECK_FALSE(detail::verify_jws(bad, jwt_key(key)).has_value());
    CHECK_FALSE(detail::verify_jws(token, jwt_key(secret)).has_value());

    // It lacks our claims (typ, sub, jti, sid, our issuer): the full check refuses it.
    jwt_key k(key, {.issuer = "joe"});
    CHECK(error_of(verify(token, k, token_type::access, at(1300819000))) == errc::invalid_token);
}

TEST_CASE("jwt: sign then verify round trip")
{
    jwt_key key(secret);
    const claims c = sample();
    const std::string token = sign(c, key);
    CHECK(token.starts_with(key.key().header() + "."));
    std::string header;
    REQUIRE(base64url_decode(token.substr(0, token.find('.')), header));
    CHECK(header == R"({"alg":"HS256","kid":")" + key.key().kid() + R"(","typ":"JWT"})");
    CHECK(key.key().kid().starts_with("hs-"));
    CHECK(key.key().kid() != jwt_key("another secret").key().kid());
    CHECK(std::count(token.begin(), token.end(), '.') == 2);
    CHECK(token.find('=') == std::string::npos);

    auto r = verify(token, key, token_type::access, at(c.iat + 10));
    REQUIRE(r.has_value());
    CHECK(r->iss == c.iss);
    CHECK(r->sub == c.sub);
    CHECK(r->iat == c.iat);
    CHECK(r->exp == c.exp);
    CHECK(r->jti == c.jti);
    CHECK(r->sid == c.sid);
    CHECK(r->typ == token_type::access);

    // Strings with characters that need JSON escaping survive.
    claims odd = sample(token_type::refresh);
    odd.sub = "user \"quoted\" \\ \n";
    auto r2 = verify(sign(odd, key), key, token_type::refresh, at(odd.iat));
    REQUIRE(r2.has_value());
    CHECK(r2->sub == odd.sub);

    // Reset tokens need no session.
    claims reset = sample(token_type::reset);
    reset.sid.clear();
    CHECK(verify(sign(reset, key), key, token_type::reset, at(reset.iat)).has_value());
}

TEST_CASE("jwt: amr says pwd, or pwd and otp; a malformed amr is refused")
{
    jwt_key key(secret);
    claims c = sample();
    auto plain = verify(sign(c, key), key, token_type::access, at(c.iat));
    REQUIRE(plain.has_value());
    CHECK_FALSE(plain->otp);
    std::string payload;
    const std::string token = sign(c, key);
    auto first = token.find('.');
    REQUIRE(base64url_decode(token.substr(first + 1, token.rfind('.') - first - 1), payload));
    CHECK(payload.find(R"("amr":["pwd"])") != std::string::npos);

    c.otp = true;
    claims r = sample(token_type::refresh);
    r.otp = true;
    auto both = verify(sign(c, key), key, token_type::access, at(c.iat));
    REQUIRE(both.has_value());
    CHECK(both->otp);
    auto refresh = verify(sign(r, key), key, token_type::refresh, at(r.iat));
    REQUIRE(refresh.has_value());
    CHECK(refresh->otp);

    const std::string good =
        R"({"iss":"portcullis","sub":"42","iat":1700000000,"exp":1700000900,"jti":"j1","sid":"7","amr":["pwd","otp"],"typ":"access"})";
    const std::string bad_amr =
        R"({"iss":"portcullis","sub":"42","iat":1700000000,"exp":1700000900,"jti":"j1","sid":"7","amr":"otp","typ":"access"})";
    const std::string header = R"({"alg":"HS256","typ":"JWT"})";
    auto crafted = verify(craft(header, good, secret), key, token_type::access, at(1700000000));
    REQUIRE(crafted.has_value());
    CHECK(crafted->otp);
    CHECK(error_of(verify(craft(header, bad_amr, secret), key, token_type::access, at(1700000000))) ==
          errc::invalid_token);
}

TEST_CASE("jwt: the role claim says user or admin; a token without one is a user's; a malformed one is refused")
{
    jwt_key key(secret);
    claims c = sample();
    std::string payload;
    const std::string token = sign(c, key);
    auto first = token.find('.');
    REQUIRE(base64url_decode(token.substr(first + 1, token.rfind('.') - first - 1), payload));
    CHECK(payload.find(R"("role":"user")") != std::string::npos);
    auto plain = verify(token, key, token_type::access, at(c.iat));
    REQUIRE(plain.has_value());
    CHECK_FALSE(plain->admin);

    c.admin = true;
    auto admin = verify(sign(c, key), key, token_type::access, at(c.iat));
    REQUIRE(admin.has_value());
    CHECK(admin->admin);
    claims r = sample(token_type::refresh);
    r.admin = true;
    auto refresh = verify(sign(r, key), key, token_type::refresh, at(r.iat));
    REQUIRE(refresh.has_value());
    CHECK(refresh->admin);

    const std::string header = R"({"alg":"HS256","typ":"JWT"})";
    const std::string older =
        R"({"iss":"portcullis","sub":"42","iat":1700000000,"exp":1700000900,"jti":"j1","sid":"7","typ":"access"})";
    auto earlier = verify(craft(header, older, secret), key, token_type::access, at(1700000000));
    REQUIRE(earlier.has_value());
    CHECK_FALSE(earlier->admin);
    const std::string bad_role =
        R"({"iss":"portcullis","sub":"42","iat":1700000000,"exp":1700000900,"jti":"j1","sid":"7","role":true,"typ":"access"})";
    CHECK(error_of(verify(craft(header, bad_role, secret), key, token_type::access, at(1700000000))) ==
          errc::invalid_token);
}

TEST_CASE("jwt: expiry against the injected time, with optional leeway")
{
    jwt_key key(secret);
    const claims c = sample();
    const std::string token = sign(c, key);
    CHECK(verify(token, key, token_type::access, at(c.exp - 1)).has_value());
    CHECK(error_of(verify(token, key, token_type::access, at(c.exp))) == errc::token_expired);
    CHECK(error_of(verify(token, key, token_type::access, at(c.exp + 3600))) == errc::token_expired);

    jwt_key lenient(secret, {.leeway = seconds(30)});
    CHECK(verify(token, lenient, token_type::access, at(c.exp + 29)).has_value());
    CHECK(error_of(verify(token, lenient, token_type::access, at(c.exp + 30))) == errc::token_expired);

    // An expired token that is also forged is invalid, not expired.
    std::string forged = token;
    forged[forged.size() - 2] = forged[forged.size() - 2] == 'A' ? 'B' : 'A';
    CHECK(error_of(verify(forged, key, token_type::access, at(c.exp + 10))) == errc::invalid_token);
}

TEST_CASE("jwt attacks: algorithm confusion")
{
    jwt_key key(secret);
    const auto now = at(1'700'000'100);

    SUBCASE("alg none with an empty signature")
    {
        const std::string token =
            base64url_encode(R"({"alg":"none","typ":"JWT"})") + "." + base64url_encode(good_payload) + ".";
        CHECK(error_of(verify(token, key, token_type::access, now)) == errc::invalid_token);
        // ... and without the trailing dot.
        CHECK(error_of(verify(token.substr(0, token.size() - 1), key, token_type::access, now)) == errc::invalid_token);
    }
    SUBCASE("alg none even when the MAC happens to be right")
    {
        const std::string token = craft(R"({"alg":"none","typ":"JWT"})", good_payload, secret);
        CHECK(error_of(verify(token, key, token_type::access, now)) == errc::invalid_token);
        CHECK(error_of(verify(craft(R"({"alg":"None"})", good_payload, secret), key, token_type::access, now)) ==
              errc::invalid_token);
    }
    SUBCASE("HS512 and HS384 signed with the right key")
    {
        CHECK(error_of(verify(craft(R"({"alg":"HS512","typ":"JWT"})", good_payload, secret, EVP_sha512()), key,
                              token_type::access, now)) == errc::invalid_token);
        CHECK(error_of(verify(craft(R"({"alg":"HS384","typ":"JWT"})", good_payload, secret, EVP_sha384()), key,
                              token_type::access, now)) == errc::invalid_token);
    }
    SUBCASE("other algorithms in the header over a valid HS256 MAC")
    {
        for (const char* alg : {"HS512", "HS384", "RS256", "ES256", "PS256", "EdDSA", "hs256", ""}) {
            const std::string header = std::string(R"({"alg":")") + alg + R"(","typ":"JWT"})";
            CAPTURE(alg);
            CHECK(error_of(verify(craft(header, good_payload, secret), key, token_type::access, now)) ==
                  errc::invalid_token);
        }
        CHECK(error_of(verify(craft(R"({"typ":"JWT"})", good_payload, secret), key, token_type::access, now)) ==
              errc::invalid_token);
        CHECK(error_of(verify(craft(R"({"alg":["HS256"]})", good_payload, secret), key, token_type::access, now)) ==
              errc::invalid_token);
    }
    SUBCASE("header switched on a genuine token")
    {
        const std::string token = sign(sample(), key);
        const std::string rest = token.substr(token.find('.'));
        for (const char* header : {R"({"alg":"HS512","typ":"JWT"})", R"({"alg":"none","typ":"JWT"})",
                                   R"({"alg":"HS256","typ":"JWT","kid":"x"})"}) {
            CAPTURE(header);
            CHECK(error_of(verify(base64url_encode(header) + rest, key, token_type::access, now)) ==
                  errc::invalid_token);
        }
    }
    SUBCASE("an otherwise fine header is accepted only with typ JWT or none, and no crit")
    {
        CHECK(verify(craft(R"({"alg":"HS256"})", good_payload, secret), key, token_type::access, now).has_value());
        CHECK(verify(craft(R"({"typ":"JWT","alg":"HS256","kid":")" + key.key().kid() + "\"}", good_payload, secret),
                     key, token_type::access, now)
                  .has_value());
        CHECK_FALSE(verify(craft(R"({"typ":"JWT","alg":"HS256","kid":"1"})", good_payload, secret), key,
                           token_type::access, now)
                        .has_value());
        CHECK_FALSE(
            verify(craft(R"({"typ":"JWT","alg":"HS256","kid":""})", good_payload, secret), key, token_type::access, now)
                .has_value());
        CHECK_FALSE(
            verify(craft(R"({"alg":"HS256","typ":"at+jwt"})", good_payload, secret), key, token_type::access, now)
                .has_value());
        CHECK_FALSE(
            verify(craft(R"({"alg":"HS256","crit":["exp"]})", good_payload, secret), key, token_type::access, now)
                .has_value());
        CHECK_FALSE(verify(craft(R"(["HS256"])", good_payload, secret), key, token_type::access, now).has_value());
        CHECK_FALSE(verify(craft("not json", good_payload, secret), key, token_type::access, now).has_value());
    }
}

TEST_CASE("jwt attacks: tampering and malformed tokens")
{
    jwt_key key(secret);
    const claims c = sample();
    const std::string token = sign(c, key);
    const auto now = at(c.iat + 1);
    const auto d1 = token.find('.');
    const auto d2 = token.find('.', d1 + 1);

    SUBCASE("tampered payload")
    {
        claims other = c;
        other.sub = "1";
        const std::string other_token = sign(other, jwt_key("some other key"));
        const std::string spliced =
            token.substr(0, d1 + 1) + other_token.substr(d1 + 1, other_token.rfind('.') - d1 - 1) + token.substr(d2);
        CHECK(error_of(verify(spliced, key, token_type::access, now)) == errc::invalid_token);
        std::string flipped = token;
        flipped[d1 + 5] = flipped[d1 + 5] == 'a' ? 'b' : 'a';
        CHECK(error_of(verify(flipped, key, token_type::access, now)) == errc::invalid_token);
    }
    SUBCASE("truncated or extended signature")
    {
        CHECK(error_of(verify(token.substr(0, token.size() - 1), key, token_type::access, now)) == errc::invalid_token);
        CHECK(error_of(verify(token.substr(0, d2 + 1), key, token_type::access, now)) == errc::invalid_token);
        CHECK(error_of(verify(token + "A", key, token_type::access, now)) == errc::invalid_token);
    }
    SUBCASE("segments")
    {
        CHECK(error_of(verify(token + ".", key, token_type::access, now)) == errc::invalid_token);
        CHECK(error_of(verify(token + ".e30", key, token_type::access, now)) == errc::invalid_token);
        CHECK(error_of(verify(token.substr(0, d2), key, token_type::access, now)) == errc::invalid_token);
        CHECK(error_of(verify("." + token.substr(d1 + 1), key, token_type::access, now)) == errc::invalid_token);
        CHECK(error_of(verify("", key, token_type::access, now)) == errc::invalid_token);
        CHECK(error_of(verify("..", key, token_type::access, now)) == errc::invalid_token);
    }
    SUBCASE("padding and foreign characters")
    {
        CHECK(error_of(verify(token + "=", key, token_type::access, now)) == errc::invalid_token);
        std::string padded = token;
        padded.insert(d2, "==");
        CHECK(error_of(verify(padded, key, token_type::access, now)) == errc::invalid_token);
        std::string spaced = token;
        spaced.insert(d1 + 1, " ");
        CHECK(error_of(verify(spaced, key, token_type::access, now)) == errc::invalid_token);
        std::string plus = token;
        for (auto& ch : plus) {
            if (ch == '-') ch = '+';
            if (ch == '_') ch = '/';
        }
        if (plus != token) CHECK(error_of(verify(plus, key, token_type::access, now)) == errc::invalid_token);
    }
    SUBCASE("oversized input is refused")
    {
        CHECK(error_of(verify(std::string(5000, 'a'), key, token_type::access, now)) == errc::invalid_token);
    }
}

TEST_CASE("jwt: claims must fit the use")
{
    jwt_key key(secret);
    const claims c = sample();
    const auto now = at(c.iat + 1);

    SUBCASE("refresh token where an access token is expected, and the reverse")
    {
        CHECK(error_of(verify(sign(sample(token_type::refresh), key), key, token_type::access, now)) ==
              errc::invalid_token);
        CHECK(error_of(verify(sign(sample(token_type::access), key), key, token_type::refresh, now)) ==
              errc::invalid_token);
        CHECK(error_of(verify(sign(sample(token_type::reset), key), key, token_type::access, now)) ==
              errc::invalid_token);
    }
    SUBCASE("wrong issuer, wrong key")
    {
        claims other = c;
        other.iss = "evil";
        CHECK(error_of(verify(sign(other, key), key, token_type::access, now)) == errc::invalid_token);
        CHECK(error_of(verify(sign(c, jwt_key("wrong")), key, token_type::access, now)) == errc::invalid_token);
        jwt_key other_issuer(secret, {.issuer = "someone-else"});
        CHECK(error_of(verify(sign(c, key), other_issuer, token_type::access, now)) == errc::invalid_token);
    }
    SUBCASE("missing or ill-typed claims, each signed with the right key")
    {
        const char* payloads[] = {
            R"({"sub":"42","iat":1700000000,"exp":1700000900,"jti":"j","sid":"7","typ":"access"})",
            R"({"iss":"portcullis","iat":1700000000,"exp":1700000900,"jti":"j","sid":"7","typ":"access"})",
            R"({"iss":"portcullis","sub":"42","exp":1700000900,"jti":"j","sid":"7","typ":"access"})",
            R"({"iss":"portcullis","sub":"42","iat":1700000000,"jti":"j","sid":"7","typ":"access"})",
            R"({"iss":"portcullis","sub":"42","iat":1700000000,"exp":1700000900,"sid":"7","typ":"access"})",
            R"({"iss":"portcullis","sub":"42","iat":1700000000,"exp":1700000900,"jti":"j","typ":"access"})",
            R"({"iss":"portcullis","sub":"42","iat":1700000000,"exp":1700000900,"jti":"j","sid":"7"})",
            R"({"iss":"portcullis","sub":42,"iat":1700000000,"exp":1700000900,"jti":"j","sid":"7","typ":"access"})",
            R"({"iss":"portcullis","sub":"42","iat":1700000000,"exp":"1700000900","jti":"j","sid":"7","typ":"access"})",
            R"({"iss":"portcullis","sub":"42","iat":1700000000,"exp":1700000900.5,"jti":"j","sid":"7","typ":"access"})",
            R"({"iss":"portcullis","sub":"42","iat":1700000000,"exp":18446744073709551615,"jti":"j","sid":"7","typ":"access"})",
            R"({"iss":"portcullis","sub":"","iat":1700000000,"exp":1700000900,"jti":"j","sid":"7","typ":"access"})",
            R"({"iss":"portcullis","sub":"42","iat":1700000000,"exp":1700000900,"jti":"","sid":"7","typ":"access"})",
            R"({"iss":"portcullis","sub":"42","iat":1700000000,"exp":1700000900,"jti":"j","sid":"","typ":"access"})",
            R"({"iss":"portcullis","sub":"42","iat":1700000000,"exp":1700000900,"jti":"j","sid":"7","typ":"ACCESS"})",
            R"({"iss":"portcullis","sub":"42","iat":1700000000,"exp":1700000900,"jti":"j","sid":"7","typ":"id"})",
            R"({"iss":"portcullis","sub":"42","iat":1700000901,"exp":1700000900,"jti":"j","sid":"7","typ":"access"})",
            R"({"iss":"portcullis","sub":"42","iat":1700000000,"exp":1700000900,"nbf":1700000500,"jti":"j","sid":"7","typ":"access"})",
            R"(["portcullis"])",
            R"({"iss":"portcullis",)",
            "",
        };
        for (const char* p : payloads) {
            CAPTURE(p);
            CHECK(error_of(verify(craft(R"({"alg":"HS256","typ":"JWT"})", p, secret), key, token_type::access, now)) ==
                  errc::invalid_token);
        }
        // The same shape with everything right is accepted (the crafting itself is sound).
        CHECK(verify(craft(R"({"alg":"HS256","typ":"JWT"})", good_payload, secret), key, token_type::access, now)
                  .has_value());
    }
}

TEST_CASE("jwt: verify cost (informational)")
{
    jwt_key key(secret);
    const claims c = sample();
    const std::string token = sign(c, key);
    constexpr int rounds = 20000;
    const auto start = std::chrono::steady_clock::now();
    int ok = 0;
    for (int i = 0; i < rounds; ++i) ok += verify(token, key, token_type::access, at(c.iat)).has_value() ? 1 : 0;
    const double us =
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count() / rounds;
    CHECK(ok == rounds);
    MESSAGE("jwt verify: " << us << " us per token (this build type)");
}
