#include "jobs/envelope.hpp"
#include "jobs/queue.hpp"

#include <doctest/doctest.h>

using namespace portcullis;
using namespace portcullis::jobs;
using std::chrono::milliseconds;

TEST_CASE("envelope round trip keeps every field and embeds args as JSON")
{
    envelope e;
    e.id = "abc123";
    e.task = "mail.send";
    e.queue = "mail";
    e.args = R"({"to":["a@example.com"],"n":1,"s":"h\u00e9 \"q\""})";
    e.attempt = 2;
    e.max_retries = 7;
    e.enqueued_at_ms = 1763734573123;
    e.eta_ms = 1763734574000;
    e.backoff_base_ms = 250;
    e.backoff_cap_ms = 60000;
    e.last_error = "smtp_unavailable: 451 try later";
    e.failed_at_ms = 1763734575000;
    auto text = encode(e);
    CHECK(text.find(R"("args":{"to":["a@example.com"])") != std::string::npos);
    auto d = decode(text);
    REQUIRE(d.has_value());
    CHECK(d->id == e.id);
    CHECK(d->task == e.task);
    CHECK(d->queue == e.queue);
    CHECK(d->attempt == 2);
    CHECK(d->max_retries == 7);
    CHECK(d->enqueued_at_ms == e.enqueued_at_ms);
    CHECK(d->eta_ms == e.eta_ms);
    CHECK(d->backoff_base_ms == 250);
    CHECK(d->backoff_cap_ms == 60000);
    CHECK(d->last_error == e.last_error);
    CHECK(d->failed_at_ms == e.failed_at_ms);
    CHECK(decode(d->args).has_error());  // args is not an envelope…
    CHECK(is_json(d->args));             // …but the same JSON value
    CHECK(encode(*d) == text);
}

TEST_CASE("malformed envelopes are rejected")
{
    CHECK(decode("").error() == core::errc::malformed_json);
    CHECK(decode("[]").has_error());
    CHECK(decode(R"({"task":"t"})").has_error());          // no id
    CHECK(decode(R"({"id":"","task":"t"})").has_error());  // empty id
    CHECK(decode(R"({"id":"x","task":"t","attempt":"1"})").has_error());
    CHECK(decode(R"({"id":"x","task":"t","attempt":-1})").has_error());
    auto minimal = decode(R"({"id":"x","task":"t"})");
    REQUIRE(minimal.has_value());
    CHECK(minimal->queue == "default");
    CHECK(minimal->args == "{}");
    CHECK_FALSE(is_json("{nope"));
}

TEST_CASE("retry delay doubles per attempt, is capped, and jitters within [d/2, d]")
{
    const milliseconds base(1000), cap(10000);
    CHECK(retry_delay(base, cap, 1, 0) == milliseconds(500));
    CHECK(retry_delay(base, cap, 1, 500) == milliseconds(1000));
    CHECK(retry_delay(base, cap, 1, 501) == milliseconds(500));
    CHECK(retry_delay(base, cap, 2, 0) == milliseconds(1000));
    CHECK(retry_delay(base, cap, 3, 0) == milliseconds(2000));
    CHECK(retry_delay(base, cap, 4, 0) == milliseconds(4000));
    CHECK(retry_delay(base, cap, 5, 0) == milliseconds(5000));  // 16 s capped at 10 s, half of it
    CHECK(retry_delay(base, cap, 60, ~0ULL) <= cap);            // no overflow far out
    CHECK(retry_delay(base, cap, 60, 0) == milliseconds(5000));
    for (std::uint64_t r = 0; r < 5000; r += 37) {
        auto d = retry_delay(base, cap, 3, r * 7919);
        CHECK(d >= milliseconds(2000));
        CHECK(d <= milliseconds(4000));
    }
    // A zero base counts as 1 ms: the delay is 0 or 1 ms, never negative, no division by zero.
    CHECK(retry_delay(milliseconds(0), milliseconds(0), 1, 0) == milliseconds(0));
    CHECK(retry_delay(milliseconds(0), milliseconds(0), 1, 1) == milliseconds(1));
    CHECK(retry_delay(milliseconds(0), milliseconds(0), 3, ~0ULL) <= milliseconds(1));
}

TEST_CASE("transient failures retry until max_retries, permanent ones die at once")
{
    auto unavailable = core::make_error_code(core::errc::smtp_unavailable);
    auto rejected = core::make_error_code(core::errc::smtp_rejected);
    CHECK(is_transient(unavailable));
    CHECK(is_transient(core::make_error_code(core::errc::timeout)));
    CHECK(is_transient(retry_later()));
    CHECK(retry_later() == core::condition::unavailable);
    CHECK_FALSE(is_transient(rejected));
    CHECK_FALSE(is_transient(core::make_error_code(core::errc::internal)));

    CHECK(after_failure(unavailable, 1, 2) == next_step::retry);
    CHECK(after_failure(unavailable, 2, 2) == next_step::retry);
    CHECK(after_failure(unavailable, 3, 2) == next_step::dead);
    CHECK(after_failure(unavailable, 1, 0) == next_step::dead);
    CHECK(after_failure(rejected, 1, 5) == next_step::dead);
}

TEST_CASE("key names live under the prefix")
{
    keyspace k("t1:");
    CHECK(k.queue("mail") == "t1:jobs:queue:mail");
    CHECK(k.delayed("mail") == "t1:jobs:delayed:mail");
    CHECK(k.processing("w-1") == "t1:jobs:processing:w-1");
    CHECK(k.heartbeat("w-1") == "t1:jobs:hb:w-1");
    CHECK(k.job("id") == "t1:jobs:job:id");
    CHECK(k.mark("id", "sent") == "t1:jobs:mark:id:sent");
    CHECK(k.beat("purge", 42) == "t1:jobs:beat:purge:42");
    CHECK(k.dead() == "t1:jobs:dead");
}

TEST_CASE("latency histogram buckets")
{
    counters c;
    c.observe_latency(milliseconds(5));
    c.observe_latency(milliseconds(10));
    c.observe_latency(milliseconds(11));
    c.observe_latency(milliseconds(1000000));
    CHECK(c.latency_buckets[0].load() == 2);
    CHECK(c.latency_buckets[1].load() == 1);
    CHECK(c.latency_buckets.back().load() == 1);
    CHECK(c.latency_count.load() == 4);
    CHECK(c.latency_sum_ms.load() == 1000026);
}

TEST_CASE("registry finds tasks by name")
{
    registry r;
    CHECK(r.empty());
    r.add("a", handler{}, task_options{milliseconds(5)});
    REQUIRE(r.find("a") != nullptr);
    CHECK(r.find("a")->options.timeout == milliseconds(5));
    CHECK(r.find("b") == nullptr);
}
