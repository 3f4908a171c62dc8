#pragma once
// Request metrics of one I/O thread: requests by method, route template and status, a
// latency histogram per method and route, open connections. Each I/O thread owns one `request_metrics`
// and is its only writer; a scrape on any thread adds every thread's counts together
// (`add_to`). Writes are a relaxed load and store of the thread's own counters — no
// read-modify-write, no lock, no cache line written by two threads — so counting costs
// the request path next to nothing and never contends across threads.

#include "net/server.hpp"

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace portcullis::net {

// Upper bounds (seconds) of the request duration histogram; +Inf follows the last.
inline constexpr std::array<double, 14> duration_bounds{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                        0.1,    0.25,  0.5,    1,     2.5,  5,     10};

// The route (and method) label of requests that matched no route: 404 on an unknown
// path, 405 for a method the path does not have, framing errors, limits hit before
// routing. Their methods are not labels: a client could invent any number of them.
inline constexpr std::string_view unmatched_route = "-";

// A registered route: method and path template.
struct route_key {
    std::string method;
    std::string route;
};

// Counts of one method and route over every thread (a scrape's view).
struct route_totals {
    std::string method;
    std::string route;
    std::vector<std::pair<unsigned, std::uint64_t>> statuses;         // ascending status, non-zero counts
    std::array<std::uint64_t, duration_bounds.size() + 1> buckets{};  // per bucket, not cumulative; last is +Inf
    std::uint64_t count = 0;                                          // the sum of the buckets
    double duration_sum = 0;                                          // seconds
};

struct request_totals {
    std::vector<route_totals> routes;  // in the order the routes were registered, "-" last
    std::int64_t open_connections = 0;
    std::uint64_t connections_total = 0;                     // accepted since start
    std::array<std::uint64_t, close_reason_count> closed{};  // closed by the server, by close_reason
};

class request_metrics final : public request_observer {
public:
    // `routes`: the methods and templates of the thread's router (duplicates are
    // ignored); "-" is added for unmatched requests. A request whose method and route
    // are not in the list is counted as "-".
    explicit request_metrics(const std::vector<route_key>& routes);
    ~request_metrics() override;
    request_metrics(const request_metrics&) = delete;
    request_metrics& operator=(const request_metrics&) = delete;

    // Owning thread only.
    void on_request(std::string_view method, std::string_view route, unsigned status,
                    std::chrono::nanoseconds duration) override;
    void on_connection(int delta) override;
    void on_close(close_reason why) override;

    // Adds this thread's counts into `out` (any thread: a relaxed snapshot, each value
    // exact, the set of values not one instant).
    void add_to(request_totals& out) const;

private:
    static constexpr unsigned min_status = 100;
    static constexpr unsigned max_status = 599;
    using counter = std::atomic<std::uint64_t>;

    struct route_slot {
        std::string method;
        std::string name;
        std::array<counter, max_status - min_status + 1> statuses{};
        std::array<counter, duration_bounds.size() + 1> buckets{};
        counter duration_ns{0};
    };

    std::vector<std::unique_ptr<route_slot>> slots_;
    // Route template → its slots, one per method (views of slots_[i]->name): found
    // without building a key string per request.
    std::unordered_map<std::string_view, std::vector<route_slot*>> by_name_;
    route_slot* unmatched_ = nullptr;
    std::atomic<std::int64_t> open_{0};
    counter accepted_{0};
    std::array<counter, close_reason_count> closed_{};
};

}  // namespace portcullis::net
