#pragma once
// JSON Web Tokens (RFC 7519 / RFC 7515) signed with HS256, EdDSA (Ed25519) or ES256
// (P-256), verified strictly: exactly three base64url segments without padding, a
// header naming its key by `kid`, an algorithm equal to that key's own (every other
// value, `none` included, is refused), the signature checked before anything of the
// payload is parsed, and the claims iss/sub/iat/exp/jti/sid/typ (and aud when an
// audience is configured) all present and well typed.

#include "auth/crypto.hpp"
#include "core/error.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace portcullis::auth {

enum class token_type { access, refresh, reset };

// "access", "refresh" or "reset".
std::string_view to_string(token_type t) noexcept;
std::optional<token_type> parse_token_type(std::string_view s) noexcept;

// The JWS algorithms this service signs with.
enum class jws_alg { hs256, eddsa, es256 };
// "HS256", "EdDSA", "ES256" (the JWS names).
std::string_view to_string(jws_alg a) noexcept;
std::optional<jws_alg> parse_jws_alg(std::string_view s) noexcept;

struct claims {
    std::string iss;       // issuer; must equal jwt_settings::issuer
    std::string sub;       // user id
    std::int64_t iat = 0;  // issued at, Unix seconds
    std::int64_t exp = 0;  // expiry, Unix seconds
    std::string jti;       // unique token id (refresh blacklist, single-use reset)
    std::string sid;       // session id; may be empty only for reset tokens
    token_type typ = token_type::access;
    // Authentication methods (RFC 8176 `amr`) of access and refresh tokens: ["pwd"], or
    // ["pwd","otp"] when the session passed a second factor. Read back as true when the
    // token's amr names "otp".
    bool otp = false;
    // Refresh tokens: the session's refresh counter the token was issued at (`ctr`);
    // -1 when absent (a token issued before counters existed, or another type).
    std::int64_t ctr = -1;
    // The user's role (`role`: "user" or "admin") in access and refresh tokens; a token
    // without one (earlier versions) reads as "user".
    bool admin = false;
};

struct jwt_settings {
    std::string issuer = "portcullis";
    std::string audience{};               // when set, tokens carry `aud` and must name it
    std::chrono::seconds leeway{0};       // tolerated clock skew on exp and nbf
    std::size_t max_token_length = 4096;  // longer input is refused before any work
};

// One key of one JWS algorithm, named by its `kid`: an HMAC secret, or an Ed25519 or
// P-256 key (a private key signs and verifies, a public key only verifies).
// Immutable; copies share the prepared OpenSSL state, and every method is thread-safe.
class signing_key {
public:
    // HS256 under `secret` used as is. Its kid is derived from the secret through the
    // MAC itself ("hs-" + 16 characters), so it tells no more than any token does.
    static signing_key hs256(std::string_view secret);
    // A fresh key pair (EdDSA or ES256; std::invalid_argument for HS256).
    static signing_key generate(jws_alg alg);
    // An Ed25519 or P-256 key from PEM: a private key (PKCS#8 or SEC1) or a public one
    // (SubjectPublicKeyInfo). nullopt for anything else.
    static std::optional<signing_key> from_pem(std::string_view pem);

    jws_alg alg() const noexcept;
    // RFC 7638 thumbprint of the public JWK for EdDSA/ES256 keys.
    const std::string& kid() const noexcept;
    bool can_sign() const noexcept;
    // base64url of this key's header {"alg":…,"kid":…,"typ":"JWT"}.
    const std::string& header() const noexcept;

    // PEM texts (EdDSA/ES256 only; private_pem requires can_sign()).
    std::string public_pem() const;
    std::string private_pem() const;
    // The public JWK as a JSON object (kty, crv, x[, y], kid, alg, use); empty for HS256.
    std::string public_jwk() const;

    // The JWS signature of `input` (ES256: R‖S, 64 bytes). Throws std::logic_error
    // without a private part, std::runtime_error if OpenSSL fails.
    std::string sign(std::string_view input) const;
    // True when `signature` is this key's signature of `input` (constant time for HS256).
    bool verify(std::string_view input, std::string_view signature) const noexcept;

    struct state;

private:
    explicit signing_key(std::shared_ptr<const state> s) noexcept : s_(std::move(s)) {}
    std::shared_ptr<const state> s_;
};

// The keys a verifier accepts: its own, looked up by the `kid` of a token's header.
class key_lookup {
public:
    virtual ~key_lookup() = default;
    // The key named `kid`, or null. An empty `kid` (a header without one) names the key
    // that tokens of earlier versions carried, if this verifier accepts those.
    virtual const signing_key* find(std::string_view kid) const noexcept = 0;
};

// One HS256 key and the verification policy: the key of refresh and reset tokens
// (derive it with derive_secret_keys(SECRET_KEY).jwt), which only this service reads.
// Tokens without a `kid` (issued before keys had one) verify under it too.
class jwt_key final : public key_lookup {
public:
    explicit jwt_key(std::string_view secret, jwt_settings settings = {});

    const signing_key& key() const noexcept { return key_; }
    const jwt_settings& settings() const noexcept { return settings_; }
    const signing_key* find(std::string_view kid) const noexcept override;

private:
    signing_key key_;
    jwt_settings settings_;
};

// Signs `c` with `key` (header {"alg":…,"kid":…,"typ":"JWT"}); `c.iss` is used as
// given, and `aud` is added when `audience` is not empty.
std::string sign(const claims& c, const signing_key& key, std::string_view audience = {});
inline std::string sign(const claims& c, const jwt_key& key)
{
    return sign(c, key.key(), key.settings().audience);
}

// Verifies `token` for use as `expected` at time `now`, with a key of `keys`.
// errc::token_expired when the token is authentic and well formed but now >= exp +
// leeway; errc::invalid_token for anything else (bad syntax, unknown kid, algorithm,
// signature, issuer, audience, type, claims).
core::result<claims> verify(std::string_view token, const key_lookup& keys, const jwt_settings& settings,
                            token_type expected, std::chrono::system_clock::time_point now);
inline core::result<claims> verify(std::string_view token, const jwt_key& key, token_type expected,
                                   std::chrono::system_clock::time_point now)
{
    return verify(token, key, key.settings(), expected, now);
}

namespace detail {
// Low-level JWS check used by verify(): exactly three segments; a header that is a JSON
// object with `alg`, `typ` absent or "JWT", no `crit`, `jwk`, `jku`, `x5u`, `x5c`; the
// key found by `kid` in `keys`, whose algorithm must equal `alg`; its signature over
// "header.payload". On success returns the decoded payload bytes (not yet parsed), and
// sets `used` (when given) to the key. errc::invalid_token otherwise.
core::result<std::string> verify_jws(std::string_view token, const key_lookup& keys, std::size_t max_length = 4096,
                                     const signing_key** used = nullptr);
}  // namespace detail

}  // namespace portcullis::auth
