// Why one file of this size: `portcullis import-django` is a one-shot command-line tool
// (reading another application's schema with blocking libpq, never on an I/O thread);
// its row mapping, hash conversion and summary belong together.
#include "app/import_django.hpp"

#include "app/resources.hpp"
#include "app/services.hpp"
#include "auth/validation.hpp"
#include "core/log.hpp"
#include "core/text.hpp"
#include "store/kv/redis_auth_kv.hpp"
#include "store/redis/connection.hpp"

#include <libpq-fe.h>
#include <unistd.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <array>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

namespace portcullis::app {

namespace {

namespace asio = boost::asio;

// What Portcullis takes from a Django user row, and the column names guessed for each
// (in order) when --map does not name one. Django's AbstractUser has all but phone and
// verified; a custom model (AbstractBaseUser) may have as little as e-mail, password
// and last_login.
enum field : std::size_t {
    f_email,
    f_username,
    f_password,
    f_is_active,
    f_date_joined,
    f_last_login,
    f_full_name,
    f_first_name,
    f_last_name,
    f_phone,
    f_verified,
    f_is_staff,
    f_is_superuser,
    field_count
};

enum class kind { text, flag, time };

struct field_spec {
    std::string_view name;
    std::array<std::string_view, 2> guesses;
    kind type;
    bool required;
};

constexpr std::array<field_spec, field_count> fields{{
    {"email", {"email", ""}, kind::text, true},
    {"username", {"username", ""}, kind::text, false},
    {"password", {"password", ""}, kind::text, true},
    {"is_active", {"is_active", ""}, kind::flag, false},
    {"date_joined", {"date_joined", ""}, kind::time, false},
    {"last_login", {"last_login", ""}, kind::time, false},
    {"full_name", {"full_name", "name"}, kind::text, false},
    {"first_name", {"first_name", ""}, kind::text, false},
    {"last_name", {"last_name", ""}, kind::text, false},
    {"phone", {"phone_number", "phone"}, kind::text, false},
    {"verified", {"email_verified", "is_verified"}, kind::flag, false},
    {"is_staff", {"is_staff", ""}, kind::flag, false},
    {"is_superuser", {"is_superuser", ""}, kind::flag, false},
}};

// The columns of the source table (`$1` is its quoted name, resolved by regclass).
constexpr const char* source_columns_sql =
    "SELECT attname FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped";

// A batch of users, matched by lower(email); the nine parameters are arrays with one
// element per user (duplicates by address or username were removed before). Only a
// verified row is authoritative about its password: there an argon2id hash means the
// user has logged in to (or reset the password on) Portcullis, so it stays. A pending
// row (email_verified_at NULL) belongs to whoever registered the address; Django's data
// replaces all of it. An inactive Django user arrives verified but inactive (a
// deactivated account, which can neither log in nor re-register or re-verify itself);
// an active one that the model marks unverified arrives pending, and once verified here
// stays verified (is_active then follows Django). A user whose username another address
// holds changes nothing (`clash`). One result row per input row, in input order: clash,
// created (NULL when nothing changed), id, and `foreign_pending` for a replaced pending
// row whose password was not the Django one, i.e. a registration made on Portcullis.
// A missing date_joined is inserted as now() (the same for the whole statement) and
// never overwrites a stored one.
// Arrays: $1 email, $2 username, $3 password, $4 full name, $5 phone, $6 Django's
// is_active, $7 its verified, $8 date joined, $9 last login.
constexpr const char* upsert_sql = R"sql(
WITH input AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::boolean[], $7::boolean[],
                         $8::timestamptz[], $9::timestamptz[])
        WITH ORDINALITY AS i(email, username, password, full_name, phone, active, verified, joined, last_login, n)
), old AS (
    SELECT i.n, u.email_verified_at IS NULL AND u.password_hash IS DISTINCT FROM i.password AS foreign_pending
    FROM input i JOIN users u ON lower(u.email) = lower(i.email)
), clash AS (
    SELECT i.n FROM input i
    WHERE EXISTS (SELECT 1 FROM users u WHERE u.username = i.username AND lower(u.email) <> lower(i.email))
), up AS (
    INSERT INTO users AS u (email, username, password_hash, full_name, phone_number, is_active, email_verified_at,
                            date_joined, last_login)
    SELECT i.email, i.username, i.password, i.full_name, i.phone, i.active AND i.verified,
           CASE WHEN i.verified OR NOT i.active THEN COALESCE(i.joined, now()) END, COALESCE(i.joined, now()),
           i.last_login
    FROM input i WHERE i.n NOT IN (SELECT n FROM clash) ORDER BY i.n
    ON CONFLICT ((lower(email))) DO UPDATE SET
        email = CASE WHEN u.email_verified_at IS NULL THEN EXCLUDED.email ELSE u.email END,
        username = EXCLUDED.username,
        full_name = EXCLUDED.full_name,
        phone_number = EXCLUDED.phone_number,
        is_active = CASE WHEN EXCLUDED.email_verified_at IS NOT NULL THEN EXCLUDED.is_active
                         ELSE u.email_verified_at IS NOT NULL END,
        email_verified_at = COALESCE(u.email_verified_at, EXCLUDED.email_verified_at),
        date_joined = CASE WHEN EXCLUDED.date_joined = now() THEN u.date_joined ELSE EXCLUDED.date_joined END,
        last_login = CASE WHEN u.email_verified_at IS NULL THEN EXCLUDED.last_login
                          ELSE GREATEST(u.last_login, EXCLUDED.last_login) END,
        password_hash = CASE WHEN u.email_verified_at IS NOT NULL AND u.password_hash LIKE '$argon2id$%'
                             THEN u.password_hash ELSE EXCLUDED.password_hash END,
        updated_at = now()
    WHERE (u.username, u.full_name, u.phone_number, u.date_joined)
              IS DISTINCT FROM (EXCLUDED.username, EXCLUDED.full_name, EXCLUDED.phone_number,
                                CASE WHEN EXCLUDED.date_joined = now() THEN u.date_joined
                                     ELSE EXCLUDED.date_joined END)
       OR u.is_active IS DISTINCT FROM (CASE WHEN EXCLUDED.email_verified_at IS NOT NULL THEN EXCLUDED.is_active
                                             ELSE u.email_verified_at IS NOT NULL END)
       OR (u.email_verified_at IS NULL AND (EXCLUDED.email_verified_at IS NOT NULL OR u.email <> EXCLUDED.email
                                             OR u.last_login IS DISTINCT FROM EXCLUDED.last_login))
       OR (EXCLUDED.last_login IS NOT NULL AND (u.last_login IS NULL OR EXCLUDED.last_login > u.last_login))
       OR ((u.email_verified_at IS NULL OR u.password_hash NOT LIKE '$argon2id$%')
           AND u.password_hash <> EXCLUDED.password_hash)
    RETURNING u.id, lower(u.email) AS address, (u.xmax = 0) AS created
)
SELECT c.n IS NOT NULL, up.created, up.id, COALESCE(o.foreign_pending, false)
FROM input i LEFT JOIN clash c ON c.n = i.n LEFT JOIN up ON up.address = lower(i.email) LEFT JOIN old o ON o.n = i.n
ORDER BY i.n
)sql";

