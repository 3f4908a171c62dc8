#include "support.hpp"

#include "core/log.hpp"
#include "mime.hpp"
#include "server_fixture.hpp"
#include "store/redis/connection.hpp"
#include "test_env.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_future.hpp>

#include <nlohmann/json.hpp>

#include <signal.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>
#include <stdexcept>

namespace portcullis::test::delivery {

namespace asio = boost::asio;
namespace fs = std::filesystem;
namespace redis = store::redis;
using std::chrono::milliseconds;
using std::chrono::seconds;

std::int64_t unix_ms()
{
    return std::chrono::duration_cast<milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

namespace {

std::string trim(std::string s)
{
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
    std::size_t i = 0;
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
    return s.substr(i);
}

std::string lower(std::string s)
{
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

// Header block of `text` (up to the first empty line) as lower-cased name → unfolded value,
// and the offset of the body.
std::pair<std::map<std::string, std::string>, std::size_t> parse_headers(const std::string& text)
{
    std::map<std::string, std::string> headers;
    std::size_t pos = 0;
    std::string last;
    while (pos < text.size()) {
        std::size_t eol = text.find('\n', pos);
        if (eol == std::string::npos) eol = text.size();
        std::string line = text.substr(pos, eol - pos);
        if (!line.empty() && line.back() == '\r') line.pop_back();
        pos = eol + 1;
        if (line.empty()) break;
        if ((line[0] == ' ' || line[0] == '\t') && !last.empty()) {
            headers[last] += " " + trim(line);
            continue;
        }
        auto colon = line.find(':');
        if (colon == std::string::npos) continue;
        last = lower(trim(line.substr(0, colon)));
        headers[last] = trim(line.substr(colon + 1));
    }
    return {headers, std::min(pos, text.size())};
}

std::string decode_body(const std::map<std::string, std::string>& headers, const std::string& body)
{
    auto it = headers.find("content-transfer-encoding");
    std::string cte = it == headers.end() ? "" : lower(it->second);
    if (cte == "quoted-printable") return decode_quoted_printable(body);
    if (cte == "base64") return decode_base64_lenient(body);
    return body;
}

std::string boundary_of(const std::string& content_type)
{
    auto p = lower(content_type).find("boundary=");
    if (p == std::string::npos) return {};
    std::string b = content_type.substr(p + 9);
    if (!b.empty() && b[0] == '"') {
        auto end = b.find('"', 1);
        return b.substr(1, end == std::string::npos ? std::string::npos : end - 1);
    }
    auto end = b.find_first_of("; \t");
    return end == std::string::npos ? b : b.substr(0, end);
}

std::string find_text_plain(const std::string& entity, int depth)
{
    if (depth > 5) return {};
    auto [headers, body_at] = parse_headers(entity);
    std::string body = entity.substr(body_at);
    std::string ct = headers.count("content-type") ? headers["content-type"] : "text/plain";
    std::string lct = lower(ct);
    if (lct.rfind("text/plain", 0) == 0) return decode_body(headers, body);
    if (lct.rfind("multipart/", 0) != 0) return {};
    std::string boundary = boundary_of(ct);
    if (boundary.empty()) return {};
    const std::string delim = "--" + boundary;
    std::size_t pos = body.find(delim);
    while (pos != std::string::npos) {
        pos += delim.size();
        if (body.compare(pos, 2, "--") == 0) break;
        std::size_t start = body.find('\n', pos);
        if (start == std::string::npos) break;
        ++start;
        std::size_t next = body.find("\r\n" + delim, start);
        std::size_t part_end = next;
        if (next == std::string::npos) {
            next = body.find("\n" + delim, start);
            part_end = next;
        } else {
            next += 2;
        }
        if (next == std::string::npos) break;
        if (body[next] == '\n') ++next;
        std::string found = find_text_plain(body.substr(start, part_end - start), depth + 1);
        if (!found.empty()) return found;
        pos = next;
    }
    return {};
}

}  // namespace

std::string text_plain_part(const std::string& raw_message)
{
    return find_text_plain(raw_message, 0);
}

std::string tail(const std::string& text, std::size_t lines)
{
    std::size_t pos = text.size();
    while (lines > 0 && pos > 0) {
        pos = text.rfind('\n', pos - 1);
        if (pos == std::string::npos) return text;
        --lines;
    }
    return text.substr(pos);
}

std::int64_t percentile(std::vector<std::int64_t> v, double p)
{
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(v.size())));
    rank = std::clamp<std::size_t>(rank, 1, v.size());
    return v[rank - 1];
}

store::redis::settings settings_of(const private_redis& r)
{
    store::redis::settings s;
    s.host = "127.0.0.1";
    s.port = static_cast<std::uint16_t>(r.port());
    return s;
}

// --- recording_sink ----------------------------------------------------------------------

std::vector<sink_message> recording_sink::messages() const
{
    std::vector<sink_message> out;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(mail_dir(), ec)) {
        std::string name = entry.path().filename().string();
        if (name.empty() || name[0] == '.' || entry.path().extension() != ".eml") continue;
        sink_message m;
        m.file = entry.path().string();
        m.stored_ms = std::stoll(name.substr(0, name.find('-')));
        m.raw = read_file(m.file);
        auto [headers, body_at] = parse_headers(m.raw);
        (void)body_at;
        m.session = std::atoi(headers["x-sink-session"].c_str());
        std::stringstream to(headers["x-sink-envelope-to"]);
        std::string item;
        while (std::getline(to, item, ',')) {
            item = trim(item);
            if (!item.empty()) m.to.push_back(item);
        }
        out.push_back(std::move(m));
    }
    std::sort(out.begin(), out.end(), [](const sink_message& a, const sink_message& b) {
        return a.stored_ms != b.stored_ms ? a.stored_ms < b.stored_ms : a.file < b.file;
    });
    return out;
}

