#include "app/resources.hpp"

#include "core/log.hpp"
#include "store/pg/pg_signing_keys.hpp"
#include "store/pg/pool.hpp"
#include "store/redis/sentinel.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <fstream>
#include <sstream>

namespace portcullis::app {

namespace asio = boost::asio;

store::redis::settings process_redis_settings(const config& cfg)
{
    store::redis::settings s = cfg.redis;
    // One tracker for every connection of the process, fed by the background sentinel_watch.
    if (!s.sentinels.empty()) s.tracker = std::make_shared<store::redis::master_tracker>();
    return s;
}

std::string signing_key_seal(const config& cfg)
{
    return auth::derive_subkey(cfg.secret_key, "signing-keys");
}

namespace {

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

}  // namespace

process_resources::process_resources(const config& cfg)
    : cfg_(cfg),
      keys_(cfg.secret_key, cfg.tokens.claims),
      key_seal_(signing_key_seal(cfg)),
      hashes_(cfg.hashing),
      checker_(verify::make_address_checker(cfg.email_check)),
      redis_(process_redis_settings(cfg)),
      counters_(std::make_shared<jobs::counters>())
{
    init_keys();
}

process_resources::~process_resources()
{
    hashes_.stop();
}

store::pg::settings process_resources::small_pool(unsigned size) const
{
    store::pg::settings s = cfg_.database;
    s.pool_size = size;
    return s;
}

bool process_resources::reload_checker()
{
    return !checker_ || checker_->reload();
}

// The HMAC keys and key files; stored keys are added by load_keys and each refresh.
void process_resources::init_keys()
{
    const auth::rotation_policy& policy = cfg_.tokens.rotation;
    const bool hs = policy.algorithm == auth::jws_alg::hs256;
    const auto epoch = auth::sys_time{};
    base_keys_.push_back({keys_.jwt.key(), epoch, std::nullopt, hs && cfg_.tokens.signing_key.empty(), true});
    if (!cfg_.tokens.signing_key.empty()) {
        base_keys_.push_back({auth::signing_key::hs256(cfg_.tokens.signing_key), epoch, std::nullopt, true, false});
    }
    if (!cfg_.tokens.private_key_file.empty()) {
        auto key = read_key_file(cfg_.tokens.private_key_file, "JWT_PRIVATE_KEY_FILE");
        if (!key.can_sign()) throw config_error("JWT_PRIVATE_KEY_FILE: holds a public key, not a private one\n");
        if (key.alg() != policy.algorithm) {
            throw config_error("JWT_PRIVATE_KEY_FILE: the key is for " + std::string(auth::to_string(key.alg())) +
                               ", not JWT_ALGORITHM=" + std::string(auth::to_string(policy.algorithm)) + "\n");
        }
        base_keys_.push_back({key, epoch, std::nullopt, true, false});
        for (const auto& path : cfg_.tokens.verify_key_files) {
            base_keys_.push_back({read_key_file(path, "JWT_VERIFY_KEY_FILES"), epoch, std::nullopt, false, false});
        }
        keys_from_db_ = false;
    }
    keys_.access->publish(auth::key_snapshot{base_keys_});
}

bool process_resources::load_keys()
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
        ioc.run_for(cfg_.database.query_timeout * 3);
        if (!synced && cfg_.tokens.rotation.algorithm != auth::jws_alg::hs256) {
            core::log::error("signing_keys_unavailable", {{"note", "cannot load the keys from PostgreSQL"}});
            return false;
        }
        if (!synced) core::log::warn("signing_keys_unavailable", {{"note", "HS256 tokens only until they load"}});
    }
    try {
        auth::claims probe;
        probe.iss = cfg_.tokens.claims.issuer;
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

auth::key_snapshot process_resources::snapshot_of(const std::vector<store::signing_key_record>& stored) const
{
    auth::key_snapshot s{base_keys_};
    auto more = auth::entries_of(stored, cfg_.tokens.rotation, key_seal_, std::chrono::system_clock::now());
    s.entries.insert(s.entries.end(), std::make_move_iterator(more.begin()), std::make_move_iterator(more.end()));
    return s;
}

asio::awaitable<bool> process_resources::async_sync_keys(store::signing_key_repository& repo)
{
    auto deadline = core::steady_clock::now() + cfg_.database.query_timeout * 2;
    auto stored = co_await auth::async_sync_keys(repo, cfg_.tokens.rotation, key_seal_, deadline);
    if (!stored) {
        core::log::warn("signing_keys_refresh_failed", {{"error", stored.error().message()}});
        co_return false;
    }
    keys_.access->publish(snapshot_of(*stored));
    co_return true;
}

asio::awaitable<bool> process_resources::async_initial_keys(store::signing_key_repository* repo, store::pg::pool* pool)
{
    bool ok = co_await async_sync_keys(*repo);
    pool->stop();
    co_return ok;
}

}  // namespace portcullis::app
