// portcullis_bench_store: throughput of the project's own store clients, for the
// comparisons in docs/PERFORMANCE.md (built only with `-Dbench=true`).
//
//   portcullis_bench_store pg URL [--threads N] [--pool N] [--clients N] [--seconds S] [--rows N]
//       `SELECT abalance FROM pgbench_accounts WHERE aid = $1` (pgbench -S's query) through
//       pg::pool: one pool of --pool connections per thread, --clients callers in all.
//   portcullis_bench_store redis URL get|set [--threads N] [--clients N] [--seconds S]
//       GET/SET of one small key through redis::connection: one connection per thread
//       (as the server has), --clients callers in all.
//
// Prints one line: `ops=N seconds=S ops_per_s=X errors=E`. A one-second warm-up is not counted.

#include "core/log.hpp"
#include "core/spawn.hpp"
#include "core/timeout.hpp"
#include "store/pg/blocking_pool.hpp"
#include "store/pg/pool.hpp"
#include "store/redis/connection.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace asio = boost::asio;
namespace pg = portcullis::store::pg;
namespace redis = portcullis::store::redis;
using portcullis::core::steady_clock;

struct options {
    std::string mode;
    std::string url;
    std::string op = "get";
    unsigned threads = 1;
    unsigned pool = 8;
    unsigned clients = 16;
    double seconds = 10;
    std::int64_t rows = 100000;
};

// Shared by every caller: phase flags and counters (relaxed: read once at the end).
struct run_state {
    std::atomic<bool> counting{false};
    std::atomic<bool> stop{false};
    std::atomic<std::uint64_t> ops{0};
    std::atomic<std::uint64_t> errors{0};
};

// pgbench draws its keys with a cheap PRNG too; a CSPRNG call per query would skew the figure.
std::uint64_t next_random()
{
    thread_local std::uint64_t x = 0x9e3779b97f4a7c15ULL ^ std::hash<std::thread::id>{}(std::this_thread::get_id());
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
}

constexpr pg::statement select_balance{"bench_select_balance",
                                       "SELECT abalance FROM pgbench_accounts WHERE aid = $1"};

asio::awaitable<void> async_pg_client(pg::pool* pool, run_state* st, std::int64_t rows)
{
    while (!st->stop.load(std::memory_order_relaxed)) {
        const pg::params args(static_cast<std::int64_t>(next_random() % static_cast<std::uint64_t>(rows)) + 1);
        auto r = co_await pool->async_query(select_balance, args, steady_clock::now() + std::chrono::seconds(5));
        if (!st->counting.load(std::memory_order_relaxed)) continue;
        if (r && r->size() == 1) st->ops.fetch_add(1, std::memory_order_relaxed);
        else st->errors.fetch_add(1, std::memory_order_relaxed);
    }
}

asio::awaitable<void> async_redis_client(redis::connection* conn, run_state* st, bool set)
{
    while (!st->stop.load(std::memory_order_relaxed)) {
        redis::command cmd = set ? redis::command("SET", "bench:key", "xxx") : redis::command("GET", "bench:key");
        auto r = co_await conn->async_exec(std::move(cmd), steady_clock::now() + std::chrono::seconds(5));
        if (!st->counting.load(std::memory_order_relaxed)) continue;
        if (r && !r->is_error()) st->ops.fetch_add(1, std::memory_order_relaxed);
        else st->errors.fetch_add(1, std::memory_order_relaxed);
    }
}

// Waits until the thread's store is usable before the clients start.
asio::awaitable<void> async_pg_thread(pg::pool* pool, run_state* st, unsigned clients, std::int64_t rows)
{
    const pg::params probe(std::int64_t{1});
    for (int i = 0; i < 100; ++i) {
        auto r = co_await pool->async_query(select_balance, probe, steady_clock::now() + std::chrono::seconds(5));
        if (r) break;
        asio::steady_timer t(co_await asio::this_coro::executor);
        t.expires_after(std::chrono::milliseconds(50));
        co_await t.async_wait(asio::use_awaitable);
    }
    auto ex = co_await asio::this_coro::executor;
    for (unsigned i = 0; i < clients; ++i) {
        asio::co_spawn(ex, async_pg_client(pool, st, rows), portcullis::core::log_escape{"bench_pg_client"});
    }
}

asio::awaitable<void> async_redis_thread(redis::connection* conn, run_state* st, unsigned clients, bool set)
{
    auto ready = co_await conn->async_wait_connected(steady_clock::now() + std::chrono::seconds(5));
    if (!ready) {
        std::fprintf(stderr, "redis: not connected\n");
        st->stop = true;
        co_return;
    }
    // GET needs the key to exist.
    redis::command seed("SET", "bench:key", "xxx");
    co_await conn->async_exec(std::move(seed), steady_clock::now() + std::chrono::seconds(5));
    auto ex = co_await asio::this_coro::executor;
    for (unsigned i = 0; i < clients; ++i) {
        asio::co_spawn(ex, async_redis_client(conn, st, set), portcullis::core::log_escape{"bench_redis_client"});
    }
}