std::vector<journal_entry> recording_sink::journal() const
{
    std::vector<journal_entry> out;
    std::ifstream in(journal_path());
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty()) continue;
        auto j = nlohmann::json::parse(line, nullptr, false);
        if (j.is_discarded()) continue;  // a line being written
        journal_entry e;
        e.t = j.value("t", std::int64_t{0});
        e.session = j.value("session", 0);
        e.event = j.value("event", std::string{});
        e.code = j.value("code", 0);
        if (j.contains("to")) e.to = j["to"].get<std::vector<std::string>>();
        out.push_back(std::move(e));
    }
    return out;
}

std::map<std::string, int> recording_sink::count_by_recipient() const
{
    std::map<std::string, int> counts;
    for (const auto& m : messages()) {
        for (const auto& to : m.to) ++counts[to];
    }
    return counts;
}

// --- database, worker, CLI ---------------------------------------------------------------

test_database::test_database() : name_(unique_name("dlv")), url_(create_test_database(name_))
{
    std::map<std::string, std::string> env = {
        {"PORTCULLIS_ENV", "development"}, {"DATABASE_URL", url_}, {"PORTCULLIS_ENV_FILE", "/dev/null"}};
    std::string log = make_temp_dir("dlv-migrate") + "/migrate.log";
    int st = run_command({require_env("PORTCULLIS_BINARY"), "migrate"}, env, log, seconds(60));
    if (st != 0) throw std::runtime_error("portcullis migrate failed:\n" + read_file(log));
}

test_database::~test_database()
{
    try {
        drop_test_database(name_);
    } catch (const std::exception&) {
    }
}

const test_database& shared_database()
{
    static const test_database db;
    return db;
}

