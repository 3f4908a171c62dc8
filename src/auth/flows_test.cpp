#include "auth/crypto.hpp"
#include "auth/sealed.hpp"
#include "auth/service.hpp"
#include "auth/session_cache.hpp"

#include <doctest/doctest.h>

using namespace portcullis;

TEST_CASE("sealed secrets round-trip and refuse tampering or another key")
{
    std::string key(32, 'k');
    std::string other(32, 'o');
    auto s = auth::seal(key, "123456");
    CHECK(s.find("123456") == std::string::npos);
    CHECK(auth::unseal(key, s).value() == "123456");
    CHECK_FALSE(auth::unseal(other, s).has_value());
    std::string tampered = s;
    tampered[tampered.size() / 2] = tampered[tampered.size() / 2] == 'A' ? 'B' : 'A';
    CHECK_FALSE(auth::unseal(key, tampered).has_value());
    CHECK_FALSE(auth::unseal(key, "short").has_value());
    CHECK(auth::seal(key, "123456") != s);  // fresh nonce each time
}

TEST_CASE("pagination cursors are opaque and tamper-evident")
{
    auth::hmac_key key(std::string_view("cursor-key"));
    auto c = auth::encode_cursor(key, 4242);
    CHECK(c.find("4242") == std::string::npos);
    CHECK(auth::decode_cursor(key, c).value() == 4242);
    auth::hmac_key other(std::string_view("other-key"));
    CHECK_FALSE(auth::decode_cursor(other, c).has_value());
    CHECK_FALSE(auth::decode_cursor(key, "garbage!").has_value());
    CHECK_FALSE(auth::decode_cursor(key, auth::base64url_encode("4243.0000000000000000")).has_value());
}

TEST_CASE("session cache: disabled until invalidations flow, events drop entries")
{
    using clock = std::chrono::steady_clock;
    auth::session_cache cache(auth::cache_settings{std::chrono::seconds(60), 1000, std::chrono::seconds(60)});
    auto now = clock::now();
    auto far = std::chrono::system_clock::now() + std::chrono::hours(1);
    cache.put_session("s1", 7, far, now);
    CHECK(cache.find_session("s1", now) == nullptr);  // disabled: nothing is kept

    cache.set_enabled(true);
    cache.put_session("s1", 7, far, now);
    cache.put_session("s2", 7, far, now);
    cache.put_session("s3", 8, far, now);
    store::user u;
    u.id = 7;
    u.username = "ann";
    cache.put_user(u, now);
    REQUIRE(cache.find_session("s1", now) != nullptr);
    CHECK(cache.find_user(7, now)->username == "ann");

    cache.apply("s:s1");
    CHECK(cache.find_session("s1", now) == nullptr);
    CHECK(cache.find_session("s2", now) != nullptr);

    cache.apply("u:7");
    CHECK(cache.find_session("s2", now) == nullptr);
    CHECK(cache.find_user(7, now) == nullptr);
    CHECK(cache.find_session("s3", now) != nullptr);

    // Entries expire after the TTL even without events.
    CHECK(cache.find_session("s3", now + std::chrono::seconds(61)) == nullptr);

    cache.apply("*");
    CHECK(cache.sessions() == 0);
    cache.put_session("s4", 9, far, now);
    cache.set_enabled(false);
    cache.set_enabled(true);
    CHECK(cache.find_session("s4", now) == nullptr);
}

TEST_CASE("session cache: a row read before an invalidation arrived is not cached")
{
    using clock = std::chrono::steady_clock;
    auth::session_cache cache;
    cache.set_enabled(true);
    auto now = clock::now();
    auto far = std::chrono::system_clock::now() + std::chrono::hours(1);

    // Read of session s1 starts; its revocation is applied while the read is in flight.
    auto before = cache.generation();
    cache.apply("s:s1");
    cache.put_session("s1", 7, far, now, before);
    CHECK(cache.find_session("s1", now) == nullptr);

    store::user u;
    u.id = 7;
    before = cache.generation();
    cache.apply("u:7");
    cache.put_user(u, now, before);
    CHECK(cache.find_user(7, now) == nullptr);

    // Without an event in between, the rows are cached.
    before = cache.generation();
    cache.put_session("s1", 7, far, now, before);
    cache.put_user(u, now, before);
    CHECK(cache.find_session("s1", now) != nullptr);
    CHECK(cache.find_user(7, now) != nullptr);
}

TEST_CASE("session cache: a row refresh drops the user row but keeps the user's sessions")
{
    using clock = std::chrono::steady_clock;
    auth::session_cache cache;
    cache.set_enabled(true);
    auto now = clock::now();
    auto far = std::chrono::system_clock::now() + std::chrono::hours(1);
    cache.put_session("s1", 7, far, now);
    store::user u;
    u.id = 7;
    cache.put_user(u, now);
    cache.apply("r:7");
    CHECK(cache.find_user(7, now) == nullptr);
    CHECK(cache.find_session("s1", now) != nullptr);
}

TEST_CASE("per-IP limits key IPv6 clients by their /64")
{
    CHECK(auth::limit_network("192.0.2.7") == "192.0.2.7");
    CHECK(auth::limit_network("2001:db8:1:2:aaaa:bbbb:cccc:dddd") == "2001:db8:1:2::/64");
    CHECK(auth::limit_network("2001:db8:1:2::1") == auth::limit_network("2001:db8:1:2:ffff::9"));
    CHECK(auth::limit_network("2001:db8:1:3::1") != auth::limit_network("2001:db8:1:2::1"));
    CHECK(auth::limit_network("::ffff:192.0.2.7") == "192.0.2.7");
    CHECK(auth::limit_network("fe80::1%eth0") == "fe80::/64");
}
