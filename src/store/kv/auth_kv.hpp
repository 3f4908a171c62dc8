#pragma once
// The short-lived state of the auth flows: one-time codes (stored only as digests),
// rate limits and cooldowns, single-use markers, and the stream of cache
// invalidation events that keeps every instance's session cache correct. Implemented
// on Redis by `redis_auth_kv` (store/kv/redis_auth_kv.hpp); every operation there is one
// atomic round trip (a Lua script or a single command).
// Errors of all calls: redis_unavailable, timeout, overloaded (condition unavailable).

#include "core/error.hpp"
#include "core/timeout.hpp"

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace portcullis::store::kv {

template <class T>
using async_result = boost::asio::awaitable<core::result<T>>;

enum class otp_outcome {
    accepted,   // the code matched; it is now consumed
    wrong,      // did not match; attempts_left tells how many remain
    missing,    // no live code (expired, consumed, or never sent)
    exhausted,  // too many wrong tries for this code: it is dead
    locked,     // too many wrong codes for this address this hour, across resends
};

struct otp_check {
    otp_outcome outcome = otp_outcome::missing;
    int attempts_left = 0;
    std::int64_t retry_after_s = 0;  // for locked
};

// Limits of one OTP check beyond the code's own attempts.
struct otp_limits {
    int max_attempts = 3;            // wrong tries per code
    int max_failures_per_hour = 10;  // wrong codes per address, across resends
    std::string network;             // the client's network (limit_network); empty: exempt
    int network_max_per_hour = 30;   // failed checks (wrong, expired, unknown) per network
};

// The limits around one password check of an account (login, password change, account
// deletion). `account` and `network` are short key parts (a digest of the account, the
// client's address or IPv6 /64).
struct password_guard {
    std::string account;
    std::string network;
    bool network_limited = true;  // false: the network is exempt from the per-network limit
    std::int64_t pair_max = 5;    // failures per (account, network)
    std::chrono::seconds pair_window{15 * 60};
    std::int64_t network_max = 100;  // failures per network
    std::chrono::seconds network_window{60};
    std::int64_t account_max = 100;  // consecutive failures per account, any network
    std::int64_t account_free = 10;  // failures before the back-off starts (2 s, doubling)
    std::chrono::seconds account_max_wait{15 * 60};
    std::chrono::seconds account_window{24 * 60 * 60};
    std::int64_t checks_max = 30;  // password checks per account, successes included
    std::chrono::seconds checks_window{60};
    std::chrono::seconds known_for{30 * 24 * 60 * 60};  // a network that logged in is known this long
};

// Requests that send mail, limited per client network and per address; and operators'
// requests, limited per operator (its key in `address`).
enum class request_kind { register_account, resend_code, forgot_password, admin_action };

struct request_limits {
    std::string network;  // the client's network (limit_network); empty: exempt
    std::int64_t network_max = 20;
    std::string address;  // a keyed digest of the canonical address; empty: not limited
    std::int64_t address_max = 5;
    std::chrono::seconds window{60 * 60};
};

struct limit_decision {
    bool allowed = true;
    std::int64_t retry_after_s = 0;
};

// The interface the auth flows program against (a fake implements it in their unit
// tests). `purpose` names a kind of one-time code ("verify_email", "reset_password");
// `email` is the canonical (lower-case) address. The key names are this layer's
// business: `redis_auth_kv` documents them.
class auth_kv {
public:
    virtual ~auth_kv() = default;

    // Stores the digest of a new code for (purpose, email), replacing any previous
    // code and its attempt count, for `ttl` (one atomic script).
    virtual async_result<void> async_put_otp(std::string_view purpose, std::string_view email, std::string_view digest,
                                             std::chrono::seconds ttl, core::deadline d) = 0;

    // Deletes the code for (purpose, email), if any (an address whose pending
    // registration was replaced).
    virtual async_result<void> async_drop_otp(std::string_view purpose, std::string_view email, core::deadline d) = 0;

    // Check-and-count in one script: parallel guesses can never exceed `max_attempts`,
    // and a code is accepted at most once. Wrong codes also count towards
    // `max_failures_per_hour` for the address, across resends, and every failed check
    // (wrong, expired or no code) towards the network's limit; either limit reached
    // gives `locked`.
    virtual async_result<otp_check> async_check_otp(std::string_view purpose, std::string_view email,
                                                    std::string_view digest, const otp_limits& limits,
                                                    core::deadline d) = 0;

    // Before checking a password: refused (nothing counted) when a limit of `g` is
    // reached, otherwise counts the attempt as a failure in one atomic script.
    virtual async_result<limit_decision> async_password_attempt(const password_guard& g, core::deadline d) = 0;
    // The password was right: gives the counted failure back, ends the account's
    // failure run and back-off, and remembers the network as known.
    virtual async_result<void> async_password_success(const password_guard& g, core::deadline d) = 0;
    // A completed password reset: ends the account's failure run and back-off.
    virtual async_result<void> async_password_reset(std::string_view account, core::deadline d) = 0;

    // Counts one request of `kind` against its per-network and per-address limits of
    // the last `window`; refused (without counting) when either is already reached, with
    // the longer wait as retry_after_s.
    virtual async_result<limit_decision> async_request(request_kind kind, const request_limits& l,
                                                       core::deadline d) = 0;

    // Starts the resend cooldown of (purpose, email) for `period`; returns 0 when started,
    // otherwise the seconds left of the running one.
    virtual async_result<std::int64_t> async_code_cooldown(std::string_view purpose, std::string_view email,
                                                           std::chrono::seconds period, core::deadline d) = 0;

    // Marks the reset token `jti` used for `ttl`; true only for the first caller.
    virtual async_result<bool> async_consume_reset_token(std::string_view jti, std::chrono::seconds ttl,
                                                         core::deadline d) = 0;

    // A refresh-token rotation whose outcome is unknown (PostgreSQL's reply was lost):
    // remembers, for `ttl`, that `jti` may have been replaced by `successor`, which nobody
    // has received. Written durably (WAIT, as REDIS_MIN_REPLICAS asks).
    virtual async_result<void> async_note_unanswered_rotation(std::string_view jti, std::string_view successor,
                                                              std::chrono::seconds ttl, core::deadline d) = 0;
    // The successor noted for `jti`, if any.
    virtual async_result<std::optional<std::string>> async_unanswered_rotation(std::string_view jti,
                                                                               core::deadline d) = 0;

    // Second login step (MFA): stores the pending challenge `id` (a keyed digest of the
    // mfa_token) with its `value` (who passed the password check, and against which hash)
    // for `ttl`, with no attempts counted.
    virtual async_result<void> async_put_mfa_challenge(std::string_view id, std::string_view value,
                                                       std::chrono::seconds ttl, core::deadline d) = 0;
    // Counts one attempt at the challenge and returns its value; nullopt (and the challenge
    // is deleted) when it is missing or this attempt is past `max_attempts`. One atomic script,
    // so parallel guesses never get more than `max_attempts` tries.
    virtual async_result<std::optional<std::string>> async_mfa_attempt(std::string_view id, int max_attempts,
                                                                       core::deadline d) = 0;
    // Consumes the challenge: true only for the first caller (single use).
    virtual async_result<bool> async_take_mfa_challenge(std::string_view id, core::deadline d) = 0;

    // Appends an invalidation event ("s:<session id>", "u:<user id>", "r:<user id>") to
    // the stream that every instance reads.
    virtual async_result<void> async_publish_invalidation(std::string_view event, core::deadline d) = 0;
};

}  // namespace portcullis::store::kv
