#include "net/router.hpp"

#include <stdexcept>

namespace portcullis::net {
namespace {

// Splits "/a/b/c" into its segments; "/" yields none.
template <class F>
bool for_each_segment(std::string_view path, F&& f)
{
    if (path.empty() || path.front() != '/') return false;
    path.remove_prefix(1);
    if (path.empty()) return true;
    for (;;) {
        auto slash = path.find('/');
        if (!f(path.substr(0, slash))) return false;
        if (slash == std::string_view::npos) return true;
        path.remove_prefix(slash + 1);
    }
}

}  // namespace

void router::add(std::string_view method, std::string_view path_template, handler fn, body_kind body)
{
    std::vector<segment> segs;
    bool ok = for_each_segment(path_template, [&](std::string_view s) {
        if (s.size() >= 3 && s.front() == '{' && s.back() == '}') {
            segs.push_back({std::string(s.substr(1, s.size() - 2)), true});
            return true;
        }
        if (s.empty() || s.find_first_of("{}") != std::string_view::npos) return false;
        segs.push_back({std::string(s), false});
        return true;
    });
    if (!ok) throw std::invalid_argument("bad route template: " + std::string(path_template));
    std::size_t captures = 0;
    for (const auto& s : segs) captures += s.capture ? 1 : 0;
    if (captures > path_params{}.items.size()) throw std::invalid_argument("too many captures");

    for (auto& r : routes_) {
        if (r.path_template != path_template) continue;
        for (const auto& m : r.methods) {
            if (m.method == method) throw std::invalid_argument("duplicate route: " + std::string(path_template));
        }
        r.methods.push_back({std::string(method), std::move(fn), body});
        return;
    }
    routes_.push_back({std::string(path_template), std::move(segs), {}});
    routes_.back().methods.push_back({std::string(method), std::move(fn), body});
    if (captures == 0) literal_.emplace(std::string(path_template), routes_.size() - 1);
}

bool router::match_segments(const route& r, std::string_view path, path_params& params)
{
    std::size_t i = 0;
    params.count = 0;
    bool ok = for_each_segment(path, [&](std::string_view s) {
        if (i >= r.segments.size()) return false;
        const segment& seg = r.segments[i++];
        if (seg.capture) {
            if (s.empty()) return false;
            params.items[params.count++] = {seg.text, s};
            return true;
        }
        return s == seg.text;
    });
    return ok && i == r.segments.size();
}

route_match router::resolve(const route& r, std::string_view method, const path_params& captured,
                            path_params& params) const
{
    route_match out;
    out.route = r.path_template;
    for (const auto& m : r.methods) {
        if (m.method == method) {
            out.result = route_match::outcome::found;
            out.fn = &m.fn;
            out.body = m.body;
            params = captured;
            return out;
        }
    }
    out.result = route_match::outcome::method_not_allowed;
    for (const auto& m : r.methods) {
        if (!out.allow.empty()) out.allow += ", ";
        out.allow += m.method;
    }
    return out;
}

route_match router::match(std::string_view method, std::string_view path, path_params& params) const
{
    if (auto it = literal_.find(path); it != literal_.end()) {
        return resolve(routes_[it->second], method, path_params{}, params);
    }
    // Literal routes win over captures: "/api/users/me" before "/api/users/{id}".
    const route* best = nullptr;
    std::size_t best_literals = 0;
    path_params best_params;
    for (const auto& r : routes_) {
        path_params p;
        if (!match_segments(r, path, p)) continue;
        std::size_t literals = 0;
        for (const auto& s : r.segments) literals += s.capture ? 0 : 1;
        if (best == nullptr || literals > best_literals) {
            best = &r;
            best_literals = literals;
            best_params = p;
        }
    }
    if (best == nullptr) return route_match{};
    return resolve(*best, method, best_params, params);
}

std::vector<std::pair<std::string, std::string>> router::routes() const
{
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& r : routes_) {
        for (const auto& m : r.methods) out.emplace_back(m.method, r.path_template);
    }
    return out;
}

}  // namespace portcullis::net
