#include "auth/flows.hpp"
#include "auth/profile_rules.hpp"
#include "auth/validation.hpp"
#include "core/log.hpp"

namespace portcullis::auth {

using core::errc;

namespace {

// An admin_change as the flows' outcome.
outcome<void> change_outcome(store::admin_change c)
{
    switch (c) {
    case store::admin_change::done:
    case store::admin_change::unchanged:
        return outcome<void>{};
    case store::admin_change::not_found:
        return fail<void>(errc::not_found);
    case store::admin_change::last_admin:
        return fail<void>(errc::last_admin);
    }
    return fail<void>(errc::not_found);
}

}  // namespace

async_outcome<operator_ref> admin_flows::async_authorize(const principal& p, core::deadline d)
{
    if (c_.deps.admin == nullptr) co_return fail<operator_ref>(errc::db_unavailable);
    // The token's claim spares non-admins any I/O; the account decides (a demoted or
    // disabled admin's token is refused at once).
    if (!p.admin) co_return fail<operator_ref>(errc::forbidden);
    auto me = co_await c_.deps.admin->async_get(p.user_id, d);
    if (!me) co_return fail<operator_ref>(me.error());
    if (!*me || !(*me)->is_active || (*me)->disabled_at || !(*me)->admin())
        co_return fail<operator_ref>(errc::forbidden);
    store::kv::request_limits l;
    l.address = "op" + std::to_string(p.user_id);
    l.address_max = c_.settings.admin_action_limit;
    l.window = std::chrono::seconds(60);
    auto allowed = co_await c_.deps.kv.async_request(store::kv::request_kind::admin_action, l, d);
    if (!allowed) co_return fail<operator_ref>(allowed.error());
    if (!allowed->allowed) co_return limited<operator_ref>(allowed->retry_after_s);
    co_return operator_ref{p.user_id, p.meta};
}

outcome<std::int64_t> admin_flows::existing(const std::string& id) const
{
    if (c_.deps.admin == nullptr) return fail<std::int64_t>(errc::db_unavailable);
    auto uid = parse_id(id);
    if (!uid) return fail<std::int64_t>(errc::not_found);
    return *uid;
}

async_outcome<admin_user_page> admin_flows::async_list(int limit, std::string cursor, std::string q,
                                                       store::user_status status, core::deadline d)
{
    if (c_.deps.admin == nullptr) co_return fail<admin_user_page>(errc::db_unavailable);
    if (storable_text(q, q.size()) != q) co_return validation("q", "Must be valid UTF-8 text.");
    store::admin_user_query query;
    query.limit = limit + 1;
    query.prefix = std::move(q);
    query.status = status;
    if (!cursor.empty()) {
        auto after = decode_cursor(c_.deps.keys.cursor, cursor);
        if (!after) co_return validation("cursor", "Invalid cursor.");
        query.after_id = *after;
    }
    auto rows = co_await c_.deps.admin->async_list(query, d);
    if (!rows) co_return fail<admin_user_page>(rows.error());
    admin_user_page page;
    page.results = std::move(*rows);
    if (page.results.size() > static_cast<std::size_t>(limit)) {
        page.results.resize(static_cast<std::size_t>(limit));
        page.next = encode_cursor(c_.deps.keys.cursor, page.results.back().id);
    }
    co_return page;
}

async_outcome<store::user> admin_flows::async_get(std::string id, core::deadline d)
{
    auto uid = existing(id);
    if (!uid) co_return pass<store::user>(uid);
    auto u = co_await c_.deps.admin->async_get(*uid, d);
    if (!u) co_return fail<store::user>(u.error());
    if (!*u) co_return fail<store::user>(errc::not_found);
    co_return std::move(**u);
}

async_outcome<store::user> admin_flows::async_update(operator_ref op, std::string id, store::admin_user_update u,
                                                     core::deadline d)
{
    field_problems details;
    if (u.username) {
        auto n = normalize_username(*u.username);
        if (!n.ok())
            details.emplace_back("username", n.error);
        else
            u.username = n.value;
    }
    if (u.role && *u.role != "user" && *u.role != "admin")
        details.emplace_back("role", "Must be \"user\" or \"admin\".");
    check_profile_fields(u.full_name ? &*u.full_name : nullptr, u.phone_number ? &*u.phone_number : nullptr, details);
    if (!details.empty()) co_return failure(errc::validation_failed, std::move(details));
    auto before = co_await async_get(id, d);
    if (!before) co_return before;
    auto changed = co_await c_.deps.admin->async_update(before->id, u, d);
    if (!changed) co_return fail<store::user>(changed.error());
    if (auto o = change_outcome(*changed); !o) co_return pass<store::user>(o);
    auto after = co_await async_get(id, d);
    if (!after) co_return after;
    if (after->role != before->role) {
        // Tokens carry the role: the account logs in again to get the new one.
        auto ended = co_await c_.async_end_sessions(after->id, std::nullopt, "role_changed", d);
        if (!ended) co_return pass<store::user>(ended);
        c_.record("admin.role_changed", after->id, op.meta, {}, after->role, op.actor);
    } else {
        co_await c_.async_announce(changed_user_event(after->id), d);
    }
    c_.record("admin.user_updated", after->id, op.meta, {}, {}, op.actor);
    co_return after;
}

async_outcome<store::user> admin_flows::async_disable(operator_ref op, std::string id, core::deadline d)
{
    auto uid = existing(id);
    if (!uid) co_return pass<store::user>(uid);
    auto changed = co_await c_.deps.admin->async_set_disabled(*uid, true, d);
    if (!changed) co_return fail<store::user>(changed.error());
    if (auto o = change_outcome(*changed); !o) co_return pass<store::user>(o);
    // Already disabled: its sessions ended then, and none opened since; ending them
    // again costs little and makes the answer certain.
    auto ended = co_await c_.async_end_sessions(*uid, std::nullopt, "account_disabled", d);
    if (!ended) co_return pass<store::user>(ended);
    if (*changed == store::admin_change::done) {
        c_.record("admin.user_disabled", *uid, op.meta, {}, {}, op.actor);
        c_.record("user.disabled", *uid, op.meta, {}, "by_admin", op.actor);
    }
    co_return co_await async_get(id, d);
}

async_outcome<store::user> admin_flows::async_enable(operator_ref op, std::string id, core::deadline d)
{
    auto uid = existing(id);
    if (!uid) co_return pass<store::user>(uid);
    auto changed = co_await c_.deps.admin->async_set_disabled(*uid, false, d);
    if (!changed) co_return fail<store::user>(changed.error());
    if (auto o = change_outcome(*changed); !o) co_return pass<store::user>(o);
    co_await c_.async_announce(changed_user_event(*uid), d);
    if (*changed == store::admin_change::done) c_.record("admin.user_enabled", *uid, op.meta, {}, {}, op.actor);
    co_return co_await async_get(id, d);
}

async_outcome<void> admin_flows::async_logout(operator_ref op, std::string id, core::deadline d)
{
    auto u = co_await async_get(id, d);
    if (!u) co_return pass<void>(u);
    auto ended = co_await c_.async_end_sessions(u->id, std::nullopt, "admin_logout", d);
    if (!ended) co_return ended;
    c_.record("admin.user_logout", u->id, op.meta, {}, {}, op.actor);
    c_.record("session.revoked", u->id, op.meta, {}, "all_by_admin", op.actor);
    co_return outcome<void>{};
}

async_outcome<store::user> admin_flows::async_verify(operator_ref op, std::string id, core::deadline d)
{
    auto uid = existing(id);
    if (!uid) co_return pass<store::user>(uid);
    auto changed = co_await c_.deps.admin->async_verify(*uid, d);
    if (!changed) co_return fail<store::user>(changed.error());
    if (*changed == store::admin_change::unchanged) co_return fail<store::user>(errc::already_verified);
    if (auto o = change_outcome(*changed); !o) co_return pass<store::user>(o);
    co_await c_.async_announce(changed_user_event(*uid), d);
    c_.record("admin.user_verified", *uid, op.meta, {}, {}, op.actor);
    c_.record("email.verified", *uid, op.meta, {}, "by_admin", op.actor);
    co_return co_await async_get(id, d);
}

async_outcome<void> admin_flows::async_resend_verification(operator_ref op, std::string id, core::deadline d)
{
    auto u = co_await async_get(id, d);
    if (!u) co_return pass<void>(u);
    if (u->verified()) co_return fail<void>(errc::already_verified);
    auto sent = co_await c_.async_send_code(*u, otp_purpose::verify_email, "verify_email", d);
    if (!sent) co_return sent;
    c_.record("admin.verification_resent", u->id, op.meta, {}, {}, op.actor);
    co_return outcome<void>{};
}

async_outcome<void> admin_flows::async_reset_mfa(operator_ref op, std::string id, core::deadline d)
{
    if (c_.deps.mfa == nullptr) co_return fail<void>(errc::db_unavailable);
    auto uid = existing(id);
    if (!uid) co_return pass<void>(uid);
    auto off = co_await c_.deps.mfa->async_disable(*uid, d);
    if (!off) co_return fail<void>(off.error());
    if (!*off) co_return fail<void>(errc::mfa_not_enabled);
    co_await c_.async_announce(changed_user_event(*uid), d);
    c_.record("admin.mfa_reset", *uid, op.meta, {}, {}, op.actor);
    c_.record("mfa.disabled", *uid, op.meta, {}, "by_admin", op.actor);
    co_return outcome<void>{};
}

async_outcome<void> admin_flows::async_delete(operator_ref op, std::string id, core::deadline d)
{
    auto uid = existing(id);
    if (!uid) co_return pass<void>(uid);
    auto changed = co_await c_.deps.admin->async_delete(*uid, d);
    if (!changed) co_return fail<void>(changed.error());
    if (*changed == store::admin_change::unchanged) co_return fail<void>(errc::not_found);
    if (auto o = change_outcome(*changed); !o) co_return o;
    auto ended = co_await c_.async_end_sessions(*uid, std::nullopt, "account_deleted", d);
    if (!ended) co_return ended;
    c_.record("admin.user_deleted", *uid, op.meta, {}, {}, op.actor);
    c_.record("user.deleted", *uid, op.meta, {}, "by_admin", op.actor);
    co_return outcome<void>{};
}

async_outcome<store::user> admin_flows::async_create_admin(operator_ref op, std::string email_in,
                                                           std::string username_in, std::string password,
                                                           core::deadline d)
{
    if (c_.deps.admin == nullptr) co_return fail<store::user>(errc::db_unavailable);
    field_problems details;
    auto email = normalize_email(email_in);
    if (!email.ok()) details.emplace_back("email", email.error);
    auto username = normalize_username(username_in);
    if (!username.ok()) details.emplace_back("username", username.error);
    user_attributes attrs{username.value, email.value, ""};
    for (auto& [field, msg] : c_.deps.policy.validate(password, attrs)) details.emplace_back(field, msg);
    if (!details.empty()) co_return failure(errc::validation_failed, std::move(details));
    auto hash = co_await c_.deps.hashes.async_hash(std::move(password));
    if (!hash) co_return fail<store::user>(hash.error());
    store::new_user nu{email.value, username.value, std::move(*hash), "", ""};
    auto created = co_await c_.deps.admin->async_create_admin(nu, d);
    if (!created) co_return fail<store::user>(created.error());
    c_.record("admin.user_created", created->id, op.meta, {}, "admin", op.actor);
    co_return std::move(*created);
}

async_outcome<audit_page> admin_flows::async_audit(store::audit_query q, std::string cursor, core::deadline d)
{
    if (c_.deps.audit_log == nullptr) co_return fail<audit_page>(errc::db_unavailable);
    const int limit = q.limit;
    q.limit = limit + 1;
    if (!cursor.empty()) {
        auto before = decode_cursor(c_.deps.keys.cursor, cursor);
        if (!before) co_return validation("cursor", "Invalid cursor.");
        q.before_id = *before;
    }
    auto rows = co_await c_.deps.audit_log->async_list(q, d);
    if (!rows) co_return fail<audit_page>(rows.error());
    audit_page page;
    page.results = std::move(*rows);
    if (page.results.size() > static_cast<std::size_t>(limit)) {
        page.results.resize(static_cast<std::size_t>(limit));
        page.next = encode_cursor(c_.deps.keys.cursor, page.results.back().id);
    }
    co_return page;
}

async_outcome<std::vector<store::audit_record>> admin_flows::async_activity(const principal& p, core::deadline d)
{
    using list = std::vector<store::audit_record>;
    if (c_.deps.audit_log == nullptr) co_return fail<list>(errc::db_unavailable);
    store::audit_query q;
    q.user_id = p.user_id;
    q.limit = 50;
    auto rows = co_await c_.deps.audit_log->async_list(q, d);
    if (!rows) co_return fail<list>(rows.error());
    co_return std::move(*rows);
}

}  // namespace portcullis::auth
