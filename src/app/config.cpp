// Why one file of this size: every environment variable is read, checked and
// documented in one place, so a setting's name, default and error message are found
// with one search.
#include "app/config.hpp"

#include "auth/jwt.hpp"
#include "auth/password_hash.hpp"
#include "core/random.hpp"
#include "core/text.hpp"
#include "store/redis/settings.hpp"
#include "verify/dns.hpp"

#include <arpa/inet.h>
#include <unistd.h>

#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

extern char** environ;

namespace portcullis::app {
namespace {

// The example key once printed in docs/CONFIGURATION.md: known to every reader.
constexpr std::string_view documented_example_key = "0b6f0d2c6a9c4f7d8e1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f70";

std::size_t distinct_bytes(std::string_view s)
{
    bool seen[256] = {};
    std::size_t n = 0;
    for (char ch : s) {
        auto& b = seen[static_cast<unsigned char>(ch)];
        n += b ? 0 : 1;
        b = true;
    }
    return n;
}

std::string_view trim(std::string_view s)
{
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
    return s;
}

// The mail templates when TEMPLATES_DIR is unset, whatever the working directory: the
// installed data directory for the installed binary; for a build run in place, the
// source tree's templates/ while it exists (then the installed one).
std::string default_templates_dir()
{
    namespace fs = std::filesystem;
    const fs::path installed = fs::path(PORTCULLIS_DATA_DIR) / "templates";
    std::error_code ec;
    const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    const bool is_installed = !ec && exe == fs::path(PORTCULLIS_BIN_DIR) / "portcullis";
    const fs::path source = fs::path(PORTCULLIS_SOURCE_DIR) / "templates";
    if (!is_installed && fs::is_directory(source, ec)) return source.string();
    return installed.string();
}

// Collects every problem so one start-up attempt reports all of them.
class reader {
public:
    reader(const std::map<std::string, std::string>& env, const std::map<std::string, std::string>& dotenv)
        : env_(env), dotenv_(dotenv)
    {
    }

    std::optional<std::string> raw(const char* name) const
    {
        if (auto it = env_.find(name); it != env_.end()) return it->second;
        if (auto it = dotenv_.find(name); it != dotenv_.end()) return it->second;
        return std::nullopt;
    }

    void fail(const char* name, const std::string& why) { errors_ += std::string(name) + ": " + why + "\n"; }

    void str(const char* name, std::string& out)
    {
        if (auto v = raw(name)) out = *v;
    }

    void path(const char* name, std::filesystem::path& out)
    {
        if (auto v = raw(name)) out = *v;
    }

    void one_of(const char* name, std::string& out, std::initializer_list<std::string_view> allowed)
    {
        auto v = raw(name);
        if (!v) return;
        for (auto a : allowed) {
            if (*v == a) {
                out = *v;
                return;
            }
        }
        std::string list;
        for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
        fail(name, "must be one of " + list);
    }

    template <class N>
    void number(const char* name, N& out, N min, N max)
    {
        auto v = raw(name);
        if (!v) return;
        std::string_view s = trim(*v);
        N parsed{};
        auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), parsed);
        if (ec != std::errc{} || p != s.data() + s.size() || s.empty()) {
            fail(name, "must be a whole number");
            return;
        }
        if (parsed < min || parsed > max) {
            fail(name, "must be between " + std::to_string(min) + " and " + std::to_string(max));
            return;
        }
        out = parsed;
    }

    template <class Rep, class Period>
    void seconds(const char* name, std::chrono::duration<Rep, Period>& out, std::int64_t min, std::int64_t max)
    {
        std::int64_t secs = std::chrono::duration_cast<std::chrono::seconds>(out).count();
        number<std::int64_t>(name, secs, min, max);
        out = std::chrono::duration_cast<std::chrono::duration<Rep, Period>>(std::chrono::seconds(secs));
    }

