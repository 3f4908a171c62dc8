#include "app/serve.hpp"

#include "app/notify.hpp"
#include "app/ops.hpp"
#include "app/routes.hpp"
#include "app/services.hpp"
#include "core/log.hpp"
#include "core/spawn.hpp"
#include "net/metrics.hpp"
#include "net/server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <memory>
#include <thread>
#include <vector>

namespace portcullis::app {

namespace asio = boost::asio;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// Everything one I/O thread owns.
struct io_thread {
    asio::io_context ioc{1};
    std::unique_ptr<thread_services> services;
    net::router routes;
    std::unique_ptr<net::request_metrics> metrics;
    std::unique_ptr<net::listener> listener;
    std::thread thread;
};

struct shutdown_state {
    const config& cfg;
    shared_services& shared;
    std::vector<std::unique_ptr<io_thread>>& threads;
    asio::io_context& control;
    asio::signal_set& signals;  // SIGTERM, SIGINT
    asio::signal_set& hangup;   // SIGHUP
};

std::size_t open_connections(const std::vector<std::unique_ptr<io_thread>>& threads)
{
    std::size_t n = 0;
    for (const auto& t : threads) n += t->listener->open_connections();
    return n;
}

// Waits for SIGTERM/SIGINT, then drains: stop accepting, let in-flight requests
// finish until SHUTDOWN_TIMEOUT, stop the workers, stop the I/O threads.
asio::awaitable<void> async_wait_for_shutdown(shutdown_state* st)
{
    asio::signal_set& signals = st->signals;
    auto [ec, signo] = co_await signals.async_wait(use_tuple);
    (void)ec;
    sd_notify("STOPPING=1");
    core::log::info("shutdown_started", {{"signal", signo}, {"open_connections", open_connections(st->threads)}});
    for (auto& t : st->threads) {
        io_thread* raw = t.get();
        asio::post(raw->ioc, [raw] { raw->listener->stop(); });
    }
    auto deadline = std::chrono::steady_clock::now() + st->cfg.shutdown_timeout;
    asio::steady_timer timer(st->control);
    // A second signal skips the drain.
    signals.async_wait([&timer](const boost::system::error_code& e, int) {
        if (!e) timer.expires_at(std::chrono::steady_clock::time_point::min());
    });
    while (open_connections(st->threads) > 0 && std::chrono::steady_clock::now() < deadline) {
        timer.expires_after(std::chrono::milliseconds(10));
        auto [tec] = co_await timer.async_wait(use_tuple);
        if (tec) break;
    }
    signals.cancel();
    std::size_t left = open_connections(st->threads);
    if (left > 0) core::log::warn("shutdown_deadline_passed", {{"open_connections", left}});
    st->shared.stop_workers(deadline);
    for (auto& t : st->threads) {
        io_thread* raw = t.get();
        asio::post(raw->ioc, [raw] {
            raw->services->stop();
            raw->ioc.stop();
        });
    }
    core::log::info("shutdown_complete");
    // The watchdog and SIGHUP loops would keep the control context running.
    st->hangup.cancel();
    st->control.stop();
}

// SIGHUP: write out every thread's buffered log lines (stdout has nothing to reopen;
// journald or the supervisor owns the file) and reload the mail templates and the
// disposable-domain list.
asio::awaitable<void> async_reload_on_hangup(shutdown_state* st)
{
    for (;;) {
        auto [ec, signo] = co_await st->hangup.async_wait(use_tuple);
        (void)signo;
        if (ec) co_return;
        for (auto& t : st->threads) asio::post(t->ioc, [] { core::log::flush_thread(); });
        std::fflush(stdout);
        bool ok = st->shared.reload();
        core::log::info("reloaded", {{"signal", "SIGHUP"}, {"result", ok ? "ok" : "failed, kept the old state"}});
    }
}

void print_routes(const config& cfg, shared_services& shared)
{
    asio::io_context ioc{1};
    auto services = make_thread_services(cfg, shared, ioc, 0);
    ops_context ops;
    net::router routes;
    add_routes(routes, *services, &ops);
    for (const auto& [method, path] : routes.routes()) std::printf("%s %s\n", method.c_str(), path.c_str());
}

}  // namespace

