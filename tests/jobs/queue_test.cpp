// Integration tests of the job queue against a real Redis.
// Why one file of this size: each case drives the same producer, workers and beat through
// one lifecycle stage (enqueue, retry, dead letter, recovery, shutdown) on one Redis.
#include "async_wait.hpp"
#include "support.hpp"
#include "test_env.hpp"
#include "test_tasks.hpp"

#include "core/spawn.hpp"
#include "jobs/admin.hpp"
#include "jobs/beat.hpp"
#include "jobs/worker_pool.hpp"

#include <doctest/doctest.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <signal.h>

#include <algorithm>
#include <map>
#include <memory>

namespace asio = boost::asio;
using namespace portcullis;
using namespace portcullis::jobs;
using portcullis::test::in_ms;
using std::chrono::milliseconds;
using store::redis::command;
using store::redis::connection;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

asio::awaitable<void> async_sleep(milliseconds d)
{
    asio::steady_timer t(co_await asio::this_coro::executor, d);
    co_await t.async_wait(use_tuple);
}

queue_settings test_queue(const std::string& name)
{
    queue_settings qs;
    qs.prefix = test::unique_name(name) + ":";
    return qs;
}

worker_settings fast_workers(unsigned n)
{
    worker_settings ws;
    ws.concurrency = n;
    ws.heartbeat_interval = milliseconds(200);
    ws.heartbeat_ttl = milliseconds(1000);
    ws.reaper_interval = milliseconds(300);
    ws.scheduler_interval = milliseconds(50);
    ws.redis_retry_delay = milliseconds(100);
    ws.stop_timeout = milliseconds(5000);
    return ws;
}

struct pool_run {
    std::unique_ptr<worker_pool> pool;
    std::shared_ptr<bool> finished = std::make_shared<bool>(false);
};

asio::awaitable<void> async_run_pool(worker_pool* pool, std::shared_ptr<bool> finished)
{
    co_await pool->async_run();
    *finished = true;
}

pool_run start_pool(asio::any_io_executor ex, store::redis::settings rcfg, queue_settings qs, worker_settings ws,
                    milliseconds sleep)
{
    registry tasks;
    test::register_test_tasks(tasks, sleep);
    pool_run p;
    p.pool = std::make_unique<worker_pool>(ex, rcfg, tasks, qs, ws);
    asio::co_spawn(ex, async_run_pool(p.pool.get(), p.finished), core::log_escape{"test_pool"});
    return p;
}

asio::awaitable<bool> async_stop_pool(pool_run& p, milliseconds limit)
{
    p.pool->stop();
    auto end = in_ms(limit.count());
    while (!*p.finished && core::steady_clock::now() < end) co_await async_sleep(milliseconds(10));
    co_return *p.finished;
}

// Polls job `id` until its state is `want` or `limit` passes.
asio::awaitable<std::optional<job_status>> async_wait_state(connection& c, queue_settings qs, std::string id,
                                                            std::string want, milliseconds limit)
{
    auto end = in_ms(limit.count());
    std::optional<job_status> last;
    while (core::steady_clock::now() < end) {
        auto s = co_await async_job_status(c, qs, id, in_ms(2000));
        if (s && *s) {
            last = **s;
            if (last->state == want) break;
        }
        co_await async_sleep(milliseconds(20));
    }
    co_return last;
}

asio::awaitable<std::int64_t> async_int(connection& c, command cmd)
{
    auto r = co_await c.async_exec(std::move(cmd), in_ms(2000));
    co_return (r && r->is_integer()) ? r->integer : -1;
}

// Waits until HLEN <prefix>test:handled reaches n.
asio::awaitable<std::int64_t> async_wait_handled(connection& c, queue_settings qs, std::int64_t n, milliseconds limit)
{
    auto end = in_ms(limit.count());
    std::int64_t got = 0;
    while (core::steady_clock::now() < end) {
        got = co_await async_int(c, command("HLEN", qs.prefix + "test:handled"));
        if (got >= n) break;
        co_await async_sleep(milliseconds(20));
    }
    co_return got;
}

