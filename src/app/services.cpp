// Why one file of this size: it is the wiring of concrete types, where every setting
// meets the module it configures; the process-wide services (keys, hash pool, checker,
// background thread with the workers, beat and cache invalidation reader) and the
// per-thread ones share the translation of the configuration and the cache registry.
#include "app/services.hpp"

#include "app/mail_task.hpp"
#include "app/notify.hpp"
#include "auth/hash_pool.hpp"
#include "auth/password_policy.hpp"
#include "auth/service.hpp"
#include "auth/session_cache.hpp"
#include "auth/signing_keys.hpp"
#include "core/log.hpp"
#include "core/spawn.hpp"
#include "jobs/beat.hpp"
#include "jobs/queue.hpp"
#include "jobs/worker_pool.hpp"
#include "mail/mailer.hpp"
#include "net/api.hpp"
#include "net/well_known.hpp"
#include "store/kv/redis_auth_kv.hpp"
#include "store/pg/blocking_pool.hpp"
#include "store/pg/migrate.hpp"
#include "store/pg/pg_repositories.hpp"
#include "store/pg/pg_signing_keys.hpp"
#include "store/pg/pool.hpp"
#include "store/redis/connection.hpp"
#include "store/redis/sentinel.hpp"
#include "verify/address_checker.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

#include <fstream>
#include <future>
#include <mutex>
#include <sstream>
#include <thread>

