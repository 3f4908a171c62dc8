#pragma once
// The HTTP/1.1 server of one I/O thread. Each I/O thread owns an io_context, a
// `listener` bound with SO_REUSEPORT to the shared address, its own router and
// its own connections: nothing on the request path is shared between threads.

#include "net/client_address.hpp"
#include "net/router.hpp"

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace boost::asio {
class io_context;
}

namespace portcullis::net {

struct server_settings {
    std::string host = "127.0.0.1";
    std::uint16_t port = 8000;
    std::size_t max_connections = 10000;       // over all threads; past it the least useful connection is shed
    std::size_t max_connections_per_ip = 256;  // per client address (trusted proxies exempt); 0: no cap
    std::size_t header_limit = 16 * 1024;      // 431 past it
    std::size_t body_limit = 1024 * 1024;      // 413 past it
    std::chrono::milliseconds first_byte_timeout{2'000};  // a new connection's first byte
    std::chrono::milliseconds header_timeout{10'000};
    std::chrono::milliseconds body_timeout{30'000};
    std::chrono::milliseconds idle_timeout{75'000};
    std::chrono::milliseconds write_timeout{30'000};
    std::chrono::milliseconds request_timeout{30'000};  // deadline handed to handlers
    // Header and body bytes per second below which a client is cut (after a 3-second grace); 0: off.
    std::size_t min_ingress_rate = 256;
    std::vector<address_block> trusted_proxies;  // peers whose forwarding header is believed
    forwarding_header proxy_header = forwarding_header::x_forwarded_for;
    bool access_log = true;
};

// Why the server closed a connection on its own. `shed_*`: at MAX_CONNECTIONS, to make
// room for a new one; `refused_*`: the new connection itself was closed at once.
enum class close_reason : std::uint8_t {
    shed_never_sent,   // a connection that had not sent a byte
    shed_idle,         // the oldest idle keep-alive connection
    shed_slow_header,  // the connection longest in its header
    refused_busy,      // every connection was busy with a request
    refused_per_ip,    // its address was at MAX_CONNECTIONS_PER_IP
    first_byte_timeout,
    header_timeout,
    idle_timeout,
    body_timeout,
    write_timeout,
    slow_ingress,  // below MIN_INGRESS_RATE
};
inline constexpr std::size_t close_reason_count = 11;
std::string_view close_reason_name(close_reason r) noexcept;

// A header, idle or first-byte timeout under pressure: unchanged up to half of `max`
// connections open, then shrinking linearly to min(configured, 1 s) at 90% and beyond.
std::chrono::milliseconds pressure_timeout(std::chrono::milliseconds configured, std::size_t open,
                                           std::size_t max) noexcept;

// Observer of finished requests (metrics). Called on the request's own thread.
class request_observer {
public:
    virtual ~request_observer() = default;
    virtual void on_request(std::string_view method, std::string_view route, unsigned status,
                            std::chrono::nanoseconds duration) = 0;
    virtual void on_connection(int delta) = 0;
    virtual void on_close(close_reason) {}
};

// Open connections per client address, shared by every listener of a process so that
// MAX_CONNECTIONS_PER_IP holds over all threads. Touched once at accept and once at close.
class address_counts {
public:
    using key = std::array<unsigned char, 16>;  // IPv6 bytes; IPv4 as mapped

    // Counts one more connection of `k` unless it already has `cap`; false then.
    bool try_add(const key& k, std::size_t cap);
    void remove(const key& k) noexcept;
    std::size_t addresses() const;

private:
    struct hash {
        std::size_t operator()(const key& k) const noexcept;
    };
    mutable std::mutex mutex_;
    std::unordered_map<key, std::uint32_t, hash> counts_;
};

class listener {
public:
    // `threads` is the number of listeners sharing the address (for the per-thread
    // connection cap). The router, observer and counts must outlive the listener; with no
    // `counts` the listener keeps its own (the per-address cap then holds per thread).
    listener(boost::asio::io_context& ioc, const server_settings& settings, const router& routes, std::size_t threads,
             request_observer* observer = nullptr, address_counts* counts = nullptr);
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
