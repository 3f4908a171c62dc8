#include "app/config.hpp"

#include <doctest/doctest.h>

using namespace portcullis::app;

namespace {
const std::map<std::string, std::string> none;
const std::map<std::string, std::string> prod{{"SECRET_KEY", std::string(40, 'k')}};
}  // namespace

TEST_CASE("defaults are the contract's")
{
    config c = load_config(prod, none);
    CHECK(c.http.host == "127.0.0.1");
    CHECK(c.http.port == 8000);
    CHECK(c.access_token_lifetime == std::chrono::minutes(15));
    CHECK(c.refresh_token_lifetime == std::chrono::hours(24));
    CHECK(c.otp_ttl == std::chrono::minutes(10));
    CHECK(c.max_otp_attempts == 3);
    CHECK(c.otp_resend_cooldown == std::chrono::seconds(60));
    CHECK(c.email_validation == "syntax");
    CHECK(c.refresh_reuse_interval == std::chrono::seconds(0));
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
        CHECK(msg.find(std::string(40, 'k')) == std::string::npos);
    }
}

TEST_CASE("environment wins over .env, which fills the rest")
{
    auto dotenv = parse_dotenv(
        "# comment\nexport LISTEN=0.0.0.0:9000\nJOB_WORKERS=\"7\"\nOTP_TTL=120 # two minutes\n"
        "SECRET_KEY='" +
        std::string(40, 'd') + "'\n");
    CHECK(dotenv.at("JOB_WORKERS") == "7");
    config c = load_config({{"JOB_WORKERS", "3"}}, dotenv);
    CHECK(c.job_workers == 3);
    CHECK(c.http.host == "0.0.0.0");
    CHECK(c.http.port == 9000);
    CHECK(c.otp_ttl == std::chrono::seconds(120));
    CHECK(c.secret_key == std::string(40, 'd'));
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
    CHECK(c.email_validation == "mx");
    CHECK(c.dns_servers == "127.0.0.1:5353,[::1]:53");
    env["DNS_SERVERS"] = "resolver one";
    CHECK_THROWS_WITH_AS(load_config(env, none), doctest::Contains("DNS_SERVERS"), config_error);
    env.erase("DNS_SERVERS");

    env["EMAIL_VALIDATION"] = "mailboxlayer";
    CHECK_THROWS_WITH_AS(load_config(env, none), doctest::Contains("MAILBOXLAYER_ACCESS_KEY"), config_error);
    env["MAILBOXLAYER_ACCESS_KEY"] = "0123456789abcdef";
    CHECK(load_config(env, none).mailboxlayer_url == "https://apilayer.net/api/check");
    env["MAILBOXLAYER_URL"] = "ftp://apilayer.net/api/check";
    CHECK_THROWS_WITH_AS(load_config(env, none), doctest::Contains("MAILBOXLAYER_URL"), config_error);
    env["EMAIL_VALIDATION"] = "dns";
    CHECK_THROWS_WITH_AS(load_config(env, none), doctest::Contains("EMAIL_VALIDATION"), config_error);
}

TEST_CASE("Redis Sentinel: REDIS_SENTINELS needs host:port items and a master name")
{
    auto env = prod;
    CHECK(load_config(env, none).redis_sentinels.empty());
    CHECK(load_config(env, none).redis_min_replicas == 0);

    env["REDIS_SENTINELS"] = "127.0.0.1:26379,127.0.0.1:26380";
    env["REDIS_SENTINEL_MASTER"] = "pc";
    env["REDIS_MIN_REPLICAS"] = "1";
    config c = load_config(env, none);
    CHECK(c.redis_sentinel_master == "pc");
    CHECK(c.redis_min_replicas == 1);

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