// Sessions of replaced pending registrations end with them ($1: their ids).
constexpr const char* end_sessions_sql =
    "UPDATE sessions SET revoked_at = now(), revoke_reason = 'import'"
    " WHERE user_id = ANY($1::bigint[]) AND revoked_at IS NULL";

constexpr int batch_size = 1000;

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

class usage_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// A unique violation inside a batch: another writer took a username between our check
// and our insert. The batch is rolled back and run again row by row.
class batch_conflict : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

std::string trimmed(std::string_view s)
{
    return std::string(core::trim(s, core::whitespace));
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

std::string quote_identifier(PGconn* c, std::string_view name)
{
    char* q = PQescapeIdentifier(c, name.data(), name.size());
    if (q == nullptr) throw import_error(PQerrorMessage(c));
    std::string out(q);
    PQfreemem(q);
    return out;
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
        if (!valid_part(part)) throw usage_error("--table: '" + name + "' is not a table name");
        if (!out.empty()) out += '.';
        out += quote_identifier(c, part);
        rest = dot == std::string_view::npos ? std::string_view{} : rest.substr(dot + 1);
        if (dot != std::string_view::npos && rest.empty())
            throw usage_error("--table: '" + name + "' is not a table name");
    }
    if (!rest.empty()) throw usage_error("--table: '" + name + "' is not a table name");
    return out;
}

