#include "store/kv/redis_auth_kv.hpp"

#include "store/redis/connection.hpp"

#include <algorithm>

namespace portcullis::store::kv {

namespace {

using redis::command;
using redis::reply;
using redis::script;

// KEYS[1] code hash, KEYS[2] failures-per-hour counter of the address, KEYS[3]
// failures-per-hour counter of the client's network (ignored when ARGV[5] is '0').
// ARGV[1] digest, ARGV[2] max attempts, ARGV[3] max failures per hour (address),
// ARGV[4] max failures per hour (network).
// Returns {outcome, attempts_left, retry_after}: outcome 1 accepted, 2 wrong,
// 3 missing, 4 exhausted, 5 locked. Every failure counts for the network, so guessing
// spread over many addresses is bounded too. The digest comparison happens on HMACs,
// so its timing reveals nothing about the code.
const script otp_check_script(R"lua(
local by_ip = ARGV[5] == '1'
local function locked(key, max)
  local n = tonumber(redis.call('GET', key) or '0')
  if n < max then return nil end
  local ttl = redis.call('TTL', key)
  if ttl < 1 then ttl = 3600 end
  return ttl
end
local ttl = locked(KEYS[2], tonumber(ARGV[3]))
if by_ip then
  local t = locked(KEYS[3], tonumber(ARGV[4]))
  if t and (not ttl or t > ttl) then ttl = t end
end
if ttl then return {5, 0, ttl} end
local function failed()
  if by_ip then
    local n = redis.call('INCR', KEYS[3])
    if n == 1 then redis.call('EXPIRE', KEYS[3], 3600) end
  end
end
local h = redis.call('HMGET', KEYS[1], 'd', 'a')
if not h[1] then
  failed()
  return {3, 0, 0}
end
local attempts = tonumber(h[2] or '0')
local max = tonumber(ARGV[2])
if attempts >= max then
  failed()
  return {4, 0, 0}
end
if h[1] == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return {1, max - attempts, 0}
end
attempts = redis.call('HINCRBY', KEYS[1], 'a', 1)
local f = redis.call('INCR', KEYS[2])
if f == 1 then redis.call('EXPIRE', KEYS[2], 3600) end
failed()
return {2, math.max(max - attempts, 0), 0}
)lua");

// KEYS[1] the code's hash. ARGV[1] digest, ARGV[2] ttl seconds. One script, so a
// broken connection can never leave a code without its expiry.
const script otp_put_script(R"lua(
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'd', ARGV[1], 'a', '0')
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2]))
return 1
)lua");

// Before a password check. KEYS[1] failures of (account, network), KEYS[2] failures of
// the network (ignored when ARGV[11] is '0'), KEYS[3] consecutive failures of the
// account, KEYS[4] the account's back-off marker, KEYS[5] "this network logged in to
// this account", KEYS[6] password checks of the account (successes included).
// ARGV: 1-2 (account, network) max and window, 3-4 network max and window, 5 account
// max, 6 failures before back-off starts, 7 longest back-off, 8 account window,
// 9-10 checks max and window, 11 per-network limits apply.
// Refused (nothing counted): {0, retry_after}. Admitted: the attempt is counted as a
// failure everywhere at once, {1, 0}; a success gives it back (password_success).
// A network that has logged in to the account before skips the account-wide limit and
// back-off, so failures from elsewhere cannot lock its owner out.
const script password_attempt_script(R"lua(
local retry = 0
local function over(key, max)
  local n = tonumber(redis.call('GET', key) or '0')
  if n >= max then
    local ttl = redis.call('TTL', key)
    if ttl < 1 then ttl = 1 end
    if ttl > retry then retry = ttl end
  end
end
local by_ip = ARGV[11] == '1'
over(KEYS[1], tonumber(ARGV[1]))
if by_ip then over(KEYS[2], tonumber(ARGV[3])) end
over(KEYS[6], tonumber(ARGV[9]))
if redis.call('EXISTS', KEYS[5]) == 0 then
  over(KEYS[3], tonumber(ARGV[5]))
  local wait = redis.call('TTL', KEYS[4])
  if wait > retry then retry = wait end
end
if retry > 0 then return {0, retry} end
local function count(key, window)
  local n = redis.call('INCR', key)
  if n == 1 then redis.call('EXPIRE', key, tonumber(window)) end
  return n
end
count(KEYS[1], ARGV[2])
if by_ip then count(KEYS[2], ARGV[4]) end
count(KEYS[6], ARGV[10])
local f = redis.call('INCR', KEYS[3])
redis.call('EXPIRE', KEYS[3], tonumber(ARGV[8]))
local free = tonumber(ARGV[6])
if f > free then
  local wait = math.min(2 ^ math.min(f - free, 20), tonumber(ARGV[7]))
  redis.call('SET', KEYS[4], '1', 'EX', math.max(math.floor(wait), 1))
end
return {1, 0}
)lua");

