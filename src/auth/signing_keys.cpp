#include "auth/signing_keys.hpp"

#include "auth/sealed.hpp"
#include "core/log.hpp"
#include "core/random.hpp"

#include <algorithm>
#include <limits>
#include <numeric>
#include <unordered_map>

namespace portcullis::auth {
namespace {

using core::errc;

std::atomic<std::uint64_t> next_ring_id{1};

// Indexes of `keys` ordered by (signs_from, kid): the order in which keys take over.
std::vector<std::size_t> takeover_order(const std::vector<store::signing_key_record>& keys)
{
    std::vector<std::size_t> order(keys.size());
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::sort(order.begin(), order.end(), [&keys](std::size_t a, std::size_t b) {
        if (keys[a].signs_from != keys[b].signs_from) return keys[a].signs_from < keys[b].signs_from;
        return keys[a].kid < keys[b].kid;
    });
    return order;
}

// The keys of a snapshot accepted at `now`, by kid. Remembers the entry it found so the
// verification cache can keep that entry's acceptance window.
class snapshot_lookup final : public key_lookup {
public:
    snapshot_lookup(const key_snapshot& s, sys_time now) noexcept : s_(s), now_(now) {}

    const signing_key* find(std::string_view kid) const noexcept override
    {
        for (const auto& e : s_.entries) {
            if (kid.empty() ? !e.legacy : e.key.kid() != kid) continue;
            if (e.accepted_until && now_ >= *e.accepted_until) return nullptr;
            found = &e;
            return &e.key;
        }
        return nullptr;
    }

    mutable const ring_entry* found = nullptr;

private:
    const key_snapshot& s_;
    sys_time now_;
};

// Per generation; two generations make a cheap approximation of LRU.
constexpr std::size_t cache_generation_size = 2048;

struct cached_token {
    claims c;
    std::int64_t deadline = 0;  // exp + leeway, Unix seconds
    const ring_entry* entry = nullptr;
};

// Looked up by string_view: a cache hit allocates nothing.
struct token_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};
using token_cache = std::unordered_map<std::string, cached_token, token_hash, std::equal_to<>>;

}  // namespace

struct key_ring::thread_view {
    std::uint64_t ring = 0;
    std::uint64_t version = 0;
    std::shared_ptr<const key_snapshot> snapshot;
    token_cache fresh;
    token_cache old;
};

std::string_view to_string(key_state s) noexcept
{
    switch (s) {
    case key_state::pending:
        return "pending";
    case key_state::active:
        return "active";
    case key_state::previous:
        return "previous";
    case key_state::expired:
        return "expired";
    case key_state::retired:
        return "retired";
    }
    return "retired";
}

std::vector<key_status> classify(const std::vector<store::signing_key_record>& keys, const rotation_policy& p,
                                 sys_time now)
{
    std::vector<key_status> out(keys.size());
    const auto order = takeover_order(keys);
    for (std::size_t pos = 0; pos < order.size(); ++pos) {
        const auto& k = keys[order[pos]];
        auto& st = out[order[pos]];
        if (k.retired_at) {
            st.state = key_state::retired;
            continue;
        }
        const store::signing_key_record* next = nullptr;
        for (std::size_t later = pos + 1; later < order.size() && next == nullptr; ++later) {
            const auto& c = keys[order[later]];
            if (!c.retired_at && c.algorithm == k.algorithm) next = &c;
        }
        if (k.signs_from > now) {
            st.state = key_state::pending;
        } else if (next == nullptr || next->signs_from > now) {
            st.state = key_state::active;
        } else {
            st.accepted_until = next->signs_from + p.grace();
            st.state = now < *st.accepted_until ? key_state::previous : key_state::expired;
        }
    }
    return out;
}

std::optional<rotation_due> next_rotation(const std::vector<store::signing_key_record>& keys, const rotation_policy& p,
                                          sys_time now)
{
    if (p.algorithm == jws_alg::hs256) return std::nullopt;
    const std::string alg(to_string(p.algorithm));
    const store::signing_key_record* newest = nullptr;
    for (auto i : takeover_order(keys)) {
        if (!keys[i].retired_at && keys[i].algorithm == alg) newest = &keys[i];
    }
    if (newest == nullptr) return rotation_due{now, ""};
    if (p.rotation.count() <= 0 || newest->signs_from > now) return std::nullopt;
    const sys_time takeover = newest->signs_from + p.rotation;
    if (now < takeover - p.publish_ahead) return std::nullopt;
    return rotation_due{std::max(takeover, now + p.publish_ahead), newest->kid};
}

std::vector<ring_entry> entries_of(const std::vector<store::signing_key_record>& keys, const rotation_policy& p,
                                   std::string_view seal_key, sys_time now)
{
    std::vector<ring_entry> out;
    const auto states = classify(keys, p, now);
    for (std::size_t i = 0; i < keys.size(); ++i) {
        const auto& k = keys[i];
        if (states[i].state == key_state::retired || states[i].state == key_state::expired) continue;
        auto pub = signing_key::from_pem(k.public_pem);
        if (!pub || pub->kid() != k.kid || to_string(pub->alg()) != k.algorithm) {
            core::log::error("signing_key_unreadable", {{"kid", k.kid}});
            continue;
        }
        ring_entry e{*pub, k.signs_from, states[i].accepted_until, false, false};
        if (pub->alg() == p.algorithm) {
            auto pem = unseal(seal_key, k.private_sealed);
            auto priv = pem ? signing_key::from_pem(*pem) : std::nullopt;
            if (priv && priv->kid() == k.kid && priv->can_sign()) {
                e.key = *priv;
                e.signs = true;
            } else {
                core::log::error("signing_key_sealed_elsewhere",
                                 {{"kid", k.kid}, {"note", "cannot unseal its private key: another SECRET_KEY?"}});
            }
        }
        out.push_back(std::move(e));
    }
    return out;
}

