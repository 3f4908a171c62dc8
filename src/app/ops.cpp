#include "app/ops.hpp"

#include "net/errors.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace portcullis::app {

namespace asio = boost::asio;

namespace {

// Readiness answers within this, whatever the request deadline (probes time out at 1-5 s).
constexpr auto ready_timeout = std::chrono::milliseconds(1000);
// The queue-depth read of a scrape; past it the depth series are left out.
constexpr auto queue_read_timeout = std::chrono::milliseconds(500);
constexpr std::string_view prometheus_content_type = "text/plain; version=0.0.4; charset=utf-8";

std::string describe_down(const boost::system::error_code& ec)
{
    if (!ec) return "ok";
    return "unavailable: " + ec.message();
}

asio::awaitable<net::response> async_readyz(thread_services* self, net::request& req)
{
    core::deadline d = std::min(req.deadline, core::steady_clock::now() + ready_timeout);
    readiness r = co_await self->async_check_ready(d);
    if (!r.postgres && !r.redis) {
        net::response ok;
        ok.body = R"({"status":"ready","checks":{"postgres":"ok","redis":"ok"}})";
        co_return ok;
    }
    net::error_details details{{"postgres", describe_down(r.postgres)}, {"redis", describe_down(r.redis)}};
    net::response res =
        net::error_response(503, "unavailable", "A dependency of this instance is unavailable.", details);
    res.add_header("Retry-After", "5");
    co_return res;
}

asio::awaitable<store::pg::pool_stats> async_database_stats(thread_services* services)
{
    co_return services->database_stats();
}

asio::awaitable<std::optional<store::pg::pool_stats>> async_database_read_stats(thread_services* services)
{
    co_return services->database_read_stats();
}

void add_pool(store::pg::pool_stats& sum, const store::pg::pool_stats& s)
{
    sum.size += s.size;
    sum.live += s.live;
    sum.idle += s.idle;
    sum.in_use += s.in_use;
    sum.waiting += s.waiting;
    sum.connect_failures += s.connect_failures;
    sum.errors += s.errors;
    sum.timeouts += s.timeouts;
    sum.exhausted += s.exhausted;
    sum.rejected += s.rejected;
    sum.read_retries += s.read_retries;
}

job_counts copy_counts(const jobs::counters& c)
{
    auto get = [](const std::atomic<std::uint64_t>& a) { return a.load(std::memory_order_relaxed); };
    job_counts j;
    j.enqueued = get(c.enqueued);
    j.enqueue_failed = get(c.enqueue_failed);
    j.started = get(c.started);
    j.done = get(c.done);
    j.retried = get(c.retried);
    j.dead = get(c.dead);
    j.reaped = get(c.reaped);
    for (const auto& b : c.latency_buckets) j.latency_buckets.push_back(get(b));
    j.latency_sum_ms = get(c.latency_sum_ms);
    return j;
}

asio::awaitable<net::response> async_metrics(ops_context* ops, thread_services* self, net::request& req)
{
    metrics_snapshot s;
    s.version = PORTCULLIS_VERSION;
    for (const ops_thread& t : ops->threads) {
        t.metrics->add_to(s.requests);
        // The pool's bookkeeping belongs to its thread: read it there.
        auto db = co_await asio::co_spawn(t.ioc->get_executor(), async_database_stats(t.services), asio::use_awaitable);
        add_pool(s.database, db);
        auto rd =
            co_await asio::co_spawn(t.ioc->get_executor(), async_database_read_stats(t.services), asio::use_awaitable);
        if (rd) {
            if (!s.database_read) s.database_read.emplace();
            add_pool(*s.database_read, *rd);
        }
        const store::redis::connection_stats& rs = t.services->redis_stats();
        s.redis_commands += rs.commands.load(std::memory_order_relaxed);
        s.redis_errors += rs.errors.load(std::memory_order_relaxed);
        s.redis_timeouts += rs.timeouts.load(std::memory_order_relaxed);
        s.redis_reconnects += rs.reconnects.load(std::memory_order_relaxed);
        s.redis_disconnects += rs.disconnects.load(std::memory_order_relaxed);
    }
    s.hash = ops->shared->hash_stats();
    s.jobs = copy_counts(ops->shared->job_counters());
    const auth::audit_counters& ac = ops->shared->audit_counters();
    s.audit.recorded = ac.recorded.load(std::memory_order_relaxed);
    s.audit.written = ac.written.load(std::memory_order_relaxed);
    s.audit.failed = ac.failed.load(std::memory_order_relaxed);
    s.audit.dropped = ac.dropped.load(std::memory_order_relaxed);
    s.audit.webhooks_queued = ops->shared->hook_counters().queued.load(std::memory_order_relaxed);
    s.audit.webhooks_enqueue_failed = ops->shared->hook_counters().enqueue_failed.load(std::memory_order_relaxed);
    core::deadline d = std::min(req.deadline, core::steady_clock::now() + queue_read_timeout);
    auto queues = co_await self->async_queue_stats(d);
    if (queues) s.queues = std::move(*queues);
    s.process = read_process_stats(ops->started);

    net::response res;
    res.content_type = prometheus_content_type;
    res.body = render_metrics(s);
    co_return res;
}

asio::awaitable<net::response> async_openapi(net::request&)
{
    net::response res;
    res.body = std::string(openapi_document());
    co_return res;
}

// --- text exposition ---------------------------------------------------------------

using labels = std::initializer_list<std::pair<std::string_view, std::string_view>>;

class exposition {
public:
    void family(std::string_view name, std::string_view type, std::string_view help)
    {
        out_ += "# HELP ";
        out_ += name;
        out_ += ' ';
        out_ += help;
        out_ += "\n# TYPE ";
        out_ += name;
        out_ += ' ';
        out_ += type;
        out_ += '\n';
    }

