#pragma once
// JSON Web Tokens signed with HS256 (RFC 7519 / RFC 7515), verified strictly:
// exactly three base64url segments without padding, a header whose `alg` is HS256
// (every other value, `none` included, is refused), an HMAC compared in constant
// time, and the claims iss/sub/iat/exp/jti/sid/typ all present and well typed.

#include "auth/crypto.hpp"
#include "core/error.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace portcullis::auth {

enum class token_type { access, refresh, reset };

// "access", "refresh" or "reset".
std::string_view to_string(token_type t) noexcept;
std::optional<token_type> parse_token_type(std::string_view s) noexcept;

struct claims {
    std::string iss;       // issuer; must equal jwt_settings::issuer
    std::string sub;       // user id
    std::int64_t iat = 0;  // issued at, Unix seconds
    std::int64_t exp = 0;  // expiry, Unix seconds
    std::string jti;       // unique token id (refresh blacklist, single-use reset)
    std::string sid;       // session id; may be empty only for reset tokens
    token_type typ = token_type::access;
};

struct jwt_settings {
    std::string issuer = "portcullis";
    std::chrono::seconds leeway{0};       // tolerated clock skew on exp
    std::size_t max_token_length = 4096;  // longer input is refused before any work
};

// The HS256 key (derive it with derive_secret_keys(SECRET_KEY).jwt) and the
// verification policy. Build once at start-up and share: it is immutable.
class jwt_key {
public:
    explicit jwt_key(std::string_view secret, jwt_settings settings = {});

    const hmac_key& mac() const noexcept { return mac_; }
    const jwt_settings& settings() const noexcept { return settings_; }

private:
    hmac_key mac_;
    jwt_settings settings_;
};

// Signs `c` (header {"alg":"HS256","typ":"JWT"}); `c.iss` is used as given.
std::string sign(const claims& c, const jwt_key& key);

// Verifies `token` for use as `expected` at time `now`. errc::token_expired when the
// token is authentic and well formed but now >= exp + leeway; errc::invalid_token
// for anything else (bad syntax, algorithm, signature, issuer, type, claims).
core::result<claims> verify(std::string_view token, const jwt_key& key, token_type expected,
                            std::chrono::system_clock::time_point now);

namespace detail {
// Low-level JWS check used by verify(): exactly three segments, header `alg` equal to
// HS256, header `typ` absent or "JWT", no `crit`, signature = HMAC-SHA256 over
// "header.payload" compared in constant time. On success returns the decoded payload
// bytes (not yet parsed). errc::invalid_token otherwise.
core::result<std::string> verify_hs256(std::string_view token, const hmac_key& key, std::size_t max_length = 4096);
}  // namespace detail

}  // namespace portcullis::auth
