#include "app/config.hpp"

#include <doctest/doctest.h>

using namespace portcullis::app;

namespace {
const std::map<std::string, std::string> none;
const std::string good_key = "9f1c07ab3e5d42c8b6a0f7e19d3c5b2a";
const std::map<std::string, std::string> prod{{"SECRET_KEY", good_key}, {"EMAIL_BACKEND", "smtp"}};
}  // namespace

TEST_CASE("defaults are the contract's")
{
    config c = load_config(prod, none);
    CHECK(c.http.host == "127.0.0.1");
    CHECK(c.http.port == 8000);
    CHECK(c.auth.access_lifetime == std::chrono::minutes(15));
    CHECK(c.auth.refresh_lifetime == std::chrono::hours(24));
    CHECK(c.auth.otp_ttl == std::chrono::minutes(10));
    CHECK(c.auth.max_otp_attempts == 3);
    CHECK(c.auth.otp_resend_cooldown == std::chrono::seconds(60));
    CHECK(c.email_check.mode == "syntax");
    CHECK(c.auth.refresh_reuse_interval == std::chrono::seconds(0));
    CHECK(c.shutdown_timeout == std::chrono::seconds(10));
    CHECK(c.io_threads >= 1);
    CHECK_FALSE(c.development);
}

TEST_CASE("SECRET_KEY is required outside development")
{
    CHECK_THROWS_WITH_AS(load_config(none, none), doctest::Contains("SECRET_KEY"), config_error);
    config dev = load_config({{"PORTCULLIS_ENV", "development"}}, none);
    CHECK(dev.development);
    CHECK(dev.secret_key_generated);
    CHECK(dev.secret_key.size() == 64);
    CHECK_THROWS_WITH_AS(load_config({{"SECRET_KEY", "short"}}, none), doctest::Contains("at least 32"), config_error);
}

TEST_CASE("bad values name their variable")
{
    auto env = prod;
    env["IO_THREADS"] = "lots";
    env["LISTEN"] = "localhost";
    env["EMAIL_BACKEND"] = "pigeon";
    env["OTP_TTL"] = "-5";
    env["RATE_LIMIT_EXEMPT"] = "10.0.0.0/8, nonsense";
    try {
        load_config(env, none);
        FAIL("expected config_error");
    } catch (const config_error& e) {
        std::string msg = e.what();
        CHECK(msg.find("IO_THREADS") != std::string::npos);
        CHECK(msg.find("LISTEN") != std::string::npos);
        CHECK(msg.find("EMAIL_BACKEND") != std::string::npos);
        CHECK(msg.find("OTP_TTL") != std::string::npos);
        CHECK(msg.find("nonsense") != std::string::npos);
        CHECK(msg.find(good_key) == std::string::npos);
    }
}

TEST_CASE("environment wins over .env, which fills the rest")
{
    auto dotenv = parse_dotenv(
        "# comment\nexport LISTEN=0.0.0.0:9000\nJOB_WORKERS=\"7\"\nOTP_TTL=120 # two minutes\n"
        "EMAIL_BACKEND=smtp\nSECRET_KEY='" +
        good_key + "'\n");
    CHECK(dotenv.at("JOB_WORKERS") == "7");
    config c = load_config({{"JOB_WORKERS", "3"}}, dotenv);
    CHECK(c.job_workers == 3);
    CHECK(c.http.host == "0.0.0.0");
    CHECK(c.http.port == 9000);
    CHECK(c.auth.otp_ttl == std::chrono::seconds(120));
    CHECK(c.secret_key == good_key);
    CHECK_THROWS_AS(parse_dotenv("JUSTAWORD\n"), config_error);
}

TEST_CASE("LISTEN accepts IPv6 and RATE_LIMIT_EXEMPT parses CIDRs")
{
    auto env = prod;
    env["LISTEN"] = "[::1]:8080";
    env["RATE_LIMIT_EXEMPT"] = "127.0.0.0/8,::1,192.168.1.0/24";
    config c = load_config(env, none);
    CHECK(c.http.host == "::1");
    CHECK(c.http.port == 8080);
    REQUIRE(c.rate_limit_exempt.size() == 3);
    CHECK(c.rate_limit_exempt[0].contains("127.1.2.3"));
    CHECK(c.rate_limit_exempt[0].contains("::ffff:127.0.0.1"));
    CHECK_FALSE(c.rate_limit_exempt[0].contains("128.0.0.1"));
    CHECK(c.rate_limit_exempt[1].contains("::1"));
    CHECK_FALSE(c.rate_limit_exempt[1].contains("::2"));
    CHECK(c.rate_limit_exempt[2].contains("192.168.1.77"));
    CHECK_FALSE(c.rate_limit_exempt[2].contains("192.168.2.1"));
    CHECK_FALSE(parse_cidr("10.0.0.0/33").has_value());
}

