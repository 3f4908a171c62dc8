#include "auth/signing_keys.hpp"
#include "auth/jwt.hpp"
#include "auth/sealed.hpp"
#include "core/text.hpp"

#include <doctest/doctest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <chrono>

using namespace portcullis::auth;
using portcullis::core::base64_encode;
using portcullis::core::errc;
using std::chrono::seconds;
using std::chrono::system_clock;

namespace {

system_clock::time_point at(std::int64_t unix_seconds)
{
    return system_clock::time_point(seconds(unix_seconds));
}

claims sample()
{
    claims c;
    c.iss = "portcullis";
    c.sub = "42";
    c.iat = 1'700'000'000;
    c.exp = 1'700'000'900;
    c.jti = "j1";
    c.sid = "7";
    return c;
}

const std::string good_payload =
    R"({"iss":"portcullis","sub":"42","iat":1700000000,"exp":1700000900,"jti":"j1","sid":"7","typ":"access"})";

// A verifier holding exactly the given keys.
class keys_of final : public key_lookup {
public:
    keys_of(std::initializer_list<signing_key> k) : keys_(k) {}
    const signing_key* find(std::string_view kid) const noexcept override
    {
        for (const auto& k : keys_) {
            if (k.kid() == kid) return &k;
        }
        return nullptr;
    }

private:
    std::vector<signing_key> keys_;
};

std::string hmac_token(std::string_view header_json, std::string_view payload_json, std::string_view key)
{
    std::string token = base64url_encode(header_json) + "." + base64url_encode(payload_json);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(token.data()),
         token.size(), mac, &len);
    return token + "." + base64url_encode(std::string_view(reinterpret_cast<const char*>(mac), len));
}

std::string signed_with(const signing_key& k, std::string_view header_json, std::string_view payload_json)
{
    std::string token = base64url_encode(header_json) + "." + base64url_encode(payload_json);
    return token + "." + base64url_encode(k.sign(token));
}

errc error_of(const portcullis::core::result<claims>& r)
{
    REQUIRE_FALSE(r.has_value());
    return static_cast<errc>(r.error().value());
}

portcullis::store::signing_key_record record(std::string kid, std::int64_t signs_from, std::string alg = "EdDSA")
{
    portcullis::store::signing_key_record r;
    r.kid = std::move(kid);
    r.algorithm = std::move(alg);
    r.signs_from = at(signs_from);
    return r;
}

}  // namespace

