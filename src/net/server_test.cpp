#include "net/server.hpp"

#include <doctest/doctest.h>
#include <sys/socket.h>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include <thread>

using namespace portcullis::net;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using std::chrono::milliseconds;

namespace {

asio::awaitable<response> throws_int(request&)
{
    throw 42;
    co_return response{};
}

asio::awaitable<response> answers(request&)
{
    response r;
    r.body = "{}";
    co_return r;
}

// Sends one request on a new connection and returns everything read until the server closes.
std::string exchange_once(std::uint16_t port, const std::string& raw)
{
    asio::io_context ioc;
    tcp::socket s(ioc);
    s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    timeval tv{10, 0};
    ::setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    asio::write(s, asio::buffer(raw));
    std::string out;
    boost::system::error_code ec;
    asio::read(s, asio::dynamic_buffer(out), ec);
    return out;
}

}  // namespace

TEST_CASE("pressure_timeout shrinks from half the cap to 1 s at 90%")
{
    CHECK(pressure_timeout(milliseconds(10'000), 0, 100) == milliseconds(10'000));
    CHECK(pressure_timeout(milliseconds(10'000), 50, 100) == milliseconds(10'000));
    CHECK(pressure_timeout(milliseconds(10'000), 70, 100) == milliseconds(5'500));
    CHECK(pressure_timeout(milliseconds(10'000), 90, 100) == milliseconds(1'000));
    CHECK(pressure_timeout(milliseconds(10'000), 150, 100) == milliseconds(1'000));
    CHECK(pressure_timeout(milliseconds(500), 95, 100) == milliseconds(500));
}

TEST_CASE("address_counts caps each address and forgets it at zero")
{
    address_counts counts;
    address_counts::key a{};
    address_counts::key b{};
    b[15] = 1;
    CHECK(counts.try_add(a, 2));
    CHECK(counts.try_add(a, 2));
    CHECK_FALSE(counts.try_add(a, 2));
    CHECK(counts.try_add(b, 2));
    counts.remove(a);
    CHECK(counts.try_add(a, 2));
    counts.remove(a);
    counts.remove(a);
    counts.remove(b);
    CHECK(counts.addresses() == 0);
}

TEST_CASE("a handler that throws a non-std exception gets a 500 and its connection is released")
{
    asio::io_context ioc{1};
    server_settings settings;
    settings.port = 0;
    settings.access_log = false;
    router routes;
    routes.add("GET", "/throw", throws_int);
    routes.add("GET", "/ok", answers);
    listener l(ioc, settings, routes, 1);
    auto port = l.bind(0);
    l.start();
    std::thread runner([&ioc] { ioc.run(); });

    std::string got = exchange_once(port, "GET /throw HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    CHECK(got.rfind("HTTP/1.1 500 ", 0) == 0);
    // The session ended and unregistered itself; the listener still serves.
    for (int i = 0; i < 500 && l.open_connections() != 0; ++i) std::this_thread::sleep_for(milliseconds(10));
    CHECK(l.open_connections() == 0);
    got = exchange_once(port, "GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    CHECK(got.rfind("HTTP/1.1 200 ", 0) == 0);

    asio::post(ioc, [&l] { l.stop(); });
    ioc.stop();
    runner.join();
}