    void sample(std::string_view name, labels ls, std::uint64_t v)
    {
        head(name, ls);
        out_ += std::to_string(v);
        out_ += '\n';
    }
    void sample(std::string_view name, labels ls, std::int64_t v)
    {
        head(name, ls);
        out_ += std::to_string(v);
        out_ += '\n';
    }
    void sample(std::string_view name, labels ls, double v)
    {
        head(name, ls);
        number(v);
        out_ += '\n';
    }

    // A single-sample family.
    template <class V>
    void one(std::string_view name, std::string_view type, std::string_view help, V v)
    {
        family(name, type, help);
        sample(name, {}, v);
    }

    void number(double v)
    {
        char buf[64];
        auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::general);
        out_.append(buf, ec == std::errc{} ? p : buf);
    }

    std::string take() { return std::move(out_); }

private:
    void head(std::string_view name, labels ls)
    {
        out_ += name;
        if (ls.size() != 0) {
            out_ += '{';
            bool first = true;
            for (const auto& [k, v] : ls) {
                if (!first) out_ += ',';
                first = false;
                out_ += k;
                out_ += "=\"";
                for (char c : v) {
                    if (c == '\\')
                        out_ += "\\\\";
                    else if (c == '"')
                        out_ += "\\\"";
                    else if (c == '\n')
                        out_ += "\\n";
                    else
                        out_ += c;
                }
                out_ += '"';
            }
            out_ += '}';
        }
        out_ += ' ';
    }

    std::string out_;
};

std::string format_bound(double v)
{
    char buf[32];
    auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::general);
    return std::string(buf, ec == std::errc{} ? p : buf);
}

std::uint64_t count_fds()
{
    std::error_code ec;
    std::uint64_t n = 0;
    for (std::filesystem::directory_iterator it("/proc/self/fd", ec), end; !ec && it != end; it.increment(ec)) ++n;
    return n;
}

}  // namespace

void add_ops_routes(net::router& routes, ops_context* ops, thread_services* self)
{
    routes.add("GET", "/readyz", [self](net::request& r) { return async_readyz(self, r); });
    routes.add("GET", "/metrics", [ops, self](net::request& r) { return async_metrics(ops, self, r); });
    routes.add("GET", "/openapi.json", async_openapi);
}

