#pragma once
// Settings of the PostgreSQL layer. Filled by the configuration code (DATABASE_URL,
// DATABASE_POOL_SIZE, DATABASE_TIMEOUT); the module itself never reads the environment.

#include <chrono>
#include <cstddef>
#include <string>

namespace portcullis::store::pg {

struct settings {
    std::string url = "postgresql://localhost/portcullis";  // DATABASE_URL (URI or key=value conninfo)
    std::size_t pool_size = 8;                              // DATABASE_POOL_SIZE, per I/O thread
    std::chrono::milliseconds query_timeout{5000};          // DATABASE_TIMEOUT; also the server's statement_timeout
    std::chrono::milliseconds connect_timeout{5000};
    std::chrono::milliseconds acquire_timeout{5000};  // longest wait for a free connection (also bounded by deadline)
    std::size_t max_waiters = 1024;                   // callers queued for a connection; beyond: overloaded
    std::chrono::milliseconds reconnect_min{50};      // backoff between failed connects, doubling up to max
    std::chrono::milliseconds reconnect_max{1000};
    std::chrono::milliseconds cleanup_timeout{2000};  // cancel + drain of a timed-out connection before it is dropped
    std::string application_name = "portcullis";
};

}  // namespace portcullis::store::pg
