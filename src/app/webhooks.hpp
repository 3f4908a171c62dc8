#pragma once
// Webhooks: chosen security events are posted to WEBHOOK_URL, signed as the Standard
// Webhooks specification says (webhook-id, webhook-timestamp, webhook-signature
// "v1,<base64 HMAC-SHA256 of id.timestamp.body>" under the WEBHOOK_SECRET key).
//
// The flows never wait for a receiver: `webhook_sink` (one per I/O thread) turns an
// event into one "deliver_webhook" job per URL on the Redis job queue, in the
// background; `webhook_task` (the background thread's workers) delivers a job over
// HTTPS with a timeout, and a receiver that fails is retried with backoff and finally
// dead-lettered (`portcullis queue dead|retry`), delaying nothing else.

#include "auth/audit.hpp"
#include "core/timeout.hpp"
#include "jobs/enqueuer.hpp"
#include "jobs/queue.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

namespace portcullis::app {

struct webhook_settings {
    std::vector<std::string> urls;  // WEBHOOK_URL (comma-separated); empty: no webhooks
    std::string secret;             // WEBHOOK_SECRET's key bytes (given as whsec_<base64>)
    // WEBHOOK_EVENTS
    std::vector<std::string> events{"user.registered", "email.verified",  "user.deleted",   "password.changed",
                                    "password.reset",  "session.revoked", "refresh.reused", "user.disabled"};
    bool allow_http = false;                    // WEBHOOK_ALLOW_HTTP: http:// URLs (tests, local receivers)
    std::string ca_file;                        // WEBHOOK_CA_FILE: trusted CAs (default: the system's)
    std::chrono::milliseconds timeout{10'000};  // WEBHOOK_TIMEOUT: one delivery attempt, connect to answer
    int max_retries = 12;                       // WEBHOOK_MAX_RETRIES: then the job is dead-lettered
    std::chrono::milliseconds backoff_cap{std::chrono::minutes(10)};

    bool enabled() const noexcept { return !urls.empty(); }
};

// Problems of `s` (one sentence each, naming the variable); empty when usable.
std::vector<std::string> validate(const webhook_settings& s);

// The spec's signature header value for one attempt: "v1,<base64 HMAC-SHA256>".
std::string webhook_signature(std::string_view key, std::string_view id, std::int64_t timestamp, std::string_view body);

// The payload of an event: {"type", "timestamp", "data": {…}} (never a secret).
std::string webhook_payload(const auth::security_event& e);

struct webhook_counters {
    std::atomic<std::uint64_t> queued{0};
    std::atomic<std::uint64_t> enqueue_failed{0};
};

// One I/O thread's producer of webhook jobs.
class webhook_sink final : public auth::audit_sink {
public:
    // `jobs` and `counters` outlive the sink; the sink outlives its coroutine.
    webhook_sink(boost::asio::any_io_executor ex, jobs::enqueuer& jobs, const webhook_settings& s,
                 webhook_counters& counters);

    void record(auth::security_event e) noexcept override;
    // True when every event recorded so far is on the queue (or counted as lost).
    bool idle() const noexcept { return !draining_ && pending_.empty(); }

private:
    boost::asio::awaitable<void> async_drain();

    boost::asio::any_io_executor ex_;
    jobs::enqueuer& jobs_;
    const webhook_settings& settings_;
    webhook_counters& counters_;
    std::deque<std::string> pending_;  // job arguments, bounded
    bool draining_ = false;
};

// Hands each event to two sinks (the audit writer and the webhooks); either may be null.
class tee_sink final : public auth::audit_sink {
public:
    tee_sink(auth::audit_sink* first, auth::audit_sink* second) : first_(first), second_(second) {}
    void record(auth::security_event e) noexcept override;

private:
    auth::audit_sink* first_;
    auth::audit_sink* second_;
};

// The "deliver_webhook" task.
class webhook_task {
public:
    // Throws config_error when WEBHOOK_CA_FILE cannot be loaded.
    explicit webhook_task(const webhook_settings& s);
    ~webhook_task();

    void register_with(jobs::registry& tasks);

private:
    struct impl;
    static boost::asio::awaitable<core::result<void>> async_handle(impl* self, const jobs::job& j);

    std::unique_ptr<impl> impl_;
};

}  // namespace portcullis::app
