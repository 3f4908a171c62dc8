#pragma once
// The process's background thread, apart from the I/O threads: its own io_context with
// the Sentinel watch, the follower of the cache-invalidation stream, the periodic
// refresh of the access-token keys, and (when enabled) the job workers with the mail
// task, the beat and its purge of expired rows. `serve` runs all of it; `portcullis
// worker` only the workers and the beat.

#include "app/config.hpp"
#include "app/resources.hpp"
#include "auth/cache_bus.hpp"
#include "core/timeout.hpp"

#include <memory>

namespace portcullis::app {

class background_runtime {
public:
    // `bus` null: no cache follower (the worker process has no caches).
    background_runtime(process_resources& res, auth::cache_bus* bus, bool workers);
    ~background_runtime();
    background_runtime(const background_runtime&) = delete;
    background_runtime& operator=(const background_runtime&) = delete;

    // Starts the thread. Called once every I/O thread has registered its cache.
    void start();
    // Stops by `deadline`: the workers finish the jobs in hand until shortly before it
    // (the rest go back to the queue), then everything else stops and the thread ends.
    void stop(core::deadline deadline);
    // SIGHUP: the mail templates. False when the reload failed (the old set stays).
    bool reload_templates();

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace portcullis::app
