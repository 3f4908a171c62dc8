#pragma once
// In-memory stand-ins for what the auth flows depend on, for fast unit tests of the
// flows' rules (expiry, lock-outs, rotation, reuse grace) under a clock the test
// moves. They follow the contracts of the interfaces they implement
// (store/pg/repositories.hpp, store/kv/auth_kv.hpp, jobs/enqueuer.hpp); the
// integration tests run the same flows against PostgreSQL and Redis.

#include "auth/service.hpp"
#include "jobs/enqueuer.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <chrono>
#include <exception>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace portcullis::auth::testing {

using time_point = std::chrono::system_clock::time_point;

class fake_clock final : public core::clock {
public:
    time_point now() const override { return t_; }
    void advance(std::chrono::seconds s) { t_ += s; }

private:
    time_point t_ = std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
};

// Users, sessions and refresh tokens, as the PostgreSQL repositories keep them.
class fake_db final : public store::user_repository,
                      public store::session_repository,
                      public store::refresh_token_repository {
public:
    explicit fake_db(const core::clock& c) : clock_(c) {}

    // The next rotation commits but its caller sees `lost_reply` (a reply lost on the wire).
    bool lose_next_rotation_reply = false;
    // Every call fails with db_unavailable while set.
    bool down = false;

    std::map<std::int64_t, store::user> users;
    std::map<std::string, store::session> sessions;
    // Each session's refresh counter, as the sessions table's columns keep it.
    struct refresh_columns {
        std::int64_t counter = 0;
        std::optional<time_point> refreshed_at;
        std::optional<std::string> legacy_jti;
    };
    std::map<std::string, refresh_columns> refresh;

    store::async_result<store::user> async_create_pending(const store::new_user& u, core::deadline d) override;
    store::async_result<std::optional<store::user>> async_find_by_id(std::int64_t id, core::deadline d) override;
    store::async_result<std::optional<store::user>> async_find_by_email(std::string_view email,
                                                                        core::deadline d) override;
    store::async_result<std::optional<store::user>> async_find_by_username(std::string_view username,
                                                                           core::deadline d) override;
    store::async_result<std::optional<store::user>> async_find_by_login(std::string_view identifier,
                                                                        core::deadline d) override;
    store::async_result<store::activation> async_activate(std::int64_t id, std::string_view password_hash,
                                                          core::deadline d) override;
    store::async_result<bool> async_set_password(std::int64_t id, std::string_view hash, core::deadline d) override;
    store::async_result<bool> async_rehash_password(std::int64_t id, std::string_view old_hash,
                                                    std::string_view new_hash, core::deadline d) override;
    store::async_result<bool> async_set_last_login(std::int64_t id, core::deadline d) override;
    store::async_result<std::optional<store::user>> async_update_profile(std::int64_t id,
                                                                         const store::profile_update& p,
                                                                         core::deadline d) override;
    store::async_result<bool> async_deactivate(std::int64_t id, core::deadline d) override;
    store::async_result<std::vector<store::user>> async_list_active(const store::user_list_query& q,
                                                                    core::deadline d) override;

    store::async_result<store::session> async_create(const store::new_session& s, core::deadline d) override;
    store::async_result<store::opened_session> async_open(const store::new_session& s, core::deadline d) override;
    store::async_result<std::optional<store::session>> async_find(std::string_view id, core::deadline d) override;
    store::async_result<bool> async_touch(std::string_view id, core::deadline d) override;
    store::async_result<bool> async_revoke(std::string_view id, std::int64_t user_id, std::string_view reason,
                                           core::deadline d) override;
    store::async_result<bool> async_revoke_by_id(std::string_view id, std::string_view reason,
                                                 core::deadline d) override;
    store::async_result<std::vector<std::string>> async_revoke_all(std::int64_t user_id,
                                                                   std::optional<std::string_view> except,
                                                                   std::string_view reason, core::deadline d) override;
    store::async_result<std::vector<store::session>> async_list_live(std::int64_t user_id, int limit,
                                                                     core::deadline d) override;

    store::async_result<std::optional<store::rotation>> async_rotate(const store::refresh_position& at,
                                                                     core::deadline d) override;
    store::async_result<std::optional<store::refresh_state>> async_inspect(std::string_view session_id,
                                                                           core::deadline d) override;
    store::async_result<std::optional<std::string>> async_end(std::string_view session_id, std::int64_t user_id,
                                                              std::string_view reason, core::deadline d) override;
    store::async_result<store::purge_report> async_purge(std::int64_t batch, core::deadline d) override;

    // Live sessions of a user.
    std::size_t live_sessions(std::int64_t user_id) const;

private:
    std::optional<store::user> find_email(std::string_view email) const;
    bool session_live(const std::string& id) const;

    const core::clock& clock_;
    std::int64_t next_user_ = 1;
};

// Multi-factor state as the PostgreSQL repository keeps it; `users` mirrors mfa_enabled
// into the fake_db's user rows.
class fake_mfa final : public store::mfa_repository {
public:
    explicit fake_mfa(fake_db& db) : db_(db) {}

    bool down = false;
    struct record {
        store::mfa_state state;
        std::map<std::string, bool> codes;  // digest -> used
    };
    std::map<std::int64_t, record> records;

