#pragma once
// What every thread of a serving or working process shares and that is built once: the
// keys derived from SECRET_KEY with the access-token key ring, the password hash pool
// and policy, the e-mail address checker, the blocking pool of PostgreSQL connects, the
// Redis settings (with the Sentinel master tracker) and the job counters. `migrate`
// builds none of it.

#include "app/config.hpp"
#include "auth/flow_types.hpp"
#include "auth/hash_pool.hpp"
#include "auth/password_policy.hpp"
#include "auth/signing_keys.hpp"
#include "jobs/queue.hpp"
#include "store/pg/blocking_pool.hpp"
#include "store/pg/key_repository.hpp"
#include "store/pg/settings.hpp"
#include "store/redis/settings.hpp"
#include "verify/address_checker.hpp"

#include <boost/asio/awaitable.hpp>

#include <memory>
#include <string>
#include <vector>

namespace portcullis::store::pg {
class pool;
}

namespace portcullis::app {

// REDIS_URL and REDIS_SENTINELS as the connections of one process use them: with
// Sentinel, one master tracker shared by all of them.
store::redis::settings process_redis_settings(const config& cfg);

// The key that seals private signing keys in PostgreSQL (derived from SECRET_KEY).
std::string signing_key_seal(const config& cfg);

class process_resources {
public:
    // Reads key files (throws config_error naming the variable), starts the hash threads.
    explicit process_resources(const config& cfg);
    ~process_resources();
    process_resources(const process_resources&) = delete;
    process_resources& operator=(const process_resources&) = delete;

    // Loads the access-token keys from PostgreSQL, creating the first key when
    // JWT_ALGORITHM asks for one (blocking; before the I/O threads start). Logs and
    // returns false when no key could sign.
    bool load_keys();
    // Whether the keys live in PostgreSQL (and are refreshed from there).
    bool keys_from_db() const noexcept { return keys_from_db_; }
    // Re-reads the stored keys, creates the next one when rotation is due, and
    // publishes the ring. Logs and returns false on failure (the old ring stays).
    boost::asio::awaitable<bool> async_sync_keys(store::signing_key_repository& repo);

    // SIGHUP: the disposable-domain list. False when the reload failed (the old list stays).
    bool reload_checker();
    // Finishes the queued hash jobs (through the I/O threads' executors, which must still exist).
    void stop_hashing() { hashes_.stop(); }

    const config& cfg() const noexcept { return cfg_; }
    const auth::key_set& keys() const noexcept { return keys_; }
    auth::hash_pool& hashes() noexcept { return hashes_; }
    const auth::hash_pool& hashes() const noexcept { return hashes_; }
    const auth::password_policy& policy() const noexcept { return policy_; }
    auth::email_checker* checker() noexcept { return checker_.get(); }
    store::pg::blocking_pool& blocking() noexcept { return blocking_; }
    const store::redis::settings& redis() const noexcept { return redis_; }
    const std::shared_ptr<jobs::counters>& counters() const noexcept { return counters_; }
    // DATABASE_URL with a small pool, for background work.
    store::pg::settings small_pool(unsigned size = 2) const;

private:
    void init_keys();
    auth::key_snapshot snapshot_of(const std::vector<store::signing_key_record>& stored) const;
    boost::asio::awaitable<bool> async_initial_keys(store::signing_key_repository* repo, store::pg::pool* pool);

    const config& cfg_;
    auth::key_set keys_;
    std::string key_seal_;
    std::vector<auth::ring_entry> base_keys_;
    bool keys_from_db_ = true;
    auth::hash_pool hashes_;
    auth::password_policy policy_;
    std::unique_ptr<verify::address_checker> checker_;
    store::pg::blocking_pool blocking_;
    store::redis::settings redis_;
    std::shared_ptr<jobs::counters> counters_;
};

}  // namespace portcullis::app
