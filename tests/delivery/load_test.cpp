// End to end, no faults: 1,000 mail jobs through the real `portcullis worker` with 8
// workers to a real SMTP server. Each is delivered exactly once; throughput and
// enqueue-to-delivery latency are reported (not asserted: they depend on the machine).

#include "support.hpp"
#include "test_env.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <map>

using namespace portcullis;
using namespace portcullis::test;
using namespace portcullis::test::delivery;
using std::chrono::seconds;

TEST_CASE("delivery: 1,000 jobs, 8 workers, no faults: each delivered exactly once (jobs/s, p50/p99 reported)")
{
    constexpr int jobs = 1000;
    const std::string prefix = unique_name("dlv") + ":";
    const std::string scratch = make_temp_dir("dlv-load");
    recording_sink sink;
    sink.start();
    auto env = worker_env(require_env("PORTCULLIS_TEST_REDIS_URL"), prefix, shared_database().url(), sink.port(), 8);
    worker_process worker(env, scratch + "/worker.log");
    redis_client redis(shared_redis_settings(), prefix);

    std::vector<std::string> recipients;
    std::vector<std::string> args;
    for (int i = 0; i < jobs; ++i) {
        recipients.push_back("load-" + std::to_string(i) + "@example.test");
        args.push_back(password_changed_args(recipients.back(), "load-" + std::to_string(i)));
    }
    const std::int64_t start_ms = unix_ms();
    auto ids = redis.enqueue("send_email", args, mail_job_options());
    const std::int64_t enqueued_ms = unix_ms();
    REQUIRE(ids.size() == static_cast<std::size_t>(jobs));

    REQUIRE_MESSAGE(poll_until([&] { return sink.message_count() >= static_cast<std::size_t>(jobs); }, seconds(150)),
                    "worker log:\n"
                        << tail(worker.log()));
    REQUIRE(poll_until(
        [&] {
            auto states = redis.job_states(ids);
            return std::all_of(states.begin(), states.end(), [](auto& s) { return s["state"] == "done"; });
        },
        seconds(20)));

    auto messages = sink.messages();
    std::map<std::string, const sink_message*> by_recipient;
    int twice = 0;
    for (const auto& m : messages) {
        REQUIRE(m.to.size() == 1);
        if (by_recipient.count(m.to[0]) != 0) ++twice;
        by_recipient[m.to[0]] = &m;
    }
    CHECK(twice == 0);
    CHECK(messages.size() == static_cast<std::size_t>(jobs));
    auto states = redis.job_states(ids);
    std::vector<std::int64_t> latencies;
    std::int64_t last_ms = 0;
    int missing = 0;
    for (int i = 0; i < jobs; ++i) {
        auto it = by_recipient.find(recipients[static_cast<std::size_t>(i)]);
        if (it == by_recipient.end()) {
            ++missing;
            continue;
        }
        CHECK(states[static_cast<std::size_t>(i)]["attempts"] == "1");
        const std::int64_t enq = std::stoll(states[static_cast<std::size_t>(i)]["enqueued_at"]);
        latencies.push_back(it->second->stored_ms - enq);
        last_ms = std::max(last_ms, it->second->stored_ms);
    }
    CHECK(missing == 0);
    CHECK(redis.stat("done") == jobs);

    const double seconds_total = static_cast<double>(last_ms - start_ms) / 1000.0;
    const double rate = seconds_total > 0 ? jobs / seconds_total : 0;
    std::set<int> sessions;
    for (const auto& m : messages) sessions.insert(m.session);
    MESSAGE("1,000 jobs, 8 workers: enqueued in "
            << (enqueued_ms - start_ms) << " ms; all delivered after " << seconds_total << " s = " << rate
            << " jobs/s; "
            << "enqueue-to-delivery p50 " << percentile(latencies, 50) << " ms, p99 " << percentile(latencies, 99)
            << " ms, max " << percentile(latencies, 100) << " ms; SMTP connections used " << sessions.size());
    CHECK(worker.terminate(seconds(40)) == std::optional<int>(0));
}
