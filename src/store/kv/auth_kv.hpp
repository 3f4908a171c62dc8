#pragma once
// Redis-backed state of the auth flows: one-time codes (stored only as digests),
// rate limits and cooldowns, single-use markers, and the stream of cache
// invalidation events that keeps every instance's session cache correct.
// Every operation is one atomic round trip (a Lua script or a single command).
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

namespace portcullis::store::redis {
class connection;
}

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
    std::string network_key;         // e.g. "rl:otp:ip:<net>"; empty: no per-network limit
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

struct limit {
    std::string key;  // without prefix, e.g. "rl:login:ip:1.2.3.4"
    std::int64_t max = 0;
    std::chrono::seconds window{0};
};

struct limit_decision {
    bool allowed = true;
    std::int64_t retry_after_s = 0;
};

class auth_kv {
public:
    // `conn` is the calling thread's Redis connection and must outlive this object.
    auth_kv(redis::connection& conn, std::string prefix);

    // Stores the digest of a new code for (purpose, email), replacing any previous
    // code and its attempt count, for `ttl` (one atomic script).
    async_result<void> async_put_otp(std::string_view purpose, std::string_view email, std::string_view digest,
                                     std::chrono::seconds ttl, core::deadline d);

    // Deletes the code for (purpose, email), if any (an address whose pending
    // registration was replaced).
    async_result<void> async_drop_otp(std::string_view purpose, std::string_view email, core::deadline d);

    // Check-and-count in one script: parallel guesses can never exceed `max_attempts`,
    // and a code is accepted at most once. Wrong codes also count towards
    // `max_failures_per_hour` for the address, across resends, and every failed check
    // (wrong, expired or no code) towards the network's limit; either limit reached
    // gives `locked`.
    async_result<otp_check> async_check_otp(std::string_view purpose, std::string_view email, std::string_view digest,
                                            const otp_limits& limits, core::deadline d);

    // Before checking a password: refused (nothing counted) when a limit of `g` is
    // reached, otherwise counts the attempt as a failure in one atomic script.
    async_result<limit_decision> async_password_attempt(const password_guard& g, core::deadline d);
    // The password was right: gives the counted failure back, ends the account's
    // failure run and back-off, and remembers the network as known.
    async_result<void> async_password_success(const password_guard& g, core::deadline d);
    // A completed password reset: ends the account's failure run and back-off.
    async_result<void> async_password_reset(std::string_view account, core::deadline d);

    // Counts one event against every limit; refused (without counting) when any
    // limit is already reached. retry_after_s is the longest wait among those reached.
    async_result<limit_decision> async_hit(const std::vector<limit>& limits, core::deadline d);

    // Whether any of `limits` is reached, without counting (login checks before verifying).
    async_result<limit_decision> async_peek(const std::vector<limit>& limits, core::deadline d);

    // Counts one event against every limit (a failed login), regardless of the result.
    async_result<void> async_count(const std::vector<limit>& limits, core::deadline d);

    // Starts a cooldown `key` for `period`; returns 0 when started, otherwise the
    // seconds left of the running one.
    async_result<std::int64_t> async_cooldown(std::string_view key, std::chrono::seconds period, core::deadline d);

    // Marks `key` used (SET NX with `ttl`); true only for the first caller.
    async_result<bool> async_consume_once(std::string_view key, std::chrono::seconds ttl, core::deadline d);

    // A refresh-token rotation whose outcome is unknown (PostgreSQL's reply was lost):
    // remembers, for `ttl`, that `jti` may have been replaced by `successor`, which nobody
    // has received. Written durably (WAIT, as REDIS_MIN_REPLICAS asks).
    async_result<void> async_note_unanswered_rotation(std::string_view jti, std::string_view successor,
                                                      std::chrono::seconds ttl, core::deadline d);
    // The successor noted for `jti`, if any.
    async_result<std::optional<std::string>> async_unanswered_rotation(std::string_view jti, core::deadline d);

    // Appends an invalidation event ("s:<session id>", "u:<user id>") to the stream
    // that every instance reads, capped at about 100,000 entries.
    async_result<void> async_publish_invalidation(std::string_view event, core::deadline d);

    const std::string& prefix() const noexcept { return prefix_; }

private:
    redis::connection& conn_;
    std::string prefix_;
};

// Reading side of the invalidation stream, on a dedicated (blocking) connection.
class invalidation_reader {
public:
    invalidation_reader(redis::connection& blocking_conn, std::string prefix);

    // The id to start after: the stream's current last entry ("0-0" when empty).
    async_result<std::string> async_tail(core::deadline d);

    // Waits up to `block` for events after `last_id`; returns them with their ids (the
    // last one is the next `last_id`). Empty on timeout. `trimmed` is set when entries
    // after `last_id` may have been trimmed away (callers then drop whole caches).
    struct batch {
        std::vector<std::pair<std::string, std::string>> events;  // (id, event)
        bool trimmed = false;
    };
    async_result<batch> async_read(std::string_view last_id, std::chrono::milliseconds block, core::deadline d);

private:
    redis::connection& conn_;
    std::string key_;
};

}  // namespace portcullis::store::kv