struct options {
    std::string url;
    std::string table = "auth_user";
    std::map<std::string, std::string, std::less<>> mapped;  // field → column ("" = none)
    bool dry_run = false;
};

// The column chosen for each field: from --map, else the first guess the table has;
// empty when none. Stops on a --map that names an unknown field or column, and on a
// required field without a column.
std::array<std::string, field_count> map_columns(const std::unordered_set<std::string>& columns, const options& o,
                                                 const std::string& table)
{
    for (const auto& [name, column] : o.mapped) {
        bool known = false;
        for (const auto& f : fields) known = known || f.name == name;
        if (!known) throw usage_error("--map: no field '" + name + "' (see docs/OPERATIONS.md)");
        if (!column.empty() && !columns.contains(column)) {
            throw usage_error("--map " + name + "=" + column + ": " + table + " has no column '" + column + "'");
        }
    }
    std::array<std::string, field_count> out;
    for (std::size_t i = 0; i < field_count; ++i) {
        const auto& f = fields[i];
        if (auto m = o.mapped.find(f.name); m != o.mapped.end()) {
            out[i] = m->second;
        } else {
            for (auto g : f.guesses) {
                if (!g.empty() && columns.contains(std::string(g))) {
                    out[i] = g;
                    break;
                }
            }
        }
        if (f.required && out[i].empty()) {
            throw usage_error("cannot map the required field '" + std::string(f.name) + "': " + table +
                              " has no column named " + std::string(f.guesses[0]) + "; name one with --map " +
                              std::string(f.name) + "=COLUMN");
        }
    }
    return out;
}

// The cursor over the source table: one expression per field, in field order.
std::string cursor_sql(PGconn* c, const std::array<std::string, field_count>& cols, const std::string& quoted_table,
                       bool has_id)
{
    std::string sql = "DECLARE portcullis_import NO SCROLL CURSOR FOR SELECT ";
    for (std::size_t i = 0; i < field_count; ++i) {
        if (i > 0) sql += ", ";
        if (cols[i].empty()) {
            sql += "NULL";
            continue;
        }
        std::string col = quote_identifier(c, cols[i]);
        switch (fields[i].type) {
        case kind::text:
            sql += col + "::text";
            break;
        case kind::flag:
            sql += col + "::boolean";
            break;
        case kind::time:
            // Django with USE_TZ=False stores naive timestamps; the session is in UTC.
            sql += "to_char(" + col + "::timestamptz, 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')";
            break;
        }
    }
    sql += " FROM " + quoted_table + (has_id ? " ORDER BY id" : " ORDER BY 1");
    return sql;
}

// One row ready for the target, with what was read from Django.
struct user_row {
    std::string email, username, password, full_name, phone;
    bool active = true;
    bool verified = true;
    std::optional<std::string> joined, last_login;
};

