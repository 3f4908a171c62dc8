#include "auth/testing/fakes.hpp"

#include "core/random.hpp"
#include "core/text.hpp"

#include <algorithm>

namespace portcullis::auth::testing {

using core::errc;
using store::async_result;

namespace {

template <class T>
core::result<T> failed(errc e)
{
    return core::result<T>(boost::system::in_place_error, make_error_code(e));
}

}  // namespace

// ---- users

std::optional<store::user> fake_db::find_email(std::string_view email) const
{
    for (const auto& [id, u] : users) {
        if (core::ascii_iequals(u.email, email)) return u;
    }
    return std::nullopt;
}

async_result<store::user> fake_db::async_create_pending(const store::new_user& nu, core::deadline)
{
    if (down) co_return failed<store::user>(errc::db_unavailable);
    auto existing = find_email(nu.email);
    if (existing && existing->verified()) co_return failed<store::user>(errc::email_taken);
    for (const auto& [id, u] : users) {
        if (core::ascii_iequals(u.username, nu.username) && (!existing || id != existing->id)) {
            co_return failed<store::user>(errc::username_taken);
        }
    }
    store::user u;
    u.id = existing ? existing->id : next_user_++;
    u.email = nu.email;
    u.username = nu.username;
    u.password_hash = nu.password_hash;
    u.full_name = nu.full_name;
    u.phone_number = nu.phone_number;
    u.date_joined = clock_.now();
    u.updated_at = clock_.now();
    users[u.id] = u;
    co_return u;
}

async_result<std::optional<store::user>> fake_db::async_find_by_id(std::int64_t id, core::deadline)
{
    if (down) co_return failed<std::optional<store::user>>(errc::db_unavailable);
    auto it = users.find(id);
    if (it == users.end()) co_return std::optional<store::user>{};
    co_return std::optional<store::user>(it->second);
}

async_result<std::optional<store::user>> fake_db::async_find_by_email(std::string_view email, core::deadline)
{
    if (down) co_return failed<std::optional<store::user>>(errc::db_unavailable);
    co_return find_email(email);
}

async_result<std::optional<store::user>> fake_db::async_find_by_username(std::string_view username, core::deadline)
{
    if (down) co_return failed<std::optional<store::user>>(errc::db_unavailable);
    for (const auto& [id, u] : users) {
        if (core::ascii_iequals(u.username, username)) co_return std::optional<store::user>(u);
    }
    co_return std::optional<store::user>{};
}

async_result<std::optional<store::user>> fake_db::async_find_by_login(std::string_view identifier, core::deadline d)
{
    if (auto by_email = find_email(identifier)) co_return by_email;
    co_return co_await async_find_by_username(identifier, d);
}

async_result<store::activation> fake_db::async_activate(std::int64_t id, std::string_view password_hash, core::deadline)
{
    if (down) co_return failed<store::activation>(errc::db_unavailable);
    auto it = users.find(id);
    if (it == users.end() || it->second.password_hash != password_hash) {
        co_return failed<store::activation>(errc::not_found);
    }
    store::activation out;
    if (!it->second.verified()) {
        it->second.email_verified_at = clock_.now();
        it->second.is_active = true;
        out.activated = true;
    }
    out.account = it->second;
    co_return out;
}

async_result<bool> fake_db::async_set_password(std::int64_t id, std::string_view hash, core::deadline)
{
    if (down) co_return failed<bool>(errc::db_unavailable);
    auto it = users.find(id);
    if (it == users.end()) co_return false;
    it->second.password_hash = std::string(hash);
    it->second.password_changed_at = clock_.now();
    co_return true;
}

async_result<bool> fake_db::async_rehash_password(std::int64_t id, std::string_view old_hash, std::string_view new_hash,
                                                  core::deadline)
{
    if (down) co_return failed<bool>(errc::db_unavailable);
    auto it = users.find(id);
    if (it == users.end() || it->second.password_hash != old_hash) co_return false;
    it->second.password_hash = std::string(new_hash);
    co_return true;
}

async_result<bool> fake_db::async_set_last_login(std::int64_t id, core::deadline)
{
    if (down) co_return failed<bool>(errc::db_unavailable);
    auto it = users.find(id);
    if (it == users.end()) co_return false;
    it->second.last_login = clock_.now();
    co_return true;
}

async_result<std::optional<store::user>> fake_db::async_update_profile(std::int64_t id, const store::profile_update& p,
                                                                       core::deadline)
{
    if (down) co_return failed<std::optional<store::user>>(errc::db_unavailable);
    auto it = users.find(id);
    if (it == users.end() || !it->second.is_active) co_return std::optional<store::user>{};
    if (p.full_name) it->second.full_name = *p.full_name;
    if (p.phone_number) it->second.phone_number = *p.phone_number;
    if (p.username) it->second.username = *p.username;
    co_return std::optional<store::user>(it->second);
}

async_result<bool> fake_db::async_deactivate(std::int64_t id, core::deadline)
{
    if (down) co_return failed<bool>(errc::db_unavailable);
    auto it = users.find(id);
    if (it == users.end() || !it->second.is_active) co_return false;
    it->second.is_active = false;
    co_return true;
}

async_result<std::vector<store::user>> fake_db::async_list_active(const store::user_list_query& q, core::deadline)
{
    if (down) co_return failed<std::vector<store::user>>(errc::db_unavailable);
    std::vector<store::user> out;
    for (const auto& [id, u] : users) {
        if (id <= q.after_id || !u.is_active) continue;
        if (u.username.compare(0, q.username_prefix.size(), q.username_prefix) != 0) continue;
        if (out.size() >= static_cast<std::size_t>(std::clamp(q.limit, 1, 1000))) break;
        out.push_back(u);
    }
    co_return out;
}

// ---- sessions

bool fake_db::session_live(const std::string& id) const
{
    auto it = sessions.find(id);
    return it != sessions.end() && it->second.live(clock_.now());
}

std::size_t fake_db::live_sessions(std::int64_t user_id) const
{
    std::size_t n = 0;
    for (const auto& [id, s] : sessions) n += s.user_id == user_id && s.live(clock_.now());
    return n;
}

async_result<store::session> fake_db::async_create(const store::new_session& ns, core::deadline)
{
    if (down) co_return failed<store::session>(errc::db_unavailable);
    store::session s;
    s.id = core::random_uuid();
    s.user_id = ns.user_id;
    s.created_at = s.last_used_at = clock_.now();
    s.expires_at = ns.expires_at;
    s.user_agent = ns.user_agent;
    s.ip = ns.ip;
    sessions[s.id] = s;
    co_return s;
}

async_result<store::opened_session> fake_db::async_open(const store::new_session& ns, core::deadline d)
{
    if (down) co_return failed<store::opened_session>(errc::db_unavailable);
    auto it = users.find(ns.user_id);
    if (it == users.end() || !it->second.is_active || it->second.password_hash != ns.verified_hash) {
        co_return failed<store::opened_session>(errc::invalid_credentials);
    }
    auto created = co_await async_create(ns, d);
    if (!created) co_return failed<store::opened_session>(errc::db_unavailable);
    store::opened_session out;
    out.sess = *created;
    refresh[created->id] = refresh_columns{};
    it->second.last_login = clock_.now();
    if (ns.max_live > 0) {
        // The oldest live sessions beyond max_live end.
        std::vector<store::session*> live;
        for (auto& [id, s] : sessions) {
            if (s.user_id == ns.user_id && s.live(clock_.now())) live.push_back(&s);
        }
        std::sort(live.begin(), live.end(),
                  [](const store::session* a, const store::session* b) { return a->created_at < b->created_at; });
        while (live.size() > static_cast<std::size_t>(ns.max_live)) {
            live.front()->revoked_at = clock_.now();
            live.front()->revoke_reason = "session_limit";
            out.ended.push_back(live.front()->id);
            live.erase(live.begin());
        }
    }
    co_return out;
}

async_result<std::optional<store::session>> fake_db::async_find(std::string_view id, core::deadline)
{
    if (down) co_return failed<std::optional<store::session>>(errc::db_unavailable);
    auto it = sessions.find(std::string(id));
    if (it == sessions.end()) co_return std::optional<store::session>{};
    co_return std::optional<store::session>(it->second);
}

async_result<bool> fake_db::async_touch(std::string_view id, core::deadline)
{
    if (down) co_return failed<bool>(errc::db_unavailable);
    if (!session_live(std::string(id))) co_return false;
    sessions[std::string(id)].last_used_at = clock_.now();
    co_return true;
}

async_result<bool> fake_db::async_revoke(std::string_view id, std::int64_t user_id, std::string_view reason,
                                         core::deadline)
{
    if (down) co_return failed<bool>(errc::db_unavailable);
    auto it = sessions.find(std::string(id));
    if (it == sessions.end() || it->second.user_id != user_id || !it->second.live(clock_.now())) co_return false;
    it->second.revoked_at = clock_.now();
    it->second.revoke_reason = std::string(reason);
    co_return true;
}

async_result<bool> fake_db::async_revoke_by_id(std::string_view id, std::string_view reason, core::deadline)
{
    if (down) co_return failed<bool>(errc::db_unavailable);
    auto it = sessions.find(std::string(id));
    if (it == sessions.end() || it->second.revoked_at) co_return false;
    it->second.revoked_at = clock_.now();
    it->second.revoke_reason = std::string(reason);
    co_return true;
}

async_result<std::vector<std::string>> fake_db::async_revoke_all(std::int64_t user_id,
                                                                 std::optional<std::string_view> except,
                                                                 std::string_view reason, core::deadline)
{
    if (down) co_return failed<std::vector<std::string>>(errc::db_unavailable);
    std::vector<std::string> out;
    for (auto& [id, s] : sessions) {
        if (s.user_id != user_id || !s.live(clock_.now()) || (except && *except == id)) continue;
        s.revoked_at = clock_.now();
        s.revoke_reason = std::string(reason);
        out.push_back(id);
    }
    co_return out;
}

async_result<std::vector<store::session>> fake_db::async_list_live(std::int64_t user_id, int limit, core::deadline)
{
    if (down) co_return failed<std::vector<store::session>>(errc::db_unavailable);
    std::vector<store::session> out;
    for (const auto& [id, s] : sessions) {
        if (s.user_id == user_id && s.live(clock_.now())) out.push_back(s);
    }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.created_at > b.created_at; });
    if (out.size() > static_cast<std::size_t>(limit)) out.resize(static_cast<std::size_t>(limit));
    co_return out;
}

