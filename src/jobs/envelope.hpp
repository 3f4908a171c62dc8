#pragma once
// The job envelope: the small JSON document that travels through the Redis lists
// and sets, and the retry policy. Pure code, no I/O.

#include "core/error.hpp"

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace portcullis::jobs {

struct envelope {
    std::string id;
    std::string task;
    std::string queue = "default";
    std::string args = "{}";          // JSON text of the task's arguments
    int attempt = 0;                  // attempts made so far (0 while never run)
    int max_retries = 0;              // retries allowed after the first attempt
    std::int64_t enqueued_at_ms = 0;  // Unix milliseconds
    std::int64_t eta_ms = 0;          // not before this time (0 = at once)
    std::int64_t backoff_base_ms = 1000;
    std::int64_t backoff_cap_ms = 300000;
    std::string last_error;
    std::int64_t failed_at_ms = 0;  // when it went to the dead-letter list
};

// JSON text of `e`; `e.args` must be valid JSON (embedded as a value, not a string).
// Throws std::exception only if args is not JSON (callers validate first).
std::string encode(const envelope& e);

// Parses an envelope. Errors: errc::malformed_json when the text is not a well-formed envelope.
core::result<envelope> decode(std::string_view text);

// True when `text` is one JSON value.
bool is_json(std::string_view text);

// Exponential backoff with jitter: before the retry that follows failed attempt
// `attempt` (1-based), wait d = min(cap, base·2^(attempt-1)), jittered uniformly in
// [d/2, d] using `random_bits` (so retries of many jobs spread out).
std::chrono::milliseconds retry_delay(std::chrono::milliseconds base, std::chrono::milliseconds cap, int attempt,
                                      std::uint64_t random_bits);

// Transient failures (infrastructure, condition::unavailable, or jobs::retry_later()) are
// retried; anything else is permanent and goes to the dead-letter list at once.
bool is_transient(const boost::system::error_code& ec) noexcept;

// What to do after attempt `attempt` (1-based) failed with `ec`.
enum class next_step { retry, dead };
next_step after_failure(const boost::system::error_code& ec, int attempt, int max_retries) noexcept;

// An error a handler returns to ask for a retry when no infrastructure code fits.
// It belongs to condition::unavailable.
boost::system::error_code retry_later() noexcept;

}  // namespace portcullis::jobs
