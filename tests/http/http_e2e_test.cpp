// End-to-end tests of the HTTP core: the real binary over real sockets.

#include "http_client.hpp"
#include "process.hpp"
#include "server_fixture.hpp"
#include "test_env.hpp"
#include "wait.hpp"

#include <doctest/doctest.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <memory>
#include <thread>

using namespace portcullis::test;
using nlohmann::json;

namespace {

std::string error_code_of(const http_response& r)
{
    return json::parse(r.body).at("error").at("code");
}

// The value of the unlabelled sample `name` in /metrics; -1 when it is missing.
double metric_value(int port, const std::string& name)
{
    const std::string body = http_request(port, "GET", "/metrics").body;
    const auto at = body.find("\n" + name + " ");
    return at == std::string::npos ? -1 : std::stod(body.substr(at + name.size() + 2));
}

}  // namespace

TEST_CASE("healthz, 404 and 405 with Allow, request ids")
{
    server_fixture srv;
    auto r = http_request(srv.port(), "GET", "/healthz");
    CHECK(r.status == 200);
    CHECK(json::parse(r.body) == json{{"status", "ok"}});
    CHECK(r.header("content-type") == "application/json");
    CHECK_FALSE(r.header("x-request-id").empty());

    auto nf = http_request(srv.port(), "GET", "/no/such/route");
    CHECK(nf.status == 404);
    CHECK(error_code_of(nf) == "not_found");
    CHECK_FALSE(nf.header("x-request-id").empty());

    auto na = http_request(srv.port(), "DELETE", "/healthz");
    CHECK(na.status == 405);
    CHECK(error_code_of(na) == "method_not_allowed");
    CHECK(na.header("allow") == "GET");

    auto echoed = http_request(srv.port(), "GET", "/healthz", "", {{"X-Request-Id", "client-id-42"}});
    CHECK(echoed.header("x-request-id") == "client-id-42");
    auto replaced = http_request(srv.port(), "GET", "/healthz", "", {{"X-Request-Id", "bad id with spaces"}});
    CHECK(replaced.header("x-request-id") != "bad id with spaces");
    CHECK_FALSE(replaced.header("x-request-id").empty());
}

