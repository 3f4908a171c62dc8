#include "net/metrics.hpp"

#include <algorithm>

namespace portcullis::net {
namespace {

// Single-writer increment: the owning thread is the only writer, so a relaxed load and
// store is exact and avoids the locked read-modify-write of fetch_add.
template <class T>
void bump(std::atomic<T>& c, T by) noexcept
{
    c.store(c.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
}

std::size_t bucket_of(std::chrono::nanoseconds d) noexcept
{
    double seconds = std::chrono::duration<double>(d).count();
    std::size_t i = 0;
    while (i < duration_bounds.size() && seconds > duration_bounds[i]) ++i;
    return i;
}

}  // namespace

request_metrics::request_metrics(const std::vector<route_key>& routes)
{
    for (const auto& r : routes) {
        if (r.route == unmatched_route) continue;
        bool seen = false;
        for (const auto& s : slots_) seen = seen || (s->name == r.route && s->method == r.method);
        if (seen) continue;
        slots_.push_back(std::make_unique<route_slot>());
        slots_.back()->method = r.method;
        slots_.back()->name = r.route;
    }
    slots_.push_back(std::make_unique<route_slot>());
    slots_.back()->method = std::string(unmatched_route);
    slots_.back()->name = std::string(unmatched_route);
    unmatched_ = slots_.back().get();
    for (const auto& s : slots_) {
        if (s.get() != unmatched_) by_name_[s->name].push_back(s.get());
    }
}

request_metrics::~request_metrics() = default;

void request_metrics::on_request(std::string_view method, std::string_view route, unsigned status,
                                 std::chrono::nanoseconds duration)
{
    route_slot* slot = unmatched_;
    if (auto it = by_name_.find(route); it != by_name_.end()) {
        for (route_slot* candidate : it->second) {
            if (candidate->method == method) slot = candidate;
        }
    }
    if (status >= min_status && status <= max_status) bump(slot->statuses[status - min_status], std::uint64_t{1});
    bump(slot->buckets[bucket_of(duration)], std::uint64_t{1});
    auto ns = duration.count() < 0 ? 0 : static_cast<std::uint64_t>(duration.count());
    bump(slot->duration_ns, ns);
}

void request_metrics::on_connection(int delta)
{
    bump(open_, static_cast<std::int64_t>(delta));
    if (delta > 0) bump(accepted_, static_cast<std::uint64_t>(delta));
}

void request_metrics::on_close(close_reason why)
{
    bump(closed_[static_cast<std::size_t>(why)], std::uint64_t{1});
}

void request_metrics::add_to(request_totals& out) const
{
    for (std::size_t i = 0; i < close_reason_count; ++i) out.closed[i] += closed_[i].load(std::memory_order_relaxed);
    out.open_connections += open_.load(std::memory_order_relaxed);
    out.connections_total += accepted_.load(std::memory_order_relaxed);
    for (const auto& slot : slots_) {
        auto it = std::find_if(out.routes.begin(), out.routes.end(), [&slot](const route_totals& t) {
            return t.route == slot->name && t.method == slot->method;
        });
        if (it == out.routes.end()) {
            out.routes.emplace_back();
            out.routes.back().method = slot->method;
            out.routes.back().route = slot->name;
            it = out.routes.end() - 1;
        }
        route_totals& t = *it;
        for (unsigned s = min_status; s <= max_status; ++s) {
            std::uint64_t n = slot->statuses[s - min_status].load(std::memory_order_relaxed);
            if (n == 0) continue;
            auto pos = std::lower_bound(t.statuses.begin(), t.statuses.end(), s,
                                        [](const auto& p, unsigned v) { return p.first < v; });
            if (pos != t.statuses.end() && pos->first == s)
                pos->second += n;
            else
                t.statuses.insert(pos, {s, n});
        }
        // The count is the sum of the buckets, so +Inf and _count agree in every scrape.
        for (std::size_t i = 0; i < t.buckets.size(); ++i) {
            std::uint64_t n = slot->buckets[i].load(std::memory_order_relaxed);
            t.buckets[i] += n;
            t.count += n;
        }
        t.duration_sum += static_cast<double>(slot->duration_ns.load(std::memory_order_relaxed)) / 1e9;
    }
    // "-" stays last whatever order the threads were merged in.
    std::stable_partition(out.routes.begin(), out.routes.end(),
                          [](const route_totals& t) { return t.route != unmatched_route; });
}

}  // namespace portcullis::net
