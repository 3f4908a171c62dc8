#pragma once
// The audit trail as the flows see it: security events, and a sink that takes them
// without making the request wait. `audit_writer` is the sink of one I/O thread: it
// buffers events (bounded) and appends them in batches through the audit repository
// in the background; a failed or refused write is counted, never reported to the
// request that caused the event.

#include "core/timeout.hpp"
#include "store/pg/records.hpp"
#include "store/pg/repositories.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace portcullis::auth {

// Where a request came from: the client address (behind a trusted proxy, the address
// it forwarded), the User-Agent and the request id. Recorded with its events.
struct request_meta {
    std::string ip;
    std::string user_agent;
    std::string request_id;
};

// One security event. Never holds a password, a code or a token.
struct security_event {
    std::string type;  // "login.succeeded", "admin.user_disabled", …
    std::optional<std::int64_t> user_id;
    std::optional<std::int64_t> actor_id;  // admin.*: the operator
    std::string session_id;
    std::string reason;  // login.failed: why; others: a short qualifier
    request_meta meta;
    std::chrono::system_clock::time_point at{};
};

// Receives the flows' events. Must not block and must not fail the caller.
class audit_sink {
public:
    virtual ~audit_sink() = default;
    virtual void record(security_event e) noexcept = 0;
};

struct audit_settings {
    bool enabled = true;                         // AUDIT_ENABLED
    std::chrono::days retention{90};             // AUDIT_RETENTION_DAYS
    std::chrono::milliseconds flush_every{200};  // longest an event waits in the buffer
    std::size_t batch = 500;                     // events per INSERT; a full batch is written at once
    std::size_t max_buffered = 20'000;           // per I/O thread; beyond it events are dropped and counted
    std::chrono::milliseconds write_timeout{5'000};
};

// Totals over a process (any thread; relaxed atomics).
struct audit_counters {
    std::atomic<std::uint64_t> recorded{0};
    std::atomic<std::uint64_t> written{0};
    std::atomic<std::uint64_t> failed{0};   // lost to a failed write
    std::atomic<std::uint64_t> dropped{0};  // lost to a full buffer
};

class audit_writer final : public audit_sink {
public:
    // `repo` and `counters` must outlive the writer; the writer outlives its run loop.
    audit_writer(boost::asio::any_io_executor ex, store::audit_repository& repo, audit_counters& counters,
                 audit_settings s);

    void record(security_event e) noexcept override;

    // Starts the background loop (on the executor's thread). stop() makes it write what
    // is buffered (bounded by write_timeout) and end.
    void start();
    void stop();
    // Writes everything buffered now (the command line, which has no loop).
    boost::asio::awaitable<void> async_flush(core::deadline d);

private:
    boost::asio::awaitable<void> async_run();

    boost::asio::any_io_executor ex_;
    store::audit_repository& repo_;
    audit_counters& counters_;
    audit_settings settings_;
    std::vector<store::audit_record> buffer_;
    boost::asio::steady_timer timer_;
    bool running_ = false;
    bool stopping_ = false;
};

}  // namespace portcullis::auth
