// Integration tests of the Redis client against a real server.
#include "support.hpp"
#include "test_env.hpp"

#include "core/spawn.hpp"
#include "store/redis/connection.hpp"

#include <doctest/doctest.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <memory>
#include <set>

namespace asio = boost::asio;
using namespace portcullis;
using namespace portcullis::store::redis;
using portcullis::test::in_ms;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

asio::awaitable<void> async_round_trips(connection& c, std::string prefix)
{
    REQUIRE(co_await c.async_wait_connected(in_ms(3000)));
    std::string key = prefix + ":bin";
    std::string value("x\0y\r\nz", 6);
    auto set = co_await c.async_exec(command("SET", key, value, "PX", 60000), in_ms(2000));
    REQUIRE(set);
    CHECK(set->kind == reply_kind::status);
    auto get = co_await c.async_exec(command("GET", key), in_ms(2000));
    REQUIRE(get);
    CHECK(get->str == value);
    auto missing = co_await c.async_exec(command("GET", prefix + ":missing"), in_ms(2000));
    REQUIRE(missing);
    CHECK(missing->is_nil());
    auto wrong = co_await c.async_exec(command("INCR", key), in_ms(2000));
    REQUIRE(wrong);
    CHECK(wrong->is_error());
    CHECK(as_integer(*wrong).error() == core::errc::internal);

    pipeline p;
    p.push("DEL", prefix + ":n")
        .push("INCR", prefix + ":n")
        .push("INCRBY", prefix + ":n", 41)
        .push("EXPIRE", prefix + ":n", 60);
    p.push("RPUSH", prefix + ":l", "a", "b").push("LRANGE", prefix + ":l", 0, -1).push("DEL", prefix + ":l");
    auto rs = co_await c.async_exec(std::move(p), in_ms(2000));
    REQUIRE(rs.has_value());
    REQUIRE(rs->size() == 7);
    CHECK((*rs)[1].integer == 1);
    CHECK((*rs)[2].integer == 42);
    REQUIRE((*rs)[5].elements.size() == 2);
    CHECK((*rs)[5].elements[1].str == "b");
    co_await c.async_exec(command("DEL", key), in_ms(2000));
}

asio::awaitable<void> async_incr_worker(connection& c, std::string key, std::shared_ptr<std::vector<std::int64_t>> seen,
                                        int count)
{
    for (int i = 0; i < count; ++i) {
        auto r = co_await c.async_exec(command("INCR", key), in_ms(5000));
        if (r && r->is_integer()) seen->push_back(r->integer);
    }
}

asio::awaitable<void> async_many(connection& c, std::string prefix)
{
    REQUIRE(co_await c.async_wait_connected(in_ms(3000)));
    auto ex = co_await asio::this_coro::executor;
    std::string key = prefix + ":counter";
    auto seen = std::make_shared<std::vector<std::int64_t>>();
    auto start = core::steady_clock::now();
    // 1,000 coroutines issue 10 commands each; all share the one pipelined connection.
    for (int i = 0; i < 1000; ++i) {
        asio::co_spawn(ex, async_incr_worker(c, key, seen, 10), core::log_escape{"test_incr"});
    }
    asio::steady_timer t(ex);
    auto end = in_ms(20000);
    while (seen->size() < 10000 && core::steady_clock::now() < end) {
        t.expires_after(std::chrono::milliseconds(5));
        co_await t.async_wait(use_tuple);
    }
    auto secs = std::chrono::duration<double>(core::steady_clock::now() - start).count();
    REQUIRE(seen->size() == 10000);
    std::sort(seen->begin(), seen->end());
    CHECK(seen->front() == 1);
    CHECK(seen->back() == 10000);
    CHECK(std::adjacent_find(seen->begin(), seen->end()) == seen->end());
    MESSAGE("10,000 pipelined INCR from 1,000 coroutines in " << secs << " s (" << 10000 / secs << " commands/s)");
    co_await c.async_exec(command("DEL", key), in_ms(2000));
}

asio::awaitable<void> async_noscript(connection& c, std::string prefix)
{
    REQUIRE(co_await c.async_wait_connected(in_ms(3000)));
    script s("return redis.call('INCRBY', KEYS[1], ARGV[1]) -- " + prefix);
    command keys;
    keys.arg(prefix + ":s");
    command args;
    args.arg(5);
    auto r1 = co_await c.async_eval(s, keys, args, in_ms(2000));
    REQUIRE(r1);
    CHECK(r1->integer == 5);
    auto flush = co_await c.async_exec(command("SCRIPT", "FLUSH"), in_ms(2000));
    REQUIRE(flush);
    auto exists = co_await c.async_exec(command("SCRIPT", "EXISTS", s.sha1()), in_ms(2000));
    REQUIRE(exists);
    CHECK(exists->elements.at(0).integer == 0);
    auto r2 = co_await c.async_eval(s, keys, args, in_ms(2000));
    REQUIRE(r2);
    CHECK(r2->integer == 10);
    exists = co_await c.async_exec(command("SCRIPT", "EXISTS", s.sha1()), in_ms(2000));
    CHECK(exists->elements.at(0).integer == 1);
    co_await c.async_exec(command("DEL", prefix + ":s"), in_ms(2000));
}

