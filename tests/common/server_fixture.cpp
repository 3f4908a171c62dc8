#include "server_fixture.hpp"

#include "http_client.hpp"
#include "test_env.hpp"
#include "wait.hpp"

#include <libpq-fe.h>
#include <signal.h>

#include <stdexcept>

namespace portcullis::test {

std::string pg_exec(const std::string& url, const std::string& sql)
{
    PGconn* conn = PQconnectdb(url.c_str());
    if (PQstatus(conn) != CONNECTION_OK) {
        std::string err = PQerrorMessage(conn);
        PQfinish(conn);
        throw std::runtime_error("pg connect: " + err);
    }
    PQsetNoticeProcessor(
        conn, [](void*, const char*) {}, nullptr);
    PGresult* res = PQexec(conn, sql.c_str());
    auto st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        std::string err = PQresultErrorMessage(res);
        PQclear(res);
        PQfinish(conn);
        throw std::runtime_error("pg exec: " + err);
    }
    std::string value;
    if (st == PGRES_TUPLES_OK && PQntuples(res) > 0 && PQnfields(res) > 0) value = PQgetvalue(res, 0, 0);
    PQclear(res);
    PQfinish(conn);
    return value;
}

namespace {
// Replaces the database name at the end of a postgresql:// URL.
std::string with_database(const std::string& url, const std::string& name)
{
    auto slash = url.rfind('/');
    auto query = url.find('?', slash);
    return url.substr(0, slash + 1) + name + (query == std::string::npos ? "" : url.substr(query));
}
}  // namespace

std::string create_test_database(const std::string& name)
{
    std::string admin = require_env("PORTCULLIS_TEST_DATABASE_URL");
    pg_exec(admin, "DROP DATABASE IF EXISTS " + name);
    pg_exec(admin, "CREATE DATABASE " + name);
    return with_database(admin, name);
}

void drop_test_database(const std::string& name)
{
    std::string admin = require_env("PORTCULLIS_TEST_DATABASE_URL");
    pg_exec(admin, "DROP DATABASE IF EXISTS " + name + " WITH (FORCE)");
}

server_fixture::server_fixture(std::map<std::string, std::string> env, bool own_database,
                               std::vector<std::string> prefix)
{
    dir_ = make_temp_dir("portcullis-server");
    redis_prefix_ = unique_name("t") + ":";
    if (own_database) {
        database_ = unique_name("srv");
        database_url_ = create_test_database(database_);
    } else {
        database_url_ = require_env("PORTCULLIS_TEST_DATABASE_URL");
    }
    std::map<std::string, std::string> full = {
        {"PORTCULLIS_ENV", "development"},
        {"SECRET_KEY", "test-secret-key-0123456789abcdef0123456789"},
        {"LISTEN", "127.0.0.1:0"},
        {"IO_THREADS", "2"},
        {"DATABASE_URL", database_url_},
        {"DATABASE_POOL_SIZE", "4"},
        {"REDIS_URL", env_or("PORTCULLIS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")},
        {"REDIS_PREFIX", redis_prefix_},
        {"EMAIL_BACKEND", "smtp"},
        {"EMAIL_HOST", env_or("PORTCULLIS_TEST_SMTP_HOST", "127.0.0.1")},
        {"EMAIL_PORT", env_or("PORTCULLIS_TEST_SMTP_PORT", "25")},
        {"TEMPLATES_DIR", env_or("PORTCULLIS_SOURCE_ROOT", ".") + "/templates"},
        {"JOB_WORKERS", "2"},
        {"HASH_THREADS", "2"},
        {"ARGON2_MEMORY_KIB", "1024"},
        {"ARGON2_ITERATIONS", "1"},
        {"RATE_LIMIT_EXEMPT", ""},
        {"PORTCULLIS_ENV_FILE", "/dev/null"},
    };
    for (auto& [k, v] : env) full[k] = v;
    std::vector<std::string> argv = std::move(prefix);
    argv.push_back(require_env("PORTCULLIS_BINARY"));
    argv.push_back("serve");
    proc_ = std::make_unique<process>(std::move(argv), full, dir_ + "/server.log");
    // The kernel picks the port (no race with other tests for a free one); the server's
    // listening socket tells which. Read again until /healthz answers there: right after
    // the fork the child still holds the test's descriptors.
    const bool healthy = wait_until(
        [&] {
            if (!proc_->running()) return true;
            const int port = listening_port(proc_->pid()).value_or(0);
            if (port == 0) return false;
            try {
                if (http_request(port, "GET", "/healthz").status != 200) return false;
            } catch (const std::exception&) {
                return false;
            }
            port_ = port;
            return true;
        },
        std::chrono::seconds(30), std::chrono::milliseconds(20));
    if (!proc_->running()) throw std::runtime_error("server exited during start-up:\n" + proc_->log());
    if (!healthy) throw std::runtime_error("server did not become healthy:\n" + proc_->log());
}

server_fixture::~server_fixture()
{
    if (proc_ && proc_->running()) {
        proc_->signal(SIGTERM);
        if (!proc_->wait(std::chrono::seconds(15))) proc_->signal(SIGKILL);
    }
    proc_.reset();
    if (!database_.empty()) {
        try {
            drop_test_database(database_);
        } catch (const std::exception&) {
        }
    }
}

}  // namespace portcullis::test