std::map<std::string, std::string> worker_env(const std::string& redis_url, const std::string& prefix,
                                              const std::string& database_url, int smtp_port, unsigned job_workers)
{
    return {
        {"PORTCULLIS_ENV", "development"},
        {"SECRET_KEY", "test-secret-key-0123456789abcdef0123456789"},
        {"REDIS_URL", redis_url},
        {"REDIS_PREFIX", prefix},
        {"DATABASE_URL", database_url},
        {"DATABASE_POOL_SIZE", "2"},
        {"EMAIL_BACKEND", "smtp"},
        {"EMAIL_HOST", "127.0.0.1"},
        {"EMAIL_PORT", std::to_string(smtp_port)},
        {"EMAIL_TIMEOUT", "10"},
        {"JOB_WORKERS", std::to_string(job_workers)},
        {"TEMPLATES_DIR", require_env("PORTCULLIS_SOURCE_ROOT") + "/templates"},
        {"PORTCULLIS_ENV_FILE", "/dev/null"},
    };
}

worker_process::worker_process(std::map<std::string, std::string> env, std::string log_path)
{
    proc_ = std::make_unique<process>(std::vector<std::string>{require_env("PORTCULLIS_BINARY"), "worker"}, env,
                                      std::move(log_path));
    bool ok =
        poll_until([&] { return proc_->log().find("job_workers_started") != std::string::npos || !proc_->running(); },
                   seconds(30));
    if (!ok || !proc_->running()) throw std::runtime_error("portcullis worker did not start:\n" + proc_->log());
}

worker_process::~worker_process()
{
    if (proc_ && proc_->running()) {
        proc_->signal(SIGTERM);
        if (!proc_->wait(seconds(40))) proc_->signal(SIGKILL);
    }
}

void worker_process::kill9()
{
    proc_->signal(SIGKILL);
    proc_->wait(seconds(10));
}

std::optional<int> worker_process::terminate(milliseconds timeout)
{
    proc_->signal(SIGTERM);
    return proc_->wait(timeout);
}

cli_result queue_cli(const std::map<std::string, std::string>& env, std::vector<std::string> args,
                     const std::string& scratch_dir)
{
    static int n = 0;
    std::string log = scratch_dir + "/queue-cli-" + std::to_string(++n) + ".out";
    std::vector<std::string> argv = {require_env("PORTCULLIS_BINARY"), "queue"};
    for (auto& a : args) argv.push_back(std::move(a));
    cli_result r;
    r.status = run_command(argv, env, log, seconds(30));
    r.output = read_file(log);
    return r;
}

// --- redis_client ------------------------------------------------------------------------

namespace {

constexpr auto call_timeout = seconds(10);

asio::awaitable<core::result<redis::reply>> async_exec_one(redis::connection* conn, redis::command cmd)
{
    co_return co_await conn->async_exec(std::move(cmd), core::steady_clock::now() + call_timeout);
}

asio::awaitable<core::result<std::string>> async_enqueue_one(jobs::producer* producer, std::string task,
                                                             std::string args, jobs::enqueue_options options)
{
    co_return co_await producer->async_enqueue(task, args, options, core::steady_clock::now() + call_timeout);
}

template <class T>
T wait_for(std::future<T>& f)
{
    if (f.wait_for(call_timeout + seconds(5)) != std::future_status::ready) {
        throw std::runtime_error("redis_client: no answer in time");
    }
    return f.get();
}

}  // namespace

redis_client::redis_client(redis::settings s, std::string prefix)
    : guard_(ioc_.get_executor()), keys_(prefix), settings_(std::move(s))
{
    // The test's own connection logs (reconnects after a Redis restart) only when it matters.
    core::log::set_level(core::log::level::warn);
    conn_ = std::make_unique<redis::connection>(ioc_.get_executor(), settings_);
    jobs::queue_settings qs;
    qs.prefix = std::move(prefix);
    producer_ = std::make_unique<jobs::producer>(*conn_, qs);
    conn_->start();
    thread_ = std::thread([this] { ioc_.run(); });
}

redis_client::~redis_client()
{
    // The connection lives on the client's thread: stop and destroy it there.
    std::promise<void> done;
    auto fut = done.get_future();
    asio::post(ioc_, [this, &done] {
        producer_.reset();
        conn_->stop();
        conn_.reset();
        done.set_value();
    });
    fut.wait_for(seconds(10));
    guard_.reset();
    // Without the guard, run() returns once the connection's run loop has seen its stop and
    // ended; stopped by force only when it has not after 10 s.
    if (!test::wait_until([this] { return ioc_.stopped(); }, seconds(10))) ioc_.stop();
    thread_.join();
}

