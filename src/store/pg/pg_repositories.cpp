#include "store/pg/pg_repositories.hpp"

#include <algorithm>

namespace portcullis::store::pg {

namespace asio = boost::asio;
using core::errc;

// Column lists, spliced into the SQL constants at compile time (never at run time).
#define PORTCULLIS_USER_COLUMNS                                                                                \
    "id, email, username, password_hash, full_name, phone_number, is_active, email_verified_at, date_joined, " \
    "last_login, password_changed_at, updated_at, mfa_enabled, role, disabled_at"
#define PORTCULLIS_SESSION_COLUMNS \
    "id, user_id, created_at, last_used_at, expires_at, revoked_at, revoke_reason, user_agent, ip"

namespace {

// --- users ---
const statement user_create_pending{
    "users_create_pending",
    "INSERT INTO users (email, username, password_hash, full_name, phone_number)"
    " VALUES ($1, $2, $3, $4, $5)"
    " ON CONFLICT ((lower(email))) DO UPDATE SET"
    "  email = EXCLUDED.email, username = EXCLUDED.username, password_hash = EXCLUDED.password_hash,"
    "  full_name = EXCLUDED.full_name, phone_number = EXCLUDED.phone_number,"
    "  date_joined = now(), updated_at = now()"
    "  WHERE users.email_verified_at IS NULL"
    " RETURNING " PORTCULLIS_USER_COLUMNS};
const statement user_by_id{"users_by_id", "SELECT " PORTCULLIS_USER_COLUMNS " FROM users WHERE id = $1"};
const statement user_by_email{"users_by_email",
                              "SELECT " PORTCULLIS_USER_COLUMNS " FROM users WHERE lower(email) = lower($1)"};
const statement user_by_username{"users_by_username",
                                 "SELECT " PORTCULLIS_USER_COLUMNS " FROM users WHERE username = $1"};
const statement user_by_login{"users_by_login", "SELECT " PORTCULLIS_USER_COLUMNS
                                                " FROM users"
                                                " WHERE lower(email) = lower($1) OR username = $1"
                                                " ORDER BY (lower(email) = lower($1)) DESC LIMIT 1"};
const statement user_activate{"users_activate",
                              "UPDATE users SET is_active = true, email_verified_at = now(), updated_at = now()"
                              " WHERE id = $1 AND email_verified_at IS NULL AND password_hash = $2"
                              " RETURNING " PORTCULLIS_USER_COLUMNS};
const statement user_set_password{"users_set_password",
                                  "UPDATE users SET password_hash = $2, password_changed_at = now(), updated_at = now()"
                                  " WHERE id = $1"};
const statement user_rehash_password{"users_rehash_password",
                                     "UPDATE users SET password_hash = $3 WHERE id = $1 AND password_hash = $2"};
const statement user_set_last_login{"users_set_last_login", "UPDATE users SET last_login = now() WHERE id = $1"};
const statement user_update_profile{"users_update_profile",
                                    "UPDATE users SET full_name = coalesce($2, full_name),"
                                    " phone_number = coalesce($3, phone_number), username = coalesce($4, username),"
                                    " updated_at = now() WHERE id = $1"
                                    " RETURNING " PORTCULLIS_USER_COLUMNS};
const statement user_deactivate{"users_deactivate",
                                "UPDATE users SET is_active = false, updated_at = now() WHERE id = $1 AND is_active"};
const statement user_list_active{"users_list_active", "SELECT " PORTCULLIS_USER_COLUMNS
                                                      " FROM users"
                                                      " WHERE is_active AND id > $1 ORDER BY id LIMIT $2"};
// A separate statement for the filtered list, so each keeps a plan fit for its shape.
const statement user_list_active_prefix{"users_list_active_prefix",
                                        "SELECT " PORTCULLIS_USER_COLUMNS
                                        " FROM users"
                                        " WHERE is_active AND id > $1 AND username LIKE $3 ESCAPE '\\'"
                                        " ORDER BY id LIMIT $2"};

// --- sessions ---
const statement session_create{"sessions_create",
                               "INSERT INTO sessions (user_id, expires_at, user_agent, ip) VALUES ($1, $2, $3, $4)"
                               " RETURNING " PORTCULLIS_SESSION_COLUMNS};
// The user's row is locked (FOR NO KEY UPDATE, as the last_login update needs anyway)
// and re-checked: a concurrent password change, deactivation or disabling either commits first, so
// the row no longer qualifies, or waits for this statement and then sees its session.
const statement session_open{
    "sessions_open",
    "WITH u AS ("
    "  SELECT id FROM users WHERE id = $1 AND is_active AND disabled_at IS NULL AND password_hash = $5"
    "  FOR NO KEY UPDATE"
    "), s AS ("
    "  INSERT INTO sessions (user_id, expires_at, user_agent, ip) SELECT id, $2, $3, $4 FROM u"
    "  RETURNING " PORTCULLIS_SESSION_COLUMNS
    "), l AS ("
    "  UPDATE users SET last_login = now() WHERE id IN (SELECT id FROM u)"
    "), old AS ("
    "  UPDATE sessions SET revoked_at = now(), revoke_reason = 'session_limit'"
    "  WHERE $6 > 0 AND id IN (SELECT o.id FROM sessions o, u WHERE o.user_id = u.id AND o.revoked_at IS NULL"
    "   AND o.expires_at > now() ORDER BY o.created_at DESC, o.id OFFSET greatest($6 - 1, 0))"
    "  RETURNING id"
    ") SELECT s.id, s.user_id, s.created_at, s.last_used_at, s.expires_at, s.revoked_at, s.revoke_reason,"
    "  s.user_agent, s.ip, (SELECT coalesce(string_agg(id::text, ','), '') FROM old) FROM s"};
const statement session_find{"sessions_find", "SELECT " PORTCULLIS_SESSION_COLUMNS " FROM sessions WHERE id = $1"};
const statement session_touch{"sessions_touch",
                              "UPDATE sessions SET last_used_at = now() WHERE id = $1 AND revoked_at IS NULL"};
const statement session_revoke{"sessions_revoke",
                               "UPDATE sessions SET revoked_at = now(), revoke_reason = $3"
                               " WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL AND expires_at > now()"};
const statement session_revoke_by_id{"sessions_revoke_by_id",
                                     "UPDATE sessions SET revoked_at = now(), revoke_reason = $2"
                                     " WHERE id = $1 AND revoked_at IS NULL"};
const statement session_revoke_all{"sessions_revoke_all",
                                   "UPDATE sessions SET revoked_at = now(), revoke_reason = $3"
                                   " WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > now()"
                                   " AND id IS DISTINCT FROM $2::uuid RETURNING id"};
const statement session_list_live{"sessions_list_live",
                                  "SELECT " PORTCULLIS_SESSION_COLUMNS
                                  " FROM sessions"
                                  " WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > now()"
                                  " ORDER BY created_at DESC, id LIMIT $2"};

// --- refresh tokens (a counter on their session) ---
// The common path writes one row: the row lock serializes parallel rotations, and the
// losers re-check "refresh_counter = $2" after the winner commits and update nothing.
const statement token_rotate{"refresh_rotate",
                             "UPDATE sessions SET refresh_counter = refresh_counter + 1, refreshed_at = now(),"
                             " last_used_at = now(), legacy_jti = NULL"
                             " WHERE id = $1 AND refresh_counter = $2 AND revoked_at IS NULL AND expires_at > now()"
                             " AND legacy_jti IS NOT DISTINCT FROM $3::uuid"
                             " RETURNING user_id, refresh_counter, refreshed_at"};
const statement token_inspect{"refresh_inspect",
                              "SELECT user_id, refresh_counter, refreshed_at, legacy_jti::text, revoked_at, expires_at"
                              " FROM sessions WHERE id = $1"};
const statement token_end{"refresh_end",
                          "UPDATE sessions SET revoked_at = coalesce(revoked_at, now()),"
                          " revoke_reason = coalesce(revoke_reason, $3)"
                          " WHERE id = $1 AND user_id = $2 RETURNING id"};
const statement session_purge{"sessions_purge",
                              "DELETE FROM sessions WHERE id IN"
                              " (SELECT id FROM sessions WHERE expires_at < now() LIMIT $1)"};
// Registrations made here (argon2id hashes; imported rows keep Django's) that were never
// verified within 7 days: they would otherwise hold their username forever.
const statement pending_purge{"users_purge_pending",
                              "DELETE FROM users WHERE id IN"
                              " (SELECT id FROM users WHERE email_verified_at IS NULL"
                              "  AND date_joined < now() - interval '7 days' AND updated_at < now() - interval '7 days'"
                              "  AND password_hash LIKE '$argon2id$%' LIMIT $1)"};

// --- multi-factor state ---
// Recovery-code digests travel as one comma-separated parameter (hex digests, no commas).
const statement mfa_get{"mfa_get",
                        "SELECT t.secret_sealed, t.pending_sealed, coalesce(t.last_step, -1),"
                        " (SELECT count(*) FROM mfa_recovery_codes c WHERE c.user_id = $1 AND c.used_at IS NULL)"
                        " FROM (SELECT $1::bigint AS id) u LEFT JOIN mfa_totp t ON t.user_id = u.id"};
const statement mfa_set_pending{"mfa_set_pending",
                                "INSERT INTO mfa_totp (user_id, pending_sealed) VALUES ($1, $2)"
                                " ON CONFLICT (user_id) DO UPDATE SET pending_sealed = EXCLUDED.pending_sealed,"
                                "  updated_at = now() WHERE mfa_totp.secret_sealed IS NULL"
                                " RETURNING user_id"};
const statement mfa_enable{
    "mfa_enable",
    "WITH t AS ("
    "  UPDATE mfa_totp SET secret_sealed = pending_sealed, pending_sealed = NULL, last_step = $3,"
    "   enabled_at = now(), updated_at = now()"
    "  WHERE user_id = $1 AND secret_sealed IS NULL AND pending_sealed = $2 AND last_step < $3"
    "  RETURNING user_id"
    "), u AS ("
    "  UPDATE users SET mfa_enabled = true, updated_at = now() WHERE id IN (SELECT user_id FROM t)"
    "), old AS ("
    "  DELETE FROM mfa_recovery_codes WHERE user_id IN (SELECT user_id FROM t)"
    "), ins AS ("
    "  INSERT INTO mfa_recovery_codes (user_id, digest)"
    "  SELECT t.user_id, d FROM t, unnest(string_to_array($4, ',')) AS d"
    ") SELECT user_id FROM t"};
const statement mfa_use_step{"mfa_use_step",
                             "UPDATE mfa_totp SET last_step = $2, updated_at = now()"
                             " WHERE user_id = $1 AND secret_sealed IS NOT NULL AND last_step < $2"};
const statement mfa_use_recovery_code{"mfa_use_recovery_code",
                                      "UPDATE mfa_recovery_codes SET used_at = now()"
                                      " WHERE user_id = $1 AND digest = $2 AND used_at IS NULL"};
// The row lock on mfa_totp orders two parallel replacements; the second one then
// deletes the first one's set.
const statement mfa_replace_codes{
    "mfa_replace_codes",
    "WITH t AS ("
    "  SELECT user_id FROM mfa_totp WHERE user_id = $1 AND secret_sealed IS NOT NULL FOR UPDATE"
    "), old AS ("
    "  DELETE FROM mfa_recovery_codes WHERE user_id IN (SELECT user_id FROM t)"
    "), ins AS ("
    "  INSERT INTO mfa_recovery_codes (user_id, digest)"
    "  SELECT t.user_id, d FROM t, unnest(string_to_array($2, ',')) AS d"
    ") SELECT user_id FROM t"};
const statement mfa_disable{"mfa_disable",
                            "WITH t AS ("
                            "  DELETE FROM mfa_totp WHERE user_id = $1 RETURNING secret_sealed"
                            "), c AS ("
                            "  DELETE FROM mfa_recovery_codes WHERE user_id = $1"
                            "), u AS ("
                            "  UPDATE users SET mfa_enabled = false, updated_at = now() WHERE id = $1 AND mfa_enabled"
                            ") SELECT count(*) FROM t WHERE secret_sealed IS NOT NULL"};

std::string joined(const std::vector<std::string>& digests)
{
    std::string out;
    for (const auto& d : digests) {
        if (!out.empty()) out += ',';
        out += d;
    }
    return out;
}

// result<bool> would take a bare error_code as a bool value.
core::result<bool> bool_error(const boost::system::error_code& ec)
{
    return core::result<bool>(boost::system::in_place_error, ec);
}

}  // namespace

// --- row mappers ---

namespace detail {

user read_user(const row& r, int c)
{
    user u;
    u.id = r.get<std::int64_t>(c + 0);
    u.email = r.get<std::string>(c + 1);
    u.username = r.get<std::string>(c + 2);
    u.password_hash = r.get<std::string>(c + 3);
    u.full_name = r.get<std::string>(c + 4);
    u.phone_number = r.get<std::string>(c + 5);
    u.is_active = r.get<bool>(c + 6);
    u.email_verified_at = r.get<std::optional<time_point>>(c + 7);
    u.date_joined = r.get<time_point>(c + 8);
    u.last_login = r.get<std::optional<time_point>>(c + 9);
    u.password_changed_at = r.get<std::optional<time_point>>(c + 10);
    u.updated_at = r.get<time_point>(c + 11);
    u.mfa_enabled = r.get<bool>(c + 12);
    u.role = r.get<std::string>(c + 13);
    u.disabled_at = r.get<std::optional<time_point>>(c + 14);
    return u;
}

session read_session(const row& r, int c)
{
    session s;
    s.id = r.get<std::string>(c + 0);
    s.user_id = r.get<std::int64_t>(c + 1);
    s.created_at = r.get<time_point>(c + 2);
    s.last_used_at = r.get<time_point>(c + 3);
    s.expires_at = r.get<time_point>(c + 4);
    s.revoked_at = r.get<std::optional<time_point>>(c + 5);
    s.revoke_reason = r.get<std::optional<std::string>>(c + 6);
    s.user_agent = r.get<std::string>(c + 7);
    s.ip = r.get<std::string>(c + 8);
    return s;
}

}  // namespace detail

// --- users ---

async_result<std::optional<user>> users::async_find_one(const statement& stmt, const params& args, core::deadline d)
{
    auto r = co_await pool_.async_read(stmt, args, d);
    if (!r) co_return r.error();
    if (r->empty()) co_return std::optional<user>{};
    co_return std::optional<user>(detail::read_user(r->front()));
}

async_result<user> users::async_create_pending(const new_user& u, core::deadline d)
{
    const params args(u.email, u.username, u.password_hash, u.full_name, u.phone_number);
    auto r = co_await pool_.async_query(user_create_pending, args, d);
    if (!r) co_return r.error();
    // No row: the conflicting address belongs to a verified account (DO UPDATE ... WHERE false).
    if (r->empty()) co_return core::make_error_code(errc::email_taken);
    co_return detail::read_user(r->front());
}

async_result<std::optional<user>> users::async_find_by_id(std::int64_t id, core::deadline d)
{
    const params args(id);
    co_return co_await async_find_one(user_by_id, args, d);
}

async_result<std::optional<user>> users::async_find_by_email(std::string_view email, core::deadline d)
{
    const params args(email);
    co_return co_await async_find_one(user_by_email, args, d);
}

async_result<std::optional<user>> users::async_find_by_username(std::string_view username, core::deadline d)
{
    const params args(username);
    co_return co_await async_find_one(user_by_username, args, d);
}

async_result<std::optional<user>> users::async_find_by_login(std::string_view identifier, core::deadline d)
{
    const params args(identifier);
    co_return co_await async_find_one(user_by_login, args, d);
}

async_result<activation> users::async_activate(std::int64_t id, std::string_view password_hash, core::deadline d)
{
    const params args(id, password_hash);
    auto r = co_await pool_.async_query(user_activate, args, d);
    if (!r) co_return r.error();
    if (!r->empty()) co_return activation{detail::read_user(r->front()), true};
    // Someone else activated it, or a later registration replaced the row (or no such
    // user). A fresh statement (new snapshot) sees the committed state, so every caller
    // of an activated registration returns the same final row.
    const params by_id(id);
    auto again = co_await async_find_one(user_by_id, by_id, d);
    if (!again) co_return again.error();
    if (!*again || !(*again)->verified() || (*again)->password_hash != password_hash) {
        co_return core::make_error_code(errc::not_found);
    }
    co_return activation{std::move(**again), false};
}

async_result<bool> users::async_set_password(std::int64_t id, std::string_view hash, core::deadline d)
{
    const params args(id, hash);
    auto r = co_await pool_.async_query(user_set_password, args, d);
    if (!r) co_return bool_error(r.error());
    co_return r->affected() > 0;
}

async_result<bool> users::async_rehash_password(std::int64_t id, std::string_view old_hash, std::string_view new_hash,
                                                core::deadline d)
{
    const params args(id, old_hash, new_hash);
    auto r = co_await pool_.async_query(user_rehash_password, args, d);
    if (!r) co_return bool_error(r.error());
    co_return r->affected() > 0;
}

async_result<bool> users::async_set_last_login(std::int64_t id, core::deadline d)
{
    const params args(id);
    auto r = co_await pool_.async_query(user_set_last_login, args, d);
    if (!r) co_return bool_error(r.error());
    co_return r->affected() > 0;
}

async_result<std::optional<user>> users::async_update_profile(std::int64_t id, const profile_update& p,
                                                              core::deadline d)
{
    const params args(id, p.full_name, p.phone_number, p.username);
    co_return co_await async_find_one(user_update_profile, args, d);
}

async_result<bool> users::async_deactivate(std::int64_t id, core::deadline d)
{
    const params args(id);
    auto r = co_await pool_.async_query(user_deactivate, args, d);
    if (!r) co_return bool_error(r.error());
    co_return r->affected() > 0;
}

async_result<std::vector<user>> users::async_list_active(const user_list_query& q, core::deadline d)
{
    const int limit = std::clamp(q.limit, 1, 1000);
    params args(q.after_id, limit);
    const statement* stmt = &user_list_active;
    if (!q.username_prefix.empty()) {
        args.add(escape_like(q.username_prefix) + "%");
        stmt = &user_list_active_prefix;
    }
    auto r = co_await pool_.async_read(*stmt, args, d);
    if (!r) co_return r.error();
    std::vector<user> out;
    out.reserve(static_cast<std::size_t>(r->size()));
    for (int i = 0; i < r->size(); ++i) out.push_back(detail::read_user((*r)[i]));
    co_return out;
}

// --- sessions ---

async_result<session> sessions::async_create(const new_session& s, core::deadline d)
{
    const params args(s.user_id, s.expires_at, s.user_agent, s.ip);
    auto r = co_await pool_.async_query(session_create, args, d);
    if (!r) co_return r.error();
    co_return detail::read_session(r->front());
}

async_result<opened_session> sessions::async_open(const new_session& s, core::deadline d)
{
    const params args(s.user_id, s.expires_at, s.user_agent, s.ip, s.verified_hash, s.max_live);
    auto r = co_await pool_.async_query(session_open, args, d);
    if (!r) co_return r.error();
    if (r->empty()) co_return core::make_error_code(errc::invalid_credentials);
    opened_session out{detail::read_session(r->front(), 0), {}};
    const std::string ended = r->front().get<std::string>(9);
    for (std::size_t start = 0; start < ended.size();) {
        std::size_t comma = std::min(ended.find(',', start), ended.size());
        out.ended.push_back(ended.substr(start, comma - start));
        start = comma + 1;
    }
    co_return out;
}

async_result<std::optional<session>> sessions::async_find(std::string_view id, core::deadline d)
{
    if (!is_uuid(id)) co_return std::optional<session>{};
    const params args(id);
    auto r = co_await pool_.async_read(session_find, args, d);
    if (!r) co_return r.error();
    if (r->empty()) co_return std::optional<session>{};
    co_return std::optional<session>(detail::read_session(r->front()));
}

async_result<bool> sessions::async_touch(std::string_view id, core::deadline d)
{
    if (!is_uuid(id)) co_return false;
    const params args(id);
    auto r = co_await pool_.async_query(session_touch, args, d);
    if (!r) co_return bool_error(r.error());
    co_return r->affected() > 0;
}

async_result<bool> sessions::async_revoke(std::string_view id, std::int64_t user_id, std::string_view reason,
                                          core::deadline d)
{
    if (!is_uuid(id)) co_return false;
    const params args(id, user_id, reason);
    auto r = co_await pool_.async_query(session_revoke, args, d);
    if (!r) co_return bool_error(r.error());
    co_return r->affected() > 0;
}

async_result<bool> sessions::async_revoke_by_id(std::string_view id, std::string_view reason, core::deadline d)
{
    if (!is_uuid(id)) co_return false;
    const params args(id, reason);
    auto r = co_await pool_.async_query(session_revoke_by_id, args, d);
    if (!r) co_return bool_error(r.error());
    co_return r->affected() > 0;
}

async_result<std::vector<std::string>> sessions::async_revoke_all(std::int64_t user_id,
                                                                  std::optional<std::string_view> except,
                                                                  std::string_view reason, core::deadline d)
{
    // A malformed "except" id matches no session, so nothing is spared.
    if (except && !is_uuid(*except)) except.reset();
    const params args(user_id, except, reason);
    auto r = co_await pool_.async_query(session_revoke_all, args, d);
    if (!r) co_return r.error();
    std::vector<std::string> ids;
    ids.reserve(static_cast<std::size_t>(r->size()));
    for (int i = 0; i < r->size(); ++i) ids.push_back((*r)[i].get<std::string>(0));
    co_return ids;
}

async_result<std::vector<session>> sessions::async_list_live(std::int64_t user_id, int limit, core::deadline d)
{
    const params args(user_id, std::clamp(limit, 1, 1000));
    auto r = co_await pool_.async_read(session_list_live, args, d);
    if (!r) co_return r.error();
    std::vector<session> out;
    out.reserve(static_cast<std::size_t>(r->size()));
    for (int i = 0; i < r->size(); ++i) out.push_back(detail::read_session((*r)[i]));
    co_return out;
}

// --- refresh tokens ---

async_result<std::optional<rotation>> refresh_tokens::async_rotate(const refresh_position& at, core::deadline d)
{
    if (!is_uuid(at.session_id) || (at.legacy_jti && !is_uuid(*at.legacy_jti))) co_return std::optional<rotation>{};
    const params args(at.session_id, at.counter, at.legacy_jti);
    auto r = co_await pool_.async_query(token_rotate, args, d);
    if (!r) co_return r.error();
    if (r->empty()) co_return std::optional<rotation>{};
    const row rw = r->front();
    co_return std::optional<rotation>(
        rotation{at.session_id, rw.get<std::int64_t>(0), rw.get<std::int64_t>(1), rw.get<time_point>(2)});
}

async_result<std::optional<refresh_state>> refresh_tokens::async_inspect(std::string_view session_id, core::deadline d)
{
    if (!is_uuid(session_id)) co_return std::optional<refresh_state>{};
    const params args(session_id);
    auto r = co_await pool_.async_read(token_inspect, args, d);
    if (!r) co_return r.error();
    if (r->empty()) co_return std::optional<refresh_state>{};
    const row rw = r->front();
    refresh_state st;
    st.session_id = std::string(session_id);
    st.user_id = rw.get<std::int64_t>(0);
    st.counter = rw.get<std::int64_t>(1);
    st.refreshed_at = rw.get<std::optional<time_point>>(2);
    st.legacy_jti = rw.get<std::optional<std::string>>(3);
    st.revoked_at = rw.get<std::optional<time_point>>(4);
    st.expires_at = rw.get<time_point>(5);
    co_return std::optional<refresh_state>(std::move(st));
}

async_result<std::optional<std::string>> refresh_tokens::async_end(std::string_view session_id, std::int64_t user_id,
                                                                   std::string_view reason, core::deadline d)
{
    if (!is_uuid(session_id)) co_return std::optional<std::string>{};
    const params args(session_id, user_id, reason);
    auto r = co_await pool_.async_query(token_end, args, d);
    if (!r) co_return r.error();
    if (r->empty()) co_return std::optional<std::string>{};
    co_return std::optional<std::string>(r->front().get<std::string>(0));
}

async_result<purge_report> refresh_tokens::async_purge(std::int64_t batch, core::deadline d)
{
    const params args(std::max<std::int64_t>(batch, 1));
    // Independent statements: one round trip through the pipeline.
    const command cmds[] = {{&session_purge, &args}, {&pending_purge, &args}};
    auto r = co_await pool_.async_batch(cmds, d);
    if (!r) co_return r.error();
    co_return purge_report{(*r)[0].affected(), (*r)[1].affected()};
}

// --- multi-factor state ---

async_result<mfa_state> mfa::async_get(std::int64_t user_id, core::deadline d)
{
    const params args(user_id);
    auto r = co_await pool_.async_read(mfa_get, args, d);
    if (!r) co_return r.error();
    mfa_state st;
    if (r->empty()) co_return st;
    const row first = r->front();
    st.secret_sealed = first.get<std::optional<std::string>>(0);
    st.pending_sealed = first.get<std::optional<std::string>>(1);
    st.last_step = first.get<std::int64_t>(2);
    st.recovery_codes_left = static_cast<int>(first.get<std::int64_t>(3));
    co_return st;
}

async_result<bool> mfa::async_set_pending(std::int64_t user_id, std::string_view sealed, core::deadline d)
{
    const params args(user_id, sealed);
    auto r = co_await pool_.async_query(mfa_set_pending, args, d);
    if (!r) co_return bool_error(r.error());
    co_return !r->empty();
}

async_result<bool> mfa::async_enable(std::int64_t user_id, std::string_view pending_sealed, std::int64_t step,
                                     const std::vector<std::string>& code_digests, core::deadline d)
{
    const params args(user_id, pending_sealed, step, joined(code_digests));
    auto r = co_await pool_.async_query(mfa_enable, args, d);
    if (!r) co_return bool_error(r.error());
    co_return !r->empty();
}

async_result<bool> mfa::async_use_step(std::int64_t user_id, std::int64_t step, core::deadline d)
{
    const params args(user_id, step);
    auto r = co_await pool_.async_query(mfa_use_step, args, d);
    if (!r) co_return bool_error(r.error());
    co_return r->affected() > 0;
}

async_result<bool> mfa::async_use_recovery_code(std::int64_t user_id, std::string_view digest, core::deadline d)
{
    const params args(user_id, digest);
    auto r = co_await pool_.async_query(mfa_use_recovery_code, args, d);
    if (!r) co_return bool_error(r.error());
    co_return r->affected() > 0;
}

async_result<bool> mfa::async_replace_recovery_codes(std::int64_t user_id, const std::vector<std::string>& code_digests,
                                                     core::deadline d)
{
    const params args(user_id, joined(code_digests));
    auto r = co_await pool_.async_query(mfa_replace_codes, args, d);
    if (!r) co_return bool_error(r.error());
    co_return !r->empty();
}

async_result<bool> mfa::async_disable(std::int64_t user_id, core::deadline d)
{
    const params args(user_id);
    auto r = co_await pool_.async_query(mfa_disable, args, d);
    if (!r) co_return bool_error(r.error());
    co_return !r->empty() && r->front().get<std::int64_t>(0) > 0;
}

}  // namespace portcullis::store::pg
