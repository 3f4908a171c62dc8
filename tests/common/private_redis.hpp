#pragma once
// A private redis-server for fault tests: its own port and directory, the append-only
// file on, restartable on the same port and data; stopped and removed on destruction.

#include "process.hpp"

#include <memory>
#include <string>

namespace portcullis::test {

class private_redis {
public:
    // `appendfsync`: "everysec" (as scripts/lib/common.sh runs Redis) or "always".
    explicit private_redis(std::string appendfsync = "everysec");
    ~private_redis();
    private_redis(const private_redis&) = delete;
    private_redis& operator=(const private_redis&) = delete;

    // Starts it and waits until it answers PING (throws after 10 s, with its log). The
    // first start picks a free port and tries another one when that was taken meanwhile;
    // later starts reuse the port and the data.
    void start();
    void stop();   // SIGTERM (a clean shutdown: the AOF is flushed) and wait
    void kill9();  // SIGKILL, like a crash
    int port() const noexcept { return port_; }
    std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_) + "/0"; }

private:
    bool start_on_port();  // false when the port was taken

    std::string appendfsync_;
    int port_ = 0;
    std::string dir_;
    std::unique_ptr<process> proc_;
};

// True when a Redis server on 127.0.0.1:`port` answers PING within a second.
bool redis_answers_ping(int port);

}  // namespace portcullis::test