store::signing_key_record new_record(jws_alg alg, std::string_view seal_key, sys_time signs_from)
{
    auto key = signing_key::generate(alg);
    store::signing_key_record r;
    r.kid = key.kid();
    r.algorithm = std::string(to_string(alg));
    r.public_pem = key.public_pem();
    r.private_sealed = seal(seal_key, key.private_pem());
    r.signs_from = signs_from;
    return r;
}

boost::asio::awaitable<core::result<std::vector<store::signing_key_record>>> async_sync_keys(
    store::signing_key_repository& repo, const rotation_policy& p, std::string seal_key, core::deadline d)
{
    auto keys = co_await repo.async_list(d);
    if (!keys) co_return keys.error();
    auto due = next_rotation(*keys, p, std::chrono::system_clock::now());
    if (!due) co_return keys;
    auto rec = new_record(p.algorithm, seal_key, due->signs_from);
    auto inserted = co_await repo.async_insert(rec, due->newest, d);
    if (!inserted) co_return inserted.error();
    if (*inserted) {
        core::log::info("signing_key_created", {{"kid", rec.kid},
                                                {"algorithm", rec.algorithm},
                                                {"signs_from", core::to_unix(rec.signs_from)},
                                                {"reason", due->newest.empty() ? "first key" : "rotation"}});
    }
    // Inserted here or by another instance meanwhile: read what is stored now.
    co_return co_await repo.async_list(d);
}

key_ring::key_ring(jwt_settings settings, key_snapshot initial)
    : settings_(std::move(settings)),
      current_(std::make_shared<const key_snapshot>(std::move(initial))),
      id_(next_ring_id.fetch_add(1))
{
}

void key_ring::publish(key_snapshot next)
{
    auto s = std::make_shared<const key_snapshot>(std::move(next));
    std::lock_guard lock(mu_);
    current_ = std::move(s);
    version_.fetch_add(1, std::memory_order_release);
}

std::shared_ptr<const key_snapshot> key_ring::snapshot() const
{
    std::lock_guard lock(mu_);
    return current_;
}

key_ring::thread_view& key_ring::view() const
{
    thread_local thread_view v;
    const auto version = version_.load(std::memory_order_acquire);
    if (v.ring != id_ || v.version != version) {
        std::lock_guard lock(mu_);
        v.ring = id_;
        v.version = version_.load(std::memory_order_relaxed);
        v.snapshot = current_;
        // Cached entries point into the previous snapshot and may name a retired key.
        v.fresh.clear();
        v.old.clear();
    }
    return v;
}

std::string key_ring::sign(const claims& c, sys_time now) const
{
    const auto& s = *view().snapshot;
    const ring_entry* best = nullptr;
    for (const auto& e : s.entries) {
        if (!e.signs || e.signs_from > now) continue;
        if (best == nullptr || e.signs_from > best->signs_from ||
            (e.signs_from == best->signs_from && e.key.kid() > best->key.kid())) {
            best = &e;
        }
    }
    if (best == nullptr) throw std::runtime_error("no key can sign access tokens");
    return auth::sign(c, best->key, settings_.audience);
}

core::result<claims> key_ring::verify(std::string_view token, token_type expected, sys_time now) const
{
    auto& v = view();
    if (token.size() <= settings_.max_token_length) {
        auto hit = v.fresh.find(token);
        if (hit == v.fresh.end()) {
            auto aged = v.old.find(token);
            if (aged != v.old.end()) {
                if (v.fresh.size() >= cache_generation_size) v.fresh.clear();
                auto node = v.old.extract(aged);
                hit = v.fresh.insert(std::move(node)).position;
            }
        }
        if (hit != v.fresh.end() && hit->second.c.typ == expected) {
            const auto& e = hit->second;
            if (e.entry->accepted_until && now >= *e.entry->accepted_until) {
                v.fresh.erase(hit);
                return make_error_code(errc::invalid_token);
            }
            if (core::to_unix(now) >= e.deadline) return make_error_code(errc::token_expired);
            return e.c;
        }
    }

    snapshot_lookup lookup(*v.snapshot, now);
    auto c = auth::verify(token, lookup, settings_, expected, now);
    if (!c || lookup.found == nullptr) return c;
    if (v.fresh.size() >= cache_generation_size) {
        v.old = std::move(v.fresh);
        v.fresh.clear();
    }
    const std::int64_t leeway = settings_.leeway.count();
    const std::int64_t deadline = c->exp > std::numeric_limits<std::int64_t>::max() - leeway
                                      ? std::numeric_limits<std::int64_t>::max()
                                      : c->exp + leeway;
    v.fresh.insert_or_assign(std::string(token), cached_token{*c, deadline, lookup.found});
    return c;
}

std::string key_ring::jwks(sys_time now) const
{
    const auto& s = *view().snapshot;
    std::string out = "{\"keys\":[";
    bool first = true;
    for (const auto& e : s.entries) {
        if (e.key.alg() == jws_alg::hs256) continue;
        if (e.accepted_until && now >= *e.accepted_until) continue;
        if (!first) out += ',';
        first = false;
        out += e.key.public_jwk();
    }
    out += "]}";
    return out;
}

}  // namespace portcullis::auth
