#pragma once
// Helpers of the high-availability tests: shell commands for the private servers they
// start, and waiting for a condition with a bound.

#include "wait.hpp"

#include <chrono>
#include <string>

namespace portcullis::test {

// Runs `cmd` with /bin/sh; throws std::runtime_error naming it when it fails.
void sh(const std::string& cmd);
// Standard output of `cmd` (trailing newlines removed); "" when it fails.
std::string capture(const std::string& cmd);
// "runuser -u postgres -- " when running as root (PostgreSQL refuses root), else "".
std::string as_postgres();

// Polls `pred` every 20 ms until it holds or `limit` passes; returns its last value.
template <class Pred>
bool wait_for(Pred pred, std::chrono::milliseconds limit);

// A Redis group on free ports under one temporary directory: a master, two replicas
// and three sentinels (quorum 2) watching it under the name "pc". The constructor
// returns once the replicas are in sync and the sentinels know each other; the
// destructor stops everything it started.
class redis_group {
public:
    redis_group();
    ~redis_group();
    redis_group(const redis_group&) = delete;
    redis_group& operator=(const redis_group&) = delete;

    int sentinel_port(int i) const { return sentinels_[i]; }
    // The master's port as sentinel 0 reports it.
    int master_port() const;
    // SENTINEL FAILOVER on sentinel 0.
    void failover() const;
    // kill -9 of the server on `port`.
    void kill(int port) const;
    // Starts the server on `port` again (its AOF kept), as a replica of `master_port`: what a
    // supervisor does after a crash, once the sentinels have promoted another server.
    void restart_as_replica(int port, int master_port) const;

private:
    std::string dir_;
    int servers_[3]{};
    int sentinels_[3]{};
};

}  // namespace portcullis::test

template <class Pred>
bool portcullis::test::wait_for(Pred pred, std::chrono::milliseconds limit)
{
    return wait_until(pred, limit, std::chrono::milliseconds(20));
}
