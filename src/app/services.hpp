#pragma once
// The wiring of concrete types. `shared_services` holds what all threads share
// (hash pool, keys, job workers on their own thread); `thread_services` holds
// what one I/O thread owns (its database pool, Redis connection, caches and
// metrics) so that the request path never crosses threads.

#include "app/config.hpp"
#include "core/timeout.hpp"
#include "net/router.hpp"
#include "net/server.hpp"

#include <memory>

namespace boost::asio {
class io_context;
}

namespace portcullis::app {

class shared_services {
public:
    virtual ~shared_services() = default;
    // Applies database migrations (blocking; before the I/O threads start). Logs and
    // returns false on failure.
    virtual bool migrate(const config& cfg) = 0;
    // Starts periodic tasks that belong to the control thread (watchdog pings).
    virtual void start_control(boost::asio::io_context& control) = 0;
    // Stops the job workers, letting jobs in hand finish until `deadline`.
    virtual void stop_workers(core::deadline deadline) = 0;
};

class thread_services {
public:
    virtual ~thread_services() = default;
    virtual net::request_observer* request_observer() = 0;
    // Starts background coroutines of this thread (connection run loops).
    virtual void start() = 0;
    // Stops them; runs on the thread, before its io_context stops.
    virtual void stop() = 0;
    // Registers the contract's /api routes bound to this thread's services.
    virtual void add_routes(net::router& routes) = 0;
};

std::unique_ptr<shared_services> make_shared_services(const config& cfg, bool workers);
// Starts the shared background thread (cache invalidation reader, job workers, beat)
// once every I/O thread's services exist.
void start_shared_background(shared_services& shared);
// The same without the cache reader, for `portcullis worker`.
void start_worker_background(shared_services& shared);

std::unique_ptr<thread_services> make_thread_services(const config& cfg, shared_services& shared,
                                                      boost::asio::io_context& ioc, unsigned index);

}  // namespace portcullis::app
