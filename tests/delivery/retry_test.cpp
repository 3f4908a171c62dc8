// End to end with the real `portcullis worker` and a real SMTP server (tests/smtp_sink.py):
// a temporary refusal (451) is retried with backoff until the mail is delivered; a
// permanent one (550) goes to the dead-letter list at once and `queue retry` sends it
// once the server accepts.

#include "support.hpp"
#include "test_env.hpp"

#include <doctest/doctest.h>

#include <algorithm>

using namespace portcullis;
using namespace portcullis::test;
using namespace portcullis::test::delivery;
using std::chrono::seconds;

namespace {

bool contains(const std::string& text, const std::string& what)
{
    return text.find(what) != std::string::npos;
}

// The journal's DATA outcomes for `to`, in order.
std::vector<journal_entry> data_replies(const recording_sink& sink, const std::string& to)
{
    std::vector<journal_entry> out;
    for (auto& e : sink.journal()) {
        if (e.event == "data" && std::find(e.to.begin(), e.to.end(), to) != e.to.end()) out.push_back(e);
    }
    return out;
}

std::string state_of(redis_client& redis, const std::string& id)
{
    auto st = redis.job_states({id});
    return st[0].count("state") ? st[0]["state"] : std::string();
}

}  // namespace

TEST_CASE("delivery: 451 twice then accepted: delivered on the third attempt, with backoff between tries")
{
    const std::string prefix = unique_name("dlv") + ":";
    const std::string scratch = make_temp_dir("dlv-451");
    recording_sink sink;
    sink.start({"--fail-first", "2", "--fail-code", "451"});
    auto env = worker_env(require_env("PORTCULLIS_TEST_REDIS_URL"), prefix, shared_database().url(), sink.port(), 2);
    worker_process worker(env, scratch + "/worker.log");
    redis_client redis(shared_redis_settings(), prefix);

    const std::string to = "retry-451@example.test";
    auto ids = redis.enqueue("send_email", {password_changed_args(to, "r451")}, mail_job_options());
    const std::string id = ids.at(0);

    REQUIRE_MESSAGE(poll_until([&] { return sink.count_by_recipient()[to] >= 1; }, seconds(30)), "worker log:\n"
                                                                                                     << worker.log());
    REQUIRE(poll_until([&] { return state_of(redis, id) == "done"; }, seconds(10)));

    auto show = queue_cli(env, {"show", id}, scratch);
    CHECK_MESSAGE(show.status == 0, show.output);
    CHECK_MESSAGE(contains(show.output, "state:       done"), show.output);
    CHECK_MESSAGE(contains(show.output, "attempts:    3 "), show.output);
    CHECK_MESSAGE(contains(show.output, "451 4.3.0"), show.output);  // last error: the server's answer

    // Three DATA transactions: 451, 451, 250, each retry after its backoff. The first
    // retry waits 0.5–1 s, the second 1–2 s (base 1 s doubled, jittered to [d/2, d]).
    auto replies = data_replies(sink, to);
    REQUIRE(replies.size() == 3);
    CHECK(replies[0].code == 451);
    CHECK(replies[1].code == 451);
    CHECK(replies[2].code == 250);
    const auto gap1 = replies[1].t - replies[0].t;
    const auto gap2 = replies[2].t - replies[1].t;
    MESSAGE("451 retry spacing: attempt 1→2 " << gap1 << " ms, attempt 2→3 " << gap2 << " ms");
    CHECK(gap1 >= 500);
    CHECK(gap2 >= 1000);
    CHECK(gap2 > gap1 / 2);

    CHECK(sink.messages().size() == 1);
    CHECK(worker.terminate(seconds(40)) == std::optional<int>(0));
}

TEST_CASE("delivery: 550 is a dead letter after one attempt; queue dead shows it, queue retry sends it")
{
    const std::string prefix = unique_name("dlv") + ":";
    const std::string scratch = make_temp_dir("dlv-550");
    recording_sink sink;
    sink.start({"--reject-code", "550"});
    auto env = worker_env(require_env("PORTCULLIS_TEST_REDIS_URL"), prefix, shared_database().url(), sink.port(), 2);
    worker_process worker(env, scratch + "/worker.log");
    redis_client redis(shared_redis_settings(), prefix);

    const std::string to = "reject-550@example.test";
    auto ids = redis.enqueue("send_email", {password_changed_args(to, "r550")}, mail_job_options());
    const std::string id = ids.at(0);

    REQUIRE_MESSAGE(poll_until([&] { return state_of(redis, id) == "dead"; }, seconds(30)), "worker log:\n"
                                                                                                << worker.log());
    auto replies = data_replies(sink, to);
    REQUIRE(replies.size() == 1);
    CHECK(replies[0].code == 550);
    CHECK(redis.integer(store::redis::command("LLEN", redis.keys().dead())) == 1);

    auto show = queue_cli(env, {"show", id}, scratch);
    CHECK_MESSAGE(contains(show.output, "state:       dead"), show.output);
    CHECK_MESSAGE(contains(show.output, "attempts:    1 "), show.output);

    auto dead = queue_cli(env, {"dead"}, scratch);
    CHECK_MESSAGE(dead.status == 0, dead.output);
    CHECK_MESSAGE(contains(dead.output, id), dead.output);
    CHECK_MESSAGE(contains(dead.output, "attempts=1"), dead.output);
    CHECK_MESSAGE(contains(dead.output, "550 5.7.1 Rejected by the test sink"), dead.output);  // the server's answer

    // The server accepts again (the worker's kept connection to the old one is stale).
    sink.start();
    auto retry = queue_cli(env, {"retry", id}, scratch);
    CHECK_MESSAGE(retry.status == 0, retry.output);
    CHECK_MESSAGE(contains(retry.output, "re-enqueued 1 job(s)"), retry.output);

    REQUIRE_MESSAGE(poll_until([&] { return sink.count_by_recipient()[to] >= 1; }, seconds(30)), "worker log:\n"
                                                                                                     << worker.log());
    REQUIRE(poll_until([&] { return state_of(redis, id) == "done"; }, seconds(10)));
    CHECK(sink.count_by_recipient()[to] == 1);
    CHECK(redis.integer(store::redis::command("LLEN", redis.keys().dead())) == 0);
    auto dead_after = queue_cli(env, {"dead"}, scratch);
    CHECK_MESSAGE(contains(dead_after.output, "no dead jobs"), dead_after.output);
    // A retry of a job that is no longer dead changes nothing and says so.
    auto again = queue_cli(env, {"retry", id}, scratch);
    CHECK(again.status != 0);
    CHECK_MESSAGE(contains(again.output, "re-enqueued 0 job(s)"), again.output);
    CHECK(worker.terminate(seconds(40)) == std::optional<int>(0));
}
