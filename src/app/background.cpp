#include "app/background.hpp"

#include "app/mail_task.hpp"
#include "app/webhooks.hpp"
#include "core/log.hpp"
#include "core/spawn.hpp"
#include "jobs/beat.hpp"
#include "jobs/queue.hpp"
#include "jobs/worker_pool.hpp"
#include "store/kv/redis_auth_kv.hpp"
#include "store/pg/pg_admin.hpp"
#include "store/pg/pg_repositories.hpp"
#include "store/pg/pg_signing_keys.hpp"
#include "store/pg/pool.hpp"
#include "store/redis/connection.hpp"
#include "store/redis/sentinel.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <future>
#include <thread>

namespace portcullis::app {

namespace asio = boost::asio;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

asio::awaitable<core::result<void>> async_purge(store::refresh_token_repository* tokens)
{
    std::int64_t sessions_total = 0;
    std::int64_t pending_total = 0;
    for (int round = 0; round < 100; ++round) {
        auto r = co_await tokens->async_purge(1000, core::steady_clock::now() + std::chrono::seconds(30));
        if (!r) co_return r.error();
        sessions_total += r->sessions;
        pending_total += r->pending_users;
        if (r->sessions < 1000 && r->pending_users < 1000) break;
    }
    core::log::info("purged_expired", {{"sessions", sessions_total}, {"pending_users", pending_total}});
    co_return core::result<void>{};
}

// Security events older than the retention, a batch at a time.
asio::awaitable<core::result<void>> async_purge_audit(store::audit_repository* audit, std::chrono::days retention)
{
    std::int64_t total = 0;
    const auto before = std::chrono::system_clock::now() - retention;
    for (int round = 0; round < 100; ++round) {
        auto r = co_await audit->async_purge(before, 5000, core::steady_clock::now() + std::chrono::seconds(30));
        if (!r) co_return r.error();
        total += *r;
        if (*r < 5000) break;
    }
    if (total > 0) core::log::info("purged_audit_events", {{"events", total}});
    co_return core::result<void>{};
}

}  // namespace

struct background_runtime::impl {
    process_resources& res;
    const config& cfg;
    auth::cache_bus* bus;
    bool workers_enabled;

    asio::io_context ioc{1};
    asio::executor_work_guard<asio::io_context::executor_type> guard{ioc.get_executor()};
    std::thread thread;
    bool stopping = false;

    std::unique_ptr<store::redis::sentinel_watch> sentinel_watch;
    std::unique_ptr<store::redis::connection> conn;         // beat and the workers' admin commands
    std::unique_ptr<store::redis::connection> reader_conn;  // the follower's blocking XREAD
    std::unique_ptr<store::kv::invalidation_reader> reader;
    std::unique_ptr<mail_task> mail;
    std::unique_ptr<webhook_task> hooks;
    std::unique_ptr<jobs::worker_pool> workers;
    bool workers_done = true;
    asio::steady_timer workers_done_signal{ioc};
    std::unique_ptr<jobs::beat> beat;
    std::unique_ptr<store::pg::pool> purge_pool;
    std::unique_ptr<store::pg::refresh_tokens> purge_tokens;
    std::unique_ptr<store::pg::audit_events> purge_audit;
    std::unique_ptr<store::pg::pool> keys_pool;
    std::unique_ptr<store::pg::signing_keys> keys_repo;
    std::unique_ptr<asio::steady_timer> keys_timer;

    impl(process_resources& r, auth::cache_bus* b, bool w)
        : res(r), cfg(r.cfg()), bus(b), workers_enabled(w && r.cfg().job_workers > 0)
    {
    }

    void start()
    {
        const auto& redis = res.redis();
        if (redis.tracker) {
            sentinel_watch = std::make_unique<store::redis::sentinel_watch>(ioc.get_executor(), redis);
            sentinel_watch->start();
        }
        conn = std::make_unique<store::redis::connection>(ioc.get_executor(), redis);
        conn->start();
        if (bus) {
            // XREAD BLOCK holds its connection: give it its own, so beat never waits behind it.
            reader_conn = std::make_unique<store::redis::connection>(ioc.get_executor(), redis);
            reader_conn->start();
            reader = std::make_unique<store::kv::invalidation_reader>(*reader_conn, cfg.queue.prefix);
            asio::co_spawn(ioc, bus->async_follow(*reader), core::log_escape{"invalidation_reader"});
        }
        if (workers_enabled) start_workers();
        if (bus && res.keys_from_db()) {
            keys_pool = std::make_unique<store::pg::pool>(ioc.get_executor(), res.blocking(), res.small_pool(1));
            keys_pool->start();
            keys_repo = std::make_unique<store::pg::signing_keys>(*keys_pool);
            keys_timer = std::make_unique<asio::steady_timer>(ioc);
            asio::co_spawn(ioc, async_refresh_keys(), core::log_escape{"signing_keys_refresh"});
        }
        thread = std::thread([this] {
            core::log::set_thread_buffered(false);
            ioc.run();
        });
    }

