// Lost replies from PostgreSQL, end to end: the real server talks to the test
// PostgreSQL through a proxy (pg_proxy) that, when armed, lets one statement reach the
// server and complete — outside a transaction block it has then committed — and closes
// the connection before the reply reaches Portcullis. What a failover or a network cut
// at the wrong moment does, made repeatable.
//
// A write whose reply was lost answers 503 unavailable (never 500); a refresh whose
// rotation committed unseen does not end the session when the client retries it, with
// or without REFRESH_REUSE_INTERVAL; reuse detection still ends a session whose token
// is presented again after its successor was used.
#include "auth_support.hpp"
#include "pg_proxy.hpp"
#include "server_fixture.hpp"
#include "test_env.hpp"

#include <doctest/doctest.h>

#include <memory>
#include <regex>
#include <sstream>
#include <stdexcept>

using namespace portcullis::test;
using namespace portcullis::test::auth;
using std::chrono::seconds;

namespace {

struct pg_address {
    std::string host;
    int port = 0;
};

// Host and port of PORTCULLIS_TEST_DATABASE_URL (postgresql://user@host:port/db).
pg_address test_pg_address()
{
    std::string url = require_env("PORTCULLIS_TEST_DATABASE_URL");
    std::smatch m;
    static const std::regex shape(R"(^postgres(?:ql)?://[^@/]*@([^:/]+):([0-9]+)/)");
    if (!std::regex_search(url, m, shape)) throw std::runtime_error("unexpected PORTCULLIS_TEST_DATABASE_URL: " + url);
    return {m[1].str(), std::stoi(m[2].str())};
}

std::string user_of_test_url()
{
    std::string url = require_env("PORTCULLIS_TEST_DATABASE_URL");
    auto start = url.find("://") + 3;
    return url.substr(start, url.find('@') - start);
}

// A database of its own on the test server, a proxy in front of it, and the real
// server connected through the proxy.
class proxied_server {
public:
    explicit proxied_server(env_map extra)
        : name_(unique_name("lost")),
          direct_url_(create_test_database(name_)),
          proxy_(test_pg_address().host, test_pg_address().port)
    {
        extra["DATABASE_URL"] = "postgresql://" + user_of_test_url() + "@127.0.0.1:" + std::to_string(proxy_.port()) +
                                "/" + name_ + "?sslmode=disable&gssencmode=disable";
        extra["RATE_LIMIT_EXEMPT"] = "127.0.0.1/32";
        server_ = std::make_unique<server_fixture>(extra, false);
    }
    ~proxied_server()
    {
        server_.reset();
        try {
            drop_test_database(name_);
        } catch (const std::exception&) {
        }
    }