TEST_CASE("EMAIL_VALIDATION: every mode loads; mailboxlayer needs its key; bad DNS_SERVERS are refused")
{
    auto env = prod;
    env["EMAIL_VALIDATION"] = "mx";
    env["DNS_SERVERS"] = "127.0.0.1:5353,[::1]:53";
    auto c = load_config(env, none);
    CHECK(c.email_check.mode == "mx");
    CHECK(c.email_check.dns.servers == "127.0.0.1:5353,[::1]:53");
    env["DNS_SERVERS"] = "resolver one";
    CHECK_THROWS_WITH_AS(load_config(env, none), doctest::Contains("DNS_SERVERS"), config_error);
    env.erase("DNS_SERVERS");

    env["EMAIL_VALIDATION"] = "mailboxlayer";
    CHECK_THROWS_WITH_AS(load_config(env, none), doctest::Contains("MAILBOXLAYER_ACCESS_KEY"), config_error);
    env["MAILBOXLAYER_ACCESS_KEY"] = "0123456789abcdef";
    CHECK(load_config(env, none).email_check.mailboxlayer.url == "https://apilayer.net/api/check");
    env["MAILBOXLAYER_URL"] = "ftp://apilayer.net/api/check";
    CHECK_THROWS_WITH_AS(load_config(env, none), doctest::Contains("MAILBOXLAYER_URL"), config_error);
    env["EMAIL_VALIDATION"] = "dns";
    CHECK_THROWS_WITH_AS(load_config(env, none), doctest::Contains("EMAIL_VALIDATION"), config_error);
}

TEST_CASE("production refuses the console and file mail backends unless EMAIL_BACKEND_INSECURE_OK")
{
    for (const char* backend : {"console", "file"}) {
        CAPTURE(backend);
        auto env = prod;
        env["EMAIL_BACKEND"] = backend;
        CHECK_THROWS_WITH_AS(load_config(env, none), doctest::Contains("EMAIL_BACKEND"), config_error);
        env["EMAIL_BACKEND_INSECURE_OK"] = "true";
        CHECK(load_config(env, none).mail.backend == portcullis::mail::parse_backend_kind(backend));
    }
    // The default (console) too; development keeps it.
    CHECK_THROWS_WITH_AS(load_config({{"SECRET_KEY", good_key}}, none), doctest::Contains("EMAIL_BACKEND"),
                         config_error);
    CHECK(load_config({{"PORTCULLIS_ENV", "development"}}, none).mail.backend ==
          portcullis::mail::backend_kind::console);
}

TEST_CASE("SMTP credentials need TLS unless EMAIL_ALLOW_PLAINTEXT_AUTH")
{
    auto env = prod;
    env["EMAIL_HOST_USER"] = "mailer";
    CHECK_THROWS_WITH_AS(load_config(env, none), doctest::Contains("EMAIL_HOST_USER"), config_error);
    env["EMAIL_USE_TLS"] = "true";
    CHECK(load_config(env, none).mail.use_tls);
    env.erase("EMAIL_USE_TLS");
    env["EMAIL_USE_SSL"] = "true";
    CHECK(load_config(env, none).mail.use_ssl);
    env.erase("EMAIL_USE_SSL");
    env["EMAIL_ALLOW_PLAINTEXT_AUTH"] = "true";
    CHECK(load_config(env, none).mail.allow_plaintext_auth);
}

TEST_CASE("argon2 costs stop where verification stops, naming the variable")
{
    auto env = prod;
    env["ARGON2_ITERATIONS"] = "64";
    CHECK(load_config(env, none).hashing.params.iterations == 64);
    env["ARGON2_ITERATIONS"] = "65";
    CHECK_THROWS_WITH_AS(load_config(env, none), doctest::Contains("ARGON2_ITERATIONS"), config_error);
    env.erase("ARGON2_ITERATIONS");
    env["ARGON2_MEMORY_KIB"] = "2097152";
    CHECK(load_config(env, none).hashing.params.memory_kib == 2097152);
    env["ARGON2_MEMORY_KIB"] = "3000000";
    CHECK_THROWS_WITH_AS(load_config(env, none), doctest::Contains("ARGON2_MEMORY_KIB"), config_error);
}

