// End to end: operators' tools — an admin made by `portcullis user create-admin`, the
// role claim, 403 for everyone else, the users list (search, status, paging), disabling
// (every session refused at once, on another instance too; login answers
// account_disabled), enabling, logout, verify, deletion, the last admin kept, the CLI's
// other commands, and the audit trail: a row for each event, none holding a secret.

#include "auth_support.hpp"
#include "test_env.hpp"

#include <doctest/doctest.h>

#include <set>

using namespace portcullis::test;
using namespace portcullis::test::auth;

namespace {

// One server of its own (the count of admins is part of what is tested).
server_fixture& server()
{
    static server_fixture srv(env_map{{"RATE_LIMIT_EXEMPT", "127.0.0.1/32"}});
    return srv;
}

// The environment of a command-line run against server()'s database and Redis.
env_map cli_env()
{
    return {{"PORTCULLIS_ENV", "development"},
            {"PORTCULLIS_ENV_FILE", "/dev/null"},
            {"SECRET_KEY", fixture_secret_key},
            {"DATABASE_URL", server().database_url()},
            {"REDIS_URL", env_or("PORTCULLIS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")},
            {"REDIS_PREFIX", server().redis_prefix()},
            {"ARGON2_MEMORY_KIB", "1024"},
            {"ARGON2_ITERATIONS", "1"},
            {"LOG_LEVEL", "error"}};
}

// Runs `portcullis user ARGS…` with `stdin_text` on standard input; returns (status, output).
std::pair<int, std::string> cli(const std::vector<std::string>& args, const std::string& stdin_text = "")
{
    std::string dir = make_temp_dir("user-cli");
    std::string input = dir + "/stdin";
    {
        FILE* f = std::fopen(input.c_str(), "w");
        REQUIRE(f != nullptr);
        std::fputs(stdin_text.c_str(), f);
        std::fclose(f);
    }
    // The shell only redirects standard input; arguments reach the binary as they are.
    std::vector<std::string> argv = {"/bin/sh", "-c", "exec \"$0\" user \"$@\" < \"$PORTCULLIS_CLI_STDIN\"",
                                     require_env("PORTCULLIS_BINARY")};
    argv.insert(argv.end(), args.begin(), args.end());
    env_map env = cli_env();
    env["PORTCULLIS_CLI_STDIN"] = input;
    int st = run_command(argv, env, dir + "/out.txt", std::chrono::seconds(30));
    return {st, read_file(dir + "/out.txt")};
}

bool works(const client& c, const std::string& access)
{
    return c.get("/api/users/me", access).status == 200;
}

struct admin_session {
    account acct;
    session_tokens tokens;
};

// An admin created by the command line, logged in.
admin_session make_admin(const client& c, const std::string& tag)
{
    account a{unique_email(tag), unique_username(tag), good_password, ""};
    auto [st, out] = cli({"create-admin", "--email", a.email, "--username", a.username}, a.password + "\n");
    INFO(out);
    REQUIRE(st == 0);
    auto s = login(c, a);
    a.id = s.user["id"].get<std::string>();
    return {a, s};
}

// Every event type recorded for `user_id` so far, waiting until `expected` are all there
// (the trail is written in the background).
std::set<std::string> event_types(const client& c, const std::string& admin_access, const std::string& user_id,
                                  const std::set<std::string>& expected)
{
    std::set<std::string> seen;
    eventually(
        [&] {
            seen.clear();
            auto r = c.get("/api/admin/audit?limit=200&user_id=" + user_id, admin_access);
            if (r.status != 200) return false;
            for (const auto& e : r.body["results"]) seen.insert(e["type"].get<std::string>());
            for (const auto& t : expected) {
                if (seen.count(t) == 0) return false;
            }
            return true;
        },
        std::chrono::seconds(10));
    return seen;
}

}  // namespace

