#pragma once
// The job queue on Redis: key names, counters, the task registry, and the producer.
//
// Redis layout (all keys under settings.prefix, default "portcullis:"):
//   jobs:queue:<q>           list of envelopes; producers LPUSH, workers BLMOVE from the right
//   jobs:delayed:<q>         sorted set of envelopes scored by due time (Unix ms): countdown/eta and retries
//   jobs:processing:<wid>    list of the jobs a worker holds; removed (acked) when the handler finished
//   jobs:dead                dead-letter list (newest first), envelopes with last_error
//   jobs:job:<id>            hash: state (queued|started|retrying|done|dead), attempts, last_error, times; TTL
//   jobs:workers             hash worker id -> queue, for the reaper
//   jobs:hb:<wid>            heartbeat key with a TTL
//   jobs:stats               hash of cluster-wide counters (enqueued, done, retried, dead, reaped)
//   jobs:queues              set of queue names seen
//   jobs:mark:<id>:<step>    idempotency markers of handlers
//   jobs:beat:<name>:<tick>  lock of one periodic tick
// The scripts touch keys they compute from the prefix, so this needs a single Redis
// (not Redis Cluster).

#include "core/error.hpp"
#include "core/timeout.hpp"
#include "jobs/enqueuer.hpp"
#include "jobs/envelope.hpp"
#include "store/redis/connection.hpp"

#include <boost/asio/awaitable.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace portcullis::jobs {

struct queue_settings {
    std::string prefix = "portcullis:";
    std::chrono::milliseconds state_ttl = std::chrono::hours(24);  // job state hashes and markers
    std::size_t max_dead = 100000;                                 // dead-letter list is trimmed to this
};

// Key names under a prefix.
class keyspace {
public:
    explicit keyspace(std::string prefix) : p_(std::move(prefix)) {}
    const std::string& prefix() const noexcept { return p_; }
    std::string queue(std::string_view q) const { return p_ + "jobs:queue:" + std::string(q); }
    std::string delayed(std::string_view q) const { return p_ + "jobs:delayed:" + std::string(q); }
    std::string processing(std::string_view worker) const { return p_ + "jobs:processing:" + std::string(worker); }
    std::string heartbeat(std::string_view worker) const { return p_ + "jobs:hb:" + std::string(worker); }
    std::string job(std::string_view id) const { return p_ + "jobs:job:" + std::string(id); }
    std::string mark(std::string_view id, std::string_view step) const
    {
        return p_ + "jobs:mark:" + std::string(id) + ":" + std::string(step);
    }
    std::string beat(std::string_view name, std::int64_t tick) const
    {
        return p_ + "jobs:beat:" + std::string(name) + ":" + std::to_string(tick);
    }
    std::string dead() const { return p_ + "jobs:dead"; }
    std::string workers() const { return p_ + "jobs:workers"; }
    std::string stats() const { return p_ + "jobs:stats"; }
    std::string queues() const { return p_ + "jobs:queues"; }

private:
    std::string p_;
};

// In-process counters for the metrics endpoint; updated from any thread.
struct counters {
    // Upper bounds (ms) of the enqueue→done latency histogram; the last bucket is +Inf.
    static constexpr std::array<std::int64_t, 12> latency_bounds_ms{10,   50,   100,   250,   500,   1000,
                                                                    2500, 5000, 10000, 30000, 60000, 300000};

    std::atomic<std::uint64_t> enqueued{0};
    std::atomic<std::uint64_t> enqueue_failed{0};
    std::atomic<std::uint64_t> started{0};
    std::atomic<std::uint64_t> done{0};
    std::atomic<std::uint64_t> retried{0};
    std::atomic<std::uint64_t> dead{0};
    std::atomic<std::uint64_t> reaped{0};  // jobs returned to a queue from dead workers
    std::array<std::atomic<std::uint64_t>, latency_bounds_ms.size() + 1> latency_buckets{};  // not cumulative
    std::atomic<std::uint64_t> latency_sum_ms{0};
    std::atomic<std::uint64_t> latency_count{0};

    void observe_latency(std::chrono::milliseconds ms) noexcept;
};

// What a handler sees of its job, plus idempotency helpers bound to the worker's Redis.
class job {
public:
    std::string id;
    std::string task;
    std::string queue;
    std::string args;  // JSON text
    int attempt = 1;   // this attempt, 1-based
    int max_retries = 0;
    std::chrono::system_clock::time_point enqueued_at;

    // True when `step` of this job was recorded by async_mark_done (e.g. "sent").
    // Errors: redis_unavailable, timeout (min(d, command timeout)).
    boost::asio::awaitable<core::result<bool>> async_was_done(std::string step, core::deadline d) const;
    // Records `step` as done for a day, so a recovered or retried job can skip it.
    boost::asio::awaitable<core::result<void>> async_mark_done(std::string step, core::deadline d) const;
    // Claims `step` at most once (SET NX): true for the first caller only. For steps that
    // must never repeat even at the price of being lost when the worker dies after claiming.
    boost::asio::awaitable<core::result<bool>> async_claim(std::string step, core::deadline d) const;

    // A human-readable cause recorded with the error code as last_error (e.g. an SMTP reply).
    void set_error_detail(std::string detail) const { detail_ = std::move(detail); }
    const std::string& error_detail() const noexcept { return detail_; }

    // Set by the worker; null in unit tests of handlers (the helpers then fail with internal).
    store::redis::connection* redis = nullptr;
    const keyspace* keys = nullptr;
    std::chrono::milliseconds marker_ttl = std::chrono::hours(24);

private:
    mutable std::string detail_;
};

// A task handler: success, a transient failure (condition::unavailable or retry_later():
// retried with backoff) or a permanent one (dead letter at once). It runs on the worker
// pool's executor under the task's timeout.
using handler = std::function<boost::asio::awaitable<core::result<void>>(const job&)>;

struct task_options {
    std::chrono::milliseconds timeout{60000};  // a handler running longer fails transiently
};

// Named tasks. Filled by the app's wiring before the workers start; read-only afterwards.
class registry {
public:
    struct entry {
        handler fn;
        task_options options;
    };
    void add(std::string name, handler fn, task_options options = {});
    const entry* find(std::string_view name) const;
    bool empty() const noexcept { return tasks_.empty(); }

private:
    std::map<std::string, entry, std::less<>> tasks_;
};

// Puts jobs in Redis. Lives on one thread, with that thread's Redis connection.
class producer final : public enqueuer {
public:
    // `conn` must outlive the producer; `stats` may be shared with the worker pool.
    producer(store::redis::connection& conn, queue_settings settings, std::shared_ptr<counters> stats = nullptr);

    // See enqueuer; Redis holds the job once this returns. Timeout: min(d, command timeout).
    boost::asio::awaitable<core::result<std::string>> async_enqueue(std::string_view task, std::string_view args_json,
                                                                    enqueue_options options, core::deadline d) override;

    const keyspace& keys() const noexcept { return keys_; }
    const std::shared_ptr<counters>& stats() const noexcept { return stats_; }

private:
    store::redis::connection& conn_;
    queue_settings settings_;
    keyspace keys_;
    std::shared_ptr<counters> stats_;
};

// Unix milliseconds of the wall clock.
std::int64_t now_ms();

}  // namespace portcullis::jobs