TEST_CASE("SECRET_KEY: the documented example, placeholders and very regular keys are refused in production")
{
    auto env = prod;
    for (const std::string& bad : {std::string("0b6f0d2c6a9c4f7d8e1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f70"),
                                   std::string("<output of openssl rand -hex 32, 64 characters>"), std::string(40, 'k'),
                                   std::string("abababababababababababababababababab")}) {
        CAPTURE(bad);
        env["SECRET_KEY"] = bad;
        CHECK_THROWS_WITH_AS(load_config(env, none), doctest::Contains("SECRET_KEY"), config_error);
    }
    env["PORTCULLIS_ENV"] = "development";
    env["SECRET_KEY"] = std::string(40, 'k');
    CHECK(load_config(env, none).secret_key == std::string(40, 'k'));
}

TEST_CASE("MAILBOXLAYER_URL: http:// only in development (the access key travels in the URL)")
{
    auto env = prod;
    env["EMAIL_VALIDATION"] = "mailboxlayer";
    env["MAILBOXLAYER_ACCESS_KEY"] = "0123456789abcdef";
    env["MAILBOXLAYER_URL"] = "http://apilayer.net/api/check";
    CHECK_THROWS_WITH_AS(load_config(env, none), doctest::Contains("MAILBOXLAYER_URL"), config_error);
    env["PORTCULLIS_ENV"] = "development";
    CHECK(load_config(env, none).email_check.mailboxlayer.url == "http://apilayer.net/api/check");
}

TEST_CASE("the new limits have their defaults and ranges")
{
    config c = load_config(prod, none);
    CHECK(c.auth.login_account_limit == 100);
    CHECK(c.auth.login_account_free == 10);
    CHECK(c.auth.login_account_max_wait == std::chrono::minutes(15));
    CHECK(c.auth.password_check_limit == 30);
    CHECK(c.auth.otp_ip_limit == 30);
    CHECK(c.auth.max_sessions_per_user == 100);
    auto env = prod;
    env["MAX_SESSIONS_PER_USER"] = "0";
    CHECK_THROWS_WITH_AS(load_config(env, none), doctest::Contains("MAX_SESSIONS_PER_USER"), config_error);
}

TEST_CASE("JWT settings: defaults, durations with units, and combinations that cannot work")
{
    config c = load_config(prod, none);
    CHECK(c.tokens.rotation.algorithm == portcullis::auth::jws_alg::hs256);
    CHECK(c.tokens.claims.issuer == "portcullis");
    CHECK(c.tokens.rotation.rotation == std::chrono::seconds(0));
    CHECK(c.tokens.rotation.publish_ahead == std::chrono::minutes(20));  // access lifetime + 5 min
    CHECK(c.tokens.rotation.refresh_interval == std::chrono::seconds(30));

    auto with = [](std::map<std::string, std::string> extra) {
        for (const auto& [k, v] : prod) extra.emplace(k, v);
        return load_config(extra, none);
    };
    config ed = with({{"JWT_ALGORITHM", "EdDSA"}, {"JWT_KEY_ROTATION", "7d"}, {"ACCESS_TOKEN_LIFETIME", "300"}});
    CHECK(ed.tokens.rotation.rotation == std::chrono::hours(7 * 24));
    CHECK(ed.tokens.rotation.publish_ahead == std::chrono::minutes(10));
    CHECK(with({{"JWT_ALGORITHM", "ES256"}, {"JWT_KEY_PUBLISH_AHEAD", "90m"}}).tokens.rotation.publish_ahead ==
          std::chrono::minutes(90));

    auto refused = [&](std::map<std::string, std::string> extra, const char* variable) {
        CAPTURE(variable);
        CHECK_THROWS_WITH_AS(with(std::move(extra)), doctest::Contains(variable), config_error);
    };
    refused({{"JWT_ALGORITHM", "RS256"}}, "JWT_ALGORITHM");
    refused({{"JWT_ALGORITHM", "none"}}, "JWT_ALGORITHM");
    refused({{"JWT_ALGORITHM", "EdDSA"}, {"JWT_SIGNING_KEY", std::string(40, 's')}}, "JWT_SIGNING_KEY");
    refused({{"JWT_SIGNING_KEY", "short"}}, "JWT_SIGNING_KEY");
    refused({{"JWT_PRIVATE_KEY_FILE", "/etc/key.pem"}}, "JWT_PRIVATE_KEY_FILE");  // HS256
    refused({{"JWT_VERIFY_KEY_FILES", "/a.pem"}, {"JWT_ALGORITHM", "EdDSA"}}, "JWT_VERIFY_KEY_FILES");
    refused({{"JWT_KEY_ROTATION", "7d"}}, "JWT_KEY_ROTATION");  // HS256 has nothing to rotate
    refused({{"JWT_ALGORITHM", "EdDSA"}, {"JWT_KEY_ROTATION", "10m"}}, "JWT_KEY_ROTATION");  // <= publish ahead
    refused({{"JWT_ALGORITHM", "EdDSA"}, {"JWT_KEY_ROTATION", "7x"}}, "JWT_KEY_ROTATION");
    refused({{"JWT_ALGORITHM", "EdDSA"}, {"JWT_KEY_ROTATION", "-5"}}, "JWT_KEY_ROTATION");
    refused({{"JWT_KEY_PUBLISH_AHEAD", "30"}, {"JWT_KEY_REFRESH", "20"}}, "JWT_KEY_PUBLISH_AHEAD");
    refused({{"JWT_ISSUER", ""}}, "JWT_ISSUER");
    refused({{"JWT_JWKS_URI", "/relative"}}, "JWT_JWKS_URI");
}

