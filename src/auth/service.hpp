#pragma once
// The auth flows of the contract: account lifecycle, sessions, password flows and
// users. One service per I/O thread, bound to that thread's repositories, Redis
// state and cache. Inputs are plain values already taken out of the request;
// results are records or a `failure` (an error code, field details for
// validation_failed, and Retry-After seconds for rate limits). The HTTP layer turns
// both into responses; nothing here knows HTTP, SQL or Redis commands.

#include "auth/hash_pool.hpp"
#include "auth/jwt.hpp"
#include "auth/password_policy.hpp"
#include "auth/session_cache.hpp"
#include "auth/signing_keys.hpp"
#include "core/error.hpp"
#include "core/random.hpp"
#include "core/timeout.hpp"
#include "store/kv/auth_kv.hpp"
#include "store/pg/repositories.hpp"

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace portcullis::jobs {
class producer;
}

namespace portcullis::auth {

struct failure {
    boost::system::error_code code;
    std::vector<std::pair<std::string, std::string>> details;
    std::int64_t retry_after = 0;

    failure() = default;
    failure(boost::system::error_code c) : code(c) {}    // NOLINT: implicit on purpose
    failure(core::errc c) : code(make_error_code(c)) {}  // NOLINT
    failure(core::errc c, std::vector<std::pair<std::string, std::string>> d)
        : code(make_error_code(c)), details(std::move(d))
    {
    }
};

template <class T>
using outcome = boost::system::result<T, failure>;

template <class T>
using async_outcome = boost::asio::awaitable<outcome<T>>;

struct auth_settings {
    std::chrono::seconds access_lifetime{15 * 60};
    std::chrono::seconds refresh_lifetime{24 * 60 * 60};
    std::chrono::seconds refresh_reuse_interval{0};
    std::chrono::seconds reset_lifetime{15 * 60};
    std::chrono::seconds otp_ttl{10 * 60};
    int max_otp_attempts = 3;
    std::chrono::seconds otp_resend_cooldown{60};
    int otp_max_failures_per_hour = 10;

    int login_fail_limit = 5;  // per account + IP (IPv6: /64)
    std::chrono::seconds login_fail_window{15 * 60};
    int login_ip_limit = 100;       // failures per IP per minute
    int login_account_limit = 100;  // consecutive failures per account from any IP
    int login_account_free = 10;    // failures before the account's back-off starts
    std::chrono::seconds login_account_max_wait{15 * 60};
    int password_check_limit = 30;    // password checks per account per minute, successes included
    int otp_ip_limit = 30;            // failed code checks per IP per hour
    int max_sessions_per_user = 100;  // live sessions; the oldest end first
    int request_ip_limit = 20;        // register/resend/forgot per IP per hour
    int address_limit = 5;            // those per address per hour

    // Peers that skip the per-IP limits (RATE_LIMIT_EXEMPT).
    std::function<bool(std::string_view ip)> ip_exempt;
};

// Where the flows' derived keys live (built once from SECRET_KEY, shared read-only).
struct key_set {
    jwt_key jwt;  // refresh and reset tokens (and access tokens of earlier versions)
    hmac_key otp;
    hmac_key csrf;
    hmac_key cursor;
    hmac_key ids;      // digests of identifiers inside Redis key names
    std::string seal;  // 32 bytes, AES-256-GCM for secrets inside job payloads
    // Access tokens: by default HS256 under `jwt`; the wiring swaps in the configured keys.
    std::shared_ptr<key_ring> access;