    // Whole seconds, or a number followed by s, m, h or d ("7d").
    void span(const char* name, std::chrono::seconds& out, std::int64_t min, std::int64_t max)
    {
        auto v = raw(name);
        if (!v) return;
        std::string_view s = trim(*v);
        std::int64_t unit = 1;
        if (!s.empty() && std::string_view("smhd").find(s.back()) != std::string_view::npos) {
            constexpr std::int64_t units[] = {1, 60, 3600, 86400};
            unit = units[std::string_view("smhd").find(s.back())];
            s.remove_suffix(1);
        }
        std::int64_t parsed = 0;
        auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), parsed);
        if (ec != std::errc{} || p != s.data() + s.size() || s.empty() || parsed < 0 || parsed > max / unit) {
            fail(name, "must be a duration in seconds, or with a unit: 90s, 15m, 12h, 7d (at most " +
                           std::to_string(max) + " seconds)");
            return;
        }
        parsed *= unit;
        if (parsed < min) {
            fail(name, "must be at least " + std::to_string(min) + " seconds");
            return;
        }
        out = std::chrono::seconds(parsed);
    }

    void boolean(const char* name, bool& out)
    {
        auto v = raw(name);
        if (!v) return;
        std::string s(trim(*v));
        for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (s == "1" || s == "true" || s == "yes" || s == "on")
            out = true;
        else if (s == "0" || s == "false" || s == "no" || s == "off")
            out = false;
        else
            fail(name, "must be true or false");
    }

    // Each non-empty item of the comma-separated list `name` (trimmed), when it is set.
    template <class F>
    void items(const char* name, F each)
    {
        auto v = raw(name);
        if (!v) return;
        std::string_view rest = *v;
        while (!rest.empty()) {
            auto comma = rest.find(',');
            std::string_view item = trim(rest.substr(0, comma));
            rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
            if (!item.empty()) each(item);
        }
    }

    const std::string& errors() const { return errors_; }

private:
    const std::map<std::string, std::string>& env_;
    const std::map<std::string, std::string>& dotenv_;
    std::string errors_;
};

unsigned cores()
{
    unsigned n = std::thread::hardware_concurrency();
    return n == 0 ? 1 : n;
}

bool parse_listen(std::string_view text, std::string& host, std::uint16_t& port)
{
    std::string_view h;
    std::string_view p;
    if (!text.empty() && text.front() == '[') {
        auto close = text.find(']');
        if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') return false;
        h = text.substr(1, close - 1);
        p = text.substr(close + 2);
    } else {
        auto colon = text.rfind(':');
        if (colon == std::string_view::npos) return false;
        h = text.substr(0, colon);
        p = text.substr(colon + 1);
    }
    unsigned value = 0;
    auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), value);
    if (ec != std::errc{} || ptr != p.data() + p.size() || value > 65535 || p.empty()) return false;
    unsigned char buf[16];
    std::string hs(h);
    if (inet_pton(AF_INET, hs.c_str(), buf) != 1 && inet_pton(AF_INET6, hs.c_str(), buf) != 1) return false;
    host = hs;
    port = static_cast<std::uint16_t>(value);
    return true;
}

