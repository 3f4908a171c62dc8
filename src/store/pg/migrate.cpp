#include "store/pg/migrate.hpp"

#include "core/log.hpp"
#include "store/pg/blocking_pool.hpp"
#include "store/pg/connection.hpp"

#include <algorithm>
#include <set>

namespace portcullis::store::pg {

namespace asio = boost::asio;
using core::errc;

namespace {

// Any constant shared by every Portcullis migrator ("portcull" in ASCII).
constexpr std::int64_t migrate_lock_key = 0x706f727463756c6c;

const statement lock_stmt{nullptr, "SELECT pg_advisory_lock($1::bigint)"};
const statement unlock_stmt{nullptr, "SELECT pg_advisory_unlock($1::bigint)"};
const statement create_table_stmt{nullptr,
                                  "CREATE TABLE IF NOT EXISTS schema_migrations ("
                                  " version bigint PRIMARY KEY,"
                                  " name text NOT NULL,"
                                  " applied_at timestamptz NOT NULL DEFAULT now())"};
const statement versions_stmt{nullptr, "SELECT version FROM schema_migrations"};
const statement record_stmt{nullptr, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)"};
const statement begin_stmt{nullptr, "BEGIN"};
const statement commit_stmt{nullptr, "COMMIT"};
const statement rollback_stmt{nullptr, "ROLLBACK"};

// One statement within what is left of `d`; cancelled on the server if it overruns.
asio::awaitable<core::result<rowset>> async_step(connection& c, blocking_pool& blocking, const statement& s,
                                                 const params& args, core::deadline d)
{
    auto op = c.async_exec(s, args);
    auto r = co_await core::async_with_timeout(std::move(op), core::remaining(d));
    if (!r && c.busy()) co_await c.async_cancel(blocking);
    co_return r;
}

asio::awaitable<core::result<void>> async_script_step(connection& c, blocking_pool& blocking, const char* sql,
                                                      core::deadline d)
{
    auto op = c.async_script(sql);
    auto r = co_await core::async_with_timeout(std::move(op), core::remaining(d));
    if (!r && c.busy()) co_await c.async_cancel(blocking);
    co_return r;
}

asio::awaitable<core::result<void>> async_apply(connection& c, blocking_pool& blocking, const migration& m,
                                                core::deadline d)
{
    const params none;
    auto b = co_await async_step(c, blocking, begin_stmt, none, d);
    if (!b) co_return b.error();
    auto s = co_await async_script_step(c, blocking, m.sql, d);
    if (s) {
        const params rec(m.version, m.name);
        auto r = co_await async_step(c, blocking, record_stmt, rec, d);
        if (r) {
            auto cm = co_await async_step(c, blocking, commit_stmt, none, d);
            if (cm) co_return core::result<void>{};
            co_return cm.error();
        }
        co_return r.error();
    }
    core::log::error("migration_failed", {{"version", m.version}, {"name", m.name}});
    if (!c.busy() && !c.broken()) {
        co_await async_step(c, blocking, rollback_stmt, none, d);
    }
    co_return s.error();
}

}  // namespace

asio::awaitable<core::result<migrate_report>> async_migrate(blocking_pool& blocking, const settings& cfg,
                                                            core::deadline d, std::span<const migration> list)
{
    connect_options opts;
    opts.url = cfg.url;
    opts.application_name = cfg.application_name + " migrate";
    opts.statement_timeout = std::chrono::milliseconds{0};  // waiting for the lock may take long; d bounds it
    auto connect = connection::async_connect(blocking, std::move(opts));
    auto conn = co_await core::async_with_timeout(std::move(connect), core::remaining(d));
    if (!conn) co_return conn.error();
    connection& c = **conn;

    const params key(migrate_lock_key);
    auto locked = co_await async_step(c, blocking, lock_stmt, key, d);
    if (!locked) co_return locked.error();

    const params none;
    auto created = co_await async_step(c, blocking, create_table_stmt, none, d);
    if (!created) co_return created.error();
    auto rows = co_await async_step(c, blocking, versions_stmt, none, d);
    if (!rows) co_return rows.error();
    std::set<std::int64_t> done;
    for (int i = 0; i < rows->size(); ++i) done.insert((*rows)[i].get<std::int64_t>(0));

    migrate_report report;
    std::vector<const migration*> todo;
    for (const auto& m : list) {
        if (!done.contains(m.version)) todo.push_back(&m);
    }
    std::sort(todo.begin(), todo.end(), [](const migration* a, const migration* b) { return a->version < b->version; });
    for (const migration* m : todo) {
        auto r = co_await async_apply(c, blocking, *m, d);
        if (!r) co_return r.error();
        ++report.applied;
        done.insert(m->version);
        core::log::info("migration_applied", {{"version", m->version}, {"name", m->name}});
    }
    report.version = done.empty() ? 0 : *done.rbegin();
    // Closing the connection would release the lock too; unlocking is just tidier.
    co_await async_step(c, blocking, unlock_stmt, key, d);
    co_return report;
}

asio::awaitable<core::result<migrate_report>> async_migrate(blocking_pool& blocking, const settings& cfg,
                                                            core::deadline d)
{
    co_return co_await async_migrate(blocking, cfg, d, embedded_migrations());
}

}  // namespace portcullis::store::pg
