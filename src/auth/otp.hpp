#pragma once
// One-time codes for e-mail verification and password reset: 6 decimal digits
// drawn uniformly from the kernel CSPRNG. Only a keyed digest is ever stored
// (Redis); the digest binds the code to its purpose and to the address, so a code
// sent for one purpose or address is worthless for another.

#include "auth/crypto.hpp"

#include <string>
#include <string_view>

namespace portcullis::auth {

enum class otp_purpose { verify_email, reset_password };

// "verify_email" or "reset_password" (also usable in Redis key names).
std::string_view to_string(otp_purpose p) noexcept;

inline constexpr std::size_t otp_digits = 6;

// A fresh code: core::random_below(1'000'000), zero-padded to 6 digits.
std::string generate_otp();

// True when `code` is exactly 6 ASCII digits (check before looking anything up).
bool is_otp_syntax(std::string_view code) noexcept;

// Lower-case hex HMAC-SHA256(otp_key, purpose || 0x00 || lower(email) || 0x00 || code).
// otp_key: hmac_key(derive_secret_keys(SECRET_KEY).otp). ASCII case folding only: the
// address is expected already normalized by normalize_email().
std::string otp_digest(const hmac_key& otp_key, otp_purpose purpose, std::string_view email, std::string_view code);

// The same, also bound to `binding` (|| 0x00 || binding when not empty): a digest of the
// account state the code was sent for, so that a code stops working when that state
// changes (a later registration of the address, a new password).
std::string otp_digest(const hmac_key& otp_key, otp_purpose purpose, std::string_view email, std::string_view code,
                       std::string_view binding);

// Constant-time comparison of two digests (as text).
bool otp_digest_equal(std::string_view a, std::string_view b) noexcept;

}  // namespace portcullis::auth
