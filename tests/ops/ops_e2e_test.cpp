// Operations end to end: /readyz, /metrics (checked by promtool), /openapi.json against
// the router, systemd notifications with the watchdog, and what the log may not contain.

#include "http_client.hpp"
#include "ops_support.hpp"
#include "process.hpp"
#include "server_fixture.hpp"
#include "test_env.hpp"

#include <doctest/doctest.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

using namespace portcullis::test;
using nlohmann::json;

namespace {

// Value of the sample `name{labels}` (labels exactly as rendered), or -1 when absent.
double sample(const std::string& text, const std::string& series)
{
    std::istringstream in(text);
    for (std::string l; std::getline(in, l);) {
        if (l.size() > series.size() && l.compare(0, series.size(), series) == 0 && l[series.size()] == ' ') {
            return std::stod(l.substr(series.size() + 1));
        }
    }
    return -1;
}

std::set<std::pair<std::string, std::string>> routes_of_binary()
{
    std::string dir = make_temp_dir("routes");
    int st =
        run_command({require_env("PORTCULLIS_BINARY"), "serve", "--print-routes"},
                    {{"PORTCULLIS_ENV", "development"}, {"PORTCULLIS_ENV_FILE", "/dev/null"}, {"LOG_LEVEL", "error"}},
                    dir + "/routes.txt", std::chrono::seconds(20));
    REQUIRE(st == 0);
    std::set<std::pair<std::string, std::string>> out;
    std::istringstream in(read_file(dir + "/routes.txt"));
    for (std::string method, path; in >> method >> path;) out.emplace(method, path);
    return out;
}

}  // namespace

TEST_CASE("readyz: 200 while PostgreSQL and Redis answer, 503 naming Redis when it is down")
{
    {
        server_fixture srv;
        auto r = http_request(srv.port(), "GET", "/readyz");
        CHECK(r.status == 200);
        CHECK(json::parse(r.body) == json::parse(R"({"status":"ready","checks":{"postgres":"ok","redis":"ok"}})"));
    }
    // Nothing listens on this port (held by the test): the Redis connection can never be established.
    const refused_port nothing;
    server_fixture down({{"REDIS_URL", "redis://127.0.0.1:" + std::to_string(nothing.port()) + "/0"}});
    auto started = std::chrono::steady_clock::now();
    auto r = http_request(down.port(), "GET", "/readyz");
    auto took = std::chrono::steady_clock::now() - started;
    CHECK(r.status == 503);
    MESSAGE("readyz with Redis down answered in " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                                                  << " ms");
    // The check gives up by itself instead of waiting for a server that never comes; the
    // bound is about that (a hang), not about speed.
    CHECK(took < std::chrono::seconds(15));
    CHECK_FALSE(r.header("retry-after").empty());
    auto body = json::parse(r.body);
    CHECK(body["error"]["code"] == "unavailable");
    CHECK(body["error"]["details"]["postgres"] == "ok");
    CHECK(body["error"]["details"]["redis"].get<std::string>().rfind("unavailable", 0) == 0);
    CHECK(http_request(down.port(), "GET", "/healthz").status == 200);
}

