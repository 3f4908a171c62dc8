#include "app/commands.hpp"

#include "app/notify.hpp"
#include "app/services.hpp"
#include "auth/hash_pool.hpp"
#include "core/log.hpp"
#include "core/spawn.hpp"
#include "jobs/admin.hpp"
#include "jobs/queue.hpp"
#include "store/redis/connection.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

#include <cstdio>
#include <ctime>

namespace portcullis::app {

namespace asio = boost::asio;

int run_migrate(const config& cfg)
{
    return migrate_database(cfg) ? 0 : 1;
}

namespace {

asio::awaitable<void> async_wait_signal(asio::io_context* ioc, asio::signal_set* signals, shared_services* shared,
                                        std::chrono::milliseconds shutdown_timeout)
{
    co_await signals->async_wait(asio::as_tuple(asio::use_awaitable));
    sd_notify("STOPPING=1");
    core::log::info("worker_stopping");
    shared->stop_workers(core::steady_clock::now() + shutdown_timeout);
    ioc->stop();
}

// SIGHUP: stdout has nothing to reopen (this process does not buffer its log lines);
// the mail templates and the disposable-domain list are reloaded.
asio::awaitable<void> async_reload_on_hangup(asio::signal_set* hangup, shared_services* shared)
{
    for (;;) {
        auto [ec, signo] = co_await hangup->async_wait(asio::as_tuple(asio::use_awaitable));
        (void)signo;
        if (ec) co_return;
        std::fflush(stdout);
        bool ok = shared->reload();
        core::log::info("reloaded", {{"signal", "SIGHUP"}, {"result", ok ? "ok" : "failed, kept the old state"}});
    }
}

std::string format_ms(std::int64_t ms)
{
    if (ms <= 0) return "-";
    std::time_t t = ms / 1000;
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

asio::awaitable<void> async_finish(asio::awaitable<int> op, store::redis::connection* conn, int* code)
{
    *code = co_await std::move(op);
    conn->stop();
}

// Runs `fn(conn)` on a fresh connection with a 10 s deadline; returns its exit code.
template <class F>
int with_redis(const config& cfg, F fn)
{
    asio::io_context ioc;
    store::redis::connection conn(ioc.get_executor(), process_redis_settings(cfg));
    conn.start();
    int code = 1;
    asio::co_spawn(ioc, async_finish(fn(&conn, core::steady_clock::now() + std::chrono::seconds(10)), &conn, &code),
                   [&ioc](std::exception_ptr) { ioc.stop(); });
    ioc.run_for(std::chrono::seconds(15));
    return code;
}

asio::awaitable<int> async_stats(store::redis::connection* conn, jobs::queue_settings qs, core::deadline d)
{
    auto s = co_await jobs::async_queue_stats(*conn, qs, d);
    if (!s) {
        std::fprintf(stderr, "portcullis queue: %s\n", s.error().message().c_str());
        co_return 1;
    }
    std::printf("%-20s %10s %10s\n", "queue", "waiting", "delayed");
    for (const auto& q : s->queues) {
        std::printf("%-20s %10lld %10lld\n", q.queue.c_str(), static_cast<long long>(q.waiting),
                    static_cast<long long>(q.delayed));
    }
    std::printf("\nprocessing %lld, dead %lld, workers %lld\n", static_cast<long long>(s->processing),
                static_cast<long long>(s->dead), static_cast<long long>(s->workers));
    std::printf("totals: enqueued %lld, done %lld, retried %lld, dead %lld, reaped %lld\n",
                static_cast<long long>(s->enqueued), static_cast<long long>(s->done),
                static_cast<long long>(s->retried), static_cast<long long>(s->dead_total),
                static_cast<long long>(s->reaped));
    co_return 0;
}

asio::awaitable<int> async_dead(store::redis::connection* conn, jobs::queue_settings qs, core::deadline d)
{
    auto list = co_await jobs::async_list_dead(*conn, qs, 100, d);
    if (!list) {
        std::fprintf(stderr, "portcullis queue: %s\n", list.error().message().c_str());
        co_return 1;
    }
    if (list->empty()) std::printf("no dead jobs\n");
    for (const auto& e : *list) {
        std::printf("%s  %s  attempts=%d  failed=%s\n    %s\n", e.id.c_str(), e.task.c_str(), e.attempt,
                    format_ms(e.failed_at_ms).c_str(), e.last_error.c_str());
    }
    co_return 0;
}

asio::awaitable<int> async_retry(store::redis::connection* conn, jobs::queue_settings qs, std::string id,
                                 core::deadline d)
{
    auto n = co_await jobs::async_retry_dead(*conn, qs, id, d);
    if (!n) {
        std::fprintf(stderr, "portcullis queue: %s\n", n.error().message().c_str());
        co_return 1;
    }
    std::printf("re-enqueued %zu job(s)\n", *n);
    co_return *n == 0 && !id.empty() ? 1 : 0;
}

asio::awaitable<int> async_show(store::redis::connection* conn, jobs::queue_settings qs, std::string id,
                                core::deadline d)
{
    auto st = co_await jobs::async_job_status(*conn, qs, id, d);
    if (!st) {
        std::fprintf(stderr, "portcullis queue: %s\n", st.error().message().c_str());
        co_return 1;
    }
    if (!*st) {
        std::fprintf(stderr, "portcullis queue: no job %s (unknown, or older than a day)\n", id.c_str());
        co_return 1;
    }
    const auto& s = **st;
    std::printf(
        "id:          %s\ntask:        %s\nqueue:       %s\nstate:       %s\nattempts:    %d (max retries %d)\n"
        "enqueued:    %s\nstarted:     %s\nfinished:    %s\nnext try:    %s\nlast error:  %s\n",
        s.id.c_str(), s.task.c_str(), s.queue.c_str(), s.state.c_str(), s.attempts, s.max_retries,
        format_ms(s.enqueued_at_ms).c_str(), format_ms(s.started_at_ms).c_str(), format_ms(s.finished_at_ms).c_str(),
        format_ms(s.eta_ms).c_str(), s.last_error.empty() ? "-" : s.last_error.c_str());
    co_return 0;
}

}  // namespace

int run_worker(const config& cfg)
{
    if (cfg.job_workers == 0) {
        std::fprintf(stderr, "portcullis worker: JOB_WORKERS is 0\n");
        return 2;
    }
    auto shared = make_shared_services(cfg, true, false);
    // Installed before READY=1 so that an early signal is never the default action.
    asio::io_context control{1};
    asio::signal_set signals(control, SIGTERM, SIGINT);
    asio::signal_set hangup(control, SIGHUP);
    shared->start_background();
    asio::co_spawn(control, async_wait_signal(&control, &signals, shared.get(), cfg.shutdown_timeout),
                   core::log_escape{"worker_signals"});
    asio::co_spawn(control, async_reload_on_hangup(&hangup, shared.get()), core::log_escape{"worker_reload"});
    shared->start_control(control, {});
    core::log::info("worker_started", {{"workers", cfg.job_workers}});
    sd_notify("READY=1");
    control.run();
    shared.reset();
    return 0;
}

int run_queue(const config& cfg, const std::vector<std::string>& args)
{
    // The answer goes to stdout; keep routine log lines out of it.
    core::log::set_level(core::log::level::warn);
    const jobs::queue_settings& qs = cfg.queue;
    std::string sub = args.empty() ? "" : args[0];
    if (sub == "stats" && args.size() == 1) {
        return with_redis(cfg, [qs](store::redis::connection* c, core::deadline d) { return async_stats(c, qs, d); });
    }
    if (sub == "dead" && args.size() == 1) {
        return with_redis(cfg, [qs](store::redis::connection* c, core::deadline d) { return async_dead(c, qs, d); });
    }
    if (sub == "retry" && args.size() == 2) {
        std::string id = args[1] == "--all" ? "" : args[1];
        return with_redis(
            cfg, [qs, id](store::redis::connection* c, core::deadline d) { return async_retry(c, qs, id, d); });
    }
    if (sub == "show" && args.size() == 2) {
        const std::string& id = args[1];
        return with_redis(cfg,
                          [qs, id](store::redis::connection* c, core::deadline d) { return async_show(c, qs, id, d); });
    }
    std::fprintf(stderr, "usage: portcullis queue stats | dead | retry ID|--all | show ID\n");
    return 2;
}

int run_bench_hash(const config& cfg, const std::vector<std::string>& args)
{
    double seconds = 5;
    for (std::size_t i = 0; i + 1 < args.size(); ++i) {
        if (args[i] == "--seconds") seconds = std::atof(args[i + 1].c_str());
    }
    // Both engines, one after the other, each on a pool of its own with the configured
    // threads and costs: libargon2 (the reference) first, then the one that serves.
    for (const auth::argon2_engine engine : {auth::argon2_engine::libargon2, auth::argon2_engine::own}) {
        auth::hash_pool_settings h = cfg.hashing;
        h.params.engine = engine;
        auth::hash_pool pool(h);
        // Calibrate with a short run, then size the measured run to about `seconds`.
        auto probe = pool.benchmark(std::max(4u, pool.stats().threads * 2));
        unsigned iterations = static_cast<unsigned>(std::max(8.0, probe.hashes_per_second * std::max(0.5, seconds)));
        auto r = pool.benchmark(iterations);
        const std::string name = pool.hasher().implementation();
        std::printf(
            "argon2id m=%u KiB t=%u p=%u, %-20s %u threads: %.1f hashes/s (%u hashes in %.2f s, %.2f ms per hash per "
            "thread)\n",
            h.params.memory_kib, h.params.iterations, h.params.parallelism, name.c_str(), r.threads,
            r.hashes_per_second, r.iterations, r.seconds, 1000.0 * r.threads / r.hashes_per_second);
    }
    return 0;
}

}  // namespace portcullis::app