int run_serve(const config& cfg, const serve_options& opts)
{
    if (opts.print_routes) {
        auto shared = make_shared_services(cfg, false, false);
        print_routes(cfg, *shared);
        return 0;
    }
    if (opts.migrate && cfg.migrate_on_start && !migrate_database(cfg)) return 1;
    auto shared = make_shared_services(cfg, opts.workers, true);
    if (!shared->load_keys()) return 1;

    // Installed before READY=1 so that an early signal is never the default action.
    asio::io_context control{1};
    asio::signal_set signals(control, SIGTERM, SIGINT);
    asio::signal_set hangup(control, SIGHUP);

    ops_context ops;
    ops.shared = shared.get();
    // Open connections per client address over every I/O thread (MAX_CONNECTIONS_PER_IP).
    net::address_counts per_address;
    std::vector<std::unique_ptr<io_thread>> threads;
    threads.reserve(cfg.io_threads);
    std::uint16_t port = cfg.http.port;
    for (unsigned i = 0; i < cfg.io_threads; ++i) {
        auto t = std::make_unique<io_thread>();
        t->services = make_thread_services(cfg, *shared, t->ioc, i);
        add_routes(t->routes, *t->services, &ops);
        std::vector<net::route_key> keys;
        for (const auto& [method, path] : t->routes.routes()) keys.push_back({method, path});
        t->metrics = std::make_unique<net::request_metrics>(keys);
        ops.threads.push_back({&t->ioc, t->services.get(), t->metrics.get()});
        t->listener = std::make_unique<net::listener>(t->ioc, cfg.http, t->routes, cfg.io_threads, t->metrics.get(),
                                                      &per_address);
        try {
            // The first bind resolves port 0; the others share the port it got.
            port = t->listener->bind(port);
        } catch (const std::system_error& e) {
            core::log::error("listen_failed",
                             {{"listen", cfg.http.host}, {"port", cfg.http.port}, {"error", e.what()}});
            return 1;
        }
        t->listener->start();
        t->services->start();
        threads.push_back(std::move(t));
    }

    shared->start_background();
    for (auto& t : threads) {
        io_thread* raw = t.get();
        raw->thread = std::thread([raw] {
            core::log::set_thread_buffered(true);
            raw->ioc.run();
            core::log::set_thread_buffered(false);
        });
    }

    shutdown_state st{cfg, *shared, threads, control, signals, hangup};
    asio::co_spawn(control, async_wait_for_shutdown(&st), core::log_escape{"shutdown"});
    asio::co_spawn(control, async_reload_on_hangup(&st), core::log_escape{"reload"});
    // Each check posts a heartbeat to every I/O thread; a thread that has not run it by
    // the next check is stuck, and the watchdog ping is withheld.
    auto alive = std::make_shared<std::vector<std::atomic<bool>>>(threads.size());
    for (auto& a : *alive) a.store(true);
    std::vector<asio::io_context*> loops;
    for (auto& t : threads) loops.push_back(&t->ioc);
    shared->start_control(control, [alive, loops]() {
        bool all = true;
        for (std::size_t i = 0; i < loops.size(); ++i) {
            all = (*alive)[i].exchange(false) && all;
            std::atomic<bool>* flag = &(*alive)[i];
            asio::post(*loops[i], [alive, flag] { flag->store(true); });
        }
        return all;
    });

    core::log::info(
        "listening",
        {{"host", cfg.http.host}, {"port", port}, {"io_threads", cfg.io_threads}, {"version", PORTCULLIS_VERSION}});
    sd_notify("READY=1");
    control.run();

    for (auto& t : threads) t->thread.join();
    threads.clear();
    shared.reset();
    return 0;
}

}  // namespace portcullis::app
