#pragma once
// Small cryptographic building blocks on OpenSSL 3: SHA-256, HMAC-SHA256 with a
// prepared key, HKDF-SHA256 key derivation, base64/base64url and constant-time
// comparison. Everything here is thread-safe; nothing here logs.

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

// Base64url without padding (RFC 4648 §5), as JWS uses it.
std::string base64url_encode(std::string_view bytes);
void base64url_encode_append(std::string& out, std::string_view bytes);
// Strict decoding: alphabet A-Z a-z 0-9 - _ only, no padding, no whitespace, and
// unused trailing bits must be zero (one canonical text per value). Returns false
// on any violation; `out` is overwritten.
bool base64url_decode(std::string_view text, std::string& out);
// Same into a caller buffer; returns the decoded length or -1 (also when it does not fit).
std::ptrdiff_t base64url_decode(std::string_view text, std::span<char> out) noexcept;

// Standard base64 with padding (RFC 4648 §4), as Django stores PBKDF2 hashes.
std::string base64_encode(std::string_view bytes);
bool base64_decode(std::string_view text, std::string& out);

// True when a == b, in time that depends only on the lengths (CRYPTO_memcmp).
bool constant_time_equal(std::string_view a, std::string_view b) noexcept;

// Lower-case hex of `bytes`.
std::string to_hex(std::span<const unsigned char> bytes);

inline std::string_view as_string_view(const sha256_digest& d) noexcept
{
    return {reinterpret_cast<const char*>(d.data()), d.size()};
}

}  // namespace portcullis::auth
