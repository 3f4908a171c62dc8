#include "jobs/admin.hpp"

#include "jobs/scripts.hpp"

#include <algorithm>
#include <charconv>

namespace portcullis::jobs {

namespace asio = boost::asio;
namespace redis = store::redis;

namespace {

std::int64_t to_int(const std::string& s)
{
    std::int64_t v = 0;
    std::from_chars(s.data(), s.data() + s.size(), v);
    return v;
}

boost::system::error_code internal()
{
    return core::make_error_code(core::errc::internal);
}

}  // namespace

asio::awaitable<core::result<queue_stats>> async_queue_stats(redis::connection& conn, queue_settings settings,
                                                             core::deadline d)
{
    keyspace keys(settings.prefix);
    redis::pipeline first;
    first.push("SMEMBERS", keys.queues())
        .push("HGETALL", keys.workers())
        .push("LLEN", keys.dead())
        .push("HGETALL", keys.stats());
    auto r1 = co_await conn.async_exec(std::move(first), d);
    if (!r1) co_return r1.error();
    auto& rs = *r1;
    if (!rs[0].is_array() || !rs[1].is_array() || !rs[2].is_integer() || !rs[3].is_array()) co_return internal();

    queue_stats out;
    for (const auto& q : rs[0].elements) out.queues.push_back({q.str, 0, 0});
    std::sort(out.queues.begin(), out.queues.end(), [](const auto& a, const auto& b) { return a.queue < b.queue; });
    out.dead = rs[2].integer;
    for (std::size_t i = 0; i + 1 < rs[3].elements.size(); i += 2) {
        const auto& k = rs[3].elements[i].str;
        auto v = to_int(rs[3].elements[i + 1].str);
        if (k == "enqueued")
            out.enqueued = v;
        else if (k == "done")
            out.done = v;
        else if (k == "retried")
            out.retried = v;
        else if (k == "dead")
            out.dead_total = v;
        else if (k == "reaped")
            out.reaped = v;
    }

    redis::pipeline second;
    for (const auto& q : out.queues) second.push("LLEN", keys.queue(q.queue)).push("ZCARD", keys.delayed(q.queue));
    std::vector<std::string> workers;
    for (std::size_t i = 0; i + 1 < rs[1].elements.size(); i += 2) workers.push_back(rs[1].elements[i].str);
    out.workers = static_cast<std::int64_t>(workers.size());
    for (const auto& w : workers) second.push("LLEN", keys.processing(w));
    if (second.empty()) co_return out;
    auto r2 = co_await conn.async_exec(std::move(second), d);
    if (!r2) co_return r2.error();
    std::size_t i = 0;
    for (auto& q : out.queues) {
        q.waiting = (*r2)[i++].integer;
        q.delayed = (*r2)[i++].integer;
    }
    for (; i < r2->size(); ++i) out.processing += (*r2)[i].integer;
    co_return out;
}

asio::awaitable<core::result<std::vector<envelope>>> async_list_dead(redis::connection& conn, queue_settings settings,
                                                                     std::size_t limit, core::deadline d)
{
    keyspace keys(settings.prefix);
    if (limit == 0) co_return std::vector<envelope>{};
    auto r = co_await conn.async_exec(redis::command("LRANGE", keys.dead(), 0, limit - 1), d);
    if (!r) co_return r.error();
    if (!r->is_array()) co_return internal();
    std::vector<envelope> out;
    for (const auto& item : r->elements) {
        auto e = decode(item.str);
        if (e) {
            out.push_back(std::move(*e));
        } else {
            envelope bad;
            bad.id = "?";
            bad.last_error = "undecodable envelope";
            out.push_back(std::move(bad));
        }
    }
    co_return out;
}

asio::awaitable<core::result<std::size_t>> async_retry_dead(redis::connection& conn, queue_settings settings,
                                                            std::string id, core::deadline d)
{
    keyspace keys(settings.prefix);
    auto r = co_await conn.async_exec(redis::command("LRANGE", keys.dead(), 0, -1), d);
    if (!r) co_return r.error();
    if (!r->is_array()) co_return internal();
    std::size_t moved = 0;
    for (const auto& item : r->elements) {
        auto e = decode(item.str);
        if (!e || (!id.empty() && e->id != id)) continue;
        envelope fresh = *e;
        fresh.attempt = 0;
        fresh.eta_ms = 0;
        fresh.failed_at_ms = 0;
        redis::command k;
        k.arg(keys.dead()).arg(keys.queue(fresh.queue)).arg(keys.job(fresh.id));
        redis::command a;
        a.arg(item.str).arg(encode(fresh)).arg(now_ms()).arg(settings.state_ttl.count());
        // Each move is atomic and checks the job is still dead, so two operators retrying
        // at once move it once.
        auto m = co_await conn.async_eval(detail::revive_script(), std::move(k), std::move(a), d);
        if (!m) co_return m.error();
        auto n = redis::as_integer(*m);
        if (!n) co_return n.error();
        moved += static_cast<std::size_t>(*n);
        if (!id.empty() && *n > 0) break;
    }
    co_return moved;
}

asio::awaitable<core::result<std::optional<job_status>>> async_job_status(redis::connection& conn,
                                                                          queue_settings settings, std::string id,
                                                                          core::deadline d)
{
    keyspace keys(settings.prefix);
    auto r = co_await conn.async_exec(redis::command("HGETALL", keys.job(id)), d);
    if (!r) co_return r.error();
    if (!r->is_array()) co_return internal();
    if (r->elements.empty()) co_return std::optional<job_status>{};
    job_status s;
    s.id = id;
    for (std::size_t i = 0; i + 1 < r->elements.size(); i += 2) {
        const auto& k = r->elements[i].str;
        const auto& v = r->elements[i + 1].str;
        if (k == "state")
            s.state = v;
        else if (k == "task")
            s.task = v;
        else if (k == "queue")
            s.queue = v;
        else if (k == "attempts")
            s.attempts = static_cast<int>(to_int(v));
        else if (k == "max_retries")
            s.max_retries = static_cast<int>(to_int(v));
        else if (k == "last_error")
            s.last_error = v;
        else if (k == "enqueued_at")
            s.enqueued_at_ms = to_int(v);
        else if (k == "started_at")
            s.started_at_ms = to_int(v);
        else if (k == "finished_at")
            s.finished_at_ms = to_int(v);
        else if (k == "updated_at")
            s.updated_at_ms = to_int(v);
        else if (k == "eta")
            s.eta_ms = to_int(v);
    }
    co_return std::optional<job_status>{std::move(s)};
}

}  // namespace portcullis::jobs
