#pragma once
// Connection settings of the Redis client, filled by the configuration code
// (REDIS_URL through parse_url); the client never reads the environment.

#include "core/error.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace portcullis::store::redis {

// A host and TCP port (a sentinel, or the master a sentinel names).
struct endpoint {
    std::string host;
    std::uint16_t port = 0;
    bool operator==(const endpoint&) const = default;
};

class master_tracker;

struct settings {
    std::string host = "127.0.0.1";
    std::uint16_t port = 6379;
    std::string username;  // ACL user (Redis 6+); empty = AUTH with the password only
    std::string password;  // empty = no AUTH
    int db = 0;
    std::string client_name;  // CLIENT SETNAME when not empty

    std::chrono::milliseconds connect_timeout{1000};  // TCP connect + handshake
    std::chrono::milliseconds command_timeout{2000};  // upper bound of one call
    std::size_t max_pending = 65536;                  // replies awaited at once on one connection
    std::chrono::milliseconds reconnect_min{50};      // first reconnect delay, doubled per failure
    std::chrono::milliseconds reconnect_max{1000};    // backoff cap (with jitter below it)
    // With replies outstanding and no byte read for this long, the connection is dropped.
    std::chrono::milliseconds stall_timeout{10000};

    // Sentinel mode (REDIS_SENTINELS): when `sentinels` is not empty, host and port
    // above are ignored; every (re)connect asks the sentinels for the master of
    // `sentinel_master` and checks it with ROLE.
    std::vector<endpoint> sentinels;
    std::string sentinel_master;
    std::string sentinel_password;  // AUTH towards the sentinels; empty = none
    // Shared by every connection of the process and fed by a sentinel_watch (+switch-master):
    // a connection whose master is no longer the announced one reconnects. May be null.
    std::shared_ptr<master_tracker> tracker;

    // Writes made with async_exec_durable / async_eval_durable are confirmed only once this
    // many replicas hold them (WAIT); 0 = no WAIT (REDIS_MIN_REPLICAS).
    unsigned min_replicas = 0;
};

// Parses redis://[[user]:password@]host[:port][/db] (an RFC 3986 URL; a lone user-info
// is the password; a query is ignored) into a copy of `base`. Errors:
// errc::validation_failed for a malformed URL, another scheme, a fragment, a bad port or
// a bad db number.
core::result<settings> parse_url(std::string_view url, settings base = {});

// Parses "host:port[,host:port…]" (REDIS_SENTINELS; [v6]:port for IPv6). nullopt when
// empty or when an item is not host:port with a port in 1..65535.
std::optional<std::vector<endpoint>> parse_endpoints(std::string_view list);

}  // namespace portcullis::store::redis
