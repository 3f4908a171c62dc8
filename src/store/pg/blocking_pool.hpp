#pragma once
// A small bounded thread pool for the few libpq calls that block (PQconnectStart
// resolves names and reads files; PQcancel opens a connection and waits). One per
// process, shared by the per-thread pools; it must outlive them.

#include "core/error.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <atomic>
#include <cstddef>
#include <type_traits>
#include <utility>

namespace portcullis::store::pg {

namespace detail {
template <class F>
boost::asio::awaitable<std::invoke_result_t<F&>> async_call_blocking(F f)
{
    co_return f();
}
}  // namespace detail

class blocking_pool {
public:
    blocking_pool(std::size_t threads = 2, std::size_t max_queued = 256) : pool_(threads), max_queued_(max_queued) {}
    ~blocking_pool() { pool_.join(); }
    blocking_pool(const blocking_pool&) = delete;
    blocking_pool& operator=(const blocking_pool&) = delete;

    // Runs `f()` (taken by value) on a pool thread and resumes on the caller's executor.
    // Fails with errc::overloaded at once when `max_queued` calls are already pending.
    // Not cancellable: a started call always finishes (its result is handed back).
    template <class F>
    boost::asio::awaitable<core::result<std::invoke_result_t<F&>>> async_run(F f)
    {
        if (queued_.fetch_add(1, std::memory_order_relaxed) >= max_queued_) {
            queued_.fetch_sub(1, std::memory_order_relaxed);
            // in_place_error: result<bool> would otherwise take the error_code as a bool.
            co_return core::result<std::invoke_result_t<F&>>(boost::system::in_place_error,
                                                             core::make_error_code(core::errc::overloaded));
        }
        auto call = detail::async_call_blocking(std::move(f));
        auto op = boost::asio::co_spawn(pool_.get_executor(), std::move(call), boost::asio::use_awaitable);
        auto r = co_await std::move(op);
        queued_.fetch_sub(1, std::memory_order_relaxed);
        co_return r;
    }

    std::size_t queued() const noexcept { return queued_.load(std::memory_order_relaxed); }

private:
    boost::asio::thread_pool pool_;
    std::atomic<std::size_t> queued_{0};
    std::size_t max_queued_;
};

}  // namespace portcullis::store::pg