// Waits until `n` workers of `qs` are registered (they then block in BLMOVE).
asio::awaitable<bool> async_wait_workers(connection& c, queue_settings qs, std::int64_t n, milliseconds limit)
{
    auto end = in_ms(limit.count());
    while (core::steady_clock::now() < end) {
        auto s = co_await async_queue_stats(c, qs, in_ms(2000));
        if (s && s->workers >= n) co_return true;
        co_await async_sleep(milliseconds(10));
    }
    co_return false;
}

asio::awaitable<void> async_cleanup(connection& c, queue_settings qs)
{
    // Every key of this test's prefix, found with SCAN (the shared server is not flushed).
    std::string cursor = "0";
    do {
        auto r = co_await c.async_exec(command("SCAN", cursor, "MATCH", qs.prefix + "*", "COUNT", 1000), in_ms(2000));
        if (!r || !r->is_array() || r->elements.size() != 2) co_return;
        cursor = r->elements[0].str;
        command del("UNLINK");
        for (const auto& k : r->elements[1].elements) del.arg(k.str);
        if (del.size() > 1) co_await c.async_exec(std::move(del), in_ms(2000));
    } while (cursor != "0");
}

// ---------------------------------------------------------------------------------

asio::awaitable<void> async_flaky_test(connection& c)
{
    REQUIRE(co_await c.async_wait_connected(in_ms(3000)));
    auto ex = co_await asio::this_coro::executor;
    auto qs = test_queue("flaky");
    producer prod(c, qs);
    enqueue_options opt;
    opt.max_retries = 5;
    opt.backoff_base = milliseconds(200);
    opt.backoff_cap = milliseconds(2000);
    auto id = co_await prod.async_enqueue("flaky", R"({"n":1})", opt, in_ms(2000));
    REQUIRE(id.has_value());
    auto queued = co_await async_job_status(c, qs, *id, in_ms(2000));
    REQUIRE(queued.has_value());
    REQUIRE(queued->has_value());
    CHECK((*queued)->state == "queued");

    auto p = start_pool(ex, c.config(), qs, fast_workers(2), milliseconds(0));
    auto st = co_await async_wait_state(c, qs, *id, "done", milliseconds(15000));
    REQUIRE(st.has_value());
    CHECK(st->state == "done");
    CHECK(st->attempts == 3);
    CHECK(st->last_error.find("flaky attempt 2") != std::string::npos);

    auto times = co_await c.async_exec(command("LRANGE", qs.prefix + "test:attempts:" + *id, 0, -1), in_ms(2000));
    REQUIRE(times.has_value());
    REQUIRE(times->elements.size() == 3);
    auto t1 = std::stoll(times->elements[0].str), t2 = std::stoll(times->elements[1].str),
         t3 = std::stoll(times->elements[2].str);
    // Backoff: attempt 1 → at least base/2 = 100 ms; attempt 2 → at least base = 200 ms.
    CHECK(t2 - t1 >= 100);
    CHECK(t3 - t2 >= 200);
    MESSAGE("flaky job: attempts at +0, +" << (t2 - t1) << " ms, +" << (t3 - t1) << " ms");
    CHECK(p.pool->stats()->retried.load() == 2);
    CHECK(p.pool->stats()->done.load() == 1);
    REQUIRE(co_await async_stop_pool(p, milliseconds(5000)));
    co_await async_cleanup(c, qs);
}

