#pragma once
// Repository interfaces used by the auth flows (implemented over PostgreSQL in
// store/pg/pg_repositories.hpp; fakes may implement them in flow unit tests).
//
// Every call takes the request's deadline; the implementation waits at most
// min(remaining, its own timeout) for a connection and for the statement. Infrastructure
// errors (db_unavailable, timeout, pool_exhausted, overloaded) belong to
// core::condition::unavailable; the domain errors of each call are listed with it.

#include "core/error.hpp"
#include "core/timeout.hpp"
#include "store/pg/records.hpp"

#include <boost/asio/awaitable.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace portcullis::store {

template <class T>
using async_result = boost::asio::awaitable<core::result<T>>;

class user_repository {
public:
    virtual ~user_repository() = default;

    // Creates an inactive, unverified user; if the e-mail (case-insensitive) belongs to a
    // still-unverified account, replaces that pending row's data instead. Returns the row.
    // Errors: email_taken (a verified account has the address), username_taken.
    virtual async_result<user> async_create_pending(const new_user& u, core::deadline d) = 0;
    virtual async_result<std::optional<user>> async_find_by_id(std::int64_t id, core::deadline d) = 0;
    // Case-insensitive.
    virtual async_result<std::optional<user>> async_find_by_email(std::string_view email, core::deadline d) = 0;
    virtual async_result<std::optional<user>> async_find_by_username(std::string_view username, core::deadline d) = 0;
    // Login identifier: an e-mail (case-insensitive) or a username; an e-mail match wins.
    virtual async_result<std::optional<user>> async_find_by_login(std::string_view identifier, core::deadline d) = 0;
    // Verifies the e-mail and activates, once, the registration that stored
    // `password_hash` (a later registration of the address replaces the hash, and is not
    // activated by the earlier one's code): of any number of parallel calls exactly one
    // reports activated = true; all return the resulting row. Errors: not_found (no such
    // user, or the pending row now belongs to another registration).
    virtual async_result<activation> async_activate(std::int64_t id, std::string_view password_hash,
                                                    core::deadline d) = 0;
    // New password: sets the hash and password_changed_at. False: no such user.
    virtual async_result<bool> async_set_password(std::int64_t id, std::string_view hash, core::deadline d) = 0;
    // Re-hash of the same password (new parameters): replaces the hash only if it is still
    // `old_hash`, leaves password_changed_at alone. False: changed meanwhile or no user.
    virtual async_result<bool> async_rehash_password(std::int64_t id, std::string_view old_hash,
                                                     std::string_view new_hash, core::deadline d) = 0;
    virtual async_result<bool> async_set_last_login(std::int64_t id, core::deadline d) = 0;
    // Applies the set fields; returns the updated row (nullopt: no such user).
    // Errors: username_taken.
    virtual async_result<std::optional<user>> async_update_profile(std::int64_t id, const profile_update& p,
                                                                   core::deadline d) = 0;
    // Deactivates (keeps email_verified_at). False: no such active user.
    virtual async_result<bool> async_deactivate(std::int64_t id, core::deadline d) = 0;
    // Active users with id > after_id, ascending by id, at most `limit` (clamped to 1..1000).
    virtual async_result<std::vector<user>> async_list_active(const user_list_query& q, core::deadline d) = 0;
};

class session_repository {
public:
    virtual ~session_repository() = default;

    virtual async_result<session> async_create(const new_session& s, core::deadline d) = 0;
    // Login in one round trip: a session (refresh counter 0) and users.last_login =
    // now(); the oldest live sessions beyond
    // s.max_live end. Only while the user is active and its hash is s.verified_hash; the
    // user's row is locked meanwhile, so a password change, reset or deactivation either
    // comes first (and no session opens) or waits and then ends this one too.
    // Errors: invalid_credentials (the account changed since the password was checked).
    virtual async_result<opened_session> async_open(const new_session& s, core::deadline d) = 0;
    // By primary key (one indexed lookup). nullopt: unknown or malformed id.
    virtual async_result<std::optional<session>> async_find(std::string_view id, core::deadline d) = 0;
    // last_used_at = now() for a live session. False: unknown or revoked.
    virtual async_result<bool> async_touch(std::string_view id, core::deadline d) = 0;
    // Revokes a live session of `user_id`. False: unknown, someone else's or already ended.
    virtual async_result<bool> async_revoke(std::string_view id, std::int64_t user_id, std::string_view reason,
                                            core::deadline d) = 0;
    // Revokes a session whoever owns it (refresh reuse). False: unknown or already revoked.
    virtual async_result<bool> async_revoke_by_id(std::string_view id, std::string_view reason, core::deadline d) = 0;
    // Revokes every live session of the user except `except` (if set); returns the ids
    // revoked, so callers can drop them from their caches.
    virtual async_result<std::vector<std::string>> async_revoke_all(std::int64_t user_id,
                                                                    std::optional<std::string_view> except,
                                                                    std::string_view reason, core::deadline d) = 0;
    // Live sessions, newest first, at most `limit`.
    virtual async_result<std::vector<session>> async_list_live(std::int64_t user_id, int limit, core::deadline d) = 0;
};

// Refresh tokens as a counter on their session (sessions.refresh_counter): a token is
// signed with its session id and the counter it was issued at, and no row is kept per
// token. A rotation writes one row.
class refresh_token_repository {
public:
    virtual ~refresh_token_repository() = default;