redis::reply redis_client::exec(redis::command cmd)
{
    auto fut = asio::co_spawn(ioc_, async_exec_one(conn_.get(), std::move(cmd)), asio::use_future);
    auto r = wait_for(fut);
    if (!r) throw std::runtime_error("redis_client: " + r.error().message());
    if (r->is_error()) throw std::runtime_error("redis_client: " + r->str);
    return std::move(*r);
}

std::int64_t redis_client::integer(redis::command cmd)
{
    auto r = exec(std::move(cmd));
    if (!r.is_integer()) throw std::runtime_error("redis_client: not an integer reply");
    return r.integer;
}

std::int64_t redis_client::stat(const std::string& field)
{
    auto r = exec(redis::command("HGET", keys_.stats(), field));
    return r.is_nil() ? 0 : std::stoll(r.str);
}

std::map<std::string, std::string> redis_client::dump_prefix()
{
    std::map<std::string, std::string> out;
    auto keys = exec(redis::command("KEYS", keys_.prefix() + "*"));
    for (const auto& k : keys.elements) {
        std::string type = exec(redis::command("TYPE", k.str)).str;
        redis::reply v;
        if (type == "string")
            v = exec(redis::command("GET", k.str));
        else if (type == "list")
            v = exec(redis::command("LRANGE", k.str, 0, -1));
        else if (type == "hash")
            v = exec(redis::command("HGETALL", k.str));
        else if (type == "set")
            v = exec(redis::command("SMEMBERS", k.str));
        else if (type == "zset")
            v = exec(redis::command("ZRANGE", k.str, 0, -1, "WITHSCORES"));
        else if (type == "stream")
            v = exec(redis::command("XRANGE", k.str, "-", "+"));
        std::ostringstream os;
        os << v;
        out[k.str] = type + " " + os.str();
    }
    return out;
}

std::vector<std::string> redis_client::enqueue(const std::string& task, const std::vector<std::string>& args,
                                               jobs::enqueue_options options)
{
    std::vector<std::future<core::result<std::string>>> futures;
    futures.reserve(args.size());
    for (const auto& a : args) {
        futures.push_back(asio::co_spawn(ioc_, async_enqueue_one(producer_.get(), task, a, options), asio::use_future));
    }
    std::vector<std::string> ids;
    ids.reserve(args.size());
    for (auto& f : futures) {
        auto r = wait_for(f);
        if (!r) throw std::runtime_error("enqueue failed: " + r.error().message());
        ids.push_back(std::move(*r));
    }
    return ids;
}

std::vector<std::map<std::string, std::string>> redis_client::job_states(const std::vector<std::string>& ids)
{
    std::vector<std::map<std::string, std::string>> out;
    out.reserve(ids.size());
    for (const auto& id : ids) {
        auto r = exec(redis::command("HGETALL", keys_.job(id)));
        std::map<std::string, std::string> m;
        for (std::size_t i = 0; i + 1 < r.elements.size(); i += 2) m[r.elements[i].str] = r.elements[i + 1].str;
        out.push_back(std::move(m));
    }
    return out;
}

std::string password_changed_args(const std::string& to, const std::string& tag)
{
    nlohmann::json values = {{"username", tag}, {"time", "job " + tag}};
    nlohmann::json args = {{"template", "password_changed"}, {"to", to}, {"values", values.dump()}};
    return args.dump();
}

jobs::enqueue_options mail_job_options()
{
    jobs::enqueue_options o;
    o.max_retries = 8;
    o.backoff_base = seconds(1);
    o.backoff_cap = std::chrono::minutes(5);
    return o;
}

store::redis::settings shared_redis_settings()
{
    auto s = store::redis::parse_url(require_env("PORTCULLIS_TEST_REDIS_URL"));
    if (!s) throw std::runtime_error("PORTCULLIS_TEST_REDIS_URL is not a redis:// URL");
    return *s;
}

}  // namespace portcullis::test::delivery
