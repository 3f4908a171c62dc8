// A worker process for the kill -9 test:
//   jobs_test_worker <redis-url> <prefix> <pool-name> <concurrency> <sleep-ms>
// Runs the pool with the test tasks until SIGTERM/SIGINT.
#include "test_tasks.hpp"

#include "core/spawn.hpp"
#include "jobs/worker_pool.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include <cstdio>
#include <cstdlib>
#include <string>

using namespace portcullis;

int main(int argc, char** argv)
{
    if (argc != 6) {
        std::fprintf(stderr, "usage: %s redis-url prefix pool-name concurrency sleep-ms\n", argv[0]);
        return 2;
    }
    auto cfg = store::redis::parse_url(argv[1]);
    if (!cfg) return 2;
    jobs::registry tasks;
    test::register_test_tasks(tasks, std::chrono::milliseconds(std::atoi(argv[5])));
    jobs::queue_settings qs;
    qs.prefix = argv[2];
    jobs::worker_settings ws;
    ws.name = argv[3];
    ws.concurrency = static_cast<unsigned>(std::atoi(argv[4]));
    ws.heartbeat_interval = std::chrono::milliseconds(200);
    ws.heartbeat_ttl = std::chrono::milliseconds(1000);
    ws.reaper_interval = std::chrono::milliseconds(300);
    ws.scheduler_interval = std::chrono::milliseconds(50);

    boost::asio::io_context ioc;
    jobs::worker_pool pool(ioc.get_executor(), *cfg, tasks, qs, ws);
    boost::asio::signal_set signals(ioc, SIGTERM, SIGINT);
    signals.async_wait([&pool](const boost::system::error_code& ec, int) {
        if (!ec) pool.stop();
    });
    boost::asio::co_spawn(ioc, pool.async_run(), [&](std::exception_ptr e) {
        core::log_escape{"test_worker"}(e);
        signals.cancel();
    });
    ioc.run();
    return 0;
}
