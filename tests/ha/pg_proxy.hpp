#pragma once
// A TCP proxy between PostgreSQL clients and one PostgreSQL server that reads the
// protocol's message framing, so that a test can lose one reply on purpose: the server
// has done the work (a statement outside a transaction block has committed when the
// server sends ReadyForQuery), the client never hears of it. Clients must connect with
// sslmode=disable and gssencmode=disable, so the messages travel in clear.

#include <atomic>
#include <chrono>
#include <list>
#include <mutex>
#include <string>
#include <thread>

namespace portcullis::test {

class pg_proxy {
public:
    enum class cut {
        after_reply,  // forward the statement, wait for the server's ReadyForQuery, then close both sides
        before_send,  // close both sides instead of forwarding the statement
    };

    // Listens on 127.0.0.1 (an ephemeral port) and connects each client to upstream_host:upstream_port.
    pg_proxy(std::string upstream_host, int upstream_port);
    ~pg_proxy();
    pg_proxy(const pg_proxy&) = delete;
    pg_proxy& operator=(const pg_proxy&) = delete;

    int port() const noexcept { return port_; }

    // The next Bind of the prepared statement `statement_name`, on whichever connection
    // sends it first, is cut as `how` says. One cut per arm().
    void arm(std::string statement_name, cut how);
    // Waits until the armed cut has happened (false when `limit` passes first).
    bool wait_fired(std::chrono::milliseconds limit) const;
    // Connections accepted so far.
    int connections() const noexcept { return accepted_.load(); }

private:
    void accept_loop();
    void relay(int client, int server);
    // True when `msg` (one complete client message) is the armed Bind and this caller claimed the cut.
    bool claim(const std::string& msg, cut& how);

    std::string host_;
    int upstream_port_;
    int listen_fd_ = -1;
    int port_ = 0;
    std::atomic<bool> stop_{false};
    std::atomic<int> accepted_{0};
    std::atomic<bool> fired_{false};

    std::mutex mu_;
    bool armed_ = false;
    std::string armed_name_;
    cut armed_how_ = cut::after_reply;

    std::thread acceptor_;
    std::list<std::thread> relays_;  // guarded by mu_
};

}  // namespace portcullis::test
