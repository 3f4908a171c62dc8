#pragma once
// Schema migrations: the SQL files of src/store/migrations, embedded at build time
// (embed_migrations.py), applied in version order and recorded in schema_migrations.

#include "core/error.hpp"
#include "core/timeout.hpp"
#include "store/pg/settings.hpp"

#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <span>

namespace portcullis::store::pg {

class blocking_pool;

struct migration {
    std::int64_t version;
    const char* name;  // file name without .sql
    const char* sql;   // one or more statements
};

// The migrations compiled into this binary, ascending by version.
std::span<const migration> embedded_migrations() noexcept;

struct migrate_report {
    std::size_t applied = 0;   // migrations applied by this call
    std::int64_t version = 0;  // highest version recorded afterwards
};

// Applies every migration of `list` that schema_migrations does not record yet, each
// in its own transaction, while holding a session advisory lock: concurrent migrators
// (other processes) wait for it and then find nothing left to do. Uses a connection of
// its own (cfg.url), not a pool. Runs on the caller's executor; everything, the wait
// for the lock included, is bounded by `d` (a statement still running then is
// cancelled on the server). Errors: db_unavailable, timeout, internal (a migration
// failed and was rolled back; the log names its version and SQLSTATE).
boost::asio::awaitable<core::result<migrate_report>> async_migrate(blocking_pool& blocking, const settings& cfg,
                                                                   core::deadline d, std::span<const migration> list);

// Same, with embedded_migrations().
boost::asio::awaitable<core::result<migrate_report>> async_migrate(blocking_pool& blocking, const settings& cfg,
                                                                   core::deadline d);

}  // namespace portcullis::store::pg
