#include "store/redis/command.hpp"
#include "store/redis/reply.hpp"
#include "store/redis/script.hpp"
#include "store/redis/sentinel.hpp"
#include "store/redis/settings.hpp"

#include <doctest/doctest.h>
#include <hiredis/hiredis.h>

#include <cstdlib>
#include <string>
#include <vector>

using namespace portcullis;
using namespace portcullis::store::redis;

namespace {

std::string hiredis_format(const std::vector<std::string>& args)
{
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    for (const auto& a : args) {
        argv.push_back(a.data());
        lens.push_back(a.size());
    }
    char* out = nullptr;
    int n = redisFormatCommandArgv(&out, static_cast<int>(argv.size()), argv.data(), lens.data());
    std::string s(out, static_cast<std::size_t>(n));
    std::free(out);
    return s;
}

std::vector<reply> parse_all(const std::string& bytes, std::size_t chunk)
{
    reply_reader rd;
    std::vector<reply> out;
    for (std::size_t i = 0; i < bytes.size(); i += chunk) {
        REQUIRE(rd.feed(bytes.data() + i, std::min(chunk, bytes.size() - i)));
        bool failed = false;
        while (auto r = rd.next(failed)) out.push_back(std::move(*r));
        REQUIRE_FALSE(failed);
    }
    return out;
}

}  // namespace

TEST_CASE("commands are formatted as hiredis formats them, binary safe")
{
    std::string binary("a\0b\r\nc", 6);
    std::string out;
    command("SET", "key", binary, 42, -7).write_to(out);
    CHECK(out == hiredis_format({"SET", "key", binary, "42", "-7"}));

    std::string empty;
    command("GET", "").write_to(empty);
    CHECK(empty == "*2\r\n$3\r\nGET\r\n$0\r\n\r\n");

    command keys;
    keys.arg("k1").arg(std::string("k2"));
    command call("EVALSHA", "abc", keys.size());
    call.append(keys).arg(std::chrono::milliseconds(1500)).arg(1.5);
    std::string c;
    call.write_to(c);
    CHECK(c == hiredis_format({"EVALSHA", "abc", "2", "k1", "k2", "1500", "1.5"}));
    CHECK(call.size() == 7);

    pipeline p;
    p.push("INCR", "x").push(command("GET", "x"));
    CHECK(p.size() == 2);
    CHECK(p.bytes() == hiredis_format({"INCR", "x"}) + hiredis_format({"GET", "x"}));
}

TEST_CASE("reply reader builds nested replies from any chunking")
{
    using namespace std::string_literals;
    std::string bytes =
        "+OK\r\n-ERR bad\r\n:123\r\n$-1\r\n$5\r\nab\0cd\r\n*3\r\n:1\r\n*2\r\n$1\r\nx\r\n$-1\r\n+s\r\n*0\r\n*-1\r\n"s;
    for (std::size_t chunk : {1U, 3U, 7U, 1000U}) {
        auto rs = parse_all(bytes, chunk);
        REQUIRE(rs.size() == 8);
        CHECK(rs[0].kind == reply_kind::status);
        CHECK(rs[0].str == "OK");
        CHECK(rs[1].is_error());
        CHECK(rs[1].str == "ERR bad");
        CHECK(rs[2].integer == 123);
        CHECK(rs[3].is_nil());
        CHECK(rs[4].str == std::string("ab\0cd", 5));
        REQUIRE(rs[5].is_array());
        REQUIRE(rs[5].elements.size() == 3);
        CHECK(rs[5].elements[0].integer == 1);
        REQUIRE(rs[5].elements[1].elements.size() == 2);
        CHECK(rs[5].elements[1].elements[0].str == "x");
        CHECK(rs[5].elements[1].elements[1].is_nil());
        CHECK(rs[5].elements[2].str == "s");
        CHECK(rs[6].is_array());
        CHECK(rs[6].elements.empty());
        CHECK(rs[7].is_nil());
    }
}

TEST_CASE("reply reader reports protocol errors and frees partial replies")
{
    reply_reader rd;
    std::string partial = "*3\r\n:1\r\n$3\r\nab";
    REQUIRE(rd.feed(partial.data(), partial.size()));
    bool failed = false;
    CHECK_FALSE(rd.next(failed).has_value());
    CHECK_FALSE(failed);
    rd.reset();
    std::string junk = "?what\r\n";
    rd.feed(junk.data(), junk.size());
    CHECK_FALSE(rd.next(failed).has_value());
    CHECK(failed);
}