TEST_CASE("admin: the role claim, 403 forbidden for users, and the users list with search, status and paging")
{
    client c(server().port());
    auto admin = make_admin(c, "adm-list");
    CHECK(payload_of(admin.tokens.access)["role"] == "admin");
    account u = register_active(c, "adm-listed");
    auto us = login(c, u);
    CHECK(payload_of(us.access)["role"] == "user");
    CHECK(payload_of(us.refresh)["role"] == "user");

    auto refused = c.get("/api/admin/users", us.access);
    CHECK(refused.status == 403);
    CHECK(refused.code() == "forbidden");
    CHECK(c.get("/api/admin/audit", us.access).code() == "forbidden");
    CHECK(c.post("/api/admin/users/" + u.id + "/disable", json::object(), us.access).code() == "forbidden");
    // A forged role claim without the key's signature is no token at all.
    CHECK(c.get("/api/admin/users").status == 401);

    auto by_prefix = c.get("/api/admin/users?q=" + u.email.substr(0, 12), admin.tokens.access);
    REQUIRE(by_prefix.status == 200);
    bool found = false;
    for (const auto& row : by_prefix.body["results"]) {
        CHECK(row["email"].get<std::string>().rfind(u.email.substr(0, 12), 0) == 0);
        if (row["id"] == u.id) {
            found = true;
            CHECK(row["status"] == "active");
            CHECK(row["role"] == "user");
        }
    }
    CHECK(found);

    account pending = register_pending(c, "adm-pending");
    auto pendings = c.get("/api/admin/users?status=pending&limit=100", admin.tokens.access);
    REQUIRE(pendings.status == 200);
    bool pending_found = false;
    for (const auto& row : pendings.body["results"]) {
        CHECK(row["status"] == "pending");
        pending_found = pending_found || row["email"] == pending.email;
    }
    CHECK(pending_found);

    // Keyset paging: pages of one, ascending ids, each user once.
    std::set<std::string> ids;
    std::string cursor;
    std::int64_t last = 0;
    for (int i = 0; i < 50; ++i) {
        auto page = c.get("/api/admin/users?limit=1" + (cursor.empty() ? std::string() : "&cursor=" + cursor),
                          admin.tokens.access);
        REQUIRE(page.status == 200);
        REQUIRE(page.body["results"].size() == 1);
        std::int64_t id = std::stoll(page.body["results"][0]["id"].get<std::string>());
        CHECK(id > last);
        last = id;
        ids.insert(page.body["results"][0]["id"].get<std::string>());
        if (page.body["next"].is_null()) break;
        cursor = page.body["next"].get<std::string>();
    }
    CHECK(ids.count(u.id) == 1);
    CHECK(ids.count(admin.acct.id) == 1);

    CHECK(c.get("/api/admin/users?status=nonsense", admin.tokens.access).code() == "validation_failed");
    CHECK(c.get("/api/admin/users?limit=0", admin.tokens.access).code() == "validation_failed");
    CHECK(c.get("/api/admin/users?cursor=forged", admin.tokens.access).code() == "validation_failed");
    CHECK(c.get("/api/admin/users/999999999", admin.tokens.access).code() == "not_found");
    CHECK(c.get("/api/admin/users/abc", admin.tokens.access).code() == "not_found");
    CHECK(c.get("/api/admin/audit?since=yesterday", admin.tokens.access).code() == "validation_failed");

    auto one = c.get("/api/admin/users/" + pending.id, admin.tokens.access);
    REQUIRE(one.status == 200);
    CHECK(one.body["email_verified"] == false);
    CHECK(
        c.post("/api/admin/users/" + pending.id + "/resend-verification", json::object(), admin.tokens.access).status ==
        202);
    auto verified = c.post("/api/admin/users/" + pending.id + "/verify", json::object(), admin.tokens.access);
    REQUIRE(verified.status == 200);
    CHECK(verified.body["status"] == "active");
    CHECK(c.post("/api/admin/users/" + pending.id + "/verify", json::object(), admin.tokens.access).code() ==
          "already_verified");
    CHECK(login(c, pending).access.size() > 0);
}

