#pragma once
// Method + path-template router. Templates are literal segments and `{name}`
// captures ("/api/users/{id}"). A path that matches no template is 404; one that
// matches a template registered for other methods is 405 with `Allow`.

#include "net/http.hpp"

#include <boost/asio/awaitable.hpp>

#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace portcullis::net {

using handler = std::function<boost::asio::awaitable<response>(request&)>;

// What a body-carrying route expects (415 for other content types).
enum class body_kind { none, json };

struct route_match {
    enum class outcome { found, not_found, method_not_allowed } result = outcome::not_found;
    const handler* fn = nullptr;
    std::string_view route;  // the template that matched
    body_kind body = body_kind::none;
    std::string allow;  // for 405: "GET, PATCH"
};

class router {
public:
    // Registers `fn` for `method` on `path_template`. Throws std::invalid_argument on a
    // malformed template or a duplicate (a start-up bug, not a runtime condition).
    void add(std::string_view method, std::string_view path_template, handler fn, body_kind body = body_kind::none);

    // Finds the route for `method` and `path`, filling `params` with captures.
    route_match match(std::string_view method, std::string_view path, path_params& params) const;

    // Every (method, template) pair, for the OpenAPI coverage test.
    std::vector<std::pair<std::string, std::string>> routes() const;

private:
    struct segment {
        std::string text;  // literal text, or the capture name
        bool capture = false;
    };
    struct method_entry {
        std::string method;
        handler fn;
        body_kind body;
    };
    struct route {
        std::string path_template;
        std::vector<segment> segments;
        std::vector<method_entry> methods;
    };

    struct string_hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
    };

    static bool match_segments(const route& r, std::string_view path, path_params& params);
    route_match resolve(const route& r, std::string_view method, const path_params& captured,
                        path_params& params) const;

    std::vector<route> routes_;
    // Templates without captures, by their text: a path equal to one of them matches it
    // and no other route can match better, so most requests skip the scan.
    std::unordered_map<std::string, std::size_t, string_hash, std::equal_to<>> literal_;
};

}  // namespace portcullis::net
