#pragma once
// PostgreSQL implementations of the operators' repositories: accounts as operators see
// them, and the audit trail. Same rules as pg_repositories.hpp (one per-thread pool).

#include "store/pg/pool.hpp"
#include "store/pg/repositories.hpp"

namespace portcullis::store::pg {

class admin_users final : public admin_user_repository {
public:
    explicit admin_users(pool& p) noexcept : pool_(p) {}

    async_result<std::vector<user>> async_list(const admin_user_query& q, core::deadline d) override;
    async_result<std::optional<user>> async_get(std::int64_t id, core::deadline d) override;
    async_result<admin_change> async_update(std::int64_t id, const admin_user_update& u, core::deadline d) override;
    async_result<admin_change> async_set_disabled(std::int64_t id, bool disabled, core::deadline d) override;
    async_result<admin_change> async_delete(std::int64_t id, core::deadline d) override;
    async_result<admin_change> async_verify(std::int64_t id, core::deadline d) override;
    async_result<user> async_create_admin(const new_user& u, core::deadline d) override;

private:
    pool& pool_;
};

class audit_events final : public audit_repository {
public:
    explicit audit_events(pool& p) noexcept : pool_(p) {}

    async_result<void> async_append(const std::vector<audit_record>& events, core::deadline d) override;
    async_result<std::vector<audit_record>> async_list(const audit_query& q, core::deadline d) override;
    async_result<std::int64_t> async_purge(time_point before, std::int64_t batch, core::deadline d) override;

private:
    pool& pool_;
};

namespace detail {
// A PostgreSQL array literal of text elements ({"a","b\"c",NULL}), for unnest().
std::string text_array(const std::vector<std::optional<std::string>>& items);
}  // namespace detail

}  // namespace portcullis::store::pg
