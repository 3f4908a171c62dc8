#pragma once
// Periodic tasks ("beat"): each registered task runs once per interval tick across
// all processes — a Redis lock per tick (SET NX PX) picks the one instance that runs
// it. Ticks are aligned to the wall clock (tick = unix_ms / interval), so processes
// agree on them. When Redis is down the tick is skipped, never run twice.

#include "jobs/queue.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>

namespace portcullis::jobs {

using periodic_handler = std::function<boost::asio::awaitable<core::result<void>>()>;

namespace detail {
struct beat_state;
}

class beat {
public:
    // `conn` (a connection on the same executor) must outlive async_run.
    beat(boost::asio::any_io_executor ex, store::redis::connection& conn, queue_settings settings);
    ~beat();
    beat(const beat&) = delete;
    beat& operator=(const beat&) = delete;

    // Registers `fn` to run every `interval` (before async_run). It runs under a timeout of
    // one interval; a failure is logged and the next tick runs as usual.
    void add(std::string name, std::chrono::milliseconds interval, periodic_handler fn);

    // Runs ticks until stop(). co_spawn it with core::log_escape.
    boost::asio::awaitable<void> async_run();
    // Ends async_run after the task in hand (call on the executor).
    void stop();

    // Ticks this process ran (for tests and metrics).
    std::uint64_t runs() const noexcept;

private:
    std::shared_ptr<detail::beat_state> state_;
};

}  // namespace portcullis::jobs
