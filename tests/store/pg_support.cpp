#include "pg_support.hpp"

#include "test_env.hpp"

#include "store/pg/migrate.hpp"

#include <libpq-fe.h>

#include <chrono>
#include <stdexcept>

namespace portcullis::test {

namespace {

std::string quote_conninfo(const std::string& v)
{
    std::string out = "'";
    for (char c : v) {
        if (c == '\'' || c == '\\') out += '\\';
        out += c;
    }
    return out + "'";
}

struct pg_conn {
    explicit pg_conn(const std::string& url) : c(PQconnectdb(url.c_str()))
    {
        if (PQstatus(c) != CONNECTION_OK) {
            std::string msg = PQerrorMessage(c);
            PQfinish(c);
            throw std::runtime_error("test connection failed: " + msg);
        }
    }
    ~pg_conn() { PQfinish(c); }
    PGconn* c;
};

}  // namespace

std::string with_database(const std::string& url, const std::string& dbname)
{
    char* err = nullptr;
    PQconninfoOption* opts = PQconninfoParse(url.c_str(), &err);
    if (opts == nullptr) {
        std::string msg = err ? err : "bad conninfo";
        PQfreemem(err);
        throw std::runtime_error(msg);
    }
    std::string out = "dbname=" + quote_conninfo(dbname);
    for (auto* o = opts; o->keyword != nullptr; ++o) {
        if (o->val == nullptr || std::string_view(o->keyword) == "dbname") continue;
        out += " " + std::string(o->keyword) + "=" + quote_conninfo(o->val);
    }
    PQconninfoFree(opts);
    return out;
}

void admin_exec(const std::string& url, const std::string& sql)
{
    pg_conn c(url);
    PGresult* r = PQexec(c.c, sql.c_str());
    auto st = PQresultStatus(r);
    std::string msg = PQresultErrorMessage(r);
    PQclear(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) throw std::runtime_error("admin_exec: " + msg);
}

std::string admin_value(const std::string& url, const std::string& sql)
{
    pg_conn c(url);
    PGresult* r = PQexec(c.c, sql.c_str());
    std::string out;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        std::string msg = PQresultErrorMessage(r);
        PQclear(r);
        throw std::runtime_error("admin_value: " + msg);
    }
    if (PQntuples(r) > 0) out = PQgetvalue(r, 0, 0);
    PQclear(r);
    return out;
}

scratch_database::scratch_database(const std::string& prefix)
    : admin_(require_env("PORTCULLIS_TEST_DATABASE_URL")), name_(unique_name(prefix))
{
    admin_exec(admin_, "CREATE DATABASE " + name_);
    url_ = with_database(admin_, name_);
}

scratch_database::~scratch_database()
{
    try {
        admin_exec(admin_, "DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
    } catch (...) {
        // Left behind for inspection; never throw from a destructor.
    }
}

const scratch_database& migrated_database()
{
    static scratch_database db("pc_store");
    static bool migrated = [] {
        boost::asio::io_context ioc;
        store::pg::blocking_pool blocking(1, 4);
        store::pg::settings cfg;
        cfg.url = db.url();
        auto r =
            run(ioc, store::pg::async_migrate(blocking, cfg, core::steady_clock::now() + std::chrono::seconds(30)));
        if (!r) throw std::runtime_error("migrations failed: " + r.error().message());
        return true;
    }();
    (void)migrated;
    return db;
}

pool_fixture::pool_fixture(const std::string& url, std::size_t size, void (*tune)(store::pg::settings&))
{
    cfg.url = url;
    cfg.pool_size = size;
    if (tune) tune(cfg);
    pool = std::make_unique<store::pg::pool>(ioc.get_executor(), blocking, cfg);
    pool->start();
}

pool_fixture::~pool_fixture()
{
    pool->stop();
    pool.reset();
    // Let the run loops observe the stop and close their connections.
    ioc.run_for(std::chrono::seconds(3));
}

}  // namespace portcullis::test