struct counts {
    std::size_t read = 0;
    std::size_t created = 0;
    std::size_t updated = 0;
    std::size_t unchanged = 0;
    std::size_t skipped = 0;
    std::size_t must_reset = 0;
    std::size_t inactive = 0;
    std::size_t unverified = 0;
    std::size_t staff = 0;
    std::size_t superusers = 0;
    std::size_t replaced_pending = 0;

    void add_target(const counts& b)
    {
        created += b.created;
        updated += b.updated;
        unchanged += b.unchanged;
        skipped += b.skipped;
        replaced_pending += b.replaced_pending;
    }
};

// One line of the report on stdout; on a terminal, the progress line on stderr is
// cleared first so the two do not run into each other.
void say(const std::string& line)
{
    const bool terminal = isatty(STDERR_FILENO) && isatty(STDOUT_FILENO);
    if (terminal) std::fputs("\r\033[K", stderr);
    std::printf("%s\n", line.c_str());
    if (terminal) std::fflush(stdout);
}

// The hashers Portcullis verifies (auth/password_hash.cpp); anything else cannot be
// checked, and its user must reset the password.
bool known_hasher(std::string_view h)
{
    for (std::string_view p :
         {"pbkdf2_sha256$", "pbkdf2_sha1$", "argon2$argon2", "bcrypt_sha256$", "bcrypt$", "scrypt$"}) {
        if (h.starts_with(p)) return true;
    }
    return false;
}

// Checks one source row; prints why it is skipped, or returns it.
class row_reader {
public:
    explicit row_reader(const std::array<std::string, field_count>& cols) : cols_(cols) {}

    std::optional<user_row> read(PGresult* rows, int i, counts& n)
    {
        auto text = [rows, i](field f) -> std::optional<std::string> {
            if (PQgetisnull(rows, i, static_cast<int>(f))) return std::nullopt;
            return std::string(PQgetvalue(rows, i, static_cast<int>(f)));
        };
        auto flag = [&text](field f, bool otherwise) {
            auto v = text(f);
            return v ? *v == "t" : otherwise;
        };
        ++n.read;
        std::string raw_email = trimmed(text(f_email).value_or(""));
        std::string who = cols_[f_username].empty() ? raw_email : text(f_username).value_or("");
        user_row u;
        if (raw_email.empty()) return skip(n, who, "no e-mail address");
        auto email = auth::normalize_email(raw_email);
        if (!email.ok()) return skip(n, who, "invalid address <" + raw_email + ">");
        u.email = email.value;
        u.username = cols_[f_username].empty() ? u.email : trimmed(text(f_username).value_or(""));
        who = u.username;
        if (u.username.empty()) return skip(n, raw_email, "no username");
        auto [first, fresh] = emails_.try_emplace(core::ascii_lower(u.email), u.username);
        if (!fresh) {
            return skip(n, who,
                        "duplicate e-mail: <" + raw_email + "> is the address of '" + first->second +
                            "' (an earlier row), not merged");
        }
        if (!usernames_.insert(u.username).second) {
            return skip(n, who, "username clash: an earlier row has the same username");
        }
        if (!cols_[f_full_name].empty()) {
            u.full_name = trimmed(text(f_full_name).value_or(""));
        } else {
            u.full_name = trimmed(text(f_first_name).value_or("") + " " + text(f_last_name).value_or(""));
        }
        u.phone = trimmed(text(f_phone).value_or(""));
        u.active = flag(f_is_active, true);
        u.verified = flag(f_verified, u.active);
        u.joined = text(f_date_joined);
        u.last_login = text(f_last_login);
        // Django marks an account without a usable password with '!'; an empty value means the same.
        u.password = text(f_password).value_or("");
        if (u.password.empty()) u.password = "!";
        if (u.password.starts_with('!')) {
            ++n.must_reset;
            say("must reset: '" + who + "': no usable password in Django");
        } else if (!known_hasher(u.password)) {
            ++n.must_reset;
            // Name the hasher only: never print any part of a hash.
            auto dollar = u.password.find('$');
            std::string hasher = dollar <= 20 ? u.password.substr(0, dollar) : "?";
            say("must reset: '" + who + "': password hasher '" + hasher + "' is not supported");
        }
        if (!u.active) ++n.inactive;
        if (u.active && !u.verified) ++n.unverified;
        if (flag(f_is_staff, false)) ++n.staff;
        if (flag(f_is_superuser, false)) ++n.superusers;
        return u;
    }

private:
    static std::optional<user_row> skip(counts& n, const std::string& who, const std::string& why)
    {
        say("skipped '" + who + "': " + why);
        ++n.skipped;
        return std::nullopt;
    }

