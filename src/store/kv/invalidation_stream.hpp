#pragma once
// The cache-invalidation stream as its follower sees it. Events are written by the auth
// flows (auth_kv::async_publish_invalidation); every instance follows the stream and
// applies them to its session caches (auth::cache_bus). Implemented over a Redis stream
// by invalidation_reader; unit tests use a scripted fake.

#include "store/kv/auth_kv.hpp"

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace portcullis::store::kv {

// Events after some id, with their ids (the last one is the next `last_id`).
struct invalidation_batch {
    std::vector<std::pair<std::string, std::string>> events;  // (id, event)
    // Entries after `last_id` may have been trimmed away before they were read: the
    // follower must then drop whole caches.
    bool trimmed = false;
};

class invalidation_stream {
public:
    virtual ~invalidation_stream() = default;

    // The id to start after: the stream's current last entry ("0-0" when empty).
    virtual async_result<std::string> async_tail(core::deadline d) = 0;

    // Waits up to `block` for events after `last_id`. Empty on timeout.
    virtual async_result<invalidation_batch> async_read(std::string_view last_id, std::chrono::milliseconds block,
                                                        core::deadline d) = 0;

    // Changes whenever the transport was re-established (a restart, a failover): events
    // written in between may be lost, so the follower starts again from empty caches.
    virtual std::uint64_t generation() const noexcept = 0;
};

}  // namespace portcullis::store::kv
