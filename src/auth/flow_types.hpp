#pragma once
// The values the auth flows take and give (see auth/service.hpp): inputs are plain
// values already taken out of the request; results are records or a `failure` (an
// error code, field details for validation_failed, and Retry-After seconds for rate
// limits). The HTTP layer turns both into responses.

#include "auth/audit.hpp"
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
class enqueuer;
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

    // Multi-factor authentication (TOTP, RFC 6238: SHA-1, 6 digits, 30 s).
    std::string mfa_issuer = "Portcullis";       // the otpauth URI's issuer (the site name)
    std::chrono::seconds mfa_token_ttl{5 * 60};  // the second login step's mfa_token
    int mfa_max_attempts = 5;                    // codes tried per mfa_token

    int admin_action_limit = 60;  // ADMIN_RATE_LIMIT: admin API requests per operator per minute

    // Peers that skip the per-IP limits (RATE_LIMIT_EXEMPT).
    std::function<bool(std::string_view ip)> ip_exempt;
};

// Where the flows' derived keys live (built once from SECRET_KEY, shared read-only).
struct key_set {
    jwt_key jwt;  // refresh and reset tokens (and access tokens of earlier versions)
    hmac_key otp;
    hmac_key csrf;
    hmac_key cursor;
    hmac_key ids;          // digests of identifiers inside Redis key names
    std::string seal;      // 32 bytes, AES-256-GCM for secrets inside job payloads
    std::string mfa_seal;  // 32 bytes, AES-256-GCM for TOTP secrets at rest ("mfa-totp")
    hmac_key recovery;     // digests of recovery codes at rest ("mfa-recovery")
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
    bool admin = false;   // the token's role claim (admin flows check the account too)
    request_meta meta{};  // filled by the HTTP layer
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

// The second login step a user with MFA must take (POST /api/auth/mfa/verify).
struct mfa_challenge {
    std::string token;
    std::chrono::seconds expires_in{0};
};

// A login: tokens and the user, or (MFA on) only the challenge of the second step.
struct login_result {
    token_pair tokens;
    store::user user;
    std::optional<mfa_challenge> mfa;
};

// TOTP enrolment: the secret in base32 and its otpauth URI (shown once).
struct totp_setup {
    std::string secret;
    std::string otpauth_uri;
};

struct mfa_status {
    bool totp = false;
    int recovery_codes_left = 0;
};

// A second factor offered by the client: a TOTP code or a recovery code.
struct mfa_code {
    std::string code;
    bool recovery = false;
};

struct register_input {
    std::string email;
    std::string username;
    std::string password;
    std::string full_name;
    std::string phone_number;
    std::string ip;
    request_meta meta{};
};

struct login_input {
    std::string identifier;  // e-mail or username
    std::string password;
    std::string ip;
    std::string user_agent;
    std::string request_id{};
};

struct session_view {
    store::user user;
    store::session session;
};

struct user_page {
    std::vector<store::user> results;
    std::optional<std::string> next;
};

// What the flows of one I/O thread work with.
struct service_deps {
    store::user_repository& users;
    store::session_repository& sessions;
    store::refresh_token_repository& tokens;
    store::kv::auth_kv& kv;
    jobs::enqueuer& jobs;
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
    // Multi-factor state; null: MFA is not available (its routes answer 503), and login
    // never asks for a second step.
    store::mfa_repository* mfa = nullptr;
    // The audit trail: where events go (null: nowhere), and where they are read back
    // (null: the activity and audit routes answer 503).
    audit_sink* audit = nullptr;
    store::audit_repository* audit_log = nullptr;
    // Operators' access to every account; null: the admin routes answer 503.
    store::admin_user_repository* admin = nullptr;
};

// The part of a client address that per-IP limits key on: IPv4 as it is, IPv6 by its
// /64 (one subscriber's usual allocation, so rotating addresses inside it gains
// nothing), an IPv4-mapped IPv6 address as IPv4.
std::string limit_network(std::string_view ip);

// Pagination cursor helpers (exposed for tests): opaque, tamper-evident.
std::string encode_cursor(const hmac_key& key, std::int64_t last_id);
std::optional<std::int64_t> decode_cursor(const hmac_key& key, std::string_view cursor);

}  // namespace portcullis::auth