    const std::array<std::string, field_count>& cols_;
    std::unordered_map<std::string, std::string> emails_;  // lower-cased address → username of its row
    std::unordered_set<std::string> usernames_;
};

// A pending registration that Django's row replaced.
struct replaced {
    std::string user_id;
    std::string email;
};

struct batch_outcome {
    counts n;
    std::vector<replaced> pending;
    std::vector<std::string> lines;
};

// Runs `op` (a coroutine on one Redis connection) to completion within 15 s.
template <class Op>
bool with_kv(const config& cfg, Op op)
{
    asio::io_context ioc;
    store::redis::connection conn(ioc.get_executor(), process_redis_settings(cfg));
    store::kv::redis_auth_kv kv(conn, cfg.queue.prefix);
    conn.start();
    bool ok = false;
    asio::co_spawn(ioc, op(&kv, core::steady_clock::now() + std::chrono::seconds(10)),
                   [&ok, &conn](std::exception_ptr e, bool r) {
                       ok = !e && r;
                       conn.stop();
                   });
    ioc.run_for(std::chrono::seconds(15));
    return ok;
}

asio::awaitable<bool> async_drop_codes(store::kv::auth_kv* kv, std::vector<std::string> emails, core::deadline d)
{
    for (const auto& e : emails) {
        auto r = co_await kv->async_drop_otp("verify_email", e, d);
        if (!r) co_return false;
    }
    co_return true;
}

asio::awaitable<bool> async_end_cached_sessions(store::kv::auth_kv* kv, std::vector<std::string> events,
                                                core::deadline d)
{
    for (const auto& e : events) {
        auto r = co_await kv->async_publish_invalidation(e, d);
        if (!r) co_return false;
    }
    co_return true;
}

class importer {
public:
    importer(const config& cfg, options o) : cfg_(cfg), o_(std::move(o)) {}

    counts run()
    {
        source_ = connect(o_.url, "--database-url");
        target_ = connect(cfg_.database.url, "DATABASE_URL");
        std::string quoted = quote_table(source_.get(), o_.table);

        exec(source_.get(), "SET TIME ZONE 'UTC'", "--database-url");
        exec(source_.get(), "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", "--database-url");
        auto columns = read_columns(quoted);
        cols_ = map_columns(columns, o_, o_.table);
        print_mapping();

        result_ptr prepared(PQprepare(target_.get(), "portcullis_import_users", upsert_sql, 9, nullptr));
        check(prepared.get(), PGRES_COMMAND_OK, "target");
        prepared.reset(PQprepare(target_.get(), "portcullis_import_end_sessions", end_sessions_sql, 1, nullptr));
        check(prepared.get(), PGRES_COMMAND_OK, "target");

        total_ = std::stoull(value(exec(source_.get(), "SELECT count(*) FROM " + quoted, "reading " + o_.table)));
        exec(source_.get(), cursor_sql(source_.get(), cols_, quoted, columns.contains("id")), "reading " + o_.table);

        counts n;
        row_reader reader(cols_);
        start_ = std::chrono::steady_clock::now();
        const std::string fetch = "FETCH " + std::to_string(batch_size) + " FROM portcullis_import";
        for (;;) {
            result_ptr rows = exec(source_.get(), fetch, "reading " + o_.table);
            int count = PQntuples(rows.get());
            std::vector<user_row> batch;
            batch.reserve(static_cast<std::size_t>(count));
            for (int i = 0; i < count; ++i) {
                if (auto u = reader.read(rows.get(), i, n)) batch.push_back(std::move(*u));
            }
            apply(batch, n);
            progress(n.read);
            if (count < batch_size) break;
        }
        exec(source_.get(), "COMMIT", "--database-url");
        if (isatty(STDERR_FILENO)) std::fputc('\n', stderr);
        seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
        return n;
    }