// The clients of thread `index` out of `threads`: an even split of the total.
unsigned share(unsigned total, unsigned threads, unsigned index)
{
    return total / threads + (index < total % threads ? 1 : 0);
}

int run(const options& o)
{
    run_state st;
    pg::blocking_pool blocking;
    std::vector<std::unique_ptr<asio::io_context>> contexts;
    std::vector<std::unique_ptr<pg::pool>> pools;
    std::vector<std::unique_ptr<redis::connection>> conns;
    for (unsigned i = 0; i < o.threads; ++i) {
        contexts.push_back(std::make_unique<asio::io_context>(1));
        auto& ioc = *contexts.back();
        unsigned clients = share(o.clients, o.threads, i);
        if (o.mode == "pg") {
            pg::settings s;
            s.url = o.url;
            s.pool_size = o.pool;
            s.application_name = "portcullis_bench";
            pools.push_back(std::make_unique<pg::pool>(ioc.get_executor(), blocking, s));
            pools.back()->start();
            asio::co_spawn(ioc, async_pg_thread(pools.back().get(), &st, clients, o.rows),
                           portcullis::core::log_escape{"bench_pg"});
        } else {
            auto parsed = redis::parse_url(o.url);
            if (!parsed) {
                std::fprintf(stderr, "bad redis url\n");
                return 2;
            }
            conns.push_back(std::make_unique<redis::connection>(ioc.get_executor(), *parsed));
            conns.back()->start();
            asio::co_spawn(ioc, async_redis_thread(conns.back().get(), &st, clients, o.op == "set"),
                           portcullis::core::log_escape{"bench_redis"});
        }
    }

    std::vector<std::thread> threads;
    for (auto& c : contexts) {
        asio::io_context* ioc = c.get();
        threads.emplace_back([ioc] {
            auto guard = asio::make_work_guard(*ioc);
            ioc->run();
        });
    }
    std::this_thread::sleep_for(std::chrono::seconds(1));
    st.counting = true;
    auto started = steady_clock::now();
    std::this_thread::sleep_for(std::chrono::duration<double>(o.seconds));
    st.counting = false;
    double elapsed = std::chrono::duration<double>(steady_clock::now() - started).count();
    st.stop = true;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    for (std::size_t i = 0; i < contexts.size(); ++i) {
        asio::io_context* ioc = contexts[i].get();
        pg::pool* pool = i < pools.size() ? pools[i].get() : nullptr;
        redis::connection* conn = i < conns.size() ? conns[i].get() : nullptr;
        asio::post(*ioc, [ioc, pool, conn] {
            if (pool != nullptr) pool->stop();
            if (conn != nullptr) conn->stop();
            ioc->stop();
        });
    }
    for (auto& t : threads) t.join();
    pools.clear();
    conns.clear();
    const auto ops = st.ops.load();
    std::printf("ops=%llu seconds=%.3f ops_per_s=%.1f errors=%llu\n", static_cast<unsigned long long>(ops), elapsed,
                static_cast<double>(ops) / elapsed, static_cast<unsigned long long>(st.errors.load()));
    return st.errors.load() == 0 ? 0 : 1;
}

int usage()
{
    std::fprintf(stderr,
                 "usage: portcullis_bench_store pg URL [--threads N] [--pool N] [--clients N] [--seconds S] "
                 "[--rows N]\n"
                 "       portcullis_bench_store redis URL get|set [--threads N] [--clients N] [--seconds S]\n");
    return 2;
}

}  // namespace

int main(int argc, char** argv)
{
    std::vector<std::string> args(argv + 1, argv + argc);
    if (args.size() < 2) return usage();
    options o;
    o.mode = args[0];
    o.url = args[1];
    std::size_t i = 2;
    if (o.mode == "redis") {
        if (args.size() < 3) return usage();
        o.op = args[2];
        if (o.op != "get" && o.op != "set") return usage();
        i = 3;
    } else if (o.mode != "pg") {
        return usage();
    }
    for (; i + 1 < args.size(); i += 2) {
        const std::string& k = args[i];
        const char* v = args[i + 1].c_str();
        if (k == "--threads") o.threads = static_cast<unsigned>(std::max(1, std::atoi(v)));
        else if (k == "--pool") o.pool = static_cast<unsigned>(std::max(1, std::atoi(v)));
        else if (k == "--clients") o.clients = static_cast<unsigned>(std::max(1, std::atoi(v)));
        else if (k == "--seconds") o.seconds = std::max(1.0, std::atof(v));
        else if (k == "--rows") o.rows = std::max<std::int64_t>(1, std::atoll(v));
        else return usage();
    }
    portcullis::core::log::set_level(portcullis::core::log::level::warn);
    return run(o);
}