void read_jwt(reader& r, config& c)
{
    using auth::jws_alg;
    token_keys& t = c.tokens;
    const std::string_view hs256 = auth::to_string(jws_alg::hs256);
    std::string algorithm(auth::to_string(t.rotation.algorithm));
    r.one_of("JWT_ALGORITHM", algorithm, {hs256, auth::to_string(jws_alg::eddsa), auth::to_string(jws_alg::es256)});
    t.rotation.algorithm = auth::parse_jws_alg(algorithm).value_or(jws_alg::hs256);
    const bool is_hs256 = t.rotation.algorithm == jws_alg::hs256;
    r.str("JWT_ISSUER", t.claims.issuer);
    if (t.claims.issuer.empty()) r.fail("JWT_ISSUER", "must not be empty");
    r.str("JWT_AUDIENCE", t.claims.audience);
    r.str("JWT_SIGNING_KEY", t.signing_key);
    if (!t.signing_key.empty()) {
        if (!is_hs256) r.fail("JWT_SIGNING_KEY", "applies to JWT_ALGORITHM=HS256 only");
        if (t.signing_key.size() < 32 && !c.development) r.fail("JWT_SIGNING_KEY", "must be at least 32 characters");
    }
    r.str("JWT_PRIVATE_KEY_FILE", t.private_key_file);
    if (!t.private_key_file.empty() && is_hs256) r.fail("JWT_PRIVATE_KEY_FILE", "needs JWT_ALGORITHM=EdDSA or ES256");
    r.items("JWT_VERIFY_KEY_FILES", [&](std::string_view item) { t.verify_key_files.emplace_back(item); });
    if (!t.verify_key_files.empty() && t.private_key_file.empty()) {
        r.fail("JWT_VERIFY_KEY_FILES", "needs JWT_PRIVATE_KEY_FILE");
    }
    r.span("JWT_KEY_ROTATION", t.rotation.rotation, 0, 3650 * 86400L);
    t.rotation.access_lifetime = c.auth.access_lifetime;
    t.rotation.publish_ahead = c.auth.access_lifetime + std::chrono::minutes(5);
    r.span("JWT_KEY_PUBLISH_AHEAD", t.rotation.publish_ahead, 1, 365 * 86400L);
    r.span("JWT_KEY_REFRESH", t.rotation.refresh_interval, 1, 3600);
    if (t.rotation.publish_ahead < 2 * t.rotation.refresh_interval) {
        r.fail("JWT_KEY_PUBLISH_AHEAD",
               "must be at least twice JWT_KEY_REFRESH, so every instance sees a key before it signs");
    }
    if (t.rotation.rotation.count() > 0) {
        if (is_hs256) r.fail("JWT_KEY_ROTATION", "needs JWT_ALGORITHM=EdDSA or ES256");
        if (!t.private_key_file.empty()) r.fail("JWT_KEY_ROTATION", "cannot rotate keys given as files");
        if (t.rotation.rotation <= t.rotation.publish_ahead) {
            r.fail("JWT_KEY_ROTATION", "must be longer than JWT_KEY_PUBLISH_AHEAD");
        }
    }
    r.str("JWT_JWKS_URI", t.jwks_uri);
    if (!t.jwks_uri.empty() && !t.jwks_uri.starts_with("https://") && !t.jwks_uri.starts_with("http://")) {
        r.fail("JWT_JWKS_URI", "must be an absolute http(s) URL");
    }
}

void read_redis(reader& r, config& c)
{
    std::string url = "redis://" + c.redis.host + ":" + std::to_string(c.redis.port) + "/" + std::to_string(c.redis.db);
    r.str("REDIS_URL", url);
    r.seconds("REDIS_TIMEOUT", c.redis.command_timeout, 1, 600);
    if (url.rfind("redis://", 0) != 0) {
        r.fail("REDIS_URL", "must start with redis://");
    } else if (auto parsed = store::redis::parse_url(url, c.redis)) {
        c.redis = std::move(*parsed);
    } else {
        r.fail("REDIS_URL", "must be redis://[:password@]host[:port][/db]");
    }
    r.str("REDIS_PREFIX", c.queue.prefix);
    std::string sentinels;
    r.str("REDIS_SENTINELS", sentinels);
    r.str("REDIS_SENTINEL_MASTER", c.redis.sentinel_master);
    r.str("REDIS_SENTINEL_PASSWORD", c.redis.sentinel_password);
    if (!sentinels.empty()) {
        if (auto endpoints = store::redis::parse_endpoints(sentinels)) {
            c.redis.sentinels = std::move(*endpoints);
        } else {
            r.fail("REDIS_SENTINELS", "must be a comma-separated list of host:port ([v6]:port for IPv6)");
        }
        if (c.redis.sentinel_master.empty()) r.fail("REDIS_SENTINEL_MASTER", "is required with REDIS_SENTINELS");
    }
    r.number<unsigned>("REDIS_MIN_REPLICAS", c.redis.min_replicas, 0, 64);
}

