// Why one file of this size: the malformed-input table for every endpoint sits beside the
// Users rows it exercises, on the same server and accounts.
// End to end: the Users table of the contract (list with pagination and prefix, me,
// PATCH/DELETE me, users/{id}, read-only profiles of others) and malformed input to
// every endpoint (400, never 500).

#include "auth_support.hpp"

#include <doctest/doctest.h>

#include <set>

using namespace portcullis::test;
using namespace portcullis::test::auth;

namespace {

server_fixture& server()
{
    return shared_server();
}

std::set<std::string> keys_of(const json& o)
{
    std::set<std::string> k;
    for (const auto& [name, v] : o.items()) k.insert(name);
    return k;
}

const std::set<std::string> public_keys = {"id", "username", "full_name", "date_joined"};
const std::set<std::string> own_keys = {"id",           "email",     "username",    "full_name",
                                        "phone_number", "is_active", "date_joined", "last_login"};

// Registers and activates an account with this exact username.
account make_user(const client& c, const std::string& username)
{
    account a{unique_email("u"), username, good_password, {}};
    auto r = c.post("/api/auth/register", {{"email", a.email}, {"username", username}, {"password", good_password}});
    REQUIRE_MESSAGE(r.status == 201, r.raw.body);
    a.id = r.body["user"]["id"];
    auto code = mailbox(a.email).next_code(verify_subject);
    REQUIRE(c.post("/api/auth/verify-email", {{"email", a.email}, {"otp", code}}).status == 200);
    return a;
}

std::string url_encode(const std::string& s)
{
    static const char* hex = "0123456789ABCDEF";
    std::string out;
    for (unsigned char ch : s) {
        if (std::isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '~') {
            out += static_cast<char>(ch);
        } else {
            out += '%';
            out += hex[ch >> 4];
            out += hex[ch & 15];
        }
    }
    return out;
}

}  // namespace

TEST_CASE("GET /api/users: active users only, limit 1-100, cursor pagination walks all, q prefix")
{
    client c(server().port());
    std::string prefix = unique_username("pg");
    std::set<std::string> active;
    std::vector<account> made;
    for (int i = 0; i < 7; ++i) {
        made.push_back(make_user(c, prefix + "_" + std::to_string(i)));
        active.insert(made.back().id);
    }
    // Not listed: a pending registration and a deleted account with the same prefix.
    std::string pending_name = prefix + "_pending";
    auto pend = c.post("/api/auth/register",
                       {{"email", unique_email("pend")}, {"username", pending_name}, {"password", good_password}});
    REQUIRE(pend.status == 201);
    account gone = make_user(c, prefix + "_gone");
    auto gs = login(c, gone);
    REQUIRE(c.call("DELETE", "/api/users/me", json{{"password", gone.password}}, gs.access).status == 204);

    auto s = login(c, made[0]);
    CHECK(c.get("/api/users").status == 401);

    std::set<std::string> seen;
    std::string cursor;
    int pages = 0;
    for (;;) {
        std::string target = "/api/users?limit=2&q=" + url_encode(prefix);
        if (!cursor.empty()) target += "&cursor=" + url_encode(cursor);
        auto r = c.get(target, s.access);
        REQUIRE(r.status == 200);
        REQUIRE(r.body["results"].is_array());
        CHECK(r.body["results"].size() <= 2);
        for (const auto& u : r.body["results"]) {
            CHECK(keys_of(u) == public_keys);
            CHECK(u["username"].get<std::string>().rfind(prefix, 0) == 0);
            CHECK(seen.insert(u["id"].get<std::string>()).second);  // no duplicates across pages
        }
        ++pages;
        REQUIRE(pages < 20);
        if (r.body["next"].is_null()) break;
        REQUIRE(r.body["next"].is_string());
        cursor = r.body["next"];
    }
    CHECK(seen == active);
    CHECK(pages == 4);

    // Without q the walk covers at least these, again without the inactive ones.
    std::set<std::string> all;
    cursor.clear();
    for (int i = 0; i < 1000; ++i) {
        std::string target = "/api/users?limit=100";
        if (!cursor.empty()) target += "&cursor=" + url_encode(cursor);
        auto r = c.get(target, s.access);
        REQUIRE(r.status == 200);
        for (const auto& u : r.body["results"]) CHECK(all.insert(u["id"].get<std::string>()).second);
        if (r.body["next"].is_null()) break;
        cursor = r.body["next"];
    }
    for (const auto& id : active) CHECK(all.count(id) == 1);
    CHECK(all.count(gone.id) == 0);
    CHECK(all.count(pend.body["user"]["id"].get<std::string>()) == 0);

    // Default page size 20.
    auto def = c.get("/api/users", s.access);
    CHECK(def.status == 200);
    CHECK(def.body["results"].size() <= 20);
    if (all.size() > 20) CHECK(def.body["results"].size() == 20);
    CHECK(c.get("/api/users?limit=1", s.access).body["results"].size() == 1);
    CHECK(c.get("/api/users?limit=100", s.access).status == 200);

    for (const auto& bad : std::vector<std::string>{"0", "101", "-1", "abc", "", "1.5", "99999999999"}) {
        auto r = c.get("/api/users?limit=" + bad, s.access);
        INFO("limit=", bad);
        CHECK(r.status == 400);
        CHECK(r.code() == "validation_failed");
    }
    auto bad_cursor = c.get("/api/users?cursor=garbage", s.access);
    CHECK(bad_cursor.status == 400);
    // LIKE metacharacters in q are literal.
    for (const auto& q : std::vector<std::string>{"%", "_", "\\", prefix.substr(0, 2) + "%"}) {
        auto r = c.get("/api/users?q=" + url_encode(q), s.access);
        INFO("q=", q);
        CHECK(r.status == 200);
        CHECK(r.body["results"].empty());
    }
}

