#pragma once
// Per-I/O-thread cache of live sessions and user rows, so an authenticated request
// needs no database round trip. Correctness comes first: every revocation or user
// change is broadcast (to this process's threads at once, to other instances
// through a Redis stream); while that stream cannot be read the cache is disabled
// and every request goes to PostgreSQL. Entries also expire after a short TTL.
// Single-threaded: used only on its own thread.

#include "store/pg/records.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace portcullis::auth {

struct cache_settings {
    std::chrono::seconds ttl{60};
    std::size_t max_entries = 200'000;        // per map; past it the map is cleared (rare, cheap)
    std::chrono::seconds touch_interval{60};  // how often last_used_at is written back
};

class session_cache {
public:
    using steady = std::chrono::steady_clock;

    struct session_entry {
        std::int64_t user_id = 0;
        store::time_point expires_at{};
        steady::time_point cached_at{};
        steady::time_point touched_at{};
    };

    explicit session_cache(cache_settings s = {}) : settings_(s) {}

    // Enabled only while invalidations can be received; disabling drops everything.
    void set_enabled(bool on);
    bool enabled() const noexcept { return enabled_; }

    // Bumped by every event, clear and enable/disable. A caller that reads a row from
    // the database takes the generation before the read and passes it to put_*: when
    // an invalidation arrived meanwhile, the row may predate it and is not cached.
    static constexpr std::uint64_t any_generation = ~std::uint64_t{0};
    std::uint64_t generation() const noexcept { return generation_; }

    // A fresh live entry, or nullptr.
    session_entry* find_session(std::string_view sid, steady::time_point now);
    void put_session(const std::string& sid, std::int64_t user_id, store::time_point expires_at, steady::time_point now,
                     std::uint64_t read_generation = any_generation);
    const store::user* find_user(std::int64_t id, steady::time_point now);
    void put_user(const store::user& u, steady::time_point now, std::uint64_t read_generation = any_generation);

    // Applies one invalidation event: "s:<sid>" ends a session, "u:<uid>" drops a user
    // row and every cached session of that user, "r:<uid>" drops only the user row (its
    // sessions stay valid), "*" drops everything.
    void apply(std::string_view event);
    void clear();

    const cache_settings& settings() const noexcept { return settings_; }
    std::size_t sessions() const noexcept { return sessions_.size(); }
    std::uint64_t hits() const noexcept { return hits_; }
    std::uint64_t misses() const noexcept { return misses_; }

private:
    struct user_entry {
        store::user row;
        steady::time_point cached_at{};
    };
    struct string_hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
    };

    cache_settings settings_;
    bool enabled_ = false;
    std::uint64_t generation_ = 0;
    std::unordered_map<std::string, session_entry, string_hash, std::equal_to<>> sessions_;
    std::unordered_map<std::int64_t, user_entry> users_;
    std::uint64_t hits_ = 0;
    std::uint64_t misses_ = 0;
};

}  // namespace portcullis::auth