    // Atomic rotation in one statement: if the session is live and its counter is still
    // `at.counter` (and, for a token issued before counters existed, its legacy_jti is
    // still `at.legacy_jti`), the counter moves on by one and refreshed_at and
    // last_used_at become now(). Of N parallel rotations of one position exactly one gets
    // a value; the others get nullopt and may call async_inspect to learn why. When the
    // call fails with an unavailable code the rotation may still have committed (a lost
    // reply): the session's counter then shows it.
    virtual async_result<std::optional<rotation>> async_rotate(const refresh_position& at, core::deadline d) = 0;
    // The session's refresh state. nullopt: unknown (or malformed) session id.
    virtual async_result<std::optional<refresh_state>> async_inspect(std::string_view session_id, core::deadline d) = 0;
    // Logout: ends `user_id`'s session (kept ended if it already was). Returns the session
    // id; nullopt: no such session of that user.
    virtual async_result<std::optional<std::string>> async_end(std::string_view session_id, std::int64_t user_id,
                                                               std::string_view reason, core::deadline d) = 0;
    // Deletes up to `batch` expired sessions and up to `batch` registrations of this
    // service left unverified for 7 days, in one round trip. Call again while a count
    // equals `batch`.
    virtual async_result<purge_report> async_purge(std::int64_t batch, core::deadline d) = 0;
};

// Multi-factor state: sealed TOTP secrets (auth seals and unseals them; the store never
// sees a secret in plain text), the last accepted time step, and recovery-code digests.
class mfa_repository {
public:
    virtual ~mfa_repository() = default;

    // The user's state; an empty state (nothing set, no codes) when MFA was never set up.
    virtual async_result<mfa_state> async_get(std::int64_t user_id, core::deadline d) = 0;
    // Stores a new pending secret, replacing a pending one; refused (false) while MFA is on.
    virtual async_result<bool> async_set_pending(std::int64_t user_id, std::string_view sealed, core::deadline d) = 0;
    // Turns MFA on in one statement: only while `pending_sealed` is still the pending
    // secret and `step` is later than the last accepted one; the pending secret becomes
    // the secret, `step` the last accepted step, users.mfa_enabled true, and `code_digests`
    // the whole recovery set. False: the pending secret changed or the step was used.
    virtual async_result<bool> async_enable(std::int64_t user_id, std::string_view pending_sealed, std::int64_t step,
                                            const std::vector<std::string>& code_digests, core::deadline d) = 0;
    // Accepts TOTP step `step` once: true only when MFA is on and `step` is later than
    // the last accepted step (which it becomes), so a code (or an earlier one) never works twice.
    virtual async_result<bool> async_use_step(std::int64_t user_id, std::int64_t step, core::deadline d) = 0;
    // Marks an unused recovery code (by digest) used; true only for the first caller.
    virtual async_result<bool> async_use_recovery_code(std::int64_t user_id, std::string_view digest,
                                                       core::deadline d) = 0;
    // Replaces the whole recovery set while MFA is on (false otherwise).
    virtual async_result<bool> async_replace_recovery_codes(std::int64_t user_id,
                                                            const std::vector<std::string>& code_digests,
                                                            core::deadline d) = 0;
    // Turns MFA off: the secret, any pending setup and every recovery code are deleted and
    // users.mfa_enabled is false. False: MFA was not on.
    virtual async_result<bool> async_disable(std::int64_t user_id, core::deadline d) = 0;
};

// What operators do to accounts (admin API and command line). Changes that could leave
// the service without an administrator are refused in the same statement that makes
// them, so two operators demoting each other at once cannot both succeed.
class admin_user_repository {
public:
    virtual ~admin_user_repository() = default;

    // Every user (any state), ascending by id after q.after_id; limit clamped to 1..1000.
    virtual async_result<std::vector<user>> async_list(const admin_user_query& q, core::deadline d) = 0;
    // Any user by id, whatever its state. nullopt: no such id.
    virtual async_result<std::optional<user>> async_get(std::int64_t id, core::deadline d) = 0;
    // Applies the set fields. Errors: username_taken. last_admin when demoting the last
    // enabled admin; not_found.
    virtual async_result<admin_change> async_update(std::int64_t id, const admin_user_update& u, core::deadline d) = 0;
    // Sets disabled_at (disabled = true) or clears it. last_admin: it is the last enabled admin.
    virtual async_result<admin_change> async_set_disabled(std::int64_t id, bool disabled, core::deadline d) = 0;
    // Deactivates the account (as its owner's deletion does). last_admin as above.
    virtual async_result<admin_change> async_delete(std::int64_t id, core::deadline d) = 0;
    // Marks the e-mail verified and activates a pending registration. unchanged: already verified.
    virtual async_result<admin_change> async_verify(std::int64_t id, core::deadline d) = 0;
    // Creates a verified, active admin. Errors: email_taken, username_taken.
    virtual async_result<user> async_create_admin(const new_user& u, core::deadline d) = 0;
};

// The append-only trail of security events.
class audit_repository {
public:
    virtual ~audit_repository() = default;

    // Appends `events` in one statement.
    virtual async_result<void> async_append(const std::vector<audit_record>& events, core::deadline d) = 0;
    // Newest first, filtered by q; limit clamped to 1..1000.
    virtual async_result<std::vector<audit_record>> async_list(const audit_query& q, core::deadline d) = 0;
    // Deletes up to `batch` events older than `before`; returns how many.
    virtual async_result<std::int64_t> async_purge(time_point before, std::int64_t batch, core::deadline d) = 0;
};

}  // namespace portcullis::store
