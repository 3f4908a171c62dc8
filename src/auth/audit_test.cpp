// The audit writer: events wait in a bounded buffer and go out in batches from the
// thread's loop, never inside record(); a failed write and a full buffer are counted.
#include "auth/audit.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <doctest/doctest.h>

using namespace portcullis;

namespace {

// Keeps the batches it is asked to append; fails them while `down`.
class fake_audit_log final : public store::audit_repository {
public:
    std::vector<std::vector<store::audit_record>> batches;
    bool down = false;

    store::async_result<void> async_append(const std::vector<store::audit_record>& events, core::deadline) override
    {
        if (down) co_return make_error_code(core::errc::db_unavailable);
        batches.push_back(events);
        co_return core::result<void>{};
    }
    store::async_result<std::vector<store::audit_record>> async_list(const store::audit_query&, core::deadline) override
    {
        co_return std::vector<store::audit_record>{};
    }
    store::async_result<std::int64_t> async_purge(store::time_point, std::int64_t, core::deadline) override
    {
        co_return std::int64_t{0};
    }
};

auth::security_event event(std::string type, std::int64_t user)
{
    auth::security_event e;
    e.type = std::move(type);
    e.user_id = user;
    e.meta = auth::request_meta{"192.0.2.7", "agent", "req-1"};
    return e;
}

void flush(boost::asio::io_context& io, auth::audit_writer& w)
{
    boost::asio::co_spawn(io, w.async_flush(core::steady_clock::now() + std::chrono::seconds(5)),
                          [](std::exception_ptr e) {
                              if (e) std::rethrow_exception(e);
                          });
    io.restart();
    io.run();
}

}  // namespace

TEST_CASE("audit writer: record() only buffers; a flush appends batches of at most `batch` events, fields kept")
{
    boost::asio::io_context io;
    fake_audit_log log;
    auth::audit_counters counters;
    auth::audit_settings s;
    s.batch = 2;
    auth::audit_writer w(io.get_executor(), log, counters, s);
    for (int i = 1; i <= 5; ++i) w.record(event("login.failed", i));
    CHECK(log.batches.empty());
    CHECK(counters.recorded == 5);
    flush(io, w);
    REQUIRE(log.batches.size() == 3);
    CHECK(log.batches[0].size() == 2);
    CHECK(log.batches[2].size() == 1);
    const store::audit_record& first = log.batches[0][0];
    CHECK(first.type == "login.failed");
    CHECK(first.user_id == 1);
    CHECK(first.ip == "192.0.2.7");
    CHECK(first.user_agent == "agent");
    CHECK(first.request_id == "req-1");
    CHECK(first.at != store::time_point{});
    CHECK(log.batches[2][0].user_id == 5);
    CHECK(counters.written == 5);
    CHECK(counters.failed == 0);
}

TEST_CASE("audit writer: a failed write is counted and keeps the rest for the next flush; a full buffer drops")
{
    boost::asio::io_context io;
    fake_audit_log log;
    auth::audit_counters counters;
    auth::audit_settings s;
    s.batch = 2;
    s.max_buffered = 3;
    auth::audit_writer w(io.get_executor(), log, counters, s);
    for (int i = 1; i <= 5; ++i) w.record(event("logout", i));
    CHECK(counters.dropped == 2);
    log.down = true;
    flush(io, w);
    CHECK(counters.failed == 2);
    CHECK(log.batches.empty());
    log.down = false;
    flush(io, w);
    REQUIRE(log.batches.size() == 1);
    CHECK(log.batches[0].size() == 1);
    CHECK(log.batches[0][0].user_id == 3);
    CHECK(counters.written == 1);
}