    double seconds() const noexcept { return seconds_; }

private:
    static std::string value(const result_ptr& r) { return PQgetvalue(r.get(), 0, 0); }

    static void check(PGresult* r, ExecStatusType want, const std::string& what)
    {
        if (PQresultStatus(r) != want) throw import_error(what + ": " + PQresultErrorMessage(r));
    }

    std::unordered_set<std::string> read_columns(const std::string& quoted)
    {
        const char* params[1] = {quoted.c_str()};
        result_ptr r(PQexecParams(source_.get(), source_columns_sql, 1, nullptr, params, nullptr, nullptr, 0));
        check(r.get(), PGRES_TUPLES_OK, "reading " + o_.table);
        std::unordered_set<std::string> out;
        for (int i = 0; i < PQntuples(r.get()); ++i) out.insert(PQgetvalue(r.get(), i, 0));
        return out;
    }

    void print_mapping() const
    {
        std::string line = "columns of " + o_.table + ":";
        for (std::size_t i = 0; i < field_count; ++i) {
            if (!cols_[i].empty()) {
                line += " " + std::string(fields[i].name) + "=" + cols_[i];
            } else if (i == f_username) {
                line += " username=(the e-mail address)";
            } else if (i == f_verified) {
                line += " verified=(is_active)";
            }
        }
        std::printf("%s\n", line.c_str());
    }

    // One batch in one transaction: committed whole, or (dry run) rolled back whole.
    void apply(const std::vector<user_row>& batch, counts& n)
    {
        batch_outcome out;
        exec(target_.get(), "BEGIN", "target");
        try {
            out = run_batch(batch, false);
        } catch (const batch_conflict&) {
            exec(target_.get(), "ROLLBACK", "target");
            exec(target_.get(), "BEGIN", "target");
            out = run_batch(batch, true);
        } catch (...) {
            PQclear(PQexec(target_.get(), "ROLLBACK"));
            throw;
        }
        if (o_.dry_run) {
            exec(target_.get(), "ROLLBACK", "target");
        } else {
            // The pending codes go before the commit: if this fails, nothing of the batch
            // is kept and a re-run finds the same pending rows.
            if (!out.pending.empty()) {
                std::vector<std::string> emails;
                for (const auto& p : out.pending) emails.push_back(core::ascii_lower(p.email));
                if (!with_kv(cfg_, [&emails](store::kv::auth_kv* kv, core::deadline d) {
                        return async_drop_codes(kv, emails, d);
                    })) {
                    PQclear(PQexec(target_.get(), "ROLLBACK"));
                    throw import_error("REDIS_URL: could not drop the codes of replaced pending registrations");
                }
            }
            exec(target_.get(), "COMMIT", "target");
            if (!out.pending.empty()) {
                std::vector<std::string> events;
                for (const auto& p : out.pending) events.push_back("u:" + p.user_id);
                if (!with_kv(cfg_, [&events](store::kv::auth_kv* kv, core::deadline d) {
                        return async_end_cached_sessions(kv, events, d);
                    })) {
                    std::fprintf(stderr,
                                 "warning: could not tell running servers about ended sessions; "
                                 "their caches drop them within the cache lifetime\n");
                }
            }
        }
        for (const auto& l : out.lines) say(l);
        n.add_target(out.n);
    }