    int port() const { return server_->port(); }
    pg_proxy& proxy() { return proxy_; }
    server_fixture& server() { return *server_; }
    // One value from the database, read directly (not through the proxy).
    std::string sql(const std::string& query) const { return pg_exec(direct_url_, query); }

private:
    std::string name_;
    std::string direct_url_;
    pg_proxy proxy_;
    std::unique_ptr<server_fixture> server_;
};

std::string checked_uuid(const json& v)
{
    std::string s = v.get<std::string>();
    static const std::regex uuid("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$");
    REQUIRE(std::regex_match(s, uuid));
    return s;
}

// The value of an unlabelled sample in /metrics, or -1.
double metric(int port, const std::string& name)
{
    auto r = http_request(port, "GET", "/metrics");
    REQUIRE(r.status == 200);
    std::istringstream in(r.body);
    for (std::string l; std::getline(in, l);) {
        if (l.size() > name.size() && l.compare(0, name.size(), name) == 0 && l[name.size()] == ' ') {
            return std::stod(l.substr(name.size() + 1));
        }
    }
    return -1;
}

bool works(const client& c, const std::string& access)
{
    return c.get("/api/users/me", access).status == 200;
}

// The server's answer to a lost reply: 503 in the contract's shape, with Retry-After.
void check_unavailable(const reply& r)
{
    CHECK(r.status == 503);
    CHECK(r.code() == "unavailable");
    CHECK_FALSE(r.header("retry-after").empty());
    CHECK_FALSE(r.header("x-request-id").empty());
}

void lost_refresh_reply(const std::string& reuse_interval)
{
    proxied_server srv({{"REFRESH_REUSE_INTERVAL", reuse_interval}});
    client c(srv.port());
    account a = register_active(c, "lostref");
    auto s = login(c, a);
    std::string sid = checked_uuid(payload_of(s.refresh)["sid"]);
    CHECK(payload_of(s.refresh)["ctr"] == 0);

    // The rotation reaches PostgreSQL and commits; its reply is lost.
    srv.proxy().arm("refresh_rotate", pg_proxy::cut::after_reply);
    auto lost = c.call_unchecked("POST", "/api/auth/refresh", json{{"refresh", s.refresh}});
    REQUIRE(srv.proxy().wait_fired(seconds(5)));
    INFO("server log: ", server_log_tail(srv.server()));
    check_unavailable(lost);
    REQUIRE_MESSAGE(srv.sql("SELECT refresh_counter FROM sessions WHERE id = '" + sid + "'") == "1",
                    "the rotation did not commit: the proxy cut too early");

    // The client retries with the same token: it gets the pair the lost reply carried,
    // and the session goes on.
    auto retry = c.post("/api/auth/refresh", {{"refresh", s.refresh}});
    REQUIRE(retry.status == 200);
    const auto retried_refresh = retry.body["refresh"].get<std::string>();
    CHECK(payload_of(retried_refresh)["ctr"] == 1);
    CHECK(payload_of(retried_refresh)["sid"] == sid);
    CHECK(works(c, retry.body["access"].get<std::string>()));
    auto next = c.post("/api/auth/refresh", {{"refresh", retried_refresh}});
    REQUIRE(next.status == 200);
    const auto next_access = next.body["access"].get<std::string>();
    CHECK(works(c, next_access));

    // Once the successor has been used, the first token is a reused token again: the
    // session ends, as for any reuse.
    auto reused = c.post("/api/auth/refresh", {{"refresh", s.refresh}});
    CHECK(reused.status == 401);
    CHECK(reused.code() == "token_reused");
    CHECK_FALSE(works(c, next_access));
}

}  // namespace

TEST_CASE("lost COMMIT reply of a refresh, REFRESH_REUSE_INTERVAL=0: 503, and the retry keeps the session")
{
    lost_refresh_reply("0");
}

TEST_CASE("lost COMMIT reply of a refresh, REFRESH_REUSE_INTERVAL=10: 503, and the retry keeps the session")
{
    lost_refresh_reply("10");
}

TEST_CASE("lost COMMIT reply of a logout: 503, the logout happened, and the retry answers 200")
{
    proxied_server srv({});
    client c(srv.port());
    account a = register_active(c, "lostout");
    auto s = login(c, a);
    REQUIRE(works(c, s.access));

    srv.proxy().arm("refresh_end", pg_proxy::cut::after_reply);
    auto lost = c.call_unchecked("POST", "/api/auth/logout", json{{"refresh", s.refresh}}, s.access);
    REQUIRE(srv.proxy().wait_fired(seconds(5)));
    INFO("server log: ", server_log_tail(srv.server()));
    check_unavailable(lost);
    std::string sid = checked_uuid(payload_of(s.refresh)["sid"]);
    CHECK(srv.sql("SELECT count(*) FROM sessions WHERE revoked_at IS NOT NULL AND id = '" + sid + "'") == "1");

    // The client retries: the blacklisting is idempotent, so the retry succeeds, and
    // from then on neither token works (the retry also empties the session caches).
    auto retry = c.post("/api/auth/logout", {{"refresh", s.refresh}});
    CHECK(retry.status == 200);
    CHECK_FALSE(works(c, s.access));
    CHECK(c.post("/api/auth/refresh", {{"refresh", s.refresh}}).status == 401);
}

TEST_CASE("a read whose connection is lost is run again on another connection: 200, and /metrics counts it")
{
    proxied_server srv({});
    client c(srv.port());
    account a = register_active(c, "lostread");
    auto s = login(c, a);
    REQUIRE(c.get("/api/users", s.access).status == 200);
    double before = metric(srv.port(), "portcullis_db_read_retries_total");
    CHECK(before == 0);

    // The connection closes as the list's statement is sent; the pool runs it again.
    srv.proxy().arm("users_list_active", pg_proxy::cut::before_send);
    auto list = c.get("/api/users", s.access);
    REQUIRE(srv.proxy().wait_fired(seconds(5)));
    INFO("server log: ", server_log_tail(srv.server()));
    CHECK(list.status == 200);
    CHECK(list.body["results"].is_array());
    CHECK(metric(srv.port(), "portcullis_db_read_retries_total") == before + 1);
}
