#pragma once
// The request and response types that route handlers see. They carry no Beast
// types, so handler code compiles without the HTTP machinery.

#include "core/timeout.hpp"

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace portcullis::net {

// Path parameters captured by the router (`{id}` → value); at most four per route.
struct path_params {
    std::array<std::pair<std::string_view, std::string_view>, 4> items{};
    std::size_t count = 0;

    std::string_view get(std::string_view name) const noexcept
    {
        for (std::size_t i = 0; i < count; ++i) {
            if (items[i].first == name) return items[i].second;
        }
        return {};
    }
};

// One parsed request. Every view points into the connection's buffers and stays
// valid until the handler's awaitable completes.
struct request {
    std::string_view method;  // "GET", "POST", …
    std::string_view target;  // as sent: path plus optional query
    std::string_view path;    // decoded only by the router's matching rules
    std::string_view query;   // after '?', not decoded
    std::string_view route;   // the matched template, e.g. "/api/users/{id}"
    std::string_view body;
    std::string_view request_id;
    std::string_view peer_ip;
    path_params params;
    core::deadline deadline{};
    unsigned version = 11;  // 10 or 11

    // Case-insensitive header lookup; empty when absent.
    std::string_view header(std::string_view name) const
    {
        return header_lookup_ != nullptr ? header_lookup_(header_source_, name) : std::string_view{};
    }

    // Value of query parameter `name`, percent-decoded; nullopt when absent.
    std::optional<std::string> query_param(std::string_view name) const;

    // Value of cookie `name` from the Cookie header; empty when absent.
    std::string_view cookie(std::string_view name) const;

    using header_lookup_fn = std::string_view (*)(const void*, std::string_view);
    header_lookup_fn header_lookup_ = nullptr;
    const void* header_source_ = nullptr;
};

struct response {
    unsigned status = 200;
    std::string body;
    std::string_view content_type = "application/json";
    std::vector<std::pair<std::string, std::string>> headers;  // extra headers (Allow, Retry-After, Set-Cookie…)
    bool close = false;                                        // close the connection after sending

    void add_header(std::string name, std::string value) { headers.emplace_back(std::move(name), std::move(value)); }
};

}  // namespace portcullis::net