void read_mail(reader& r, config& c)
{
    mail::settings& m = c.mail;
    std::string backend = m.backend == mail::backend_kind::smtp      ? "smtp"
                          : m.backend == mail::backend_kind::console ? "console"
                                                                     : "file";
    r.one_of("EMAIL_BACKEND", backend, {"smtp", "console", "file"});
    m.backend = mail::parse_backend_kind(backend).value_or(m.backend);
    r.boolean("EMAIL_BACKEND_INSECURE_OK", c.email_backend_insecure_ok);
    // console logs every mail, codes included; file keeps them on disk: both hand the
    // codes to whoever reads the logs or the directory.
    if (!c.development && m.backend != mail::backend_kind::smtp && !c.email_backend_insecure_ok) {
        r.fail("EMAIL_BACKEND", "'" + backend +
                                    "' exposes one-time codes (logs or files) and is refused in production: use smtp, "
                                    "or set EMAIL_BACKEND_INSECURE_OK=true");
    }
    r.str("EMAIL_HOST", m.host);
    r.number<std::uint16_t>("EMAIL_PORT", m.port, 1, 65535);
    r.boolean("EMAIL_USE_TLS", m.use_tls);
    r.boolean("EMAIL_USE_SSL", m.use_ssl);
    if (m.use_tls && m.use_ssl) r.fail("EMAIL_USE_SSL", "cannot be combined with EMAIL_USE_TLS");
    r.str("EMAIL_HOST_USER", m.username);
    r.str("EMAIL_HOST_PASSWORD", m.password);
    r.boolean("EMAIL_ALLOW_PLAINTEXT_AUTH", m.allow_plaintext_auth);
    if (m.backend == mail::backend_kind::smtp && !m.username.empty() && !m.use_tls && !m.use_ssl &&
        !m.allow_plaintext_auth) {
        r.fail("EMAIL_HOST_USER",
               "would be sent without TLS: set EMAIL_USE_TLS or EMAIL_USE_SSL (or "
               "EMAIL_ALLOW_PLAINTEXT_AUTH=true for a trusted relay)");
    }
    r.str("DEFAULT_FROM_EMAIL", m.from);
    r.path("EMAIL_FILE_PATH", m.file_path);
    r.path("EMAIL_CA_FILE", m.ca_file);
    r.seconds("EMAIL_TIMEOUT", m.timeout, 1, 600);
    m.templates_dir = default_templates_dir();
    r.path("TEMPLATES_DIR", m.templates_dir);
    if (m.templates_dir.empty()) m.templates_dir = default_templates_dir();
}

void read_email_check(reader& r, config& c)
{
    verify::checker_settings& v = c.email_check;
    r.one_of("EMAIL_VALIDATION", v.mode, {"syntax", "mx", "mailboxlayer"});
    r.str("MAILBOXLAYER_ACCESS_KEY", v.mailboxlayer.access_key);
    if (v.mode == "mailboxlayer" && v.mailboxlayer.access_key.empty()) {
        r.fail("MAILBOXLAYER_ACCESS_KEY", "is required when EMAIL_VALIDATION=mailboxlayer");
    }
    r.str("MAILBOXLAYER_URL", v.mailboxlayer.url);
    // The access key travels in the URL: plain http only for a local test double.
    if (!v.mailboxlayer.url.starts_with("https://") && !(c.development && v.mailboxlayer.url.starts_with("http://"))) {
        r.fail("MAILBOXLAYER_URL", "must be an https:// URL (http:// only with PORTCULLIS_ENV=development)");
    }
    r.str("MAILBOXLAYER_CA_FILE", v.mailboxlayer.ca_file);
    r.boolean("EMAIL_VALIDATION_FAIL_OPEN", v.fail_open);
    r.seconds("EMAIL_VALIDATION_TIMEOUT", v.dns.timeout, 1, 60);
    r.str("DNS_SERVERS", v.dns.servers);
    if (!v.dns.servers.empty() && !verify::valid_server_list(v.dns.servers)) {
        r.fail("DNS_SERVERS", "must be a comma-separated list of host[:port] addresses ([v6]:port for IPv6)");
    }
    r.str("DISPOSABLE_DOMAINS_FILE", v.disposable_domains_file);
}