TEST_CASE("metrics after traffic: counts summed over I/O threads, route templates only, promtool accepts them")
{
    server_fixture srv;
    // Fresh connections spread over both I/O threads (SO_REUSEPORT).
    for (int i = 0; i < 20; ++i) REQUIRE(http_request(srv.port(), "GET", "/healthz").status == 200);
    CHECK(http_request(srv.port(), "GET", "/no/such/route").status == 404);
    CHECK(http_request(srv.port(), "DELETE", "/healthz").status == 405);
    CHECK(http_request(srv.port(), "GET", "/api/users/12345").status == 401);
    CHECK(json_request(srv.port(), "POST", "/api/auth/register", json{{"email", "x"}}).status == 400);
    CHECK(http_request(srv.port(), "GET", "/readyz").status == 200);

    auto r = http_request(srv.port(), "GET", "/metrics");
    REQUIRE(r.status == 200);
    CHECK(r.header("content-type") == "text/plain; version=0.0.4; charset=utf-8");
    const std::string& m = r.body;

    CHECK(sample(m, R"(portcullis_http_requests_total{method="GET",route="/healthz",status="200"})") >= 20);
    // A method the path does not have is not a label value: clients could invent any number.
    CHECK(sample(m, R"(portcullis_http_requests_total{method="-",route="-",status="405"})") == 1);
    CHECK(sample(m, R"(portcullis_http_requests_total{method="-",route="-",status="404"})") == 1);
    CHECK(sample(m, R"(portcullis_http_requests_total{method="GET",route="/api/users/{id}",status="401"})") == 1);
    CHECK(sample(m, R"(portcullis_http_requests_total{method="POST",route="/api/auth/register",status="400"})") == 1);
    CHECK(sample(m, R"(portcullis_http_requests_total{method="GET",route="/readyz",status="200"})") == 1);
    CHECK(m.find("/no/such/route") == std::string::npos);
    CHECK(m.find("12345") == std::string::npos);
    CHECK(m.find(R"(method="DELETE",route="/healthz")") == std::string::npos);
    CHECK(sample(m, R"(portcullis_http_request_duration_seconds_count{method="GET",route="/healthz"})") >= 20);
    CHECK(sample(m, R"(portcullis_http_request_duration_seconds_bucket{method="GET",route="/healthz",le="+Inf"})") ==
          sample(m, R"(portcullis_http_request_duration_seconds_count{method="GET",route="/healthz"})"));
    CHECK(sample(m, "portcullis_http_open_connections") >= 1);
    CHECK(sample(m, "portcullis_db_pool_size") == 8);  // 2 I/O threads x DATABASE_POOL_SIZE 4
    CHECK(sample(m, "portcullis_hash_pool_threads") == 2);
    CHECK(sample(m, "portcullis_hash_pool_queue_length") >= 0);
    CHECK(sample(m, "portcullis_redis_errors_total") >= 0);
    CHECK(sample(m, "portcullis_jobs_queue_readable") == 1);
    CHECK(sample(m, "portcullis_jobs_dead_letter") >= 0);
    CHECK(sample(m, "portcullis_jobs_done_total") >= 0);
    CHECK(sample(m, "process_resident_memory_bytes") > 1e6);
    CHECK(sample(m, R"(portcullis_build_info{version="0.1.0"})") == 1);

    std::string dir = make_temp_dir("metrics");
    {
        std::ofstream out(dir + "/metrics.txt");
        out << m;
    }
    int st = run_command({"/bin/sh", "-c", "promtool check metrics < " + dir + "/metrics.txt"}, {},
                         dir + "/promtool.log", std::chrono::seconds(60));
    INFO("promtool: " << read_file(dir + "/promtool.log"));
    CHECK(st == 0);
}

