#pragma once
// A pool of PostgreSQL connections owned by one io_context (one pool per I/O thread:
// nothing here is shared between threads, so there are no locks). Each connection
// slot has a run loop that connects, reconnects with backoff and cleans up connections
// given back dirty (a cancelled statement, an open transaction) before reuse.
//
// Usage, per I/O thread:
//   pg::pool pool(ioc.get_executor(), blocking, settings);
//   pool.start();
//   auto rows = co_await pool.async_query(stmt, pg::params(id), deadline);
// The blocking pool must outlive every pg::pool; call stop() (or destroy the pool) on its
// own thread before its io_context stops running.

#include "core/error.hpp"
#include "core/timeout.hpp"
#include "store/pg/connection.hpp"
#include "store/pg/settings.hpp"
#include "store/pg/value.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace portcullis::store::pg {

class blocking_pool;

namespace detail {
struct pool_state;
struct slot;
}  // namespace detail

struct pool_stats {
    std::size_t size = 0;  // configured connections
    std::size_t live = 0;  // connected (idle + in use + being cleaned)
    std::size_t idle = 0;
    std::size_t in_use = 0;
    std::size_t waiting = 0;  // callers queued for a connection
    std::uint64_t connect_failures = 0;
    std::uint64_t errors = 0;        // statements failed with an unavailable code
    std::uint64_t timeouts = 0;      // statements cancelled after their timeout
    std::uint64_t exhausted = 0;     // callers that gave up waiting (pool_exhausted)
    std::uint64_t rejected = 0;      // callers refused at once (waiter queue full or database down)
    std::uint64_t read_retries = 0;  // reads run a second time after a lost connection
};

// Exclusive use of one pooled connection; gives it back on destruction (dirty
// connections are cleaned by the pool before reuse, broken ones replaced).
class lease {
public:
    lease() = default;
    lease(lease&& o) noexcept;
    lease& operator=(lease&& o) noexcept;
    ~lease();

    connection& conn() const noexcept;
    explicit operator bool() const noexcept { return slot_ != nullptr; }

    // Runs `cmds` in one round trip within min(remaining(d), query timeout). Errors:
    // the statement's mapped error, timeout (the statement is cancelled on the server),
    // db_unavailable.
    boost::asio::awaitable<core::result<std::vector<rowset>>> async_exchange(std::span<const command> cmds,
                                                                             core::deadline d);
    boost::asio::awaitable<core::result<rowset>> async_exec(const statement& stmt, const params& args,
                                                            core::deadline d);

private:
    friend struct detail::pool_state;
    lease(std::shared_ptr<detail::pool_state> st, detail::slot* s) noexcept : state_(std::move(st)), slot_(s) {}
    void reset() noexcept;

    std::shared_ptr<detail::pool_state> state_;
    detail::slot* slot_ = nullptr;
};

// A transaction on one leased connection. BEGIN goes out with the first statement;
// unless async_commit succeeds, the transaction is rolled back: the destructor gives
// the connection back with the transaction open and the pool issues ROLLBACK (or drops
// the connection) before anyone else can use it.
class transaction {
public:
    transaction(transaction&&) noexcept = default;
    transaction& operator=(transaction&&) noexcept = default;

    // One statement inside the transaction; errors as lease::async_exec. After an error the
    // transaction is aborted and every later call fails with the same error.
    boost::asio::awaitable<core::result<rowset>> async_exec(const statement& stmt, const params& args,
                                                            core::deadline d);
    // Several independent statements in one round trip.
    boost::asio::awaitable<core::result<std::vector<rowset>>> async_exchange(std::span<const command> cmds,
                                                                             core::deadline d);
    // COMMIT. On error the transaction is rolled back (by the server or the pool).
    boost::asio::awaitable<core::result<void>> async_commit(core::deadline d);
    // Explicit ROLLBACK (the destructor's effect, but awaited).
    boost::asio::awaitable<core::result<void>> async_rollback(core::deadline d);

private:
    friend class pool;
    explicit transaction(lease l) noexcept : lease_(std::move(l)) {}

    lease lease_;
    bool begun_ = false;
    bool done_ = false;
    boost::system::error_code failed_;
};

class pool {
public:
    pool(boost::asio::any_io_executor ex, blocking_pool& blocking, settings cfg);
    ~pool();
    pool(const pool&) = delete;
    pool& operator=(const pool&) = delete;

    // Spawns the connection run loops (connecting in the background).
    void start();
    // Cancels the run loops, fails waiters (db_unavailable) and closes idle connections;
    // leased connections are closed when given back.
    void stop();

    // A free connection, waiting at most min(remaining(d), acquire_timeout). Errors:
    // db_unavailable at once when no connection is alive and the last connect failed,
    // overloaded at once when max_waiters callers already wait, pool_exhausted when
    // the wait ends without a connection, timeout if the caller cancels the wait.
    boost::asio::awaitable<core::result<lease>> async_acquire(core::deadline d);

    // acquire + one statement (errors of both).
    boost::asio::awaitable<core::result<rowset>> async_query(const statement& stmt, const params& args,
                                                             core::deadline d);
    // async_query for a statement that only reads: when it fails with db_unavailable (a
    // lost connection, a server shutting down, a standby), it runs once more on another
    // connection. Errors and timeout as async_query (both tries within `d`).
    boost::asio::awaitable<core::result<rowset>> async_read(const statement& stmt, const params& args,
                                                            core::deadline d);
    // acquire + independent statements in one round trip (pipeline), in order.
    boost::asio::awaitable<core::result<std::vector<rowset>>> async_batch(std::span<const command> cmds,
                                                                          core::deadline d);
    // acquire + a transaction object (BEGIN is sent lazily with its first statement).
    boost::asio::awaitable<core::result<transaction>> async_begin(core::deadline d);

    pool_stats stats() const noexcept;
    const settings& config() const noexcept;

private:
    std::shared_ptr<detail::pool_state> state_;
};

}  // namespace portcullis::store::pg