TEST_CASE("keep-alive and pipelined requests answered in order")
{
    server_fixture srv;
    http_connection c(srv.port());
    for (int i = 0; i < 5; ++i) CHECK(c.request("GET", "/healthz").status == 200);

    c.send(
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-Id: first\r\n\r\n"
        "GET /nothing HTTP/1.1\r\nHost: x\r\nX-Request-Id: second\r\n\r\n"
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-Id: third\r\n\r\n");
    auto a = c.read_response();
    auto b = c.read_response();
    auto d = c.read_response();
    CHECK(a.header("x-request-id") == "first");
    CHECK(a.status == 200);
    CHECK(b.header("x-request-id") == "second");
    CHECK(b.status == 404);
    CHECK(d.header("x-request-id") == "third");
    CHECK(d.status == 200);
}

TEST_CASE("limits: 413 body, 431 headers, 415 content type, 400 malformed JSON")
{
    server_fixture srv;
    {
        http_connection c(srv.port());
        c.send("POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
               std::to_string(2 * 1024 * 1024) + "\r\n\r\n");
        auto r = c.read_response();
        CHECK(r.status == 413);
        CHECK(error_code_of(r) == "payload_too_large");
        CHECK(c.closed_by_peer(std::chrono::seconds(5)));
    }
    {
        http_connection c(srv.port());
        c.send("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(20 * 1024, 'a') + "\r\n\r\n");
        auto r = c.read_response();
        CHECK(r.status == 431);
        CHECK(c.closed_by_peer(std::chrono::seconds(5)));
    }
    {
        auto r = http_request(srv.port(), "POST", "/api/auth/login", "email=a&password=b",
                              {{"Content-Type", "application/x-www-form-urlencoded"}});
        CHECK(r.status == 415);
        CHECK(error_code_of(r) == "unsupported_media_type");
    }
    {
        auto r = http_request(srv.port(), "POST", "/api/auth/login", "{\"email\": ", {});
        CHECK(r.status == 400);
        CHECK(error_code_of(r) == "malformed_json");
    }
    {
        // A chunked body larger than the limit is refused as it arrives.
        http_connection c(srv.port());
        c.send(
            "POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\n\r\nFFFFFFFF\r\n");
        auto r = c.read_response();
        CHECK(r.status == 413);
    }
}

TEST_CASE("ambiguous framing is refused with 400 and the connection closed")
{
    server_fixture srv;
    const std::vector<std::string> attacks = {
        "POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\n{}{}}",
        "POST /api/auth/login HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
        "POST /api/auth/login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
        "POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: "
        "chunked\r\n\r\n2\r\n{}\r\n0\r\nX-Smuggled: 1\r\n\r\n",
    };
    for (const auto& raw : attacks) {
        CAPTURE(raw);
        http_connection c(srv.port());
        c.send(raw);
        auto r = c.read_response();
        CHECK(r.status == 400);
        CHECK(c.closed_by_peer(std::chrono::seconds(5)));
    }
    // The server is still fine afterwards.
    CHECK(http_request(srv.port(), "GET", "/healthz").status == 200);
}

TEST_CASE("an endless chunk line or trailer is refused once the read buffer is full, and the connection closed")
{
    server_fixture srv;
    const std::string head =
        "POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n\r\n";
    const std::string flood(40 * 1024, 'a');
    {
        // A chunk extension that never ends: no CRLF ever comes.
        http_connection c(srv.port());
        c.send(head + "1;" + flood);
        auto r = c.read_response();
        CHECK(r.status == 400);
        CHECK(error_code_of(r) == "bad_request");
        CHECK(c.closed_by_peer(std::chrono::seconds(5)));
    }
    {
        // The last chunk's line never ends: still a chunk line.
        http_connection c(srv.port());
        c.send(head + "2\r\n{}\r\n0;" + flood);
        auto r = c.read_response();
        CHECK(r.status == 400);
        CHECK(c.closed_by_peer(std::chrono::seconds(5)));
    }
    {
        // A trailer field that never ends.
        http_connection c(srv.port());
        c.send(head + "2\r\n{}\r\n0\r\nX-Trailer: " + flood);
        auto r = c.read_response();
        CHECK(r.status == 431);
        CHECK(error_code_of(r) == "request_header_fields_too_large");
        CHECK(c.closed_by_peer(std::chrono::seconds(5)));
    }
    CHECK(http_request(srv.port(), "GET", "/healthz").status == 200);
}

TEST_CASE("SIGTERM lets an in-flight request finish, then exits 0")
{
    server_fixture srv;
    http_connection idle(srv.port());
    CHECK(idle.request("GET", "/healthz").status == 200);

    http_connection slow(srv.port());
    // Half a request: the server is busy with it when the signal arrives.
    slow.send("GET /healthz HTTP/1.1\r\nHost: x\r\n");
    // The server has accepted it: open are the idle one, the slow one and the one asking.
    wait_for([&] { return metric_value(srv.port(), "portcullis_http_open_connections") >= 3; },
             std::chrono::seconds(10), "the server to accept the slow connection");
    srv.proc().signal(SIGTERM);
    // The idle keep-alive connection is closed at once: the shutdown has begun.
    CHECK(idle.closed_by_peer(std::chrono::seconds(5)));
    // ... and the server still runs, waiting for the request in flight.
    CHECK(srv.proc().running());
    slow.send("X-Request-Id: late\r\n\r\n");
    auto r = slow.read_response();
    CHECK(r.status == 200);
    CHECK(r.header("x-request-id") == "late");
    CHECK(r.header("connection") == "close");
    auto status = srv.proc().wait(std::chrono::seconds(10));
    REQUIRE(status.has_value());
    CHECK(*status == 0);
}

TEST_CASE("an idle server exits 0 promptly on SIGTERM and announces READY=1 and STOPPING=1")
{
    std::string dir = make_temp_dir("notify");
    std::string path = dir + "/notify.sock";
    int fd = bind_notify_socket(path, std::chrono::seconds(10));
    REQUIRE(fd >= 0);

    server_fixture srv({{"NOTIFY_SOCKET", path}});
    char buf[256];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    REQUIRE(n > 0);
    CHECK(std::string(buf, static_cast<std::size_t>(n)) == "READY=1");

    auto started = std::chrono::steady_clock::now();
    srv.proc().signal(SIGTERM);
    n = ::recv(fd, buf, sizeof buf, 0);
    REQUIRE(n > 0);
    CHECK(std::string(buf, static_cast<std::size_t>(n)) == "STOPPING=1");
    auto status = srv.proc().wait(std::chrono::seconds(10));
    REQUIRE(status.has_value());
    CHECK(*status == 0);
    MESSAGE("idle shutdown took "
            << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count()
            << " ms");
    ::close(fd);
}

TEST_CASE("command line: --version, --help, bad configuration names the variable")
{
    std::string bin = require_env("PORTCULLIS_BINARY");
    std::string dir = make_temp_dir("cli");
    CHECK(run_command({bin, "--version"}, {}, dir + "/v.log", std::chrono::seconds(10)) == 0);
    CHECK(read_file(dir + "/v.log").find("portcullis ") == 0);
    CHECK(run_command({bin, "--help"}, {}, dir + "/h.log", std::chrono::seconds(10)) == 0);
    CHECK(read_file(dir + "/h.log").find("portcullis serve") != std::string::npos);
    CHECK(run_command({bin, "frobnicate"}, {}, dir + "/u.log", std::chrono::seconds(10)) == 2);

    int st = run_command({bin, "serve"},
                         {{"PORTCULLIS_ENV_FILE", "/dev/null"}, {"SECRET_KEY", ""}, {"PORTCULLIS_ENV", "production"}},
                         dir + "/s.log", std::chrono::seconds(10));
    CHECK(st == 2);
    CHECK(read_file(dir + "/s.log").find("SECRET_KEY") != std::string::npos);

    st = run_command({bin, "serve"},
                     {{"PORTCULLIS_ENV_FILE", "/dev/null"}, {"PORTCULLIS_ENV", "development"}, {"IO_THREADS", "zero"}},
                     dir + "/t.log", std::chrono::seconds(10));
    CHECK(st == 2);
    CHECK(read_file(dir + "/t.log").find("IO_THREADS") != std::string::npos);
}

TEST_CASE("running out of file descriptors does not kill the listener")
{
    // 64 descriptors: the server's own (pools, Redis, epoll) take some; the rest go fast.
    server_fixture srv({{"IO_THREADS", "1"}, {"DATABASE_POOL_SIZE", "1"}, {"JOB_WORKERS", "1"}}, true,
                       {"/usr/bin/prlimit", "--nofile=64:64", "--"});
    std::vector<std::unique_ptr<http_connection>> flood;
    for (int i = 0; i < 120; ++i) {
        try {
            flood.push_back(std::make_unique<http_connection>(srv.port(), std::chrono::seconds(2)));
        } catch (const std::exception&) {
            break;
        }
    }
    CHECK(flood.size() > 64);
    // The server ran out of descriptors while the flood is held.
    CHECK(wait_for_text(srv.proc().log_path(), "accept_failed", std::chrono::seconds(15)));
    flood.clear();
    // Once descriptors are free again the same listener serves new clients.
    int status = 0;
    wait_until(
        [&] {
            try {
                status = http_request(srv.port(), "GET", "/healthz").status;
            } catch (const std::exception&) {
            }
            return status == 200;
        },
        std::chrono::seconds(15), std::chrono::milliseconds(50));
    CHECK(status == 200);
    CHECK(srv.proc().running());
}
