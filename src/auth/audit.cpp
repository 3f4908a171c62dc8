#include "auth/audit.hpp"

#include "core/log.hpp"
#include "core/spawn.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>

namespace portcullis::auth {

namespace asio = boost::asio;

audit_writer::audit_writer(asio::any_io_executor ex, store::audit_repository& repo, audit_counters& counters,
                           audit_settings s)
    : ex_(std::move(ex)), repo_(repo), counters_(counters), settings_(s), timer_(ex_)
{
}

void audit_writer::record(security_event e) noexcept
{
    counters_.recorded.fetch_add(1, std::memory_order_relaxed);
    if (buffer_.size() >= settings_.max_buffered) {
        counters_.dropped.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    try {
        store::audit_record r;
        r.at = e.at == std::chrono::system_clock::time_point{} ? std::chrono::system_clock::now() : e.at;
        r.type = std::move(e.type);
        r.user_id = e.user_id;
        r.actor_id = e.actor_id;
        r.session_id = std::move(e.session_id);
        r.ip = std::move(e.meta.ip);
        r.user_agent = std::move(e.meta.user_agent);
        r.request_id = std::move(e.meta.request_id);
        r.reason = std::move(e.reason);
        buffer_.push_back(std::move(r));
    } catch (...) {
        counters_.dropped.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    // A full batch goes out now rather than at the next tick.
    if (running_ && buffer_.size() >= settings_.batch) timer_.cancel();
}

void audit_writer::start()
{
    if (running_) return;
    running_ = true;
    asio::co_spawn(ex_, async_run(), core::log_escape{"audit_writer"});
}

void audit_writer::stop()
{
    stopping_ = true;
    timer_.cancel();
}

asio::awaitable<void> audit_writer::async_run()
{
    while (!stopping_) {
        timer_.expires_after(settings_.flush_every);
        auto [ec] = co_await timer_.async_wait(asio::as_tuple(asio::use_awaitable));
        (void)ec;
        co_await async_flush(core::steady_clock::now() + settings_.write_timeout);
    }
    running_ = false;
}

asio::awaitable<void> audit_writer::async_flush(core::deadline d)
{
    while (!buffer_.empty()) {
        const std::size_t n = std::min(buffer_.size(), settings_.batch);
        std::vector<store::audit_record> batch(std::make_move_iterator(buffer_.begin()),
                                               std::make_move_iterator(buffer_.begin() + static_cast<long>(n)));
        buffer_.erase(buffer_.begin(), buffer_.begin() + static_cast<long>(n));
        auto r = co_await repo_.async_append(batch, d);
        if (r) {
            counters_.written.fetch_add(n, std::memory_order_relaxed);
        } else {
            counters_.failed.fetch_add(n, std::memory_order_relaxed);
            core::log::warn("audit_write_failed",
                            {{"events", static_cast<std::int64_t>(n)}, {"error", r.error().message()}});
            co_return;
        }
    }
}

}  // namespace portcullis::auth
