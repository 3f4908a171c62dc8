#pragma once
// The HTTP/1.1 server of one I/O thread. Each I/O thread owns an io_context, a
// `listener` bound with SO_REUSEPORT to the shared address, its own router and
// its own connections: nothing on the request path is shared between threads.

#include "net/router.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

namespace boost::asio {
class io_context;
}

namespace portcullis::net {

struct server_settings {
    std::string host = "127.0.0.1";
    std::uint16_t port = 8000;
    std::size_t max_connections = 10000;   // over all threads; accepting pauses past it
    std::size_t header_limit = 16 * 1024;  // 431 past it
    std::size_t body_limit = 1024 * 1024;  // 413 past it
    std::chrono::milliseconds header_timeout{10'000};
    std::chrono::milliseconds body_timeout{30'000};
    std::chrono::milliseconds idle_timeout{75'000};
    std::chrono::milliseconds write_timeout{30'000};
    std::chrono::milliseconds request_timeout{30'000};  // deadline handed to handlers
    bool access_log = true;
};

// Observer of finished requests (metrics). Called on the request's own thread.
class request_observer {
public:
    virtual ~request_observer() = default;
    virtual void on_request(std::string_view method, std::string_view route, unsigned status,
                            std::chrono::nanoseconds duration) = 0;
    virtual void on_connection(int delta) = 0;
};

class listener {
public:
    // `threads` is the number of listeners sharing the address (for the per-thread
    // connection cap). The router and observer must outlive the listener.
    listener(boost::asio::io_context& ioc, const server_settings& settings, const router& routes, std::size_t threads,
             request_observer* observer = nullptr);
    ~listener();
    listener(const listener&) = delete;
    listener& operator=(const listener&) = delete;

    // Binds and listens (SO_REUSEPORT) on settings.host:`port`; returns the bound port
    // (useful when `port` is 0). Throws std::system_error on failure (start-up).
    std::uint16_t bind(std::uint16_t port);

    // Starts accepting. Must be called on (or before running) the io_context.
    void start();

    // Stops accepting and closes idle connections; busy ones close after their
    // current response. Must run on the listener's io_context.
    void stop();

    // Connections open on this listener (readable from any thread).
    std::size_t open_connections() const noexcept { return open_.load(std::memory_order_relaxed); }

    struct impl;

private:
    std::unique_ptr<impl> impl_;
    std::atomic<std::size_t> open_{0};
};

}  // namespace portcullis::net
