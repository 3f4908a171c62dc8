#pragma once
// What the four flow groups of auth::service share: the thread's dependencies, the
// settings, and the steps more than one flow takes (issuing tokens, password checks
// under their limits, sending and checking codes, ending sessions and announcing it).
// Internal to auth.

#include "auth/flow_types.hpp"
#include "auth/otp.hpp"

#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace portcullis::auth {

// Failures as outcomes.
failure validation(std::string field, std::string message);

template <class T>
outcome<T> fail(boost::system::error_code ec)
{
    return outcome<T>(boost::system::in_place_error, failure(ec));
}

template <class T>
outcome<T> fail(core::errc c)
{
    return outcome<T>(boost::system::in_place_error, failure(c));
}

// Passes on the failure of another flow step.
template <class T, class U>
outcome<T> pass(const outcome<U>& other)
{
    return outcome<T>(boost::system::in_place_error, other.error());
}

// 429 rate_limited with Retry-After.
template <class T>
outcome<T> limited(std::int64_t retry_after)
{
    failure f(core::errc::rate_limited);
    f.retry_after = retry_after;
    return outcome<T>(boost::system::in_place_error, std::move(f));
}

// Addresses are unique case-insensitively: codes, cooldowns and limits key on this form.
std::string canonical(std::string_view email);

// A positive decimal id, or nothing.
std::optional<std::int64_t> parse_id(std::string_view s);

// Invalidation events (see session_cache::apply).
std::string ended_session_event(std::string_view session_id);
std::string ended_user_event(std::int64_t user_id);
std::string changed_user_event(std::int64_t user_id);

class flow_context {
public:
    flow_context(service_deps d, auth_settings s) : deps(d), settings(std::move(s)) {}

    service_deps deps;
    auth_settings settings;

    bool exempt(std::string_view ip) const { return settings.ip_exempt && settings.ip_exempt(ip); }
    // A short keyed digest of an identifier, for key names (bounded, reveals nothing).
    std::string key_id(std::string_view identifier) const;
    // A keyed digest of a password hash: binds codes and reset tokens to the password.
    std::string state_id(std::string_view password_hash) const;
    std::string csrf_for(std::string_view session_id) const;
    // The access and refresh tokens of session `session_id` at refresh counter `counter`,
    // issued at `issued_at` (the refresh token expires refresh_lifetime later). The same
    // arguments give the same tokens. `otp`: the session passed a second factor (amr
    // ["pwd","otp"] instead of ["pwd"]).
    // `admin`: the role claim says "admin".
    token_pair issue(std::string_view session_id, std::int64_t counter, store::time_point issued_at,
                     std::int64_t user_id, bool otp = false, bool admin = false) const;
    // The id of the refresh token of `session_id` at `counter` (a keyed digest).
    std::string refresh_jti(std::string_view session_id, std::int64_t counter) const;
    // A refresh token with a counter carries the id derived from its session and counter
    // (compared in constant time); one issued before counters carries a uuid.
    bool refresh_id_matches(const claims& refresh) const;

    // Hands a security event to the audit sink (never waits, never fails).
    void record(std::string type, std::optional<std::int64_t> user_id, const request_meta& meta,
                std::string session_id = {}, std::string reason = {},
                std::optional<std::int64_t> actor = std::nullopt) const;

    // Opens a session for `u`, whose password check verified `verified_hash` (the
    // session opens only while it is still the user's hash), and issues its tokens.
    // Errors: invalid_credentials (the account changed meanwhile).
    async_outcome<login_result> async_open_session(store::user u, std::string verified_hash, std::string ip,
                                                   std::string user_agent, bool otp, core::deadline d);
    // The second step of a login whose password check verified `verified_hash`: a new
    // single-use mfa_token bound to that hash (settings.mfa_token_ttl).
    async_outcome<mfa_challenge> async_start_mfa(const store::user& u, std::string_view verified_hash,
                                                 core::deadline d);
    // The key under which the challenge of `mfa_token` is stored (a keyed digest).
    std::string mfa_challenge_id(std::string_view mfa_token) const;

    // Counts a request that sends mail to `email` against its per-network and
    // per-address limits: 429 when one is reached.
    async_outcome<void> async_request_allowed(store::kv::request_kind kind, const std::string& ip,
                                              const std::string& email, core::deadline d);

    // The limits around a password check of `account` ("u<id>" or "i<digest>") from `ip`.
    store::kv::password_guard password_guard_for(std::string account, const std::string& ip) const;

    // A password check under `g`'s limits: the attempt is counted first (429 when a
    // limit is reached), then `password` is verified against `stored` on the hash pool
    // (an empty `stored`: the same work against a dummy, and never right). A right
    // password gives the counted attempt back.
    async_outcome<verify_result> async_check_password(const store::kv::password_guard& g, std::string password,
                                                      std::string stored, core::deadline d);

    // The user, from the thread's cache or the primary; `missing` when unknown or inactive.
    async_outcome<store::user> async_load_user(std::int64_t id, core::errc missing, core::deadline d);
    // The user from the primary, never the cache (for decisions that change the account).
    async_outcome<store::user> async_find_active(std::int64_t id, core::errc missing, core::deadline d);

    // Applies `events` to this process's caches at once and publishes them to the other
    // instances before returning (a failure to publish is logged: the caches of other
    // instances then expire by TTL).
    boost::asio::awaitable<void> async_announce(std::vector<std::string> events, core::deadline d);
    boost::asio::awaitable<void> async_announce(std::string event, core::deadline d);
    // The same for a change that ends nothing, published in the background.
    boost::asio::awaitable<void> async_announce_later(std::string event);
    // Ends every session of the user but `except`, and announces it.
    async_outcome<void> async_end_sessions(std::int64_t user_id, std::optional<std::string> except,
                                           std::string_view reason, core::deadline d);

    async_outcome<void> async_enqueue_mail(std::string_view tmpl, const std::string& to, std::string values_json,
                                           core::deadline d);
    // Sends a new code for (purpose, u.email), bound to u's password hash: a later
    // registration of the address or a new password makes it worthless.
    async_outcome<void> async_send_code(const store::user& u, otp_purpose purpose, std::string_view tmpl,
                                        core::deadline d);
    // Checks `otp` for (purpose, email) bound to `binding` (see async_send_code), counting
    // failures for the address and for the client's network. Returns the address.
    async_outcome<std::string> async_check_code(otp_purpose purpose, const std::string& email, const std::string& otp,
                                                std::string_view binding, const std::string& ip, core::deadline d);
};

}  // namespace portcullis::auth
