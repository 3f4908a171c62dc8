#include "store/pg/connection.hpp"

#include "core/log.hpp"
#include "store/pg/blocking_pool.hpp"
#include "store/pg/sqlstate.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>

namespace portcullis::store::pg {

namespace asio = boost::asio;
using boost::system::error_code;
using core::errc;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// Runs on the blocking pool: PQconnectStartParams may resolve host names and read
// service/password files.
struct start_call {
    connect_options opts;

    PGconn* operator()() const
    {
        // dbname first so that its expansion (the URL) is overridden by our session settings:
        // the row parsers rely on TimeZone=UTC and DateStyle=ISO.
        std::string options = "-c TimeZone=UTC -c DateStyle=ISO -c client_encoding=UTF8";
        if (opts.statement_timeout.count() > 0) {
            options += " -c statement_timeout=" + std::to_string(opts.statement_timeout.count());
        }
        const char* keys[] = {"dbname", "options", "application_name", nullptr};
        const char* values[] = {opts.url.c_str(), options.c_str(), opts.application_name.c_str(), nullptr};
        return PQconnectStartParams(keys, values, 1);
    }
};

struct cancel_call {
    PGcancel* cancel;

    bool operator()() const
    {
        char err[256];
        int ok = PQcancel(cancel, err, sizeof err);
        PQfreeCancel(cancel);
        return ok == 1;
    }
};

void ignore_notice(void*, const char*) {}

const char* field(const PGresult* r, int code)
{
    const char* v = PQresultErrorField(r, code);
    return v ? v : "";
}

}  // namespace

struct connection::collector {
    std::vector<rowset> rows;
    error_code first;
};

connection::connection(const asio::any_io_executor& ex, PGconn* conn) : conn_(conn), socket_(ex) {}

connection::~connection()
{
    // The fd belongs to libpq: unregister it from the reactor before PQfinish closes it.
    if (socket_.is_open()) socket_.release();
    if (conn_) PQfinish(conn_);
}

bool connection::broken() const noexcept
{
    return broken_ || PQstatus(conn_) != CONNECTION_OK;
}

bool connection::probe() noexcept
{
    if (broken()) return false;
    if (PQconsumeInput(conn_) == 0) {
        broken_ = true;
        return false;
    }
    return PQstatus(conn_) == CONNECTION_OK;
}

bool connection::in_transaction() const noexcept
{
    auto s = PQtransactionStatus(conn_);
    return s == PQTRANS_INTRANS || s == PQTRANS_INERROR || s == PQTRANS_ACTIVE;
}

error_code connection::fail_connection(std::string_view what)
{
    broken_ = true;
    core::log::debug("pg_connection_failed", {{"at", what}, {"error", PQerrorMessage(conn_)}});
    return core::make_error_code(errc::db_unavailable);
}

asio::awaitable<core::result<std::unique_ptr<connection>>> connection::async_connect(blocking_pool& blocking,
                                                                                     connect_options opts)
{
    auto ex = co_await asio::this_coro::executor;
    // Named locals, not temporaries inside the co_await: g++ 12 may destroy such a
    // temporary twice.
    start_call call{std::move(opts)};
    auto start = blocking.async_run(std::move(call));
    auto started = co_await std::move(start);
    if (!started) co_return started.error();
    if (*started == nullptr) co_return core::make_error_code(errc::db_unavailable);
    std::unique_ptr<connection> c(new connection(ex, *started));
    if (PQstatus(c->conn_) == CONNECTION_BAD) co_return c->fail_connection("start");
    auto ec = co_await c->async_finish_connect();
    if (ec) co_return ec;
    co_return c;
}

