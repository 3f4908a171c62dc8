#include "jobs/beat.hpp"

#include "core/log.hpp"
#include "core/random.hpp"
#include "core/timeout.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <vector>

namespace portcullis::jobs {

namespace asio = boost::asio;
namespace redis = store::redis;

namespace detail {

struct beat_state {
    beat_state(asio::any_io_executor ex, redis::connection& c, queue_settings s)
        : conn(c), settings(std::move(s)), keys(settings.prefix), timer(ex), owner(core::random_hex(8))
    {
    }

    struct entry {
        std::string name;
        std::chrono::milliseconds interval;
        periodic_handler fn;
        std::int64_t last_tick = -1;
    };

    redis::connection& conn;
    queue_settings settings;
    keyspace keys;
    asio::steady_timer timer;
    std::string owner;
    std::vector<entry> entries;
    bool stopping = false;
    std::uint64_t runs = 0;
};

}  // namespace detail

namespace {

using state_ptr = std::shared_ptr<detail::beat_state>;

asio::awaitable<core::result<void>> async_call(const periodic_handler& fn)
{
    try {
        co_return co_await fn();
    } catch (const std::exception& ex) {
        core::log::error("beat_task_exception", {{"error", ex.what()}});
    }
    co_return core::make_error_code(core::errc::internal);
}

asio::awaitable<void> async_tick(state_ptr st, detail::beat_state::entry& e, std::int64_t tick)
{
    // The lock lives for two intervals so a slow clock elsewhere cannot take the same tick.
    auto lock = co_await st->conn.async_exec(
        redis::command("SET", st->keys.beat(e.name, tick), st->owner, "NX", "PX", e.interval * 2),
        core::steady_clock::now() + st->conn.config().command_timeout);
    if (!lock || lock->is_nil() || lock->is_error()) co_return;
    ++st->runs;
    auto limit = std::chrono::duration_cast<core::steady_clock::duration>(e.interval);
    auto r = co_await core::async_with_timeout(async_call(e.fn), limit);
    if (!r) core::log::warn("beat_task_failed", {{"task", e.name}, {"error", r.error().message()}});
}

}  // namespace

beat::beat(asio::any_io_executor ex, redis::connection& conn, queue_settings settings)
    : state_(std::make_shared<detail::beat_state>(ex, conn, std::move(settings)))
{
}

beat::~beat()
{
    stop();
}

void beat::add(std::string name, std::chrono::milliseconds interval, periodic_handler fn)
{
    state_->entries.push_back({std::move(name), std::max(interval, std::chrono::milliseconds(1)), std::move(fn)});
}

void beat::stop()
{
    state_->stopping = true;
    state_->timer.cancel();
}

std::uint64_t beat::runs() const noexcept
{
    return state_->runs;
}

asio::awaitable<void> beat::async_run()
{
    state_ptr st = state_;
    while (!st->stopping) {
        std::int64_t now = now_ms();
        std::int64_t next = now + 1000;
        for (auto& e : st->entries) {
            std::int64_t interval = e.interval.count();
            std::int64_t tick = now / interval;
            if (tick != e.last_tick) {
                e.last_tick = tick;
                co_await async_tick(st, e, tick);
                if (st->stopping) co_return;
            }
            next = std::min(next, (tick + 1) * interval);
        }
        auto wait = std::max<std::int64_t>(next - now_ms(), 1);
        st->timer.expires_after(std::chrono::milliseconds(wait));
        co_await st->timer.async_wait(asio::as_tuple(asio::use_awaitable));
    }
}

}  // namespace portcullis::jobs