TEST_CASE("typed reply views")
{
    CHECK(as_integer(reply::make_integer(5)).value() == 5);
    CHECK(as_integer(reply::make_string("5")).error() == core::errc::internal);
    CHECK(as_string(reply::make_status("OK")).value() == "OK");
    CHECK_FALSE(as_optional_string(reply{}).value().has_value());
    CHECK(as_ok(reply::make_error("LOADING loading")).error() == core::errc::redis_unavailable);
    CHECK(as_ok(reply::make_error("WRONGTYPE x")).error() == core::errc::internal);
    CHECK(as_ok(reply::make_status("OK")).has_value());
}

TEST_CASE("REDIS_URL parsing")
{
    auto s = parse_url("redis://127.0.0.1:56379/3").value();
    CHECK(s.host == "127.0.0.1");
    CHECK(s.port == 56379);
    CHECK(s.db == 3);
    CHECK(s.password.empty());

    s = parse_url("redis://:p%40ss@cache.local").value();
    CHECK(s.host == "cache.local");
    CHECK(s.port == 6379);
    CHECK(s.db == 0);
    CHECK(s.username.empty());
    CHECK(s.password == "p@ss");

    s = parse_url("redis://alice:secret@[::1]:7000/1").value();
    CHECK(s.host == "::1");
    CHECK(s.port == 7000);
    CHECK(s.username == "alice");
    CHECK(s.password == "secret");
    CHECK(s.db == 1);

    settings base;
    base.command_timeout = std::chrono::milliseconds(500);
    CHECK(parse_url("redis://h", base).value().command_timeout == std::chrono::milliseconds(500));

    CHECK(parse_url("http://h:1/0").error() == core::errc::validation_failed);
    CHECK(parse_url("redis://h:0/0").has_error());
    CHECK(parse_url("redis://h:99999/0").has_error());
    CHECK(parse_url("redis://h:1/x").has_error());
    CHECK(parse_url("redis://:bad%4@h").has_error());

    s = parse_url("redis://s3cret@h").value();  // a lone user-info is the password
    CHECK(s.username.empty());
    CHECK(s.password == "s3cret");
    CHECK(parse_url("redis://h/2?timeout=1").value().db == 2);  // the query is ignored
    CHECK(parse_url("redis://h:6380").value().port == 6380);
    CHECK(parse_url("redis://h:").has_error());
    CHECK(parse_url("redis://h/0#x").has_error());
    CHECK(parse_url("redis://h/1/2").has_error());
    CHECK(parse_url("redis://[::1").has_error());
    CHECK(parse_url("redis:h").has_error());
    CHECK(parse_url("REDIS://h").has_error());
}

