#pragma once
// The operations endpoints: GET /readyz, GET /metrics (Prometheus text format 0.0.4)
// and GET /openapi.json (the contract, embedded at build time from src/app/openapi.json).

#include "app/services.hpp"
#include "net/metrics.hpp"
#include "net/router.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace boost::asio {
class io_context;
}

namespace portcullis::app {

// One I/O thread as the scrape sees it.
struct ops_thread {
    boost::asio::io_context* ioc = nullptr;
    thread_services* services = nullptr;
    const net::request_metrics* metrics = nullptr;
};

// Everything the operations endpoints read. `threads` is complete before the I/O
// threads start running and never changes afterwards.
struct ops_context {
    shared_services* shared = nullptr;
    std::vector<ops_thread> threads;
    std::chrono::system_clock::time_point started = std::chrono::system_clock::now();
};

// Registers /readyz, /metrics and /openapi.json on the router of the I/O thread that
// owns `self`. Both pointers must outlive the router.
void add_ops_routes(net::router& routes, ops_context* ops, thread_services* self);

// The OpenAPI document, as stored in src/app/openapi.json.
std::string_view openapi_document() noexcept;

// --- rendering (pure, unit-tested) ---------------------------------------------------

// The audit trail's events: handed to the writers, written, and lost (a failed write or
// a full buffer; the request that caused them never fails for it).
struct audit_counts {
    std::uint64_t recorded = 0, written = 0, failed = 0, dropped = 0;
    std::uint64_t webhooks_queued = 0, webhooks_enqueue_failed = 0;
};

struct job_counts {
    std::uint64_t enqueued = 0, enqueue_failed = 0, started = 0, done = 0, retried = 0, dead = 0, reaped = 0;
    std::vector<std::uint64_t> latency_buckets;  // per bucket (jobs::counters bounds), not cumulative; +Inf last
    std::uint64_t latency_sum_ms = 0;
};

struct process_stats {
    std::uint64_t resident_bytes = 0;
    std::uint64_t virtual_bytes = 0;
    double cpu_seconds = 0;
    std::uint64_t open_fds = 0;
    std::uint64_t max_fds = 0;
    std::uint64_t start_time_seconds = 0;  // Unix time
};

// Everything one scrape shows, already summed over threads.
struct metrics_snapshot {
    std::string version;
    net::request_totals requests;
    auth::hash_pool_stats hash;
    store::pg::pool_stats database;                      // summed over the I/O threads' pools
    std::optional<store::pg::pool_stats> database_read;  // the DATABASE_READ_URL pools, when configured
    std::uint64_t redis_commands = 0, redis_errors = 0, redis_timeouts = 0, redis_reconnects = 0, redis_disconnects = 0;
    job_counts jobs;
    audit_counts audit;
    std::optional<jobs::queue_stats> queues;  // nullopt when Redis could not be read in time
    process_stats process;
};

// The text exposition format 0.0.4: a HELP and TYPE line per family, then its samples.
std::string render_metrics(const metrics_snapshot& s);

// RSS, virtual size and CPU time from /proc/self, open descriptors; zeros where unreadable.
process_stats read_process_stats(std::chrono::system_clock::time_point started);

}  // namespace portcullis::app