// ---- refresh tokens

async_result<std::optional<store::rotation>> fake_db::async_rotate(const store::refresh_position& at, core::deadline)
{
    using out_t = std::optional<store::rotation>;
    if (down) co_return failed<out_t>(errc::db_unavailable);
    auto it = refresh.find(at.session_id);
    if (it == refresh.end() || !session_live(at.session_id) || it->second.counter != at.counter ||
        it->second.legacy_jti != at.legacy_jti) {
        co_return out_t{};
    }
    it->second.counter += 1;
    it->second.refreshed_at = clock_.now();
    it->second.legacy_jti.reset();
    auto& s = sessions.at(at.session_id);
    s.last_used_at = clock_.now();
    store::rotation out{at.session_id, s.user_id, it->second.counter, clock_.now()};
    if (lose_next_rotation_reply) {
        lose_next_rotation_reply = false;
        co_return failed<out_t>(errc::db_unavailable);
    }
    co_return out_t(out);
}

async_result<std::optional<store::refresh_state>> fake_db::async_inspect(std::string_view session_id, core::deadline)
{
    using out_t = std::optional<store::refresh_state>;
    if (down) co_return failed<out_t>(errc::db_unavailable);
    auto it = refresh.find(std::string(session_id));
    if (it == refresh.end()) co_return out_t{};
    const auto& s = sessions.at(it->first);
    store::refresh_state st;
    st.session_id = it->first;
    st.user_id = s.user_id;
    st.counter = it->second.counter;
    st.refreshed_at = it->second.refreshed_at;
    st.legacy_jti = it->second.legacy_jti;
    st.revoked_at = s.revoked_at;
    st.expires_at = s.expires_at;
    co_return out_t(st);
}

