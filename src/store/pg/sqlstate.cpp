#include "store/pg/sqlstate.hpp"

namespace portcullis::store::pg {

core::errc map_sqlstate(std::string_view sqlstate, std::string_view constraint) noexcept
{
    using core::errc;
    if (sqlstate == "23505") {
        if (constraint == users_email_key) return errc::email_taken;
        if (constraint == users_username_key) return errc::username_taken;
        return errc::internal;
    }
    if (sqlstate == "57014") return errc::timeout;          // query_canceled
    if (sqlstate.size() != 5) return errc::db_unavailable;  // no SQLSTATE: a client-side connection failure
    auto cls = sqlstate.substr(0, 2);
    // 08 connection exception, 53 insufficient resources, 57P0x shutdown/cannot connect now,
    // 40 serialization failure / deadlock (transient), 25P03 idle-in-transaction timeout,
    // 58 system error (I/O): all transient infrastructure trouble.
    if (cls == "08" || cls == "53" || cls == "40" || cls == "58") return errc::db_unavailable;
    if (sqlstate.substr(0, 4) == "57P0" || sqlstate == "25P03") return errc::db_unavailable;
    // 25006 read_only_sql_transaction: this server is (now) a standby, e.g. an old primary
    // that came back after a failover. The connection is dropped; its successor goes to
    // the primary (target_session_attrs=read-write).
    if (sqlstate == "25006") return errc::db_unavailable;
    return errc::internal;
}

bool is_session_fatal(std::string_view sqlstate) noexcept
{
    return sqlstate.substr(0, 2) == "08" || sqlstate.substr(0, 4) == "57P0" || sqlstate == "25P03" ||
           sqlstate == "25006";
}

}  // namespace portcullis::store::pg
