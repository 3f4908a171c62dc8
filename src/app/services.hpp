#pragma once
// The wiring of concrete types. `shared_services` holds what all threads share
// (process resources, the cache bus, the background thread); `thread_services` holds
// what one I/O thread owns (its database pool, Redis connection, caches and
// metrics) so that the request path never crosses threads.

#include "app/background.hpp"
#include "app/config.hpp"
#include "app/resources.hpp"
#include "app/webhooks.hpp"
#include "auth/cache_bus.hpp"
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

// What every thread shares: the process resources, the cache bus between the I/O
// threads' caches, and the background thread. Threads' services are made against it.
class shared_services {
public:
    // `workers`: run the job workers and the beat in the background thread.
    // `follow_caches`: follow the invalidation stream and refresh the keys (serve).
    shared_services(const config& cfg, bool workers, bool follow_caches);
    ~shared_services();

    // Loads the access-token keys (see process_resources::load_keys).
    bool load_keys() { return res_.load_keys(); }
    // Starts the background thread once every I/O thread's services exist.
    void start_background() { bg_.start(); }
    // Starts periodic tasks that belong to the control thread: WATCHDOG=1 pings every
    // half WATCHDOG_USEC, each sent only while `healthy()` (when given) returns true.
    void start_control(boost::asio::io_context& control, std::function<bool()> healthy);
    // Stops the background thread (the job workers finish the jobs in hand until
    // `deadline`), then the hash pool.
    void stop_workers(core::deadline deadline);
    // SIGHUP: reloads what can be reloaded safely (the mail templates and the
    // disposable-domain list). False when a reload failed; the old state then stays in use.
    bool reload();

    // For /metrics (any thread).
    auth::hash_pool_stats hash_stats() const { return res_.hashes().stats(); }
    const jobs::counters& job_counters() const { return *res_.counters(); }
    auth::audit_counters& audit_counters() noexcept { return audit_counters_; }
    app::webhook_counters& hook_counters() noexcept { return webhook_counters_; }

    process_resources& resources() noexcept { return res_; }
    auth::cache_bus& bus() noexcept { return bus_; }

private:
    process_resources res_;
    auth::audit_counters audit_counters_;
    app::webhook_counters webhook_counters_;
    auth::cache_bus bus_;
    background_runtime bg_;
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

std::unique_ptr<shared_services> make_shared_services(const config& cfg, bool workers, bool follow_caches);

std::unique_ptr<thread_services> make_thread_services(const config& cfg, shared_services& shared,
                                                      boost::asio::io_context& ioc, unsigned index);

}  // namespace portcullis::app
