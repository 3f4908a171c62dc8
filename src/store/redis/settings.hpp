#pragma once
// Connection settings of the Redis client, filled by the configuration code
// (REDIS_URL through parse_url); the client never reads the environment.

#include "core/error.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace portcullis::store::redis {

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
};

// Parses redis://[[user]:password@]host[:port][/db] into a copy of `base`.
// Errors: errc::validation_failed for another scheme, a bad port or a bad db number.
core::result<settings> parse_url(std::string_view url, settings base = {});

}  // namespace portcullis::store::redis