void read_limits(reader& r, config& c)
{
    auth::auth_settings& a = c.auth;
    r.items("RATE_LIMIT_EXEMPT", [&](std::string_view item) {
        if (auto block = parse_cidr(item))
            c.rate_limit_exempt.push_back(*block);
        else
            r.fail("RATE_LIMIT_EXEMPT", "'" + std::string(item) + "' is not an address or CIDR block");
    });
    if (!c.rate_limit_exempt.empty()) {
        a.ip_exempt = [exempt = c.rate_limit_exempt](std::string_view ip) {
            for (const auto& block : exempt) {
                if (block.contains(ip)) return true;
            }
            return false;
        };
    }
    r.number<int>("LOGIN_FAIL_LIMIT", a.login_fail_limit, 1, 1'000'000);
    r.seconds("LOGIN_FAIL_WINDOW", a.login_fail_window, 1, 86400);
    r.number<int>("LOGIN_IP_LIMIT", a.login_ip_limit, 1, 1'000'000);
    r.number<int>("REGISTER_IP_LIMIT", a.request_ip_limit, 1, 1'000'000);
    r.number<int>("ADDRESS_LIMIT", a.address_limit, 1, 1'000'000);
    r.number<int>("LOGIN_ACCOUNT_LIMIT", a.login_account_limit, 1, 1'000'000);
    r.number<int>("LOGIN_ACCOUNT_FREE_FAILURES", a.login_account_free, 0, 1'000'000);
    r.seconds("LOGIN_ACCOUNT_MAX_DELAY", a.login_account_max_wait, 1, 86400);
    r.number<int>("PASSWORD_CHECK_LIMIT", a.password_check_limit, 1, 1'000'000);
    r.number<int>("OTP_IP_LIMIT", a.otp_ip_limit, 1, 1'000'000);
    r.number<int>("MAX_SESSIONS_PER_USER", a.max_sessions_per_user, 1, 100'000);
    r.number<int>("ADMIN_RATE_LIMIT", a.admin_action_limit, 1, 1'000'000);
}

}  // namespace

bool cidr::contains(std::string_view ip) const
{
    std::string s(ip);
    // IPv4-mapped IPv6 peers ("::ffff:1.2.3.4") compare as IPv4.
    if (!v6 && s.rfind("::ffff:", 0) == 0) s = s.substr(7);
    unsigned char buf[16]{};
    if (inet_pton(v6 ? AF_INET6 : AF_INET, s.c_str(), buf) != 1) return false;
    unsigned bits = prefix;
    for (std::size_t i = 0; bits > 0; ++i, bits = bits > 8 ? bits - 8 : 0) {
        unsigned char mask = bits >= 8 ? 0xff : static_cast<unsigned char>(0xff << (8 - bits));
        if ((buf[i] & mask) != (address[i] & mask)) return false;
    }
    return true;
}

std::optional<cidr> parse_cidr(std::string_view text)
{
    text = trim(text);
    cidr out;
    auto slash = text.find('/');
    std::string addr(text.substr(0, slash));
    if (inet_pton(AF_INET, addr.c_str(), out.address.data()) == 1) {
        out.v6 = false;
        out.prefix = 32;
    } else if (inet_pton(AF_INET6, addr.c_str(), out.address.data()) == 1) {
        out.v6 = true;
        out.prefix = 128;
    } else {
        return std::nullopt;
    }
    if (slash != std::string_view::npos) {
        std::string_view p = text.substr(slash + 1);
        unsigned value = 0;
        auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), value);
        if (ec != std::errc{} || ptr != p.data() + p.size() || p.empty() || value > out.prefix) return std::nullopt;
        out.prefix = value;
    }
    return out;
}

std::map<std::string, std::string> parse_dotenv(std::string_view text)
{
    std::map<std::string, std::string> out;
    std::size_t line_no = 0;
    while (!text.empty()) {
        auto nl = text.find('\n');
        std::string_view line = trim(text.substr(0, nl));
        text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
        ++line_no;
        if (line.empty() || line.front() == '#') continue;
        if (line.rfind("export ", 0) == 0) line = trim(line.substr(7));
        auto eq = line.find('=');
        if (eq == std::string_view::npos || eq == 0) {
            throw config_error(".env line " + std::to_string(line_no) + ": expected KEY=VALUE");
        }
        std::string key(trim(line.substr(0, eq)));
        std::string_view value = trim(line.substr(eq + 1));
        if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') && value.back() == value.front()) {
            value = value.substr(1, value.size() - 2);
        } else if (auto hash = value.find(" #"); hash != std::string_view::npos) {
            value = trim(value.substr(0, hash));
        }
        out[key] = std::string(value);
    }
    return out;
}

