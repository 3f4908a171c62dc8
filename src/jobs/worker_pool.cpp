// Why one file of this size: the worker coroutines, the reaper, the scheduler and the
// heartbeat share the pool's state; the retry decision is the pure after_failure.
#include "jobs/worker_pool.hpp"

#include "core/log.hpp"
#include "core/random.hpp"
#include "core/spawn.hpp"
#include "core/timeout.hpp"
#include "jobs/scripts.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <unistd.h>

#include <algorithm>
#include <limits>
#include <vector>

namespace portcullis::jobs {

namespace asio = boost::asio;
namespace redis = store::redis;
using boost::system::error_code;

namespace detail {

struct pool_state {
    pool_state(asio::any_io_executor e, redis::settings r, registry t, queue_settings q, worker_settings w,
               std::shared_ptr<counters> c)
        : ex(e),
          rcfg(std::move(r)),
          tasks(std::move(t)),
          qs(std::move(q)),
          ws(std::move(w)),
          keys(qs.prefix),
          stats(c ? std::move(c) : std::make_shared<counters>()),
          changed(e),
          hb_timer(e),
          sched_timer(e),
          reap_timer(e)
    {
    }

    asio::any_io_executor ex;
    redis::settings rcfg;
    registry tasks;
    queue_settings qs;
    worker_settings ws;
    keyspace keys;
    std::shared_ptr<counters> stats;
    std::string pool_id;
    std::vector<std::string> worker_ids;
    std::unique_ptr<redis::connection> control;                // acks, state, background loops
    std::vector<std::unique_ptr<redis::connection>> blocking;  // one per worker, for BLMOVE
    std::vector<std::unique_ptr<asio::steady_timer>> pause_timers;
    std::vector<asio::cancellation_signal> cancels;
    asio::steady_timer changed;  // wakes async_run: stop requested, a worker or loop ended
    asio::steady_timer hb_timer;
    asio::steady_timer sched_timer;
    asio::steady_timer reap_timer;
    bool running = false;
    bool stopping = false;                             // workers take no new jobs
    bool forced = false;                               // stop_timeout passed: jobs in hand are abandoned to the queue
    core::deadline finish_by = core::deadline::max();  // async_run returns by then (stop's argument)
    bool services_stop = false;                        // heartbeat, scheduler, reaper end
    unsigned workers_running = 0;
    unsigned services_running = 0;
};

}  // namespace detail

namespace {

using state_ptr = std::shared_ptr<detail::pool_state>;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
using namespace std::chrono_literals;

core::deadline in(std::chrono::milliseconds ms)
{
    return core::steady_clock::now() + ms;
}

std::string default_pool_id()
{
    char host[256] = {};
    if (::gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
    return std::string(host[0] ? host : "host") + "-" + std::to_string(::getpid()) + "-" + core::random_hex(3);
}

// Marks the end of a worker or background loop, however it ends.
struct exit_guard {
    state_ptr st;
    unsigned& counter;
    ~exit_guard()
    {
        --counter;
        st->changed.cancel();
    }
};

asio::awaitable<void> async_pause(asio::steady_timer& t, std::chrono::milliseconds d)
{
    t.expires_after(d);
    co_await t.async_wait(use_tuple);
}

// Runs a handler, turning an escaped exception into a permanent failure.
asio::awaitable<core::result<void>> async_call(const handler& fn, const job& j)
{
    try {
        co_return co_await fn(j);
    } catch (const std::exception& ex) {
        j.set_error_detail(std::string("exception: ") + ex.what());
    } catch (...) {
        j.set_error_detail("unknown exception");
    }
    co_return core::make_error_code(core::errc::internal);
}

std::string error_text(const error_code& ec, const std::string& detail)
{
    std::string s = ec.message();
    if (!detail.empty()) s += ": " + detail;
    return s;
}

// Runs one of the finishing scripts until Redis took it: the job must not stay in the
// processing list of a live worker. Each script checks that the job is still in the
// processing list, so a repeat after an ambiguous failure changes nothing.
asio::awaitable<bool> async_finish(state_ptr st, unsigned i, const redis::script& s, redis::command keys,
                                   redis::command args)
{
    bool logged = false;
    for (;;) {
        auto r = co_await st->control->async_eval(s, keys, args, in(st->rcfg.command_timeout));
        if (r && !r->is_error()) co_return true;
        if (r) {
            core::log::error("job_finish_failed", {{"error", r->str}});
            co_return false;
        }
        if (st->forced) co_return false;
        if (!logged) {
            core::log::warn("job_finish_retrying", {{"worker", st->worker_ids[i]}, {"error", r.error().message()}});
            logged = true;
        }
        co_await async_pause(*st->pause_timers[i], st->ws.redis_retry_delay);
    }
}

asio::awaitable<void> async_bury_malformed(state_ptr st, unsigned i, std::string raw)
{
    core::log::error("job_malformed", {{"worker", st->worker_ids[i]}});
    redis::pipeline p;
    p.push("MULTI")
        .push("LREM", st->keys.processing(st->worker_ids[i]), -1, raw)
        .push("LPUSH", st->keys.dead(), raw)
        .push("EXEC");
    co_await st->control->async_exec(std::move(p), in(st->rcfg.command_timeout));
    st->stats->dead.fetch_add(1, std::memory_order_relaxed);
}

// Finishes a job that ran: `script` moves it from this worker's processing list to
// `target` (its queue, the delayed set or the dead list) and updates its state hash and
// the queue statistics. True once Redis took it.
asio::awaitable<bool> async_settle(state_ptr st, unsigned i, const redis::script& script, std::string target,
                                   const std::string& job_key, redis::command args)
{
    redis::command keys;
    keys.arg(st->keys.processing(st->worker_ids[i])).arg(target).arg(job_key).arg(st->keys.stats());
    co_return co_await async_finish(st, i, script, std::move(keys), std::move(args));
}

// The handler's view of a job in its `attempt`-th run.
job make_job(const state_ptr& st, const envelope& e, int attempt)
{
    job j;
    j.id = e.id;
    j.task = e.task;
    j.queue = e.queue;
    j.args = e.args;
    j.attempt = attempt;
    j.max_retries = e.max_retries;
    j.enqueued_at = std::chrono::system_clock::time_point(std::chrono::milliseconds(e.enqueued_at_ms));
    j.redis = st->control.get();
    j.keys = &st->keys;
    j.marker_ttl = st->qs.state_ttl;
    return j;
}

// State is informational: the job runs whether or not this write lands.
asio::awaitable<void> async_mark_started(state_ptr st, const std::string& job_key, int attempt)
{
    redis::pipeline p;
    auto started = now_ms();
    p.push("HSET", job_key, "state", "started", "attempts", attempt, "started_at", started, "updated_at", started)
        .push("PEXPIRE", job_key, st->qs.state_ttl.count());
    co_await st->control->async_exec(std::move(p), in(st->rcfg.command_timeout));
}

asio::awaitable<void> async_handle(state_ptr st, unsigned i, std::string raw)
{
    auto parsed = decode(raw);
    if (!parsed) {
        co_await async_bury_malformed(st, i, std::move(raw));
        co_return;
    }
    const envelope e = std::move(*parsed);
    const int attempt = e.attempt + 1;
    const std::string job_key = st->keys.job(e.id);
    const auto ttl = st->qs.state_ttl.count();
    st->stats->started.fetch_add(1, std::memory_order_relaxed);
    co_await async_mark_started(st, job_key, attempt);

    job j = make_job(st, e, attempt);
    const registry::entry* entry = st->tasks.find(e.task);
    core::result<void> outcome = core::make_error_code(core::errc::internal);
    if (entry != nullptr) {
        auto limit = std::chrono::duration_cast<core::steady_clock::duration>(entry->options.timeout);
        outcome = co_await core::async_with_timeout(async_call(entry->fn, j), limit);
    } else {
        j.set_error_detail("unknown task " + e.task);
    }
    // Cancelled by a forced stop: the job stays in our list and goes back to the queue.
    if (st->forced) co_return;

    auto now = now_ms();
    if (outcome) {
        redis::command args;
        args.arg(raw).arg(now).arg(ttl);
        if (co_await async_settle(st, i, detail::ack_script(), st->keys.queue(e.queue), job_key, std::move(args))) {
            st->stats->done.fetch_add(1, std::memory_order_relaxed);
            st->stats->observe_latency(std::chrono::milliseconds(now - e.enqueued_at_ms));
        }
        co_return;
    }

    std::string err = error_text(outcome.error(), j.error_detail());
    envelope next = e;
    next.attempt = attempt;
    next.last_error = err;
    auto step = entry == nullptr ? next_step::dead : after_failure(outcome.error(), attempt, e.max_retries);
    if (step == next_step::retry) {
        auto delay =
            retry_delay(std::chrono::milliseconds(e.backoff_base_ms), std::chrono::milliseconds(e.backoff_cap_ms),
                        attempt, core::random_below(std::numeric_limits<std::uint64_t>::max()));
        next.eta_ms = now + delay.count();
        redis::command args;
        args.arg(raw).arg(encode(next)).arg(next.eta_ms).arg(now).arg(err).arg(attempt).arg(ttl);
        core::log::info(
            "job_retry",
            {{"job", e.id}, {"task", e.task}, {"attempt", attempt}, {"delay_ms", delay.count()}, {"error", err}});
        if (co_await async_settle(st, i, detail::retry_script(), st->keys.delayed(e.queue), job_key, std::move(args))) {
            st->stats->retried.fetch_add(1, std::memory_order_relaxed);
        }
        co_return;
    }

    next.failed_at_ms = now;
    redis::command args;
    args.arg(raw).arg(encode(next)).arg(now).arg(err).arg(attempt).arg(ttl).arg(st->qs.max_dead);
    core::log::warn("job_dead", {{"job", e.id}, {"task", e.task}, {"attempt", attempt}, {"error", err}});
    if (co_await async_settle(st, i, detail::bury_script(), st->keys.dead(), job_key, std::move(args))) {
        st->stats->dead.fetch_add(1, std::memory_order_relaxed);
    }
}

asio::awaitable<void> async_worker(state_ptr st, unsigned i)
{
    exit_guard guard{st, st->workers_running};
    auto& conn = *st->blocking[i];
    const std::string& wid = st->worker_ids[i];
    const std::string qkey = st->keys.queue(st->ws.queue);
    const std::string plist = st->keys.processing(wid);
    const double block_s = static_cast<double>(st->ws.block_timeout.count()) / 1000.0;
    const auto wait_limit = st->ws.block_timeout + st->rcfg.command_timeout;
    bool recover = false;
    bool logged = false;
    while (!st->stopping && !st->forced) {
        if (recover) {
            // A BLMOVE whose reply was lost may still have moved a job into our list.
            redis::command keys;
            keys.arg(plist).arg(qkey);
            redis::command no_args;
            auto r = co_await st->control->async_eval(detail::requeue_script(), std::move(keys), std::move(no_args),
                                                      in(st->rcfg.command_timeout));
            if (!r || r->is_error()) {
                co_await async_pause(*st->pause_timers[i], st->ws.redis_retry_delay);
                continue;
            }
            recover = false;
        }
        auto r = co_await conn.async_exec(redis::command("BLMOVE", qkey, plist, "RIGHT", "LEFT", block_s),
                                          in(std::chrono::duration_cast<std::chrono::milliseconds>(wait_limit)));
        if (!r || r->is_error()) {
            if (!logged) {
                core::log::warn("job_worker_redis_error",
                                {{"worker", wid}, {"error", r ? r->str : r.error().message()}});
                logged = true;
            }
            recover = true;
            co_await async_pause(*st->pause_timers[i], st->ws.redis_retry_delay);
            continue;
        }
        logged = false;
        if (r->is_nil()) continue;
        co_await async_handle(st, i, std::move(r->str));
    }
}

asio::awaitable<void> async_heartbeat_once(state_ptr st)
{
    redis::pipeline p;
    for (const auto& wid : st->worker_ids) {
        p.push("SET", st->keys.heartbeat(wid), "1", "PX", st->ws.heartbeat_ttl);
        p.push("HSET", st->keys.workers(), wid, st->ws.queue);
    }
    co_await st->control->async_exec(std::move(p), in(st->rcfg.command_timeout));
}

asio::awaitable<void> async_heartbeat_loop(state_ptr st)
{
    exit_guard guard{st, st->services_running};
    while (!st->services_stop) {
        co_await async_heartbeat_once(st);
        co_await async_pause(st->hb_timer, st->ws.heartbeat_interval);
    }
}

asio::awaitable<void> async_scheduler_loop(state_ptr st)
{
    exit_guard guard{st, st->services_running};
    constexpr int batch = 100;
    const std::string delayed = st->keys.delayed(st->ws.queue);
    const std::string queue = st->keys.queue(st->ws.queue);
    while (!st->services_stop) {
        redis::command keys;
        keys.arg(delayed).arg(queue);
        redis::command args;
        args.arg(now_ms()).arg(batch);
        auto r = co_await st->control->async_eval(detail::promote_script(), std::move(keys), std::move(args),
                                                  in(st->rcfg.command_timeout));
        if (r && r->is_integer() && r->integer == batch) continue;  // more are due
        co_await async_pause(st->sched_timer, st->ws.scheduler_interval);
    }
}

asio::awaitable<void> async_reaper_loop(state_ptr st)
{
    exit_guard guard{st, st->services_running};
    while (!st->services_stop) {
        redis::command keys;
        keys.arg(st->keys.workers()).arg(st->keys.stats());
        redis::command args;
        args.arg(st->keys.prefix());
        auto r = co_await st->control->async_eval(detail::reap_script(), std::move(keys), std::move(args),
                                                  in(st->rcfg.command_timeout));
        if (r && r->is_integer() && r->integer > 0) {
            st->stats->reaped.fetch_add(static_cast<std::uint64_t>(r->integer), std::memory_order_relaxed);
            core::log::warn("jobs_reaped", {{"count", r->integer}});
        }
        co_await async_pause(st->reap_timer, st->ws.reaper_interval);
    }
}

enum class pool_event { stop_requested, workers_done, services_done };

bool reached(const detail::pool_state& st, pool_event e)
{
    switch (e) {
    case pool_event::stop_requested:
        return st.stopping;
    case pool_event::workers_done:
        return st.workers_running == 0;
    case pool_event::services_done:
        return st.services_running == 0;
    }
    return true;
}

// Waits until `e` or `until`, woken by st->changed.
asio::awaitable<void> async_wait_for(state_ptr st, pool_event e, core::deadline until)
{
    while (!reached(*st, e) && core::steady_clock::now() < until) {
        st->changed.expires_at(until);
        co_await st->changed.async_wait(use_tuple);
    }
}

}  // namespace

worker_pool::worker_pool(asio::any_io_executor ex, redis::settings redis_cfg, registry tasks, queue_settings queue,
                         worker_settings workers, std::shared_ptr<counters> stats)
    : state_(std::make_shared<detail::pool_state>(ex, std::move(redis_cfg), std::move(tasks), std::move(queue),
                                                  std::move(workers), std::move(stats)))
{
    auto& st = *state_;
    if (st.ws.concurrency == 0) st.ws.concurrency = 1;
    // A heartbeat must be able to miss one beat without the worker being presumed dead.
    st.ws.heartbeat_ttl = std::max(st.ws.heartbeat_ttl, st.ws.heartbeat_interval * 2);
    st.pool_id = st.ws.name.empty() ? default_pool_id() : st.ws.name;
    st.control = std::make_unique<redis::connection>(ex, st.rcfg);
    auto blocking_cfg = st.rcfg;
    blocking_cfg.max_pending = 4;
    blocking_cfg.command_timeout = st.ws.block_timeout + st.rcfg.command_timeout;
    blocking_cfg.stall_timeout = std::max(blocking_cfg.stall_timeout, st.ws.block_timeout * 3);
    for (unsigned i = 0; i < st.ws.concurrency; ++i) {
        st.worker_ids.push_back(st.pool_id + "-" + std::to_string(i));
        st.blocking.push_back(std::make_unique<redis::connection>(ex, blocking_cfg));
        st.pause_timers.push_back(std::make_unique<asio::steady_timer>(ex));
    }
    st.cancels = std::vector<asio::cancellation_signal>(st.ws.concurrency);
}

worker_pool::~worker_pool()
{
    state_->stopping = true;
    state_->services_stop = true;
    for (auto& c : state_->blocking) c->stop();
    state_->control->stop();
}

const std::string& worker_pool::id() const noexcept
{
    return state_->pool_id;
}

const std::shared_ptr<counters>& worker_pool::stats() const noexcept
{
    return state_->stats;
}

void worker_pool::stop(core::deadline finish_by)
{
    state_->finish_by = std::min(state_->finish_by, finish_by);
    state_->stopping = true;
    state_->changed.cancel();
}

asio::awaitable<void> worker_pool::async_run()
{
    state_ptr st = state_;
    if (st->running) co_return;
    st->running = true;
    st->control->start();
    for (auto& c : st->blocking) c->start();
    co_await st->control->async_wait_connected(in(st->rcfg.connect_timeout));
    co_await async_heartbeat_once(st);
    core::log::info("job_workers_started",
                    {{"pool", st->pool_id}, {"queue", st->ws.queue}, {"workers", st->ws.concurrency}});

    st->services_running = 3;
    asio::co_spawn(st->ex, async_heartbeat_loop(st), core::log_escape{"job_heartbeat"});
    asio::co_spawn(st->ex, async_scheduler_loop(st), core::log_escape{"job_scheduler"});
    asio::co_spawn(st->ex, async_reaper_loop(st), core::log_escape{"job_reaper"});
    st->workers_running = st->ws.concurrency;
    for (unsigned i = 0; i < st->ws.concurrency; ++i) {
        asio::co_spawn(st->ex, async_worker(st, i),
                       asio::bind_cancellation_slot(st->cancels[i].slot(), core::log_escape{"job_worker"}));
    }

    co_await async_wait_for(st, pool_event::stop_requested, core::deadline::max());
    core::log::info("job_workers_stopping", {{"pool", st->pool_id}, {"in_hand", st->workers_running}});
    // The graceful phase leaves time before finish_by for the forced stop, returning the
    // jobs to the queue and deregistering.
    const core::deadline finish_by = st->finish_by;
    const auto before_end = [finish_by](std::chrono::milliseconds margin) {
        return finish_by - core::steady_clock::now() > margin ? finish_by - margin : core::steady_clock::now();
    };
    co_await async_wait_for(st, pool_event::workers_done, std::min(in(st->ws.stop_timeout), before_end(3s)));
    if (st->workers_running > 0) {
        st->forced = true;
        core::log::warn("job_workers_forced_stop", {{"pool", st->pool_id}, {"in_hand", st->workers_running}});
        for (auto& c : st->cancels) c.emit(asio::cancellation_type::terminal);
        co_await async_wait_for(st, pool_event::workers_done, std::min(in(2s), before_end(1s)));
    }

    // Whatever is still in our processing lists goes back to the queue now, not after
    // the heartbeat expires.
    for (const auto& wid : st->worker_ids) {
        redis::command keys;
        keys.arg(st->keys.processing(wid)).arg(st->keys.queue(st->ws.queue));
        redis::command no_args;
        co_await st->control->async_eval(detail::requeue_script(), std::move(keys), std::move(no_args),
                                         in(st->rcfg.command_timeout));
    }
    st->services_stop = true;
    st->hb_timer.cancel();
    st->sched_timer.cancel();
    st->reap_timer.cancel();
    co_await async_wait_for(st, pool_event::services_done, std::min(in(5s), before_end(500ms)));

    redis::pipeline p;
    for (const auto& wid : st->worker_ids) {
        p.push("HDEL", st->keys.workers(), wid);
        p.push("DEL", st->keys.heartbeat(wid));
    }
    co_await st->control->async_exec(std::move(p), in(st->rcfg.command_timeout));
    for (auto& c : st->blocking) c->stop();
    st->control->stop();
    core::log::info("job_workers_stopped", {{"pool", st->pool_id}});
}

}  // namespace portcullis::jobs
