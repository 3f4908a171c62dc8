// `portcullis import-django` against a Django-shaped auth_user table built here and
// against databases built by Django itself (tests/ops/django_seed.py, Debian's
// python3-django), then logins through the running server with the old passwords.

#include "ops_support.hpp"
#include "process.hpp"
#include "server_fixture.hpp"
#include "test_env.hpp"

#include <doctest/doctest.h>
#include <openssl/evp.h>
#include <nlohmann/json.hpp>

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

import_run run_import(const server_fixture& srv, const std::string& source_url, const std::string& table = {},
                      std::vector<std::string> extra = {})
{
    std::vector<std::string> argv = {require_env("PORTCULLIS_BINARY"), "import-django", "--database-url", source_url};
    if (!table.empty()) {
        argv.push_back("--table");
        argv.push_back(table);
    }
    argv.insert(argv.end(), extra.begin(), extra.end());
    std::string log = make_temp_dir("import") + "/import.log";
    int st = run_command(argv,
                         {{"PORTCULLIS_ENV", "development"},
                          {"PORTCULLIS_ENV_FILE", "/dev/null"},
                          {"DATABASE_URL", srv.database_url()},
                          {"REDIS_URL", env_or("PORTCULLIS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")},
                          {"REDIS_PREFIX", srv.redis_prefix()}},
                         log, std::chrono::seconds(120));
    return {st, read_file(log)};
}

bool contains(const std::string& haystack, const std::string& needle)
{
    return haystack.find(needle) != std::string::npos;
}

// Whether `key` exists in the test Redis (Debian's redis-cli, from redis-tools).
bool redis_key_exists(const std::string& key)
{
    std::string log = make_temp_dir("redis") + "/out";
    int st = run_command(
        {"/usr/bin/redis-cli", "-u", env_or("PORTCULLIS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"), "EXISTS", key},
        {}, log, std::chrono::seconds(10));
    REQUIRE(st == 0);
    return read_file(log).find('1') != std::string::npos;
}

// Builds a source database with Django itself; `model` is "custom" or "default".
void seed_with_django(const std::string& source_url, const std::string& model)
{
    std::string dir = make_temp_dir("djangoproject");
    std::string log = dir + "/seed.log";
    int st = run_command({"/usr/bin/python3", require_env("PORTCULLIS_SOURCE_ROOT") + "/tests/ops/django_seed.py",
                          "--database-url", source_url, "--dir", dir, "--model", model},
                         {}, log, std::chrono::seconds(240));
    INFO(read_file(log));
    REQUIRE(st == 0);
}

// The password django_seed.py gives each user.
std::string django_password(const std::string& name)
{
    return "Pw-" + name + "-Django-2024";
}