asio::awaitable<void> async_dead_letter_test(connection& c)
{
    REQUIRE(co_await c.async_wait_connected(in_ms(3000)));
    auto ex = co_await asio::this_coro::executor;
    auto qs = test_queue("dead");
    producer prod(c, qs);
    enqueue_options defaults;  // g++ 12: no braced temporaries inside co_await
    auto id = co_await prod.async_enqueue("fatal", R"({"to":"x@example.com"})", defaults, in_ms(2000));
    REQUIRE(id.has_value());
    auto p = start_pool(ex, c.config(), qs, fast_workers(2), milliseconds(0));

    auto st = co_await async_wait_state(c, qs, *id, "dead", milliseconds(10000));
    REQUIRE(st.has_value());
    CHECK(st->state == "dead");
    CHECK(st->attempts == 1);
    CHECK(st->last_error.find("550") != std::string::npos);

    auto dead = co_await async_list_dead(c, qs, 10, in_ms(2000));
    REQUIRE(dead.has_value());
    REQUIRE(dead->size() == 1);
    CHECK((*dead)[0].id == *id);
    CHECK((*dead)[0].last_error == "smtp_rejected: 550 5.1.1 no such user");
    CHECK((*dead)[0].failed_at_ms > 0);

    auto stats = co_await async_queue_stats(c, qs, in_ms(2000));
    REQUIRE(stats.has_value());
    CHECK(stats->dead == 1);
    CHECK(stats->dead_total == 1);
    CHECK(stats->enqueued == 1);
    CHECK(stats->workers == 2);
    REQUIRE(stats->queues.size() == 1);
    CHECK(stats->queues[0].queue == "default");

    // The operator fixes the cause, then retries the dead job.
    co_await c.async_exec(command("SET", qs.prefix + "test:allow", "1"), in_ms(2000));
    auto none = co_await async_retry_dead(c, qs, "no-such-id", in_ms(2000));
    REQUIRE(none.has_value());
    CHECK(*none == 0);
    auto moved = co_await async_retry_dead(c, qs, *id, in_ms(2000));
    REQUIRE(moved.has_value());
    CHECK(*moved == 1);
    st = co_await async_wait_state(c, qs, *id, "done", milliseconds(10000));
    REQUIRE(st.has_value());
    CHECK(st->state == "done");
    CHECK(st->attempts == 1);
    auto after = co_await async_queue_stats(c, qs, in_ms(2000));
    REQUIRE(after.has_value());
    CHECK(after->dead == 0);
    CHECK(after->done == 1);
    REQUIRE(co_await async_stop_pool(p, milliseconds(5000)));
    co_await async_cleanup(c, qs);
}

asio::awaitable<void> async_enqueue_one(producer* prod, std::shared_ptr<int> ok)
{
    enqueue_options defaults;  // g++ 12: no braced temporaries inside co_await
    auto r = co_await prod->async_enqueue("record", R"({"k":"v"})", defaults, in_ms(5000));
    if (r) ++*ok;
}

asio::awaitable<void> async_thousand_test(connection& c)
{
    REQUIRE(co_await c.async_wait_connected(in_ms(3000)));
    auto ex = co_await asio::this_coro::executor;
    auto qs = test_queue("k");
    producer prod(c, qs);
    test::record_latencies().clear();
    auto p = start_pool(ex, c.config(), qs, fast_workers(8), milliseconds(0));
    // The latencies below are of handling, not of the workers' start.
    REQUIRE_MESSAGE(co_await async_wait_workers(c, qs, 8, milliseconds(10000)), "the 8 workers did not register");

    auto ok = std::make_shared<int>(0);
    auto t0 = core::steady_clock::now();
    for (int i = 0; i < 1000; ++i) asio::co_spawn(ex, async_enqueue_one(&prod, ok), core::log_escape{"enqueue"});
    auto handled = co_await async_wait_handled(c, qs, 1000, milliseconds(60000));
    auto secs = std::chrono::duration<double>(core::steady_clock::now() - t0).count();
    CHECK(*ok == 1000);
    REQUIRE(handled == 1000);

    auto counts = co_await c.async_exec(command("HVALS", qs.prefix + "test:handled"), in_ms(2000));
    REQUIRE(counts.has_value());
    int twice = 0;
    for (const auto& v : counts->elements) twice += v.str != "1";
    CHECK(twice == 0);
    // Let the last acks land, then nothing may be left anywhere.
    std::int64_t done = 0;
    for (int i = 0; i < 200 && done < 1000; ++i) {
        auto s = co_await async_queue_stats(c, qs, in_ms(2000));
        if (s) done = s->done;
        if (done < 1000) co_await async_sleep(milliseconds(10));
    }
    CHECK(done == 1000);
    auto stats = co_await async_queue_stats(c, qs, in_ms(2000));
    REQUIRE(stats.has_value());
    CHECK(stats->processing == 0);
    CHECK(stats->queues.at(0).waiting == 0);

    auto lat = test::record_latencies();
    std::sort(lat.begin(), lat.end());
    REQUIRE(lat.size() == 1000);
    MESSAGE("1,000 jobs, 8 workers: " << 1000 / secs << " jobs/s; enqueue→done p50 " << lat[499] << " ms, p99 "
                                      << lat[989] << " ms");
    REQUIRE(co_await async_stop_pool(p, milliseconds(5000)));
    co_await async_cleanup(c, qs);
}

