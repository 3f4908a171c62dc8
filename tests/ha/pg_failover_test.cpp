// PostgreSQL failover against real servers: a primary and a streaming standby made with
// pg_basebackup. A pool given both hosts with target_session_attrs=read-write keeps
// writing and reading while the primary is stopped and the standby promoted: calls
// fail only with unavailable codes (503), never a bug code (500), and the pool reaches
// the new primary by itself. A write sent to a standby (25006) is unavailable too.
// With DATABASE_READ_URL on the standby, the real server reads the users list and other
// users' profiles there, and everything that decides authentication on the primary.
#include "auth_support.hpp"
#include "ha_support.hpp"
#include "server_fixture.hpp"
#include "test_env.hpp"

#include "core/error.hpp"
#include "store/pg/blocking_pool.hpp"
#include "store/pg/pool.hpp"

#include <doctest/doctest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

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

const pg::statement insert_stmt{"ha_insert", "INSERT INTO ha_items (id) VALUES ($1)"};
const pg::statement count_stmt{"ha_count", "SELECT count(*) FROM ha_items WHERE id > $1"};

class replicated_pair {
public:
    replicated_pair()
        : bin_(test::require_env("PORTCULLIS_TEST_PG_BIN")),
          dir_(test::make_temp_dir("pc-pg-ha")),
          as_(test::as_postgres())
    {
        if (!as_.empty()) test::sh("chown -R postgres " + dir_);
        test::sh(as_ + bin_ + "/initdb -D " + dir_ + "/primary -A trust -U postgres > " + dir_ + "/initdb.log 2>&1");
        primary_ = start_on_free_port("primary");
        test::sh(as_ + bin_ + "/pg_basebackup -h 127.0.0.1 -p " + std::to_string(primary_) + " -U postgres -D " + dir_ +
                 "/standby -R -X stream > " + dir_ + "/basebackup.log 2>&1");
        standby_ = start_on_free_port("standby");
        test::sh(psql(primary_, "CREATE TABLE ha_items (id bigint PRIMARY KEY)"));
        // The standby replays the table before the test starts.
        if (!test::wait_for([&] { return test::capture(psql(standby_, "SELECT count(*) FROM ha_items")) == "0"; },
                            seconds(30))) {
            throw std::runtime_error("standby did not replay");
        }
    }
    ~replicated_pair()
    {
        for (const char* n : {"primary", "standby"}) {
            std::system(
                (as_ + bin_ + "/pg_ctl -D " + dir_ + "/" + n + " -m immediate -w stop > /dev/null 2>&1").c_str());
        }
        std::system(("rm -rf " + dir_).c_str());
    }

    void stop_primary() { test::sh(as_ + bin_ + "/pg_ctl -D " + dir_ + "/primary -m fast -w stop > /dev/null"); }
    // Stops and restarts the standby's replay of the primary's changes (it keeps receiving them).
    void pause_replay()
    {
        test::sh(psql(standby_, "SELECT pg_wal_replay_pause()") + " > /dev/null");
        if (!test::wait_for([&] { return on_standby("SELECT pg_get_wal_replay_pause_state()") == "paused"; },
                            seconds(10))) {
            throw std::runtime_error("standby replay did not pause");
        }
    }
    void resume_replay() { test::sh(psql(standby_, "SELECT pg_wal_replay_resume()") + " > /dev/null"); }
    // One value, read with psql.
    std::string on_primary(const std::string& sql) const { return test::capture(psql(primary_, sql)); }
    std::string on_standby(const std::string& sql) const { return test::capture(psql(standby_, sql)); }
    void promote_standby() { test::sh(as_ + bin_ + "/pg_ctl -D " + dir_ + "/standby -w promote > /dev/null"); }