process_stats read_process_stats(std::chrono::system_clock::time_point started)
{
    process_stats p;
    long page = ::sysconf(_SC_PAGESIZE);
    long ticks = ::sysconf(_SC_CLK_TCK);
    {
        std::ifstream statm("/proc/self/statm");
        std::uint64_t size = 0;
        std::uint64_t resident = 0;
        if (statm >> size >> resident && page > 0) {
            p.virtual_bytes = size * static_cast<std::uint64_t>(page);
            p.resident_bytes = resident * static_cast<std::uint64_t>(page);
        }
    }
    {
        std::ifstream stat("/proc/self/stat");
        std::stringstream ss;
        ss << stat.rdbuf();
        std::string text = ss.str();
        // Fields after the command name (which may contain spaces) start with the state (field 3);
        // utime and stime are fields 14 and 15.
        auto close = text.rfind(')');
        if (close != std::string::npos && ticks > 0) {
            std::istringstream rest(text.substr(close + 1));
            std::string field;
            std::uint64_t utime = 0;
            std::uint64_t stime = 0;
            for (int i = 3; i <= 15 && rest >> field; ++i) {
                if (i == 14) utime = std::strtoull(field.c_str(), nullptr, 10);
                if (i == 15) stime = std::strtoull(field.c_str(), nullptr, 10);
            }
            p.cpu_seconds = static_cast<double>(utime + stime) / static_cast<double>(ticks);
        }
    }
    p.open_fds = count_fds();
    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) p.max_fds = rl.rlim_cur;
    p.start_time_seconds = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::seconds>(started.time_since_epoch()).count());
    return p;
}

