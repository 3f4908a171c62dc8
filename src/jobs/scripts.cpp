#include "jobs/scripts.hpp"

namespace portcullis::jobs::detail {

const store::redis::script& enqueue_script()
{
    static const store::redis::script s(R"lua(
if tonumber(ARGV[2]) > 0 then
  redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
else
  redis.call('LPUSH', KEYS[1], ARGV[1])
end
redis.call('HSET', KEYS[3], 'state', 'queued', 'task', ARGV[5], 'queue', ARGV[4], 'attempts', 0,
           'max_retries', ARGV[7], 'enqueued_at', ARGV[6], 'updated_at', ARGV[6])
redis.call('PEXPIRE', KEYS[3], ARGV[3])
redis.call('HINCRBY', KEYS[4], 'enqueued', 1)
redis.call('SADD', KEYS[5], ARGV[4])
return 1
)lua");
    return s;
}

const store::redis::script& ack_script()
{
    // A job the reaper already returned to the queue (its worker looked dead) is taken
    // out of the queue again if nobody picked it up yet, so it does not run twice.
    static const store::redis::script s(R"lua(
local removed = redis.call('LREM', KEYS[1], -1, ARGV[1])
if removed == 0 then removed = redis.call('LREM', KEYS[2], -1, ARGV[1]) end
redis.call('HSET', KEYS[3], 'state', 'done', 'finished_at', ARGV[2], 'updated_at', ARGV[2])
redis.call('PEXPIRE', KEYS[3], ARGV[3])
if removed > 0 then redis.call('HINCRBY', KEYS[4], 'done', 1) end
return removed
)lua");
    return s;
}

const store::redis::script& retry_script()
{
    static const store::redis::script s(R"lua(
if redis.call('LREM', KEYS[1], -1, ARGV[1]) == 0 then return 0 end
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])
redis.call('HSET', KEYS[3], 'state', 'retrying', 'last_error', ARGV[5], 'attempts', ARGV[6],
           'eta', ARGV[3], 'updated_at', ARGV[4])
redis.call('PEXPIRE', KEYS[3], ARGV[7])
redis.call('HINCRBY', KEYS[4], 'retried', 1)
return 1
)lua");
    return s;
}

const store::redis::script& bury_script()
{
    static const store::redis::script s(R"lua(
if redis.call('LREM', KEYS[1], -1, ARGV[1]) == 0 then return 0 end
redis.call('LPUSH', KEYS[2], ARGV[2])
redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[7]) - 1)
redis.call('HSET', KEYS[3], 'state', 'dead', 'last_error', ARGV[4], 'attempts', ARGV[5],
           'finished_at', ARGV[3], 'updated_at', ARGV[3])
redis.call('PEXPIRE', KEYS[3], ARGV[6])
redis.call('HINCRBY', KEYS[4], 'dead', 1)
return 1
)lua");
    return s;
}

const store::redis::script& promote_script()
{
    static const store::redis::script s(R"lua(
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, job in ipairs(due) do
  redis.call('ZREM', KEYS[1], job)
  redis.call('LPUSH', KEYS[2], job)
end
return #due
)lua");
    return s;
}

const store::redis::script& reap_script()
{
    // Newest first from the processing list's left, each pushed at the queue's consuming
    // (right) end: the recovered jobs run next, oldest first.
    static const store::redis::script s(R"lua(
local workers = redis.call('HGETALL', KEYS[1])
local moved = 0
for i = 1, #workers, 2 do
  local id, queue = workers[i], workers[i + 1]
  if redis.call('EXISTS', ARGV[1] .. 'jobs:hb:' .. id) == 0 then
    local plist = ARGV[1] .. 'jobs:processing:' .. id
    local qkey = ARGV[1] .. 'jobs:queue:' .. queue
    while redis.call('LMOVE', plist, qkey, 'LEFT', 'RIGHT') do moved = moved + 1 end
    redis.call('HDEL', KEYS[1], id)
  end
end
if moved > 0 then redis.call('HINCRBY', KEYS[2], 'reaped', moved) end
return moved
)lua");
    return s;
}

const store::redis::script& requeue_script()
{
    static const store::redis::script s(R"lua(
local moved = 0
while redis.call('LMOVE', KEYS[1], KEYS[2], 'LEFT', 'RIGHT') do moved = moved + 1 end
return moved
)lua");
    return s;
}

const store::redis::script& revive_script()
{
    static const store::redis::script s(R"lua(
if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 0 then return 0 end
redis.call('LPUSH', KEYS[2], ARGV[2])
redis.call('HSET', KEYS[3], 'state', 'queued', 'attempts', 0, 'updated_at', ARGV[3])
redis.call('PEXPIRE', KEYS[3], ARGV[4])
return 1
)lua");
    return s;
}

}  // namespace portcullis::jobs::detail