// After a correct password: gives back the failure counted by password_attempt, ends
// the account's failure run and back-off, and remembers the network (ARGV[2] seconds).
const script password_success_script(R"lua(
local function refund(key)
  if tonumber(redis.call('GET', key) or '0') > 0 then redis.call('DECR', key) end
end
refund(KEYS[1])
if ARGV[1] == '1' then refund(KEYS[2]) end
redis.call('DEL', KEYS[3], KEYS[4])
redis.call('SET', KEYS[5], '1', 'EX', tonumber(ARGV[2]))
return 1
)lua");

// KEYS: counters. ARGV: pairs of (max, window seconds), then a mode: "hit" counts
// only when every limit has room ("peek" never counts, "count" always counts).
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

// KEYS[1] a pending second login step. ARGV[1] max attempts. Counts the attempt and
// returns the stored value; nil (and the step is deleted) when it is missing or the
// attempt is past the maximum.
const script mfa_attempt_script(R"lua(
local v = redis.call('HGET', KEYS[1], 'v')
if not v then return false end
local a = redis.call('HINCRBY', KEYS[1], 'a', 1)
if a > tonumber(ARGV[1]) then
  redis.call('DEL', KEYS[1])
  return false
end
return v
)lua");

// KEYS[1] a pending second login step. ARGV[1] value, ARGV[2] ttl seconds.
const script mfa_put_script(R"lua(
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'a', '0')
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2]))
return 1
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

redis_auth_kv::redis_auth_kv(redis::connection& conn, std::string prefix) : conn_(conn), prefix_(std::move(prefix)) {}

async_result<void> redis_auth_kv::async_put_otp(std::string_view purpose, std::string_view email,
                                                std::string_view digest, std::chrono::seconds ttl, core::deadline d)
{
    command keys;
    keys.arg(prefix_ + "otp:" + std::string(purpose) + ":" + std::string(email));
    command args;
    args.arg(digest).arg(static_cast<std::int64_t>(ttl.count()));
    auto r = co_await conn_.async_eval(otp_put_script, std::move(keys), std::move(args), d);
    if (!r) co_return r.error();
    if (r->is_error()) co_return make_error_code(core::errc::redis_unavailable);
    co_return core::result<void>{};
}

async_result<void> redis_auth_kv::async_drop_otp(std::string_view purpose, std::string_view email, core::deadline d)
{
    auto r = co_await conn_.async_exec(
        command("DEL", prefix_ + "otp:" + std::string(purpose) + ":" + std::string(email)), d);
    if (!r) co_return r.error();
    if (r->is_error()) co_return make_error_code(core::errc::redis_unavailable);
    co_return core::result<void>{};
}

async_result<otp_check> redis_auth_kv::async_check_otp(std::string_view purpose, std::string_view email,
                                                       std::string_view digest, const otp_limits& limits,
                                                       core::deadline d)
{
    command keys;
    keys.arg(prefix_ + "otp:" + std::string(purpose) + ":" + std::string(email));
    keys.arg(prefix_ + "otpfail:" + std::string(email));
    keys.arg(prefix_ + (limits.network.empty() ? std::string("otpfail:-") : "rl:otp:ip:" + limits.network));
    command args;
    args.arg(digest).arg(limits.max_attempts).arg(limits.max_failures_per_hour).arg(limits.network_max_per_hour);
    args.arg(limits.network.empty() ? "0" : "1");
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

std::string_view request_key_part(request_kind kind)
{
    switch (kind) {
    case request_kind::register_account:
        return "register";
    case request_kind::resend_code:
        return "resend";
    case request_kind::forgot_password:
        return "forgot";
    case request_kind::admin_action:
        return "admin";
    }
    return "other";
}

}  // namespace

