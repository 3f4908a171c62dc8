#pragma once
// The queue's atomic steps as Lua scripts (run with EVALSHA, reloaded on NOSCRIPT).

#include "store/redis/script.hpp"

namespace portcullis::jobs::detail {

// KEYS: queue, delayed, job hash, stats, queues set.
// ARGV: envelope, due ms (0 = now), state ttl ms, queue name, task, now ms, max_retries.
const store::redis::script& enqueue_script();
// KEYS: processing, queue, job hash, stats. ARGV: envelope, now ms, ttl ms. Returns 1 if acked.
const store::redis::script& ack_script();
// KEYS: processing, delayed, job hash, stats.
// ARGV: envelope, new envelope, due ms, now ms, error, attempts, ttl ms. Returns 1 if rescheduled.
const store::redis::script& retry_script();
// KEYS: processing, dead, job hash, stats.
// ARGV: envelope, dead envelope, now ms, error, attempts, ttl ms, max dead. Returns 1 if buried.
const store::redis::script& bury_script();
// KEYS: delayed, queue. ARGV: now ms, limit. Returns the number of jobs moved.
const store::redis::script& promote_script();
// KEYS: workers hash, stats. ARGV: prefix. Returns the number of jobs returned to queues.
const store::redis::script& reap_script();
// KEYS: processing, queue. Moves everything back (a worker's own list). Returns the count.
const store::redis::script& requeue_script();
// KEYS: dead, queue, job hash. ARGV: dead envelope, fresh envelope, now ms, ttl ms. Returns 1 if moved.
const store::redis::script& revive_script();

}  // namespace portcullis::jobs::detail
