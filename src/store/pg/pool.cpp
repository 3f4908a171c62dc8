// Why one file of this size: the pool's bookkeeping (idle and busy connections,
// waiters, reconnects, cancels) is one state machine over one set of fields.
#include "store/pg/pool.hpp"

#include "core/log.hpp"
#include "core/random.hpp"
#include "core/spawn.hpp"
#include "store/pg/blocking_pool.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <list>

namespace portcullis::store::pg {

namespace asio = boost::asio;
using boost::system::error_code;
using core::errc;

using namespace boost::asio::experimental::awaitable_operators;

namespace {
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
const statement begin_stmt{nullptr, "BEGIN"};
const statement commit_stmt{nullptr, "COMMIT"};
const statement rollback_stmt{nullptr, "ROLLBACK"};
}  // namespace

namespace detail {

enum class slot_state { down, connecting, idle, busy, cleaning };

struct slot {
    explicit slot(const asio::any_io_executor& ex) : wake(ex) {}
    std::unique_ptr<connection> conn;
    slot_state st = slot_state::down;
    asio::steady_timer wake;  // parks the run loop (and bounds its connects); cancelled to wake it
};

struct waiter {
    explicit waiter(const asio::any_io_executor& ex) : timer(ex) {}
    asio::steady_timer timer;
    slot* handed = nullptr;
    errc fail{};
    std::list<waiter*>::iterator pos;
    bool queued = false;
};

struct pool_state : std::enable_shared_from_this<pool_state> {
    pool_state(asio::any_io_executor e, blocking_pool& b, settings c)
        : ex(std::move(e)), blocking(&b), cfg(std::move(c))
    {
        opts.url = cfg.url;
        opts.application_name = cfg.application_name;
        opts.statement_timeout = cfg.query_timeout;
        for (std::size_t i = 0; i < cfg.pool_size; ++i) slots.push_back(std::make_unique<slot>(ex));
    }

    lease make_lease(slot& s) { return lease(shared_from_this(), &s); }

    void make_available(slot& s)
    {
        if (!waiters.empty()) {
            waiter* w = waiters.front();
            waiters.pop_front();
            w->queued = false;
            w->handed = &s;
            s.st = slot_state::busy;
            ++in_use;
            w->timer.cancel();
            return;
        }
        s.st = slot_state::idle;
        idle.push_back(&s);
    }

    // The connection is gone; the run loop reconnects.
    void drop(slot& s)
    {
        s.conn.reset();
        s.st = slot_state::down;
        --live;
        s.wake.cancel();
    }

    void release(slot& s) noexcept
    {
        --in_use;
        if (stopping || !s.conn || s.conn->broken()) {
            bool lost = !stopping && s.conn && s.conn->broken();
            drop(s);
            // A connection lost to a server shutdown, a failover or a demotion (25006): its
            // idle siblings point to the same server, so they are replaced too rather than
            // each failing one request first. Their successors reach the new primary.
            if (lost) drop_idle();
            return;
        }
        if (s.conn->busy() || s.conn->in_transaction()) {
            s.st = slot_state::cleaning;
            s.wake.cancel();
            return;
        }
        make_available(s);
    }

    void drop_idle() noexcept
    {
        for (auto* i : idle) drop(*i);
        idle.clear();
    }

    void fail_waiters(errc e)
    {
        while (!waiters.empty()) {
            waiter* w = waiters.front();
            waiters.pop_front();
            w->queued = false;
            w->fail = e;
            w->timer.cancel();
        }
    }

    void on_connected(slot& s, std::unique_ptr<connection> c)
    {
        s.conn = std::move(c);
        ++live;
        last_connect_failed = false;
        if (down_logged) {
            core::log::info("pg_available", {});
            down_logged = false;
        }
        make_available(s);
    }

    void on_connect_failed(const error_code& ec)
    {
        ++counters.connect_failures;
        last_connect_failed = true;
        if (live == 0) {
            // Nobody will get a connection soon: waiting callers learn it now, not at their deadline.
            fail_waiters(errc::db_unavailable);
            if (!down_logged) {
                core::log::warn("pg_unavailable", {{"error", ec.message()}});
                down_logged = true;
            }
        }
    }