config load_config(const std::map<std::string, std::string>& env, const std::map<std::string, std::string>& dotenv)
{
    config c;
    reader r(env, dotenv);

    std::string mode = "production";
    r.one_of("PORTCULLIS_ENV", mode, {"production", "development"});
    c.development = mode == "development";

    r.str("SECRET_KEY", c.secret_key);
    if (c.secret_key.empty()) {
        if (c.development) {
            c.secret_key = core::random_hex(32);
            c.secret_key_generated = true;
        } else {
            r.fail("SECRET_KEY", "is required (set PORTCULLIS_ENV=development to run without one)");
        }
    } else if (!c.development) {
        if (c.secret_key.size() < 32) {
            r.fail("SECRET_KEY", "must be at least 32 characters");
        } else if (c.secret_key == documented_example_key || c.secret_key.find_first_of("<> ") != std::string::npos) {
            r.fail("SECRET_KEY", "is an example or a placeholder: generate one with `openssl rand -hex 32`");
        } else if (distinct_bytes(c.secret_key) < 8) {
            r.fail("SECRET_KEY",
                   "is too regular (fewer than 8 distinct characters): generate one with "
                   "`openssl rand -hex 32`");
        }
    }

    if (auto listen = r.raw("LISTEN")) {
        if (!parse_listen(trim(*listen), c.http.host, c.http.port)) {
            r.fail("LISTEN", "must be host:port with a numeric IPv4 or [IPv6] address");
        }
    }
    c.io_threads = cores();
    r.number<unsigned>("IO_THREADS", c.io_threads, 1, 256);
    r.seconds("SHUTDOWN_TIMEOUT", c.shutdown_timeout, 0, 3600);
    r.number<std::size_t>("MAX_CONNECTIONS", c.http.max_connections, 1, 1'000'000);
    r.number<std::size_t>("MAX_CONNECTIONS_PER_IP", c.http.max_connections_per_ip, 0, 1'000'000);
    r.seconds("FIRST_BYTE_TIMEOUT", c.http.first_byte_timeout, 1, 3600);
    r.seconds("HEADER_TIMEOUT", c.http.header_timeout, 1, 3600);
    r.seconds("IDLE_TIMEOUT", c.http.idle_timeout, 1, 86400);
    r.seconds("REQUEST_TIMEOUT", c.http.request_timeout, 1, 3600);
    r.number<std::size_t>("MIN_INGRESS_RATE", c.http.min_ingress_rate, 0, 1'000'000'000);
    r.boolean("ACCESS_LOG", c.http.access_log);
    r.items("TRUSTED_PROXIES", [&](std::string_view item) {
        if (auto block = net::parse_address_block(item))
            c.http.trusted_proxies.push_back(*block);
        else
            r.fail("TRUSTED_PROXIES", "'" + std::string(item) + "' is not an address or CIDR block");
    });
    std::string proxy_header = "x-forwarded-for";
    r.one_of("TRUSTED_PROXY_HEADER", proxy_header, {"x-forwarded-for", "forwarded"});
    c.http.proxy_header =
        proxy_header == "forwarded" ? net::forwarding_header::forwarded : net::forwarding_header::x_forwarded_for;

    r.str("DATABASE_URL", c.database.url);
    if (c.database.url.rfind("postgresql://", 0) != 0 && c.database.url.rfind("postgres://", 0) != 0) {
        r.fail("DATABASE_URL", "must start with postgresql://");
    }
    r.str("DATABASE_READ_URL", c.database_read_url);
    if (!c.database_read_url.empty() && c.database_read_url.rfind("postgresql://", 0) != 0 &&
        c.database_read_url.rfind("postgres://", 0) != 0) {
        r.fail("DATABASE_READ_URL", "must start with postgresql:// (or be empty)");
    }
    r.number<std::size_t>("DATABASE_POOL_SIZE", c.database.pool_size, 1, 1000);
    r.seconds("DATABASE_TIMEOUT", c.database.query_timeout, 1, 600);
    c.database.connect_timeout = c.database.query_timeout;
    c.database.acquire_timeout = c.database.query_timeout;
    r.boolean("MIGRATE_ON_START", c.migrate_on_start);

    read_redis(r, c);
    read_mail(r, c);

    auth::auth_settings& a = c.auth;
    r.seconds("ACCESS_TOKEN_LIFETIME", a.access_lifetime, 30, 86400);
    r.seconds("REFRESH_TOKEN_LIFETIME", a.refresh_lifetime, 60, 365 * 86400);
    r.seconds("REFRESH_REUSE_INTERVAL", a.refresh_reuse_interval, 0, 300);
    r.seconds("OTP_TTL", a.otp_ttl, 30, 86400);
    r.number<int>("MAX_OTP_ATTEMPTS", a.max_otp_attempts, 1, 100);
    read_jwt(r, c);
    r.seconds("OTP_RESEND_COOLDOWN", a.otp_resend_cooldown, 0, 86400);
    r.number<int>("OTP_MAX_FAILURES_PER_HOUR", a.otp_max_failures_per_hour, 1, 10000);

    r.number<unsigned>("JOB_WORKERS", c.job_workers, 0, 1024);
    auth::hash_pool_settings& h = c.hashing;
    h.threads = cores();
    r.number<unsigned>("HASH_THREADS", h.threads, 1, 256);
    h.queue_limit = 64 * std::size_t{h.threads};
    r.number<std::size_t>("HASH_QUEUE", h.queue_limit, 1, 1'000'000);
    r.number<int>("HASH_NICE", h.nice, 0, 19);
    r.number<std::uint32_t>("ARGON2_MEMORY_KIB", h.params.memory_kib, 8, auth::max_argon2_memory_kib);
    r.number<std::uint32_t>("ARGON2_ITERATIONS", h.params.iterations, 1, auth::max_argon2_iterations);
    r.number<std::uint32_t>("ARGON2_PARALLELISM", h.params.parallelism, 1, 64);

    read_email_check(r, c);
    read_limits(r, c);

    r.boolean("AUDIT_ENABLED", c.audit.enabled);
    int retention_days = static_cast<int>(c.audit.retention.count());
    r.number<int>("AUDIT_RETENTION_DAYS", retention_days, 1, 36'500);
    c.audit.retention = std::chrono::days(retention_days);

    webhook_settings& w = c.webhooks;
    r.items("WEBHOOK_URL", [&](std::string_view item) { w.urls.emplace_back(item); });
    if (auto secret = r.raw("WEBHOOK_SECRET"); secret && !trim(*secret).empty()) {
        std::string_view text = trim(*secret);
        if (text.rfind("whsec_", 0) != 0 || !core::base64_decode(text.substr(6), w.secret) || w.secret.empty()) {
            r.fail("WEBHOOK_SECRET", "must be whsec_ followed by the key in base64");
            w.secret.clear();
        }
    }
    if (r.raw("WEBHOOK_EVENTS")) {
        w.events.clear();
        r.items("WEBHOOK_EVENTS", [&](std::string_view item) { w.events.emplace_back(item); });
    }
    r.boolean("WEBHOOK_ALLOW_HTTP", w.allow_http);
    r.str("WEBHOOK_CA_FILE", w.ca_file);
    r.seconds("WEBHOOK_TIMEOUT", w.timeout, 1, 120);
    r.number<int>("WEBHOOK_MAX_RETRIES", w.max_retries, 0, 100);
    for (const auto& problem : validate(w)) {
        auto colon = problem.find(':');
        r.fail(problem.substr(0, colon).c_str(), problem.substr(colon + 2));
    }

    if (auto lvl = r.raw("LOG_LEVEL")) {
        if (!core::log::parse_level(trim(*lvl), c.log_level)) r.fail("LOG_LEVEL", "must be debug, info, warn or error");
    }
    r.boolean("COOKIE_SECURE", c.cookies.cookie_secure);
    r.boolean("COOKIE_NAME_PREFIX", c.cookies.cookie_prefix);
    // Browsers accept __Host- and __Secure- cookies only with the Secure attribute.
    if (c.cookies.cookie_prefix && !c.cookies.cookie_secure) r.fail("COOKIE_NAME_PREFIX", "needs COOKIE_SECURE=true");

    if (!r.errors().empty()) throw config_error(r.errors());
    return c;
}

config load_config()
{
    std::map<std::string, std::string> env;
    for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
        std::string_view kv(*e);
        auto eq = kv.find('=');
        if (eq == std::string_view::npos) continue;
        env.emplace(std::string(kv.substr(0, eq)), std::string(kv.substr(eq + 1)));
    }
    std::string path = ".env";
    if (auto it = env.find("PORTCULLIS_ENV_FILE"); it != env.end()) path = it->second;
    std::map<std::string, std::string> dotenv;
    std::ifstream in(path);
    if (in) {
        std::stringstream ss;
        ss << in.rdbuf();
        dotenv = parse_dotenv(ss.str());
    } else if (env.count("PORTCULLIS_ENV_FILE") != 0) {
        throw config_error("PORTCULLIS_ENV_FILE: cannot read " + path + "\n");
    }
    return load_config(env, dotenv);
}

}  // namespace portcullis::app