asio::awaitable<error_code> connection::async_finish_connect()
{
    PostgresPollingStatusType st = PGRES_POLLING_WRITING;  // as libpq documents for the first round
    for (;;) {
        int fd = PQsocket(conn_);
        if (fd < 0) co_return fail_connection("socket");
        error_code aec;
        socket_.assign(fd, aec);
        if (aec) co_return fail_connection("assign");
        auto w = st == PGRES_POLLING_READING ? asio::posix::descriptor_base::wait_read
                                             : asio::posix::descriptor_base::wait_write;
        auto [ec] = co_await socket_.async_wait(w, use_tuple);
        // libpq may close this fd and open another one (next address, SSL retry):
        // never keep it registered across PQconnectPoll.
        socket_.release();
        if (ec) co_return ec;
        st = PQconnectPoll(conn_);
        if (st == PGRES_POLLING_OK) break;
        if (st == PGRES_POLLING_FAILED) co_return fail_connection("connect");
    }
    error_code aec;
    socket_.assign(PQsocket(conn_), aec);
    if (aec) co_return fail_connection("assign");
    PQsetNoticeProcessor(conn_, ignore_notice, nullptr);
    if (PQsetnonblocking(conn_, 1) != 0 || PQenterPipelineMode(conn_) != 1) co_return fail_connection("setup");
    co_return error_code{};
}

asio::awaitable<error_code> connection::async_flush()
{
    for (;;) {
        int f = PQflush(conn_);
        if (f == 0) co_return error_code{};
        if (f < 0) co_return fail_connection("flush");
        // libpq reads pending input itself when the send would block, so waiting for
        // writability alone cannot deadlock.
        auto [ec] = co_await socket_.async_wait(asio::posix::descriptor_base::wait_write, use_tuple);
        if (ec) co_return ec;
    }
}

asio::awaitable<error_code> connection::async_wait_input()
{
    while (PQisBusy(conn_)) {
        auto [ec] = co_await socket_.async_wait(asio::posix::descriptor_base::wait_read, use_tuple);
        if (ec) co_return ec;
        if (PQconsumeInput(conn_) == 0) co_return fail_connection("read");
    }
    co_return error_code{};
}

asio::awaitable<error_code> connection::async_read_front(collector* out)
{
    const expect e = expect_.front();
    for (;;) {
        auto ec = co_await async_wait_input();
        if (ec) co_return ec;
        PGresult* r = PQgetResult(conn_);
        if (r == nullptr) {
            // End of one command's results. A sync never ends this way unless the connection died.
            if (e.k == expect::kind::sync || PQstatus(conn_) != CONNECTION_OK) co_return fail_connection("result");
            expect_.pop_front();
            co_return error_code{};
        }
        auto status = PQresultStatus(r);
        if (e.k == expect::kind::sync) {
            PQclear(r);
            if (status == PGRES_PIPELINE_SYNC) {
                expect_.pop_front();
                co_return error_code{};
            }
            if (PQstatus(conn_) != CONNECTION_OK) co_return fail_connection("sync");
            continue;
        }
        switch (status) {
        case PGRES_TUPLES_OK:
        case PGRES_COMMAND_OK:
            if (e.k == expect::kind::prepare) {
                prepared_.insert(e.name);
                PQclear(r);
            } else if (out) {
                out->rows.emplace_back(r);
            } else {
                PQclear(r);
            }
            break;
        case PGRES_PIPELINE_ABORTED:
            // An earlier statement of this exchange failed; its error is the one reported.
            PQclear(r);
            if (out && !out->first) out->first = core::make_error_code(errc::internal);
            break;
        case PGRES_FATAL_ERROR: {
            std::string_view sqlstate = field(r, PG_DIAG_SQLSTATE);
            std::string_view constraint = field(r, PG_DIAG_CONSTRAINT_NAME);
            auto mapped = map_sqlstate(sqlstate, constraint);
            // Never the message or the parameters: they may hold user data.
            auto fields = {core::log::field{"sqlstate", sqlstate}, core::log::field{"constraint", constraint},
                           core::log::field{"statement", e.name ? e.name : "unnamed"}};
            if (mapped == errc::internal) {
                core::log::error("pg_statement_failed", fields);
            } else {
                core::log::debug("pg_statement_failed", fields);
            }
            if (is_session_fatal(sqlstate)) broken_ = true;
            PQclear(r);
            if (out && (!out->first || out->first == errc::internal)) out->first = core::make_error_code(mapped);
            if (PQstatus(conn_) != CONNECTION_OK) co_return fail_connection("fatal");
            break;
        }
        default:
            // COPY and other modes are never started by this layer.
            PQclear(r);
            co_return fail_connection("unexpected result");
        }
    }
}