    // The whole batch in one statement; after a unique violation (a concurrent writer
    // took a username) the caller runs it again one row at a time, each in a savepoint.
    batch_outcome run_batch(const std::vector<user_row>& batch, bool row_by_row)
    {
        batch_outcome out;
        if (!row_by_row) {
            upsert(batch.begin(), batch.end(), false, out);
        } else {
            for (auto it = batch.begin(); it != batch.end(); ++it) upsert(it, it + 1, true, out);
        }
        if (!out.pending.empty()) {
            std::string ids = "{";
            for (const auto& p : out.pending) ids += (ids.size() > 1 ? "," : "") + p.user_id;
            ids += "}";
            const char* param[1] = {ids.c_str()};
            result_ptr e(
                PQexecPrepared(target_.get(), "portcullis_import_end_sessions", 1, param, nullptr, nullptr, 0));
            check(e.get(), PGRES_COMMAND_OK, "target");
        }
        return out;
    }

    using row_iter = std::vector<user_row>::const_iterator;

    void upsert(row_iter first, row_iter last, bool savepoint, batch_outcome& out)
    {
        if (first == last) return;
        std::array<std::string, 9> arrays;
        for (auto& a : arrays) a = "{";
        for (auto it = first; it != last; ++it) {
            const bool more = it != first;
            append_element(arrays[0], it->email, more);
            append_element(arrays[1], it->username, more);
            append_element(arrays[2], it->password, more);
            append_element(arrays[3], it->full_name, more);
            append_element(arrays[4], it->phone, more);
            append_element(arrays[5], it->active ? "t" : "f", more);
            append_element(arrays[6], it->verified ? "t" : "f", more);
            append_element(arrays[7], it->joined, more);
            append_element(arrays[8], it->last_login, more);
        }
        std::array<const char*, 9> values{};
        for (std::size_t i = 0; i < arrays.size(); ++i) {
            arrays[i] += '}';
            values[i] = arrays[i].c_str();
        }
        if (savepoint) exec(target_.get(), "SAVEPOINT portcullis_row", "target");
        result_ptr r(PQexecPrepared(target_.get(), "portcullis_import_users", 9, values.data(), nullptr, nullptr, 0));
        if (PQresultStatus(r.get()) != PGRES_TUPLES_OK) {
            const char* state = PQresultErrorField(r.get(), PG_DIAG_SQLSTATE);
            bool unique = state != nullptr && std::string_view(state) == "23505";
            if (unique && !savepoint) throw batch_conflict("unique violation");
            if (!unique) throw import_error("target: " + std::string(PQresultErrorMessage(r.get())));
            exec(target_.get(), "ROLLBACK TO SAVEPOINT portcullis_row", "target");
            out.lines.push_back("skipped '" + first->username + "': username clash with another Portcullis account");
            ++out.n.skipped;
            return;
        }
        if (savepoint) exec(target_.get(), "RELEASE SAVEPOINT portcullis_row", "target");
        if (PQntuples(r.get()) != static_cast<int>(last - first)) throw import_error("target: unexpected answer");
        int row = 0;
        for (auto it = first; it != last; ++it, ++row) classify(*it, r.get(), row, out);
    }

    void classify(const user_row& u, PGresult* r, int row, batch_outcome& out) const
    {
        auto field_of = [r, row](int c) { return std::string_view(PQgetvalue(r, row, c)); };
        if (field_of(0) == "t") {
            out.lines.push_back("skipped '" + u.username + "': username clash with another Portcullis account");
            ++out.n.skipped;
        } else if (PQgetisnull(r, row, 1)) {
            ++out.n.unchanged;
        } else if (field_of(1) == "t") {
            ++out.n.created;
            if (o_.dry_run) out.lines.push_back("would create '" + u.username + "'");
        } else {
            ++out.n.updated;
            if (o_.dry_run) out.lines.push_back("would update '" + u.username + "'");
            if (field_of(3) == "t") {
                ++out.n.replaced_pending;
                out.pending.push_back({std::string(field_of(2)), u.email});
                out.lines.push_back(std::string(o_.dry_run ? "would replace" : "replaced") +
                                    " a pending registration of '" + u.username +
                                    "' made on Portcullis: its code dropped, its sessions ended");
            }
        }
    }

