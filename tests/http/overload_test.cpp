// End-to-end tests of the server under connection floods: shedding at MAX_CONNECTIONS,
// the per-address cap, the first-byte deadline, timeouts that shrink under pressure and
// the minimum ingress rate. The real binary over real sockets; the flooding client uses
// other loopback addresses (127.0.0.2, …) than the legitimate one (127.0.0.1).
//
// Bounds on elapsed time here are generous (the build is instrumented and the machine is
// shared): each separates "the defence worked" from its failure mode, which is a wait of
// a whole header or idle timeout (set to 60 s or more in these tests).

#include "http_client.hpp"
#include "server_fixture.hpp"

#include <doctest/doctest.h>
#include <sys/resource.h>

#include <chrono>
#include <memory>
#include <regex>
#include <string>
#include <thread>
#include <vector>

using namespace portcullis::test;
using std::chrono::milliseconds;
using std::chrono::seconds;
using steady = std::chrono::steady_clock;

namespace {

// Room for a thousand client sockets in this process and in the server it starts.
void raise_fd_limit()
{
    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &rl);
    }
}

// The value of portcullis_http_connections_closed_total{reason="…"} in a /metrics body.
long closed_count(const http_response& r, const std::string& reason)
{
    REQUIRE(r.status == 200);
    std::smatch m;
    std::regex re("portcullis_http_connections_closed_total\\{reason=\"" + reason + "\"\\} ([0-9]+)");
    REQUIRE(std::regex_search(r.body, m, re));
    return std::stol(m[1]);
}

// The same, read on a new connection.
long closed_count(int port, const std::string& reason)
{
    return closed_count(http_request(port, "GET", "/metrics"), reason);
}

double seconds_since(steady::time_point t)
{
    return std::chrono::duration<double>(steady::now() - t).count();
}

using held = std::vector<std::unique_ptr<http_connection>>;

held open_silent(int port, int n, const std::string& source)
{
    held out;
    for (int i = 0; i < n; ++i) out.push_back(std::make_unique<http_connection>(port, seconds(10), source));
    return out;
}

}  // namespace

TEST_CASE("1,000 silent connections with MAX_CONNECTIONS=300: a new client is answered at once")
{
    raise_fd_limit();
    // Only shedding can answer quickly: the first-byte and header deadlines are a minute.
    server_fixture srv({{"MAX_CONNECTIONS", "300"},
                        {"MAX_CONNECTIONS_PER_IP", "0"},
                        {"FIRST_BYTE_TIMEOUT", "60"},
                        {"HEADER_TIMEOUT", "60"}});
    held flood = open_silent(srv.port(), 1000, "127.0.0.2");
    auto started = steady::now();
    http_connection c(srv.port(), seconds(40));
    auto r = c.request("GET", "/healthz");
    double took = seconds_since(started);
    CHECK(r.status == 200);
    MESSAGE("GET /healthz behind 1,000 silent connections took " << took << " s");
    CHECK(took < 5.0);  // the requirement is 1 s; without shedding this is 60 s or more
    // Near the cap the first-byte deadline shrinks to about a second, so on a slow machine
    // (opening the flood takes over a second) the sweeper closes some silent connections
    // before shedding has to: together they close the 700 beyond the cap. The client's
    // connects complete in the kernel's accept queues (one per I/O thread), and the
    // legitimate client may be taken before all of the flood: wait for the server to
    // get through it.
    long shed = 0;
    long timed_out = 0;
    for (auto until = steady::now() + seconds(20); steady::now() < until;) {
        auto metrics = http_request(srv.port(), "GET", "/metrics");
        shed = closed_count(metrics, "shed_never_sent");
        timed_out = closed_count(metrics, "first_byte_timeout");
        if (shed + timed_out >= 700) break;
        std::this_thread::sleep_for(milliseconds(100));
    }
    MESSAGE("silent connections shed: " << shed << ", cut by the shrunken first-byte deadline: " << timed_out);
    CHECK(shed + timed_out >= 700);
    // The oldest silent connections were the ones shed.
    CHECK(flood.front()->closed_by_peer(seconds(5)));
}

TEST_CASE("at the cap the oldest idle keep-alive connection is shed for a new client")
{
    server_fixture srv(
        {{"MAX_CONNECTIONS", "4"}, {"IO_THREADS", "1"}, {"MAX_CONNECTIONS_PER_IP", "0"}, {"IDLE_TIMEOUT", "300"}});
    held keep;
    for (int i = 0; i < 4; ++i) {
        keep.push_back(std::make_unique<http_connection>(srv.port()));
        REQUIRE(keep.back()->request("GET", "/healthz").status == 200);
    }
    // A fifth client is served at once, not after a keep-alive connection times out.
    http_connection fifth(srv.port(), seconds(10));
    CHECK(fifth.request("GET", "/healthz").status == 200);
    CHECK(keep.front()->closed_by_peer(seconds(5)));
    // Exactly one was shed for it (asked on the fifth connection, which opens no new one).
    // At the cap the idle deadline shrinks to about a second, so the others may end by
    // that deadline meanwhile: those count as idle_timeout, not as shed.
    CHECK(closed_count(fifth.request("GET", "/metrics"), "shed_idle") == 1);
}

