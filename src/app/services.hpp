#pragma once
// The wiring of concrete types. `shared_services` holds what all threads share
// (hash pool, keys, job workers on their own thread); `thread_services` holds
// what one I/O thread owns (its database pool, Redis connection, caches and
// metrics) so that the request path never crosses threads.

#include "app/config.hpp"
#include "auth/hash_pool.hpp"
#include "core/timeout.hpp"
#include "jobs/admin.hpp"
#include "jobs/queue.hpp"
#include "net/router.hpp"
#include "net/server.hpp"
#include "store/pg/pool.hpp"
#include "store/redis/connection.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/system/error_code.hpp>

#include <functional>
#include <memory>
#include <optional>

namespace boost::asio {
class io_context;
}

namespace portcullis::app {

class shared_services {
public:
    virtual ~shared_services() = default;
    // Loads the access-token keys from PostgreSQL, creating the first key when
    // JWT_ALGORITHM asks for one (blocking; before the I/O threads start). Logs and
    // returns false when no key could sign.
    virtual bool load_keys() = 0;
    // Starts periodic tasks that belong to the control thread: WATCHDOG=1 pings every
    // half WATCHDOG_USEC, each sent only while `healthy()` (when given) returns true.
    virtual void start_control(boost::asio::io_context& control, std::function<bool()> healthy) = 0;
    // Stops the job workers, letting jobs in hand finish until `deadline`.
    virtual void stop_workers(core::deadline deadline) = 0;
    // SIGHUP: reloads what can be reloaded safely (the mail templates, where this process
    // sends mail, and the disposable-domain list). False when a reload failed; the old state then stays in use.
    virtual bool reload() = 0;

    // For /metrics (any thread).
    virtual auth::hash_pool_stats hash_stats() const = 0;
    virtual const jobs::counters& job_counters() const = 0;
};

// What GET /readyz found: an empty code for a dependency that answered.
struct readiness {
    boost::system::error_code postgres;
    boost::system::error_code redis;
};

class thread_services {
public:
    virtual ~thread_services() = default;
    // Starts background coroutines of this thread (connection run loops).
    virtual void start() = 0;
    // Stops them; runs on the thread, before its io_context stops.
    virtual void stop() = 0;
    // Registers the contract's /api routes bound to this thread's services.
    virtual void add_routes(net::router& routes) = 0;

    // `SELECT 1` through this thread's pool and `PING` on its Redis connection, at the
    // same time, each bounded by `d`. On the owning thread.
    virtual boost::asio::awaitable<readiness> async_check_ready(core::deadline d) = 0;
    // Depths and totals of the job queues through this thread's Redis connection.
    // Errors: redis_unavailable, timeout (at d). On the owning thread.
    virtual boost::asio::awaitable<core::result<jobs::queue_stats>> async_queue_stats(core::deadline d) = 0;
    // The pool's bookkeeping: owning thread only.
    virtual store::pg::pool_stats database_stats() const = 0;
    // The same for the DATABASE_READ_URL pool; nullopt when there is none.
    virtual std::optional<store::pg::pool_stats> database_read_stats() const = 0;
    // Atomic counters: any thread.
    virtual const store::redis::connection_stats& redis_stats() const = 0;
};

// Applies database migrations with nothing else built (blocking; before the I/O threads
// start). Logs and returns false on failure.
bool migrate_database(const config& cfg);

std::unique_ptr<shared_services> make_shared_services(const config& cfg, bool workers);
// Starts the shared background thread (cache invalidation reader, job workers, beat)
// once every I/O thread's services exist.
void start_shared_background(shared_services& shared);
// The same without the cache reader, for `portcullis worker`.
void start_worker_background(shared_services& shared);

std::unique_ptr<thread_services> make_thread_services(const config& cfg, shared_services& shared,
                                                      boost::asio::io_context& ioc, unsigned index);

}  // namespace portcullis::app