    explicit key_set(std::string_view secret_key, jwt_settings settings = {});
};

// What a deliverability check found about an address.
struct address_verdict {
    bool accepted = true;
    std::string reason;  // when refused: the sentence for the validation_failed detail
};

// Optional check of an e-mail address beyond syntax: the disposable-domain list and
// EMAIL_VALIDATION mx or mailboxlayer (src/verify). Errors are infrastructure failures
// (the checker was unreachable or timed out), which the service treats per `fail_open`.
class email_checker {
public:
    virtual ~email_checker() = default;
    virtual boost::asio::awaitable<core::result<address_verdict>> async_check(std::string email, core::deadline d) = 0;
    virtual bool fail_open() const noexcept = 0;
};

// Receives cache invalidations for every I/O thread of this process (the other
// instances learn them through the Redis stream).
class invalidation_sink {
public:
    virtual ~invalidation_sink() = default;
    virtual void broadcast(const std::string& event) = 0;
};

// The caller of an authenticated request.
struct principal {
    std::int64_t user_id = 0;
    std::string session_id;
    bool via_cookie = false;
};

// What the request offers as credentials.
struct credentials {
    std::string_view bearer;  // from Authorization: Bearer
    std::string_view access_cookie;
    std::string_view csrf_header;  // X-CSRF-Token
    std::string_view csrf_cookie;
    bool unsafe_method = false;  // POST, PATCH, PUT, DELETE need the CSRF echo with cookies
};

struct token_pair {
    std::string access;
    std::string refresh;
    std::chrono::seconds expires_in{0};
    std::string session_id;
    std::string csrf;  // double-submit token bound to the session (cookie mode)
};

struct login_result {
    token_pair tokens;
    store::user user;
};

struct register_input {
    std::string email;
    std::string username;
    std::string password;
    std::string full_name;
    std::string phone_number;
    std::string ip;
};

struct login_input {
    std::string identifier;  // e-mail or username
    std::string password;
    std::string ip;
    std::string user_agent;
};

struct session_view {
    store::user user;
    store::session session;
};

struct user_page {
    std::vector<store::user> results;
    std::optional<std::string> next;
};

class service {
public:
    struct deps {
        store::user_repository& users;
        store::session_repository& sessions;
        store::refresh_token_repository& tokens;
        store::kv::auth_kv& kv;
        jobs::producer& jobs;
        hash_pool& hashes;
        const key_set& keys;
        const password_policy& policy;
        session_cache& cache;
        invalidation_sink& sink;
        email_checker* checker = nullptr;  // null: syntax only
        // Reads of what other users may see of each other (the users list, someone else's
        // profile), e.g. from a replica that may lag behind; never used for anything that
        // decides authentication. Null: `users`.
        store::user_repository* directory = nullptr;
        const core::clock& clock = core::system_clock();
    };

    service(deps d, auth_settings settings);

    async_outcome<principal> async_authenticate(credentials c, core::deadline d);

    async_outcome<store::user> async_register(register_input in, core::deadline d);
    async_outcome<store::user> async_verify_email(std::string email, std::string otp, std::string ip, core::deadline d);
    async_outcome<void> async_resend_otp(std::string email, std::string ip, core::deadline d);
    async_outcome<login_result> async_login(login_input in, core::deadline d);
    async_outcome<token_pair> async_refresh(std::string refresh, core::deadline d);
    // `caller` is set when the request was authenticated too (its user must own the token).
    async_outcome<void> async_logout(std::string refresh, std::optional<principal> caller, core::deadline d);
    async_outcome<void> async_logout_all(principal p, core::deadline d);
    async_outcome<session_view> async_current_session(principal p, core::deadline d);
    async_outcome<std::vector<store::session>> async_list_sessions(principal p, core::deadline d);
    async_outcome<void> async_end_session(principal p, std::string session_id, core::deadline d);
    async_outcome<void> async_change_password(principal p, std::string old_password, std::string new_password,
                                              std::string confirm, std::string ip, core::deadline d);
    async_outcome<void> async_forgot_password(std::string email, std::string ip, core::deadline d);
    async_outcome<std::string> async_verify_reset_otp(std::string email, std::string otp, std::string ip,
                                                      core::deadline d);
    async_outcome<void> async_reset_password(std::string reset_token, std::string new_password, std::string confirm,
                                             core::deadline d);

