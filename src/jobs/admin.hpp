#pragma once
// Read and repair operations for `portcullis queue …` and the metrics endpoint. They
// return data; the caller prints it.

#include "jobs/queue.hpp"

#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace portcullis::jobs {

struct queue_depth {
    std::string queue;
    std::int64_t waiting = 0;  // in the queue list
    std::int64_t delayed = 0;  // countdown/eta or waiting for a retry
};

struct queue_stats {
    std::vector<queue_depth> queues;  // every queue seen, sorted by name
    std::int64_t processing = 0;      // held by workers right now
    std::int64_t dead = 0;            // in the dead-letter list
    std::int64_t workers = 0;         // registered workers
    // Cluster-wide totals since the stats hash was created.
    std::int64_t enqueued = 0;
    std::int64_t done = 0;
    std::int64_t retried = 0;
    std::int64_t dead_total = 0;
    std::int64_t reaped = 0;
};

// Queue depths, processing and dead counts, totals. Errors: redis_unavailable, timeout (at d).
boost::asio::awaitable<core::result<queue_stats>> async_queue_stats(store::redis::connection& conn,
                                                                    queue_settings settings, core::deadline d);

// Up to `limit` dead jobs, newest first, with last_error and failed_at. Errors as above.
boost::asio::awaitable<core::result<std::vector<envelope>>> async_list_dead(store::redis::connection& conn,
                                                                            queue_settings settings, std::size_t limit,
                                                                            core::deadline d);

// Moves the dead job `id` (or every dead job when `id` is empty) back to its queue
// with its attempts reset; returns how many moved (0: no such dead job). Errors as above.
boost::asio::awaitable<core::result<std::size_t>> async_retry_dead(store::redis::connection& conn,
                                                                   queue_settings settings, std::string id,
                                                                   core::deadline d);

struct job_status {
    std::string id;
    std::string state;  // queued, started, retrying, done, dead
    std::string task;
    std::string queue;
    int attempts = 0;
    int max_retries = 0;
    std::string last_error;
    std::int64_t enqueued_at_ms = 0;
    std::int64_t started_at_ms = 0;
    std::int64_t finished_at_ms = 0;
    std::int64_t updated_at_ms = 0;
    std::int64_t eta_ms = 0;  // next attempt while retrying
};

// State of job `id` (kept a day after its last change); nullopt when unknown or expired.
// Errors as above.
boost::asio::awaitable<core::result<std::optional<job_status>>> async_job_status(store::redis::connection& conn,
                                                                                 queue_settings settings,
                                                                                 std::string id, core::deadline d);

}  // namespace portcullis::jobs
