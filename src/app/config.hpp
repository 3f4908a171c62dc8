#pragma once
// Configuration in one place. Only this code reads the environment and `.env`;
// it fills typed settings with defaults and validates them at start-up. A bad
// value is reported with the variable's name and stops the process.

#include "core/log.hpp"
#include "net/server.hpp"

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

struct config {
    // Mode: PORTCULLIS_ENV=development allows a missing SECRET_KEY (a random
    // per-process key is used and announced); anything else is production.
    bool development = false;
    std::string secret_key;
    bool secret_key_generated = false;

    net::server_settings http;
    unsigned io_threads = 0;                             // IO_THREADS, default: cores
    std::chrono::milliseconds shutdown_timeout{10'000};  // SHUTDOWN_TIMEOUT (seconds)

    std::string database_url = "postgresql://localhost/portcullis";
    std::string database_read_url;  // DATABASE_READ_URL: replicas for the users list and others' profiles; empty: none
    unsigned database_pool_size = 8;  // per I/O thread (and per thread for DATABASE_READ_URL)
    std::chrono::milliseconds database_timeout{5'000};
    bool migrate_on_start = true;  // MIGRATE_ON_START

    std::string redis_url = "redis://127.0.0.1:6379/0";
    std::chrono::milliseconds redis_timeout{2'000};
    std::string redis_prefix = "portcullis:";
    std::string redis_sentinels;          // REDIS_SENTINELS: host:port,… (empty: REDIS_URL's host)
    std::string redis_sentinel_master;    // REDIS_SENTINEL_MASTER
    std::string redis_sentinel_password;  // REDIS_SENTINEL_PASSWORD
    unsigned redis_min_replicas = 0;      // REDIS_MIN_REPLICAS: WAIT for jobs and invalidation events

    std::string email_backend = "console";   // smtp | console | file
    bool email_backend_insecure_ok = false;  // EMAIL_BACKEND_INSECURE_OK: console/file in production
    std::string email_host = "localhost";
    unsigned email_port = 25;
    bool email_use_tls = false;
    bool email_use_ssl = false;
    std::string email_host_user;
    std::string email_host_password;
    bool email_allow_plaintext_auth = false;  // EMAIL_ALLOW_PLAINTEXT_AUTH
    std::string default_from_email = "Portcullis <no-reply@localhost>";
    std::string email_file_path = "mail";
    std::string email_ca_file;
    std::chrono::milliseconds email_timeout{10'000};
    std::string templates_dir;  // TEMPLATES_DIR; unset: default_templates_dir()

    // Access tokens: JWT_ALGORITHM HS256 | EdDSA | ES256 and where their keys come from.
    std::string jwt_algorithm = "HS256";
    std::string jwt_issuer = "portcullis";
    std::string jwt_audience;                       // JWT_AUDIENCE: `aud` of access tokens when set
    std::string jwt_signing_key;                    // JWT_SIGNING_KEY: HS256 key used as is (migration mode)
    std::string jwt_private_key_file;               // JWT_PRIVATE_KEY_FILE: PEM; keys managed outside
    std::vector<std::string> jwt_verify_key_files;  // JWT_VERIFY_KEY_FILES: more PEM keys, verify only
    std::chrono::seconds jwt_key_rotation{0};       // JWT_KEY_ROTATION: 0 = no automatic rotation
    std::chrono::seconds jwt_key_publish_ahead{0};  // JWT_KEY_PUBLISH_AHEAD: default access lifetime + 5 min
    std::chrono::seconds jwt_key_refresh{30};       // JWT_KEY_REFRESH: how often instances re-read the keys
    std::string jwt_jwks_uri;                       // JWT_JWKS_URI: advertised in the discovery document

    std::chrono::seconds access_token_lifetime{15 * 60};
    std::chrono::seconds refresh_token_lifetime{24 * 60 * 60};
    std::chrono::seconds refresh_reuse_interval{0};
    std::chrono::seconds otp_ttl{10 * 60};
    unsigned max_otp_attempts = 3;
    std::chrono::seconds otp_resend_cooldown{60};
    unsigned otp_max_failures_per_hour = 10;

    unsigned job_workers = 4;
    unsigned hash_threads = 0;  // default: cores
    unsigned hash_queue = 0;    // default: 64 per hash thread
    int hash_nice = 10;         // HASH_NICE: hashing yields CPU to requests

    std::string email_validation = "syntax";  // syntax | mx | mailboxlayer
    std::string mailboxlayer_access_key;
    std::string mailboxlayer_url = "https://apilayer.net/api/check";
    std::string mailboxlayer_ca_file;
    std::string dns_servers;  // empty: /etc/resolv.conf
    bool email_validation_fail_open = true;
    std::chrono::milliseconds email_validation_timeout{3'000};
    std::string disposable_domains_file;

    std::vector<cidr> rate_limit_exempt;
    unsigned login_fail_limit = 5;  // per account+IP per window
    std::chrono::seconds login_fail_window{15 * 60};
    unsigned login_ip_limit = 100;              // per IP per minute
    unsigned register_ip_limit = 20;            // register/resend/forgot per IP per hour
    unsigned address_limit = 5;                 // mails per address per hour
    unsigned login_account_limit = 100;         // consecutive failures per account, any IP
    unsigned login_account_free_failures = 10;  // before the account's back-off starts
    std::chrono::seconds login_account_max_delay{15 * 60};
    unsigned password_check_limit = 30;  // password checks per account per minute
    unsigned otp_ip_limit = 30;          // failed code checks per IP per hour
    unsigned max_sessions_per_user = 100;

    std::string argon2_memory_kib_text;  // raw, validated by auth
    unsigned argon2_memory_kib = 19 * 1024;
    unsigned argon2_iterations = 2;
    unsigned argon2_parallelism = 1;

    core::log::level log_level = core::log::level::info;
    bool cookie_secure = true;        // COOKIE_SECURE (only for local http testing)
    bool cookie_name_prefix = false;  // COOKIE_NAME_PREFIX: __Host- / __Secure- cookie names
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
