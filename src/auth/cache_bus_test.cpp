// The cache bus against a scripted stream: caches are on only while the stream is
// followed, each event reaches every thread's cache, and a lost stream, a reconnect or a
// trim leaves no stale entry behind. tests/auth runs the same path against Redis.

#include "auth/cache_bus.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <doctest/doctest.h>

#include <deque>
#include <functional>

using namespace portcullis;
namespace asio = boost::asio;
using store::kv::invalidation_batch;

namespace {

// One scripted step: what the next call answers, and a check of the caches just before
// (every earlier post has run by then).
struct step {
    enum kind { tail, read } expect = tail;
    core::result<std::string> tail_answer = std::string("0-0");
    core::result<invalidation_batch> read_answer = invalidation_batch{};
    std::function<void(std::string_view last_id)> check = {};
    bool reconnect_after = false;  // the transport reconnects while this call is in flight
};

class scripted_stream final : public store::kv::invalidation_stream {
public:
    scripted_stream(auth::cache_bus& bus, std::deque<step> script) : bus_(bus), script_(std::move(script)) {}

    store::kv::async_result<std::string> async_tail(core::deadline) override
    {
        auto s = co_await next(step::tail, "");
        co_return s.tail_answer;
    }

    store::kv::async_result<invalidation_batch> async_read(std::string_view last_id, std::chrono::milliseconds,
                                                           core::deadline) override
    {
        auto s = co_await next(step::read, last_id);
        co_return s.read_answer;
    }

    std::uint64_t generation() const noexcept override { return generation_; }
    bool finished() const { return script_.empty() && ended_; }

private:
    asio::awaitable<step> next(step::kind k, std::string_view last_id)
    {
        // Let what the bus posted run first.
        co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
        if (script_.empty()) {
            ended_ = true;
            bus_.stop();
            step s;
            s.tail_answer = make_error_code(core::errc::redis_unavailable);
            s.read_answer = make_error_code(core::errc::redis_unavailable);
            co_return s;
        }
        step s = std::move(script_.front());
        script_.pop_front();
        CHECK(s.expect == k);
        if (s.check) s.check(last_id);
        if (s.reconnect_after) ++generation_;
        co_return s;
    }

    auth::cache_bus& bus_;
    std::deque<step> script_;
    std::uint64_t generation_ = 0;
    bool ended_ = false;
};

const auto far = std::chrono::system_clock::now() + std::chrono::hours(1);

struct fixture {
    asio::io_context io;
    auth::session_cache cache;
    auth::cache_bus bus;

    fixture() { bus.add(io, cache); }

    bool cached(const std::string& sid) { return cache.find_session(sid, std::chrono::steady_clock::now()) != nullptr; }
    void put(const std::string& sid) { cache.put_session(sid, 1, far, std::chrono::steady_clock::now()); }

    void follow(scripted_stream& stream)
    {
        auth::follow_settings s;
        s.backoff_min = std::chrono::milliseconds(1);
        s.backoff_max = std::chrono::milliseconds(2);
        asio::co_spawn(io, bus.async_follow(stream, s), asio::detached);
        io.run();
    }
};

invalidation_batch events(std::vector<std::pair<std::string, std::string>> e, bool trimmed = false)
{
    invalidation_batch b;
    b.events = std::move(e);
    b.trimmed = trimmed;
    return b;
}

}  // namespace

TEST_CASE("caches are on only while the stream is followed; each event is applied and followed from its id")
{
    fixture f;
    std::deque<step> script;
    script.push_back({step::tail, std::string("1-0"), {}, [&](std::string_view) { CHECK_FALSE(f.cache.enabled()); }});
    script.push_back({step::read, {}, events({{"2-0", "s:a"}}), [&](std::string_view last) {
                          CHECK(last == "1-0");
                          CHECK(f.cache.enabled());
                          f.put("a");
                          f.put("b");
                      }});
    script.push_back({step::read, {}, make_error_code(core::errc::redis_unavailable), [&](std::string_view last) {
                          CHECK(last == "2-0");
                          CHECK_FALSE(f.cached("a"));
                          CHECK(f.cached("b"));
                      }});
    // The stream is lost: off until a new start succeeds (the failed one is retried).
    script.push_back({step::tail, make_error_code(core::errc::redis_unavailable), {}, [&](std::string_view) {
                          CHECK_FALSE(f.cache.enabled());
                          CHECK_FALSE(f.cached("b"));
                      }});
    script.push_back({step::tail, std::string("7-0"), {}, [&](std::string_view) { CHECK_FALSE(f.cache.enabled()); }});
    script.push_back({step::read, {}, events({}), [&](std::string_view last) {
                          CHECK(last == "7-0");
                          CHECK(f.cache.enabled());
                      }});
    scripted_stream stream(f.bus, std::move(script));
    f.follow(stream);
    CHECK(stream.finished());
    CHECK_FALSE(f.cache.enabled());  // stopping turns them off too
}

TEST_CASE("a trimmed gap drops every cached entry; a reconnect starts again from empty caches")
{
    fixture f;
    std::deque<step> script;
    script.push_back({step::tail, std::string("1-0")});
    script.push_back({step::read, {}, events({{"9-0", "u:5"}}, true), [&](std::string_view) {
                          f.put("a");
                          f.put("b");
                      }});
    script.push_back({step::read,
                      {},
                      events({}),
                      [&](std::string_view last) {
                          CHECK(last == "9-0");
                          CHECK(f.cache.enabled());
                          CHECK(f.cache.sessions() == 0);
                          f.put("c");
                      },
                      true});
    script.push_back({step::tail, std::string("12-0"), {}, [&](std::string_view) {
                          CHECK_FALSE(f.cache.enabled());
                          CHECK_FALSE(f.cached("c"));
                      }});
    script.push_back({step::read, {}, events({}), [&](std::string_view) { CHECK(f.cache.enabled()); }});
    scripted_stream stream(f.bus, std::move(script));
    f.follow(stream);
    CHECK(stream.finished());
}

TEST_CASE("broadcast applies on the calling thread at once and reaches the other threads by post")
{
    asio::io_context io1;
    asio::io_context io2;
    auth::session_cache c1;
    auth::session_cache c2;
    auth::cache_bus bus;
    bus.add(io1, c1);
    bus.add(io2, c2);
    auto now = std::chrono::steady_clock::now();
    for (auto* c : {&c1, &c2}) {
        c->set_enabled(true);
        c->put_session("a", 1, far, now);
    }
    bool applied_at_once = false;
    asio::post(io1, [&] {
        bus.broadcast("s:a");
        applied_at_once = c1.find_session("a", now) == nullptr;
        CHECK(c2.find_session("a", now) != nullptr);  // not yet: io2 has not run
    });
    io1.run();
    CHECK(applied_at_once);
    io2.run();
    CHECK(c2.find_session("a", now) == nullptr);
}
