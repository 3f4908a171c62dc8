#pragma once
// Configuration in one place. Only this code reads the environment and `.env`;
// it fills typed settings with defaults and validates them at start-up. A bad
// value is reported with the variable's name and stops the process.

#include "app/webhooks.hpp"
#include "auth/flow_types.hpp"
#include "auth/hash_pool.hpp"
#include "auth/jwt.hpp"
#include "auth/signing_keys.hpp"
#include "core/log.hpp"
#include "jobs/queue.hpp"
#include "mail/settings.hpp"
#include "net/api.hpp"
#include "net/server.hpp"
#include "store/pg/settings.hpp"
#include "store/redis/settings.hpp"
#include "verify/address_checker.hpp"

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace portcullis::app {

// One CIDR block of RATE_LIMIT_EXEMPT (IPv4 or IPv6), address bytes in network order.
struct cidr {
    std::array<unsigned char, 16> address{};
    bool v6 = false;
    unsigned prefix = 0;

    bool contains(std::string_view ip) const;
};

// JWT_*: where the access-token keys come from, what tokens claim, how keys rotate.
struct token_keys {
    auth::jwt_settings claims;       // JWT_ISSUER, JWT_AUDIENCE
    auth::rotation_policy rotation;  // JWT_ALGORITHM, JWT_KEY_ROTATION, JWT_KEY_PUBLISH_AHEAD, JWT_KEY_REFRESH
    std::string signing_key;         // JWT_SIGNING_KEY: HS256 key used as is (migration mode)
    std::string private_key_file;    // JWT_PRIVATE_KEY_FILE: PEM; keys managed outside
    std::vector<std::string> verify_key_files;  // JWT_VERIFY_KEY_FILES: more PEM keys, verify only
    std::string jwks_uri;                       // JWT_JWKS_URI: advertised in the discovery document
};

// The configuration is the modules' own settings structs, filled here and nowhere else;
// each default lives once, in the module's header (docs/CONFIGURATION.md lists them).
struct config {
    // Mode: PORTCULLIS_ENV=development allows a missing SECRET_KEY (a random
    // per-process key is used and announced); anything else is production.
    bool development = false;
    std::string secret_key;
    bool secret_key_generated = false;

    net::server_settings http;
    unsigned io_threads = 0;                             // IO_THREADS, default: cores
    std::chrono::milliseconds shutdown_timeout{10'000};  // SHUTDOWN_TIMEOUT (seconds)

    store::pg::settings database;   // DATABASE_URL, DATABASE_POOL_SIZE (per I/O thread), DATABASE_TIMEOUT
    std::string database_read_url;  // DATABASE_READ_URL: replicas for the users list and others' profiles; empty: none
    bool migrate_on_start = true;   // MIGRATE_ON_START

    store::redis::settings redis;  // REDIS_URL, REDIS_TIMEOUT, REDIS_SENTINEL*, REDIS_MIN_REPLICAS
    jobs::queue_settings queue;    // REDIS_PREFIX (the prefix of every Redis key, not only the queue's)
    unsigned job_workers = 4;      // JOB_WORKERS

    mail::settings mail;                     // EMAIL_*, DEFAULT_FROM_EMAIL, TEMPLATES_DIR
    bool email_backend_insecure_ok = false;  // EMAIL_BACKEND_INSECURE_OK: console/file in production

    token_keys tokens;
    auth::auth_settings auth;              // lifetimes, one-time codes, rate limits
    auth::audit_settings audit;            // AUDIT_ENABLED, AUDIT_RETENTION_DAYS
    webhook_settings webhooks;             // WEBHOOK_*
    std::vector<cidr> rate_limit_exempt;   // RATE_LIMIT_EXEMPT (auth.ip_exempt asks these)
    auth::hash_pool_settings hashing;      // HASH_*, ARGON2_*
    verify::checker_settings email_check;  // EMAIL_VALIDATION*, MAILBOXLAYER_*, DNS_SERVERS, DISPOSABLE_DOMAINS_FILE

    core::log::level log_level = core::log::level::info;
    net::api_options cookies;  // COOKIE_SECURE, COOKIE_NAME_PREFIX
};

// Thrown by load_config with every problem found, one per line, each naming its variable.
class config_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Reads `.env` (path from PORTCULLIS_ENV_FILE, default ./.env; missing is fine) and
// the process environment (which wins) into a validated config.
config load_config();

// The same from explicit sources (for tests): `env` overrides `dotenv`.
config load_config(const std::map<std::string, std::string>& env, const std::map<std::string, std::string>& dotenv);

// Parses the text of a .env file: KEY=VALUE lines, comments, optional quotes.
// Throws config_error naming the line of a malformed entry.
std::map<std::string, std::string> parse_dotenv(std::string_view text);

// Parses "a.b.c.d/n" or "x::y/n" (a bare address is a single host).
std::optional<cidr> parse_cidr(std::string_view text);

}  // namespace portcullis::app