TEST_CASE("openapi.json is served as stored and documents exactly the server's routes")
{
    server_fixture srv;
    auto r = http_request(srv.port(), "GET", "/openapi.json");
    REQUIRE(r.status == 200);
    CHECK(r.header("content-type") == "application/json");
    CHECK(r.body == read_file(require_env("PORTCULLIS_SOURCE_ROOT") + "/src/app/openapi.json"));
    json doc = json::parse(r.body);
    CHECK(doc["openapi"] == "3.1.0");

    std::set<std::pair<std::string, std::string>> documented;
    static const std::set<std::string> methods = {"get", "put", "post", "delete", "options", "head", "patch", "trace"};
    for (const auto& [path, item] : doc["paths"].items()) {
        for (const auto& [method, operation] : item.items()) {
            if (methods.count(method) == 0) continue;
            std::string upper = method;
            for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
            documented.emplace(upper, path);
            // Every error response has the contract's error shape.
            for (const auto& [status, response] : operation["responses"].items()) {
                if (status[0] == '2') continue;
                INFO(upper << " " << path << " " << status);
                CHECK(response["content"]["application/json"]["schema"].dump().find("#/components/schemas/Error") !=
                      std::string::npos);
            }
        }
    }
    auto served = routes_of_binary();
    CHECK(served.size() >= 26);
    for (const auto& [method, path] : served) {
        INFO("route of the server missing from openapi.json: " << method << " " << path);
        CHECK(documented.count({method, path}) == 1);
    }
    for (const auto& [method, path] : documented) {
        INFO("operation of openapi.json the server does not route: " << method << " " << path);
        CHECK(served.count({method, path}) == 1);
    }
    // Every error code the contract names is in the document's enumeration.
    std::set<std::string> codes;
    for (const auto& c : doc["components"]["schemas"]["ErrorCode"]["enum"]) codes.insert(c.get<std::string>());
    for (const char* c : {"malformed_json",      "validation_failed", "invalid_otp",         "otp_expired",
                          "password_mismatch",   "not_authenticated", "invalid_token",       "token_expired",
                          "token_revoked",       "token_reused",      "invalid_credentials", "forbidden",
                          "email_not_verified",  "not_found",         "method_not_allowed",  "email_taken",
                          "username_taken",      "already_verified",  "payload_too_large",   "unsupported_media_type",
                          "rate_limited",        "unavailable",       "invalid_code",        "invalid_mfa_token",
                          "mfa_already_enabled", "mfa_not_enabled",   "mfa_setup_required"}) {
        INFO(c);
        CHECK(codes.count(c) == 1);
    }
}

TEST_CASE("systemd: READY=1, WATCHDOG=1 pings at half the interval, STOPPING=1, then a clean exit")
{
    std::string dir = make_temp_dir("watchdog");
    std::string path = dir + "/notify.sock";
    int fd = bind_notify_socket(path, std::chrono::milliseconds(200));
    REQUIRE(fd >= 0);

    // WATCHDOG_USEC=400 ms: a ping every 200 ms. The test waits for nine pings (a ping is
    // withheld while an I/O thread lags, which a loaded sanitizer run may cause now and
    // then) and reports the pace of the last four instead of asserting it (the first ones
    // may have waited in the socket while the server started).
    server_fixture srv({{"NOTIFY_SOCKET", path}, {"WATCHDOG_USEC", "400000"}});
    std::map<std::string, int> seen;
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    char buf[256];
    std::chrono::steady_clock::time_point fifth{};
    std::chrono::steady_clock::time_point ninth{};
    while (seen["WATCHDOG=1"] < 9 && std::chrono::steady_clock::now() < until) {
        ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) continue;
        std::string message(buf, static_cast<std::size_t>(n));
        const int count = ++seen[message];
        if (message == "WATCHDOG=1" && count == 5) fifth = std::chrono::steady_clock::now();
        if (message == "WATCHDOG=1" && count == 9) ninth = std::chrono::steady_clock::now();
    }
    CHECK(seen["READY=1"] == 1);
    REQUIRE(seen["WATCHDOG=1"] == 9);
    MESSAGE("watchdog pings every " << std::chrono::duration_cast<std::chrono::milliseconds>(ninth - fifth).count() / 4
                                    << " ms on average (WATCHDOG_USEC/2 = 200 ms)");

    srv.proc().signal(SIGTERM);
    bool stopping = false;
    until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!stopping && std::chrono::steady_clock::now() < until) {
        ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        stopping = n > 0 && std::string(buf, static_cast<std::size_t>(n)) == "STOPPING=1";
    }
    CHECK(stopping);
    // The watchdog loop must not keep the process alive after the drain.
    auto status = srv.proc().wait(std::chrono::seconds(15));
    REQUIRE(status.has_value());
    CHECK(*status == 0);
    ::close(fd);
}

