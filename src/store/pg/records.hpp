#pragma once
// Plain records exchanged with the repositories (no SQL, no libpq).

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace portcullis::store {

using time_point = std::chrono::system_clock::time_point;

struct user {
    std::int64_t id = 0;
    std::string email;
    std::string username;
    std::string password_hash;
    std::string full_name;
    std::string phone_number;
    bool is_active = false;
    std::optional<time_point> email_verified_at;  // null: registration still pending
    time_point date_joined{};
    std::optional<time_point> last_login;
    std::optional<time_point> password_changed_at;
    time_point updated_at{};
    bool mfa_enabled = false;               // a confirmed TOTP secret: login asks for a second factor
    std::string role = "user";              // "user" or "admin"
    std::optional<time_point> disabled_at;  // set: an operator disabled the account

    bool verified() const noexcept { return email_verified_at.has_value(); }
    bool admin() const noexcept { return role == "admin"; }
};

struct new_user {
    std::string email;
    std::string username;
    std::string password_hash;
    std::string full_name;
    std::string phone_number;
};

// Fields of PATCH /api/users/me; unset fields are left as they are.
struct profile_update {
    std::optional<std::string> full_name;
    std::optional<std::string> phone_number;
    std::optional<std::string> username;
};

struct activation {
    user account;
    bool activated = false;  // true only for the one call that activated the account
};

struct user_list_query {
    std::int64_t after_id = 0;  // keyset cursor: ids greater than this
    int limit = 20;
    std::string username_prefix;  // empty: no filter; wildcards are matched literally
};

struct session {
    std::string id;  // uuid
    std::int64_t user_id = 0;
    time_point created_at{};
    time_point last_used_at{};
    time_point expires_at{};
    std::optional<time_point> revoked_at;
    std::optional<std::string> revoke_reason;
    std::string user_agent;
    std::string ip;

    bool live(time_point now) const noexcept { return !revoked_at && expires_at > now; }
};

struct new_session {
    std::int64_t user_id = 0;
    time_point expires_at{};
    std::string user_agent;
    std::string ip;
    // The session opens only while the user is active and still has this hash (the
    // one the login verified).
    std::string verified_hash;
    int max_live = 0;  // live sessions kept per user, the new one included (oldest end first); 0: no cap
};

// A login: the session (its refresh counter starts at 0; users.last_login is set too).
struct opened_session {
    session sess;
    std::vector<std::string> ended;  // sessions ended to keep the user within max_live
};

// A refresh token as the database knows it: its session and the session's counter. The
// token signed with counter n is usable while the session's counter is n.
struct refresh_position {
    std::string session_id;
    std::int64_t counter = 0;
    // The token's id issued before counters existed: such a token (which carries no
    // counter) stands for counter 0 while it is the session's legacy_jti.
    std::optional<std::string> legacy_jti;
};

// A successful rotation: the session's new counter and when it moved.
struct rotation {
    std::string session_id;
    std::int64_t user_id = 0;
    std::int64_t counter = 0;
    time_point rotated_at{};
};

// A session's refresh state, read when a rotation did not happen.
struct refresh_state {
    std::string session_id;
    std::int64_t user_id = 0;
    std::int64_t counter = 0;
    std::optional<time_point> refreshed_at;  // when the counter last moved (null: never)
    std::optional<std::string> legacy_jti;
    std::optional<time_point> revoked_at;
    time_point expires_at{};

    bool live(time_point now) const noexcept { return !revoked_at && expires_at > now; }
};

// A user's multi-factor state (table mfa_totp plus the count of unused recovery codes).
struct mfa_state {
    std::optional<std::string> secret_sealed;   // the confirmed TOTP secret; set: MFA is on
    std::optional<std::string> pending_sealed;  // a setup not yet confirmed
    std::int64_t last_step = -1;                // the latest TOTP time step accepted (replay refusal)
    int recovery_codes_left = 0;

    bool enabled() const noexcept { return secret_sealed.has_value(); }
};

// Every user as operators see them (GET /api/admin/users).
enum class user_status {
    any = 0,
    active = 1,    // verified, not disabled, not deleted
    pending = 2,   // registration not yet verified
    disabled = 3,  // disabled by an operator
    deleted = 4,   // deleted by its owner or an operator (the row stays inactive)
};

struct admin_user_query {
    std::int64_t after_id = 0;  // keyset cursor: ids greater than this
    int limit = 20;
    std::string prefix;  // of the e-mail (case-insensitive) or the username; empty: any
    user_status status = user_status::any;
};

// Fields an operator may change (PATCH /api/admin/users/{id}); unset ones stay.
struct admin_user_update {
    std::optional<std::string> full_name;
    std::optional<std::string> phone_number;
    std::optional<std::string> username;
    std::optional<std::string> role;
};

// Why an operator's change was refused.
enum class admin_change {
    done = 0,
    not_found = 1,
    last_admin = 2,  // it would leave no enabled admin
    unchanged = 3,   // already in that state
};

// One security event of the audit trail (table audit_events).
struct audit_record {
    std::int64_t id = 0;  // assigned on insert
    time_point at{};
    std::string type;
    std::optional<std::int64_t> user_id;
    std::optional<std::int64_t> actor_id;
    std::string session_id;
    std::string ip;
    std::string user_agent;
    std::string request_id;
    std::string reason;
};

struct audit_query {
    std::optional<std::int64_t> user_id;
    std::string type;  // exact type, or a family "mfa.*"; empty: any
    std::optional<time_point> since;
    std::optional<time_point> until;
    std::optional<std::int64_t> before_id;  // keyset cursor: newest first, ids below this
    int limit = 50;
};

struct purge_report {
    std::int64_t sessions = 0;
    std::int64_t pending_users = 0;  // registrations never verified within 7 days
};

}  // namespace portcullis::store
