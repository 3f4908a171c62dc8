#pragma once
// Helpers of the end-to-end delivery tests: a private SMTP sink (tests/smtp_sink.py) that
// can be stopped and restarted on the same port, the real `portcullis worker` and
// `portcullis queue …` as child processes, a blocking Redis client (with a jobs::producer)
// running on its own thread, and parsing of what the sink stored.

#include "jobs/queue.hpp"
#include "private_redis.hpp"
#include "process.hpp"
#include "smtp_sink.hpp"
#include "store/redis/settings.hpp"
#include "wait.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace portcullis::test::delivery {

// Wall-clock Unix milliseconds (the sink and the queue both stamp with it).
std::int64_t unix_ms();

// Polls `cond` every 50 ms (the conditions here read the sink's files or Redis) until it
// holds or `timeout` passes; returns its last value.
inline bool poll_until(const std::function<bool()>& cond, std::chrono::milliseconds timeout)
{
    return test::wait_until(cond, timeout, std::chrono::milliseconds(50));
}

// One message the sink accepted.
struct sink_message {
    std::string file;
    std::int64_t stored_ms = 0;   // from the file name
    int session = 0;              // X-Sink-Session
    std::vector<std::string> to;  // X-Sink-Envelope-To
    std::string raw;              // the whole file (sink headers + message)
};

// One line of the sink's journal.
struct journal_entry {
    std::int64_t t = 0;
    int session = 0;
    std::string event;  // mail, rcpt, data, data_received
    int code = 0;       // 0 for data_received
    std::vector<std::string> to;
};

// The common sink (tests/common/smtp_sink.hpp) with readers of what it stored.
class recording_sink : public test::smtp_sink {
public:
    std::vector<sink_message> messages() const;
    std::vector<journal_entry> journal() const;
    // How many stored messages each envelope recipient got.
    std::map<std::string, int> count_by_recipient() const;
};

// A scratch PostgreSQL database with the schema migrated (the worker's purge beat uses
// it), dropped on destruction.
class test_database {
public:
    test_database();
    ~test_database();
    test_database(const test_database&) = delete;
    test_database& operator=(const test_database&) = delete;
    const std::string& url() const noexcept { return url_; }

private:
    std::string name_;
    std::string url_;
};

// One migrated database for the whole test executable (made on first use).
const test_database& shared_database();

// Environment of `portcullis worker` and `portcullis queue`: development mode, the SMTP
// backend pointed at `smtp_port`, `job_workers` workers, key prefix `prefix`.
std::map<std::string, std::string> worker_env(const std::string& redis_url, const std::string& prefix,
                                              const std::string& database_url, int smtp_port, unsigned job_workers);

// The real `portcullis worker`. start() waits until its pool logged job_workers_started.
class worker_process {
public:
    worker_process(std::map<std::string, std::string> env, std::string log_path);
    ~worker_process();  // SIGTERM, then SIGKILL after 40 s
    worker_process(const worker_process&) = delete;
    worker_process& operator=(const worker_process&) = delete;

    int pid() const { return proc_->pid(); }
    process& proc() { return *proc_; }
    std::string log() const { return proc_->log(); }
    // SIGKILL and reap.
    void kill9();
    // SIGTERM; returns the exit status, nullopt when it did not exit within `timeout`.
    std::optional<int> terminate(std::chrono::milliseconds timeout);

private:
    std::unique_ptr<process> proc_;
};

// Runs `portcullis queue <args…>` with `env`; returns exit status and output.
struct cli_result {
    int status = -1;
    std::string output;
};
cli_result queue_cli(const std::map<std::string, std::string>& env, std::vector<std::string> args,
                     const std::string& scratch_dir);

// A blocking Redis client for tests: the project's connection and jobs::producer on a
// private io_context thread. Every call waits for its answer (10 s) or throws.
class redis_client {
public:
    redis_client(store::redis::settings s, std::string prefix);
    ~redis_client();
    redis_client(const redis_client&) = delete;
    redis_client& operator=(const redis_client&) = delete;

    store::redis::reply exec(store::redis::command cmd);
    std::int64_t integer(store::redis::command cmd);
    // A field of the cluster-wide counters (jobs:stats): enqueued, done, retried, dead, reaped.
    std::int64_t stat(const std::string& field);
    // Every key under the prefix with a readable dump of its value (strings, lists,
    // hashes, sets, sorted sets), for scanning Redis for secrets.
    std::map<std::string, std::string> dump_prefix();

    // Enqueues one job per args text concurrently (pipelined); returns the ids in order.
    // Throws when any enqueue failed.
    std::vector<std::string> enqueue(const std::string& task, const std::vector<std::string>& args,
                                     jobs::enqueue_options options);
    // Job state hashes (HGETALL jobs:job:<id>) for each id, in order.
    std::vector<std::map<std::string, std::string>> job_states(const std::vector<std::string>& ids);

    const jobs::keyspace& keys() const noexcept { return keys_; }

private:
    boost::asio::io_context ioc_;
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard_;
    jobs::keyspace keys_;
    store::redis::settings settings_;
    std::unique_ptr<store::redis::connection> conn_;
    std::unique_ptr<jobs::producer> producer_;
    std::thread thread_;
};

// The `send_email` args of a password_changed notice to `to` (no sealed code needed).
std::string password_changed_args(const std::string& to, const std::string& tag);

// The default options of the app's mail jobs (as src/auth enqueues them): 8 retries,
// backoff 1 s .. 5 min.
jobs::enqueue_options mail_job_options();

// Settings of the shared test Redis (PORTCULLIS_TEST_REDIS_URL).
store::redis::settings shared_redis_settings();

using test::private_redis;
// Client settings of a private Redis.
store::redis::settings settings_of(const private_redis& r);

// The text/plain part of a MIME message (quoted-printable and base64 decoded); empty
// when there is none.
std::string text_plain_part(const std::string& raw_message);

// The last `lines` lines of `text` (logs in failure messages).
std::string tail(const std::string& text, std::size_t lines = 40);

// Percentile `p` (0..100) of `v` (nearest rank); 0 for an empty vector.
std::int64_t percentile(std::vector<std::int64_t> v, double p);

}  // namespace portcullis::test::delivery
