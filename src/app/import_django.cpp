#include "app/import_django.hpp"

#include "app/services.hpp"
#include "core/log.hpp"

#include <libpq-fe.h>

#include <cctype>
#include <cstdio>
#include <memory>
#include <set>
#include <stdexcept>
#include <string_view>

namespace portcullis::app {
namespace {

// The rows of the source table, UTC timestamps in RFC 3339. `{table}` is replaced by the
// quoted identifier of --table (validated, then quoted by libpq). Django with USE_TZ=False
// stores naive timestamps; they are read as UTC.
constexpr std::string_view source_cursor_sql =
    "DECLARE portcullis_import NO SCROLL CURSOR FOR "
    "SELECT email, username, first_name, last_name, is_active, "
    "       to_char(date_joined::timestamptz, 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), "
    "       to_char(last_login::timestamptz, 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), "
    "       password "
    "FROM {table} ORDER BY id";

// One user, matched by lower(email). An existing row changes only when the source says
// something new; the password hash is replaced only while it is still a Django hash: once
// the user logged in to Portcullis it is our argon2id hash, and Portcullis is the source
// of truth for it. Active users count as verified (Django had no pending state). RETURNING
// gives no row when nothing changed, and `created` tells an insert from an update.
constexpr const char* upsert_sql = R"sql(
INSERT INTO users AS u (email, username, password_hash, full_name, is_active, email_verified_at,
                        date_joined, last_login)
VALUES ($1, $2, $3, $4, $5::boolean, CASE WHEN $5::boolean THEN $6::timestamptz END, $6::timestamptz,
        $7::timestamptz)
ON CONFLICT ((lower(email))) DO UPDATE SET
    username = EXCLUDED.username,
    full_name = EXCLUDED.full_name,
    is_active = EXCLUDED.is_active,
    email_verified_at = COALESCE(u.email_verified_at, EXCLUDED.email_verified_at),
    date_joined = EXCLUDED.date_joined,
    last_login = GREATEST(u.last_login, EXCLUDED.last_login),
    password_hash = CASE WHEN u.password_hash LIKE '$argon2id$%' THEN u.password_hash
                         ELSE EXCLUDED.password_hash END,
    updated_at = now()
WHERE (u.username, u.full_name, u.is_active, u.date_joined)
          IS DISTINCT FROM (EXCLUDED.username, EXCLUDED.full_name, EXCLUDED.is_active, EXCLUDED.date_joined)
   OR (u.email_verified_at IS NULL AND EXCLUDED.email_verified_at IS NOT NULL)
   OR (EXCLUDED.last_login IS NOT NULL AND (u.last_login IS NULL OR EXCLUDED.last_login > u.last_login))
   OR (u.password_hash NOT LIKE '$argon2id$%' AND u.password_hash <> EXCLUDED.password_hash)
RETURNING (xmax = 0) AS created
)sql";

constexpr int fetch_size = 1000;

struct conn_deleter {
    void operator()(PGconn* c) const noexcept { PQfinish(c); }
};
struct result_deleter {
    void operator()(PGresult* r) const noexcept { PQclear(r); }
};
using conn_ptr = std::unique_ptr<PGconn, conn_deleter>;
using result_ptr = std::unique_ptr<PGresult, result_deleter>;

class import_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

std::string trimmed(std::string_view s)
{
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
    return std::string(s);
}

std::string lower_ascii(std::string s)
{
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

conn_ptr connect(const std::string& url, const char* which)
{
    conn_ptr c(PQconnectdb(url.c_str()));
    if (!c || PQstatus(c.get()) != CONNECTION_OK) {
        throw import_error(std::string(which) + ": " + (c ? PQerrorMessage(c.get()) : "out of memory"));
    }
    PQsetNoticeProcessor(
        c.get(), [](void*, const char*) {}, nullptr);
    return c;
}

result_ptr exec(PGconn* c, const std::string& sql, const std::string& what)
{
    result_ptr r(PQexec(c, sql.c_str()));
    auto st = PQresultStatus(r.get());
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        throw import_error(what + ": " + PQresultErrorMessage(r.get()));
    }
    return r;
}

// "auth_user" or "schema.table": identifiers only, each quoted by libpq.
std::string quote_table(PGconn* c, const std::string& name)
{
    auto valid_part = [](std::string_view p) {
        if (p.empty() || p.size() > 63) return false;
        if (!(std::isalpha(static_cast<unsigned char>(p[0])) || p[0] == '_')) return false;
        for (char ch : p) {
            if (!(std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '$')) return false;
        }
        return true;
    };
    std::string out;
    std::string_view rest = name;
    for (int parts = 0; parts < 2 && !rest.empty(); ++parts) {
        auto dot = rest.find('.');
        std::string_view part = rest.substr(0, dot);
        if (!valid_part(part)) throw import_error("--table: '" + name + "' is not a table name");
        char* q = PQescapeIdentifier(c, part.data(), part.size());
        if (q == nullptr) throw import_error("--table: " + std::string(PQerrorMessage(c)));
        if (!out.empty()) out += '.';
        out += q;
        PQfreemem(q);
        rest = dot == std::string_view::npos ? std::string_view{} : rest.substr(dot + 1);
        if (dot != std::string_view::npos && rest.empty())
            throw import_error("--table: '" + name + "' is not a table name");
    }
    if (!rest.empty()) throw import_error("--table: '" + name + "' is not a table name");
    return out;
}

struct counts {
    std::size_t created = 0;
    std::size_t updated = 0;
    std::size_t unchanged = 0;
    std::size_t skipped = 0;
};

void import_row(PGconn* target, PGresult* rows, int i, std::set<std::string>& seen, counts& n)
{
    auto value = [rows, i](int col) -> std::string {
        return PQgetisnull(rows, i, col) ? std::string() : std::string(PQgetvalue(rows, i, col));
    };
    std::string email = trimmed(value(0));
    std::string username = value(1);
    std::string full_name = trimmed(value(2) + " " + value(3));
    bool active = value(4) == "t";
    std::string joined = value(5);
    bool has_login = !PQgetisnull(rows, i, 6);
    std::string last_login = value(6);
    std::string password = value(7);

    if (email.empty() || email.find('@') == std::string::npos) {
        std::fprintf(stderr, "skipped user '%s': no e-mail address\n", username.c_str());
        ++n.skipped;
        return;
    }
    if (!seen.insert(lower_ascii(email)).second) {
        std::fprintf(stderr, "skipped user '%s': e-mail address already used by an earlier row\n", username.c_str());
        ++n.skipped;
        return;
    }
    if (username.empty()) {
        std::fprintf(stderr, "skipped a user without a username\n");
        ++n.skipped;
        return;
    }
    // Django marks accounts without a usable password with '!'; an empty value means the same.
    if (password.empty()) password = "!";

    const char* values[7] = {email.c_str(),
                             username.c_str(),
                             password.c_str(),
                             full_name.c_str(),
                             active ? "t" : "f",
                             joined.c_str(),
                             has_login ? last_login.c_str() : nullptr};
    result_ptr r(PQexecPrepared(target, "portcullis_import_user", 7, values, nullptr, nullptr, 0));
    auto st = PQresultStatus(r.get());
    if (st != PGRES_TUPLES_OK) {
        const char* state = PQresultErrorField(r.get(), PG_DIAG_SQLSTATE);
        if (state != nullptr && std::string_view(state) == "23505") {
            std::fprintf(stderr, "skipped user '%s': the username belongs to another Portcullis account\n",
                         username.c_str());
            ++n.skipped;
            return;
        }
        throw import_error("target: " + std::string(PQresultErrorMessage(r.get())));
    }
    if (PQntuples(r.get()) == 0)
        ++n.unchanged;
    else if (std::string_view(PQgetvalue(r.get(), 0, 0)) == "t")
        ++n.created;
    else
        ++n.updated;
}

counts import_users(const config& cfg, const std::string& source_url, const std::string& table)
{
    conn_ptr source = connect(source_url, "--database-url");
    conn_ptr target = connect(cfg.database_url, "DATABASE_URL");
    std::string quoted = quote_table(source.get(), table);

    result_ptr prepared(PQprepare(target.get(), "portcullis_import_user", upsert_sql, 7, nullptr));
    if (PQresultStatus(prepared.get()) != PGRES_COMMAND_OK) {
        throw import_error("target: " + std::string(PQresultErrorMessage(prepared.get())));
    }

    exec(source.get(), "SET TIME ZONE 'UTC'", "--database-url");
    exec(source.get(), "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", "--database-url");
    std::string declare(source_cursor_sql);
    declare.replace(declare.find("{table}"), 7, quoted);
    exec(source.get(), declare, "reading " + table);

    counts n;
    std::set<std::string> seen;
    const std::string fetch = "FETCH " + std::to_string(fetch_size) + " FROM portcullis_import";
    for (;;) {
        result_ptr rows = exec(source.get(), fetch, "reading the source table");
        int count = PQntuples(rows.get());
        for (int i = 0; i < count; ++i) import_row(target.get(), rows.get(), i, seen, n);
        if (count < fetch_size) break;
    }
    exec(source.get(), "COMMIT", "--database-url");
    return n;
}

}  // namespace