    store::async_result<store::mfa_state> async_get(std::int64_t user_id, core::deadline d) override;
    store::async_result<bool> async_set_pending(std::int64_t user_id, std::string_view sealed,
                                                core::deadline d) override;
    store::async_result<bool> async_enable(std::int64_t user_id, std::string_view pending_sealed, std::int64_t step,
                                           const std::vector<std::string>& code_digests, core::deadline d) override;
    store::async_result<bool> async_use_step(std::int64_t user_id, std::int64_t step, core::deadline d) override;
    store::async_result<bool> async_use_recovery_code(std::int64_t user_id, std::string_view digest,
                                                      core::deadline d) override;
    store::async_result<bool> async_replace_recovery_codes(std::int64_t user_id,
                                                           const std::vector<std::string>& code_digests,
                                                           core::deadline d) override;
    store::async_result<bool> async_disable(std::int64_t user_id, core::deadline d) override;

private:
    void set_flag(std::int64_t user_id, bool on);
    fake_db& db_;
};

// The short-lived state of the flows as the Redis scripts keep it, expiring by the
// fake clock. Every call fails with redis_unavailable while `down` is set.
class fake_kv final : public store::kv::auth_kv {
public:
    explicit fake_kv(const core::clock& c) : clock_(c) {}

    bool down = false;
    std::vector<std::string> published;  // invalidation events, in order

    store::kv::async_result<void> async_put_otp(std::string_view purpose, std::string_view email,
                                                std::string_view digest, std::chrono::seconds ttl,
                                                core::deadline d) override;
    store::kv::async_result<void> async_drop_otp(std::string_view purpose, std::string_view email,
                                                 core::deadline d) override;
    store::kv::async_result<store::kv::otp_check> async_check_otp(std::string_view purpose, std::string_view email,
                                                                  std::string_view digest,
                                                                  const store::kv::otp_limits& limits,
                                                                  core::deadline d) override;
    store::kv::async_result<store::kv::limit_decision> async_password_attempt(const store::kv::password_guard& g,
                                                                              core::deadline d) override;
    store::kv::async_result<void> async_password_success(const store::kv::password_guard& g, core::deadline d) override;
    store::kv::async_result<void> async_password_reset(std::string_view account, core::deadline d) override;
    store::kv::async_result<store::kv::limit_decision> async_request(store::kv::request_kind kind,
                                                                     const store::kv::request_limits& l,
                                                                     core::deadline d) override;
    store::kv::async_result<std::int64_t> async_code_cooldown(std::string_view purpose, std::string_view email,
                                                              std::chrono::seconds period, core::deadline d) override;
    store::kv::async_result<bool> async_consume_reset_token(std::string_view jti, std::chrono::seconds ttl,
                                                            core::deadline d) override;
    store::kv::async_result<void> async_note_unanswered_rotation(std::string_view jti, std::string_view successor,
                                                                 std::chrono::seconds ttl, core::deadline d) override;
    store::kv::async_result<std::optional<std::string>> async_unanswered_rotation(std::string_view jti,
                                                                                  core::deadline d) override;
    store::kv::async_result<void> async_put_mfa_challenge(std::string_view id, std::string_view value,
                                                          std::chrono::seconds ttl, core::deadline d) override;
    store::kv::async_result<std::optional<std::string>> async_mfa_attempt(std::string_view id, int max_attempts,
                                                                          core::deadline d) override;
    store::kv::async_result<bool> async_take_mfa_challenge(std::string_view id, core::deadline d) override;
    store::kv::async_result<void> async_publish_invalidation(std::string_view event, core::deadline d) override;

private:
    struct value {
        std::string text;
        std::int64_t n = 0;
        time_point expires{};
    };
    // A live value, or null (an expired one is dropped).
    value* find(const std::string& key);
    // INCR with EXPIRE on creation.
    std::int64_t incr(const std::string& key, std::chrono::seconds window);
    // Seconds left of a live key (at least 1), 0 when absent.
    std::int64_t ttl(const std::string& key);
    // The count of `key` has reached `max`: the seconds left of its window, else 0.
    std::int64_t over(const std::string& key, std::int64_t max);

    const core::clock& clock_;
    std::map<std::string, value> values_;
};

// Records jobs instead of queueing them.
class fake_enqueuer final : public jobs::enqueuer {
public:
    struct job {
        std::string task;
        std::string args;
    };
    bool down = false;
    std::vector<job> jobs;

    boost::asio::awaitable<core::result<std::string>> async_enqueue(std::string_view task, std::string_view args_json,
                                                                    jobs::enqueue_options options,
                                                                    core::deadline d) override;
};

class recording_sink final : public invalidation_sink {
public:
    std::vector<std::string> events;
    void broadcast(const std::string& event) override { events.push_back(event); }
};

// Keeps the security events the flows report.
class recording_audit final : public audit_sink {
public:
    std::vector<security_event> events;
    void record(security_event e) noexcept override { events.push_back(std::move(e)); }
    // The types, in order.
    std::vector<std::string> types() const
    {
        std::vector<std::string> out;
        for (const auto& e : events) out.push_back(e.type);
        return out;
    }
};

// Runs `op` on `io` to completion (with everything it spawned) and returns its value.
template <class T>
T run(boost::asio::io_context& io, boost::asio::awaitable<T> op)
{
    std::optional<T> out;
    std::exception_ptr error;
    boost::asio::co_spawn(io, std::move(op), [&](std::exception_ptr e, T v) {
        error = e;
        if (!e) out.emplace(std::move(v));
    });
    io.restart();
    io.run();
    if (error) std::rethrow_exception(error);
    return std::move(*out);
}

}  // namespace portcullis::auth::testing
