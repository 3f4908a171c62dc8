#pragma once
// The four groups of auth flows, each over the thread's shared flow_context (see
// auth/service.hpp, which owns them). Inputs are plain values already taken out of the
// request; nothing here knows HTTP, SQL or Redis commands.

#include "auth/flow_context.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace portcullis::auth {

// Registration, e-mail verification and code resends.
class account_flows {
public:
    explicit account_flows(flow_context& c) : c_(c) {}

    async_outcome<store::user> async_register(register_input in, core::deadline d);
    async_outcome<store::user> async_verify_email(std::string email, std::string otp, std::string ip, core::deadline d,
                                                  request_meta meta = {});
    async_outcome<void> async_resend_otp(std::string email, std::string ip, core::deadline d);

private:
    // Whether the address passes the optional deliverability check.
    async_outcome<void> async_check_address(const std::string& email, core::deadline d);

    flow_context& c_;
};

// Authentication of requests, login, token refresh, logout and the user's sessions.
class session_flows {
public:
    explicit session_flows(flow_context& c) : c_(c) {}

    async_outcome<principal> async_authenticate(credentials c, core::deadline d);
    async_outcome<login_result> async_login(login_input in, core::deadline d);
    async_outcome<token_pair> async_refresh(std::string refresh, core::deadline d, request_meta meta = {});
    // `caller` is set when the request was authenticated too (its user must own the token).
    async_outcome<void> async_logout(std::string refresh, std::optional<principal> caller, core::deadline d,
                                     request_meta meta = {});
    async_outcome<void> async_logout_all(principal p, core::deadline d);
    async_outcome<session_view> async_current_session(principal p, core::deadline d);
    async_outcome<std::vector<store::session>> async_list_sessions(principal p, core::deadline d);
    async_outcome<void> async_end_session(principal p, std::string session_id, core::deadline d);

    // The CSRF token of a session (cookie mode).
    std::string csrf_for(std::string_view session_id) const { return c_.csrf_for(session_id); }
    // Cookie mode: a request that offers its refresh cookie (`refresh`) must echo its
    // session's CSRF token in the header (`header`), equal to the CSRF cookie (`cookie`).
    // Checked before the token is used, so a request that fails the check changes
    // nothing. Token errors are left to the flow.
    bool cookie_csrf_ok(std::string_view refresh, std::string_view header, std::string_view cookie) const;

private:
    // True when `refresh` is an authentic refresh token whose session's CSRF token is
    // not `csrf`.
    bool csrf_mismatch(std::string_view refresh, std::string_view csrf) const;
    // A refresh token presented again after its rotation: the same successor inside the
    // grace interval or after a lost reply; otherwise the session ends (reuse).
    // `presented`: the token's counter (-1: a legacy token already replaced).
    async_outcome<token_pair> async_refresh_used(const claims& cl, std::int64_t user_id, std::int64_t presented,
                                                 const store::refresh_state& state, core::deadline d,
                                                 request_meta meta);

    flow_context& c_;
};

// Password change, and forgotten-password reset by e-mailed code.
class password_flows {
public:
    explicit password_flows(flow_context& c) : c_(c) {}

    async_outcome<void> async_change_password(principal p, std::string old_password, std::string new_password,
                                              std::string confirm, std::string ip, core::deadline d);
    async_outcome<void> async_forgot_password(std::string email, std::string ip, core::deadline d);
    // A short-lived reset token for a right code.
    async_outcome<std::string> async_verify_reset_otp(std::string email, std::string otp, std::string ip,
                                                      core::deadline d);
    async_outcome<void> async_reset_password(std::string reset_token, std::string new_password, std::string confirm,
                                             core::deadline d, request_meta meta = {});

private:
    // The confirmation and the password policy for `u`'s new password.
    std::optional<failure> new_password_problems(const store::user& u, const std::string& new_password,
                                                 const std::string& confirm) const;
    // Stores the new hash, ends every session but `keep_session`, and queues the
    // "password changed" notice.
    async_outcome<void> async_apply(const store::user& u, std::string hash, std::optional<std::string> keep_session,
                                    std::string_view reason, core::deadline d);

    flow_context& c_;
};

// Multi-factor authentication: TOTP enrolment, recovery codes, and the second login
// step. Codes are checked under the login's limits (per account and per network, kept
// apart from password failures); a recovery code used is mailed to the user.
class mfa_flows {
public:
    explicit mfa_flows(flow_context& c) : c_(c) {}

