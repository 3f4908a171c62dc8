// Fault test: a private redis-server is killed while commands run, then restarted.
#include "support.hpp"

#include "async_wait.hpp"

#include "core/spawn.hpp"
#include "store/redis/connection.hpp"

#include <doctest/doctest.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <memory>

namespace asio = boost::asio;
using namespace portcullis;
using namespace portcullis::store::redis;
using portcullis::test::in_ms;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

struct loop_counts {
    bool stop = false;
    int ok = 0;
    int unavailable = 0;
    int other = 0;
    int slow_failures = 0;  // failures that took half the 2 s deadline or longer
    int running = 0;
};

asio::awaitable<void> async_loop(connection& c, std::shared_ptr<loop_counts> n)
{
    ++n->running;
    asio::steady_timer t(co_await asio::this_coro::executor);
    while (!n->stop) {
        auto t0 = core::steady_clock::now();
        auto r = co_await c.async_exec(command("INCR", "fault:counter"), in_ms(2000));
        if (r) {
            ++n->ok;
        } else {
            if (r.error() == core::errc::redis_unavailable)
                ++n->unavailable;
            else
                ++n->other;
            // Half the deadline: a failure that took that long waited for it instead of failing fast.
            if (core::steady_clock::now() - t0 >= std::chrono::milliseconds(1000)) ++n->slow_failures;
            // Pace the retries of a caller that sees failures.
            t.expires_after(std::chrono::milliseconds(5));
            co_await t.async_wait(use_tuple);
        }
    }
    --n->running;
}

asio::awaitable<void> async_fault(test::private_redis& srv, connection& c)
{
    REQUIRE(co_await c.async_wait_connected(in_ms(3000)));
    auto ex = co_await asio::this_coro::executor;
    auto n = std::make_shared<loop_counts>();
    for (int i = 0; i < 20; ++i) asio::co_spawn(ex, async_loop(c, n), core::log_escape{"fault_loop"});
    auto some_ok = [n] { return n->ok > 0; };
    co_await test::async_wait_for(some_ok, std::chrono::seconds(10), "the loops' first successful calls");
    CHECK(n->ok > 0);

    srv.kill9();
    int ok_at_kill = n->ok;
    // The window of the checks below is counted in failed calls (about ten per loop), not in time.
    auto many_failed = [n] { return n->unavailable >= 200; };
    co_await test::async_wait_for(many_failed, std::chrono::seconds(30), "200 calls failing while Redis is down");
    CHECK(n->unavailable > 0);
    CHECK(n->other == 0);
    CHECK(n->slow_failures == 0);
    CHECK(n->ok - ok_at_kill <= 20);  // only replies already on the way when it died

    // While down, a single call fails at once.
    auto t0 = core::steady_clock::now();
    auto down = co_await c.async_exec(command("PING"), in_ms(2000));
    REQUIRE_FALSE(down);
    CHECK(down.error() == core::errc::redis_unavailable);
    const auto down_took = core::steady_clock::now() - t0;
    MESSAGE("a call while Redis is down failed after "
            << std::chrono::duration_cast<std::chrono::milliseconds>(down_took).count() << " ms");
    // Half the 2 s deadline: it failed without waiting for it.
    CHECK(down_took < std::chrono::milliseconds(1000));

    srv.start();
    auto restarted = core::steady_clock::now();
    int ok_before = n->ok;
    // The recovery time is reported, not asserted; 30 s bounds the wait only.
    auto recovered = [n, ok_before] { return n->ok > ok_before; };
    co_await test::async_wait_for(recovered, std::chrono::seconds(30), "a successful call after the restart");
    auto recovery = core::steady_clock::now() - restarted;
    CHECK(n->ok > ok_before);
    MESSAGE("redis fault: recovered " << std::chrono::duration_cast<std::chrono::milliseconds>(recovery).count()
                                      << " ms after restart; " << n->unavailable << " calls failed fast while down");
    CHECK(c.stats().reconnects.load() >= 1);

    n->stop = true;
    auto all_ended = [n] { return n->running == 0; };
    co_await test::async_wait_for(all_ended, std::chrono::seconds(10), "the loops to end");
    CHECK(n->other == 0);
}

}  // namespace

TEST_CASE("redis client: killed and restarted server — fail fast, then recover by itself")
{
    test::private_redis srv("always");
    srv.start();
    asio::io_context ioc;
    connection c(ioc.get_executor(), *store::redis::parse_url(srv.url()));
    c.start();
    test::run(ioc, async_fault(srv, c));
    c.stop();
    test::drain(ioc);
}
