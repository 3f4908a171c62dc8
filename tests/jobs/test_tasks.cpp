#include "test_tasks.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace portcullis::test {

namespace asio = boost::asio;
namespace redis = store::redis;

namespace {

std::chrono::milliseconds g_sleep{0};

core::deadline soon()
{
    return core::steady_clock::now() + std::chrono::seconds(2);
}

asio::awaitable<core::result<void>> async_record(const jobs::job& j)
{
    if (g_sleep.count() > 0) {
        asio::steady_timer t(co_await asio::this_coro::executor, g_sleep);
        auto [ec] = co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
        if (ec) co_return core::make_error_code(core::errc::timeout);
    }
    auto r =
        co_await j.redis->async_exec(redis::command("HINCRBY", j.keys->prefix() + "test:handled", j.id, 1), soon());
    if (!r) co_return r.error();
    auto latency =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now() - j.enqueued_at);
    record_latencies().push_back(latency.count());
    co_return core::result<void>{};
}

asio::awaitable<core::result<void>> async_flaky(const jobs::job& j)
{
    auto r = co_await j.redis->async_exec(
        redis::command("RPUSH", j.keys->prefix() + "test:attempts:" + j.id, jobs::now_ms()), soon());
    if (!r) co_return r.error();
    if (j.attempt < 3) {
        j.set_error_detail("flaky attempt " + std::to_string(j.attempt));
        co_return jobs::retry_later();
    }
    co_return core::result<void>{};
}

asio::awaitable<core::result<void>> async_fatal(const jobs::job& j)
{
    auto r = co_await j.redis->async_exec(redis::command("EXISTS", j.keys->prefix() + "test:allow"), soon());
    if (!r) co_return r.error();
    if (r->integer == 1) co_return core::result<void>{};
    j.set_error_detail("550 5.1.1 no such user");
    co_return core::make_error_code(core::errc::smtp_rejected);
}

}  // namespace

std::vector<std::int64_t>& record_latencies()
{
    static std::vector<std::int64_t> v;
    return v;
}

void register_test_tasks(jobs::registry& r, std::chrono::milliseconds sleep)
{
    g_sleep = sleep;
    r.add("record", async_record);
    r.add("flaky", async_flaky);
    r.add("fatal", async_fatal);
}

}  // namespace portcullis::test