asio::awaitable<core::result<std::vector<rowset>>> connection::async_exchange(std::span<const command> cmds)
{
    if (broken()) co_return core::make_error_code(errc::db_unavailable);
    if (busy()) co_return core::make_error_code(errc::internal);  // a pool bug: it hands out clean connections
    std::vector<const char*> preparing;
    for (const auto& cmd : cmds) {
        const statement& s = *cmd.stmt;
        int n = cmd.args ? cmd.args->size() : 0;
        const char* const* values = cmd.args ? cmd.args->pointers() : nullptr;
        if (s.name == nullptr) {
            if (!PQsendQueryParams(conn_, s.sql, n, nullptr, values, nullptr, nullptr, 0)) {
                co_return fail_connection("send");
            }
        } else {
            bool known =
                prepared_.contains(s.name) || std::any_of(preparing.begin(), preparing.end(),
                                                          [&](const char* p) { return std::string_view(p) == s.name; });
            if (!known) {
                if (!PQsendPrepare(conn_, s.name, s.sql, 0, nullptr)) co_return fail_connection("prepare");
                expect_.push_back({expect::kind::prepare, s.name});
                preparing.push_back(s.name);
            }
            if (!PQsendQueryPrepared(conn_, s.name, n, values, nullptr, nullptr, 0)) {
                co_return fail_connection("send");
            }
        }
        expect_.push_back({expect::kind::query, s.name});
    }
    if (!PQpipelineSync(conn_)) co_return fail_connection("sync");
    expect_.push_back({expect::kind::sync, nullptr});

    auto ec = co_await async_flush();
    if (ec) co_return ec;
    collector col;
    col.rows.reserve(cmds.size());
    while (!expect_.empty()) {
        ec = co_await async_read_front(&col);
        if (ec) co_return ec;
    }
    if (col.first) co_return col.first;
    co_return std::move(col.rows);
}

asio::awaitable<core::result<rowset>> connection::async_exec(const statement& stmt, const params& args)
{
    const command cmd{&stmt, &args};
    auto r = co_await async_exchange(std::span<const command>(&cmd, 1));
    if (!r) co_return r.error();
    co_return std::move(r->front());
}

asio::awaitable<core::result<void>> connection::async_script(const char* sql)
{
    if (broken()) co_return core::make_error_code(errc::db_unavailable);
    if (busy()) co_return core::make_error_code(errc::internal);
    script_running_ = true;
    // The simple protocol (several statements in one string) is not allowed in pipeline mode.
    if (PQexitPipelineMode(conn_) != 1) co_return fail_connection("exit pipeline");
    if (!PQsendQuery(conn_, sql)) co_return fail_connection("send");
    auto ec = co_await async_flush();
    if (ec) co_return ec;
    error_code first;
    for (;;) {
        ec = co_await async_wait_input();
        if (ec) co_return ec;
        PGresult* r = PQgetResult(conn_);
        if (r == nullptr) break;
        if (PQresultStatus(r) == PGRES_FATAL_ERROR && !first) {
            std::string_view sqlstate = field(r, PG_DIAG_SQLSTATE);
            core::log::error("pg_script_failed", {{"sqlstate", sqlstate}});
            first = core::make_error_code(map_sqlstate(sqlstate, field(r, PG_DIAG_CONSTRAINT_NAME)));
        }
        PQclear(r);
    }
    if (PQstatus(conn_) != CONNECTION_OK) co_return fail_connection("script");
    if (PQenterPipelineMode(conn_) != 1) co_return fail_connection("enter pipeline");
    script_running_ = false;
    if (first) co_return first;
    co_return core::result<void>{};
}

asio::awaitable<core::result<void>> connection::async_drain()
{
    if (broken() || script_running_) co_return core::make_error_code(errc::db_unavailable);
    auto ec = co_await async_flush();
    if (ec) co_return ec;
    while (!expect_.empty()) {
        ec = co_await async_read_front(nullptr);
        if (ec) co_return ec;
    }
    co_return core::result<void>{};
}

asio::awaitable<void> connection::async_cancel(blocking_pool& blocking)
{
    PGcancel* cancel = PQgetCancel(conn_);
    if (cancel == nullptr) co_return;
    auto op = blocking.async_run(cancel_call{cancel});
    auto r = co_await std::move(op);
    if (!r) {
        PQfreeCancel(cancel);  // never ran: the pool was full
        core::log::warn("pg_cancel_skipped", {{"reason", "blocking pool full"}});
    }
}

}  // namespace portcullis::store::pg