TEST_CASE("at the cap a connection that never sent a byte is shed before an idle one")
{
    server_fixture srv({{"MAX_CONNECTIONS", "4"},
                        {"IO_THREADS", "1"},
                        {"MAX_CONNECTIONS_PER_IP", "0"},
                        {"FIRST_BYTE_TIMEOUT", "60"},
                        {"IDLE_TIMEOUT", "300"}});
    held keep;
    for (int i = 0; i < 3; ++i) {
        keep.push_back(std::make_unique<http_connection>(srv.port()));
        REQUIRE(keep.back()->request("GET", "/healthz").status == 200);
    }
    http_connection silent(srv.port(), seconds(10), "127.0.0.2");
    http_connection fifth(srv.port(), seconds(10));
    CHECK(fifth.request("GET", "/healthz").status == 200);
    CHECK(silent.closed_by_peer(seconds(5)));
    auto metrics = fifth.request("GET", "/metrics");
    // The silent one went first, whether shed or (on a machine slow enough for the
    // shrunken first-byte deadline to pass) cut by that deadline; no idle one was shed.
    CHECK(closed_count(metrics, "shed_never_sent") + closed_count(metrics, "first_byte_timeout") == 1);
    CHECK(closed_count(metrics, "shed_idle") == 0);
}

TEST_CASE("MAX_CONNECTIONS_PER_IP refuses one address past its cap, not the others")
{
    raise_fd_limit();
    server_fixture srv({{"MAX_CONNECTIONS_PER_IP", "8"}, {"FIRST_BYTE_TIMEOUT", "60"}});
    held flood = open_silent(srv.port(), 20, "127.0.0.2");
    int closed = 0;
    for (auto& c : flood) closed += c->closed_by_peer(milliseconds(500)) ? 1 : 0;
    CHECK(closed == 12);
    // Another address is served.
    CHECK(http_request(srv.port(), "GET", "/healthz").status == 200);
    CHECK(closed_count(srv.port(), "refused_per_ip") == 12);
    // Closing connections gives the address its places back.
    flood.clear();
    bool served = false;
    for (int i = 0; i < 50 && !served; ++i) {
        try {
            http_connection again(srv.port(), seconds(5), "127.0.0.2");
            served = again.request("GET", "/healthz").status == 200;
        } catch (const std::exception&) {
            std::this_thread::sleep_for(milliseconds(100));  // the server is still closing the old ones
        }
    }
    CHECK(served);
}

TEST_CASE("a trusted proxy's own connections are exempt from MAX_CONNECTIONS_PER_IP")
{
    server_fixture srv({{"MAX_CONNECTIONS_PER_IP", "2"}, {"TRUSTED_PROXIES", "127.0.0.3"}});
    held proxy;
    for (int i = 0; i < 6; ++i) {
        proxy.push_back(std::make_unique<http_connection>(srv.port(), seconds(10), "127.0.0.3"));
        CHECK(proxy.back()->request("GET", "/healthz", "", {{"X-Forwarded-For", "203.0.113.9"}}).status == 200);
    }
}

TEST_CASE("a connection that sends nothing is closed after FIRST_BYTE_TIMEOUT, not HEADER_TIMEOUT")
{
    server_fixture srv({{"FIRST_BYTE_TIMEOUT", "1"}, {"HEADER_TIMEOUT", "120"}});
    http_connection silent(srv.port(), seconds(30), "127.0.0.2");
    auto started = steady::now();
    CHECK(silent.closed_by_peer(seconds(30)));
    MESSAGE("closed after " << seconds_since(started) << " s");
    CHECK(seconds_since(started) < 15.0);
    CHECK(closed_count(srv.port(), "first_byte_timeout") >= 1);
}

TEST_CASE("near MAX_CONNECTIONS idle and header deadlines shrink")
{
    // 19 of 20: above 90%, so the 5-minute idle timeout becomes about a second.
    server_fixture srv(
        {{"MAX_CONNECTIONS", "20"}, {"IO_THREADS", "1"}, {"MAX_CONNECTIONS_PER_IP", "0"}, {"IDLE_TIMEOUT", "300"}});
    held keep;
    for (int i = 0; i < 19; ++i) {
        keep.push_back(std::make_unique<http_connection>(srv.port(), seconds(30), "127.0.0.2"));
        REQUIRE(keep.back()->request("GET", "/healthz").status == 200);
    }
    auto started = steady::now();
    CHECK(keep.front()->closed_by_peer(seconds(30)));
    MESSAGE("idle connection closed after " << seconds_since(started) << " s");
    CHECK(seconds_since(started) < 15.0);
    CHECK(closed_count(srv.port(), "idle_timeout") >= 1);
}

TEST_CASE("a client trickling its header or body below MIN_INGRESS_RATE is cut")
{
    server_fixture srv({{"MIN_INGRESS_RATE", "64"}, {"HEADER_TIMEOUT", "120"}});
    auto trickle = [&](const std::string& start) {
        http_connection c(srv.port(), seconds(5), "127.0.0.2");
        c.send(start);
        auto began = steady::now();
        // One byte every 250 ms (4 B/s) for at most 20 s.
        while (seconds_since(began) < 20.0) {
            if (c.closed_by_peer(milliseconds(250))) return seconds_since(began);
            try {
                c.send("a");
            } catch (const std::exception&) {
                return seconds_since(began);
            }
        }
        return 1e9;
    };
    double header_cut = trickle("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ");
    MESSAGE("slow header cut after " << header_cut << " s");
    CHECK(header_cut < 15.0);
    double body_cut = trickle(
        "POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 4000\r\n\r\n");
    MESSAGE("slow body cut after " << body_cut << " s");
    CHECK(body_cut < 15.0);
    CHECK(closed_count(srv.port(), "slow_ingress") >= 2);
    // A client at a normal pace is unaffected.
    CHECK(http_request(srv.port(), "GET", "/healthz").status == 200);
}
