#pragma once
// Portcullis error codes. Expected domain outcomes and infrastructure failures are
// both boost::system::error_code values of one category; every infrastructure code
// is equivalent to condition::unavailable, which the HTTP layer answers with 503.
// The mapping to HTTP status and contract codes lives in src/net only.

#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

#include <string_view>
#include <type_traits>

namespace portcullis::core {

enum class errc {
    // Infrastructure: all belong to condition::unavailable.
    db_unavailable = 1,  // PostgreSQL cannot be reached or the connection broke
    redis_unavailable,   // Redis cannot be reached or the connection broke
    timeout,             // a deadline elapsed before the operation finished
    pool_exhausted,      // no pooled connection became free within the wait bound
    overloaded,          // a bounded queue (hash pool, pending replies) is full
    smtp_unavailable,    // SMTP server unreachable or answered 4xx
    dependency_failed,   // an external checker (DNS, Mailboxlayer) failed

    // Domain outcomes (values, not exceptions).
    validation_failed = 100,
    malformed_json,
    invalid_otp,
    otp_expired,
    password_mismatch,
    not_authenticated,
    invalid_token,
    token_expired,
    token_revoked,
    token_reused,
    invalid_credentials,
    forbidden,
    email_not_verified,
    not_found,
    email_taken,
    username_taken,
    already_verified,
    rate_limited,
    smtp_rejected,  // permanent 5xx from an SMTP server
    csrf_failed,
    internal,  // a bug; answered as a generic 500
    // Multi-factor authentication.
    invalid_code,         // a wrong TOTP or recovery code
    mfa_token_invalid,    // the mfa_token is unknown, used, expired, spent or no longer bound
    mfa_already_enabled,  // setup while MFA is on
    mfa_not_enabled,      // disable or new recovery codes while MFA is off
    mfa_setup_required,   // confirm without a pending setup
    // Operators' tools.
    account_disabled,  // an operator disabled the account: no login
    last_admin,        // the change would leave no enabled admin
};

enum class condition {
    unavailable = 1,
};

const boost::system::error_category& error_category() noexcept;
const boost::system::error_category& condition_category() noexcept;

boost::system::error_code make_error_code(errc e) noexcept;
boost::system::error_condition make_error_condition(condition c) noexcept;

// True when `ec` is one of the infrastructure codes (maps to 503 + Retry-After).
bool is_unavailable(const boost::system::error_code& ec) noexcept;

// Stable snake_case name of a code (e.g. "email_taken"), used in logs and tests.
std::string_view errc_name(errc e) noexcept;

template <class T>
using result = boost::system::result<T, boost::system::error_code>;

}  // namespace portcullis::core

namespace boost::system {
template <>
struct is_error_code_enum<portcullis::core::errc> : std::true_type {
};
template <>
struct is_error_condition_enum<portcullis::core::condition> : std::true_type {
};
}  // namespace boost::system