async_result<limit_decision> redis_auth_kv::async_request(request_kind kind, const request_limits& l, core::deadline d)
{
    if (l.network.empty() && l.address.empty()) co_return limit_decision{};
    std::string base = prefix_ + "rl:" + std::string(request_key_part(kind));
    command keys;
    command args;
    if (!l.network.empty()) {
        keys.arg(base + ":ip:" + l.network);
        args.arg(l.network_max).arg(static_cast<std::int64_t>(l.window.count()));
    }
    if (!l.address.empty()) {
        keys.arg(base + ":addr:" + l.address);
        args.arg(l.address_max).arg(static_cast<std::int64_t>(l.window.count()));
    }
    args.arg("hit");
    auto r = co_await conn_.async_eval(limit_script, std::move(keys), std::move(args), d);
    auto v = int_array(r);
    if (!v) co_return v.error();
    if (v->size() != 2) co_return make_error_code(core::errc::redis_unavailable);
    co_return limit_decision{(*v)[0] == 1, (*v)[1]};
}

async_result<std::int64_t> redis_auth_kv::async_code_cooldown(std::string_view purpose, std::string_view email,
                                                              std::chrono::seconds period, core::deadline d)
{
    if (period.count() <= 0) co_return std::int64_t{0};
    std::string full = prefix_ + "cooldown:" + std::string(purpose) + ":" + std::string(email);
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

async_result<bool> redis_auth_kv::async_consume_reset_token(std::string_view jti, std::chrono::seconds ttl,
                                                            core::deadline d)
{
    auto r = co_await conn_.async_exec(
        command("SET", prefix_ + "reset:" + std::string(jti), "1", "NX", "EX", static_cast<std::int64_t>(ttl.count())),
        d);
    // result<bool> is not implicitly constructible from an error_code.
    if (!r) co_return core::result<bool>(boost::system::in_place_error, r.error());
    if (r->is_error()) {
        co_return core::result<bool>(boost::system::in_place_error, make_error_code(core::errc::redis_unavailable));
    }
    co_return !r->is_nil();
}

async_result<void> redis_auth_kv::async_note_unanswered_rotation(std::string_view jti, std::string_view successor,
                                                                 std::chrono::seconds ttl, core::deadline d)
{
    redis::pipeline p;
    p.push(command("SET", prefix_ + "rot:" + std::string(jti), successor, "EX",
                   static_cast<std::int64_t>(std::max<std::int64_t>(ttl.count(), 1))));
    auto r = co_await conn_.async_exec_durable(std::move(p), d);
    if (!r) co_return r.error();
    if (r->front().is_error()) co_return make_error_code(core::errc::redis_unavailable);
    co_return core::result<void>{};
}

async_result<std::optional<std::string>> redis_auth_kv::async_unanswered_rotation(std::string_view jti,
                                                                                  core::deadline d)
{
    auto r = co_await conn_.async_exec(command("GET", prefix_ + "rot:" + std::string(jti)), d);
    if (!r) co_return core::result<std::optional<std::string>>(boost::system::in_place_error, r.error());
    co_return redis::as_optional_string(*r);
}

async_result<void> redis_auth_kv::async_put_mfa_challenge(std::string_view id, std::string_view value,
                                                          std::chrono::seconds ttl, core::deadline d)
{
    command keys;
    keys.arg(prefix_ + "mfa:" + std::string(id));
    command args;
    args.arg(value).arg(static_cast<std::int64_t>(std::max<std::int64_t>(ttl.count(), 1)));
    auto r = co_await conn_.async_eval(mfa_put_script, std::move(keys), std::move(args), d);
    if (!r) co_return r.error();
    if (r->is_error()) co_return make_error_code(core::errc::redis_unavailable);
    co_return core::result<void>{};
}

async_result<std::optional<std::string>> redis_auth_kv::async_mfa_attempt(std::string_view id, int max_attempts,
                                                                          core::deadline d)
{
    command keys;
    keys.arg(prefix_ + "mfa:" + std::string(id));
    command args;
    args.arg(static_cast<std::int64_t>(max_attempts));
    auto r = co_await conn_.async_eval(mfa_attempt_script, std::move(keys), std::move(args), d);
    if (!r) co_return core::result<std::optional<std::string>>(boost::system::in_place_error, r.error());
    co_return redis::as_optional_string(*r);
}

async_result<bool> redis_auth_kv::async_take_mfa_challenge(std::string_view id, core::deadline d)
{
    auto r = co_await conn_.async_exec(command("DEL", prefix_ + "mfa:" + std::string(id)), d);
    if (!r) co_return core::result<bool>(boost::system::in_place_error, r.error());
    auto n = redis::as_integer(*r);
    if (!n) co_return core::result<bool>(boost::system::in_place_error, n.error());
    co_return *n == 1;
}

async_result<void> redis_auth_kv::async_publish_invalidation(std::string_view event, core::deadline d)
{
    redis::pipeline p;
    p.push(command("XADD", prefix_ + "inval", "MAXLEN", "~", "100000", "*", "e", event));
    auto r = co_await conn_.async_exec_durable(std::move(p), d);
    if (!r) co_return r.error();
    if (r->front().is_error()) co_return make_error_code(core::errc::redis_unavailable);
    co_return core::result<void>{};
}

namespace {

command password_keys(const std::string& prefix, const password_guard& g)
{
    command keys;
    keys.arg(prefix + "rl:login:acct:" + g.account + ":" + g.network);
    keys.arg(prefix + "rl:login:ip:" + g.network);
    keys.arg(prefix + "rl:login:acct:" + g.account);
    keys.arg(prefix + "rl:login:wait:" + g.account);
    keys.arg(prefix + "rl:login:known:" + g.account + ":" + g.network);
    keys.arg(prefix + "rl:pwcheck:" + g.account);
    return keys;
}

}  // namespace

async_result<limit_decision> redis_auth_kv::async_password_attempt(const password_guard& g, core::deadline d)
{
    command args;
    args.arg(g.pair_max).arg(static_cast<std::int64_t>(g.pair_window.count()));
    args.arg(g.network_max).arg(static_cast<std::int64_t>(g.network_window.count()));
    args.arg(g.account_max).arg(g.account_free).arg(static_cast<std::int64_t>(g.account_max_wait.count()));
    args.arg(static_cast<std::int64_t>(g.account_window.count()));
    args.arg(g.checks_max).arg(static_cast<std::int64_t>(g.checks_window.count()));
    args.arg(g.network_limited ? "1" : "0");
    auto r = co_await conn_.async_eval(password_attempt_script, password_keys(prefix_, g), std::move(args), d);
    auto v = int_array(r);
    if (!v) co_return v.error();
    if (v->size() != 2) co_return make_error_code(core::errc::redis_unavailable);
    co_return limit_decision{(*v)[0] == 1, (*v)[1]};
}

async_result<void> redis_auth_kv::async_password_success(const password_guard& g, core::deadline d)
{
    command args;
    args.arg(g.network_limited ? "1" : "0").arg(static_cast<std::int64_t>(g.known_for.count()));
    auto r = co_await conn_.async_eval(password_success_script, password_keys(prefix_, g), std::move(args), d);
    if (!r) co_return r.error();
    if (r->is_error()) co_return make_error_code(core::errc::redis_unavailable);
    co_return core::result<void>{};
}

async_result<void> redis_auth_kv::async_password_reset(std::string_view account, core::deadline d)
{
    std::string a(account);
    auto r =
        co_await conn_.async_exec(command("DEL", prefix_ + "rl:login:acct:" + a, prefix_ + "rl:login:wait:" + a), d);
    if (!r) co_return r.error();
    if (r->is_error()) co_return make_error_code(core::errc::redis_unavailable);
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

std::uint64_t invalidation_reader::generation() const noexcept
{
    return conn_.stats().reconnects.load(std::memory_order_relaxed);
}

async_result<invalidation_batch> invalidation_reader::async_read(std::string_view last_id,
                                                                 std::chrono::milliseconds block, core::deadline d)
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
    invalidation_batch out;
    const reply& first = (*r)[0];
    if (first.is_array() && !first.elements.empty() && first.elements[0].is_array() &&
        !first.elements[0].elements.empty() && last_id != "0-0") {
        auto oldest = redis::as_string(first.elements[0].elements[0]);
        // Stream ids compare as (ms, seq). Once the entry last seen is gone (the oldest
        // is newer than it), entries after it may have gone too: the next id is not
        // knowable, so any such gap counts as trimmed and the caches are dropped.
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