TEST_CASE("GET/PATCH /api/users/me: own view, editable fields, read-only and unknown fields 400, username unique")
{
    client c(server().port());
    account a = register_active(c, "me");
    account b = register_active(c, "me_b");
    auto s = login(c, a);

    auto me = c.get("/api/users/me", s.access);
    REQUIRE(me.status == 200);
    CHECK(keys_of(me.body) == own_keys);
    CHECK(me.body["id"] == a.id);
    CHECK(me.body["username"] == a.username);
    CHECK(me.body["is_active"] == true);

    std::string new_name = unique_username("renamed");
    auto p =
        c.call("PATCH", "/api/users/me",
               json{{"full_name", "Grace Hopper"}, {"phone_number", "+1 555 0100"}, {"username", new_name}}, s.access);
    REQUIRE(p.status == 200);
    CHECK(keys_of(p.body) == own_keys);
    CHECK(p.body["full_name"] == "Grace Hopper");
    CHECK(p.body["phone_number"] == "+1 555 0100");
    CHECK(p.body["username"] == new_name);
    CHECK(p.body["email"] == me.body["email"]);
    // The change is visible at once (the caches were invalidated), to others too.
    auto again = c.get("/api/users/me", s.access);
    CHECK(again.body["full_name"] == "Grace Hopper");
    CHECK(again.body["username"] == new_name);
    auto sb = login(c, b);
    auto seen_by_b = c.get("/api/users/" + a.id, sb.access);
    CHECK(seen_by_b.body["full_name"] == "Grace Hopper");
    CHECK(seen_by_b.body["username"] == new_name);
    CHECK(c.post("/api/auth/login", {{"username", new_name}, {"password", a.password}}).status == 200);
    CHECK(c.post("/api/auth/login", {{"username", a.username}, {"password", a.password}}).status == 401);

    // Partial update leaves the other fields alone.
    auto partial = c.call("PATCH", "/api/users/me", json{{"phone_number", ""}}, s.access);
    CHECK(partial.status == 200);
    CHECK(partial.body["phone_number"] == "");
    CHECK(partial.body["full_name"] == "Grace Hopper");

    for (const auto& [field, value] : std::vector<std::pair<std::string, json>>{{"email", "x@example.test"},
                                                                                {"id", "1"},
                                                                                {"is_active", false},
                                                                                {"date_joined", "2020-01-01T00:00:00Z"},
                                                                                {"last_login", nullptr},
                                                                                {"password", "NewPassw0rd!"},
                                                                                {"is_staff", true},
                                                                                {"nickname", "x"}}) {
        auto r = c.call("PATCH", "/api/users/me", json{{field, value}}, s.access);
        INFO("field ", field);
        CHECK(r.status == 400);
        CHECK(r.code() == "validation_failed");
        CHECK_FALSE(r.detail(field).empty());
    }
    // A read-only field next to a valid one: nothing is applied.
    auto mixed = c.call("PATCH", "/api/users/me", json{{"full_name", "Should Not Stick"}, {"email", "y@example.test"}},
                        s.access);
    CHECK(mixed.status == 400);
    CHECK(c.get("/api/users/me", s.access).body["full_name"] == "Grace Hopper");

    auto types = c.call("PATCH", "/api/users/me", json{{"full_name", 5}}, s.access);
    CHECK(types.status == 400);
    auto null_name = c.call("PATCH", "/api/users/me", json{{"username", nullptr}}, s.access);
    CHECK(null_name.status == 400);
    auto bad_name = c.call("PATCH", "/api/users/me", json{{"username", "a b"}}, s.access);
    CHECK(bad_name.status == 400);
    CHECK_FALSE(bad_name.detail("username").empty());
    auto long_name = c.call("PATCH", "/api/users/me", json{{"full_name", std::string(151, 'n')}}, s.access);
    CHECK(long_name.status == 400);
    auto taken = c.call("PATCH", "/api/users/me", json{{"username", b.username}}, s.access);
    CHECK(taken.status == 409);
    CHECK(taken.code() == "username_taken");
    auto not_object = c.call("PATCH", "/api/users/me", json::array({1, 2}), s.access);
    CHECK(not_object.status == 400);
    CHECK(c.call("PATCH", "/api/users/me", json{{"full_name", "x"}}).status == 401);
    CHECK(c.get("/api/users/me", s.access).body["username"] == new_name);
}