std::string render_metrics(const metrics_snapshot& s)
{
    exposition e;
    e.family("portcullis_build_info", "gauge", "Build information; the value is always 1.");
    e.sample("portcullis_build_info", {{"version", s.version}}, std::uint64_t{1});

    e.family("portcullis_http_requests_total", "counter",
             "HTTP requests answered, by method, route template and status.");
    for (const auto& r : s.requests.routes) {
        for (const auto& [status, n] : r.statuses) {
            std::string st = std::to_string(status);
            e.sample("portcullis_http_requests_total", {{"method", r.method}, {"route", r.route}, {"status", st}}, n);
        }
    }
    e.family("portcullis_http_request_duration_seconds", "histogram",
             "Time from the first byte of a request to its response written, by method and route template.");
    for (const auto& r : s.requests.routes) {
        std::uint64_t cumulative = 0;
        for (std::size_t i = 0; i < r.buckets.size(); ++i) {
            cumulative += r.buckets[i];
            std::string le = i < net::duration_bounds.size() ? format_bound(net::duration_bounds[i]) : "+Inf";
            e.sample("portcullis_http_request_duration_seconds_bucket",
                     {{"method", r.method}, {"route", r.route}, {"le", le}}, cumulative);
        }
        e.sample("portcullis_http_request_duration_seconds_sum", {{"method", r.method}, {"route", r.route}},
                 r.duration_sum);
        e.sample("portcullis_http_request_duration_seconds_count", {{"method", r.method}, {"route", r.route}}, r.count);
    }
    e.one("portcullis_http_open_connections", "gauge", "Client connections open now.", s.requests.open_connections);
    e.one("portcullis_http_connections_total", "counter", "Client connections accepted.", s.requests.connections_total);
    e.family("portcullis_http_connections_closed_total", "counter",
             "Client connections the server closed on its own, by reason: shed at MAX_CONNECTIONS, refused, "
             "timed out, or below MIN_INGRESS_RATE.");
    for (std::size_t i = 0; i < net::close_reason_count; ++i) {
        e.sample("portcullis_http_connections_closed_total",
                 {{"reason", net::close_reason_name(static_cast<net::close_reason>(i))}}, s.requests.closed[i]);
    }

    e.one("portcullis_hash_pool_threads", "gauge", "Password hashing threads.", std::uint64_t{s.hash.threads});
    e.one("portcullis_hash_pool_queue_length", "gauge", "Password hashing jobs queued or running.",
          static_cast<std::uint64_t>(s.hash.queue_length));
    e.one("portcullis_hash_pool_queue_limit", "gauge", "Bound of the password hashing queue.",
          static_cast<std::uint64_t>(s.hash.queue_limit));
    e.one("portcullis_hash_pool_jobs_total", "counter", "Password hashing jobs finished.", s.hash.jobs_done);
    e.one("portcullis_hash_pool_rejected_total", "counter", "Password hashing jobs refused because the queue was full.",
          s.hash.rejected);
    e.one("portcullis_hash_pool_wait_seconds_total", "counter",
          "Time hashing jobs spent queued before a thread took them.", static_cast<double>(s.hash.total_wait_us) / 1e6);
    e.one("portcullis_hash_pool_max_wait_seconds", "gauge", "Longest time a hashing job spent queued.",
          static_cast<double>(s.hash.max_wait_us) / 1e6);

    const auto& db = s.database;
    e.one("portcullis_db_pool_size", "gauge", "Configured PostgreSQL connections, over all I/O threads.",
          static_cast<std::uint64_t>(db.size));
    e.one("portcullis_db_pool_open_connections", "gauge", "PostgreSQL connections established.",
          static_cast<std::uint64_t>(db.live));
    e.one("portcullis_db_pool_in_use", "gauge", "PostgreSQL connections leased to a request.",
          static_cast<std::uint64_t>(db.in_use));
    e.one("portcullis_db_pool_idle", "gauge", "PostgreSQL connections idle in the pool.",
          static_cast<std::uint64_t>(db.idle));
    e.one("portcullis_db_pool_waiting", "gauge", "Requests waiting for a PostgreSQL connection.",
          static_cast<std::uint64_t>(db.waiting));
    e.one("portcullis_db_connect_failures_total", "counter", "Failed PostgreSQL connection attempts.",
          db.connect_failures);
    e.one("portcullis_db_errors_total", "counter", "PostgreSQL statements failed because the database was unavailable.",
          db.errors);
    e.one("portcullis_db_timeouts_total", "counter", "PostgreSQL statements cancelled after their timeout.",
          db.timeouts);
    e.one("portcullis_db_pool_exhausted_total", "counter", "Requests that gave up waiting for a connection.",
          db.exhausted);
    e.one("portcullis_db_pool_rejected_total", "counter",
          "Requests refused a connection at once (waiter queue full or database down).", db.rejected);
    e.one("portcullis_db_read_retries_total", "counter",
          "Reads run a second time on another connection after the first found the database unavailable.",
          db.read_retries);

    if (s.database_read) {
        // Present only with DATABASE_READ_URL.
        const auto& rp = *s.database_read;
        e.one("portcullis_db_replica_pool_size", "gauge",
              "Configured DATABASE_READ_URL connections, over all I/O threads.", static_cast<std::uint64_t>(rp.size));
        e.one("portcullis_db_replica_open_connections", "gauge", "DATABASE_READ_URL connections established.",
              static_cast<std::uint64_t>(rp.live));
        e.one("portcullis_db_replica_in_use", "gauge", "DATABASE_READ_URL connections leased to a request.",
              static_cast<std::uint64_t>(rp.in_use));
        e.one("portcullis_db_replica_waiting", "gauge", "Requests waiting for a DATABASE_READ_URL connection.",
              static_cast<std::uint64_t>(rp.waiting));
        e.one("portcullis_db_replica_connect_failures_total", "counter",
              "Failed DATABASE_READ_URL connection attempts.", rp.connect_failures);
        e.one("portcullis_db_replica_errors_total", "counter",
              "DATABASE_READ_URL statements failed because the database was unavailable.", rp.errors);
        e.one("portcullis_db_replica_timeouts_total", "counter",
              "DATABASE_READ_URL statements cancelled after their timeout.", rp.timeouts);
        e.one("portcullis_db_replica_pool_exhausted_total", "counter",
              "Requests that gave up waiting for a DATABASE_READ_URL connection.", rp.exhausted);
        e.one("portcullis_db_replica_pool_rejected_total", "counter",
              "Requests refused a DATABASE_READ_URL connection at once.", rp.rejected);
        e.one("portcullis_db_replica_read_retries_total", "counter",
              "DATABASE_READ_URL reads run a second time after the first found the database unavailable.",
              rp.read_retries);
    }

    e.one("portcullis_redis_commands_total", "counter", "Redis commands sent by the I/O threads.", s.redis_commands);
    e.one("portcullis_redis_errors_total", "counter", "Redis calls failed (unavailable, timeout, overloaded).",
          s.redis_errors);
    e.one("portcullis_redis_timeouts_total", "counter", "Redis calls that reached their deadline.", s.redis_timeouts);
    e.one("portcullis_redis_reconnects_total", "counter", "Redis connections re-established after a loss.",
          s.redis_reconnects);
    e.one("portcullis_redis_disconnects_total", "counter", "Established Redis connections that broke.",
          s.redis_disconnects);

    e.one("portcullis_audit_events_total", "counter", "Security events recorded for the audit trail.",
          s.audit.recorded);
    e.one("portcullis_audit_events_written_total", "counter", "Security events written to the audit trail.",
          s.audit.written);
    e.one("portcullis_audit_write_failures_total", "counter",
          "Security events lost because their batch could not be written.", s.audit.failed);
    e.one("portcullis_audit_events_dropped_total", "counter",
          "Security events lost because a thread's audit buffer was full.", s.audit.dropped);
    e.one("portcullis_webhooks_queued_total", "counter", "Webhook deliveries put on the job queue.",
          s.audit.webhooks_queued);
    e.one("portcullis_webhooks_enqueue_failed_total", "counter",
          "Webhook deliveries lost because the job queue could not take them.", s.audit.webhooks_enqueue_failed);
    const auto& j = s.jobs;
    e.one("portcullis_jobs_enqueued_total", "counter", "Jobs enqueued by this process.", j.enqueued);
    e.one("portcullis_jobs_enqueue_failed_total", "counter", "Jobs this process failed to enqueue.", j.enqueue_failed);
    e.one("portcullis_jobs_started_total", "counter", "Job attempts started by this process's workers.", j.started);
    e.one("portcullis_jobs_done_total", "counter", "Jobs completed by this process's workers.", j.done);
    e.one("portcullis_jobs_retried_total", "counter", "Job attempts that failed and were scheduled again.", j.retried);
    e.one("portcullis_jobs_dead_total", "counter", "Jobs moved to the dead-letter list by this process's workers.",
          j.dead);
    e.one("portcullis_jobs_reaped_total", "counter", "Jobs returned to their queue from workers that died.", j.reaped);
    e.family("portcullis_jobs_latency_seconds", "histogram", "Time from enqueueing a job to its completion.");
    {
        std::uint64_t cumulative = 0;
        for (std::size_t i = 0; i < j.latency_buckets.size(); ++i) {
            cumulative += j.latency_buckets[i];
            std::string le = i < jobs::counters::latency_bounds_ms.size()
                                 ? format_bound(static_cast<double>(jobs::counters::latency_bounds_ms[i]) / 1000.0)
                                 : "+Inf";
            e.sample("portcullis_jobs_latency_seconds_bucket", {{"le", le}}, cumulative);
        }
        e.sample("portcullis_jobs_latency_seconds_sum", {}, static_cast<double>(j.latency_sum_ms) / 1000.0);
        e.sample("portcullis_jobs_latency_seconds_count", {}, cumulative);
    }

    e.one("portcullis_jobs_queue_readable", "gauge", "1 when this scrape could read the queue depths from Redis.",
          std::uint64_t{s.queues ? 1u : 0u});
    if (s.queues) {
        const auto& q = *s.queues;
        e.family("portcullis_jobs_queue_depth", "gauge", "Jobs waiting in a queue, ready to run.");
        for (const auto& d : q.queues) e.sample("portcullis_jobs_queue_depth", {{"queue", d.queue}}, d.waiting);
        e.family("portcullis_jobs_delayed", "gauge", "Jobs of a queue waiting for their time (countdown or retry).");
        for (const auto& d : q.queues) e.sample("portcullis_jobs_delayed", {{"queue", d.queue}}, d.delayed);
        e.one("portcullis_jobs_processing", "gauge", "Jobs held by workers right now.", q.processing);
        e.one("portcullis_jobs_dead_letter", "gauge", "Jobs in the dead-letter list.", q.dead);
        e.one("portcullis_jobs_workers", "gauge", "Job workers registered in Redis.", q.workers);
        e.family("portcullis_jobs_cluster_total", "counter",
                 "Job events counted in Redis by every process sharing the queue.");
        e.sample("portcullis_jobs_cluster_total", {{"event", "enqueued"}}, q.enqueued);
        e.sample("portcullis_jobs_cluster_total", {{"event", "done"}}, q.done);
        e.sample("portcullis_jobs_cluster_total", {{"event", "retried"}}, q.retried);
        e.sample("portcullis_jobs_cluster_total", {{"event", "dead"}}, q.dead_total);
        e.sample("portcullis_jobs_cluster_total", {{"event", "reaped"}}, q.reaped);
    }

    const auto& p = s.process;
    e.one("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", p.resident_bytes);
    e.one("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.", p.virtual_bytes);
    e.one("process_cpu_seconds_total", "counter", "User and system CPU time spent in seconds.", p.cpu_seconds);
    e.one("process_open_fds", "gauge", "Number of open file descriptors.", p.open_fds);
    if (p.max_fds != 0) e.one("process_max_fds", "gauge", "Maximum number of open file descriptors.", p.max_fds);
    e.one("process_start_time_seconds", "gauge", "Start time of the process since the Unix epoch in seconds.",
          p.start_time_seconds);
    return e.take();
}

}  // namespace portcullis::app
