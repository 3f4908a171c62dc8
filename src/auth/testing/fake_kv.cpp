#include "auth/testing/fakes.hpp"

#include <algorithm>

namespace portcullis::auth::testing {

using core::errc;

// ---- short-lived state

fake_kv::value* fake_kv::find(const std::string& key)
{
    auto it = values_.find(key);
    if (it == values_.end()) return nullptr;
    if (it->second.expires != time_point{} && it->second.expires <= clock_.now()) {
        values_.erase(it);
        return nullptr;
    }
    return &it->second;
}

std::int64_t fake_kv::incr(const std::string& key, std::chrono::seconds window)
{
    if (value* v = find(key)) return ++v->n;
    values_[key] = value{{}, 1, clock_.now() + window};
    return 1;
}

std::int64_t fake_kv::ttl(const std::string& key)
{
    value* v = find(key);
    if (v == nullptr) return 0;
    auto left = std::chrono::duration_cast<std::chrono::seconds>(v->expires - clock_.now()).count();
    return std::max<std::int64_t>(left, 1);
}

std::int64_t fake_kv::over(const std::string& key, std::int64_t max)
{
    value* v = find(key);
    return v != nullptr && v->n >= max ? ttl(key) : 0;
}

store::kv::async_result<void> fake_kv::async_put_otp(std::string_view purpose, std::string_view email,
                                                     std::string_view digest, std::chrono::seconds ttl, core::deadline)
{
    if (down) co_return make_error_code(errc::redis_unavailable);
    values_["otp:" + std::string(purpose) + ":" + std::string(email)] =
        value{std::string(digest), 0, clock_.now() + ttl};
    co_return core::result<void>{};
}

store::kv::async_result<void> fake_kv::async_drop_otp(std::string_view purpose, std::string_view email, core::deadline)
{
    if (down) co_return make_error_code(errc::redis_unavailable);
    values_.erase("otp:" + std::string(purpose) + ":" + std::string(email));
    co_return core::result<void>{};
}

store::kv::async_result<store::kv::otp_check> fake_kv::async_check_otp(std::string_view purpose, std::string_view email,
                                                                       std::string_view digest,
                                                                       const store::kv::otp_limits& limits,
                                                                       core::deadline)
{
    using store::kv::otp_outcome;
    if (down) co_return make_error_code(errc::redis_unavailable);
    std::string failures = "otpfail:" + std::string(email);
    std::string network = "rl:otp:ip:" + limits.network;
    std::int64_t wait = over(failures, limits.max_failures_per_hour);
    if (!limits.network.empty()) wait = std::max(wait, over(network, limits.network_max_per_hour));
    if (wait > 0) co_return store::kv::otp_check{otp_outcome::locked, 0, wait};
    auto failed_check = [&] {
        if (!limits.network.empty()) incr(network, std::chrono::hours(1));
    };
    value* code = find("otp:" + std::string(purpose) + ":" + std::string(email));
    if (code == nullptr) {
        failed_check();
        co_return store::kv::otp_check{otp_outcome::missing, 0, 0};
    }
    if (code->n >= limits.max_attempts) {
        failed_check();
        co_return store::kv::otp_check{otp_outcome::exhausted, 0, 0};
    }
    if (code->text == digest) {
        int left = static_cast<int>(limits.max_attempts - code->n);
        values_.erase("otp:" + std::string(purpose) + ":" + std::string(email));
        co_return store::kv::otp_check{otp_outcome::accepted, left, 0};
    }
    auto attempts = ++code->n;
    incr(failures, std::chrono::hours(1));
    failed_check();
    co_return store::kv::otp_check{otp_outcome::wrong,
                                   static_cast<int>(std::max<std::int64_t>(limits.max_attempts - attempts, 0)), 0};
}

store::kv::async_result<store::kv::limit_decision> fake_kv::async_password_attempt(const store::kv::password_guard& g,
                                                                                   core::deadline)
{
    if (down) co_return make_error_code(errc::redis_unavailable);
    std::string pair = "pair:" + g.account + ":" + g.network;
    std::string net = "net:" + g.network;
    std::string acct = "acct:" + g.account;
    std::string wait_key = "wait:" + g.account;
    std::string known = "known:" + g.account + ":" + g.network;
    std::string checks = "checks:" + g.account;
    std::int64_t retry = over(pair, g.pair_max);
    if (g.network_limited) retry = std::max(retry, over(net, g.network_max));
    retry = std::max(retry, over(checks, g.checks_max));
    if (find(known) == nullptr) {
        retry = std::max(retry, over(acct, g.account_max));
        retry = std::max(retry, ttl(wait_key));
    }
    if (retry > 0) co_return store::kv::limit_decision{false, retry};
    incr(pair, g.pair_window);
    if (g.network_limited) incr(net, g.network_window);
    incr(checks, g.checks_window);
    auto failures = incr(acct, g.account_window);
    if (failures > g.account_free) {
        auto wait = std::min<std::int64_t>(std::int64_t{1} << std::min<std::int64_t>(failures - g.account_free, 20),
                                           g.account_max_wait.count());
        values_[wait_key] = value{"1", 1, clock_.now() + std::chrono::seconds(std::max<std::int64_t>(wait, 1))};
    }
    co_return store::kv::limit_decision{true, 0};
}

store::kv::async_result<void> fake_kv::async_password_success(const store::kv::password_guard& g, core::deadline)
{
    if (down) co_return make_error_code(errc::redis_unavailable);
    auto refund = [this](const std::string& key) {
        if (value* v = find(key); v != nullptr && v->n > 0) --v->n;
    };
    refund("pair:" + g.account + ":" + g.network);
    if (g.network_limited) refund("net:" + g.network);
    values_.erase("acct:" + g.account);
    values_.erase("wait:" + g.account);
    values_["known:" + g.account + ":" + g.network] = value{"1", 1, clock_.now() + g.known_for};
    co_return core::result<void>{};
}

store::kv::async_result<void> fake_kv::async_password_reset(std::string_view account, core::deadline)
{
    if (down) co_return make_error_code(errc::redis_unavailable);
    values_.erase("acct:" + std::string(account));
    values_.erase("wait:" + std::string(account));
    co_return core::result<void>{};
}

store::kv::async_result<store::kv::limit_decision> fake_kv::async_request(store::kv::request_kind kind,
                                                                          const store::kv::request_limits& l,
                                                                          core::deadline)
{
    if (down) co_return make_error_code(errc::redis_unavailable);
    std::string base = "rl:" + std::to_string(static_cast<int>(kind));
    std::vector<std::pair<std::string, std::int64_t>> limits;
    if (!l.network.empty()) limits.emplace_back(base + ":ip:" + l.network, l.network_max);
    if (!l.address.empty()) limits.emplace_back(base + ":addr:" + l.address, l.address_max);
    std::int64_t retry = 0;
    for (const auto& [key, max] : limits) retry = std::max(retry, over(key, max));
    if (retry > 0) co_return store::kv::limit_decision{false, retry};
    for (const auto& [key, max] : limits) incr(key, l.window);
    co_return store::kv::limit_decision{true, 0};
}

store::kv::async_result<std::int64_t> fake_kv::async_code_cooldown(std::string_view purpose, std::string_view email,
                                                                   std::chrono::seconds period, core::deadline)
{
    if (down) co_return make_error_code(errc::redis_unavailable);
    if (period.count() <= 0) co_return std::int64_t{0};
    std::string key = "cooldown:" + std::string(purpose) + ":" + std::string(email);
    if (find(key) != nullptr) co_return ttl(key);
    values_[key] = value{"1", 1, clock_.now() + period};
    co_return std::int64_t{0};
}

store::kv::async_result<bool> fake_kv::async_consume_reset_token(std::string_view jti, std::chrono::seconds ttl,
                                                                 core::deadline)
{
    if (down) co_return core::result<bool>(boost::system::in_place_error, make_error_code(errc::redis_unavailable));
    std::string key = "reset:" + std::string(jti);
    if (find(key) != nullptr) co_return false;
    values_[key] = value{"1", 1, clock_.now() + ttl};
    co_return true;
}

store::kv::async_result<void> fake_kv::async_put_mfa_challenge(std::string_view id, std::string_view v,
                                                               std::chrono::seconds ttl, core::deadline)
{
    if (down) co_return make_error_code(errc::redis_unavailable);
    values_["mfa:" + std::string(id)] = value{std::string(v), 0, clock_.now() + ttl};
    co_return core::result<void>{};
}

store::kv::async_result<std::optional<std::string>> fake_kv::async_mfa_attempt(std::string_view id, int max_attempts,
                                                                               core::deadline)
{
    using out = core::result<std::optional<std::string>>;
    if (down) co_return out(boost::system::in_place_error, make_error_code(errc::redis_unavailable));
    std::string key = "mfa:" + std::string(id);
    value* v = find(key);
    if (v == nullptr) co_return std::optional<std::string>{};
    if (++v->n > max_attempts) {
        values_.erase(key);
        co_return std::optional<std::string>{};
    }
    co_return std::optional<std::string>(v->text);
}

store::kv::async_result<bool> fake_kv::async_take_mfa_challenge(std::string_view id, core::deadline)
{
    if (down) co_return core::result<bool>(boost::system::in_place_error, make_error_code(errc::redis_unavailable));
    std::string key = "mfa:" + std::string(id);
    if (find(key) == nullptr) co_return false;
    values_.erase(key);
    co_return true;
}

store::kv::async_result<void> fake_kv::async_note_unanswered_rotation(std::string_view jti, std::string_view successor,
                                                                      std::chrono::seconds ttl, core::deadline)
{
    if (down) co_return make_error_code(errc::redis_unavailable);
    values_["rot:" + std::string(jti)] = value{std::string(successor), 0, clock_.now() + ttl};
    co_return core::result<void>{};
}

store::kv::async_result<std::optional<std::string>> fake_kv::async_unanswered_rotation(std::string_view jti,
                                                                                       core::deadline)
{
    using out_t = std::optional<std::string>;
    if (down) co_return core::result<out_t>(boost::system::in_place_error, make_error_code(errc::redis_unavailable));
    value* v = find("rot:" + std::string(jti));
    if (v == nullptr) co_return out_t{};
    co_return out_t(v->text);
}

store::kv::async_result<void> fake_kv::async_publish_invalidation(std::string_view event, core::deadline)
{
    if (down) co_return make_error_code(errc::redis_unavailable);
    published.emplace_back(event);
    co_return core::result<void>{};
}

boost::asio::awaitable<core::result<std::string>> fake_enqueuer::async_enqueue(std::string_view task,
                                                                               std::string_view args_json,
                                                                               jobs::enqueue_options, core::deadline)
{
    if (down) co_return make_error_code(errc::redis_unavailable);
    jobs.push_back(job{std::string(task), std::string(args_json)});
    co_return std::to_string(jobs.size());
}

}  // namespace portcullis::auth::testing