TEST_CASE("GET /api/users/{id}: public view of others, own view of oneself, 404 unknown or inactive")
{
    client c(server().port());
    account a = register_active(c, "view");
    account b = register_active(c, "view_b");
    account pending = register_pending(c, "view_p");
    auto s = login(c, a);

    auto other = c.get("/api/users/" + b.id, s.access);
    REQUIRE(other.status == 200);
    CHECK(keys_of(other.body) == public_keys);
    CHECK(other.body["id"] == b.id);
    CHECK(other.body["username"] == b.username);

    auto own = c.get("/api/users/" + a.id, s.access);
    REQUIRE(own.status == 200);
    CHECK(keys_of(own.body) == own_keys);
    CHECK(own.body["email"].is_string());

    for (const auto& id :
         std::vector<std::string>{pending.id, std::string("999999999"), std::string("abc"), std::string("0"),
                                  std::string("-1"), std::string("99999999999999999999999")}) {
        auto r = c.get("/api/users/" + id, s.access);
        INFO("id ", id);
        CHECK(r.status == 404);
        CHECK(r.code() == "not_found");
    }
    CHECK(c.get("/api/users/" + b.id).status == 401);
}

TEST_CASE("PATCH, PUT, DELETE /api/users/{id} of someone else: 403 forbidden, nothing changes")
{
    client c(server().port());
    account a = register_active(c, "ro");
    account b = register_active(c, "ro_b");
    auto s = login(c, a);
    auto sb = login(c, b);
    auto patch = c.call("PATCH", "/api/users/" + b.id, json{{"full_name", "Hacked"}}, s.access);
    CHECK(patch.status == 403);
    CHECK(patch.code() == "forbidden");
    auto put =
        c.call("PUT", "/api/users/" + b.id,
               json{{"full_name", "Hacked"}, {"username", unique_username("hk")}, {"phone_number", ""}}, s.access);
    CHECK(put.status == 403);
    CHECK(put.code() == "forbidden");
    auto del = c.call("DELETE", "/api/users/" + b.id, json{{"password", a.password}}, s.access);
    CHECK(del.status == 403);
    CHECK(del.code() == "forbidden");
    auto del_b_pw = c.call("DELETE", "/api/users/" + b.id, json{{"password", b.password}}, s.access);
    CHECK(del_b_pw.status == 403);

    auto still = c.get("/api/users/me", sb.access);
    CHECK(still.status == 200);
    CHECK(still.body["full_name"] == "");
    CHECK(still.body["is_active"] == true);

    // One's own id behaves like /me.
    auto own = c.call("PATCH", "/api/users/" + a.id, json{{"full_name", "Mine"}}, s.access);
    CHECK(own.status == 200);
    CHECK(own.body["full_name"] == "Mine");
    CHECK(c.call("PATCH", "/api/users/" + b.id, json{{"full_name", "x"}}).status == 401);
}