TEST_CASE("TRUSTED_PROXIES, TRUSTED_PROXY_HEADER and the connection limits")
{
    auto env = prod;
    env["TRUSTED_PROXIES"] = "127.0.0.1, 10.0.0.0/8";
    env["TRUSTED_PROXY_HEADER"] = "forwarded";
    env["MAX_CONNECTIONS_PER_IP"] = "0";
    env["FIRST_BYTE_TIMEOUT"] = "3";
    env["MIN_INGRESS_RATE"] = "1024";
    config c = load_config(env, none);
    REQUIRE(c.http.trusted_proxies.size() == 2);
    CHECK(c.http.trusted_proxies[1].contains(boost::asio::ip::make_address("10.9.8.7")));
    CHECK(c.http.proxy_header == portcullis::net::forwarding_header::forwarded);
    CHECK(c.http.max_connections_per_ip == 0);
    CHECK(c.http.first_byte_timeout == std::chrono::seconds(3));
    CHECK(c.http.min_ingress_rate == 1024);

    env["TRUSTED_PROXIES"] = "nginx";
    env["TRUSTED_PROXY_HEADER"] = "x-real-ip";
    try {
        load_config(env, none);
        FAIL("expected config_error");
    } catch (const config_error& e) {
        std::string msg = e.what();
        CHECK(msg.find("TRUSTED_PROXIES") != std::string::npos);
        CHECK(msg.find("TRUSTED_PROXY_HEADER") != std::string::npos);
    }
}

TEST_CASE("Redis Sentinel: REDIS_SENTINELS needs host:port items and a master name")
{
    auto env = prod;
    CHECK(load_config(env, none).redis.sentinels.empty());
    CHECK(load_config(env, none).redis.min_replicas == 0);

    env["REDIS_SENTINELS"] = "127.0.0.1:26379,127.0.0.1:26380";
    env["REDIS_SENTINEL_MASTER"] = "pc";
    env["REDIS_MIN_REPLICAS"] = "1";
    config c = load_config(env, none);
    CHECK(c.redis.sentinel_master == "pc");
    CHECK(c.redis.min_replicas == 1);

    env["REDIS_SENTINELS"] = "127.0.0.1";
    env.erase("REDIS_SENTINEL_MASTER");
    try {
        load_config(env, none);
        FAIL("expected config_error");
    } catch (const config_error& e) {
        std::string msg = e.what();
        CHECK(msg.find("REDIS_SENTINELS") != std::string::npos);
        CHECK(msg.find("REDIS_SENTINEL_MASTER") != std::string::npos);
    }
}

TEST_CASE("DATABASE_READ_URL: empty by default, a postgresql:// URL otherwise")
{
    auto env = prod;
    CHECK(load_config(env, none).database_read_url.empty());
    env["DATABASE_READ_URL"] = "postgresql://ro@10.0.0.9,10.0.0.8/portcullis?target_session_attrs=prefer-standby";
    CHECK(load_config(env, none).database_read_url == env["DATABASE_READ_URL"]);
    env["DATABASE_READ_URL"] = "mysql://10.0.0.9/portcullis";
    try {
        load_config(env, none);
        FAIL("expected config_error");
    } catch (const config_error& e) {
        CHECK(std::string(e.what()).find("DATABASE_READ_URL") != std::string::npos);
    }
}
