#pragma once
// Redis Sentinel support: the protocol pieces as plain functions (unit-tested without
// a network), the process-wide record of the announced master, and the watcher that
// follows +switch-master on one sentinel.
//
// Discovery (in connection's run loop, on every connect): ask the sentinels in turn,
// each within connect_timeout, for the master's address; the first that answers is
// asked first next time. Connect there and check ROLE says "master". A reply of
// READONLY, LOADING or MASTERDOWN, a dropped connection, or a +switch-master that names
// another address make the connection start over.

#include "core/error.hpp"
#include "store/redis/reply.hpp"
#include "store/redis/settings.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace portcullis::store::redis {

// The reply of SENTINEL GET-MASTER-ADDR-BY-NAME: [host, port]. nullopt for nil (the
// sentinel does not know the master) or anything malformed.
std::optional<endpoint> parse_master_addr(const reply& r);

// The reply of ROLE: true when its first element is "master".
bool is_master_role(const reply& r) noexcept;

// A message on a sentinel's +switch-master channel ([message, +switch-master,
// "<name> <old-ip> <old-port> <new-ip> <new-port>"]): the new address when it is about
// `master`, nullopt for anything else (other masters, subscribe confirmations).
std::optional<endpoint> parse_switch_master(const reply& r, std::string_view master);

// True for the error replies that mean "this server is not a usable master any more":
// READONLY (it became a replica), LOADING, MASTERDOWN, UNBLOCKED (a blocking command
// ended because the server changed role).
bool means_master_lost(const reply& r) noexcept;

// The master last announced by the sentinels, shared by every connection of the process
// (any thread). The epoch grows by one each time the announced address changes.
class master_tracker {
public:
    std::uint64_t epoch() const noexcept { return epoch_.load(std::memory_order_acquire); }
    std::optional<endpoint> master() const;
    // Records `m`; true (and a new epoch) when it differs from the address known before.
    bool announce(const endpoint& m);

private:
    mutable std::mutex mu_;
    std::optional<endpoint> master_;
    std::atomic<std::uint64_t> epoch_{0};
};

namespace detail {

// Connects `sock` to host:port (numeric address, else resolved). Errors: the socket's.
boost::asio::awaitable<boost::system::error_code> async_dial(boost::asio::ip::tcp::socket& sock,
                                                             const std::string& host, std::uint16_t port);

// Writes `bytes` and reads `expected` replies (error replies included). Errors: the
// socket's, redis_unavailable on a protocol error. No timeout: callers bound it.
boost::asio::awaitable<core::result<std::vector<reply>>> async_roundtrip(boost::asio::ip::tcp::socket& sock,
                                                                         reply_reader& reader, const std::string& bytes,
                                                                         std::size_t expected);

// Asks one sentinel for the master of cfg.sentinel_master (AUTH with
// cfg.sentinel_password first when set). Errors: socket errors, redis_unavailable
// (unknown master, refused AUTH). Timeout: cfg.connect_timeout.
boost::asio::awaitable<core::result<endpoint>> async_ask_sentinel(const endpoint& sentinel, const settings& cfg);

}  // namespace detail

class sentinel_watch_state;

// Subscribes to +switch-master on the first sentinel that answers and announces every
// switch (and, on each subscription, the master the sentinel names) to cfg.tracker.
// One run loop; on a broken link it moves to the next sentinel after a short pause.
class sentinel_watch {
public:
    // `cfg.sentinels` must not be empty and `cfg.tracker` not null.
    sentinel_watch(boost::asio::any_io_executor ex, settings cfg);
    ~sentinel_watch();
    sentinel_watch(const sentinel_watch&) = delete;
    sentinel_watch& operator=(const sentinel_watch&) = delete;

    void start();
    // Ends the run loop; on its executor's thread.
    void stop();

private:
    std::shared_ptr<sentinel_watch_state> state_;
};

}  // namespace portcullis::store::redis