int login_status(const server_fixture& srv, const std::string& email, const std::string& password)
{
    return json_request(srv.port(), "POST", "/api/auth/login", json{{"email", email}, {"password", password}}).status;
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
    // An inactive Django user is a deactivated account, not a pending registration.
    CHECK(pg_exec(srv.database_url(),
                  "SELECT concat_ws('|', is_active, email_verified_at IS NULL) FROM users"
                  " WHERE username = 'bob'") == "f|f");
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
    // The re-hash is stored before the login answers.
    std::string hash = pg_exec(srv.database_url(), "SELECT password_hash FROM users WHERE username = 'alice'");
    CHECK(hash.rfind("$argon2id$", 0) == 0);
    CHECK(json_request(srv.port(), "POST", "/api/auth/login",
                       json{{"username", "dave"}, {"password", "Dave-Custom-Table-Pass-5"}})
              .status == 200);
    CHECK(json_request(srv.port(), "POST", "/api/auth/login",
                       json{{"email", "alice@example.com"}, {"password", "wrong-password-1"}})
              .status == 401);

    // An inactive Django user cannot log in, even with the right password.
    auto bob =
        json_request(srv.port(), "POST", "/api/auth/login", json{{"username", "bob"}, {"password", bob_password}});
    CHECK(bob.status == 401);

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

TEST_CASE("import-django: a pending registration of a Django address is replaced, never handed over")
{
    std::string mail_dir = make_temp_dir("importmail");
    server_fixture srv({{"EMAIL_BACKEND", "file"}, {"EMAIL_FILE_PATH", mail_dir}});
    std::string source_db = unique_name("django");
    std::string source = create_test_database(source_db);
    const std::string victim_password = "Victims-Own-Django-Pass-31";
    const std::string attacker_password = "Attacker-Chosen-Pass-77";

    // Someone registers the address on Portcullis before the import: a pending row with
    // their password, a verification code in Redis, and (say) a session.
    REQUIRE(
        json_request(srv.port(), "POST", "/api/auth/register",
                     json{{"email", "victim@example.com"}, {"username", "squatter"}, {"password", attacker_password}})
            .status == 201);
    (void)wait_for_mail(mail_dir, "victim@example.com", 1);
    const std::string otp_key = srv.redis_prefix() + "otp:verify_email:victim@example.com";
    REQUIRE(redis_key_exists(otp_key));
    pg_exec(srv.database_url(),
            "INSERT INTO sessions (user_id, expires_at, user_agent)"
            " SELECT id, now() + interval '1 day', 'before-import'"
            " FROM users WHERE email = 'victim@example.com' RETURNING 1");

    pg_exec(source, django_table_sql("auth_user"));
    pg_exec(source, insert_user("auth_user", "victim", "Victim@Example.com", "Val", "Victim", true,
                                django_pbkdf2(victim_password, "victimsalt01", 1000), ""));
    pg_exec(source, insert_user("auth_user", "banned", "banned@example.com", "Ban", "Ned", false,
                                django_pbkdf2("Banned-Users-Pass-55", "bannedsalt", 1000), ""));
    pg_exec(source, insert_user("auth_user", "idn", "idn@bücher.example", "", "", true,
                                django_pbkdf2("Idn-Users-Pass-56", "idnsalt", 1000), ""));
    // Quotes, backslashes, braces and commas travel intact (rows go to PostgreSQL as arrays).
    pg_exec(source, insert_user("auth_user", "quoted", "quoted@example.com", "Q\"uo\\te", "{Brace,} NULL", true,
                                django_pbkdf2("Quoted-Users-Pass-57", "quotesalt", 1000), ""));

    auto run = run_import(srv, source);
    INFO(run.output);
    REQUIRE(run.status == 0);
    CHECK(contains(run.output, "3 created, 1 updated, 0 unchanged, 0 skipped"));
    CHECK(pg_exec(srv.database_url(), "SELECT full_name FROM users WHERE username = 'quoted'") ==
          "Q\"uo\\te {Brace,} NULL");
    CHECK(contains(run.output, "replaced a pending registration of 'victim'"));

    // The Django user owns the account; the registrant's password opens nothing.
    CHECK(login_status(srv, "victim@example.com", attacker_password) == 401);
    auto login = json_request(srv.port(), "POST", "/api/auth/login",
                              json{{"email", "victim@example.com"}, {"password", victim_password}});
    INFO(login.body);
    CHECK(login.status == 200);
    if (login.status == 200) CHECK(json::parse(login.body)["user"]["username"] == "victim");
    // Its pending code is gone and its sessions are ended.
    CHECK_FALSE(redis_key_exists(otp_key));
    CHECK(pg_exec(srv.database_url(),
                  "SELECT count(*) FROM sessions"
                  " WHERE user_agent = 'before-import' AND revoked_at IS NOT NULL") == "1");

    // An inactive Django user is a deactivated account: no login, no re-registration.
    CHECK(pg_exec(srv.database_url(),
                  "SELECT concat_ws('|', is_active, email_verified_at IS NOT NULL) FROM users"
                  " WHERE username = 'banned'") == "f|t");
    CHECK(login_status(srv, "banned@example.com", "Banned-Users-Pass-55") == 401);
    CHECK(json_request(srv.port(), "POST", "/api/auth/register",
                       json{{"email", "banned@example.com"}, {"username", "banned2"}, {"password", attacker_password}})
              .status == 409);

    // Addresses are stored normalized, as registration and login write them.
    CHECK(pg_exec(srv.database_url(), "SELECT email FROM users WHERE username = 'idn'") == "idn@xn--bcher-kva.example");
    CHECK(login_status(srv, "idn@bücher.example", "Idn-Users-Pass-56") == 200);
    CHECK(json_request(
              srv.port(), "POST", "/api/auth/register",
              json{{"email", "idn@xn--bcher-kva.example"}, {"username", "idn2"}, {"password", attacker_password}})
              .status == 409);

    drop_test_database(source_db);
}

TEST_CASE("import-django: a custom user model built by Django 3.2, every Django hasher, dry run first")
{
    std::string mail_dir = make_temp_dir("importmail");
    server_fixture srv({{"EMAIL_BACKEND", "file"}, {"EMAIL_FILE_PATH", mail_dir}});
    std::string source_db = unique_name("djangoapp");
    std::string source = create_test_database(source_db);
    seed_with_django(source, "custom");

    // A required field without a column, and a --map naming a missing column, stop the run.
    auto unmapped = run_import(srv, source, "accounts_user", {"--map", "password="});
    CHECK(unmapped.status == 2);
    CHECK(contains(unmapped.output, "cannot map the required field 'password'"));
    auto wrong_map = run_import(srv, source, "accounts_user", {"--map", "phone=mobile"});
    CHECK(wrong_map.status == 2);
    CHECK(contains(wrong_map.output, "has no column 'mobile'"));

    // The dry run reports everything and changes nothing.
    auto dry = run_import(srv, source, "accounts_user", {"--dry-run"});
    INFO(dry.output);
    REQUIRE(dry.status == 0);
    CHECK(contains(dry.output, "username=(the e-mail address)"));
    CHECK(contains(dry.output, "full_name=full_name"));
    CHECK(contains(dry.output, "verified=email_verified"));
    CHECK(contains(dry.output, "would create 'scrypt@django.example'"));
    CHECK(contains(dry.output, "must reset: 'unusable@django.example'"));
    CHECK(contains(dry.output, "skipped 'mixed.case@django.example': duplicate e-mail"));
    CHECK(contains(dry.output, "--dry-run (nothing changed): 12 created, 0 updated, 0 unchanged, 1 skipped"));
    CHECK(pg_exec(srv.database_url(), "SELECT count(*) FROM users") == "0");

    auto run = run_import(srv, source, "accounts_user");
    INFO(run.output);
    REQUIRE(run.status == 0);
    CHECK(contains(run.output, "12 created, 0 updated, 0 unchanged, 1 skipped (from accounts_user)"));
    CHECK(contains(run.output, "1 must reset their password, 1 inactive"));
    CHECK(contains(run.output, "1 unverified (pending)"));
    CHECK(contains(run.output, "1 staff, 1 superusers"));
    CHECK(pg_exec(srv.database_url(),
                  "SELECT concat_ws('|', username, full_name, phone_number) FROM users"
                  " WHERE email = 'argon2@django.example'") == "argon2@django.example|User argon2|+4930123456");

    // Each Django hasher's password works once and, re-hashed, again.
    for (const std::string name : {"pbkdf2_sha256", "pbkdf2_sha1", "argon2", "bcrypt_sha256", "bcrypt", "scrypt"}) {
        CAPTURE(name);
        const std::string email = name + "@django.example";
        std::string before =
            pg_exec(srv.database_url(), "SELECT password_hash FROM users WHERE email = '" + email + "'");
        CHECK(before.rfind(name == "argon2" ? "argon2$argon2id$" : name + "$", 0) == 0);
        CHECK(login_status(srv, email, django_password(name) + "x") == 401);
        CHECK(login_status(srv, email, django_password(name)) == 200);
        CHECK(pg_exec(srv.database_url(), "SELECT password_hash FROM users WHERE email = '" + email + "'")
                  .rfind("$argon2id$", 0) == 0);
        CHECK(login_status(srv, email, django_password(name)) == 200);
    }

    // Inactive: refused. Unverified in Django: pending here.
    CHECK(login_status(srv, "inactive@django.example", django_password("inactive")) == 401);
    auto unverified =
        json_request(srv.port(), "POST", "/api/auth/login",
                     json{{"email", "unverified@django.example"}, {"password", django_password("unverified")}});
    CHECK(unverified.status == 403);
    CHECK(json::parse(unverified.body)["error"]["code"] == "email_not_verified");
    // They verify the address here, and later imports keep them verified and active.
    REQUIRE(
        json_request(srv.port(), "POST", "/api/auth/resend-otp", json{{"email", "unverified@django.example"}}).status ==
        202);
    std::string verify_code = code_in(wait_for_mail(mail_dir, "unverified@django.example", 1));
    CHECK(json_request(srv.port(), "POST", "/api/auth/verify-email",
                       json{{"email", "unverified@django.example"}, {"otp", verify_code}})
              .status == 200);
    CHECK(login_status(srv, "unverified@django.example", django_password("unverified")) == 200);

    // The duplicate address was reported, not merged: the first row's password is the one.
    CHECK(login_status(srv, "mixed.case@django.example", django_password("mixed")) == 200);
    CHECK(login_status(srv, "mixed.case@django.example", django_password("mixed-duplicate")) == 401);
    CHECK(login_status(srv, "idn@bücher.example", django_password("idn")) == 200);
    CHECK(login_status(srv, "admin@django.example", django_password("admin")) == 200);

    // An unusable password: no login until the user resets it.
    const std::string fresh = "Fresh-Portcullis-Pass-88";
    CHECK(login_status(srv, "unusable@django.example", fresh) == 401);
    REQUIRE(json_request(srv.port(), "POST", "/api/auth/password/forgot", json{{"email", "unusable@django.example"}})
                .status == 202);
    std::string code = code_in(wait_for_mail_containing(mail_dir, "unusable@django.example", "password reset code"));
    auto verified = json_request(srv.port(), "POST", "/api/auth/password/verify-otp",
                                 json{{"email", "unusable@django.example"}, {"otp", code}});
    REQUIRE(verified.status == 200);
    CHECK(json_request(srv.port(), "POST", "/api/auth/password/reset",
                       json{{"reset_token", json::parse(verified.body)["reset_token"]},
                            {"new_password", fresh},
                            {"confirm_password", fresh}})
              .status == 200);
    CHECK(login_status(srv, "unusable@django.example", fresh) == 200);

    // A second run keeps what Portcullis now owns and changes nothing.
    auto again = run_import(srv, source, "accounts_user");
    INFO(again.output);
    CHECK(contains(again.output, "0 created, 0 updated, 12 unchanged, 1 skipped"));
    for (const std::string name : {"pbkdf2_sha256", "bcrypt", "scrypt"}) {
        CHECK(login_status(srv, name + "@django.example", django_password(name)) == 200);
    }
    CHECK(login_status(srv, "unusable@django.example", fresh) == 200);
    CHECK(login_status(srv, "unverified@django.example", django_password("unverified")) == 200);

    drop_test_database(source_db);
}

TEST_CASE("import-django: django.contrib.auth's own auth_user table, built by Django 3.2")
{
    server_fixture srv;
    std::string source_db = unique_name("djangoauth");
    std::string source = create_test_database(source_db);
    seed_with_django(source, "default");

    auto run = run_import(srv, source);
    INFO(run.output);
    REQUIRE(run.status == 0);
    CHECK(contains(run.output, "2 created, 0 updated, 0 unchanged, 0 skipped (from auth_user)"));
    auto login = json_request(srv.port(), "POST", "/api/auth/login",
                              json{{"username", "alice"}, {"password", django_password("alice")}});
    INFO(login.body);
    REQUIRE(login.status == 200);
    CHECK(json::parse(login.body)["user"]["full_name"] == "Alice Liddell");
    CHECK(login_status(srv, "bob@django.example", django_password("bob")) == 401);

    drop_test_database(source_db);
}
