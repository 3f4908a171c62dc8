#include "net/api_io.hpp"

#include "core/random.hpp"
#include "core/text.hpp"
#include "net/json_body.hpp"

namespace portcullis::net::api_io {

namespace json = boost::json;

namespace {

json::value time_or_null(const std::optional<store::time_point>& t)
{
    if (!t) return nullptr;
    return json::value(core::format_rfc3339(*t));
}

// JSON may carry \u0000, which PostgreSQL text cannot hold (and libpq would cut
// at): refused like Django REST Framework's CharField does.
constexpr std::string_view null_characters = "Null characters are not allowed.";
bool has_nul(std::string_view s)
{
    return s.find('\0') != std::string_view::npos;
}

std::string_view bearer_of(const request& req)
{
    std::string_view h = req.header("authorization");
    if (h.size() > 7) {
        std::string_view scheme = h.substr(0, 7);
        bool is_bearer = true;
        static constexpr std::string_view want = "bearer ";
        for (std::size_t i = 0; i < 7; ++i) {
            char c = scheme[i];
            if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
            is_bearer = is_bearer && c == want[i];
        }
        if (is_bearer) {
            std::string_view t = h.substr(7);
            while (!t.empty() && t.front() == ' ') t.remove_prefix(1);
            return t;
        }
    }
    return {};
}

std::string cookie(std::string_view name, std::string_view value, std::string_view path, std::int64_t max_age,
                   bool http_only, bool secure)
{
    std::string c = std::string(name) + "=" + std::string(value) + "; Path=" + std::string(path) +
                    "; Max-Age=" + std::to_string(max_age) + "; SameSite=Strict";
    if (http_only) c += "; HttpOnly";
    if (secure) c += "; Secure";
    return c;
}

}  // namespace

response failure_response(const auth::failure& f)
{
    return error_response(f.code, f.details, static_cast<unsigned>(std::max<std::int64_t>(f.retry_after, 0)));
}

json::object own_view(const store::user& u)
{
    json::object o;
    o["id"] = std::to_string(u.id);
    o["email"] = u.email;
    o["username"] = u.username;
    o["full_name"] = u.full_name;
    o["phone_number"] = u.phone_number;
    o["is_active"] = u.is_active;
    o["date_joined"] = core::format_rfc3339(u.date_joined);
    o["last_login"] = time_or_null(u.last_login);
    return o;
}

json::object public_view(const store::user& u)
{
    json::object o;
    o["id"] = std::to_string(u.id);
    o["username"] = u.username;
    o["full_name"] = u.full_name;
    o["date_joined"] = core::format_rfc3339(u.date_joined);
    return o;
}

response message_response(unsigned status, std::string_view message)
{
    json::object o;
    o["message"] = message;
    return json_response(status, o);
}

cookie_names names_of(const api_options& opts)
{
    if (opts.cookie_prefix) return {"__Host-access", "__Secure-refresh", "__Host-csrf_token"};
    return {"access", "refresh", "csrf_token"};
}

auth::credentials credentials_of(const request& req, const api_options& opts)
{
    auth::credentials c;
    c.bearer = bearer_of(req);
    c.access_cookie = req.cookie(names_of(opts).access);
    c.csrf_header = req.header("x-csrf-token");
    c.csrf_cookie = req.cookie(names_of(opts).csrf);
    c.unsafe_method = req.method != "GET" && req.method != "HEAD" && req.method != "OPTIONS";
    return c;
}

void set_session_cookies(response& r, const auth::token_pair& t, const api_options& opts, std::int64_t refresh_age)
{
    auto n = names_of(opts);
    r.add_header("Set-Cookie", cookie(n.access, t.access, "/", t.expires_in.count(), true, opts.cookie_secure));
    r.add_header("Set-Cookie", cookie(n.refresh, t.refresh, "/api/auth", refresh_age, true, opts.cookie_secure));
    r.add_header("Set-Cookie", cookie(n.csrf, t.csrf, "/", refresh_age, false, opts.cookie_secure));
}

void clear_session_cookies(response& r, const api_options& opts)
{
    auto n = names_of(opts);
    r.add_header("Set-Cookie", cookie(n.access, "", "/", 0, true, opts.cookie_secure));
    r.add_header("Set-Cookie", cookie(n.refresh, "", "/api/auth", 0, true, opts.cookie_secure));
    r.add_header("Set-Cookie", cookie(n.csrf, "", "/", 0, false, opts.cookie_secure));
}

json::object tokens_json(const auth::token_pair& t, bool with_tokens)
{
    json::object o;
    if (with_tokens) {
        o["access"] = t.access;
        o["refresh"] = t.refresh;
    }
    o["token_type"] = "Bearer";
    o["expires_in"] = t.expires_in.count();
    return o;
}

std::string fields::str(std::string_view name, bool required)
{
    auto it = o_.find(name);
    if (it == o_.end() || it->value().is_null()) {
        if (required) details_.emplace_back(std::string(name), "This field is required.");
        return {};
    }
    auto s = text(name, it->value(), 4096);
    if (!s) return {};
    if (required && s->empty()) details_.emplace_back(std::string(name), "This field may not be blank.");
    return std::move(*s);
}

std::optional<std::string> fields::optional_str(std::string_view name)
{
    auto it = o_.find(name);
    if (it == o_.end()) return std::nullopt;
    if (it->value().is_null()) return std::string();
    return text(name, it->value(), 4096);
}

std::optional<std::string> fields::text(std::string_view name, const json::value& v, std::size_t max_bytes)
{
    if (!v.is_string()) {
        details_.emplace_back(std::string(name), "Must be a string.");
        return std::nullopt;
    }
    const auto& s = v.as_string();
    if (max_bytes != 0 && s.size() > max_bytes) {
        details_.emplace_back(std::string(name),
                              "Ensure this field has no more than " + std::to_string(max_bytes) + " characters.");
        return std::nullopt;
    }
    if (has_nul(s)) {
        details_.emplace_back(std::string(name), null_characters);
        return std::nullopt;
    }
    return std::string(s);
}

bool fields::boolean(std::string_view name)
{
    auto it = o_.find(name);
    if (it == o_.end() || it->value().is_null()) return false;
    if (!it->value().is_bool()) {
        details_.emplace_back(std::string(name), "Must be a boolean.");
        return false;
    }
    return it->value().as_bool();
}

}  // namespace portcullis::net::api_io
