#include "store/pg/pg_admin.hpp"

#include "core/text.hpp"
#include "store/pg/pg_repositories.hpp"

#include <algorithm>

namespace portcullis::store::pg {

using core::errc;

#define PORTCULLIS_ADMIN_USER_COLUMNS                                                                          \
    "id, email, username, password_hash, full_name, phone_number, is_active, email_verified_at, date_joined, " \
    "last_login, password_changed_at, updated_at, mfa_enabled, role, disabled_at"
#define PORTCULLIS_AUDIT_COLUMNS "id, at, type, user_id, actor_id, session_id, ip, user_agent, request_id, reason"

// The enabled admins are locked (FOR UPDATE) before they are counted: of two operators
// removing the last two admins at once, the second waits, counts again, and is refused.
#define PORTCULLIS_OTHER_ADMINS                                                                  \
    "locked AS (SELECT id FROM users WHERE role = 'admin' AND is_active AND disabled_at IS NULL" \
    "  FOR UPDATE), others AS (SELECT count(*) AS n FROM locked WHERE id <> $1)"
#define PORTCULLIS_ENABLED_ADMIN "(cur.role = 'admin' AND cur.is_active AND cur.disabled_at IS NULL)"
#define PORTCULLIS_CHANGE_STATUS                                               \
    " SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM cur) THEN 'not_found'"        \
    "  WHEN EXISTS (SELECT 1 FROM upd) THEN 'done'"                            \
    "  WHEN EXISTS (SELECT 1 FROM cur, others WHERE " PORTCULLIS_ENABLED_ADMIN \
    " AND others.n = 0)"                                                       \
    "  THEN 'last_admin' ELSE 'unchanged' END"

namespace {

// Status: 0 any, 1 active, 2 pending, 3 disabled, 4 deleted (store::user_status).
const statement admin_list{
    "admin_users_list",
    "SELECT " PORTCULLIS_ADMIN_USER_COLUMNS
    " FROM users WHERE id > $1"
    " AND ($3::text IS NULL OR lower(email) LIKE $3 ESCAPE '\\' OR lower(username) LIKE $3 ESCAPE '\\')"
    " AND CASE $4::int WHEN 1 THEN is_active AND email_verified_at IS NOT NULL AND disabled_at IS NULL"
    "  WHEN 2 THEN email_verified_at IS NULL"
    "  WHEN 3 THEN is_active AND disabled_at IS NOT NULL"
    "  WHEN 4 THEN NOT is_active AND email_verified_at IS NOT NULL"
    "  ELSE true END"
    " ORDER BY id LIMIT $2"};
const statement admin_get{"admin_users_get", "SELECT " PORTCULLIS_ADMIN_USER_COLUMNS " FROM users WHERE id = $1"};
const statement admin_update{
    "admin_users_update",
    "WITH cur AS (SELECT id, role, is_active, disabled_at FROM users WHERE id = $1), " PORTCULLIS_OTHER_ADMINS
    ", upd AS ("
    "  UPDATE users u SET full_name = coalesce($2, u.full_name), phone_number = coalesce($3, u.phone_number),"
    "   username = coalesce($4, u.username), role = coalesce($5, u.role), updated_at = now()"
    "  FROM cur, others WHERE u.id = cur.id"
    "   AND NOT (" PORTCULLIS_ENABLED_ADMIN
    " AND coalesce($5, cur.role) <> 'admin' AND others.n = 0)"
    "  RETURNING u.id)" PORTCULLIS_CHANGE_STATUS};
const statement admin_set_disabled{
    "admin_users_set_disabled",
    "WITH cur AS (SELECT id, role, is_active, disabled_at FROM users WHERE id = $1), " PORTCULLIS_OTHER_ADMINS
    ", upd AS ("
    "  UPDATE users u SET disabled_at = CASE WHEN $2 THEN now() END, updated_at = now()"
    "  FROM cur, others WHERE u.id = cur.id AND (cur.disabled_at IS NULL) = $2"
    "   AND NOT ($2 AND " PORTCULLIS_ENABLED_ADMIN
    " AND others.n = 0)"
    "  RETURNING u.id)" PORTCULLIS_CHANGE_STATUS};
const statement admin_delete{
    "admin_users_delete",
    "WITH cur AS (SELECT id, role, is_active, disabled_at FROM users WHERE id = $1), " PORTCULLIS_OTHER_ADMINS
    ", upd AS ("
    "  UPDATE users u SET is_active = false, updated_at = now()"
    "  FROM cur, others WHERE u.id = cur.id AND cur.is_active"
    "   AND NOT (" PORTCULLIS_ENABLED_ADMIN
    " AND others.n = 0)"
    "  RETURNING u.id)" PORTCULLIS_CHANGE_STATUS};
// A pending registration becomes active; a deleted account (verified, inactive) stays deleted.
const statement admin_verify{"admin_users_verify",
                             "WITH cur AS (SELECT id FROM users WHERE id = $1), upd AS ("
                             "  UPDATE users SET email_verified_at = now(), is_active = true, updated_at = now()"
                             "  WHERE id = $1 AND email_verified_at IS NULL RETURNING id"
                             ") SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM cur) THEN 'not_found'"
                             "  WHEN EXISTS (SELECT 1 FROM upd) THEN 'done' ELSE 'unchanged' END"};
const statement admin_create{"admin_users_create",
                             "INSERT INTO users (email, username, password_hash, full_name, phone_number, is_active,"
                             " email_verified_at, role) VALUES ($1, $2, $3, $4, $5, true, now(), 'admin')"
                             " RETURNING " PORTCULLIS_ADMIN_USER_COLUMNS};

const statement audit_append{
    "audit_append",
    "INSERT INTO audit_events (at, type, user_id, actor_id, session_id, ip, user_agent, request_id, reason)"
    " SELECT a, t, u, ac, nullif(s, ''), nullif(i, ''), nullif(ua, ''), nullif(r, ''), nullif(re, '')"
    " FROM unnest($1::timestamptz[], $2::text[], $3::bigint[], $4::bigint[], $5::text[], $6::text[], $7::text[],"
    "  $8::text[], $9::text[]) AS x(a, t, u, ac, s, i, ua, r, re)"};
const statement audit_list{"audit_list",
                           "SELECT " PORTCULLIS_AUDIT_COLUMNS
                           " FROM audit_events"
                           " WHERE ($1::bigint IS NULL OR user_id = $1)"
                           " AND ($2::text IS NULL OR type = $2) AND ($3::text IS NULL OR type LIKE $3 ESCAPE '\\')"
                           " AND ($4::timestamptz IS NULL OR at >= $4) AND ($5::timestamptz IS NULL OR at < $5)"
                           " AND ($6::bigint IS NULL OR id < $6)"
                           " ORDER BY id DESC LIMIT $7"};
const statement audit_purge{"audit_purge",
                            "DELETE FROM audit_events WHERE id IN"
                            " (SELECT id FROM audit_events WHERE at < $1 ORDER BY id LIMIT $2)"};

admin_change change_of(std::string_view s)
{
    if (s == "done") return admin_change::done;
    if (s == "not_found") return admin_change::not_found;
    if (s == "last_admin") return admin_change::last_admin;
    return admin_change::unchanged;
}

async_result<admin_change> async_change(pool& p, const statement& stmt, const params& args, core::deadline d)
{
    auto r = co_await p.async_query(stmt, args, d);
    if (!r) co_return r.error();
    if (r->empty()) co_return admin_change::not_found;
    co_return change_of(r->front().text(0));
}

std::optional<std::string> text_or_null(const std::optional<std::int64_t>& v)
{
    if (!v) return std::nullopt;
    return std::to_string(*v);
}

}  // namespace

namespace detail {

std::string text_array(const std::vector<std::optional<std::string>>& items)
{
    std::string out = "{";
    for (std::size_t i = 0; i < items.size(); ++i) {
        if (i > 0) out += ',';
        if (!items[i]) {
            out += "NULL";
            continue;
        }
        out += '"';
        for (char ch : *items[i]) {
            if (ch == '"' || ch == '\\') out += '\\';
            out += ch;
        }
        out += '"';
    }
    out += '}';
    return out;
}

}  // namespace detail

// --- accounts ---

async_result<std::vector<user>> admin_users::async_list(const admin_user_query& q, core::deadline d)
{
    const int limit = std::clamp(q.limit, 1, 1000);
    std::optional<std::string> pattern;
    if (!q.prefix.empty()) pattern = escape_like(core::ascii_lower(q.prefix)) + "%";
    const params args(q.after_id, limit, pattern, static_cast<int>(q.status));
    auto r = co_await pool_.async_query(admin_list, args, d);
    if (!r) co_return r.error();
    std::vector<user> out;
    out.reserve(static_cast<std::size_t>(r->size()));
    for (int i = 0; i < r->size(); ++i) out.push_back(detail::read_user((*r)[i]));
    co_return out;
}

async_result<std::optional<user>> admin_users::async_get(std::int64_t id, core::deadline d)
{
    const params args(id);
    auto r = co_await pool_.async_query(admin_get, args, d);
    if (!r) co_return r.error();
    if (r->empty()) co_return std::optional<user>{};
    co_return std::optional<user>(detail::read_user(r->front()));
}

async_result<admin_change> admin_users::async_update(std::int64_t id, const admin_user_update& u, core::deadline d)
{
    const params args(id, u.full_name, u.phone_number, u.username, u.role);
    co_return co_await async_change(pool_, admin_update, args, d);
}

async_result<admin_change> admin_users::async_set_disabled(std::int64_t id, bool disabled, core::deadline d)
{
    const params args(id, disabled);
    co_return co_await async_change(pool_, admin_set_disabled, args, d);
}

async_result<admin_change> admin_users::async_delete(std::int64_t id, core::deadline d)
{
    const params args(id);
    co_return co_await async_change(pool_, admin_delete, args, d);
}

async_result<admin_change> admin_users::async_verify(std::int64_t id, core::deadline d)
{
    const params args(id);
    co_return co_await async_change(pool_, admin_verify, args, d);
}

async_result<user> admin_users::async_create_admin(const new_user& u, core::deadline d)
{
    const params args(u.email, u.username, u.password_hash, u.full_name, u.phone_number);
    auto r = co_await pool_.async_query(admin_create, args, d);
    if (!r) co_return r.error();
    co_return detail::read_user(r->front());
}

// --- audit trail ---

async_result<void> audit_events::async_append(const std::vector<audit_record>& events, core::deadline d)
{
    if (events.empty()) co_return core::result<void>{};
    std::vector<std::optional<std::string>> at, type, user_id, actor_id, session, ip, agent, request, reason;
    for (const auto& e : events) {
        at.emplace_back(format_timestamp(e.at));
        type.emplace_back(e.type);
        user_id.push_back(text_or_null(e.user_id));
        actor_id.push_back(text_or_null(e.actor_id));
        session.emplace_back(e.session_id);
        ip.emplace_back(e.ip);
        agent.emplace_back(e.user_agent);
        request.emplace_back(e.request_id);
        reason.emplace_back(e.reason);
    }
    const params args(detail::text_array(at), detail::text_array(type), detail::text_array(user_id),
                      detail::text_array(actor_id), detail::text_array(session), detail::text_array(ip),
                      detail::text_array(agent), detail::text_array(request), detail::text_array(reason));
    auto r = co_await pool_.async_query(audit_append, args, d);
    if (!r) co_return r.error();
    co_return core::result<void>{};
}

async_result<std::vector<audit_record>> audit_events::async_list(const audit_query& q, core::deadline d)
{
    const int limit = std::clamp(q.limit, 1, 1000);
    std::optional<std::string> exact;
    std::optional<std::string> family;
    if (q.type.size() > 2 && q.type.ends_with(".*")) {
        family = escape_like(q.type.substr(0, q.type.size() - 1)) + "%";
    } else if (!q.type.empty()) {
        exact = q.type;
    }
    const params args(q.user_id, exact, family, q.since, q.until, q.before_id, limit);
    auto r = co_await pool_.async_query(audit_list, args, d);
    if (!r) co_return r.error();
    std::vector<audit_record> out;
    out.reserve(static_cast<std::size_t>(r->size()));
    for (int i = 0; i < r->size(); ++i) {
        const row x = (*r)[i];
        audit_record e;
        e.id = x.get<std::int64_t>(0);
        e.at = x.get<time_point>(1);
        e.type = x.get<std::string>(2);
        e.user_id = x.get<std::optional<std::int64_t>>(3);
        e.actor_id = x.get<std::optional<std::int64_t>>(4);
        e.session_id = x.get<std::optional<std::string>>(5).value_or("");
        e.ip = x.get<std::optional<std::string>>(6).value_or("");
        e.user_agent = x.get<std::optional<std::string>>(7).value_or("");
        e.request_id = x.get<std::optional<std::string>>(8).value_or("");
        e.reason = x.get<std::optional<std::string>>(9).value_or("");
        out.push_back(std::move(e));
    }
    co_return out;
}

async_result<std::int64_t> audit_events::async_purge(time_point before, std::int64_t batch, core::deadline d)
{
    const params args(before, std::max<std::int64_t>(batch, 1));
    auto r = co_await pool_.async_query(audit_purge, args, d);
    if (!r) co_return r.error();
    co_return r->affected();
}

}  // namespace portcullis::store::pg