asio::awaitable<void> async_timeouts(connection& c, std::string prefix)
{
    REQUIRE(co_await c.async_wait_connected(in_ms(3000)));
    auto t0 = core::steady_clock::now();
    auto r = co_await c.async_exec(command("BLPOP", prefix + ":never", 1), in_ms(100));
    auto took = core::steady_clock::now() - t0;
    // A timeout (not BLPOP's own nil reply after 1 s) proves the 100 ms deadline ended it.
    REQUIRE_FALSE(r);
    CHECK(r.error() == core::errc::timeout);
    MESSAGE("100 ms deadline: the call ended after "
            << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms");
    // The abandoned reply arrives later and is dropped; the next caller gets its own.
    auto ping = co_await c.async_exec(command("ECHO", "after"), in_ms(3000));
    REQUIRE(ping);
    CHECK(ping->str == "after");
    CHECK(c.stats().timeouts.load() >= 1);
    auto late = co_await c.async_exec(command("PING"), core::steady_clock::now() - std::chrono::seconds(1));
    CHECK(late.error() == core::errc::timeout);
}

asio::awaitable<void> async_blpop_one(connection& c, std::string key, std::shared_ptr<int> overloaded)
{
    auto r = co_await c.async_exec(command("BLPOP", key, 1), in_ms(3000));
    if (!r && r.error() == core::errc::overloaded) ++*overloaded;
}

asio::awaitable<void> async_bounded(connection& c, std::string prefix)
{
    REQUIRE(co_await c.async_wait_connected(in_ms(3000)));
    auto ex = co_await asio::this_coro::executor;
    auto overloaded = std::make_shared<int>(0);
    for (int i = 0; i < 3; ++i)
        asio::co_spawn(ex, async_blpop_one(c, prefix + ":b", overloaded), core::log_escape{"t"});
    auto r = co_await c.async_exec(command("PING"), in_ms(3000));
    REQUIRE_FALSE(r);
    CHECK(r.error() == core::errc::overloaded);
    CHECK(*overloaded == 1);
}

asio::awaitable<void> async_down(connection& c)
{
    // Nothing listens: the first attempt fails (the first call may wait for it), later
    // calls fail at once.
    auto first = co_await c.async_exec(command("PING"), in_ms(10000));
    REQUIRE_FALSE(first);
    CHECK(first.error() == core::condition::unavailable);
    auto t0 = core::steady_clock::now();
    auto r = co_await c.async_exec(command("PING"), in_ms(10000));
    const auto took = core::steady_clock::now() - t0;
    REQUIRE_FALSE(r);
    CHECK(r.error() == core::errc::redis_unavailable);
    CHECK(r.error() == core::condition::unavailable);
    MESSAGE("Redis unreachable: a call failed after "
            << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms");
    // A tenth of the 10 s deadline: it failed without waiting for it.
    CHECK(took < std::chrono::milliseconds(1000));
}

}  // namespace

TEST_CASE("redis client: round trips, binary values, errors, pipelines")
{
    asio::io_context ioc;
    connection c(ioc.get_executor(), test::shared_redis());
    c.start();
    test::run(ioc, async_round_trips(c, test::unique_name("rt")));
}

TEST_CASE("redis client: 10,000 concurrent commands on one pipelined connection")
{
    asio::io_context ioc;
    connection c(ioc.get_executor(), test::shared_redis());
    c.start();
    test::run(ioc, async_many(c, test::unique_name("many")));
    c.stop();
    test::drain(ioc);
}

TEST_CASE("redis client: EVALSHA reloads the script after NOSCRIPT")
{
    asio::io_context ioc;
    connection c(ioc.get_executor(), test::shared_redis());
    c.start();
    test::run(ioc, async_noscript(c, test::unique_name("lua")));
}

TEST_CASE("redis client: a deadline cuts a call short and the connection stays usable")
{
    asio::io_context ioc;
    auto cfg = test::shared_redis();
    connection c(ioc.get_executor(), cfg);
    c.start();
    test::run(ioc, async_timeouts(c, test::unique_name("to")));
}

TEST_CASE("redis client: pending replies are bounded")
{
    asio::io_context ioc;
    auto cfg = test::shared_redis();
    cfg.max_pending = 2;
    connection c(ioc.get_executor(), cfg);
    c.start();
    test::run(ioc, async_bounded(c, test::unique_name("bound")));
}

TEST_CASE("redis client: calls fail fast while Redis cannot be reached")
{
    asio::io_context ioc;
    const test::refused_port nothing;  // held for the test: no server can appear on it
    store::redis::settings cfg;
    cfg.port = static_cast<std::uint16_t>(nothing.port());
    connection c(ioc.get_executor(), cfg);
    c.start();
    test::run(ioc, async_down(c));
}