TEST_CASE("script SHA-1 matches Redis's naming")
{
    CHECK(sha1_hex("") == "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    CHECK(sha1_hex("abc") == "a9993e364706816aba3e25717850c26c9cd0d89d");
    CHECK(sha1_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
          "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
    CHECK(sha1_hex(std::string(1000000, 'a')) == "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
    script s("return 1");
    CHECK(s.sha1() == "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");
}

namespace {

reply parse_one(const std::string& bytes)
{
    auto all = parse_all(bytes, bytes.size());
    REQUIRE(all.size() == 1);
    return all.front();
}

}  // namespace

TEST_CASE("sentinel: the master address reply, as a sentinel sends it")
{
    auto addr = parse_master_addr(parse_one("*2\r\n$9\r\n127.0.0.1\r\n$4\r\n6380\r\n"));
    REQUIRE(addr);
    CHECK(addr->host == "127.0.0.1");
    CHECK(addr->port == 6380);
    // Unknown master: a nil array.
    CHECK_FALSE(parse_master_addr(parse_one("*-1\r\n")));
    CHECK_FALSE(parse_master_addr(parse_one("*2\r\n$9\r\n127.0.0.1\r\n$5\r\n70000\r\n")));
    CHECK_FALSE(parse_master_addr(parse_one("*1\r\n$9\r\n127.0.0.1\r\n")));
    CHECK_FALSE(parse_master_addr(parse_one("-ERR unknown command\r\n")));
}

TEST_CASE("sentinel: ROLE tells a master from a replica")
{
    CHECK(is_master_role(parse_one("*3\r\n$6\r\nmaster\r\n:3129659\r\n*0\r\n")));
    CHECK_FALSE(
        is_master_role(parse_one("*5\r\n$5\r\nslave\r\n$9\r\n127.0.0.1\r\n:6380\r\n$9\r\nconnected\r\n:3167038\r\n")));
    CHECK_FALSE(is_master_role(parse_one("*2\r\n$8\r\nsentinel\r\n*0\r\n")));
    CHECK_FALSE(is_master_role(parse_one("-LOADING Redis is loading\r\n")));
}

TEST_CASE("sentinel: +switch-master messages name the new master")
{
    auto msg = [](const std::string& text) {
        return parse_one("*3\r\n$7\r\nmessage\r\n$14\r\n+switch-master\r\n$" + std::to_string(text.size()) + "\r\n" +
                         text + "\r\n");
    };
    auto m = parse_switch_master(msg("pc 127.0.0.1 6380 127.0.0.1 6381"), "pc");
    REQUIRE(m);
    CHECK(m->host == "127.0.0.1");
    CHECK(m->port == 6381);
    CHECK_FALSE(parse_switch_master(msg("other 127.0.0.1 6380 127.0.0.1 6381"), "pc"));
    CHECK_FALSE(parse_switch_master(msg("pc 127.0.0.1 6380 127.0.0.1"), "pc"));
    CHECK_FALSE(parse_switch_master(msg("pc 127.0.0.1 6380 127.0.0.1 6381 extra"), "pc"));
    // The subscription's confirmation is not a switch.
    CHECK_FALSE(parse_switch_master(parse_one("*3\r\n$9\r\nsubscribe\r\n$14\r\n+switch-master\r\n:1\r\n"), "pc"));
}

TEST_CASE("sentinel: errors that mean the master is gone")
{
    CHECK(means_master_lost(parse_one("-READONLY You can't write against a read only replica.\r\n")));
    CHECK(means_master_lost(parse_one("-LOADING Redis is loading the dataset in memory\r\n")));
    CHECK(means_master_lost(parse_one("-MASTERDOWN Link with MASTER is down\r\n")));
    CHECK(means_master_lost(parse_one("-UNBLOCKED force unblock from blocking operation, instance state changed\r\n")));
    CHECK_FALSE(means_master_lost(parse_one("-ERR wrong number of arguments\r\n")));
    CHECK_FALSE(means_master_lost(parse_one("+OK\r\n")));
    // READONLY is infrastructure trouble (503), not a bug (500).
    CHECK(is_transient_error(parse_one("-READONLY You can't write against a read only replica.\r\n")));
}

TEST_CASE("sentinel: the tracker's epoch moves only when the address changes")
{
    master_tracker t;
    CHECK(t.epoch() == 0);
    CHECK_FALSE(t.master());
    CHECK(t.announce({"127.0.0.1", 6380}));
    CHECK(t.epoch() == 1);
    CHECK_FALSE(t.announce({"127.0.0.1", 6380}));
    CHECK(t.epoch() == 1);
    CHECK(t.announce({"127.0.0.1", 6381}));
    CHECK(t.epoch() == 2);
    CHECK(t.master()->port == 6381);
}

TEST_CASE("sentinel: REDIS_SENTINELS lists")
{
    auto l = parse_endpoints("127.0.0.1:26379, sentinel-b:26380,[::1]:26381");
    REQUIRE(l);
    REQUIRE(l->size() == 3);
    CHECK((*l)[0] == endpoint{"127.0.0.1", 26379});
    CHECK((*l)[1] == endpoint{"sentinel-b", 26380});
    CHECK((*l)[2] == endpoint{"::1", 26381});
    CHECK_FALSE(parse_endpoints(""));
    CHECK_FALSE(parse_endpoints("127.0.0.1"));
    CHECK_FALSE(parse_endpoints("127.0.0.1:0"));
    CHECK_FALSE(parse_endpoints("127.0.0.1:x"));
    CHECK_FALSE(parse_endpoints("::1:26379"));
}
