#pragma once
// Time-based one-time passwords (RFC 6238 over RFC 4226 HOTP, HMAC-SHA1), their base32
// secrets and otpauth URIs, and the recovery codes that stand in for a lost device.
// Pure functions: the caller supplies the time step and the randomness comes from the
// CSPRNG (core/random.hpp).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace portcullis::auth {

inline constexpr std::int64_t totp_period = 30;  // seconds per step
inline constexpr int totp_digits = 6;
inline constexpr std::size_t totp_secret_bytes = 20;  // 160 bits (RFC 4226 §4 recommends it)

// RFC 4226: the `digits`-digit code (zero-padded) of `counter` under the raw `secret`.
std::string hotp(std::string_view secret, std::uint64_t counter, int digits = totp_digits);

// RFC 6238: the time step of Unix time `unix_seconds` (T0 = 0, X = 30 s).
std::int64_t totp_step(std::int64_t unix_seconds) noexcept;

// True for exactly six ASCII digits.
bool is_totp_syntax(std::string_view code) noexcept;

// The step among now_step-window … now_step+window, all later than `after`, whose code is
// `code`; nullopt when none is (every candidate is compared, in constant time).
std::optional<std::int64_t> totp_match(std::string_view secret, std::string_view code, std::int64_t now_step,
                                       int window, std::int64_t after);

// RFC 4648 base32 (upper case, no padding), as authenticator apps take secrets.
std::string base32_encode(std::string_view bytes);
// Decodes base32 (either case, padding and spaces ignored); nullopt on other characters.
std::optional<std::string> base32_decode(std::string_view text);

// otpauth://totp/<issuer>:<account>?secret=…&issuer=…&algorithm=SHA1&digits=6&period=30
// (Key URI format), every part percent-encoded.
std::string otpauth_uri(std::string_view issuer, std::string_view account, std::string_view secret_base32);

// A new recovery code: 12 base32 characters (60 bits) shown as "xxxx-xxxx-xxxx".
std::string generate_recovery_code();
// The canonical form a recovery code is stored under: lower case, without '-' and spaces;
// nullopt unless 12 base32 characters remain.
std::optional<std::string> normalize_recovery_code(std::string_view code);

}  // namespace portcullis::auth