TEST_CASE("logs: one JSON object per line with a level; no password, code or token after a full flow")
{
    std::string mail_dir = make_temp_dir("logmail");
    server_fixture srv({{"EMAIL_BACKEND", "file"},
                        {"EMAIL_FILE_PATH", mail_dir},
                        {"LOG_LEVEL", "debug"},
                        {"OTP_RESEND_COOLDOWN", "0"}});
    const std::string email = "log-flow-" + unique_name("u") + "@example.com";
    const std::string username = "logflow" + std::to_string(::getpid());
    const std::string password1 = "First-Secret-Passphrase-71";
    const std::string password2 = "Second-Secret-Passphrase-72";
    const std::string password3 = "Third-Secret-Passphrase-73";
    std::vector<std::string> secrets = {password1, password2, password3};

    REQUIRE(json_request(srv.port(), "POST", "/api/auth/register",
                         json{{"email", email}, {"username", username}, {"password", password1}})
                .status == 201);
    std::string code = code_in(wait_for_mail(mail_dir, email, 1));
    secrets.push_back(code);
    REQUIRE(json_request(srv.port(), "POST", "/api/auth/verify-email", json{{"email", email}, {"otp", code}}).status ==
            200);
    auto login = json_request(srv.port(), "POST", "/api/auth/login", json{{"email", email}, {"password", password1}});
    REQUIRE(login.status == 200);
    auto tokens = json::parse(login.body);
    std::string access = tokens["access"].get<std::string>();
    secrets.push_back(access);
    secrets.push_back(tokens["refresh"].get<std::string>());
    CHECK(json_request(srv.port(), "GET", "/api/users/me", nullptr, access).status == 200);
    auto refreshed = json_request(srv.port(), "POST", "/api/auth/refresh", json{{"refresh", tokens["refresh"]}});
    REQUIRE(refreshed.status == 200);
    access = json::parse(refreshed.body)["access"].get<std::string>();
    secrets.push_back(access);
    secrets.push_back(json::parse(refreshed.body)["refresh"].get<std::string>());
    // A wrong password is logged as a failure, never with the password.
    CHECK(json_request(srv.port(), "POST", "/api/auth/login", json{{"email", email}, {"password", password2}}).status ==
          401);
    CHECK(json_request(srv.port(), "POST", "/api/auth/password/change",
                       json{{"old_password", password1}, {"new_password", password2}, {"confirm_password", password2}},
                       access)
              .status == 200);
    CHECK(json_request(srv.port(), "POST", "/api/auth/password/forgot", json{{"email", email}}).status == 202);
    std::string reset_code = code_in(wait_for_mail_containing(mail_dir, email, "password reset code"));
    secrets.push_back(reset_code);
    auto verified =
        json_request(srv.port(), "POST", "/api/auth/password/verify-otp", json{{"email", email}, {"otp", reset_code}});
    REQUIRE(verified.status == 200);
    std::string reset_token = json::parse(verified.body)["reset_token"].get<std::string>();
    secrets.push_back(reset_token);
    CHECK(json_request(srv.port(), "POST", "/api/auth/password/reset",
                       json{{"reset_token", reset_token}, {"new_password", password3}, {"confirm_password", password3}})
              .status == 200);
    CHECK(json_request(srv.port(), "POST", "/api/auth/login", json{{"username", username}, {"password", password3}})
              .status == 200);

    // Stopping flushes every I/O thread's buffered lines.
    srv.proc().signal(SIGTERM);
    REQUIRE(srv.proc().wait(std::chrono::seconds(15)).has_value());
    std::string log = srv.proc().log();
    for (const auto& s : secrets) {
        INFO("secret in the log: " << s);
        CHECK(log.find(s) == std::string::npos);
    }
    std::istringstream in(log);
    std::size_t lines = 0;
    std::set<std::string> levels;
    for (std::string l; std::getline(in, l);) {
        if (l.empty()) continue;
        ++lines;
        INFO(l);
        json j = json::parse(l, nullptr, false);
        REQUIRE_FALSE(j.is_discarded());
        CHECK(j.contains("time"));
        CHECK(j.contains("msg"));
        REQUIRE(j.contains("level"));
        levels.insert(j["level"].get<std::string>());
    }
    CHECK(lines > 10);
    for (const auto& l : levels) CHECK(std::set<std::string>{"debug", "info", "warn", "error"}.count(l) == 1);
    CHECK(levels.count("info") == 1);
}