asio::awaitable<void> async_kill_test(connection& c)
{
    REQUIRE(co_await c.async_wait_connected(in_ms(3000)));
    auto ex = co_await asio::this_coro::executor;
    auto qs = test_queue("kill");
    producer prod(c, qs);
    constexpr int jobs_n = 20;
    std::vector<std::string> ids;
    for (int i = 0; i < jobs_n; ++i) {
        enqueue_options defaults;  // g++ 12: no braced temporaries inside co_await
        auto id = co_await prod.async_enqueue("record", "{}", defaults, in_ms(2000));
        REQUIRE(id.has_value());
        ids.push_back(*id);
    }

    std::string name = test::unique_name("victim");
    auto rcfg = c.config();
    std::string url = "redis://" + rcfg.host + ":" + std::to_string(rcfg.port) + "/" + std::to_string(rcfg.db);
    test::child_process victim({test::require_env("PORTCULLIS_TEST_JOB_WORKER"), url, qs.prefix, name, "4", "3000"});

    // Wait until the victim holds jobs, then kill it without warning.
    std::int64_t held = 0;
    auto end = in_ms(10000);
    while (held < 4 && core::steady_clock::now() < end) {
        held = 0;
        for (int i = 0; i < 4; ++i) {
            held +=
                co_await async_int(c, command("LLEN", qs.prefix + "jobs:processing:" + name + "-" + std::to_string(i)));
        }
        if (held < 4) co_await async_sleep(milliseconds(10));
    }
    REQUIRE(held == 4);
    victim.kill(SIGKILL);
    victim.wait(milliseconds(5000));

    auto p = start_pool(ex, c.config(), qs, fast_workers(4), milliseconds(0));
    auto handled = co_await async_wait_handled(c, qs, jobs_n, milliseconds(30000));
    CHECK(handled == jobs_n);
    for (const auto& id : ids) {
        auto st = co_await async_wait_state(c, qs, id, "done", milliseconds(5000));
        REQUIRE(st.has_value());
        CHECK(st->state == "done");
    }
    for (int i = 0; i < 4; ++i) {
        CHECK(co_await async_int(c, command("LLEN", qs.prefix + "jobs:processing:" + name + "-" + std::to_string(i))) ==
              0);
    }
    CHECK(co_await async_int(c, command("HEXISTS", qs.prefix + "jobs:workers", name + "-0")) == 0);
    CHECK(p.pool->stats()->reaped.load() >= 4);
    MESSAGE("kill -9: " << p.pool->stats()->reaped.load() << " jobs reaped from the dead worker");
    REQUIRE(co_await async_stop_pool(p, milliseconds(5000)));
    co_await async_cleanup(c, qs);
}