    async_outcome<user_page> async_list_users(principal p, int limit, std::string cursor, std::string prefix,
                                              core::deadline d);
    async_outcome<store::user> async_me(principal p, core::deadline d);
    async_outcome<store::user> async_update_me(principal p, store::profile_update u, core::deadline d);
    async_outcome<void> async_delete_me(principal p, std::string password, std::string ip, core::deadline d);
    // Any active user by id (own id included).
    async_outcome<store::user> async_get_user(principal p, std::string id, core::deadline d);

    // The CSRF token of a session (cookie mode).
    std::string csrf_for(std::string_view session_id) const;
    // Cookie mode: true when `refresh` is an authentic refresh token whose session's
    // CSRF token is not `csrf`. Checked before the token is used, so a request that
    // fails the CSRF check changes nothing. Token errors are left to the flow.
    bool csrf_mismatch(std::string_view refresh, std::string_view csrf) const;

    const auth_settings& settings() const noexcept { return settings_; }

private:
    token_pair issue(const store::refresh_token& rt, std::int64_t user_id) const;
    async_outcome<void> async_check_address(const std::string& email, core::deadline d);
    // Sends a new code for (purpose, u.email), bound to u's password hash: a later
    // registration of the address or a new password makes it worthless.
    async_outcome<void> async_send_code(const store::user& u, std::string_view purpose, std::string_view tmpl,
                                        core::deadline d);
    async_outcome<void> async_enqueue_mail(std::string_view tmpl, const std::string& to, std::string values_json,
                                           core::deadline d);
    // Checks `otp` for (purpose, email) bound to `binding` (see async_send_code), counting
    // failures for the address and for the client's network.
    async_outcome<std::string> async_check_code(std::string_view purpose, const std::string& email,
                                                const std::string& otp, std::string_view binding, const std::string& ip,
                                                core::deadline d);
    // The limits around a password check of `account` ("u<id>" or "i<digest>") from `ip`.
    store::kv::password_guard password_guard_for(std::string account, const std::string& ip) const;
    // Ends the sessions a login closed to stay within max_sessions_per_user.
    boost::asio::awaitable<void> async_forget_sessions(const std::vector<std::string>& ids, core::deadline d);
    // A short keyed digest of an identifier, for Redis key names (bounded, reveals nothing).
    std::string key_id(std::string_view identifier) const;
    // A keyed digest of a password hash: binds codes and reset tokens to the password.
    std::string state_id(std::string_view password_hash) const;
    // Stores the new hash, ends every session but `keep_session`, and queues the
    // "password changed" notice.
    async_outcome<void> async_apply_new_password(const store::user& u, std::string hash,
                                                 std::optional<std::string> keep_session, std::string_view reason,
                                                 core::deadline d);
    async_outcome<void> async_end_sessions(std::int64_t user_id, std::optional<std::string> except,
                                           std::string_view reason, core::deadline d);
    async_outcome<store::user> async_load_user(std::int64_t id, core::deadline d);
    // Drops `event` from this process's caches now and publishes it to other instances
    // in the background (for changes that do not end sessions).
    boost::asio::awaitable<void> async_invalidate(std::string event);
    std::vector<store::kv::limit> request_limits(std::string_view kind, const std::string& ip,
                                                 const std::string& email) const;
    bool exempt(std::string_view ip) const { return settings_.ip_exempt && settings_.ip_exempt(ip); }

    deps d_;
    auth_settings settings_;
};

// The part of a client address that per-IP limits key on: IPv4 as it is, IPv6 by its
// /64 (one subscriber's usual allocation, so rotating addresses inside it gains
// nothing), an IPv4-mapped IPv6 address as IPv4.
std::string limit_network(std::string_view ip);

// Pagination cursor helpers (exposed for tests): opaque, tamper-evident.
std::string encode_cursor(const hmac_key& key, std::int64_t last_id);
std::optional<std::int64_t> decode_cursor(const hmac_key& key, std::string_view cursor);

}  // namespace portcullis::auth
