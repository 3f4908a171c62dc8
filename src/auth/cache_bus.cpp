#include "auth/cache_bus.hpp"

#include "core/log.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>

namespace portcullis::auth {

namespace asio = boost::asio;

void cache_bus::add(asio::io_context& ioc, session_cache& cache)
{
    caches_.push_back({&ioc, &cache});
}

void cache_bus::broadcast(const std::string& event)
{
    for (const auto& h : caches_) {
        if (h.ioc->get_executor().running_in_this_thread()) {
            h.cache->apply(event);
        } else {
            session_cache* cache = h.cache;
            asio::post(*h.ioc, [cache, event] { cache->apply(event); });
        }
    }
}

void cache_bus::post_all(const std::string& event)
{
    for (const auto& h : caches_) {
        session_cache* cache = h.cache;
        asio::post(*h.ioc, [cache, event] { cache->apply(event); });
    }
}

void cache_bus::set_enabled(bool on)
{
    for (const auto& h : caches_) {
        session_cache* cache = h.cache;
        asio::post(*h.ioc, [cache, on] { cache->set_enabled(on); });
    }
}

asio::awaitable<void> cache_bus::async_follow(store::kv::invalidation_stream& stream, follow_settings s)
{
    asio::steady_timer pause(co_await asio::this_coro::executor);
    auto backoff = s.backoff_min;
    while (!stopping_) {
        auto tail = co_await stream.async_tail(core::steady_clock::now() + s.read_timeout);
        if (!tail) {
            pause.expires_after(backoff);
            co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
            backoff = std::min(backoff * 2, s.backoff_max);
            continue;
        }
        backoff = s.backoff_min;
        std::string last = *tail;
        // Events published before the tail was read were applied while the caches were
        // off (they start empty); from here on, nothing is missed unless the transport
        // reconnects.
        const auto generation = stream.generation();
        set_enabled(true);
        while (!stopping_) {
            auto batch =
                co_await stream.async_read(last, s.block, core::steady_clock::now() + s.block + s.read_timeout);
            if (!batch) {
                core::log::warn("invalidation_stream_lost", {{"error", batch.error().message()}});
                set_enabled(false);
                break;
            }
            if (stream.generation() != generation) {
                core::log::warn("invalidation_stream_lost", {{"error", "reconnected"}});
                set_enabled(false);
                break;
            }
            if (batch->trimmed) post_all("*");
            for (const auto& [id, event] : batch->events) {
                post_all(event);
                last = id;
            }
        }
    }
    set_enabled(false);
}

}  // namespace portcullis::auth
