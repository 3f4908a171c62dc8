#pragma once
// An asynchronous, pipelined Redis connection driven by Asio (RESP from hiredis's
// reader, commands formatted by us, a plain TCP socket).
//
// Threading: a connection lives on one thread's executor and is used only from
// coroutines on that thread. The app creates one per I/O thread for ordinary
// commands (many coroutines share it: requests are written in order, coalesced into
// few writes, and replies matched first-in first-out) and dedicated ones for
// blocking commands such as BLMOVE.
//
// Faults: one run coroutine connects, authenticates (AUTH, SELECT), and reconnects
// with exponential backoff and jitter. While Redis is down every call fails at once
// with errc::redis_unavailable; calls in flight when the connection breaks fail with
// redis_unavailable too and are never resent (the caller knows whether its command
// is idempotent). Recovery needs no action from callers.

#include "core/error.hpp"
#include "core/timeout.hpp"
#include "store/redis/command.hpp"
#include "store/redis/reply.hpp"
#include "store/redis/script.hpp"
#include "store/redis/settings.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

namespace portcullis::store::redis {

// Counters of one connection, readable from any thread (metrics).
struct connection_stats {
    std::atomic<std::uint64_t> commands{0};     // commands written
    std::atomic<std::uint64_t> errors{0};       // calls that failed: unavailable, timeout, overloaded
    std::atomic<std::uint64_t> timeouts{0};     // calls that hit their deadline
    std::atomic<std::uint64_t> reconnects{0};   // successful connects after the first one
    std::atomic<std::uint64_t> disconnects{0};  // established connections that broke
};

namespace detail {
class connection_state;
}

class connection {
public:
    // Does not connect yet; call start(). `ex` must be the executor of the thread that uses it.
    connection(boost::asio::any_io_executor ex, settings cfg);
    // Stops the connection (see stop()); call on its thread, before its io_context is destroyed.
    ~connection();
    connection(const connection&) = delete;
    connection& operator=(const connection&) = delete;

    // Spawns the run coroutine (connect, handshake, reconnect). Calls made before the
    // first connection attempt finishes wait for it (bounded by their deadline).
    void start();
    // Ends the run coroutine; pending and later calls fail with redis_unavailable.
    void stop();

    bool connected() const noexcept;
    const settings& config() const noexcept;
    const connection_stats& stats() const noexcept;

    // Sends one command and returns its reply; a Redis error reply is returned as a
    // reply of kind error (LOADING/BUSY/MASTERDOWN become redis_unavailable).
    // Errors: redis_unavailable (down, or the connection broke while waiting),
    // overloaded (max_pending replies already awaited), timeout.
    // Timeout: min(time left to `d`, settings.command_timeout). A timed-out command may
    // still run on the server.
    boost::asio::awaitable<core::result<reply>> async_exec(command cmd, core::deadline d);

    // Sends all commands in one write and returns their replies in order. Same errors
    // and timeout as above, for the whole batch.
    boost::asio::awaitable<core::result<std::vector<reply>>> async_exec(pipeline p, core::deadline d);

    // Runs `s` with EVALSHA, and with EVAL when the server answers NOSCRIPT. `keys` and
    // `args` are argument lists (command{}.arg(…)). `s` must outlive the call.
    // Errors and timeout as async_exec (each of the at most two round trips).
    boost::asio::awaitable<core::result<reply>> async_eval(const script& s, command keys, command args,
                                                           core::deadline d);

    // Like async_exec(pipeline) and async_eval, but when settings.min_replicas > 0 a WAIT
    // follows the writes in the same round trip, and the call succeeds only when at least
    // min_replicas replicas confirmed them (the WAIT reply is not returned). Errors as
    // above, and redis_unavailable when too few replicas confirmed within the time left
    // (the writes may then still exist on the master). Timeout: as above; WAIT itself
    // waits at most half of it.
    boost::asio::awaitable<core::result<std::vector<reply>>> async_exec_durable(pipeline p, core::deadline d);
    boost::asio::awaitable<core::result<reply>> async_eval_durable(const script& s, command keys, command args,
                                                                   core::deadline d);

    // Waits until the connection is established. Errors: timeout at `d`.
    boost::asio::awaitable<core::result<void>> async_wait_connected(core::deadline d);

private:
    std::shared_ptr<detail::connection_state> state_;
};

}  // namespace portcullis::store::redis