    // Both hosts, primary first; libpq picks the one that accepts writes.
    std::string failover_url() const
    {
        return "postgresql://postgres@127.0.0.1:" + std::to_string(primary_) +
               ",127.0.0.1:" + std::to_string(standby_) + "/postgres?target_session_attrs=read-write&connect_timeout=2";
    }
    std::string standby_url() const
    {
        return "postgresql://postgres@127.0.0.1:" + std::to_string(standby_) + "/postgres";
    }
    std::string primary_url() const
    {
        return "postgresql://postgres@127.0.0.1:" + std::to_string(primary_) + "/postgres";
    }
    // The standby first, the primary as the fallback.
    std::string read_url() const
    {
        return "postgresql://postgres@127.0.0.1:" + std::to_string(standby_) +
               ",127.0.0.1:" + std::to_string(primary_) +
               "/postgres?target_session_attrs=prefer-standby&connect_timeout=2";
    }

private:
    // Starts the cluster `name` on a port that was free a moment ago, and on another one
    // when something bound it first (pg_ctl then reports the failed start).
    int start_on_free_port(const std::string& name)
    {
        for (int attempt = 1;; ++attempt) {
            const int port = test::free_port();
            try {
                start(name, port);
                return port;
            } catch (const std::runtime_error&) {
                if (attempt == 5) throw;
            }
        }
    }
    void start(const std::string& name, int port)
    {
        test::sh(as_ + bin_ + "/pg_ctl -D " + dir_ + "/" + name + " -l " + dir_ + "/" + name + ".log -w -o \"-p " +
                 std::to_string(port) + " -c listen_addresses=127.0.0.1 -k " + dir_ + "\" start > /dev/null");
    }
    std::string psql(int port, const std::string& sql) const
    {
        return bin_ + "/psql -X -A -t -h 127.0.0.1 -p " + std::to_string(port) + " -U postgres -d postgres -c \"" +
               sql + "\" 2>/dev/null";
    }

    std::string bin_;
    std::string dir_;
    int primary_ = 0;
    int standby_ = 0;
    std::string as_;
};

struct counts {
    std::atomic<long> ok{0};
    std::atomic<long> unavailable{0};
    std::atomic<long> other{0};
};

struct load_stats {
    counts writes;
    counts reads;
    std::atomic<bool> stop{false};
};

void count(counts& c, const boost::system::error_code& ec)
{
    if (!ec)
        ++c.ok;
    else if (core::is_unavailable(ec))
        ++c.unavailable;
    else
        ++c.other;
}

asio::awaitable<void> async_load(pg::pool* pool, load_stats* st, std::int64_t base)
{
    asio::steady_timer pause(co_await asio::this_coro::executor);
    std::int64_t i = base;
    while (!st->stop.load()) {
        const pg::params w(++i);
        auto wr = co_await pool->async_query(insert_stmt, w, core::steady_clock::now() + seconds(3));
        count(st->writes, wr ? boost::system::error_code{} : wr.error());
        const pg::params r(base);
        auto rd = co_await pool->async_read(count_stmt, r, core::steady_clock::now() + seconds(3));
        count(st->reads, rd ? boost::system::error_code{} : rd.error());
        pause.expires_after(milliseconds(5));
        co_await pause.async_wait(asio::use_awaitable);
    }
}

asio::awaitable<boost::system::error_code> async_insert_once(pg::pool* pool)
{
    const pg::params w(std::int64_t{-1});
    auto r = co_await pool->async_query(insert_stmt, w, core::steady_clock::now() + seconds(5));
    co_return r ? boost::system::error_code{} : r.error();
}

// The pool's counters belong to its thread: read them there.
asio::awaitable<pg::pool_stats> async_stats(pg::pool* pool)
{
    co_return pool->stats();
}

struct done_count {
    std::atomic<int>* done;
    void operator()(std::exception_ptr) const { ++*done; }
};

}  // namespace

