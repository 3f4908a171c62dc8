#pragma once
// The keys of access tokens: which key signs now, which keys verify, the JWKS, and
// automatic rotation over the keys stored in PostgreSQL.
//
// Timeline of a stored key (all instances compute it alike from the table and the clock):
//   created (published in the JWKS) → signs_from (signs; at least the publish-ahead
//   time after creation) → superseded when the next key of its algorithm signs → still
//   published and accepted for `grace` (the access lifetime plus two refresh intervals,
//   so every token it signed has expired) → expired. `retire` ends all of it at once.

#include "auth/jwt.hpp"
#include "store/pg/key_repository.hpp"

#include <boost/asio/awaitable.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace portcullis::auth {

using sys_time = std::chrono::system_clock::time_point;

struct rotation_policy {
    jws_alg algorithm = jws_alg::hs256;
    std::chrono::seconds rotation{0};  // 0: no automatic rotation
    std::chrono::seconds publish_ahead{20 * 60};
    std::chrono::seconds access_lifetime{15 * 60};
    std::chrono::seconds refresh_interval{30};
    std::chrono::seconds leeway{0};

    // How long a superseded key stays published and accepted.
    std::chrono::seconds grace() const noexcept { return access_lifetime + leeway + 2 * refresh_interval; }
};

enum class key_state { pending, active, previous, expired, retired };
std::string_view to_string(key_state s) noexcept;

struct key_status {
    key_state state = key_state::pending;
    std::optional<sys_time> accepted_until;  // set once a later key supersedes it
};

// The state of each record (same order) at `now`.
std::vector<key_status> classify(const std::vector<store::signing_key_record>& keys, const rotation_policy& p,
                                 sys_time now);

// When a key of p.algorithm should be created at `now`: its signs_from and the kid of
// the current newest key (`""` when there is none), or nullopt when nothing is due.
struct rotation_due {
    sys_time signs_from;
    std::string newest;
};
std::optional<rotation_due> next_rotation(const std::vector<store::signing_key_record>& keys, const rotation_policy& p,
                                          sys_time now);

// One key as the ring holds it.
struct ring_entry {
    signing_key key;
    sys_time signs_from{};                   // signing candidates: the latest not in the future signs
    std::optional<sys_time> accepted_until;  // nullopt: no end yet
    bool signs = false;                      // a signing candidate (configured algorithm, private part held)
    bool legacy = false;                     // also verifies tokens without a kid
};

struct key_snapshot {
    std::vector<ring_entry> entries;
};

// The access-token keys of this process, shared by every thread. `publish` swaps the
// snapshot; readers on I/O threads pay one atomic load per call. Verification keeps a
// bounded per-thread cache of tokens whose signature was verified (keyed by the whole
// token; each hit re-checks expiry and the key's acceptance), cleared when the
// snapshot changes.
class key_ring {
public:
    key_ring(jwt_settings settings, key_snapshot initial);

    void publish(key_snapshot next);
    std::shared_ptr<const key_snapshot> snapshot() const;
    const jwt_settings& settings() const noexcept { return settings_; }

    // Signs with the signing candidate of latest signs_from <= now. Throws
    // std::runtime_error when there is none (start-up refuses such a configuration).
    std::string sign(const claims& c, sys_time now) const;
    // As auth::verify, with the keys accepted at `now`.
    core::result<claims> verify(std::string_view token, token_type expected, sys_time now) const;
    // {"keys":[…]}: the public JWKs of the keys published at `now` (no HMAC key ever).
    std::string jwks(sys_time now) const;

private:
    struct thread_view;
    thread_view& view() const;

    jwt_settings settings_;
    mutable std::mutex mu_;
    std::shared_ptr<const key_snapshot> current_;
    std::atomic<std::uint64_t> version_{1};
    std::uint64_t id_;
};

// A ring entry per usable stored key: asymmetric keys that are not retired nor expired;
// private parts are unsealed with `seal_key` for keys of p.algorithm. Keys whose public
// part does not parse are skipped and logged; one whose private part cannot be unsealed
// (another SECRET_KEY) verifies but does not sign.
std::vector<ring_entry> entries_of(const std::vector<store::signing_key_record>& keys, const rotation_policy& p,
                                   std::string_view seal_key, sys_time now);

// A new stored key of `alg`, sealed with `seal_key`, signing from `signs_from`.
store::signing_key_record new_record(jws_alg alg, std::string_view seal_key, sys_time signs_from);

// Loads the stored keys, creates the key that is due (first key, or automatic rotation),
// and returns the stored records after that. Errors: the repository's.
boost::asio::awaitable<core::result<std::vector<store::signing_key_record>>> async_sync_keys(
    store::signing_key_repository& repo, const rotation_policy& p, std::string seal_key, core::deadline d);

}  // namespace portcullis::auth
