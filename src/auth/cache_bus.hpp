#pragma once
// Instant revocation across threads and instances, in one place. Every I/O thread owns a
// session_cache; the flows publish each revocation to the invalidation stream (so other
// instances hear it) and broadcast it here (so this process's threads apply it at once).
// One follower per process reads the stream and applies what other instances wrote. The
// caches are enabled only while the stream is followed: when it cannot be read, when the
// transport reconnected (events may have been lost with a failed-over master) or when
// unread entries were trimmed, every cache is emptied or disabled and requests go to
// PostgreSQL until following resumes.

#include "auth/flow_types.hpp"
#include "auth/session_cache.hpp"
#include "store/kv/invalidation_stream.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include <atomic>
#include <chrono>
#include <string>
#include <vector>

namespace portcullis::auth {

struct follow_settings {
    std::chrono::milliseconds block{1000};         // longest blocking read
    std::chrono::milliseconds read_timeout{5000};  // bound of one read, beyond `block`
    std::chrono::milliseconds backoff_min{100};    // pause after a failed start, doubling up to max
    std::chrono::milliseconds backoff_max{2000};
};

class cache_bus final : public invalidation_sink {
public:
    // Registers the cache living on `ioc` (one per I/O thread). All registrations happen
    // before broadcast or follow are first called.
    void add(boost::asio::io_context& ioc, session_cache& cache);

    // Applies `event` to the calling thread's cache at once and posts it to the others.
    void broadcast(const std::string& event) override;

    // Follows `stream` until `stop()`; runs on its own executor (not an I/O thread's).
    boost::asio::awaitable<void> async_follow(store::kv::invalidation_stream& stream, follow_settings s = {});
    // Makes async_follow return after its current read (end that read by stopping the stream's transport).
    void stop() noexcept { stopping_ = true; }

private:
    struct handle {
        boost::asio::io_context* ioc;
        session_cache* cache;
    };
    void post_all(const std::string& event);
    void set_enabled(bool on);

    std::vector<handle> caches_;
    std::atomic<bool> stopping_{false};
};

}  // namespace portcullis::auth