TEST_CASE("keys: RFC 8037 Ed25519 public key gives the RFC 7638 thumbprint of RFC 8037 A.3 as kid")
{
    // SubjectPublicKeyInfo of x = 11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo (RFC 8037 A.2).
    std::string x;
    REQUIRE(base64url_decode("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", x));
    const std::string der = std::string("\x30\x2a\x30\x05\x06\x03\x2b\x65\x70\x03\x21\x00", 12) + x;
    const std::string pem = "-----BEGIN PUBLIC KEY-----\n" + base64_encode(der) + "\n-----END PUBLIC KEY-----\n";
    auto k = signing_key::from_pem(pem);
    REQUIRE(k.has_value());
    CHECK(k->alg() == jws_alg::eddsa);
    CHECK_FALSE(k->can_sign());
    CHECK(k->kid() == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
    CHECK(
        k->public_jwk() ==
        R"({"crv":"Ed25519","kty":"OKP","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k","alg":"EdDSA","use":"sig"})");
    CHECK_THROWS(k->sign("x"));
}

TEST_CASE("keys: EdDSA and ES256 sign, verify, survive PEM and sealing, and refuse foreign signatures")
{
    for (auto alg : {jws_alg::eddsa, jws_alg::es256}) {
        CAPTURE(to_string(alg));
        auto k = signing_key::generate(alg);
        CHECK(k.can_sign());
        const std::string sig = k.sign("header.payload");
        CHECK(sig.size() == 64);  // Ed25519, and R‖S of P-256
        CHECK(k.verify("header.payload", sig));
        CHECK_FALSE(k.verify("header.payloae", sig));

        // The private part round-trips through PEM and the SECRET_KEY-derived seal.
        const std::string seal_key(32, 's');
        auto pem = unseal(seal_key, seal(seal_key, k.private_pem()));
        REQUIRE(pem.has_value());
        auto back = signing_key::from_pem(*pem);
        REQUIRE(back.has_value());
        CHECK(back->kid() == k.kid());
        CHECK(back->alg() == alg);
        auto pub = signing_key::from_pem(k.public_pem());
        REQUIRE(pub.has_value());
        CHECK(pub->kid() == k.kid());
        CHECK(pub->verify("header.payload", back->sign("header.payload")));

        const auto other = signing_key::generate(alg);
        CHECK(other.kid() != k.kid());
        CHECK_FALSE(other.verify("header.payload", sig));

        // Whole tokens, with a verifier holding the public key only.
        const std::string token = sign(sample(), k, "api");
        keys_of verifier{*pub};
        jwt_settings s;
        s.audience = "api";
        auto c = verify(token, verifier, s, token_type::access, at(1'700'000'100));
        REQUIRE(c.has_value());
        CHECK(c->sub == "42");
        CHECK(error_of(verify(token, verifier, s, token_type::access, at(1'700'000'900))) == errc::token_expired);
        std::string flipped = token;
        flipped[flipped.size() - 5] = flipped[flipped.size() - 5] == 'A' ? 'B' : 'A';
        CHECK(error_of(verify(flipped, verifier, s, token_type::access, at(1'700'000'100))) == errc::invalid_token);
    }
    CHECK_FALSE(signing_key::from_pem("not a key").has_value());
    CHECK_THROWS(signing_key::generate(jws_alg::hs256));
}

TEST_CASE("keys attacks: kid, algorithm confusion, key-choosing headers, issuer and audience")
{
    const auto ed = signing_key::generate(jws_alg::eddsa);
    const auto es = signing_key::generate(jws_alg::es256);
    const auto pub = *signing_key::from_pem(ed.public_pem());
    keys_of verifier{pub, *signing_key::from_pem(es.public_pem())};
    jwt_settings s;
    const auto now = at(1'700'000'100);
    const std::string kid = ed.kid();

    // Positive control: the crafting helper makes tokens the verifier accepts.
    REQUIRE(verify(signed_with(ed, R"({"alg":"EdDSA","kid":")" + kid + R"(","typ":"JWT"})", good_payload), verifier, s,
                   token_type::access, now)
                .has_value());

    SUBCASE("unknown kid, missing kid, kid of another algorithm's key")
    {
        const auto stranger = signing_key::generate(jws_alg::eddsa);
        CHECK(error_of(verify(sign(sample(), stranger), verifier, s, token_type::access, now)) == errc::invalid_token);
        CHECK(error_of(verify(signed_with(ed, R"({"alg":"EdDSA","typ":"JWT"})", good_payload), verifier, s,
                              token_type::access, now)) == errc::invalid_token);
        CHECK(error_of(verify(signed_with(ed, R"({"alg":"EdDSA","kid":")" + es.kid() + "\"}", good_payload), verifier,
                              s, token_type::access, now)) == errc::invalid_token);
        CHECK(error_of(verify(signed_with(ed, R"({"alg":"EdDSA","kid":42})", good_payload), verifier, s,
                              token_type::access, now)) == errc::invalid_token);
    }
    SUBCASE("HS256 under the public key (PEM, DER-less raw and JWK text) with the key's kid")
    {
        std::string raw_x;
        REQUIRE(base64url_decode(pub.public_jwk().substr(pub.public_jwk().find("\"x\":\"") + 5, 43), raw_x));
        for (const std::string& secret : {pub.public_pem(), raw_x, pub.public_jwk()}) {
            const std::string token =
                hmac_token(R"({"alg":"HS256","kid":")" + kid + R"(","typ":"JWT"})", good_payload, secret);
            CHECK(error_of(verify(token, verifier, s, token_type::access, now)) == errc::invalid_token);
        }
    }
    SUBCASE("ES256 or none claimed for the EdDSA key")
    {
        CHECK(error_of(verify(signed_with(ed, R"({"alg":"ES256","kid":")" + kid + "\"}", good_payload), verifier, s,
                              token_type::access, now)) == errc::invalid_token);
        CHECK(error_of(verify(base64url_encode(R"({"alg":"none","kid":")" + kid + "\"}") + "." +
                                  base64url_encode(good_payload) + ".",
                              verifier, s, token_type::access, now)) == errc::invalid_token);
    }
    SUBCASE("jwk, jku, x5u, x5c, crit headers are refused even when the signature is right")
    {
        const std::string attacker_jwk = signing_key::generate(jws_alg::eddsa).public_jwk();
        for (const std::string& extra : {R"("jwk":)" + attacker_jwk, std::string(R"("jku":"https://evil.example/k")"),
                                         std::string(R"("x5u":"https://evil.example/c")"),
                                         std::string(R"("x5c":["MIIB"])"), std::string(R"("crit":["exp"])")}) {
            CAPTURE(extra);
            const std::string header = R"({"alg":"EdDSA","kid":")" + kid + R"(",)" + extra + "}";
            CHECK(error_of(verify(signed_with(ed, header, good_payload), verifier, s, token_type::access, now)) ==
                  errc::invalid_token);
        }
    }
    SUBCASE("another issuer, another or no audience")
    {
        claims other = sample();
        other.iss = "https://elsewhere.example";
        CHECK(error_of(verify(sign(other, ed), verifier, s, token_type::access, now)) == errc::invalid_token);
        jwt_settings with_aud;
        with_aud.audience = "orders";
        CHECK(verify(sign(sample(), ed, "orders"), verifier, with_aud, token_type::access, now).has_value());
        CHECK(error_of(verify(sign(sample(), ed, "billing"), verifier, with_aud, token_type::access, now)) ==
              errc::invalid_token);
        CHECK(error_of(verify(sign(sample(), ed), verifier, with_aud, token_type::access, now)) == errc::invalid_token);
        const std::string both = R"({"iss":"portcullis","aud":["billing","orders"],"sub":"42","iat":1700000000,)"
                                 R"("exp":1700000900,"jti":"j1","sid":"7","typ":"access"})";
        CHECK(verify(signed_with(ed, R"({"alg":"EdDSA","kid":")" + kid + "\"}", both), verifier, with_aud,
                     token_type::access, now)
                  .has_value());
    }
}

TEST_CASE("rotation: states, acceptance windows and when the next key is due")
{
    rotation_policy p;
    p.algorithm = jws_alg::eddsa;
    p.rotation = seconds(1000);
    p.publish_ahead = seconds(100);
    p.access_lifetime = seconds(60);
    p.refresh_interval = seconds(5);  // grace = 60 + 2*5 = 70

    std::vector<portcullis::store::signing_key_record> keys = {record("a", 0), record("b", 1000)};
    auto st = classify(keys, p, at(500));
    CHECK(st[0].state == key_state::active);
    CHECK(st[1].state == key_state::pending);
    st = classify(keys, p, at(1000));
    CHECK(st[0].state == key_state::previous);
    CHECK(st[0].accepted_until == at(1070));
    CHECK(st[1].state == key_state::active);
    CHECK(classify(keys, p, at(1069))[0].state == key_state::previous);
    CHECK(classify(keys, p, at(1070))[0].state == key_state::expired);

    // A retired key is out at once and does not supersede anything.
    keys[1].retired_at = at(1010);
    st = classify(keys, p, at(1020));
    CHECK(st[1].state == key_state::retired);
    CHECK(st[0].state == key_state::active);
    keys[1].retired_at.reset();

    // Keys of another algorithm do not supersede each other.
    keys.push_back(record("z", 1500, "ES256"));
    CHECK(classify(keys, p, at(1600))[1].state == key_state::active);
    CHECK(classify(keys, p, at(1600))[2].state == key_state::active);

    // Due: the first key at once; the next one publish_ahead before the rotation time.
    CHECK(next_rotation({}, p, at(5))->signs_from == at(5));
    CHECK(next_rotation({}, p, at(5))->newest.empty());
    CHECK_FALSE(next_rotation(keys, p, at(1500)).has_value());  // b took over at 1000; next due at 1900
    auto due = next_rotation(keys, p, at(1900));
    REQUIRE(due.has_value());
    CHECK(due->signs_from == at(2000));
    CHECK(due->newest == "b");
    // Late (the instances were down): still published ahead.
    CHECK(next_rotation(keys, p, at(5000))->signs_from == at(5100));
    // A pending key is already there: nothing more.
    keys.push_back(record("c", 2000));
    CHECK_FALSE(next_rotation(keys, p, at(1950)).has_value());
    p.rotation = seconds(0);
    CHECK_FALSE(next_rotation({record("a", 0)}, p, at(100000)).has_value());
    p.algorithm = jws_alg::hs256;
    CHECK_FALSE(next_rotation({}, p, at(5)).has_value());
}

TEST_CASE("key ring: signs with the key whose time has come, verifies within each key's window, JWKS")
{
    const auto a = signing_key::generate(jws_alg::eddsa);
    const auto b = signing_key::generate(jws_alg::eddsa);
    const auto hs = signing_key::hs256("internal secret internal secret!");
    jwt_settings s;
    key_ring ring(s, key_snapshot{{ring_entry{hs, {}, std::nullopt, false, true},
                                   ring_entry{a, at(0), at(1'700'000'500), true, false},
                                   ring_entry{b, at(1'700'000'200), std::nullopt, true, false}}});
    auto kid_of = [](const std::string& token) {
        std::string header;
        REQUIRE(base64url_decode(token.substr(0, token.find('.')), header));
        return header;
    };
    const std::string by_a = ring.sign(sample(), at(1'700'000'100));
    const std::string by_b = ring.sign(sample(), at(1'700'000'200));
    CHECK(kid_of(by_a).find(a.kid()) != std::string::npos);
    CHECK(kid_of(by_b).find(b.kid()) != std::string::npos);

    CHECK(ring.verify(by_a, token_type::access, at(1'700'000'300)).has_value());
    // Second call: served by the per-thread cache, with the same checks.
    CHECK(ring.verify(by_a, token_type::access, at(1'700'000'301)).has_value());
    CHECK(error_of(ring.verify(by_a, token_type::refresh, at(1'700'000'301))) == errc::invalid_token);
    // After a's window, its tokens are refused, cached or not.
    CHECK(error_of(ring.verify(by_a, token_type::access, at(1'700'000'500))) == errc::invalid_token);
    CHECK(ring.verify(by_b, token_type::access, at(1'700'000'500)).has_value());
    CHECK(error_of(ring.verify(by_b, token_type::access, at(1'700'000'900))) == errc::token_expired);

    // The legacy HMAC key still verifies tokens without a kid, but is never published.
    const std::string legacy =
        hmac_token(R"({"alg":"HS256","typ":"JWT"})", good_payload, "internal secret internal secret!");
    CHECK(ring.verify(legacy, token_type::access, at(1'700'000'100)).has_value());
    const std::string jwks = ring.jwks(at(1'700'000'100));
    CHECK(jwks.find(a.kid()) != std::string::npos);
    CHECK(jwks.find(b.kid()) != std::string::npos);
    CHECK(jwks.find(hs.kid()) == std::string::npos);
    CHECK(jwks.find("\"d\"") == std::string::npos);
    CHECK(ring.jwks(at(1'700'000'500)).find(a.kid()) == std::string::npos);

    // A new snapshot without b (retired): its cached tokens are refused at once.
    CHECK(ring.verify(by_b, token_type::access, at(1'700'000'400)).has_value());
    ring.publish(key_snapshot{{ring_entry{a, at(0), std::nullopt, true, false}}});
    CHECK(error_of(ring.verify(by_b, token_type::access, at(1'700'000'400))) == errc::invalid_token);
    CHECK(ring.jwks(at(1'700'000'400)).find(b.kid()) == std::string::npos);

    key_ring none(s, key_snapshot{{ring_entry{b, at(1'700'000'200), std::nullopt, true, false}}});
    CHECK_THROWS(none.sign(sample(), at(1'700'000'100)));
}
