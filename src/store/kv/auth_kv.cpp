#include "store/kv/auth_kv.hpp"

#include "store/redis/connection.hpp"

namespace portcullis::store::kv {

namespace {

using redis::command;
using redis::reply;
using redis::script;

// KEYS[1] code hash, KEYS[2] failures-per-hour counter.
// ARGV[1] digest, ARGV[2] max attempts, ARGV[3] max failures per hour.
// Returns {outcome, attempts_left, retry_after}: outcome 1 accepted, 2 wrong,
// 3 missing, 4 exhausted, 5 locked. The digest comparison happens on HMACs, so its
// timing reveals nothing about the code.
const script otp_check_script(R"lua(
local fails = tonumber(redis.call('GET', KEYS[2]) or '0')
if fails >= tonumber(ARGV[3]) then
  local ttl = redis.call('TTL', KEYS[2])
  if ttl < 0 then ttl = 3600 end
  return {5, 0, ttl}
end
local h = redis.call('HMGET', KEYS[1], 'd', 'a')
if not h[1] then return {3, 0, 0} end
local attempts = tonumber(h[2] or '0')
local max = tonumber(ARGV[2])
if attempts >= max then return {4, 0, 0} end
if h[1] == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return {1, max - attempts, 0}
end
attempts = redis.call('HINCRBY', KEYS[1], 'a', 1)
local f = redis.call('INCR', KEYS[2])
if f == 1 then redis.call('EXPIRE', KEYS[2], 3600) end
return {2, math.max(max - attempts, 0), 0}
)lua");

// KEYS: counters. ARGV: pairs of (max, window seconds), then a mode: "hit" counts
// only when every limit has room, "peek" never counts, "count" always counts.
// Returns {allowed (1/0), retry_after seconds}.
const script limit_script(R"lua(
local mode = ARGV[#ARGV]
local blocked, retry = false, 0
for i, key in ipairs(KEYS) do
  local max = tonumber(ARGV[2 * i - 1])
  local n = tonumber(redis.call('GET', key) or '0')
  if n >= max then
    blocked = true
    local ttl = redis.call('TTL', key)
    if ttl < 0 then ttl = tonumber(ARGV[2 * i]) end
    if ttl > retry then retry = ttl end
  end
end
if mode == 'count' or (mode == 'hit' and not blocked) then
  for i, key in ipairs(KEYS) do
    local n = redis.call('INCR', key)
    if n == 1 then redis.call('EXPIRE', key, tonumber(ARGV[2 * i])) end
  end
end
if blocked then return {0, retry} end
return {1, 0}
)lua");

core::result<std::vector<std::int64_t>> int_array(const core::result<reply>& r)
{
    if (!r) return r.error();
    if (r->is_error()) return make_error_code(core::errc::redis_unavailable);
    if (!r->is_array()) return make_error_code(core::errc::redis_unavailable);
    std::vector<std::int64_t> out;
    for (const auto& e : r->elements) {
        auto v = redis::as_integer(e);
        if (!v) return v.error();
        out.push_back(*v);
    }
    return out;
}

}  // namespace

auth_kv::auth_kv(redis::connection& conn, std::string prefix) : conn_(conn), prefix_(std::move(prefix)) {}

async_result<void> auth_kv::async_put_otp(std::string_view purpose, std::string_view email, std::string_view digest,
                                          std::chrono::seconds ttl, core::deadline d)
{
    std::string key = prefix_ + "otp:" + std::string(purpose) + ":" + std::string(email);
    redis::pipeline p;
    p.push(command("DEL", key));
    p.push(command("HSET", key, "d", digest, "a", "0"));
    p.push(command("EXPIRE", key, static_cast<std::int64_t>(ttl.count())));
    auto r = co_await conn_.async_exec(std::move(p), d);
    if (!r) co_return r.error();
    for (const auto& rep : *r) {
        if (rep.is_error()) co_return make_error_code(core::errc::redis_unavailable);
    }
    co_return core::result<void>{};
}

async_result<otp_check> auth_kv::async_check_otp(std::string_view purpose, std::string_view email,
                                                 std::string_view digest, int max_attempts, int max_failures_per_hour,
                                                 core::deadline d)
{
    command keys;
    keys.arg(prefix_ + "otp:" + std::string(purpose) + ":" + std::string(email));
    keys.arg(prefix_ + "otpfail:" + std::string(email));
    command args;
    args.arg(digest).arg(max_attempts).arg(max_failures_per_hour);
    auto r = co_await conn_.async_eval(otp_check_script, std::move(keys), std::move(args), d);
    auto v = int_array(r);
    if (!v) co_return v.error();
    if (v->size() != 3) co_return make_error_code(core::errc::redis_unavailable);
    otp_check out;
    switch ((*v)[0]) {
    case 1:
        out.outcome = otp_outcome::accepted;
        break;
    case 2:
        out.outcome = otp_outcome::wrong;
        break;
    case 3:
        out.outcome = otp_outcome::missing;
        break;
    case 4:
        out.outcome = otp_outcome::exhausted;
        break;
    default:
        out.outcome = otp_outcome::locked;
        break;
    }
    out.attempts_left = static_cast<int>((*v)[1]);
    out.retry_after_s = (*v)[2];
    co_return out;
}

namespace {

boost::asio::awaitable<core::result<limit_decision>> run_limits(redis::connection& conn, const std::string& prefix,
                                                                const std::vector<limit>& limits, std::string_view mode,
                                                                core::deadline d)
{
    if (limits.empty()) co_return limit_decision{};
    command keys;
    command args;
    for (const auto& l : limits) {
        keys.arg(prefix + l.key);
        args.arg(l.max).arg(static_cast<std::int64_t>(l.window.count()));
    }
    args.arg(mode);
    auto r = co_await conn.async_eval(limit_script, std::move(keys), std::move(args), d);
    auto v = int_array(r);
    if (!v) co_return v.error();
    if (v->size() != 2) co_return make_error_code(core::errc::redis_unavailable);
    co_return limit_decision{(*v)[0] == 1, (*v)[1]};
}

}  // namespace

async_result<limit_decision> auth_kv::async_hit(const std::vector<limit>& limits, core::deadline d)
{
    co_return co_await run_limits(conn_, prefix_, limits, "hit", d);
}

async_result<limit_decision> auth_kv::async_peek(const std::vector<limit>& limits, core::deadline d)
{
    co_return co_await run_limits(conn_, prefix_, limits, "peek", d);
}

async_result<void> auth_kv::async_count(const std::vector<limit>& limits, core::deadline d)
{
    auto r = co_await run_limits(conn_, prefix_, limits, "count", d);
    if (!r) co_return r.error();
    co_return core::result<void>{};
}

async_result<std::int64_t> auth_kv::async_cooldown(std::string_view key, std::chrono::seconds period, core::deadline d)
{
    if (period.count() <= 0) co_return std::int64_t{0};
    std::string full = prefix_ + std::string(key);
    redis::pipeline p;
    p.push(command("SET", full, "1", "NX", "EX", static_cast<std::int64_t>(period.count())));
    p.push(command("TTL", full));
    auto r = co_await conn_.async_exec(std::move(p), d);
    if (!r) co_return r.error();
    if (r->size() != 2 || (*r)[0].is_error()) co_return make_error_code(core::errc::redis_unavailable);
    if (!(*r)[0].is_nil()) co_return std::int64_t{0};
    auto ttl = redis::as_integer((*r)[1]);
    if (!ttl) co_return ttl.error();
    co_return std::max<std::int64_t>(*ttl, 1);
}

async_result<bool> auth_kv::async_consume_once(std::string_view key, std::chrono::seconds ttl, core::deadline d)
{
    auto r = co_await conn_.async_exec(
        command("SET", prefix_ + std::string(key), "1", "NX", "EX", static_cast<std::int64_t>(ttl.count())), d);
    // result<bool> is not implicitly constructible from an error_code.
    if (!r) co_return core::result<bool>(boost::system::in_place_error, r.error());
    if (r->is_error()) {
        co_return core::result<bool>(boost::system::in_place_error, make_error_code(core::errc::redis_unavailable));
    }
    co_return !r->is_nil();
}

async_result<void> auth_kv::async_publish_invalidation(std::string_view event, core::deadline d)
{
    redis::pipeline p;
    p.push(command("XADD", prefix_ + "inval", "MAXLEN", "~", "100000", "*", "e", event));
    auto r = co_await conn_.async_exec_durable(std::move(p), d);
    if (!r) co_return r.error();
    if (r->front().is_error()) co_return make_error_code(core::errc::redis_unavailable);
    co_return core::result<void>{};
}

invalidation_reader::invalidation_reader(redis::connection& blocking_conn, std::string prefix)
    : conn_(blocking_conn), key_(std::move(prefix) + "inval")
{
}

async_result<std::string> invalidation_reader::async_tail(core::deadline d)
{
    auto r = co_await conn_.async_exec(command("XREVRANGE", key_, "+", "-", "COUNT", "1"), d);
    if (!r) co_return r.error();
    if (r->is_error() || !r->is_array()) co_return make_error_code(core::errc::redis_unavailable);
    if (r->elements.empty() || !r->elements[0].is_array() || r->elements[0].elements.empty()) {
        co_return std::string("0-0");
    }
    auto id = redis::as_string(r->elements[0].elements[0]);
    if (!id) co_return id.error();
    co_return *id;
}

async_result<invalidation_reader::batch> invalidation_reader::async_read(std::string_view last_id,
                                                                         std::chrono::milliseconds block,
                                                                         core::deadline d)
{
    // The first entry tells whether entries after last_id were trimmed away.
    redis::pipeline p;
    p.push(command("XRANGE", key_, "-", "+", "COUNT", "1"));
    p.push(
        command("XREAD", "COUNT", "1000", "BLOCK", static_cast<std::int64_t>(block.count()), "STREAMS", key_, last_id));
    auto r = co_await conn_.async_exec(std::move(p), d);
    if (!r) co_return r.error();
    if (r->size() != 2 || (*r)[0].is_error() || (*r)[1].is_error()) {
        co_return make_error_code(core::errc::redis_unavailable);
    }
    batch out;
    const reply& first = (*r)[0];
    if (first.is_array() && !first.elements.empty() && first.elements[0].is_array() &&
        !first.elements[0].elements.empty() && last_id != "0-0") {
        auto oldest = redis::as_string(first.elements[0].elements[0]);
        // Stream ids compare as (ms, seq); a trimmed gap means the oldest is newer than
        // what we have seen plus one.
        auto parse = [](std::string_view id) {
            auto dash = id.find('-');
            return std::pair<std::uint64_t, std::uint64_t>{std::stoull(std::string(id.substr(0, dash))),
                                                           std::stoull(std::string(id.substr(dash + 1)))};
        };
        if (oldest && parse(*oldest) > parse(last_id)) out.trimmed = true;
    }
    const reply& rd = (*r)[1];
    if (rd.is_nil() || !rd.is_array() || rd.elements.empty()) co_return out;
    // [[key, [[id, [field, value]], …]]]
    const reply& stream = rd.elements[0];
    if (!stream.is_array() || stream.elements.size() < 2 || !stream.elements[1].is_array()) co_return out;
    for (const reply& entry : stream.elements[1].elements) {
        if (!entry.is_array() || entry.elements.size() < 2) continue;
        auto id = redis::as_string(entry.elements[0]);
        const reply& fields = entry.elements[1];
        if (!id || !fields.is_array() || fields.elements.size() < 2) continue;
        auto ev = redis::as_string(fields.elements[1]);
        if (ev) out.events.emplace_back(*id, *ev);
    }
    co_return out;
}

}  // namespace portcullis::store::kv