    // One element of a PostgreSQL array literal: quoted, with " and \ escaped; NULL for none.
    static void append_element(std::string& array, const std::optional<std::string>& v, bool comma)
    {
        if (comma) array += ',';
        if (!v) {
            array += "NULL";
            return;
        }
        array += '"';
        for (char c : *v) {
            if (c == '"' || c == '\\') array += '\\';
            array += c;
        }
        array += '"';
    }

    void progress(std::size_t done) const
    {
        if (!isatty(STDERR_FILENO)) return;
        double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
        double rate = elapsed > 0 ? static_cast<double>(done) / elapsed : 0;
        double left = rate > 0 && total_ > done ? static_cast<double>(total_ - done) / rate : 0;
        std::fprintf(stderr, "\r%zu/%zu rows, %.0f rows/s, %.0f s left   ", done, total_, rate, left);
    }

    const config& cfg_;
    options o_;
    conn_ptr source_, target_;
    std::array<std::string, field_count> cols_;
    std::size_t total_ = 0;
    std::chrono::steady_clock::time_point start_;
    double seconds_ = 0;
};

constexpr const char* usage =
    "usage: portcullis import-django --database-url URL [--table auth_user] [--map field=column]... [--dry-run]\n";

}  // namespace

int run_import_django(const config& cfg, const std::vector<std::string>& args)
{
    options o;
    for (std::size_t i = 0; i < args.size(); ++i) {
        if (args[i] == "--database-url" && i + 1 < args.size()) {
            o.url = args[++i];
        } else if (args[i] == "--table" && i + 1 < args.size()) {
            o.table = args[++i];
        } else if (args[i] == "--map" && i + 1 < args.size() && args[i + 1].find('=') != std::string::npos) {
            const std::string& m = args[++i];
            o.mapped[m.substr(0, m.find('='))] = m.substr(m.find('=') + 1);
        } else if (args[i] == "--dry-run") {
            o.dry_run = true;
        } else {
            std::fputs(usage, stderr);
            return 2;
        }
    }
    if (o.url.empty()) {
        std::fputs(usage, stderr);
        return 2;
    }
    // The summary goes to stdout; keep routine log lines out of it.
    core::log::set_level(core::log::level::warn);
    if (cfg.migrate_on_start && !o.dry_run && !migrate_database(cfg)) return 1;
    const bool dry_run = o.dry_run;
    const std::string table = o.table;
    try {
        importer imp(cfg, std::move(o));
        counts n = imp.run();
        std::printf("import-django%s: %zu created, %zu updated, %zu unchanged, %zu skipped (from %s)\n",
                    dry_run ? " --dry-run (nothing changed)" : "", n.created, n.updated, n.unchanged, n.skipped,
                    table.c_str());
        std::printf(
            "read %zu rows in %.1f s (%.0f rows/s); %zu must reset their password, %zu inactive "
            "(deactivated), %zu unverified (pending), %zu pending registrations replaced; %zu staff, "
            "%zu superusers (imported as ordinary users)\n",
            n.read, imp.seconds(), imp.seconds() > 0 ? static_cast<double>(n.read) / imp.seconds() : 0.0, n.must_reset,
            n.inactive, n.unverified, n.replaced_pending, n.staff, n.superusers);
        return 0;
    } catch (const usage_error& e) {
        std::fprintf(stderr, "portcullis import-django: %s\n", e.what());
        return 2;
    } catch (const import_error& e) {
        std::fprintf(stderr, "portcullis import-django: %s\n", e.what());
        return 1;
    }
}

}  // namespace portcullis::app
