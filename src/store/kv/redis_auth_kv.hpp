#pragma once
// The auth flows' short-lived state on Redis, and the reading side of the cache
// invalidation stream. Key names, all under the configured prefix:
//   otp:<purpose>:<email>                 hash {d: digest of the code, a: wrong attempts}, with the code's TTL
//   otpfail:<email>                       wrong codes of the address this hour
//   rl:otp:ip:<network>                   failed code checks of the network this hour
//   rl:<register|resend|forgot>:ip:<network>, rl:<…>:addr:<digest>   mail-sending requests per hour
//   cooldown:<purpose>:<email>            resend cooldown
//   rl:login:{acct,ip,wait,known}:…, rl:pwcheck:<account>   password-check limits (see password_guard)
//   reset:<jti>                           a reset token already used
//   rot:<jti>                             the successor of a rotation whose reply was lost
//   mfa:<id>                              hash {v: value, a: attempts} of a pending second login step
//   inval                                 stream of cache invalidation events

#include "store/kv/auth_kv.hpp"
#include "store/kv/invalidation_stream.hpp"

namespace portcullis::store::redis {
class connection;
}

namespace portcullis::store::kv {

class redis_auth_kv final : public auth_kv {
public:
    // `conn` is the calling thread's Redis connection and must outlive this object.
    redis_auth_kv(redis::connection& conn, std::string prefix);

    async_result<void> async_put_otp(std::string_view purpose, std::string_view email, std::string_view digest,
                                     std::chrono::seconds ttl, core::deadline d) override;
    async_result<void> async_drop_otp(std::string_view purpose, std::string_view email, core::deadline d) override;
    async_result<otp_check> async_check_otp(std::string_view purpose, std::string_view email, std::string_view digest,
                                            const otp_limits& limits, core::deadline d) override;
    async_result<limit_decision> async_password_attempt(const password_guard& g, core::deadline d) override;
    async_result<void> async_password_success(const password_guard& g, core::deadline d) override;
    async_result<void> async_password_reset(std::string_view account, core::deadline d) override;
    async_result<limit_decision> async_request(request_kind kind, const request_limits& l, core::deadline d) override;
    async_result<std::int64_t> async_code_cooldown(std::string_view purpose, std::string_view email,
                                                   std::chrono::seconds period, core::deadline d) override;
    async_result<bool> async_consume_reset_token(std::string_view jti, std::chrono::seconds ttl,
                                                 core::deadline d) override;
    async_result<void> async_note_unanswered_rotation(std::string_view jti, std::string_view successor,
                                                      std::chrono::seconds ttl, core::deadline d) override;
    async_result<std::optional<std::string>> async_unanswered_rotation(std::string_view jti, core::deadline d) override;
    async_result<void> async_put_mfa_challenge(std::string_view id, std::string_view value, std::chrono::seconds ttl,
                                               core::deadline d) override;
    async_result<std::optional<std::string>> async_mfa_attempt(std::string_view id, int max_attempts,
                                                               core::deadline d) override;
    async_result<bool> async_take_mfa_challenge(std::string_view id, core::deadline d) override;
    // XADD, the stream capped at about 100,000 entries.
    async_result<void> async_publish_invalidation(std::string_view event, core::deadline d) override;

    const std::string& prefix() const noexcept { return prefix_; }

private:
    redis::connection& conn_;
    std::string prefix_;
};

// Reading side of the invalidation stream, on a dedicated (blocking) connection.
class invalidation_reader final : public invalidation_stream {
public:
    invalidation_reader(redis::connection& blocking_conn, std::string prefix);

    async_result<std::string> async_tail(core::deadline d) override;
    async_result<invalidation_batch> async_read(std::string_view last_id, std::chrono::milliseconds block,
                                                core::deadline d) override;
    // The connection's reconnect count.
    std::uint64_t generation() const noexcept override;

private:
    redis::connection& conn_;
    std::string key_;
};

}  // namespace portcullis::store::kv
