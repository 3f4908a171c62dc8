#pragma once
// PostgreSQL implementations of the repository interfaces, over one per-thread pool.
// Construct them next to the pool they use (same thread); they hold a reference to it.

#include "store/pg/pool.hpp"
#include "store/pg/repositories.hpp"

namespace portcullis::store::pg {

class users final : public user_repository {
public:
    explicit users(pool& p) noexcept : pool_(p) {}

    async_result<user> async_create_pending(const new_user& u, core::deadline d) override;
    async_result<std::optional<user>> async_find_by_id(std::int64_t id, core::deadline d) override;
    async_result<std::optional<user>> async_find_by_email(std::string_view email, core::deadline d) override;
    async_result<std::optional<user>> async_find_by_username(std::string_view username, core::deadline d) override;
    async_result<std::optional<user>> async_find_by_login(std::string_view identifier, core::deadline d) override;
    async_result<activation> async_activate(std::int64_t id, std::string_view password_hash, core::deadline d) override;
    async_result<bool> async_set_password(std::int64_t id, std::string_view hash, core::deadline d) override;
    async_result<bool> async_rehash_password(std::int64_t id, std::string_view old_hash, std::string_view new_hash,
                                             core::deadline d) override;
    async_result<bool> async_set_last_login(std::int64_t id, core::deadline d) override;
    async_result<std::optional<user>> async_update_profile(std::int64_t id, const profile_update& p,
                                                           core::deadline d) override;
    async_result<bool> async_deactivate(std::int64_t id, core::deadline d) override;
    async_result<std::vector<user>> async_list_active(const user_list_query& q, core::deadline d) override;

private:
    async_result<std::optional<user>> async_find_one(const statement& stmt, const params& args, core::deadline d);
    pool& pool_;
};

class sessions final : public session_repository {
public:
    explicit sessions(pool& p) noexcept : pool_(p) {}

    async_result<session> async_create(const new_session& s, core::deadline d) override;
    async_result<opened_session> async_open(const new_session& s, core::deadline d) override;
    async_result<std::optional<session>> async_find(std::string_view id, core::deadline d) override;
    async_result<bool> async_touch(std::string_view id, core::deadline d) override;
    async_result<bool> async_revoke(std::string_view id, std::int64_t user_id, std::string_view reason,
                                    core::deadline d) override;
    async_result<bool> async_revoke_by_id(std::string_view id, std::string_view reason, core::deadline d) override;
    async_result<std::vector<std::string>> async_revoke_all(std::int64_t user_id,
                                                            std::optional<std::string_view> except,
                                                            std::string_view reason, core::deadline d) override;
    async_result<std::vector<session>> async_list_live(std::int64_t user_id, int limit, core::deadline d) override;

private:
    pool& pool_;
};

class refresh_tokens final : public refresh_token_repository {
public:
    explicit refresh_tokens(pool& p) noexcept : pool_(p) {}

    async_result<std::optional<rotation>> async_rotate(const refresh_position& at, core::deadline d) override;
    async_result<std::optional<refresh_state>> async_inspect(std::string_view session_id, core::deadline d) override;
    async_result<std::optional<std::string>> async_end(std::string_view session_id, std::int64_t user_id,
                                                       std::string_view reason, core::deadline d) override;
    async_result<purge_report> async_purge(std::int64_t batch, core::deadline d) override;

private:
    pool& pool_;
};

class mfa final : public mfa_repository {
public:
    explicit mfa(pool& p) noexcept : pool_(p) {}

    async_result<mfa_state> async_get(std::int64_t user_id, core::deadline d) override;
    async_result<bool> async_set_pending(std::int64_t user_id, std::string_view sealed, core::deadline d) override;
    async_result<bool> async_enable(std::int64_t user_id, std::string_view pending_sealed, std::int64_t step,
                                    const std::vector<std::string>& code_digests, core::deadline d) override;
    async_result<bool> async_use_step(std::int64_t user_id, std::int64_t step, core::deadline d) override;
    async_result<bool> async_use_recovery_code(std::int64_t user_id, std::string_view digest,
                                               core::deadline d) override;
    async_result<bool> async_replace_recovery_codes(std::int64_t user_id, const std::vector<std::string>& code_digests,
                                                    core::deadline d) override;
    async_result<bool> async_disable(std::int64_t user_id, core::deadline d) override;

private:
    pool& pool_;
};

namespace detail {
// Row mappers; the column lists are the *_columns macros of their .cpp files, in order.
user read_user(const row& r, int first = 0);
session read_session(const row& r, int first = 0);
}  // namespace detail

}  // namespace portcullis::store::pg
