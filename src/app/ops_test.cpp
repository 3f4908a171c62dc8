#include "app/ops.hpp"

#include <doctest/doctest.h>

#include <set>
#include <sstream>

using namespace portcullis;

namespace {
bool has_line(const std::string& text, const std::string& line)
{
    std::istringstream in(text);
    for (std::string l; std::getline(in, l);) {
        if (l == line) return true;
    }
    return false;
}
}  // namespace

TEST_CASE("metrics rendering: families, cumulative buckets, escaped labels")
{
    net::request_metrics m({{"GET", "/healthz"}, {"GET", "/api/users/{id}"}});
    m.on_request("GET", "/healthz", 200, std::chrono::microseconds(300));
    m.on_request("GET", "/healthz", 200, std::chrono::milliseconds(20));
    m.on_request("GET", "/api/users/{id}", 404, std::chrono::milliseconds(2));
    m.on_close(net::close_reason::shed_idle);
    m.on_close(net::close_reason::shed_idle);

    app::metrics_snapshot s;
    s.version = "1.2.3";
    m.add_to(s.requests);
    s.jobs.latency_buckets.assign(jobs::counters::latency_bounds_ms.size() + 1, 0);
    s.jobs.latency_buckets[0] = 2;
    s.jobs.done = 2;
    s.queues = jobs::queue_stats{};
    s.queues->queues.push_back({"mail\"x", 3, 1});
    s.database.read_retries = 3;
    s.database.errors = 4;
    std::string text = app::render_metrics(s);

    CHECK(has_line(text, "portcullis_build_info{version=\"1.2.3\"} 1"));
    CHECK(has_line(text, "# TYPE portcullis_http_requests_total counter"));
    CHECK(has_line(text, "portcullis_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"} 2"));
    CHECK(has_line(text, "portcullis_http_requests_total{method=\"GET\",route=\"/api/users/{id}\",status=\"404\"} 1"));
    CHECK(has_line(
        text, "portcullis_http_request_duration_seconds_bucket{method=\"GET\",route=\"/healthz\",le=\"0.0005\"} 1"));
    CHECK(has_line(
        text, "portcullis_http_request_duration_seconds_bucket{method=\"GET\",route=\"/healthz\",le=\"0.025\"} 2"));
    CHECK(has_line(text,
                   "portcullis_http_request_duration_seconds_bucket{method=\"GET\",route=\"/healthz\",le=\"+Inf\"} 2"));
    CHECK(has_line(text, "portcullis_http_request_duration_seconds_count{method=\"GET\",route=\"/healthz\"} 2"));
    CHECK(has_line(text, "portcullis_http_request_duration_seconds_count{method=\"-\",route=\"-\"} 0"));
    CHECK(has_line(text, "portcullis_http_connections_closed_total{reason=\"shed_idle\"} 2"));
    CHECK(has_line(text, "portcullis_http_connections_closed_total{reason=\"slow_ingress\"} 0"));
    CHECK(has_line(text, "portcullis_jobs_latency_seconds_bucket{le=\"0.01\"} 2"));
    CHECK(has_line(text, "portcullis_jobs_latency_seconds_bucket{le=\"+Inf\"} 2"));
    CHECK(has_line(text, "portcullis_jobs_done_total 2"));
    CHECK(has_line(text, "portcullis_jobs_queue_depth{queue=\"mail\\\"x\"} 3"));
    CHECK(has_line(text, "portcullis_jobs_queue_readable 1"));
    CHECK(has_line(text, "portcullis_db_read_retries_total 3"));
    CHECK(text.find("portcullis_db_replica_") == std::string::npos);  // no DATABASE_READ_URL
    CHECK(has_line(text, "portcullis_db_errors_total 4"));

    // Every family is announced once, with HELP before TYPE, and every sample belongs to one.
    std::istringstream in(text);
    std::set<std::string> typed;
    std::string last_help;
    for (std::string l; std::getline(in, l);) {
        if (l.rfind("# HELP ", 0) == 0) {
            last_help = l.substr(7, l.find(' ', 7) - 7);
            continue;
        }
        if (l.rfind("# TYPE ", 0) == 0) {
            std::string name = l.substr(7, l.find(' ', 7) - 7);
            CHECK(name == last_help);
            CHECK(typed.insert(name).second);
            continue;
        }
        std::string name = l.substr(0, l.find_first_of("{ "));
        bool known = typed.count(name) != 0;
        for (const char* suffix : {"_bucket", "_sum", "_count"}) {
            std::string sfx(suffix);
            if (!known && name.size() > sfx.size() && name.compare(name.size() - sfx.size(), sfx.size(), sfx) == 0) {
                known = typed.count(name.substr(0, name.size() - sfx.size())) != 0;
            }
        }
        CHECK_MESSAGE(known, l);
    }
}

TEST_CASE("metrics rendering shows the DATABASE_READ_URL pools when there are some")
{
    app::metrics_snapshot s;
    s.jobs.latency_buckets.assign(jobs::counters::latency_bounds_ms.size() + 1, 0);
    s.database.size = 8;
    s.database_read = store::pg::pool_stats{};
    s.database_read->size = 4;
    s.database_read->live = 3;
    s.database_read->read_retries = 2;
    std::string text = app::render_metrics(s);
    CHECK(has_line(text, "portcullis_db_pool_size 8"));
    CHECK(has_line(text, "portcullis_db_replica_pool_size 4"));
    CHECK(has_line(text, "portcullis_db_replica_open_connections 3"));
    CHECK(has_line(text, "portcullis_db_replica_read_retries_total 2"));
    CHECK(has_line(text, "# TYPE portcullis_db_replica_errors_total counter"));
}

TEST_CASE("metrics rendering leaves the queue series out when Redis could not be read")
{
    app::metrics_snapshot s;
    s.jobs.latency_buckets.assign(jobs::counters::latency_bounds_ms.size() + 1, 0);
    std::string text = app::render_metrics(s);
    CHECK(has_line(text, "portcullis_jobs_queue_readable 0"));
    CHECK(text.find("portcullis_jobs_queue_depth") == std::string::npos);
}

TEST_CASE("process statistics come from /proc")
{
    auto p = app::read_process_stats(std::chrono::system_clock::now());
    CHECK(p.resident_bytes > 0);
    CHECK(p.virtual_bytes >= p.resident_bytes);
    CHECK(p.open_fds > 0);
}

TEST_CASE("the embedded OpenAPI document is the 3.1 contract")
{
    auto doc = app::openapi_document();
    CHECK(doc.find("\"openapi\": \"3.1.0\"") != std::string_view::npos);
    CHECK(doc.find("\"/api/auth/register\"") != std::string_view::npos);
}
