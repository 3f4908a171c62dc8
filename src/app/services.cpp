// The wiring of one I/O thread's services (thread_impl), the shared services around
// them, and the migrations; the process resources and the background thread live in
// resources.cpp and background.cpp.
#include "app/services.hpp"

#include "app/notify.hpp"
#include "auth/hash_pool.hpp"
#include "auth/password_policy.hpp"
#include "auth/service.hpp"
#include "auth/session_cache.hpp"
#include "auth/signing_keys.hpp"
#include "core/log.hpp"
#include "core/spawn.hpp"
#include "jobs/queue.hpp"
#include "net/api.hpp"
#include "net/well_known.hpp"
#include "store/kv/redis_auth_kv.hpp"
#include "store/pg/blocking_pool.hpp"
#include "store/pg/migrate.hpp"
#include "store/pg/pg_admin.hpp"
#include "store/pg/pg_repositories.hpp"
#include "store/pg/pool.hpp"
#include "store/redis/connection.hpp"
#include "verify/address_checker.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

namespace portcullis::app {

namespace asio = boost::asio;

namespace {

// The pool of DATABASE_READ_URL: named apart, so that pg_stat_activity tells them apart.
store::pg::settings pg_read_settings(const config& cfg)
{
    store::pg::settings s = cfg.database;
    s.url = cfg.database_read_url;
    s.application_name = "portcullis-read";
    return s;
}

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// Applies the migrations with the blocking calls of the connection on `blocking`.
bool apply_migrations(store::pg::blocking_pool& blocking, const config& cfg)
{
    asio::io_context ioc;
    // async_migrate takes the settings by reference: they must outlive the run.
    const store::pg::settings settings = cfg.database;
    auto fut = asio::co_spawn(
        ioc, store::pg::async_migrate(blocking, settings, core::steady_clock::now() + std::chrono::seconds(60)),
        asio::use_future);
    ioc.run();
    auto r = fut.get();
    if (!r) {
        core::log::error("migrations_failed", {{"error", r.error().message()}});
        return false;
    }
    core::log::info("migrations_applied", {{"applied", static_cast<std::int64_t>(r->applied)},
                                           {"version", static_cast<std::int64_t>(r->version)}});
    return true;
}

asio::awaitable<void> async_watchdog(asio::io_context* control, std::chrono::microseconds every,
                                     std::function<bool()> healthy)
{
    asio::steady_timer t(*control);
    for (;;) {
        // A stuck event loop misses its pings and systemd restarts the service.
        if (!healthy || healthy())
            sd_notify("WATCHDOG=1");
        else
            core::log::warn("watchdog_ping_withheld", {{"reason", "an I/O thread did not answer"}});
        t.expires_after(every);
        auto [ec] = co_await t.async_wait(use_tuple);
        if (ec) co_return;
    }
}

class thread_impl final : public thread_services {
public:
    thread_impl(const config& cfg, shared_services& shared, asio::io_context& ioc)
        : pool_(ioc.get_executor(), shared.resources().blocking(), cfg.database),
          users_(pool_),
          sessions_(pool_),
          tokens_(pool_),
          mfa_(pool_),
          admin_users_(pool_),
          audit_events_(pool_),
          audit_(ioc.get_executor(), audit_events_, shared.audit_counters(), cfg.audit),
          read_pool_(cfg.database_read_url.empty()
                         ? nullptr
                         : std::make_unique<store::pg::pool>(ioc.get_executor(), shared.resources().blocking(),
                                                             pg_read_settings(cfg))),
          read_users_(read_pool_ ? std::make_unique<store::pg::users>(*read_pool_) : nullptr),
          redis_(ioc.get_executor(), shared.resources().redis()),
          kv_(redis_, cfg.queue.prefix),
          producer_(redis_, cfg.queue, shared.resources().counters()),
          hooks_(cfg.webhooks.enabled() ? std::make_unique<webhook_sink>(ioc.get_executor(), producer_, cfg.webhooks,
                                                                         shared.hook_counters())
                                        : nullptr),
          tee_(cfg.audit.enabled ? &audit_ : nullptr, hooks_.get()),
          queue_settings_(cfg.queue),
          keys_(shared.resources().keys()),
          svc_(auth::service::deps{users_, sessions_, tokens_, kv_, producer_, shared.resources().hashes(),
                                   shared.resources().keys(), shared.resources().policy(), cache_, shared.bus(),
                                   shared.resources().checker(), read_users_.get(), core::system_clock(), &mfa_, &tee_,
                                   &audit_events_, &admin_users_},
               cfg.auth),
          api_(cfg.cookies)
    {
        shared.bus().add(ioc, cache_);
        well_known_.issuer = cfg.tokens.claims.issuer;
        well_known_.jwks_uri = cfg.tokens.jwks_uri;
        // Verifiers must see a new key before it signs: their cache lives at most a
        // quarter of the publish-ahead time (and at most five minutes).
        well_known_.max_age =
            std::clamp(cfg.tokens.rotation.publish_ahead / 4, std::chrono::seconds(1), std::chrono::seconds(300));
    }

