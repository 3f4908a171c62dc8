#pragma once
// Helpers for the Redis client and job queue integration tests: running a coroutine
// to completion, private redis-server instances, and child processes.

#include "core/timeout.hpp"
#include "private_redis.hpp"
#include "store/redis/settings.hpp"
#include "wait.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace portcullis::test {

// Settings for the shared test Redis (PORTCULLIS_TEST_REDIS_URL).
store::redis::settings shared_redis();

// Runs `body` on `ioc` until it and everything it spawned finished; rethrows its exception.
void run(boost::asio::io_context& ioc, boost::asio::awaitable<void> body);

// After stopping the connections a test used: lets their run loops finish (bounded).
void drain(boost::asio::io_context& ioc);

// A deadline `ms` milliseconds from now.
inline core::deadline in_ms(long ms)
{
    return core::steady_clock::now() + std::chrono::milliseconds(ms);
}

// A child process started with posix_spawnp; killed (SIGKILL) and reaped on destruction.
class child_process {
public:
    child_process() = default;
    // Starts `argv`; stdout and stderr go to `log_path` when given (appended).
    explicit child_process(const std::vector<std::string>& argv, const std::string& log_path = {});
    ~child_process();
    child_process(child_process&& o) noexcept;
    child_process& operator=(child_process&& o) noexcept;

    pid_t pid() const noexcept { return pid_; }
    bool running() const noexcept { return pid_ > 0; }
    void kill(int sig);
    // Waits for exit up to `timeout`; returns the wait status or -1 on timeout.
    int wait(std::chrono::milliseconds timeout);

private:
    pid_t pid_ = -1;
};

}  // namespace portcullis::test