async_result<std::optional<std::string>> fake_db::async_end(std::string_view session_id, std::int64_t user_id,
                                                            std::string_view reason, core::deadline)
{
    using out_t = std::optional<std::string>;
    if (down) co_return failed<out_t>(errc::db_unavailable);
    auto it = sessions.find(std::string(session_id));
    if (it == sessions.end() || it->second.user_id != user_id) co_return out_t{};
    if (!it->second.revoked_at) {
        it->second.revoked_at = clock_.now();
        it->second.revoke_reason = std::string(reason);
    }
    co_return out_t(it->first);
}

async_result<store::purge_report> fake_db::async_purge(std::int64_t, core::deadline)
{
    if (down) co_return failed<store::purge_report>(errc::db_unavailable);
    co_return store::purge_report{};
}

// ---- multi-factor state

void fake_mfa::set_flag(std::int64_t user_id, bool on)
{
    if (auto it = db_.users.find(user_id); it != db_.users.end()) it->second.mfa_enabled = on;
}

async_result<store::mfa_state> fake_mfa::async_get(std::int64_t user_id, core::deadline)
{
    if (down) co_return failed<store::mfa_state>(errc::db_unavailable);
    auto it = records.find(user_id);
    if (it == records.end()) co_return store::mfa_state{};
    store::mfa_state st = it->second.state;
    st.recovery_codes_left = static_cast<int>(
        std::count_if(it->second.codes.begin(), it->second.codes.end(), [](const auto& c) { return !c.second; }));
    co_return st;
}