    void start() override
    {
        pool_.start();
        if (read_pool_) read_pool_->start();
        redis_.start();
        audit_.start();
    }

    void stop() override
    {
        audit_.stop();
        pool_.stop();
        if (read_pool_) read_pool_->stop();
        redis_.stop();
    }

    void add_routes(net::router& routes) override
    {
        net::add_api_routes(routes, svc_, api_);
        net::add_well_known_routes(routes, *keys_.access, well_known_);
    }

    asio::awaitable<readiness> async_check_ready(core::deadline d) override
    {
        using namespace asio::experimental::awaitable_operators;
        auto pg = async_ping_postgres(&pool_, d);
        auto kv = async_ping_redis(&redis_, d);
        auto both = co_await (std::move(pg) && std::move(kv));
        co_return readiness{std::get<0>(both), std::get<1>(both)};
    }

    asio::awaitable<core::result<jobs::queue_stats>> async_queue_stats(core::deadline d) override
    {
        co_return co_await jobs::async_queue_stats(redis_, queue_settings_, d);
    }

    store::pg::pool_stats database_stats() const override { return pool_.stats(); }
    std::optional<store::pg::pool_stats> database_read_stats() const override
    {
        if (!read_pool_) return std::nullopt;
        return read_pool_->stats();
    }
    const store::redis::connection_stats& redis_stats() const override { return redis_.stats(); }

private:
    static constexpr store::pg::statement ready_statement{"portcullis_ready", "SELECT 1"};

    static asio::awaitable<boost::system::error_code> async_ping_postgres(store::pg::pool* pool, core::deadline d)
    {
        static const store::pg::params none;
        auto r = co_await pool->async_query(ready_statement, none, d);
        co_return r ? boost::system::error_code{} : r.error();
    }

    static asio::awaitable<boost::system::error_code> async_ping_redis(store::redis::connection* conn, core::deadline d)
    {
        store::redis::command ping("PING");
        auto r = co_await conn->async_exec(std::move(ping), d);
        if (!r) co_return r.error();
        auto ok = store::redis::as_ok(*r);
        co_return ok ? boost::system::error_code{} : ok.error();
    }

    store::pg::pool pool_;
    store::pg::users users_;
    store::pg::sessions sessions_;
    store::pg::refresh_tokens tokens_;
    store::pg::mfa mfa_;
    store::pg::admin_users admin_users_;
    store::pg::audit_events audit_events_;
    auth::audit_writer audit_;
    std::unique_ptr<store::pg::pool> read_pool_;  // DATABASE_READ_URL; null when unset
    std::unique_ptr<store::pg::users> read_users_;
    store::redis::connection redis_;
    store::kv::redis_auth_kv kv_;
    jobs::producer producer_;
    std::unique_ptr<webhook_sink> hooks_;  // null: no WEBHOOK_URL
    tee_sink tee_;                         // the audit writer and the webhooks
    jobs::queue_settings queue_settings_;
    auth::session_cache cache_;
    const auth::key_set& keys_;
    auth::service svc_;
    net::api_options api_;
    net::well_known_options well_known_;
};

}  // namespace

bool migrate_database(const config& cfg)
{
    store::pg::blocking_pool blocking(1);
    return apply_migrations(blocking, cfg);
}

shared_services::shared_services(const config& cfg, bool workers, bool follow_caches)
    : res_(cfg), bg_(res_, follow_caches ? &bus_ : nullptr, workers)
{
}

shared_services::~shared_services()
{
    bg_.stop(core::steady_clock::now() + std::chrono::seconds(10));
    res_.stop_hashing();
}

void shared_services::start_control(asio::io_context& control, std::function<bool()> healthy)
{
    if (auto interval = watchdog_interval()) {
        asio::co_spawn(control, async_watchdog(&control, *interval / 2, std::move(healthy)),
                       core::log_escape{"watchdog"});
    }
}

void shared_services::stop_workers(core::deadline deadline)
{
    bg_.stop(deadline);
    // Queued hash jobs complete through the I/O threads' executors: finish them
    // while those still exist.
    res_.stop_hashing();
}

bool shared_services::reload()
{
    // The template store and the domain list swap atomically; work in progress keeps
    // the old ones.
    const bool checker = res_.reload_checker();
    const bool templates = bg_.reload_templates();
    return checker && templates;
}

std::unique_ptr<shared_services> make_shared_services(const config& cfg, bool workers, bool follow_caches)
{
    return std::make_unique<shared_services>(cfg, workers, follow_caches);
}

std::unique_ptr<thread_services> make_thread_services(const config& cfg, shared_services& shared, asio::io_context& ioc,
                                                      unsigned index)
{
    (void)index;
    return std::make_unique<thread_impl>(cfg, shared, ioc);
}

}  // namespace portcullis::app
