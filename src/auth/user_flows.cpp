#include "auth/flows.hpp"
#include "auth/profile_rules.hpp"
#include "auth/validation.hpp"

namespace portcullis::auth {

using core::errc;

async_outcome<user_page> user_flows::async_list_users(int limit, std::string cursor, std::string prefix,
                                                      core::deadline d)
{
    // PostgreSQL refuses text that is not UTF-8 (a query string may carry any bytes).
    if (storable_text(prefix, prefix.size()) != prefix) co_return validation("q", "Must be valid UTF-8 text.");
    store::user_list_query q;
    q.limit = limit + 1;
    q.username_prefix = std::move(prefix);
    if (!cursor.empty()) {
        auto after = decode_cursor(c_.deps.keys.cursor, cursor);
        if (!after) co_return validation("cursor", "Invalid cursor.");
        q.after_id = *after;
    }
    store::user_repository& from = c_.deps.directory != nullptr ? *c_.deps.directory : c_.deps.users;
    auto rows = co_await from.async_list_active(q, d);
    if (!rows) co_return fail<user_page>(rows.error());
    user_page page;
    page.results = std::move(*rows);
    if (page.results.size() > static_cast<std::size_t>(limit)) {
        page.results.resize(static_cast<std::size_t>(limit));
        page.next = encode_cursor(c_.deps.keys.cursor, page.results.back().id);
    }
    co_return page;
}

async_outcome<store::user> user_flows::async_me(principal p, core::deadline d)
{
    co_return co_await c_.async_load_user(p.user_id, errc::token_revoked, d);
}

async_outcome<store::user> user_flows::async_update_me(principal p, store::profile_update u, core::deadline d)
{
    field_problems details;
    if (u.username) {
        auto n = normalize_username(*u.username);
        if (!n.ok())
            details.emplace_back("username", n.error);
        else
            u.username = n.value;
    }
    check_profile_fields(u.full_name ? &*u.full_name : nullptr, u.phone_number ? &*u.phone_number : nullptr, details);
    if (!details.empty()) co_return failure(errc::validation_failed, std::move(details));
    auto updated = co_await c_.deps.users.async_update_profile(p.user_id, u, d);
    if (!updated) co_return fail<store::user>(updated.error());
    if (!*updated) co_return fail<store::user>(errc::token_revoked);
    // Other instances must show the change at once: publish before answering.
    co_await c_.async_announce(changed_user_event(p.user_id), d);
    co_return std::move(**updated);
}

async_outcome<void> user_flows::async_delete_me(principal p, std::string password, std::string ip, core::deadline d)
{
    auto found = co_await c_.async_find_active(p.user_id, errc::token_revoked, d);
    if (!found) co_return pass<void>(found);
    if (password.empty()) co_return validation("password", "This field is required.");
    auto guard = c_.password_guard_for("u" + std::to_string(p.user_id), ip);
    auto v = co_await c_.async_check_password(guard, std::move(password), found->password_hash, d);
    if (!v) co_return pass<void>(v);
    if (!v->ok) co_return validation("password", "Incorrect password.");
    auto off = co_await c_.deps.users.async_deactivate(p.user_id, d);
    if (!off) co_return fail<void>(off.error());
    auto ended = co_await c_.async_end_sessions(p.user_id, std::nullopt, "account_deleted", d);
    c_.record("user.deleted", p.user_id, p.meta, p.session_id, "by_owner");
    co_return ended;
}

async_outcome<store::user> user_flows::async_get_user(principal p, std::string id, core::deadline d)
{
    auto uid = parse_id(id);
    if (!uid) co_return fail<store::user>(errc::not_found);
    if (c_.deps.directory != nullptr && *uid != p.user_id) {
        if (const store::user* cached = c_.deps.cache.find_user(*uid, core::steady_clock::now())) co_return *cached;
        // Someone else's profile, from the directory (a replica): not cached, since the
        // cache also serves authentication, which must see the primary's rows.
        auto other = co_await c_.deps.directory->async_find_by_id(*uid, d);
        if (!other) co_return fail<store::user>(other.error());
        if (!*other || !(*other)->is_active) co_return fail<store::user>(errc::not_found);
        co_return std::move(**other);
    }
    co_return co_await c_.async_load_user(*uid, errc::not_found, d);
}

}  // namespace portcullis::auth
