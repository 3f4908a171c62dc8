#include "auth/hash_pool.hpp"

#include <doctest/doctest.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>

#include <memory>
#include <thread>

namespace asio = boost::asio;
using namespace portcullis::auth;
using portcullis::core::errc;
using portcullis::core::result;

namespace {

const argon2_params small{.memory_kib = 256, .iterations = 1, .parallelism = 1};

std::shared_ptr<hash_pool> make_pool(unsigned threads, std::size_t limit, argon2_params p = small)
{
    return std::make_shared<hash_pool>(hash_pool_settings{.threads = threads, .queue_limit = limit, .params = p});
}

struct round_trip {
    bool hashed = false;
    bool verified = false;
    bool wrong_refused = false;
    bool dummy_done = false;
    bool same_thread = true;
};

asio::awaitable<round_trip> async_round_trip(std::shared_ptr<hash_pool> pool)
{
    round_trip r;
    const auto me = std::this_thread::get_id();
    auto h = co_await pool->async_hash("correct horse battery staple");
    r.same_thread = r.same_thread && std::this_thread::get_id() == me;
    if (!h) co_return r;
    r.hashed = h->starts_with("$argon2id$v=19$m=256,t=1,p=1$");
    auto ok = co_await pool->async_verify("correct horse battery staple", *h);
    r.same_thread = r.same_thread && std::this_thread::get_id() == me;
    r.verified = ok && ok->ok && !ok->needs_rehash;
    auto bad = co_await pool->async_verify("wrong", *h);
    r.wrong_refused = bad && !bad->ok;
    auto d = co_await pool->async_verify_dummy("whatever");
    r.dummy_done = d.has_value();
    r.same_thread = r.same_thread && std::this_thread::get_id() == me;
    co_return r;
}

// Whether the coroutine resumed inside its strand after the pool finished.
asio::awaitable<bool> async_resumes_in_strand(std::shared_ptr<hash_pool> pool)
{
    auto ex = co_await asio::this_coro::executor;
    auto h = co_await pool->async_hash("pw");
    const bool inside = ex.target<asio::strand<asio::io_context::executor_type>>()->running_in_this_thread();
    co_return h.has_value() && inside;
}

asio::awaitable<result<std::string>> async_hash_one(std::shared_ptr<hash_pool> pool)
{
    co_return co_await pool->async_hash("password");
}

asio::awaitable<void> async_stop(std::shared_ptr<hash_pool> pool)
{
    pool->stop();
    co_return;
}

}  // namespace

TEST_CASE("hash_pool: hash, verify and dummy resume on the caller's thread")
{
    auto pool = make_pool(2, 8);
    asio::io_context io;
    round_trip r;
    bool done = false;
    asio::co_spawn(io, async_round_trip(pool), [&](std::exception_ptr e, round_trip v) {
        REQUIRE_FALSE(e);
        r = v;
        done = true;
    });
    io.run();  // returns only when the coroutine is done: pending jobs keep io busy
    REQUIRE(done);
    CHECK(r.hashed);
    CHECK(r.verified);
    CHECK(r.wrong_refused);
    CHECK(r.dummy_done);
    CHECK(r.same_thread);

    const auto s = pool->stats();
    CHECK(s.threads == 2);
    CHECK(s.queue_limit == 8);
    CHECK(s.jobs_done == 4);
    CHECK(s.queue_length == 0);
    CHECK(s.rejected == 0);
    CHECK(s.max_wait_us <= s.total_wait_us);
}

TEST_CASE("hash_pool: completion goes through the caller's own executor (strand, other io_context)")
{
    auto pool = make_pool(2, 16);
    asio::io_context io1, io2;
    int inside = 0;
    for (int i = 0; i < 4; ++i) {
        asio::co_spawn(asio::make_strand(io2), async_resumes_in_strand(pool), [&](std::exception_ptr e, bool ok) {
            CHECK_FALSE(e);
            CHECK(io2.get_executor().running_in_this_thread());
            if (ok) ++inside;
        });
    }
    // io1 is busy with nothing of ours: completions must not land there.
    auto guard = asio::make_work_guard(io1);
    std::thread t1([&] { io1.run(); });
    std::thread t2([&] { io2.run(); });
    t2.join();
    guard.reset();
    t1.join();
    CHECK(inside == 4);
}

TEST_CASE("hash_pool: a full queue refuses at once with errc::overloaded")
{
    // One thread and one queue slot; 32 MiB hashes keep the thread busy far longer
    // than it takes to submit six jobs, so at most two get in.
    auto pool = make_pool(1, 1, {.memory_kib = 32768, .iterations = 1, .parallelism = 1});
    asio::io_context io;
    int ok = 0, overloaded = 0, other = 0;
    for (int i = 0; i < 6; ++i) {
        asio::co_spawn(io, async_hash_one(pool), [&](std::exception_ptr e, result<std::string> r) {
            REQUIRE_FALSE(e);
            if (r) {
                ++ok;
            } else if (r.error() == make_error_code(errc::overloaded)) {
                ++overloaded;
            } else {
                ++other;
            }
        });
    }
    io.run();
    CHECK(ok + overloaded == 6);
    CHECK(other == 0);
    CHECK(ok >= 1);
    CHECK(overloaded >= 3);
    CHECK(pool->stats().rejected == static_cast<std::uint64_t>(overloaded));
}

TEST_CASE("hash_pool: stop completes queued jobs, joins, then refuses")
{
    auto pool = make_pool(1, 8, {.memory_kib = 16384, .iterations = 1, .parallelism = 1});
    asio::io_context io;
    int ok = 0, overloaded = 0;
    auto count = [&](std::exception_ptr e, result<std::string> r) {
        REQUIRE_FALSE(e);
        (r ? ok : overloaded) += 1;
    };
    for (int i = 0; i < 4; ++i) asio::co_spawn(io, async_hash_one(pool), count);
    // Runs after the four have queued their jobs (same io_context, FIFO).
    asio::co_spawn(io, async_stop(pool), [](std::exception_ptr e) { CHECK_FALSE(e); });
    io.run();  // must not hang: every job is completed one way or the other
    CHECK(ok + overloaded == 4);
    CHECK(overloaded >= 3);

    io.restart();
    asio::co_spawn(io, async_hash_one(pool), count);
    io.run();
    CHECK(overloaded >= 4);
    pool->stop();  // idempotent
}

TEST_CASE("hash_pool: benchmark runs on the pool threads")
{
    auto pool = make_pool(2, 2);
    const auto b = pool->benchmark(10);
    CHECK(b.iterations == 10);
    CHECK(b.threads == 2);
    CHECK(b.seconds > 0);
    CHECK(b.hashes_per_second > 0);
    CHECK(pool->stats().jobs_done == 10);
    CHECK(pool->stats().rejected == 0);  // the benchmark waits instead of being refused
    CHECK(pool->benchmark(0).iterations == 0);
}