TEST_CASE("admin: disabling ends every session at once, on another instance too; login answers account_disabled")
{
    client c(server().port());
    auto admin = make_admin(c, "adm-dis");
    account u = register_active(c, "adm-victim");
    auto s = login(c, u);
    // A second instance on the same database and Redis prefix, its caches warm.
    server_fixture twin(env_map{{"RATE_LIMIT_EXEMPT", "127.0.0.1/32"},
                                {"DATABASE_URL", server().database_url()},
                                {"REDIS_PREFIX", server().redis_prefix()}},
                        false);
    client c2(twin.port());
    for (int i = 0; i < 16; ++i) REQUIRE(works(c2, s.access));
    for (int i = 0; i < 16; ++i) REQUIRE(works(c, s.access));

    auto off = c.post("/api/admin/users/" + u.id + "/disable", json::object(), admin.tokens.access);
    REQUIRE(off.status == 200);
    CHECK(off.body["status"] == "disabled");
    CHECK_FALSE(off.body["disabled_at"].is_null());
    // This instance: at once, on every thread.
    for (int i = 0; i < 16; ++i) CHECK_FALSE(works(c, s.access));
    // The other instance: within the stream's latency.
    CHECK(eventually([&] { return !works(c2, s.access); }, std::chrono::seconds(3)));
    for (int i = 0; i < 16; ++i) CHECK_FALSE(works(c2, s.access));
    CHECK(c.post("/api/auth/refresh", {{"refresh", s.refresh}}).status == 401);

    auto refused = c.post("/api/auth/login", {{"email", u.email}, {"password", u.password}});
    CHECK(refused.status == 403);
    CHECK(refused.code() == "account_disabled");
    // A wrong password tells nothing about the account's state.
    auto wrong = c.post("/api/auth/login", {{"email", u.email}, {"password", other_password}});
    CHECK(wrong.code() == "invalid_credentials");

    auto on = c.post("/api/admin/users/" + u.id + "/enable", json::object(), admin.tokens.access);
    REQUIRE(on.status == 200);
    CHECK(on.body["status"] == "active");
    auto s2 = login(c, u);
    REQUIRE(works(c2, s2.access));

    REQUIRE(c.post("/api/admin/users/" + u.id + "/logout", json::object(), admin.tokens.access).status == 200);
    CHECK_FALSE(works(c, s2.access));
    CHECK(eventually([&] { return !works(c2, s2.access); }, std::chrono::seconds(3)));

    auto s3 = login(c, u);
    auto del = c.call("DELETE", "/api/admin/users/" + u.id, json::object(), admin.tokens.access);
    CHECK(del.status == 204);
    CHECK_FALSE(works(c, s3.access));
    CHECK(c.post("/api/auth/login", {{"email", u.email}, {"password", u.password}}).code() == "invalid_credentials");
    CHECK(c.get("/api/admin/users/" + u.id, admin.tokens.access).body["status"] == "deleted");

    auto types = event_types(
        c, admin.tokens.access, u.id,
        {"user.registered", "email.verified", "login.succeeded", "login.failed", "admin.user_disabled", "user.disabled",
         "admin.user_enabled", "admin.user_logout", "session.revoked", "admin.user_deleted", "user.deleted"});
    for (const char* t : {"user.registered", "email.verified", "login.succeeded", "login.failed", "admin.user_disabled",
                          "user.disabled", "admin.user_enabled", "admin.user_logout", "session.revoked",
                          "admin.user_deleted", "user.deleted"}) {
        INFO("event type " << t);
        CHECK(types.count(t) == 1);
    }
    auto disabled = c.get("/api/admin/audit?type=admin.*&user_id=" + u.id, admin.tokens.access);
    REQUIRE(disabled.status == 200);
    REQUIRE(disabled.body["results"].size() >= 4);
    for (const auto& e : disabled.body["results"]) {
        CHECK(e["type"].get<std::string>().rfind("admin.", 0) == 0);
        CHECK(e["actor_id"] == admin.acct.id);
        CHECK(e["ip"] == "127.0.0.1");
    }
}

