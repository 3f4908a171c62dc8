#include "app/serve.hpp"

#include "app/notify.hpp"
#include "app/routes.hpp"
#include "app/services.hpp"
#include "core/log.hpp"
#include "core/spawn.hpp"
#include "net/server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <csignal>
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
    std::unique_ptr<net::listener> listener;
    std::thread thread;
};

struct shutdown_state {
    const config& cfg;
    shared_services& shared;
    std::vector<std::unique_ptr<io_thread>>& threads;
    asio::io_context& control;
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
    asio::signal_set signals(st->control, SIGTERM, SIGINT);
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
}

}  // namespace

int run_serve(const config& cfg, const serve_options& opts)
{
    auto shared = make_shared_services(cfg, opts.workers);
    if (opts.migrate && !shared->migrate(cfg)) return 1;

    std::vector<std::unique_ptr<io_thread>> threads;
    threads.reserve(cfg.io_threads);
    std::uint16_t port = cfg.http.port;
    for (unsigned i = 0; i < cfg.io_threads; ++i) {
        auto t = std::make_unique<io_thread>();
        t->services = make_thread_services(cfg, *shared, t->ioc, i);
        add_routes(t->routes, *t->services);
        t->listener = std::make_unique<net::listener>(t->ioc, cfg.http, t->routes, cfg.io_threads,
                                                      t->services->request_observer());
        try {
            // The first bind resolves port 0; the others share the port it got.
            port = t->listener->bind(port);
        } catch (const std::system_error& e) {
            core::log::error("listen_failed", {{"listen", cfg.http.host}, {"port", cfg.http.port},
                                               {"error", e.what()}});
            return 1;
        }
        t->listener->start();
        t->services->start();
        threads.push_back(std::move(t));
    }

    start_shared_background(*shared);
    for (auto& t : threads) {
        io_thread* raw = t.get();
        raw->thread = std::thread([raw] {
            core::log::set_thread_buffered(true);
            raw->ioc.run();
            core::log::set_thread_buffered(false);
        });
    }

    asio::io_context control{1};
    shutdown_state st{cfg, *shared, threads, control};
    asio::co_spawn(control, async_wait_for_shutdown(&st), core::log_escape{"shutdown"});
    shared->start_control(control);

    core::log::info("listening", {{"host", cfg.http.host}, {"port", port}, {"io_threads", cfg.io_threads},
                                  {"version", PORTCULLIS_VERSION}});
    sd_notify("READY=1");
    control.run();

    for (auto& t : threads) t->thread.join();
    threads.clear();
    shared.reset();
    return 0;
}

}  // namespace portcullis::app
