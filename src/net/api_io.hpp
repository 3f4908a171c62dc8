#pragma once
// What the /api handlers read out of requests (JSON body fields, credentials) and
// write into responses (the user views, tokens and session cookies). Used by
// net/api.cpp only.

#include "auth/service.hpp"
#include "net/api.hpp"
#include "net/errors.hpp"
#include "net/http.hpp"

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace portcullis::net::api_io {

response failure_response(const auth::failure& f);
response message_response(unsigned status, std::string_view message);

// The owner's view of an account and what other users see of it.
boost::json::object own_view(const store::user& u);
boost::json::object public_view(const store::user& u);

// Reads typed fields out of a JSON body, collecting per-field problems.
class fields {
public:
    explicit fields(const boost::json::object& o) : o_(o) {}

    // A string field (at most 4096 bytes, no NUL); required ones may not be blank.
    std::string str(std::string_view name, bool required);
    // Absent: nullopt; null: empty.
    std::optional<std::string> optional_str(std::string_view name);
    // A string value as PostgreSQL text can hold it (no NUL), at most `max_bytes` (0: the
    // flow decides the length); otherwise the problem is noted and nullopt returned.
    std::optional<std::string> text(std::string_view name, const boost::json::value& v, std::size_t max_bytes);
    // Absent or null: false.
    bool boolean(std::string_view name);

    const boost::json::object& object() const noexcept { return o_; }
    bool ok() const noexcept { return details_.empty(); }
    response error() const { return error_response(make_error_code(core::errc::validation_failed), details_); }
    error_details& details() { return details_; }

private:
    const boost::json::object& o_;
    error_details details_;
};

struct cookie_names {
    std::string_view access, refresh, csrf;
};
cookie_names names_of(const api_options& opts);

// Bearer token, access cookie and CSRF echo of a request.
auth::credentials credentials_of(const request& req, const api_options& opts);

void set_session_cookies(response& r, const auth::token_pair& t, const api_options& opts, std::int64_t refresh_age);
void clear_session_cookies(response& r, const api_options& opts);

// `with_tokens` false (cookie mode with "cookie_only"): the tokens travel only in their
// HttpOnly cookies, out of reach of the page's scripts.
boost::json::object tokens_json(const auth::token_pair& t, bool with_tokens = true);

}  // namespace portcullis::net::api_io