asio::awaitable<void> async_restart_test(test::private_redis& srv, connection& c)
{
    REQUIRE(co_await c.async_wait_connected(in_ms(3000)));
    auto ex = co_await asio::this_coro::executor;
    auto qs = test_queue("restart");
    producer prod(c, qs);
    for (int i = 0; i < 50; ++i) {
        enqueue_options opt;
        if (i % 2 == 1) opt.countdown = milliseconds(1500);  // half wait in the delayed set
        auto id = co_await prod.async_enqueue("record", "{}", opt, in_ms(2000));
        REQUIRE(id.has_value());
    }
    CHECK(co_await async_int(c, command("LLEN", qs.prefix + "jobs:queue:default")) == 25);
    CHECK(co_await async_int(c, command("ZCARD", qs.prefix + "jobs:delayed:default")) == 25);

    srv.kill9();
    // While Redis is down, enqueue fails fast (the HTTP handler answers 503).
    auto t0 = core::steady_clock::now();
    enqueue_options defaults;  // g++ 12: no braced temporaries inside co_await
    auto refused = co_await prod.async_enqueue("record", "{}", defaults, in_ms(2000));
    REQUIRE_FALSE(refused.has_value());
    CHECK(refused.error() == core::condition::unavailable);
    const auto refused_after = core::steady_clock::now() - t0;
    MESSAGE("enqueue with Redis down failed after " << std::chrono::duration_cast<milliseconds>(refused_after).count()
                                                    << " ms");
    // Half the 2 s deadline: it failed without waiting for it.
    CHECK(refused_after < milliseconds(1000));

    // Workers start while Redis is down, then it comes back with its append-only file.
    auto p = start_pool(ex, c.config(), qs, fast_workers(4), milliseconds(0));
    // Scenario, not synchronisation: Redis stays down for a while with the workers running
    // (their reconnect attempts, every 100 ms, fail), then returns.
    co_await async_sleep(milliseconds(500));
    srv.start();
    REQUIRE(co_await c.async_wait_connected(in_ms(5000)));
    auto handled = co_await async_wait_handled(c, qs, 50, milliseconds(30000));
    CHECK(handled == 50);
    MESSAGE("redis restart: " << handled << " of 50 jobs handled after it returned");
    REQUIRE(co_await async_stop_pool(p, milliseconds(5000)));
}

asio::awaitable<void> async_graceful_test(connection& c)
{
    REQUIRE(co_await c.async_wait_connected(in_ms(3000)));
    auto ex = co_await asio::this_coro::executor;
    auto qs = test_queue("graceful");
    producer prod(c, qs);
    auto p = start_pool(ex, c.config(), qs, fast_workers(2), milliseconds(700));
    enqueue_options defaults;  // g++ 12: no braced temporaries inside co_await
    auto id = co_await prod.async_enqueue("record", "{}", defaults, in_ms(2000));
    REQUIRE(id.has_value());
    auto st = co_await async_wait_state(c, qs, *id, "started", milliseconds(5000));
    REQUIRE(st.has_value());
    CHECK(st->state == "started");
    auto t0 = core::steady_clock::now();
    REQUIRE(co_await async_stop_pool(p, milliseconds(6000)));
    auto took = core::steady_clock::now() - t0;
    st = co_await async_wait_state(c, qs, *id, "done", milliseconds(100));
    REQUIRE(st.has_value());
    CHECK(st->state == "done");  // the job in hand was finished, not abandoned
    MESSAGE("graceful stop with a 700 ms job in hand took " << std::chrono::duration_cast<milliseconds>(took).count()
                                                            << " ms");
    // The stop ended when the job did, not at the workers' 5 s stop timeout.
    CHECK(took < milliseconds(5000));
    auto stats = co_await async_queue_stats(c, qs, in_ms(2000));
    REQUIRE(stats.has_value());
    CHECK(stats->processing == 0);
    CHECK(stats->workers == 0);  // deregistered
    co_await async_cleanup(c, qs);
}

std::vector<std::int64_t> g_beat_runs;

asio::awaitable<core::result<void>> async_beat_task()
{
    g_beat_runs.push_back(now_ms());
    co_return core::result<void>{};
}

asio::awaitable<void> async_run_beat(beat* b, std::shared_ptr<bool> finished)
{
    co_await b->async_run();
    *finished = true;
}