    void start_workers()
    {
        mail = std::make_unique<mail_task>(cfg.mail, res.keys().seal, ioc.get_executor());
        jobs::registry tasks;
        mail->register_with(tasks);
        if (cfg.webhooks.enabled()) {
            hooks = std::make_unique<webhook_task>(cfg.webhooks);
            hooks->register_with(tasks);
        }
        jobs::worker_settings ws;
        ws.concurrency = cfg.job_workers;
        // How long an idle worker blocks in BLMOVE bounds how fast a stop is noticed.
        ws.block_timeout = std::chrono::milliseconds(250);
        workers = std::make_unique<jobs::worker_pool>(ioc.get_executor(), res.redis(), std::move(tasks), cfg.queue, ws,
                                                      res.counters());
        workers_done = false;
        asio::co_spawn(ioc, async_run_workers(), core::log_escape{"job_workers"});

        purge_pool = std::make_unique<store::pg::pool>(ioc.get_executor(), res.blocking(), res.small_pool());
        purge_pool->start();
        purge_tokens = std::make_unique<store::pg::refresh_tokens>(*purge_pool);
        beat = std::make_unique<jobs::beat>(ioc.get_executor(), *conn, cfg.queue);
        store::refresh_token_repository* tokens = purge_tokens.get();
        beat->add("purge_expired", std::chrono::minutes(10), [tokens]() { return async_purge(tokens); });
        purge_audit = std::make_unique<store::pg::audit_events>(*purge_pool);
        store::audit_repository* audit = purge_audit.get();
        const std::chrono::days retention = cfg.audit.retention;
        beat->add("purge_audit", std::chrono::hours(1),
                  [audit, retention]() { return async_purge_audit(audit, retention); });
        asio::co_spawn(ioc, beat->async_run(), core::log_escape{"beat"});
    }

    asio::awaitable<void> async_run_workers()
    {
        co_await workers->async_run();
        workers_done = true;
        workers_done_signal.cancel();
    }

    // Every JWT_KEY_REFRESH: re-read the keys (another instance or `portcullis keys` may
    // have changed them) and create the next key when rotation is due.
    asio::awaitable<void> async_refresh_keys()
    {
        while (!stopping) {
            keys_timer->expires_after(cfg.tokens.rotation.refresh_interval);
            auto [ec] = co_await keys_timer->async_wait(use_tuple);
            if (ec || stopping) co_return;
            co_await res.async_sync_keys(*keys_repo);
        }
    }

    void stop(core::deadline deadline)
    {
        if (!thread.joinable()) return;
        std::promise<void> done;
        auto fut = done.get_future();
        asio::post(ioc, [this, deadline] {
            stopping = true;
            if (bus) bus->stop();
            // Ends the follower's blocking XREAD at once.
            if (reader_conn) reader_conn->stop();
            if (sentinel_watch) sentinel_watch->stop();
            if (workers) workers->stop(deadline);
            if (beat) beat->stop();
            if (keys_timer) keys_timer->cancel();
        });
        asio::co_spawn(ioc, async_stop_rest(deadline), [&done](std::exception_ptr) { done.set_value(); });
        fut.wait();
        ioc.stop();
        thread.join();
    }

    asio::awaitable<void> async_stop_rest(core::deadline deadline)
    {
        // The workers' run loop returns their jobs by the same deadline and then signals.
        if (!workers_done) {
            workers_done_signal.expires_at(deadline);
            co_await workers_done_signal.async_wait(use_tuple);
        }
        if (mail) co_await mail->async_close(deadline);
        if (purge_pool) purge_pool->stop();
        if (keys_pool) keys_pool->stop();
        if (conn) conn->stop();
    }
};

background_runtime::background_runtime(process_resources& res, auth::cache_bus* bus, bool workers)
    : impl_(std::make_unique<impl>(res, bus, workers))
{
}

background_runtime::~background_runtime()
{
    stop(core::steady_clock::now() + std::chrono::seconds(10));
}

void background_runtime::start()
{
    impl_->start();
}

void background_runtime::stop(core::deadline deadline)
{
    impl_->stop(deadline);
}

bool background_runtime::reload_templates()
{
    return !impl_->mail || impl_->mail->reload_templates();
}

}  // namespace portcullis::app