TEST_CASE("DELETE /api/users/me: password re-checked; 204 deactivates, ends every session, hides the user")
{
    client c(server().port());
    account a = register_active(c, "del");
    account b = register_active(c, "del_b");
    auto s1 = login(c, a);
    auto s2 = login(c, a, "second");
    auto sb = login(c, b);
    CHECK(c.get("/api/users/" + a.id, sb.access).status == 200);

    auto missing = c.call("DELETE", "/api/users/me", json::object(), s1.access);
    CHECK(missing.status == 400);
    CHECK(missing.code() == "validation_failed");
    auto wrong = c.call("DELETE", "/api/users/me", json{{"password", other_password}}, s1.access);
    CHECK(wrong.status == 400);
    CHECK_FALSE(wrong.detail("password").empty());
    auto typed = c.call("DELETE", "/api/users/me", json{{"password", 1}}, s1.access);
    CHECK(typed.status == 400);
    CHECK(c.call("DELETE", "/api/users/me", json{{"password", a.password}}).status == 401);
    CHECK(c.get("/api/users/me", s2.access).status == 200);

    auto ok = c.call("DELETE", "/api/users/me", json{{"password", a.password}}, s1.access);
    CHECK(ok.status == 204);
    CHECK(ok.raw.body.empty());
    for (const auto* s : {&s1, &s2}) {
        CHECK(c.get("/api/users/me", s->access).status == 401);
        CHECK(c.post("/api/auth/refresh", {{"refresh", s->refresh}}).status == 401);
    }
    auto login_after = c.post("/api/auth/login", {{"email", a.email}, {"password", a.password}});
    CHECK(login_after.status == 401);
    CHECK(login_after.code() == "invalid_credentials");
    CHECK(c.get("/api/users/" + a.id, sb.access).status == 404);
    auto listed = c.get("/api/users?q=" + url_encode(a.username), sb.access);
    CHECK(listed.status == 200);
    CHECK(listed.body["results"].empty());
    // The address stays taken (the account is deactivated, not erased).
    auto reg = c.post("/api/auth/register",
                      {{"email", a.email}, {"username", unique_username("re")}, {"password", good_password}});
    CHECK(reg.status == 409);
    // Password flows do not revive it.
    CHECK(c.post("/api/auth/password/forgot", {{"email", a.email}}).status == 202);
}

TEST_CASE("malformed bodies and wrong JSON types: 400 on every endpoint, never 500")
{
    client c(server().port());
    account a = register_active(c, "malformed");
    auto s = login(c, a);
    const std::vector<std::pair<std::string, std::string>> routes = {
        {"POST", "/api/auth/register"},
        {"POST", "/api/auth/verify-email"},
        {"POST", "/api/auth/resend-otp"},
        {"POST", "/api/auth/login"},
        {"POST", "/api/auth/refresh"},
        {"POST", "/api/auth/logout"},
        {"POST", "/api/auth/password/change"},
        {"POST", "/api/auth/password/forgot"},
        {"POST", "/api/auth/password/verify-otp"},
        {"POST", "/api/auth/password/reset"},
        {"PATCH", "/api/users/me"},
        {"DELETE", "/api/users/me"},
        {"PATCH", "/api/users/" + a.id},
    };
    std::string deep(2000, '[');
    deep += std::string(2000, ']');
    const std::vector<std::string> bodies = {
        "{",
        "{\"email\": }",
        "[]",
        "null",
        "123",
        "\"text\"",
        "true",
        "{\"email\": \"a@b.c\",}",
        "{\"email\": \"\xff\xfe\"}",
        "{\"email\": \"a\\ud800\"}",
        deep,
        "{\"a\":" + std::string(40, '{') + std::string(40, '}') + "}",
        "{\"email\": 1e999, \"password\": -0, \"otp\": 123456789012345678901234567890}",
        "{\"email\": [\"a@b.c\"], \"username\": {\"x\": 1}, \"password\": null, \"otp\": false, \"refresh\": [],"
        " \"old_password\": 1, \"new_password\": 2, \"confirm_password\": 3, \"reset_token\": {}, \"full_name\": [],"
        " \"cookie\": \"true\"}",
        std::string("{\"email\": \"a\0b@c.d\"}", 20),
    };
    for (const auto& [method, path] : routes) {
        for (const auto& body : bodies) {
            auto r = c.call_raw(method, path, body, {{"Authorization", "Bearer " + s.access}});
            INFO(method, " ", path, " body=", body.substr(0, 60));
            CHECK(r.status == 400);
            CHECK((r.code() == "malformed_json" || r.code() == "validation_failed"));
        }
    }
    // Body of another media type: 415.
    auto form = c.call_raw("POST", "/api/auth/login", "email=a&password=b",
                           {{"Content-Type", "application/x-www-form-urlencoded"}});
    CHECK(form.status == 415);
    // Still logged in and unchanged.
    auto me = c.get("/api/users/me", s.access);
    CHECK(me.status == 200);
    CHECK(me.body["email"] == a.email);
}

