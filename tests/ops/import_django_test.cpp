// `portcullis import-django` against a Django-shaped auth_user table built here, then a
// login through the running server with the old Django password.

#include "ops_support.hpp"
#include "process.hpp"
#include "server_fixture.hpp"
#include "test_env.hpp"

#include <doctest/doctest.h>
#include <openssl/evp.h>
#include <nlohmann/json.hpp>

#include <thread>

using namespace portcullis::test;
using nlohmann::json;

namespace {

// Django's PBKDF2PasswordHasher: pbkdf2_sha256$<iterations>$<salt>$<base64 of the 32-byte key>.
std::string django_pbkdf2(const std::string& password, const std::string& salt, int iterations)
{
    unsigned char key[32];
    REQUIRE(PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                              reinterpret_cast<const unsigned char*>(salt.data()), static_cast<int>(salt.size()),
                              iterations, EVP_sha256(), sizeof key, key) == 1);
    unsigned char b64[64];
    int n = EVP_EncodeBlock(b64, key, sizeof key);
    return "pbkdf2_sha256$" + std::to_string(iterations) + "$" + salt + "$" +
           std::string(reinterpret_cast<char*>(b64), static_cast<std::size_t>(n));
}

// The auth_user table of django.contrib.auth (PostgreSQL backend), or a custom user
// table with the same columns.
std::string django_table_sql(const std::string& name)
{
    return "CREATE TABLE " + name +
           " (id serial PRIMARY KEY, password varchar(128) NOT NULL, last_login timestamptz NULL,"
           " is_superuser boolean NOT NULL DEFAULT false, username varchar(150) NOT NULL UNIQUE,"
           " first_name varchar(150) NOT NULL DEFAULT '', last_name varchar(150) NOT NULL DEFAULT '',"
           " email varchar(254) NOT NULL DEFAULT '', is_staff boolean NOT NULL DEFAULT false,"
           " is_active boolean NOT NULL DEFAULT true, date_joined timestamptz NOT NULL)";
}

std::string insert_user(const std::string& table, const std::string& username, const std::string& email,
                        const std::string& first, const std::string& last, bool active, const std::string& password,
                        const std::string& last_login)
{
    return "INSERT INTO " + table +
           " (password, last_login, username, first_name, last_name, email, is_active, date_joined) VALUES ('" +
           password + "', " + (last_login.empty() ? "NULL" : "'" + last_login + "'") + ", '" + username + "', '" +
           first + "', '" + last + "', '" + email + "', " + (active ? "true" : "false") +
           ", '2019-03-04 05:06:07.123456+00')";
}

struct import_run {
    int status;
    std::string output;
};

import_run run_import(const server_fixture& srv, const std::string& source_url, const std::string& table = {})
{
    std::vector<std::string> argv = {require_env("PORTCULLIS_BINARY"), "import-django", "--database-url", source_url};
    if (!table.empty()) {
        argv.push_back("--table");
        argv.push_back(table);
    }
    std::string log = make_temp_dir("import") + "/import.log";
    int st = run_command(argv,
                         {{"PORTCULLIS_ENV", "development"},
                          {"PORTCULLIS_ENV_FILE", "/dev/null"},
                          {"DATABASE_URL", srv.database_url()},
                          {"REDIS_URL", env_or("PORTCULLIS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")}},
                         log, std::chrono::seconds(60));
    return {st, read_file(log)};
}

std::string users_state(const server_fixture& srv)
{
    return pg_exec(srv.database_url(),
                   "SELECT string_agg(concat_ws('|', id, email, username, full_name, is_active, email_verified_at,"
                   " date_joined, last_login, password_hash, updated_at), E'\\n' ORDER BY id) FROM users");
}

}  // namespace

