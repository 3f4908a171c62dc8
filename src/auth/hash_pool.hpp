#pragma once
// A bounded pool of CPU threads for password hashing, so argon2 never runs on an
// I/O thread. The async_* calls queue a job and resume the calling coroutine on its
// own executor when the job is done. When the queue is full they fail at once with
// errc::overloaded (the HTTP layer answers 503 + Retry-After) instead of growing.
//
// Shutdown: call stop() (or destroy the pool) before the io_contexts of the callers
// are destroyed: queued jobs are completed with errc::overloaded through their
// executors, running ones finish, threads are joined.

#include "auth/password_hash.hpp"
#include "core/error.hpp"

#include <boost/asio/awaitable.hpp>

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace portcullis::auth {

struct hash_pool_settings {
    unsigned threads = 0;         // HASH_THREADS; 0 = std::thread::hardware_concurrency()
    std::size_t queue_limit = 0;  // jobs waiting to start; 0 = 64 per thread
    // Scheduling niceness of the hash threads (0 = as the I/O threads). Positive: hashing
    // takes the CPU the I/O threads leave, so a login flood cannot starve cheap requests;
    // alone it still gets every core.
    int nice = 10;
    argon2_params params{};
};

// Counters for /metrics. Wait = time from submission until a thread starts the job.
struct hash_pool_stats {
    unsigned threads = 0;
    std::size_t queue_limit = 0;
    std::size_t queue_length = 0;
    std::uint64_t jobs_done = 0;
    std::uint64_t rejected = 0;
    std::uint64_t total_wait_us = 0;
    std::uint64_t max_wait_us = 0;
};

struct hash_benchmark {
    unsigned iterations = 0;
    unsigned threads = 0;
    double seconds = 0;
    double hashes_per_second = 0;
};

class hash_pool {
public:
    // Starts the threads. Throws std::invalid_argument for bad argon2 parameters.
    explicit hash_pool(hash_pool_settings settings = {});
    ~hash_pool();
    hash_pool(const hash_pool&) = delete;
    hash_pool& operator=(const hash_pool&) = delete;

    // Idempotent; see the shutdown note above. Later submissions fail with errc::overloaded.
    void stop();

    // argon2id PHC hash of `password` with the pool's parameters.
    // errc::overloaded when the queue is full or the pool stopped;
    // errc::internal if hashing failed.
    boost::asio::awaitable<core::result<std::string>> async_hash(std::string password);

    // password_hasher::verify on the pool. errc::overloaded as above.
    boost::asio::awaitable<core::result<verify_result>> async_verify(std::string password, std::string stored);

    // password_hasher::verify_dummy on the pool (unknown user at login). errc::overloaded as above.
    boost::asio::awaitable<core::result<void>> async_verify_dummy(std::string password);

    // Whether a job submitted now would be refused (queue full, or stopped): lets a caller
    // answer 503 before doing any other work for a request that needs a hash. Only a hint;
    // the submission itself decides.
    bool saturated() const noexcept;

    hash_pool_stats stats() const noexcept;
    const password_hasher& hasher() const noexcept { return hasher_; }

    // Blocking: hashes `iterations` random passwords on all pool threads (for
    // `portcullis bench-hash`; do not call on an I/O thread) and measures hashes/s.
    hash_benchmark benchmark(unsigned iterations);

private:
    struct job;
    friend struct hash_pool_access;

    // Takes a queue slot; false when full or stopping (counted as rejected if `count`).
    bool reserve_slot(bool count) noexcept;
    // Queues a job whose slot was reserved; completes it with errc::overloaded if
    // the pool stopped meanwhile.
    void push(job* j);
    void worker_loop();

    password_hasher hasher_;
    unsigned thread_count_;
    std::size_t limit_;
    int nice_;

    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::vector<job*> ring_;  // fixed capacity limit_: the queue never allocates
    std::size_t head_ = 0;
    std::size_t count_ = 0;     // jobs in ring_
    std::size_t reserved_ = 0;  // slots taken: jobs in ring_ plus jobs about to be pushed
    bool stopping_ = false;

    std::atomic<std::uint64_t> jobs_done_{0};
    std::atomic<std::uint64_t> rejected_{0};
    std::atomic<std::uint64_t> total_wait_us_{0};
    std::atomic<std::uint64_t> max_wait_us_{0};

    std::mutex join_mu_;  // stop() may be called from several threads
    std::vector<std::thread> threads_;
};

}  // namespace portcullis::auth