TEST_CASE("admin: the last enabled admin can be neither disabled, demoted nor deleted; the CLI's commands")
{
    client c(server().port());
    auto a1 = make_admin(c, "adm-last1");
    // Other tests' admins exist in this database: leave exactly one enabled (a1).
    auto admins = c.get("/api/admin/users?limit=100", a1.tokens.access);
    REQUIRE(admins.status == 200);
    for (const auto& row : admins.body["results"]) {
        if (row["role"] == "admin" && row["id"] != a1.acct.id && row["status"] == "active") {
            REQUIRE(c.post("/api/admin/users/" + row["id"].get<std::string>() + "/disable", json::object(),
                           a1.tokens.access)
                        .status == 200);
        }
    }
    auto self_off = c.post("/api/admin/users/" + a1.acct.id + "/disable", json::object(), a1.tokens.access);
    CHECK(self_off.status == 409);
    CHECK(self_off.code() == "last_admin");
    CHECK(c.call("PATCH", "/api/admin/users/" + a1.acct.id, json{{"role", "user"}}, a1.tokens.access).code() ==
          "last_admin");
    CHECK(c.call("DELETE", "/api/admin/users/" + a1.acct.id, json::object(), a1.tokens.access).code() == "last_admin");
    auto [st, out] = cli({"disable", a1.acct.email});
    CHECK(st != 0);
    CHECK(out.find("last_admin") != std::string::npos);

    // Promoting a user ends its sessions (tokens carry the role); the new token says admin.
    account u = register_active(c, "adm-promoted");
    auto us = login(c, u);
    auto promoted = c.call("PATCH", "/api/admin/users/" + u.id, json{{"role", "admin"}, {"full_name", "Promoted"}},
                           a1.tokens.access);
    REQUIRE(promoted.status == 200);
    CHECK(promoted.body["role"] == "admin");
    CHECK(promoted.body["full_name"] == "Promoted");
    CHECK_FALSE(works(c, us.access));
    auto as_admin = login(c, u);
    CHECK(payload_of(as_admin.access)["role"] == "admin");
    CHECK(c.call("PATCH", "/api/admin/users/" + u.id, json{{"role", "root"}}, a1.tokens.access).code() ==
          "validation_failed");
    CHECK(c.call("PATCH", "/api/admin/users/" + u.id, json{{"email", "x@example.com"}}, a1.tokens.access).code() ==
          "validation_failed");
    // Two admins now: the first may be demoted; its admin token is refused at once.
    REQUIRE(c.call("PATCH", "/api/admin/users/" + a1.acct.id, json{{"role", "user"}}, as_admin.access).status == 200);
    CHECK(c.get("/api/admin/users", a1.tokens.access).status == 401);

    // The command line.
    account v = register_active(c, "adm-cli");
    auto vs = login(c, v);
    auto [lst, list_out] = cli({"list", "--q", v.email});
    CHECK(lst == 0);
    CHECK(list_out.find(v.username) != std::string::npos);
    auto [sst, show_out] = cli({"show", v.id});
    CHECK(sst == 0);
    CHECK(show_out.find(v.email) != std::string::npos);
    auto [dst, dis_out] = cli({"disable", v.email});
    INFO(dis_out);
    CHECK(dst == 0);
    CHECK_FALSE(works(c, vs.access));
    CHECK(c.post("/api/auth/login", {{"email", v.email}, {"password", v.password}}).code() == "account_disabled");
    CHECK(cli({"enable", v.id}).first == 0);
    auto vs2 = login(c, v);
    CHECK(cli({"logout", v.id}).first == 0);
    CHECK_FALSE(works(c, vs2.access));
    CHECK(cli({"delete", v.id}).first == 0);
    CHECK(c.post("/api/auth/login", {{"email", v.email}, {"password", v.password}}).code() == "invalid_credentials");
    CHECK(cli({"show", "999999999"}).first != 0);
    CHECK(cli({"frobnicate"}).first == 2);
    // create-admin refuses a weak password, and one already taken address.
    CHECK(
        cli({"create-admin", "--email", unique_email("weak"), "--username", unique_username("weak")}, "123\n").first !=
        0);
    CHECK(cli({"create-admin", "--email", v.email, "--username", unique_username("dup")},
              std::string(good_password) + "\n")
              .first != 0);

    auto types = event_types(c, as_admin.access, v.id,
                             {"admin.user_disabled", "admin.user_enabled", "admin.user_logout", "admin.user_deleted"});
    CHECK(types.count("admin.user_deleted") == 1);
}