TEST_CASE("routes: 405 with Allow for a known route and wrong method, 404 for unknown ones, health")
{
    client c(server().port());
    const std::vector<std::tuple<std::string, std::string, std::string>> wrong = {
        {"GET", "/api/auth/register", "POST"},
        {"GET", "/api/auth/login", "POST"},
        {"PUT", "/api/auth/refresh", "POST"},
        {"GET", "/api/auth/logout-all", "POST"},
        {"POST", "/api/auth/session", "GET"},
        {"DELETE", "/api/auth/sessions", "GET"},
        {"POST", "/api/users", "GET"},
        {"PUT", "/api/users/me", "DELETE, GET, PATCH"},
        {"GET", "/api/auth/password/reset", "POST"},
    };
    for (const auto& [method, path, allow] : wrong) {
        auto r = c.call(method, path,
                        method == "GET" || method == "DELETE" ? std::nullopt : std::optional<json>(json::object()));
        INFO(method, " ", path);
        CHECK(r.status == 405);
        CHECK(r.code() == "method_not_allowed");
        // Compare the Allow sets, whatever their order.
        auto split = [](std::string s) {
            std::set<std::string> out;
            std::string item;
            for (char ch : s + ",") {
                if (ch == ',') {
                    if (!item.empty()) out.insert(item);
                    item.clear();
                } else if (ch != ' ') {
                    item += ch;
                }
            }
            return out;
        };
        CHECK(split(r.header("allow")) == split(allow));
    }
    for (const auto& path :
         std::vector<std::string>{"/api/auth/nothing", "/api/users/1/extra", "/api/auth/sessions/"}) {
        auto r = c.get(path);
        INFO(path);
        CHECK(r.status == 404);
        CHECK(r.code() == "not_found");
    }
    auto h = c.get("/healthz");
    CHECK(h.status == 200);
    CHECK(h.body == json{{"status", "ok"}});
    CHECK(c.get("/readyz").status == 200);
}

TEST_CASE("hostile query strings and headers: 400/401/404 or success, never 500")
{
    client c(server().port());
    account a = register_active(c, "hostile");
    // A User-Agent that is not UTF-8 is stored with the session and listed back as valid JSON.
    auto l = c.call("POST", "/api/auth/login", json{{"email", a.email}, {"password", a.password}}, {},
                    {{"User-Agent", std::string("agent \xff\xfe\x80 end")}});
    REQUIRE(l.status == 200);
    std::string access = l.body["access"];
    auto sessions = c.get("/api/auth/sessions", access);
    CHECK(sessions.status == 200);
    for (const auto& q :
         std::vector<std::string>{"%FF", "%C3%28", "%00", "%ED%A0%80", std::string(300, 'q'), "%25%5F"}) {
        auto r = c.get("/api/users?q=" + q, access);
        INFO("q=", q);
        CHECK((r.status == 200 || r.status == 400));
        if (r.status == 200) CHECK(r.body["results"].empty());
    }
    for (const auto& cursor : std::vector<std::string>{"%FF%FE", std::string(500, 'A'), "MTIzLjAwMDA", "%00"}) {
        auto r = c.get("/api/users?cursor=" + cursor, access);
        INFO("cursor=", cursor);
        CHECK(r.status == 400);
    }
    for (const auto& id : std::vector<std::string>{"%FF", "1%00", "1e3", "+1", "0x10", "%20" + a.id}) {
        auto r = c.get("/api/users/" + id, access);
        INFO("id=", id);
        CHECK(r.status == 404);
        auto d = c.call("DELETE", "/api/auth/sessions/" + id, std::nullopt, access);
        CHECK(d.status == 404);
    }
}

