#include "pg_proxy.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string_view>

namespace portcullis::test {

namespace {

constexpr int poll_ms = 100;  // how often the loops look at the stop flag

std::uint32_t be32(const char* p)
{
    std::uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
    return v;
}

bool send_all(int fd, const char* data, std::size_t n)
{
    while (n > 0) {
        ssize_t w = ::send(fd, data, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return false;
        data += w;
        n -= static_cast<std::size_t>(w);
    }
    return true;
}

int connect_to(const std::string& host, int port)
{
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    if (::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res) != 0) return -1;
    int fd = -1;
    for (addrinfo* a = res; a != nullptr; a = a->ai_next) {
        fd = ::socket(a->ai_family, a->ai_socktype, a->ai_protocol);
        if (fd < 0) continue;
        if (::connect(fd, a->ai_addr, a->ai_addrlen) == 0) break;
        ::close(fd);
        fd = -1;
    }
    ::freeaddrinfo(res);
    return fd;
}

// Splits complete protocol messages off the front of `buf`. The first messages of a
// client (startup, SSL or GSS request) have no type byte; everything else has one.
struct framer {
    std::string buf;
    bool untyped = false;

    // The next complete message (type byte and length included), or "" when incomplete.
    std::string next()
    {
        std::size_t head = untyped ? 4 : 5;
        if (buf.size() < head) return {};
        std::size_t len = be32(buf.data() + head - 4) + (untyped ? 0 : 1);
        if (len < head || buf.size() < len) return {};
        std::string msg = buf.substr(0, len);
        buf.erase(0, len);
        return msg;
    }
};

constexpr std::uint32_t ssl_request = 80877103;
constexpr std::uint32_t gss_request = 80877104;

}  // namespace

pg_proxy::pg_proxy(std::string upstream_host, int upstream_port)
    : host_(std::move(upstream_host)), upstream_port_(upstream_port)
{
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (listen_fd_ < 0) throw std::runtime_error("pg_proxy: socket failed");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(listen_fd_, 64) != 0 ||
        ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
        ::close(listen_fd_);
        throw std::runtime_error("pg_proxy: cannot listen");
    }
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
}

pg_proxy::~pg_proxy()
{
    stop_ = true;
    acceptor_.join();
    ::close(listen_fd_);
    // No new relay starts once the acceptor has ended.
    for (auto& t : relays_) t.join();
}

void pg_proxy::arm(std::string statement_name, cut how)
{
    std::lock_guard lock(mu_);
    armed_ = true;
    armed_name_ = std::move(statement_name);
    armed_how_ = how;
    fired_ = false;
}

bool pg_proxy::wait_fired(std::chrono::milliseconds limit) const
{
    auto until = std::chrono::steady_clock::now() + limit;
    while (!fired_.load()) {
        if (std::chrono::steady_clock::now() > until) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return true;
}

bool pg_proxy::claim(const std::string& msg, cut& how)
{
    if (msg.empty() || msg[0] != 'B') return false;
    // Bind: type, length, portal name (C string), statement name (C string), ...
    std::size_t portal_end = msg.find('\0', 5);
    if (portal_end == std::string::npos) return false;
    std::size_t name_end = msg.find('\0', portal_end + 1);
    if (name_end == std::string::npos) return false;
    std::string_view name(msg.data() + portal_end + 1, name_end - portal_end - 1);
    std::lock_guard lock(mu_);
    if (!armed_ || name != armed_name_) return false;
    armed_ = false;
    how = armed_how_;
    return true;
}

void pg_proxy::accept_loop()
{
    while (!stop_) {
        pollfd p{listen_fd_, POLLIN, 0};
        if (::poll(&p, 1, poll_ms) <= 0) continue;
        int client = ::accept(listen_fd_, nullptr, nullptr);
        if (client < 0) continue;
        int server = connect_to(host_, upstream_port_);
        if (server < 0) {
            ::close(client);
            continue;
        }
        ++accepted_;
        std::lock_guard lock(mu_);
        relays_.emplace_back([this, client, server] { relay(client, server); });
    }
}

void pg_proxy::relay(int client, int server)
{
    framer from_client;
    from_client.untyped = true;
    framer from_server;
    int single_bytes = 0;  // answers to SSL/GSS requests: one byte without framing
    bool raw = false;      // encryption was accepted: pass bytes through unread
    bool cutting = false;  // the armed statement went out: swallow the reply up to ReadyForQuery
    bool done = false;
    char chunk[16384];

    auto from_client_data = [&](const char* data, std::size_t n) {
        if (raw) return send_all(server, data, n);
        from_client.buf.append(data, n);
        for (std::string msg = from_client.next(); !msg.empty(); msg = from_client.next()) {
            if (from_client.untyped) {
                std::uint32_t code = msg.size() >= 8 ? be32(msg.data() + 4) : 0;
                if (code == ssl_request || code == gss_request) {
                    ++single_bytes;
                } else {
                    from_client.untyped = false;
                }
            } else if (!cutting) {
                cut how{};
                if (claim(msg, how)) {
                    if (how == cut::before_send) {
                        fired_ = true;
                        return false;
                    }
                    cutting = true;
                }
            }
            if (!send_all(server, msg.data(), msg.size())) return false;
        }
        return true;
    };

    auto from_server_data = [&](const char* data, std::size_t n) {
        if (raw) return send_all(client, data, n);
        while (single_bytes > 0 && n > 0) {
            --single_bytes;
            if (data[0] == 'S' || data[0] == 'G') raw = true;
            if (!send_all(client, data, 1)) return false;
            ++data;
            --n;
            if (raw) return send_all(client, data, n);
        }
        from_server.buf.append(data, n);
        for (std::string msg = from_server.next(); !msg.empty(); msg = from_server.next()) {
            if (cutting) {
                if (msg[0] == 'Z') {
                    fired_ = true;
                    return false;
                }
                continue;
            }
            if (!send_all(client, msg.data(), msg.size())) return false;
        }
        return true;
    };

    while (!stop_ && !done) {
        pollfd p[2] = {{client, POLLIN, 0}, {server, POLLIN, 0}};
        int n = ::poll(p, 2, poll_ms);
        if (n < 0 && errno != EINTR) break;
        if (n <= 0) continue;
        for (int i = 0; i < 2 && !done; ++i) {
            if ((p[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
            ssize_t r = ::recv(p[i].fd, chunk, sizeof chunk, 0);
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) {
                done = true;
                break;
            }
            auto len = static_cast<std::size_t>(r);
            bool ok = i == 0 ? from_client_data(chunk, len) : from_server_data(chunk, len);
            if (!ok) done = true;
        }
    }
    ::close(client);
    ::close(server);
}

}  // namespace portcullis::test