TEST_CASE("audit: a row for each security event of an account, none holding a password, a code or a token")
{
    client c(server().port());
    auto admin = make_admin(c, "adm-audit");
    mailbox box(unique_email("adm-audited"));
    auto reg =
        c.post("/api/auth/register",
               {{"email", box.address()}, {"username", unique_username("adm-audited")}, {"password", good_password}});
    REQUIRE(reg.status == 201);
    const std::string id = reg.body["user"]["id"].get<std::string>();
    const std::string code = box.next_code(verify_subject);
    REQUIRE(c.post("/api/auth/verify-email", {{"email", box.address()}, {"otp", code}}).status == 200);
    account a{box.address(), "", good_password, id};

    std::vector<std::string> secrets = {good_password, other_password};
    std::vector<std::string> codes = {code};
    auto wrong = c.post("/api/auth/login", {{"email", a.email}, {"password", other_password}});
    CHECK(wrong.code() == "invalid_credentials");
    auto s = c.call("POST", "/api/auth/login", json{{"email", a.email}, {"password", a.password}}, "",
                    {{"User-Agent", "audit-agent/1.0"}, {"X-Request-Id", "audit-req-0001"}});
    REQUIRE(s.status == 200);
    std::string access = s.body["access"].get<std::string>();
    std::string refresh = s.body["refresh"].get<std::string>();
    secrets.push_back(access);
    secrets.push_back(refresh);

    // Refresh, then present the rotated token again: reuse ends the session.
    auto r1 = c.post("/api/auth/refresh", {{"refresh", refresh}});
    REQUIRE(r1.status == 200);
    secrets.push_back(r1.body["refresh"].get<std::string>());
    CHECK(c.post("/api/auth/refresh", {{"refresh", refresh}}).code() == "token_reused");

    auto s2 = login(c, a);
    secrets.push_back(s2.access);
    REQUIRE(
        c.post(
             "/api/auth/password/change",
             {{"old_password", good_password}, {"new_password", other_password}, {"confirm_password", other_password}},
             s2.access)
            .status == 200);
    REQUIRE(c.post("/api/auth/logout", {{"refresh", s2.refresh}}).status == 200);

    REQUIRE(c.post("/api/auth/password/forgot", {{"email", a.email}}).status == 202);
    const std::string reset_code = box.next_code(reset_subject);
    codes.push_back(reset_code);
    auto proof = c.post("/api/auth/password/verify-otp", {{"email", a.email}, {"otp", reset_code}});
    REQUIRE(proof.status == 200);
    std::string reset_token = proof.body["reset_token"].get<std::string>();
    secrets.push_back(reset_token);
    const std::string third = "Lw3$garnet-Heron";
    secrets.push_back(third);
    REQUIRE(c.post("/api/auth/password/reset",
                   {{"reset_token", reset_token}, {"new_password", third}, {"confirm_password", third}})
                .status == 200);

    auto types = event_types(c, admin.tokens.access, id,
                             {"user.registered", "email.verified", "login.failed", "login.succeeded", "refresh.reused",
                              "password.changed", "logout", "password.reset"});
    for (const char* t : {"user.registered", "email.verified", "login.failed", "login.succeeded", "refresh.reused",
                          "password.changed", "logout", "password.reset"}) {
        INFO("event type " << t);
        CHECK(types.count(t) == 1);
    }

    // The owner's own activity: the login with its client's address, agent and request id.
    auto s3 = c.post("/api/auth/login", {{"email", a.email}, {"password", third}});
    REQUIRE(s3.status == 200);
    auto mine = c.get("/api/auth/activity", s3.body["access"].get<std::string>());
    REQUIRE(mine.status == 200);
    CHECK(mine.body["results"].size() <= 50);
    bool seen_login = false;
    for (const auto& e : mine.body["results"]) {
        CHECK(e.count("actor_id") == 0);
        if (e["type"] == "login.succeeded" && e["request_id"] == "audit-req-0001") {
            seen_login = true;
            CHECK(e["ip"] == "127.0.0.1");
            CHECK(e["user_agent"] == "audit-agent/1.0");
            CHECK_FALSE(e["session_id"].is_null());
        }
        if (e["type"] == "login.failed") CHECK(e["reason"] == "invalid_password");
    }
    CHECK(seen_login);

    // Every column of every row of the trail, as PostgreSQL holds it.
    std::string all =
        pg_exec(server().database_url(), "SELECT coalesce(string_agg(t::text, E'\\n'), '') FROM audit_events t");
    CHECK(all.find("audit-req-0001") != std::string::npos);
    for (const auto& secret : secrets) {
        INFO("a secret is in the audit trail: " << secret.substr(0, 8) << "…");
        CHECK(all.find(secret) == std::string::npos);
    }
    // Six-digit codes, in the columns text could reach (times and ids hold digit runs of
    // their own).
    std::string texts = pg_exec(server().database_url(),
                                "SELECT coalesce(string_agg(concat_ws('|', type, reason, user_agent, request_id, ip),"
                                " E'\\n'), '') FROM audit_events");
    for (const auto& c6 : codes) CHECK(texts.find(c6) == std::string::npos);
    // Append-only: rows cannot be changed.
    CHECK_THROWS(pg_exec(server().database_url(), "UPDATE audit_events SET reason = 'x'"));
}
