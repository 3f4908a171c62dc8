#pragma once
// Tasks shared by the queue tests and the test worker process. They record what they
// did in Redis under the job's key prefix ("<prefix>test:…").

#include "jobs/queue.hpp"

#include <chrono>
#include <cstdint>
#include <vector>

namespace portcullis::test {

// Registers:
//   record  sleeps `sleep`, then HINCRBY <prefix>test:handled <id> 1
//   flaky   RPUSH <prefix>test:attempts:<id> <now ms>; fails with retry_later() before attempt 3
//   fatal   fails permanently (smtp_rejected, "550 …") unless <prefix>test:allow exists
void register_test_tasks(jobs::registry& r, std::chrono::milliseconds sleep);

// Enqueue→handled latencies (ms) of `record` jobs handled in this process.
std::vector<std::int64_t>& record_latencies();

}  // namespace portcullis::test
