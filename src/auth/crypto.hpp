#pragma once
// Small cryptographic building blocks on OpenSSL 3: SHA-256, HMAC-SHA256 with a
// prepared key, HKDF-SHA256 key derivation and constant-time comparison. Everything
// here is thread-safe; nothing here logs.

#include "core/text.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace portcullis::auth {

inline constexpr std::size_t sha256_size = 32;
using sha256_digest = std::array<unsigned char, sha256_size>;

// SHA-256 of `data`.
sha256_digest sha256(std::string_view data);

// An HMAC-SHA256 key prepared once (the OpenSSL context is keyed at construction),
// so each MAC costs only the hashing. Copyable handles share the prepared state.
class hmac_key {
public:
    explicit hmac_key(std::span<const unsigned char> key);
    explicit hmac_key(std::string_view key);

    // HMAC-SHA256(key, data). Throws std::runtime_error only if OpenSSL fails (a bug).
    sha256_digest mac(std::string_view data) const;
    // HMAC over the concatenation of `parts` (no separator is added).
    sha256_digest mac(std::initializer_list<std::string_view> parts) const;

private:
    struct state;
    std::shared_ptr<const state> state_;
};

// One-shot HMAC-SHA256.
sha256_digest hmac_sha256(std::span<const unsigned char> key, std::string_view data);

// HKDF-SHA256 (RFC 5869) via EVP_KDF: `out_len` bytes (at most 255*32) from `ikm`.
std::string hkdf_sha256(std::string_view ikm, std::string_view salt, std::string_view info, std::size_t out_len);

// Independent 32-byte subkeys derived from SECRET_KEY, one per use, so a key
// disclosed through one use (say an OTP digest) says nothing about the others.
// Derivation: HKDF-SHA256(ikm = SECRET_KEY, salt = "portcullis", info = "portcullis/v1/<use>").
struct secret_keys {
    std::string jwt;     // HS256 signing key for access/refresh/reset tokens
    std::string otp;     // HMAC key for stored one-time-code digests
    std::string csrf;    // HMAC key for double-submit CSRF tokens
    std::string cursor;  // HMAC key for opaque pagination cursors
};
secret_keys derive_secret_keys(std::string_view secret_key);
// Subkey for another use; `use` is a short stable label such as "jwt".
std::string derive_subkey(std::string_view secret_key, std::string_view use);

// Tokens, cursors and sealed secrets are base64url text (strict, canonical: core/text.hpp).
using core::base64url_decode;
using core::base64url_encode;

// True when a == b, in time that depends only on the lengths (CRYPTO_memcmp).
bool constant_time_equal(std::string_view a, std::string_view b) noexcept;

inline std::string_view as_string_view(const sha256_digest& d) noexcept
{
    return {reinterpret_cast<const char*>(d.data()), d.size()};
}

}  // namespace portcullis::auth