TEST_CASE("pg failover: the pool follows a promoted standby; writes and reads fail only as unavailable")
{
    replicated_pair pair;
    asio::io_context ioc;
    auto guard = asio::make_work_guard(ioc);
    pg::blocking_pool blocking(2, 64);

    pg::settings on_standby;
    on_standby.url = pair.standby_url();
    on_standby.pool_size = 1;
    pg::pool standby(ioc.get_executor(), blocking, on_standby);

    pg::settings cfg;
    cfg.url = pair.failover_url();
    cfg.pool_size = 4;
    cfg.query_timeout = seconds(3);
    cfg.connect_timeout = seconds(3);
    cfg.acquire_timeout = seconds(3);
    pg::pool pool(ioc.get_executor(), blocking, cfg);
    asio::post(ioc, [&] {
        standby.start();
        pool.start();
    });
    std::thread io([&ioc] { ioc.run(); });

    // A write on a standby is refused with 25006: unavailable, not a bug.
    auto refused = asio::co_spawn(ioc, async_insert_once(&standby), asio::use_future).get();
    CHECK(refused == core::errc::db_unavailable);

    load_stats st;
    std::atomic<int> done{0};
    constexpr int loops = 3;
    for (int i = 0; i < loops; ++i) {
        asio::co_spawn(ioc, async_load(&pool, &st, std::int64_t{i} * 1'000'000'000), done_count{&done});
    }
    REQUIRE(test::wait_for([&] { return st.writes.ok.load() > 100; }, seconds(20)));

    pair.stop_primary();
    REQUIRE(test::wait_for([&] { return st.writes.unavailable.load() > 0; }, seconds(10)));
    pair.promote_standby();
    auto promoted = std::chrono::steady_clock::now();
    long writes_before = st.writes.ok.load();
    long reads_before = st.reads.ok.load();
    REQUIRE(test::wait_for(
        [&] { return st.writes.ok.load() > writes_before + 50 && st.reads.ok.load() > reads_before + 50; },
        seconds(20)));
    MESSAGE("writes and reads succeed again "
            << std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - promoted).count()
            << " ms after the promotion; failed meanwhile: " << st.writes.unavailable.load() << " writes, "
            << st.reads.unavailable.load() << " reads (unavailable)");

    st.stop = true;
    REQUIRE(test::wait_for([&] { return done.load() == loops; }, seconds(20)));
    CHECK(st.writes.other.load() == 0);
    CHECK(st.reads.other.load() == 0);
    // Every read that still failed had been retried once, and reads that met the failover
    // were retried (the counter /metrics shows as portcullis_db_read_retries_total).
    auto stats = asio::co_spawn(ioc, async_stats(&pool), asio::use_future).get();
    MESSAGE("reads retried: " << stats.read_retries);
    CHECK(stats.read_retries > 0);
    CHECK(stats.read_retries >= static_cast<std::uint64_t>(st.reads.unavailable.load()));

    asio::post(ioc, [&] {
        pool.stop();
        standby.stop();
    });
    guard.reset();
    io.join();
}

namespace {

namespace ta = portcullis::test::auth;

// Whether GET /api/users?q=<username> lists `username`.
bool listed(const ta::client& c, const std::string& access, const std::string& username)
{
    auto r = c.get("/api/users?q=" + username, access);
    REQUIRE(r.status == 200);
    for (const auto& u : r.body["results"]) {
        if (u["username"] == username) return true;
    }
    return false;
}

}  // namespace

TEST_CASE("DATABASE_READ_URL: the users list and others' profiles come from the standby, login and me from the primary")
{
    replicated_pair pair;
    test::server_fixture srv({{"DATABASE_URL", pair.primary_url()},
                              {"DATABASE_READ_URL", pair.read_url()},
                              {"RATE_LIMIT_EXEMPT", "127.0.0.1/32"}},
                             false);
    INFO("server log: ", ta::server_log_tail(srv));
    ta::client c(srv.port());
    ta::account a = ta::register_active(c, "reader");
    auto sa = ta::login(c, a);
    REQUIRE(test::wait_for([&] { return listed(c, sa.access, a.username); }, seconds(20)));

    // The read pool's connections are on the standby, none on the primary.
    const std::string read_conns = "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'portcullis-read'";
    CHECK(std::stoi(pair.on_standby(read_conns)) > 0);
    CHECK(pair.on_primary(read_conns) == "0");

    // The standby stops replaying: what the primary gets from now on, it does not see.
    pair.pause_replay();
    ta::account b = ta::register_active(c, "unseen");  // registration and verification: the primary
    auto sb = ta::login(c, b);                         // login: the primary
    CHECK_FALSE(listed(c, sa.access, b.username));     // the list: the standby
    CHECK_FALSE(listed(c, sb.access, b.username));
    CHECK(c.get("/api/users/" + b.id, sa.access).status == 404);  // someone else's profile: the standby
    auto me = c.get("/api/users/me", sb.access);                  // one's own: the primary
    CHECK(me.status == 200);
    CHECK(me.body["username"] == b.username);
    CHECK(c.get("/api/users/" + b.id, sb.access).status == 200);
    CHECK(c.post("/api/auth/refresh", {{"refresh", sb.refresh}}).status == 200);

    pair.resume_replay();
    CHECK(test::wait_for([&] { return listed(c, sa.access, b.username); }, seconds(20)));
    CHECK(c.get("/api/users/" + b.id, sa.access).status == 200);

    auto m = test::http_request(srv.port(), "GET", "/metrics");
    REQUIRE(m.status == 200);
    CHECK(m.body.find("\nportcullis_db_replica_pool_size 8\n") != std::string::npos);  // 2 I/O threads x 4
}