asio::awaitable<void> async_beat_test(connection& c)
{
    REQUIRE(co_await c.async_wait_connected(in_ms(3000)));
    auto ex = co_await asio::this_coro::executor;
    auto qs = test_queue("beat");
    g_beat_runs.clear();
    connection c2(ex, c.config());
    c2.start();
    REQUIRE(co_await c2.async_wait_connected(in_ms(3000)));
    // Two "processes" share the schedule; each tick must run exactly once.
    beat b1(ex, c, qs), b2(ex, c2, qs);
    b1.add("purge", milliseconds(200), async_beat_task);
    b2.add("purge", milliseconds(200), async_beat_task);
    // Ticks are unix_ms / interval: every run belongs to a tick from this one to the one
    // after both instances stopped, however late its handler started.
    const std::int64_t first_tick = now_ms() / 200;
    auto finished1 = std::make_shared<bool>(false);
    auto finished2 = std::make_shared<bool>(false);
    asio::co_spawn(ex, async_run_beat(&b1, finished1), core::log_escape{"beat1"});
    asio::co_spawn(ex, async_run_beat(&b2, finished2), core::log_escape{"beat2"});
    auto six_runs = [] { return g_beat_runs.size() >= 6; };
    co_await test::async_wait_for(six_runs, std::chrono::seconds(20), "six runs of the beat");
    b1.stop();
    b2.stop();
    auto stopped = [finished1, finished2] { return *finished1 && *finished2; };
    co_await test::async_wait_for(stopped, std::chrono::seconds(10), "both beat instances to stop");
    const std::int64_t last_tick = now_ms() / 200;
    auto runs = g_beat_runs;
    CHECK(runs.size() >= 6);
    CHECK(b1.runs() + b2.runs() == runs.size());
    // Each tick ran at most once over both instances: no more runs than ticks in the
    // window (with the lock broken each instance would run every tick it sees).
    const auto ticks = static_cast<std::size_t>(last_tick - first_tick + 1);
    CHECK(runs.size() <= ticks);
    MESSAGE("beat: " << runs.size() << " runs in " << ticks << " ticks of 200 ms; instance 1 ran " << b1.runs()
                     << ", instance 2 ran " << b2.runs());
    c2.stop();
    co_await async_cleanup(c, qs);
}

}  // namespace

TEST_CASE("jobs: a transiently failing job is retried with backoff and done on attempt 3")
{
    asio::io_context ioc;
    connection c(ioc.get_executor(), test::shared_redis());
    c.start();
    test::run(ioc, async_flaky_test(c));
    c.stop();
    test::drain(ioc);
}

TEST_CASE("jobs: a permanent failure is dead after one attempt; retry re-enqueues it")
{
    asio::io_context ioc;
    connection c(ioc.get_executor(), test::shared_redis());
    c.start();
    test::run(ioc, async_dead_letter_test(c));
    c.stop();
    test::drain(ioc);
}

TEST_CASE("jobs: 1,000 jobs with 8 workers are each handled exactly once")
{
    asio::io_context ioc;
    connection c(ioc.get_executor(), test::shared_redis());
    c.start();
    test::run(ioc, async_thousand_test(c));
    c.stop();
    test::drain(ioc);
}

TEST_CASE("jobs: kill -9 of a worker process holding jobs; a new worker handles every job")
{
    asio::io_context ioc;
    connection c(ioc.get_executor(), test::shared_redis());
    c.start();
    test::run(ioc, async_kill_test(c));
    c.stop();
    test::drain(ioc);
}

TEST_CASE("jobs: Redis restarted (append-only) while 50 jobs wait in the queue and the delayed set")
{
    test::private_redis srv("always");
    srv.start();
    asio::io_context ioc;
    connection c(ioc.get_executor(), *store::redis::parse_url(srv.url()));
    c.start();
    test::run(ioc, async_restart_test(srv, c));
    c.stop();
    test::drain(ioc);
}

TEST_CASE("jobs: graceful stop finishes the job in hand and deregisters")
{
    asio::io_context ioc;
    connection c(ioc.get_executor(), test::shared_redis());
    c.start();
    test::run(ioc, async_graceful_test(c));
    c.stop();
    test::drain(ioc);
}

TEST_CASE("jobs: beat runs each tick once across two instances")
{
    asio::io_context ioc;
    connection c(ioc.get_executor(), test::shared_redis());
    c.start();
    test::run(ioc, async_beat_test(c));
    c.stop();
    test::drain(ioc);
}