TEST_CASE("NUL characters (\\u0000) in every string field: 400 validation_failed, never stored cut short")
{
    client c(server().port());
    account a = register_active(c, "nul");
    auto s = login(c, a);
    const std::string nul("x\0y", 3);
    auto u = unique_username("nul");
    const std::vector<std::pair<std::string, json>> requests = {
        {"/api/auth/register", {{"email", unique_email("nul") + nul}, {"username", u}, {"password", good_password}}},
        {"/api/auth/register", {{"email", unique_email("nul")}, {"username", u + nul}, {"password", good_password}}},
        {"/api/auth/register",
         {{"email", unique_email("nul")}, {"username", u}, {"password", std::string(good_password) + nul}}},
        {"/api/auth/register",
         {{"email", unique_email("nul")},
          {"username", unique_username("nul")},
          {"password", good_password},
          {"full_name", nul},
          {"phone_number", nul}}},
        {"/api/auth/verify-email", {{"email", a.email + nul}, {"otp", "123456"}}},
        {"/api/auth/verify-email", {{"email", a.email}, {"otp", nul}}},
        {"/api/auth/resend-otp", {{"email", unique_email("nul") + nul}}},
        {"/api/auth/login", {{"email", a.email + nul}, {"password", a.password}}},
        {"/api/auth/login", {{"username", a.username + nul}, {"password", a.password}}},
        {"/api/auth/login", {{"email", a.email}, {"password", a.password + nul}}},
        {"/api/auth/refresh", {{"refresh", s.refresh + nul}}},
        {"/api/auth/logout", {{"refresh", nul}}},
        {"/api/auth/password/forgot", {{"email", a.email + nul}}},
        {"/api/auth/password/verify-otp", {{"email", a.email + nul}, {"otp", "123456"}}},
        {"/api/auth/password/reset", {{"reset_token", nul}, {"new_password", nul}, {"confirm_password", nul}}},
    };
    for (const auto& [path, body] : requests) {
        auto r = c.post(path, body);
        INFO(path, " ", body.dump());
        CHECK(r.status == 400);
        CHECK(r.code() == "validation_failed");
    }
    auto change =
        c.post("/api/auth/password/change",
               {{"old_password", a.password + nul}, {"new_password", nul}, {"confirm_password", nul}}, s.access);
    CHECK(change.status == 400);
    // PostgreSQL text cannot hold NUL: refused, never silently cut short.
    for (const auto& field : std::vector<std::string>{"full_name", "phone_number", "username"}) {
        auto r = c.call("PATCH", "/api/users/me", json{{field, nul}}, s.access);
        INFO(field);
        CHECK(r.status == 400);
        CHECK_FALSE(r.detail(field).empty());
    }
    CHECK(c.get("/api/users/me", s.access).body["full_name"] == "");
    auto del = c.call("DELETE", "/api/users/me", json{{"password", a.password + nul}}, s.access);
    CHECK(del.status == 400);
    CHECK(c.get("/api/users/me", s.access).status == 200);
}

TEST_CASE("full_name: up to 150 characters (not bytes), in any script; round-trips exactly")
{
    client c(server().port());
    account a = register_active(c, "intl");
    auto s = login(c, a);
    std::string e_acute = "\xc3\xa9";
    std::string name;
    for (int i = 0; i < 150; ++i) name += e_acute;
    auto ok = c.call("PATCH", "/api/users/me", json{{"full_name", name}}, s.access);
    CHECK(ok.status == 200);
    CHECK(ok.body["full_name"] == name);
    auto too_long = c.call("PATCH", "/api/users/me", json{{"full_name", name + e_acute}}, s.access);
    CHECK(too_long.status == 400);
    CHECK_FALSE(too_long.detail("full_name").empty());
    std::string mixed = "Zo\xc3\xab \xe6\x9d\x8e \xf0\x9f\x94\x91 \"quoted\" \\ back";
    auto reg = c.post("/api/auth/register", {{"email", unique_email("intl")},
                                             {"username", unique_username("intl")},
                                             {"password", good_password},
                                             {"full_name", mixed}});
    CHECK(reg.status == 201);
    CHECK(reg.body["user"]["full_name"] == mixed);
    std::string long_reg;
    for (int i = 0; i < 150; ++i) long_reg += "\xe6\x9d\x8e";
    auto reg150 = c.post("/api/auth/register", {{"email", unique_email("intl")},
                                                {"username", unique_username("intl")},
                                                {"password", good_password},
                                                {"full_name", long_reg}});
    CHECK(reg150.status == 201);
}