TEST_CASE("import-django copies users idempotently; they log in with their Django passwords")
{
    server_fixture srv;
    std::string source_db = unique_name("django");
    std::string source = create_test_database(source_db);
    const std::string alice_password = "Wonderland-Rabbit-Hole-1865";
    const std::string bob_password = "Builder-Can-We-Fix-It-99";
    pg_exec(source, django_table_sql("auth_user"));
    pg_exec(source, insert_user("auth_user", "alice", "Alice@Example.com", "Alice", "Liddell", true,
                                django_pbkdf2(alice_password, "saltsaltsalt01", 1000), "2024-01-02 03:04:05+00"));
    pg_exec(source, insert_user("auth_user", "bob", "bob@example.com", "Bob", "", false,
                                django_pbkdf2(bob_password, "othersalt02", 1000), ""));
    pg_exec(source, insert_user("auth_user", "carol", "", "Carol", "NoMail", true,
                                django_pbkdf2("whatever-password", "s3", 1000), ""));
    pg_exec(source, insert_user("auth_user", "alice2", "ALICE@example.com", "", "", true,
                                django_pbkdf2("duplicate-address", "s4", 1000), ""));

    auto first = run_import(srv, source);
    INFO(first.output);
    REQUIRE(first.status == 0);
    CHECK(first.output.find("2 created, 0 updated, 0 unchanged, 2 skipped (from auth_user)") != std::string::npos);
    std::string after_first = users_state(srv);
    CHECK(pg_exec(srv.database_url(),
                  "SELECT concat_ws('|', username, full_name, is_active, email_verified_at IS NOT NULL,"
                  " date_joined = '2019-03-04 05:06:07.123456+00', last_login = '2024-01-02 03:04:05+00')"
                  " FROM users WHERE lower(email) = 'alice@example.com'") == "alice|Alice Liddell|t|t|t|t");
    CHECK(pg_exec(srv.database_url(),
                  "SELECT concat_ws('|', is_active, email_verified_at IS NULL) FROM users"
                  " WHERE username = 'bob'") == "f|t");
    CHECK(pg_exec(srv.database_url(), "SELECT password_hash FROM users WHERE username = 'alice'")
              .rfind("pbkdf2_sha256$1000$", 0) == 0);

    auto second = run_import(srv, source);
    INFO(second.output);
    REQUIRE(second.status == 0);
    CHECK(second.output.find("0 created, 0 updated, 2 unchanged, 2 skipped") != std::string::npos);
    CHECK(users_state(srv) == after_first);

    // A change in Django is carried over by the next run.
    pg_exec(source, "UPDATE auth_user SET last_name = 'Pleasance Liddell' WHERE username = 'alice'");
    auto third = run_import(srv, source);
    INFO(third.output);
    CHECK(third.output.find("0 created, 1 updated, 1 unchanged") != std::string::npos);

    // A custom user table with the same columns, named by --table.
    pg_exec(source, django_table_sql("accounts_user"));
    pg_exec(source, insert_user("accounts_user", "dave", "dave@example.com", "Dave", "Custom", true,
                                django_pbkdf2("Dave-Custom-Table-Pass-5", "s5", 1000), ""));
    auto custom = run_import(srv, source, "accounts_user");
    INFO(custom.output);
    CHECK(custom.output.find("1 created, 0 updated, 0 unchanged, 0 skipped (from accounts_user)") != std::string::npos);
    CHECK(run_import(srv, source, "auth_user; DROP TABLE users").status != 0);

    // The old Django password works, and the stored hash becomes argon2id.
    auto login = json_request(srv.port(), "POST", "/api/auth/login",
                              json{{"email", "alice@example.com"}, {"password", alice_password}});
    INFO(login.body);
    REQUIRE(login.status == 200);
    auto user = json::parse(login.body)["user"];
    CHECK(user["username"] == "alice");
    CHECK(user["full_name"] == "Alice Pleasance Liddell");
    CHECK(user["is_active"] == true);
    std::string hash;
    for (int i = 0; i < 100; ++i) {
        hash = pg_exec(srv.database_url(), "SELECT password_hash FROM users WHERE username = 'alice'");
        if (hash.rfind("$argon2id$", 0) == 0) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    CHECK(hash.rfind("$argon2id$", 0) == 0);
    CHECK(json_request(srv.port(), "POST", "/api/auth/login",
                       json{{"username", "dave"}, {"password", "Dave-Custom-Table-Pass-5"}})
              .status == 200);
    CHECK(json_request(srv.port(), "POST", "/api/auth/login",
                       json{{"email", "alice@example.com"}, {"password", "wrong-password-1"}})
              .status == 401);

    // An inactive Django user is imported unverified: the right password gets 403.
    auto bob =
        json_request(srv.port(), "POST", "/api/auth/login", json{{"username", "bob"}, {"password", bob_password}});
    CHECK(bob.status == 403);
    CHECK(json::parse(bob.body)["error"]["code"] == "email_not_verified");

    // Once re-hashed, Portcullis owns the password: another import leaves it alone.
    auto fourth = run_import(srv, source);
    INFO(fourth.output);
    CHECK(fourth.output.find("0 created, 0 updated, 2 unchanged") != std::string::npos);
    CHECK(pg_exec(srv.database_url(), "SELECT password_hash FROM users WHERE username = 'alice'") == hash);
    CHECK(json_request(srv.port(), "POST", "/api/auth/login",
                       json{{"email", "alice@example.com"}, {"password", alice_password}})
              .status == 200);

    drop_test_database(source_db);
}
