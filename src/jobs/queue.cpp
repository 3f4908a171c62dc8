#include "jobs/queue.hpp"

#include "core/random.hpp"
#include "jobs/scripts.hpp"

#include <utility>

namespace portcullis::jobs {

namespace redis = store::redis;
namespace asio = boost::asio;

std::int64_t now_ms()
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

void counters::observe_latency(std::chrono::milliseconds ms) noexcept
{
    auto v = std::max<std::int64_t>(ms.count(), 0);
    std::size_t i = 0;
    while (i < latency_bounds_ms.size() && v > latency_bounds_ms[i]) ++i;
    latency_buckets[i].fetch_add(1, std::memory_order_relaxed);
    latency_sum_ms.fetch_add(static_cast<std::uint64_t>(v), std::memory_order_relaxed);
    latency_count.fetch_add(1, std::memory_order_relaxed);
}

void registry::add(std::string name, handler fn, task_options options)
{
    tasks_[std::move(name)] = entry{std::move(fn), options};
}

const registry::entry* registry::find(std::string_view name) const
{
    auto it = tasks_.find(name);
    return it == tasks_.end() ? nullptr : &it->second;
}

namespace {

// result<bool> cannot be built from an error_code implicitly (error_code converts to bool).
core::result<bool> bool_error(boost::system::error_code ec)
{
    return {boost::system::in_place_error, ec};
}

}  // namespace

asio::awaitable<core::result<bool>> job::async_was_done(std::string step, core::deadline d) const
{
    if (redis == nullptr || keys == nullptr) co_return bool_error(core::make_error_code(core::errc::internal));
    auto r = co_await redis->async_exec(redis::command("EXISTS", keys->mark(id, step)), d);
    if (!r) co_return bool_error(r.error());
    auto n = redis::as_integer(*r);
    if (!n) co_return bool_error(n.error());
    co_return *n > 0;
}

asio::awaitable<core::result<void>> job::async_mark_done(std::string step, core::deadline d) const
{
    if (redis == nullptr || keys == nullptr) co_return core::make_error_code(core::errc::internal);
    auto r = co_await redis->async_exec(redis::command("SET", keys->mark(id, step), "1", "PX", marker_ttl), d);
    if (!r) co_return r.error();
    co_return redis::as_ok(*r);
}

asio::awaitable<core::result<bool>> job::async_claim(std::string step, core::deadline d) const
{
    if (redis == nullptr || keys == nullptr) co_return bool_error(core::make_error_code(core::errc::internal));
    auto r = co_await redis->async_exec(redis::command("SET", keys->mark(id, step), "1", "NX", "PX", marker_ttl), d);
    if (!r) co_return bool_error(r.error());
    if (r->is_error()) co_return bool_error(redis::as_ok(*r).error());
    co_return !r->is_nil();
}

producer::producer(redis::connection& conn, queue_settings settings, std::shared_ptr<counters> stats)
    : conn_(conn),
      settings_(std::move(settings)),
      keys_(settings_.prefix),
      stats_(stats ? std::move(stats) : std::make_shared<counters>())
{
}

namespace {

struct put_request {
    std::string queue_key;
    std::string delayed_key;
    std::string job_key;
    std::string stats_key;
    std::string queues_key;
    std::string envelope;
    std::string queue;
    std::string task;
    std::string id;
    std::int64_t due_ms = 0;
    std::int64_t now_ms = 0;
    std::int64_t ttl_ms = 0;
    int max_retries = 0;
};

asio::awaitable<core::result<std::string>> async_fail(boost::system::error_code ec)
{
    co_return ec;
}

asio::awaitable<core::result<std::string>> async_put(redis::connection& conn, put_request p,
                                                     std::shared_ptr<counters> stats, core::deadline d)
{
    redis::command keys;
    keys.arg(p.queue_key).arg(p.delayed_key).arg(p.job_key).arg(p.stats_key).arg(p.queues_key);
    redis::command args;
    args.arg(p.envelope).arg(p.due_ms).arg(p.ttl_ms).arg(p.queue).arg(p.task).arg(p.now_ms).arg(p.max_retries);
    // Durable: with REDIS_MIN_REPLICAS set, the job is confirmed only once replicas hold it.
    auto r = co_await conn.async_eval_durable(detail::enqueue_script(), std::move(keys), std::move(args), d);
    core::result<void> ok = r ? redis::as_ok(*r) : core::result<void>(r.error());
    if (!ok) {
        stats->enqueue_failed.fetch_add(1, std::memory_order_relaxed);
        co_return ok.error();
    }
    stats->enqueued.fetch_add(1, std::memory_order_relaxed);
    co_return std::move(p.id);
}

}  // namespace

// Not a coroutine: everything the caller passed by view is copied before returning.
asio::awaitable<core::result<std::string>> producer::async_enqueue(std::string_view task, std::string_view args_json,
                                                                   enqueue_options options, core::deadline d)
{
    envelope e;
    e.id = core::random_hex(12);
    e.task = std::string(task);
    e.queue = options.queue;
    e.args = std::string(args_json);
    e.max_retries = std::max(options.max_retries, 0);
    e.enqueued_at_ms = now_ms();
    e.backoff_base_ms = options.backoff_base.count();
    e.backoff_cap_ms = options.backoff_cap.count();
    if (options.eta) {
        e.eta_ms = std::chrono::duration_cast<std::chrono::milliseconds>(options.eta->time_since_epoch()).count();
    } else if (options.countdown.count() > 0) {
        e.eta_ms = e.enqueued_at_ms + options.countdown.count();
    }

    put_request p;
    if (e.task.empty() || e.queue.empty() || !is_json(e.args)) {
        return async_fail(core::make_error_code(core::errc::validation_failed));
    }
    p.queue_key = keys_.queue(e.queue);
    p.delayed_key = keys_.delayed(e.queue);
    p.job_key = keys_.job(e.id);
    p.stats_key = keys_.stats();
    p.queues_key = keys_.queues();
    p.envelope = encode(e);
    p.queue = e.queue;
    p.task = e.task;
    p.id = e.id;
    p.due_ms = e.eta_ms > e.enqueued_at_ms ? e.eta_ms : 0;
    p.now_ms = e.enqueued_at_ms;
    p.ttl_ms = settings_.state_ttl.count();
    p.max_retries = e.max_retries;
    return async_put(conn_, std::move(p), stats_, d);
}

}  // namespace portcullis::jobs