    asio::any_io_executor ex;
    blocking_pool* blocking;
    settings cfg;
    connect_options opts;
    std::vector<std::unique_ptr<slot>> slots;
    std::vector<slot*> idle;  // LIFO: the most recently used connection is reused first
    std::list<waiter*> waiters;
    std::size_t live = 0;
    std::size_t in_use = 0;
    bool last_connect_failed = false;
    bool stopping = false;
    bool started = false;
    bool down_logged = false;
    pool_stats counters;
};

}  // namespace detail

namespace {

using detail::slot_state;

std::chrono::milliseconds with_jitter(std::chrono::milliseconds base)
{
    // ±25 %, so the slots of many pools do not reconnect in lockstep.
    auto span = static_cast<std::uint64_t>(base.count() / 2 + 1);
    return base - base / 4 + std::chrono::milliseconds(static_cast<std::int64_t>(core::random_below(span)));
}

// Makes a connection given back dirty reusable: cancel what runs, read what is
// outstanding, roll back an open transaction. False: drop it.
asio::awaitable<bool> async_clean(detail::pool_state& st, detail::slot& s)
{
    connection& c = *s.conn;
    if (c.broken()) co_return false;
    if (c.busy()) {
        co_await c.async_cancel(*st.blocking);
        auto drain = c.async_drain();
        auto r = co_await core::async_with_timeout(std::move(drain), st.cfg.cleanup_timeout);
        if (!r) co_return false;
    }
    if (c.in_transaction()) {
        const params none;
        auto rollback = c.async_exec(rollback_stmt, none);
        auto r = co_await core::async_with_timeout(std::move(rollback), st.cfg.cleanup_timeout);
        if (!r || c.in_transaction()) co_return false;
    }
    co_return !c.broken() && !c.busy();
}

// One per slot: connect, reconnect with backoff, clean. Ends when the pool stops.
asio::awaitable<void> async_run_slot(std::shared_ptr<detail::pool_state> st, detail::slot* s)
{
    auto backoff = st->cfg.reconnect_min;
    try {
        while (!st->stopping) {
            switch (s->st) {
            case slot_state::down: {
                s->st = slot_state::connecting;
                // Raced against the wake timer rather than a private one, so that stop()
                // (which cancels it) also ends a connect in progress.
                auto connect = connection::async_connect(*st->blocking, st->opts);
                s->wake.expires_after(st->cfg.connect_timeout);
                auto raced = co_await (std::move(connect) || s->wake.async_wait(use_tuple));
                if (st->stopping) {
                    s->st = slot_state::down;
                    break;
                }
                if (raced.index() == 0 && std::get<0>(raced)) {
                    backoff = st->cfg.reconnect_min;
                    st->on_connected(*s, std::move(*std::get<0>(raced)));
                    break;
                }
                s->st = slot_state::down;
                st->on_connect_failed(raced.index() == 0 ? std::get<0>(raced).error()
                                                         : core::make_error_code(errc::timeout));
                s->wake.expires_after(with_jitter(backoff));
                co_await s->wake.async_wait(use_tuple);
                backoff = std::min(backoff * 2, st->cfg.reconnect_max);
                break;
            }
            case slot_state::cleaning: {
                bool ok = co_await async_clean(*st, *s);
                if (st->stopping) break;
                if (ok) {
                    st->make_available(*s);
                } else {
                    core::log::debug("pg_connection_dropped", {{"reason", "cleanup failed"}});
                    st->drop(*s);
                }
                break;
            }
            default:
                s->wake.expires_at(core::steady_clock::time_point::max());
                co_await s->wake.async_wait(use_tuple);
                break;
            }
        }
    } catch (const boost::system::system_error& e) {
        core::log::error("pg_slot_failed", {{"error", e.what()}});
    }
    if (s->st != slot_state::busy && s->conn) {
        std::erase(st->idle, s);
        --st->live;
        s->conn.reset();
        s->st = slot_state::down;
    }
}

}  // namespace

// --- lease ---

lease::lease(lease&& o) noexcept : state_(std::move(o.state_)), slot_(std::exchange(o.slot_, nullptr)) {}

lease& lease::operator=(lease&& o) noexcept
{
    if (this != &o) {
        reset();
        state_ = std::move(o.state_);
        slot_ = std::exchange(o.slot_, nullptr);
    }
    return *this;
}

lease::~lease()
{
    reset();
}

void lease::reset() noexcept
{
    if (slot_) {
        state_->release(*slot_);
        slot_ = nullptr;
    }
    state_.reset();
}

connection& lease::conn() const noexcept
{
    return *slot_->conn;
}

asio::awaitable<core::result<std::vector<rowset>>> lease::async_exchange(std::span<const command> cmds,
                                                                         core::deadline d)
{
    auto& st = *state_;
    auto limit = core::budget(d, st.cfg.query_timeout);
    if (limit <= core::steady_clock::duration::zero()) co_return core::make_error_code(errc::timeout);
    auto op = slot_->conn->async_exchange(cmds);
    auto r = co_await core::async_with_timeout(std::move(op), limit);
    if (!r) {
        if (r.error() == errc::timeout) {
            ++st.counters.timeouts;
        } else if (core::is_unavailable(r.error())) {
            ++st.counters.errors;
        }
    }
    co_return r;
}

asio::awaitable<core::result<rowset>> lease::async_exec(const statement& stmt, const params& args, core::deadline d)
{
    const command cmd{&stmt, &args};
    auto r = co_await async_exchange(std::span<const command>(&cmd, 1), d);
    if (!r) co_return r.error();
    co_return std::move(r->front());
}

// --- transaction ---

asio::awaitable<core::result<std::vector<rowset>>> transaction::async_exchange(std::span<const command> cmds,
                                                                               core::deadline d)
{
    if (failed_) co_return failed_;
    if (done_ || !lease_) co_return core::make_error_code(errc::internal);
    core::result<std::vector<rowset>> r;
    if (!begun_) {
        // BEGIN travels in the same round trip as the first statements.
        std::vector<command> all;
        all.reserve(cmds.size() + 1);
        all.push_back({&begin_stmt, nullptr});
        all.insert(all.end(), cmds.begin(), cmds.end());
        r = co_await lease_.async_exchange(all, d);
        begun_ = true;
        if (r) r->erase(r->begin());
    } else {
        r = co_await lease_.async_exchange(cmds, d);
    }
    if (!r) failed_ = r.error();
    co_return r;
}

asio::awaitable<core::result<rowset>> transaction::async_exec(const statement& stmt, const params& args,
                                                              core::deadline d)
{
    const command cmd{&stmt, &args};
    auto r = co_await async_exchange(std::span<const command>(&cmd, 1), d);
    if (!r) co_return r.error();
    co_return std::move(r->front());
}

asio::awaitable<core::result<void>> transaction::async_commit(core::deadline d)
{
    if (failed_) co_return failed_;
    if (done_ || !lease_) co_return core::make_error_code(errc::internal);
    done_ = true;
    if (begun_) {
        const params none;
        auto r = co_await lease_.async_exec(commit_stmt, none, d);
        if (!r) {
            failed_ = r.error();
            co_return r.error();
        }
    }
    lease_ = lease{};
    co_return core::result<void>{};
}

asio::awaitable<core::result<void>> transaction::async_rollback(core::deadline d)
{
    if (done_ || !lease_) co_return core::result<void>{};
    done_ = true;
    if (begun_) {
        const params none;
        auto r = co_await lease_.async_exec(rollback_stmt, none, d);
        if (!r) co_return r.error();  // the pool rolls back or drops it on release
    }
    lease_ = lease{};
    co_return core::result<void>{};
}

// --- pool ---

pool::pool(asio::any_io_executor ex, blocking_pool& blocking, settings cfg)
    : state_(std::make_shared<detail::pool_state>(std::move(ex), blocking, std::move(cfg)))
{
}

pool::~pool()
{
    stop();
}

void pool::start()
{
    auto& st = *state_;
    if (st.started) return;
    st.started = true;
    for (auto& s : st.slots) {
        asio::co_spawn(st.ex, async_run_slot(state_, s.get()), core::log_escape{"pg_slot"});
    }
}

void pool::stop()
{
    auto& st = *state_;
    if (st.stopping) return;
    st.stopping = true;
    st.fail_waiters(errc::db_unavailable);
    for (auto* s : st.idle) {
        s->conn.reset();
        s->st = slot_state::down;
        --st.live;
    }
    st.idle.clear();
    // Every run loop waits on its wake timer (parked, backing off or connecting): this
    // ends them all; a cleanup in progress ends within cleanup_timeout.
    for (auto& s : st.slots) s->wake.cancel();
}

asio::awaitable<core::result<lease>> pool::async_acquire(core::deadline d)
{
    auto state = state_;  // the pool object may go away while we wait; its state may not
    auto& st = *state;
    if (st.stopping) co_return core::make_error_code(errc::db_unavailable);
    while (!st.idle.empty()) {
        detail::slot* s = st.idle.back();
        st.idle.pop_back();
        if (!s->conn->probe()) {
            st.drop(*s);
            continue;
        }
        s->st = slot_state::busy;
        ++st.in_use;
        co_return st.make_lease(*s);
    }
    if (st.live == 0 && st.last_connect_failed) {
        ++st.counters.rejected;
        co_return core::make_error_code(errc::db_unavailable);
    }
    if (st.waiters.size() >= st.cfg.max_waiters) {
        ++st.counters.rejected;
        co_return core::make_error_code(errc::overloaded);
    }
    auto limit = core::budget(d, st.cfg.acquire_timeout);
    if (limit <= core::steady_clock::duration::zero()) {
        ++st.counters.exhausted;
        co_return core::make_error_code(errc::pool_exhausted);
    }
    detail::waiter w(st.ex);
    w.timer.expires_after(limit);
    w.pos = st.waiters.insert(st.waiters.end(), &w);
    w.queued = true;
    auto [ec] = co_await w.timer.async_wait(use_tuple);
    if (w.queued) st.waiters.erase(w.pos);
    if (w.handed) co_return st.make_lease(*w.handed);
    if (w.fail != errc{}) co_return core::make_error_code(w.fail);
    if (ec == asio::error::operation_aborted) co_return core::make_error_code(errc::timeout);
    ++st.counters.exhausted;
    co_return core::make_error_code(errc::pool_exhausted);
}

asio::awaitable<core::result<rowset>> pool::async_query(const statement& stmt, const params& args, core::deadline d)
{
    auto l = co_await async_acquire(d);
    if (!l) co_return l.error();
    co_return co_await l->async_exec(stmt, args, d);
}

asio::awaitable<core::result<rowset>> pool::async_read(const statement& stmt, const params& args, core::deadline d)
{
    auto r = co_await async_query(stmt, args, d);
    // A read that met a lost connection (failover, restart) is safe to run again: once, on
    // a fresh connection (which, with target_session_attrs=read-write, is the new primary).
    if (r || r.error() != errc::db_unavailable) co_return r;
    ++state_->counters.read_retries;
    co_return co_await async_query(stmt, args, d);
}

asio::awaitable<core::result<std::vector<rowset>>> pool::async_batch(std::span<const command> cmds, core::deadline d)
{
    auto l = co_await async_acquire(d);
    if (!l) co_return l.error();
    co_return co_await l->async_exchange(cmds, d);
}

asio::awaitable<core::result<transaction>> pool::async_begin(core::deadline d)
{
    auto l = co_await async_acquire(d);
    if (!l) co_return l.error();
    co_return transaction(std::move(*l));
}

pool_stats pool::stats() const noexcept
{
    const auto& st = *state_;
    pool_stats s = st.counters;
    s.size = st.cfg.pool_size;
    s.live = st.live;
    s.idle = st.idle.size();
    s.in_use = st.in_use;
    s.waiting = st.waiters.size();
    return s;
}

const settings& pool::config() const noexcept
{
    return state_->cfg;
}

}  // namespace portcullis::store::pg