namespace portcullis::app {

namespace asio = boost::asio;

store::pg::settings pg_settings(const config& cfg)
{
    store::pg::settings s;
    s.url = cfg.database_url;
    s.pool_size = cfg.database_pool_size;
    s.query_timeout = cfg.database_timeout;
    s.connect_timeout = cfg.database_timeout;
    s.acquire_timeout = cfg.database_timeout;
    return s;
}

// The pool of DATABASE_READ_URL: named apart, so that pg_stat_activity tells them apart.
store::pg::settings pg_read_settings(const config& cfg)
{
    store::pg::settings s = pg_settings(cfg);
    s.url = cfg.database_read_url;
    s.application_name = "portcullis-read";
    return s;
}

store::redis::settings redis_settings(const config& cfg)
{
    store::redis::settings base;
    base.command_timeout = cfg.redis_timeout;
    auto parsed = store::redis::parse_url(cfg.redis_url, base);
    if (!parsed) throw config_error("REDIS_URL: must be redis://[:password@]host[:port][/db]\n");
    if (!cfg.redis_sentinels.empty()) {
        auto sentinels = store::redis::parse_endpoints(cfg.redis_sentinels);
        if (!sentinels) throw config_error("REDIS_SENTINELS: must be a comma-separated list of host:port\n");
        parsed->sentinels = std::move(*sentinels);
        parsed->sentinel_master = cfg.redis_sentinel_master;
        parsed->sentinel_password = cfg.redis_sentinel_password;
        // One tracker for every connection of the process, fed by the shared sentinel_watch.
        parsed->tracker = std::make_shared<store::redis::master_tracker>();
    }
    parsed->min_replicas = cfg.redis_min_replicas;
    return *parsed;
}

jobs::queue_settings queue_settings(const config& cfg)
{
    jobs::queue_settings q;
    q.prefix = cfg.redis_prefix;
    return q;
}

auth::rotation_policy rotation_policy_of(const config& cfg)
{
    auth::rotation_policy p;
    p.algorithm = auth::parse_jws_alg(cfg.jwt_algorithm).value_or(auth::jws_alg::hs256);
    p.rotation = cfg.jwt_key_rotation;
    p.publish_ahead = cfg.jwt_key_publish_ahead;
    p.access_lifetime = cfg.access_token_lifetime;
    p.refresh_interval = cfg.jwt_key_refresh;
    return p;
}

// The key that seals private signing keys in PostgreSQL.
std::string signing_key_seal(const config& cfg)
{
    return auth::derive_subkey(cfg.secret_key, "signing-keys");
}

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

auth::jwt_settings jwt_settings_of(const config& cfg)
{
    auth::jwt_settings j;
    j.issuer = cfg.jwt_issuer;
    j.audience = cfg.jwt_audience;
    return j;
}

auth::signing_key read_key_file(const std::string& path, const char* variable)
{
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    if (!in) throw config_error(std::string(variable) + ": cannot read " + path + "\n");
    auto key = auth::signing_key::from_pem(text.str());
    if (!key) {
        throw config_error(std::string(variable) + ": " + path +
                           " holds no unencrypted Ed25519 or P-256 key in PEM form\n");
    }
    return *key;
}

auth::hash_pool_settings hash_settings(const config& cfg)
{
    auth::hash_pool_settings h;
    h.threads = cfg.hash_threads;
    h.queue_limit = cfg.hash_queue;
    h.nice = cfg.hash_nice;
    h.params.memory_kib = cfg.argon2_memory_kib;
    h.params.iterations = cfg.argon2_iterations;
    h.params.parallelism = cfg.argon2_parallelism;
    return h;
}

auth::auth_settings auth_settings_of(const config& cfg)
{
    auth::auth_settings a;
    a.access_lifetime = cfg.access_token_lifetime;
    a.refresh_lifetime = cfg.refresh_token_lifetime;
    a.refresh_reuse_interval = cfg.refresh_reuse_interval;
    a.otp_ttl = cfg.otp_ttl;
    a.max_otp_attempts = static_cast<int>(cfg.max_otp_attempts);
    a.otp_resend_cooldown = cfg.otp_resend_cooldown;
    a.otp_max_failures_per_hour = static_cast<int>(cfg.otp_max_failures_per_hour);
    a.login_fail_limit = static_cast<int>(cfg.login_fail_limit);
    a.login_fail_window = cfg.login_fail_window;
    a.login_ip_limit = static_cast<int>(cfg.login_ip_limit);
    a.request_ip_limit = static_cast<int>(cfg.register_ip_limit);
    a.address_limit = static_cast<int>(cfg.address_limit);
    a.login_account_limit = static_cast<int>(cfg.login_account_limit);
    a.login_account_free = static_cast<int>(cfg.login_account_free_failures);
    a.login_account_max_wait = cfg.login_account_max_delay;
    a.password_check_limit = static_cast<int>(cfg.password_check_limit);
    a.otp_ip_limit = static_cast<int>(cfg.otp_ip_limit);
    a.max_sessions_per_user = static_cast<int>(cfg.max_sessions_per_user);
    auto exempt = cfg.rate_limit_exempt;
    a.ip_exempt = [exempt](std::string_view ip) {
        for (const auto& block : exempt) {
            if (block.contains(ip)) return true;
        }
        return false;
    };
    return a;
}

verify::checker_settings checker_settings_of(const config& cfg)
{
    verify::checker_settings v;
    v.mode = cfg.email_validation;
    v.fail_open = cfg.email_validation_fail_open;
    v.dns.servers = cfg.dns_servers;
    v.dns.timeout = cfg.email_validation_timeout;
    v.mailboxlayer.url = cfg.mailboxlayer_url;
    v.mailboxlayer.access_key = cfg.mailboxlayer_access_key;
    v.mailboxlayer.ca_file = cfg.mailboxlayer_ca_file;
    v.disposable_domains_file = cfg.disposable_domains_file;
    return v;
}

// Applies the migrations with the blocking calls of the connection on `blocking`.
bool apply_migrations(store::pg::blocking_pool& blocking, const config& cfg)
{
    asio::io_context ioc;
    // async_migrate takes the settings by reference: they must outlive the run.
    const store::pg::settings settings = pg_settings(cfg);
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

class thread_impl;

// A cache living on one I/O thread, and how to reach it from elsewhere.
struct cache_handle {
    asio::io_context* ioc;
    auth::session_cache* cache;
};

class shared_impl final : public shared_services, public auth::invalidation_sink {
public:
    shared_impl(const config& cfg, bool workers)
        : cfg_(cfg),
          keys_(cfg.secret_key, jwt_settings_of(cfg)),
          key_policy_(rotation_policy_of(cfg)),
          key_seal_(signing_key_seal(cfg)),
          hashes_(hash_settings(cfg)),
          checker_(verify::make_address_checker(checker_settings_of(cfg))),
          redis_settings_(redis_settings(cfg)),
          counters_(std::make_shared<jobs::counters>()),
          workers_enabled_(workers && cfg.job_workers > 0)
    {
        init_keys();
    }

    ~shared_impl() override
    {
        stop_background(core::steady_clock::now() + std::chrono::seconds(10));
        hashes_.stop();
    }

    bool load_keys() override
    {
        if (keys_from_db_) {
            asio::io_context ioc{1};
            store::pg::pool pool(ioc.get_executor(), blocking_, small_pool(1));
            store::pg::signing_keys repo(pool);
            pool.start();
            bool synced = false;
            asio::co_spawn(ioc, async_initial_keys(&repo, &pool), [&ioc, &synced](std::exception_ptr e, bool ok) {
                synced = !e && ok;
                ioc.stop();
            });
            ioc.run_for(cfg_.database_timeout * 3);
            if (!synced && key_policy_.algorithm != auth::jws_alg::hs256) {
                core::log::error("signing_keys_unavailable", {{"note", "cannot load the keys from PostgreSQL"}});
                return false;
            }
            if (!synced) core::log::warn("signing_keys_unavailable", {{"note", "HS256 tokens only until they load"}});
        }
        try {
            auth::claims probe;
            probe.iss = cfg_.jwt_issuer;
            probe.sub = "0";
            probe.jti = "probe";
            probe.sid = "probe";
            (void)keys_.access->sign(probe, std::chrono::system_clock::now());
        } catch (const std::exception& e) {
            core::log::error("signing_keys_unusable", {{"error", e.what()}});
            return false;
        }
        return true;
    }

    void start_control(asio::io_context& control, std::function<bool()> healthy) override
    {
        if (auto interval = watchdog_interval()) {
            asio::co_spawn(control, async_watchdog(&control, *interval / 2, std::move(healthy)),
                           core::log_escape{"watchdog"});
        }
    }

    void stop_workers(core::deadline deadline) override
    {
        stop_background(deadline);
        // Queued hash jobs complete through the I/O threads' executors: finish them
        // while those still exist.
        hashes_.stop();
    }

    bool reload() override
    {
        // The template store and the domain list swap atomically; work in progress keeps
        // the old ones.
        bool ok = true;
        if (checker_ && !checker_->reload()) ok = false;
        if (mail_ && !mail_->reload_templates()) ok = false;
        return ok;
    }

    auth::hash_pool_stats hash_stats() const override { return hashes_.stats(); }
    const jobs::counters& job_counters() const override { return *counters_; }

    // Starts the background thread: the invalidation reader, and the job workers and
    // beat when enabled. Called once every I/O thread has registered its cache.
    void start_background(bool reader = true)
    {
        if (redis_settings_.tracker) {
            sentinel_watch_ = std::make_unique<store::redis::sentinel_watch>(bg_ioc_.get_executor(), redis_settings_);
            sentinel_watch_->start();
        }
        bg_conn_ = std::make_unique<store::redis::connection>(bg_ioc_.get_executor(), redis_settings_);
        bg_conn_->start();
        if (reader) {
            // XREAD BLOCK holds its connection: give it its own, so beat never waits behind it.
            reader_conn_ = std::make_unique<store::redis::connection>(bg_ioc_.get_executor(), redis_settings_);
            reader_conn_->start();
            asio::co_spawn(bg_ioc_, async_invalidation_reader(), core::log_escape{"invalidation_reader"});
        }
        if (workers_enabled_) start_workers(bg_ioc_, bg_conn_.get());
        if (reader && keys_from_db_) {
            keys_pool_ = std::make_unique<store::pg::pool>(bg_ioc_.get_executor(), blocking_, small_pool(1));
            keys_pool_->start();
            keys_repo_ = std::make_unique<store::pg::signing_keys>(*keys_pool_);
            keys_timer_ = std::make_unique<asio::steady_timer>(bg_ioc_);
            asio::co_spawn(bg_ioc_, async_refresh_keys(), core::log_escape{"signing_keys_refresh"});
        }
        bg_thread_ = std::thread([this] {
            core::log::set_thread_buffered(false);
            bg_ioc_.run();
        });
    }

    // The job workers, beat and the periodic purge (`serve` runs them in-process,
    // `worker` alone).
    void start_workers(asio::io_context& ioc, store::redis::connection* conn)
    {
        mail_ = std::make_unique<mail_task>(cfg_, keys_.seal, ioc.get_executor());
        jobs::registry tasks;
        mail_->register_with(tasks);
        jobs::worker_settings ws;
        ws.concurrency = cfg_.job_workers;
        // How long an idle worker blocks in BLMOVE bounds how fast a stop is noticed.
        ws.block_timeout = std::chrono::milliseconds(250);
        workers_ = std::make_unique<jobs::worker_pool>(ioc.get_executor(), redis_settings_, std::move(tasks),
                                                       queue_settings(cfg_), ws, counters_);
        workers_done_flag_ = std::make_shared<bool>(false);
        asio::co_spawn(ioc, async_run_workers(workers_.get(), workers_done_flag_), core::log_escape{"job_workers"});

        purge_pool_ = std::make_unique<store::pg::pool>(ioc.get_executor(), blocking_, small_pool());
        purge_pool_->start();
        purge_tokens_ = std::make_unique<store::pg::refresh_tokens>(*purge_pool_);
        beat_ = std::make_unique<jobs::beat>(ioc.get_executor(), *conn, queue_settings(cfg_));
        store::refresh_token_repository* tokens = purge_tokens_.get();
        beat_->add("purge_expired", std::chrono::minutes(10), [tokens]() { return async_purge(tokens); });
        asio::co_spawn(ioc, beat_->async_run(), core::log_escape{"beat"});
    }

    void register_cache(asio::io_context& ioc, auth::session_cache& cache)
    {
        std::lock_guard lock(mu_);
        caches_.push_back({&ioc, &cache});
    }

    // Local broadcast: the calling thread's cache at once, the others by post.
    void broadcast(const std::string& event) override
    {
        for (const auto& h : caches_) {
            if (h.ioc->get_executor().running_in_this_thread()) {
                h.cache->apply(event);
            } else {
                auth::session_cache* cache = h.cache;
                asio::post(*h.ioc, [cache, event] { cache->apply(event); });
            }
        }
    }

    void set_caches_enabled(bool on)
    {
        for (const auto& h : caches_) {
            auth::session_cache* cache = h.cache;
            asio::post(*h.ioc, [cache, on] { cache->set_enabled(on); });
        }
    }

    const auth::key_set& keys() const noexcept { return keys_; }
    auth::hash_pool& hashes() noexcept { return hashes_; }
    const auth::password_policy& policy() const noexcept { return policy_; }
    auth::email_checker* checker() noexcept { return checker_.get(); }
    store::pg::blocking_pool& blocking() noexcept { return blocking_; }
    const store::redis::settings& redis() const noexcept { return redis_settings_; }
    const std::shared_ptr<jobs::counters>& counters() const noexcept { return counters_; }
    const config& cfg() const noexcept { return cfg_; }

private:
    store::pg::settings small_pool(unsigned size = 2) const
    {
        store::pg::settings s = pg_settings(cfg_);
        s.pool_size = size;
        return s;
    }

    // The HMAC keys and key files; stored keys are added by load_keys and each refresh.
    void init_keys()
    {
        const bool hs = key_policy_.algorithm == auth::jws_alg::hs256;
        const auto epoch = auth::sys_time{};
        base_keys_.push_back({keys_.jwt.key(), epoch, std::nullopt, hs && cfg_.jwt_signing_key.empty(), true});
        if (!cfg_.jwt_signing_key.empty()) {
            base_keys_.push_back({auth::signing_key::hs256(cfg_.jwt_signing_key), epoch, std::nullopt, true, false});
        }
        if (!cfg_.jwt_private_key_file.empty()) {
            auto key = read_key_file(cfg_.jwt_private_key_file, "JWT_PRIVATE_KEY_FILE");
            if (!key.can_sign()) throw config_error("JWT_PRIVATE_KEY_FILE: holds a public key, not a private one\n");
            if (key.alg() != key_policy_.algorithm) {
                throw config_error("JWT_PRIVATE_KEY_FILE: the key is for " + std::string(auth::to_string(key.alg())) +
                                   ", not JWT_ALGORITHM=" + cfg_.jwt_algorithm + "\n");
            }
            base_keys_.push_back({key, epoch, std::nullopt, true, false});
            for (const auto& path : cfg_.jwt_verify_key_files) {
                base_keys_.push_back({read_key_file(path, "JWT_VERIFY_KEY_FILES"), epoch, std::nullopt, false, false});
            }
            keys_from_db_ = false;
        }
        keys_.access->publish(auth::key_snapshot{base_keys_});
    }

    auth::key_snapshot snapshot_of(const std::vector<store::signing_key_record>& stored) const
    {
        auth::key_snapshot s{base_keys_};
        auto more = auth::entries_of(stored, key_policy_, key_seal_, std::chrono::system_clock::now());
        s.entries.insert(s.entries.end(), std::make_move_iterator(more.begin()), std::make_move_iterator(more.end()));
        return s;
    }

    asio::awaitable<bool> async_sync_keys_once(store::signing_key_repository* repo)
    {
        auto deadline = core::steady_clock::now() + cfg_.database_timeout * 2;
        auto stored = co_await auth::async_sync_keys(*repo, key_policy_, key_seal_, deadline);
        if (!stored) {
            core::log::warn("signing_keys_refresh_failed", {{"error", stored.error().message()}});
            co_return false;
        }
        keys_.access->publish(snapshot_of(*stored));
        co_return true;
    }

    asio::awaitable<bool> async_initial_keys(store::signing_key_repository* repo, store::pg::pool* pool)
    {
        bool ok = co_await async_sync_keys_once(repo);
        pool->stop();
        co_return ok;
    }

    // Every JWT_KEY_REFRESH: re-read the keys (another instance or `portcullis keys` may
    // have changed them) and create the next key when rotation is due.
    asio::awaitable<void> async_refresh_keys()
    {
        while (!stopping_) {
            keys_timer_->expires_after(cfg_.jwt_key_refresh);
            auto [ec] = co_await keys_timer_->async_wait(use_tuple);
            if (ec || stopping_) co_return;
            co_await async_sync_keys_once(keys_repo_.get());
        }
    }

    static asio::awaitable<void> async_run_workers(jobs::worker_pool* pool, std::shared_ptr<bool> done)
    {
        co_await pool->async_run();
        *done = true;
    }

    static asio::awaitable<core::result<void>> async_purge(store::refresh_token_repository* tokens)
    {
        std::int64_t tokens_total = 0;
        std::int64_t sessions_total = 0;
        std::int64_t pending_total = 0;
        for (int round = 0; round < 100; ++round) {
            auto r = co_await tokens->async_purge(1000, core::steady_clock::now() + std::chrono::seconds(30));
            if (!r) co_return r.error();
            tokens_total += r->refresh_tokens;
            sessions_total += r->sessions;
            pending_total += r->pending_users;
            if (r->refresh_tokens < 1000 && r->sessions < 1000 && r->pending_users < 1000) break;
        }
        core::log::info(
            "purged_expired",
            {{"refresh_tokens", tokens_total}, {"sessions", sessions_total}, {"pending_users", pending_total}});
        co_return core::result<void>{};
    }

    static asio::awaitable<void> async_watchdog(asio::io_context* control, std::chrono::microseconds every,
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

    // Follows the invalidation stream. Caches are enabled only while it is read.
    asio::awaitable<void> async_invalidation_reader()
    {
        store::kv::invalidation_reader reader(*reader_conn_, cfg_.redis_prefix);
        asio::steady_timer pause(bg_ioc_);
        auto backoff = std::chrono::milliseconds(100);
        while (!stopping_) {
            auto tail = co_await reader.async_tail(core::steady_clock::now() + std::chrono::seconds(3));
            if (!tail) {
                pause.expires_after(backoff);
                co_await pause.async_wait(use_tuple);
                backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
                continue;
            }
            backoff = std::chrono::milliseconds(100);
            std::string last = *tail;
            // A reconnect (to a new master after a failover, or the same one after a restart)
            // may have lost events not yet replicated or persisted: the caches start empty.
            const auto connects = reader_conn_->stats().reconnects.load(std::memory_order_relaxed);
            set_caches_enabled(true);
            while (!stopping_) {
                auto batch = co_await reader.async_read(last, std::chrono::milliseconds(1000),
                                                        core::steady_clock::now() + std::chrono::seconds(5));
                if (!batch) {
                    core::log::warn("invalidation_stream_lost", {{"error", batch.error().message()}});
                    set_caches_enabled(false);
                    break;
                }
                if (reader_conn_->stats().reconnects.load(std::memory_order_relaxed) != connects) {
                    core::log::warn("invalidation_stream_lost", {{"error", "reconnected"}});
                    set_caches_enabled(false);
                    break;
                }
                if (batch->trimmed) broadcast_remote("*");
                for (const auto& [id, event] : batch->events) {
                    broadcast_remote(event);
                    last = id;
                }
            }
        }
        set_caches_enabled(false);
    }

    void broadcast_remote(const std::string& event)
    {
        for (const auto& h : caches_) {
            auth::session_cache* cache = h.cache;
            asio::post(*h.ioc, [cache, event] { cache->apply(event); });
        }
    }

    // Stops the background thread by `deadline`: the workers finish the jobs in hand
    // until shortly before it (the rest go back to the queue), then the rest stops.
    void stop_background(core::deadline deadline)
    {
        if (!bg_thread_.joinable()) return;
        std::promise<void> done;
        auto fut = done.get_future();
        asio::post(bg_ioc_, [this, deadline] {
            stopping_ = true;
            // Ends the reader's blocking XREAD at once.
            if (reader_conn_) reader_conn_->stop();
            if (sentinel_watch_) sentinel_watch_->stop();
            if (workers_) workers_->stop(deadline);
            if (beat_) beat_->stop();
            if (keys_timer_) keys_timer_->cancel();
        });
        asio::co_spawn(bg_ioc_, async_stop_rest(deadline), [&done](std::exception_ptr) { done.set_value(); });
        fut.wait();
        bg_ioc_.stop();
        bg_thread_.join();
    }

    asio::awaitable<void> async_stop_rest(core::deadline deadline)
    {
        if (workers_) {
            // Wait until the workers' run loop has returned its jobs (it logs when done);
            // it is bound by the same deadline.
            asio::steady_timer t(bg_ioc_);
            while (core::steady_clock::now() < deadline && workers_running()) {
                t.expires_after(std::chrono::milliseconds(20));
                co_await t.async_wait(use_tuple);
            }
        }
        if (mail_) co_await mail_->async_close(deadline);
        if (purge_pool_) purge_pool_->stop();
        if (keys_pool_) keys_pool_->stop();
        if (bg_conn_) bg_conn_->stop();
    }

    bool workers_running() const { return workers_done_flag_ == nullptr ? false : !*workers_done_flag_; }

    const config& cfg_;
    auth::key_set keys_;
    auth::rotation_policy key_policy_;
    std::string key_seal_;
    std::vector<auth::ring_entry> base_keys_;
    bool keys_from_db_ = true;
    auth::hash_pool hashes_;
    auth::password_policy policy_;
    std::unique_ptr<verify::address_checker> checker_;
    store::pg::blocking_pool blocking_;
    store::redis::settings redis_settings_;
    std::shared_ptr<jobs::counters> counters_;
    bool workers_enabled_;

    std::mutex mu_;
    std::vector<cache_handle> caches_;

    asio::io_context bg_ioc_{1};
    asio::executor_work_guard<asio::io_context::executor_type> bg_guard_{bg_ioc_.get_executor()};
    std::thread bg_thread_;
    bool stopping_ = false;
    std::unique_ptr<store::redis::sentinel_watch> sentinel_watch_;
    std::unique_ptr<store::redis::connection> bg_conn_;
    std::unique_ptr<store::redis::connection> reader_conn_;
    std::unique_ptr<mail_task> mail_;
    std::unique_ptr<jobs::worker_pool> workers_;
    std::unique_ptr<jobs::beat> beat_;
    std::unique_ptr<store::pg::pool> purge_pool_;
    std::unique_ptr<store::pg::refresh_tokens> purge_tokens_;
    std::unique_ptr<store::pg::pool> keys_pool_;
    std::unique_ptr<store::pg::signing_keys> keys_repo_;
    std::unique_ptr<asio::steady_timer> keys_timer_;
    std::shared_ptr<bool> workers_done_flag_;
};

class thread_impl final : public thread_services {
public:
    thread_impl(const config& cfg, shared_impl& shared, asio::io_context& ioc)
        : pool_(ioc.get_executor(), shared.blocking(), pg_settings(cfg)),
          users_(pool_),
          sessions_(pool_),
          tokens_(pool_),
          mfa_(pool_),
          read_pool_(cfg.database_read_url.empty() ? nullptr
                                                   : std::make_unique<store::pg::pool>(
                                                         ioc.get_executor(), shared.blocking(), pg_read_settings(cfg))),
          read_users_(read_pool_ ? std::make_unique<store::pg::users>(*read_pool_) : nullptr),
          redis_(ioc.get_executor(), shared.redis()),
          kv_(redis_, cfg.redis_prefix),
          producer_(redis_, queue_settings(cfg), shared.counters()),
          queue_settings_(queue_settings(cfg)),
          keys_(shared.keys()),
          svc_(auth::service::deps{users_, sessions_, tokens_, kv_, producer_, shared.hashes(), shared.keys(),
                                   shared.policy(), cache_, shared, shared.checker(), read_users_.get(),
                                   core::system_clock(), &mfa_},
               auth_settings_of(cfg))
    {
        shared.register_cache(ioc, cache_);
        api_.cookie_secure = cfg.cookie_secure;
        api_.cookie_prefix = cfg.cookie_name_prefix;
        well_known_.issuer = cfg.jwt_issuer;
        well_known_.jwks_uri = cfg.jwt_jwks_uri;
        // Verifiers must see a new key before it signs: their cache lives at most a
        // quarter of the publish-ahead time (and at most five minutes).
        well_known_.max_age =
            std::clamp(cfg.jwt_key_publish_ahead / 4, std::chrono::seconds(1), std::chrono::seconds(300));
    }

    void start() override
    {
        pool_.start();
        if (read_pool_) read_pool_->start();
        redis_.start();
    }

    void stop() override
    {
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
    std::unique_ptr<store::pg::pool> read_pool_;  // DATABASE_READ_URL; null when unset
    std::unique_ptr<store::pg::users> read_users_;
    store::redis::connection redis_;
    store::kv::redis_auth_kv kv_;
    jobs::producer producer_;
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

std::unique_ptr<shared_services> make_shared_services(const config& cfg, bool workers)
{
    return std::make_unique<shared_impl>(cfg, workers);
}

std::unique_ptr<thread_services> make_thread_services(const config& cfg, shared_services& shared, asio::io_context& ioc,
                                                      unsigned index)
{
    (void)index;
    return std::make_unique<thread_impl>(cfg, static_cast<shared_impl&>(shared), ioc);
}

void start_shared_background(shared_services& shared)
{
    static_cast<shared_impl&>(shared).start_background();
}

void start_worker_background(shared_services& shared)
{
    static_cast<shared_impl&>(shared).start_background(false);
}

}  // namespace portcullis::app