async_result<bool> fake_mfa::async_set_pending(std::int64_t user_id, std::string_view sealed, core::deadline)
{
    if (down) co_return failed<bool>(errc::db_unavailable);
    record& r = records[user_id];
    if (r.state.secret_sealed) co_return false;
    r.state.pending_sealed = std::string(sealed);
    co_return true;
}

async_result<bool> fake_mfa::async_enable(std::int64_t user_id, std::string_view pending_sealed, std::int64_t step,
                                          const std::vector<std::string>& code_digests, core::deadline)
{
    if (down) co_return failed<bool>(errc::db_unavailable);
    auto it = records.find(user_id);
    if (it == records.end()) co_return false;
    store::mfa_state& st = it->second.state;
    if (st.secret_sealed || st.pending_sealed != pending_sealed || st.last_step >= step) co_return false;
    st.secret_sealed = st.pending_sealed;
    st.pending_sealed.reset();
    st.last_step = step;
    it->second.codes.clear();
    for (const auto& c : code_digests) it->second.codes[c] = false;
    set_flag(user_id, true);
    co_return true;
}

async_result<bool> fake_mfa::async_use_step(std::int64_t user_id, std::int64_t step, core::deadline)
{
    if (down) co_return failed<bool>(errc::db_unavailable);
    auto it = records.find(user_id);
    if (it == records.end() || !it->second.state.secret_sealed || it->second.state.last_step >= step) co_return false;
    it->second.state.last_step = step;
    co_return true;
}

async_result<bool> fake_mfa::async_use_recovery_code(std::int64_t user_id, std::string_view digest, core::deadline)
{
    if (down) co_return failed<bool>(errc::db_unavailable);
    auto it = records.find(user_id);
    if (it == records.end()) co_return false;
    auto c = it->second.codes.find(std::string(digest));
    if (c == it->second.codes.end() || c->second) co_return false;
    c->second = true;
    co_return true;
}

async_result<bool> fake_mfa::async_replace_recovery_codes(std::int64_t user_id,
                                                          const std::vector<std::string>& code_digests, core::deadline)
{
    if (down) co_return failed<bool>(errc::db_unavailable);
    auto it = records.find(user_id);
    if (it == records.end() || !it->second.state.secret_sealed) co_return false;
    it->second.codes.clear();
    for (const auto& c : code_digests) it->second.codes[c] = false;
    co_return true;
}

async_result<bool> fake_mfa::async_disable(std::int64_t user_id, core::deadline)
{
    if (down) co_return failed<bool>(errc::db_unavailable);
    auto it = records.find(user_id);
    if (it == records.end()) co_return false;
    bool was_on = it->second.state.secret_sealed.has_value();
    records.erase(it);
    set_flag(user_id, false);
    co_return was_on;
}

}  // namespace portcullis::auth::testing