int run_import_django(const config& cfg, const std::vector<std::string>& args)
{
    std::string url;
    std::string table = "auth_user";
    for (std::size_t i = 0; i < args.size(); ++i) {
        if (args[i] == "--database-url" && i + 1 < args.size())
            url = args[++i];
        else if (args[i] == "--table" && i + 1 < args.size())
            table = args[++i];
        else {
            std::fprintf(stderr, "usage: portcullis import-django --database-url URL [--table auth_user]\n");
            return 2;
        }
    }
    if (url.empty()) {
        std::fprintf(stderr, "usage: portcullis import-django --database-url URL [--table auth_user]\n");
        return 2;
    }
    // The summary goes to stdout; keep routine log lines out of it.
    core::log::set_level(core::log::level::warn);
    if (cfg.migrate_on_start) {
        auto shared = make_shared_services(cfg, false);
        if (!shared->migrate(cfg)) return 1;
    }
    try {
        counts n = import_users(cfg, url, table);
        std::printf("import-django: %zu created, %zu updated, %zu unchanged, %zu skipped (from %s)\n", n.created,
                    n.updated, n.unchanged, n.skipped, table.c_str());
        return 0;
    } catch (const import_error& e) {
        std::fprintf(stderr, "portcullis import-django: %s\n", e.what());
        return 1;
    }
}

}  // namespace portcullis::app
