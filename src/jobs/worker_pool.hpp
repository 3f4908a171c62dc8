#pragma once
// The worker pool: JOB_WORKERS coroutines that take jobs with BLMOVE into their own
// processing list, run the task's handler, and acknowledge, retry later (delayed set,
// exponential backoff with jitter) or bury (dead-letter list). Alongside: a heartbeat
// per worker, a scheduler that moves due delayed jobs back to the queue, and a reaper
// that returns the jobs of workers whose heartbeat expired (at-least-once delivery).
//
// Runs on one executor; `portcullis serve` runs it next to the HTTP server, `portcullis
// worker` alone. Each worker has its own Redis connection for BLMOVE; the pool shares
// one more for acknowledgements, state and the background loops.

#include "core/timeout.hpp"
#include "jobs/queue.hpp"
#include "store/redis/settings.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <memory>
#include <string>

namespace portcullis::jobs {

struct worker_settings {
    std::string queue = "default";
    unsigned concurrency = 4;                       // JOB_WORKERS
    std::string name;                               // worker id prefix; default <hostname>-<pid>-<random>
    std::chrono::milliseconds block_timeout{1000};  // BLMOVE wait, bounds how fast stop is noticed
    std::chrono::milliseconds heartbeat_interval{2000};
    std::chrono::milliseconds heartbeat_ttl{10000};     // a worker silent this long is presumed dead
    std::chrono::milliseconds scheduler_interval{250};  // delayed → queue
    std::chrono::milliseconds reaper_interval{5000};
    std::chrono::milliseconds redis_retry_delay{500};  // pause after a Redis failure
    std::chrono::milliseconds stop_timeout{30000};     // graceful stop: time to finish jobs in hand
};

namespace detail {
struct pool_state;
}

class worker_pool {
public:
    // `tasks` is copied; `stats` may be shared with producers (metrics).
    worker_pool(boost::asio::any_io_executor ex, store::redis::settings redis, registry tasks, queue_settings queue,
                worker_settings workers, std::shared_ptr<counters> stats = nullptr);
    ~worker_pool();
    worker_pool(const worker_pool&) = delete;
    worker_pool& operator=(const worker_pool&) = delete;

    // Runs the workers until stop(); then lets them finish the jobs in hand (up to
    // stop_timeout, and never past stop's `finish_by`), cancels what still runs, returns
    // held jobs to the queue, and deregisters. Call once; co_spawn it with
    // core::log_escape on the pool's executor.
    boost::asio::awaitable<void> async_run();

    // Asks async_run to stop gracefully (idempotent): async_run returns by `finish_by`
    // (jobs still in hand a moment before it are cancelled and go back to the queue).
    // Call on the pool's executor (asio::post it from a signal handler running elsewhere).
    void stop(core::deadline finish_by = core::deadline::max());

    // The pool's worker id prefix (workers are <id>-0 … <id>-(n-1)).
    const std::string& id() const noexcept;
    const std::shared_ptr<counters>& stats() const noexcept;

private:
    std::shared_ptr<detail::pool_state> state_;
};

}  // namespace portcullis::jobs
