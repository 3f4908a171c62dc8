#pragma once
// One non-blocking libpq connection driven by Asio. The socket is watched through a
// posix::stream_descriptor that never owns the fd (libpq does). The connection stays
// in pipeline mode: every exchange is N commands plus one sync, so a statement's
// first use sends Prepare and Execute together, and batches cost one round trip.
// Not thread-safe: used by one coroutine at a time on one executor.

#include "core/error.hpp"
#include "store/pg/value.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include <chrono>
#include <deque>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace portcullis::store::pg {

class blocking_pool;

// A SQL statement. `name` is its prepared-statement name, unique per SQL text in the
// program (nullptr: sent unnamed each time, for BEGIN/COMMIT and one-off SQL). Both
// must have static storage (string literals).
struct statement {
    const char* name;
    const char* sql;
};

// One statement with its parameters (nullptr: none), for batches.
struct command {
    const statement* stmt;
    const params* args = nullptr;
};

struct connect_options {
    std::string url;
    std::string application_name = "portcullis";
    std::chrono::milliseconds statement_timeout{5000};  // 0: none
};

class connection {
public:
    ~connection();
    connection(const connection&) = delete;
    connection& operator=(const connection&) = delete;

    // Opens a connection: PQconnectStart on `blocking` (it may resolve names), then
    // PQconnectPoll driven by socket readiness on the caller's executor. Errors:
    // db_unavailable (refused, auth failure, bad URL), overloaded (blocking pool full).
    // No timeout of its own: wrap it (cancellation is honoured while waiting).
    static boost::asio::awaitable<core::result<std::unique_ptr<connection>>> async_connect(blocking_pool& blocking,
                                                                                           connect_options opts);

    // Sends `cmds` and one sync, reads every result. All-or-nothing: the first failing
    // statement's mapped error (see sqlstate.hpp) is returned. No timeout of its own:
    // if abandoned midway, busy() stays true and async_drain() (after a cancel) cleans up.
    boost::asio::awaitable<core::result<std::vector<rowset>>> async_exchange(std::span<const command> cmds);

    // One statement; same contract as async_exchange.
    boost::asio::awaitable<core::result<rowset>> async_exec(const statement& stmt, const params& args);

    // Runs a multi-statement SQL script with the simple protocol (migrations). If
    // abandoned midway, the connection is unusable (busy() stays true): drop it.
    boost::asio::awaitable<core::result<void>> async_script(const char* sql);

    // Flushes and reads whatever an abandoned exchange left outstanding.
    boost::asio::awaitable<core::result<void>> async_drain();

    // Asks the server to cancel the running statement (PQcancel on `blocking`). Best effort.
    boost::asio::awaitable<void> async_cancel(blocking_pool& blocking);

    bool broken() const noexcept;
    // Reads what the socket holds without waiting (a server-side close of an idle
    // connection shows up here); false when the connection is unusable.
    bool probe() noexcept;
    bool busy() const noexcept { return !expect_.empty() || script_running_; }
    bool in_transaction() const noexcept;
    std::size_t prepared_count() const noexcept { return prepared_.size(); }

private:
    struct expect {
        enum class kind { prepare, query, sync } k;
        const char* name;
    };
    struct collector;

    connection(const boost::asio::any_io_executor& ex, PGconn* conn);

    boost::asio::awaitable<boost::system::error_code> async_finish_connect();
    boost::asio::awaitable<boost::system::error_code> async_flush();
    boost::asio::awaitable<boost::system::error_code> async_wait_input();
    boost::asio::awaitable<boost::system::error_code> async_read_front(collector* out);
    boost::system::error_code fail_connection(std::string_view what);

    PGconn* conn_;
    boost::asio::posix::stream_descriptor socket_;
    std::deque<expect> expect_;
    std::unordered_set<std::string_view> prepared_;
    bool broken_ = false;
    bool script_running_ = false;
};

}  // namespace portcullis::store::pg