    // A new pending secret (replacing a pending one). Errors: mfa_already_enabled.
    async_outcome<totp_setup> async_setup(principal p, core::deadline d);
    // Turns MFA on with a code of the pending secret; returns the recovery codes (shown
    // once) and ends every other session. Errors: mfa_already_enabled,
    // mfa_setup_required, invalid_code, rate_limited.
    async_outcome<std::vector<std::string>> async_confirm(principal p, std::string code, std::string ip,
                                                          core::deadline d);
    // Turns MFA off, given the password and a TOTP or recovery code. Errors:
    // mfa_not_enabled, validation_failed (password), invalid_code, rate_limited.
    async_outcome<void> async_disable(principal p, std::string password, std::string code, std::string ip,
                                      core::deadline d);
    // A new recovery set (the old one dies); the same proof as async_disable.
    async_outcome<std::vector<std::string>> async_new_recovery_codes(principal p, std::string password,
                                                                     std::string code, std::string ip,
                                                                     core::deadline d);
    async_outcome<mfa_status> async_status(principal p, core::deadline d);
    // The second login step: a right code for the mfa_token's user opens the session
    // (amr pwd+otp). Errors: mfa_token_invalid (unknown, used, expired, five wrong codes,
    // or the password changed since), invalid_code, rate_limited.
    async_outcome<login_result> async_verify(std::string mfa_token, mfa_code code, std::string ip,
                                             std::string user_agent, core::deadline d, std::string request_id = {});

private:
    // Checks `code` (TOTP, or a recovery code when `code.recovery` or not six digits)
    // against u's state under the per-account and per-network limits, consuming it.
    async_outcome<void> async_check_second_factor(const store::user& u, const store::mfa_state& st,
                                                  const mfa_code& code, const std::string& ip, core::deadline d);
    // The password check of disable / new recovery codes, then the code.
    async_outcome<store::mfa_state> async_prove(const store::user& u, std::string password, std::string code,
                                                const std::string& ip, core::deadline d);
    // Ten new codes and their digests for `user_id`.
    std::vector<std::string> new_recovery_codes(std::int64_t user_id, std::vector<std::string>& digests) const;

    flow_context& c_;
};

// Who does an operator's action: the admin's id (nullopt: the command line) and the
// request it came with.
struct operator_ref {
    std::optional<std::int64_t> actor;
    request_meta meta;
};

struct admin_user_page {
    std::vector<store::user> results;
    std::optional<std::string> next;
};

struct audit_page {
    std::vector<store::audit_record> results;
    std::optional<std::string> next;
};

// Operators' tools: every account whatever its state, and the audit trail. The HTTP
// layer calls async_authorize before any other method; the command line calls them
// directly. Every change is audited ("admin.*", actor and target) and ends or refreshes
// the account's sessions on every instance as the change requires.
class admin_flows {
public:
    explicit admin_flows(flow_context& c) : c_(c) {}

    // The caller's token says admin and its account is an enabled admin; the action is
    // counted against the operator's limit (settings.admin_action_limit a minute).
    // Errors: forbidden, rate_limited; db_unavailable when the admin store is absent.
    async_outcome<operator_ref> async_authorize(const principal& p, core::deadline d);

    async_outcome<admin_user_page> async_list(int limit, std::string cursor, std::string q, store::user_status status,
                                              core::deadline d);
    // Errors (all by id): not_found.
    async_outcome<store::user> async_get(std::string id, core::deadline d);
    // A role change ends the account's sessions (their tokens carry the old role).
    // Errors: validation_failed, username_taken, last_admin.
    async_outcome<store::user> async_update(operator_ref op, std::string id, store::admin_user_update u,
                                            core::deadline d);
    // Every session ends at once on every instance; login answers account_disabled.
    // Errors: last_admin.
    async_outcome<store::user> async_disable(operator_ref op, std::string id, core::deadline d);
    async_outcome<store::user> async_enable(operator_ref op, std::string id, core::deadline d);
    async_outcome<void> async_logout(operator_ref op, std::string id, core::deadline d);
    // Errors: already_verified.
    async_outcome<store::user> async_verify(operator_ref op, std::string id, core::deadline d);
    // Errors: already_verified.
    async_outcome<void> async_resend_verification(operator_ref op, std::string id, core::deadline d);
    // Errors: mfa_not_enabled.
    async_outcome<void> async_reset_mfa(operator_ref op, std::string id, core::deadline d);
    // Errors: last_admin.
    async_outcome<void> async_delete(operator_ref op, std::string id, core::deadline d);
    // A verified, active admin (command line). Errors: validation_failed, email_taken, username_taken.
    async_outcome<store::user> async_create_admin(operator_ref op, std::string email, std::string username,
                                                  std::string password, core::deadline d);

    // The audit trail, newest first; `cursor` continues a page.
    async_outcome<audit_page> async_audit(store::audit_query q, std::string cursor, core::deadline d);
    // The caller's own last 50 events (any user).
    async_outcome<std::vector<store::audit_record>> async_activity(const principal& p, core::deadline d);

private:
    // The id of `id` (not_found when malformed); db_unavailable without the admin store.
    outcome<std::int64_t> existing(const std::string& id) const;

    flow_context& c_;
};

// Profiles and the directory of active users.
class user_flows {
public:
    explicit user_flows(flow_context& c) : c_(c) {}

    async_outcome<user_page> async_list_users(int limit, std::string cursor, std::string prefix, core::deadline d);
    async_outcome<store::user> async_me(principal p, core::deadline d);
    async_outcome<store::user> async_update_me(principal p, store::profile_update u, core::deadline d);
    async_outcome<void> async_delete_me(principal p, std::string password, std::string ip, core::deadline d);
    // Any active user by id (own id included).
    async_outcome<store::user> async_get_user(principal p, std::string id, core::deadline d);

private:
    flow_context& c_;
};

}  // namespace portcullis::auth
