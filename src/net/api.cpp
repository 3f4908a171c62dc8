#include "net/api.hpp"

#include "core/random.hpp"
#include "net/errors.hpp"
#include "net/json_body.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include <charconv>

namespace portcullis::net {

namespace json = boost::json;
using auth::service;

namespace {

response failure_response(const auth::failure& f)
{
    return error_response(f.code, f.details, static_cast<unsigned>(std::max<std::int64_t>(f.retry_after, 0)));
}

json::value time_or_null(const std::optional<store::time_point>& t)
{
    if (!t) return nullptr;
    return json::value(core::format_rfc3339(*t));
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

// JSON may carry \u0000, which PostgreSQL text cannot hold (and libpq would cut
// at): refused like Django REST Framework's CharField does.
constexpr std::string_view null_characters = "Null characters are not allowed.";
bool has_nul(std::string_view s)
{
    return s.find('\0') != std::string_view::npos;
}

// Characters of UTF-8 text (continuation bytes do not count).
std::size_t char_count(std::string_view s)
{
    std::size_t n = 0;
    for (char c : s) n += (static_cast<unsigned char>(c) & 0xc0) != 0x80;
    return n;
}

// Reads typed fields out of a JSON body, collecting per-field problems.
class fields {
public:
    explicit fields(const json::object& o) : o_(o) {}

    std::string str(std::string_view name, bool required)
    {
        auto it = o_.find(name);
        if (it == o_.end() || it->value().is_null()) {
            if (required) details_.emplace_back(std::string(name), "This field is required.");
            return {};
        }
        if (!it->value().is_string()) {
            details_.emplace_back(std::string(name), "Must be a string.");
            return {};
        }
        const auto& s = it->value().as_string();
        if (s.size() > 4096) {
            details_.emplace_back(std::string(name), "Ensure this field has no more than 4096 characters.");
            return {};
        }
        if (has_nul(s)) {
            details_.emplace_back(std::string(name), null_characters);
            return {};
        }
        if (required && s.empty()) details_.emplace_back(std::string(name), "This field may not be blank.");
        return std::string(s);
    }

    std::optional<std::string> optional_str(std::string_view name)
    {
        auto it = o_.find(name);
        if (it == o_.end()) return std::nullopt;
        if (it->value().is_null()) return std::string();
        if (!it->value().is_string()) {
            details_.emplace_back(std::string(name), "Must be a string.");
            return std::nullopt;
        }
        const auto& s = it->value().as_string();
        if (s.size() > 4096) {
            details_.emplace_back(std::string(name), "Ensure this field has no more than 4096 characters.");
            return std::nullopt;
        }
        if (has_nul(s)) {
            details_.emplace_back(std::string(name), null_characters);
            return std::nullopt;
        }
        return std::string(s);
    }

    bool boolean(std::string_view name)
    {
        auto it = o_.find(name);
        if (it == o_.end() || it->value().is_null()) return false;
        if (!it->value().is_bool()) {
            details_.emplace_back(std::string(name), "Must be a boolean.");
            return false;
        }
        return it->value().as_bool();
    }

    bool ok() const noexcept { return details_.empty(); }
    response error() const { return error_response(make_error_code(core::errc::validation_failed), details_); }
    error_details& details() { return details_; }

private:
    const json::object& o_;
    error_details details_;
};

core::result<json::object> body_of(const request& req)
{
    return parse_json_object(req);
}

response body_error(const boost::system::error_code& ec)
{
    if (ec == core::errc::validation_failed) {
        return error_response(ec, {{"non_field_errors", "Expected a JSON object."}});
    }
    return error_response(ec);
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

struct cookie_names {
    std::string_view access, refresh, csrf;
};

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

std::string cookie(std::string_view name, std::string_view value, std::string_view path, std::int64_t max_age,
                   bool http_only, bool secure)
{
    std::string c = std::string(name) + "=" + std::string(value) + "; Path=" + std::string(path) +
                    "; Max-Age=" + std::to_string(max_age) + "; SameSite=Strict";
    if (http_only) c += "; HttpOnly";
    if (secure) c += "; Secure";
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

// `with_tokens` false (cookie mode with "cookie_only"): the tokens travel only in their
// HttpOnly cookies, out of reach of the page's scripts.
json::object tokens_json(const auth::token_pair& t, bool with_tokens = true)
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

struct ctx {
    service* svc;
    api_options opts;
};

// --- account lifecycle -------------------------------------------------------------

boost::asio::awaitable<response> async_register(ctx c, request& req)
{
    auto body = body_of(req);
    if (!body) co_return body_error(body.error());
    fields f(*body);
    auth::register_input in;
    in.email = f.str("email", true);
    in.username = f.str("username", true);
    in.password = f.str("password", true);
    in.full_name = f.optional_str("full_name").value_or("");
    in.phone_number = f.optional_str("phone_number").value_or("");
    if (!f.ok()) co_return f.error();
    in.ip = std::string(req.peer_ip);
    auto r = co_await c.svc->async_register(std::move(in), req.deadline);
    if (!r) co_return failure_response(r.error());
    json::object o;
    o["user"] = own_view(*r);
    co_return json_response(201, o);
}

boost::asio::awaitable<response> async_verify_email(ctx c, request& req)
{
    auto body = body_of(req);
    if (!body) co_return body_error(body.error());
    fields f(*body);
    std::string email = f.str("email", true);
    std::string otp = f.str("otp", true);
    if (!f.ok()) co_return f.error();
    auto r =
        co_await c.svc->async_verify_email(std::move(email), std::move(otp), std::string(req.peer_ip), req.deadline);
    if (!r) co_return failure_response(r.error());
    json::object o;
    o["user"] = own_view(*r);
    co_return json_response(200, o);
}

boost::asio::awaitable<response> async_resend_otp(ctx c, request& req)
{
    auto body = body_of(req);
    if (!body) co_return body_error(body.error());
    fields f(*body);
    std::string email = f.str("email", true);
    if (!f.ok()) co_return f.error();
    auto r = co_await c.svc->async_resend_otp(std::move(email), std::string(req.peer_ip), req.deadline);
    if (!r) co_return failure_response(r.error());
    co_return message_response(202, "If the address has a pending registration, a new code is on its way.");
}

boost::asio::awaitable<response> async_login(ctx c, request& req)
{
    auto body = body_of(req);
    if (!body) co_return body_error(body.error());
    fields f(*body);
    auth::login_input in;
    auto email = f.optional_str("email");
    auto username = f.optional_str("username");
    in.password = f.str("password", true);
    bool use_cookie = f.boolean("cookie");
    bool cookie_only = f.boolean("cookie_only");
    if ((!email || email->empty()) && (!username || username->empty())) {
        f.details().emplace_back("email", "Provide an e-mail address or a username.");
    }
    // No account has a longer identifier; refused before it costs any I/O.
    if (email && char_count(*email) > 254) {
        f.details().emplace_back("email", "Ensure this field has no more than 254 characters.");
    }
    if (username && char_count(*username) > 150) {
        f.details().emplace_back("username", "Ensure this field has no more than 150 characters.");
    }
    if (!f.ok()) co_return f.error();
    in.identifier = email && !email->empty() ? *email : *username;
    in.ip = std::string(req.peer_ip);
    in.user_agent = std::string(req.header("user-agent"));
    auto r = co_await c.svc->async_login(std::move(in), req.deadline);
    if (!r) co_return failure_response(r.error());
    json::object o = tokens_json(r->tokens, !(use_cookie && cookie_only));
    o["user"] = own_view(r->user);
    response res = json_response(200, o);
    if (use_cookie) {
        set_session_cookies(res, r->tokens, c.opts, c.svc->settings().refresh_lifetime.count());
    }
    co_return res;
}

boost::asio::awaitable<response> async_refresh(ctx c, request& req)
{
    auto body = body_of(req);
    if (!body) co_return body_error(body.error());
    fields f(*body);
    std::string refresh = f.optional_str("refresh").value_or("");
    bool cookie_only = f.boolean("cookie_only");
    if (!f.ok()) co_return f.error();
    bool from_cookie = false;
    if (refresh.empty()) {
        // Cookie mode: the refresh cookie, with the CSRF echo of its session.
        std::string_view ck = req.cookie(names_of(c.opts).refresh);
        std::string_view csrf = req.header("x-csrf-token");
        if (!ck.empty()) {
            // Checked before rotating: a refused request must not use up the token.
            if (csrf.empty() || csrf != req.cookie(names_of(c.opts).csrf) || c.svc->csrf_mismatch(ck, csrf)) {
                co_return error_response(make_error_code(core::errc::csrf_failed));
            }
            refresh = std::string(ck);
            from_cookie = true;
        }
    }
    auto r = co_await c.svc->async_refresh(std::move(refresh), req.deadline);
    if (!r) co_return failure_response(r.error());
    response res = json_response(200, tokens_json(*r, !(from_cookie && cookie_only)));
    if (from_cookie) set_session_cookies(res, *r, c.opts, c.svc->settings().refresh_lifetime.count());
    co_return res;
}

boost::asio::awaitable<response> async_logout(ctx c, request& req)
{
    auto body = body_of(req);
    if (!body) co_return body_error(body.error());
    fields f(*body);
    std::string refresh = f.optional_str("refresh").value_or("");
    if (!f.ok()) co_return f.error();
    std::optional<auth::principal> caller;
    auth::credentials cred = credentials_of(req, c.opts);
    if (!cred.bearer.empty() || !cred.access_cookie.empty()) {
        auto p = co_await c.svc->async_authenticate(cred, req.deadline);
        if (!p) co_return failure_response(p.error());
        caller = *p;
    }
    bool cookie_mode = false;
    if (refresh.empty() && !req.cookie(names_of(c.opts).refresh).empty()) {
        // The refresh cookie authenticates this request: it needs the CSRF echo too.
        std::string_view csrf = req.header("x-csrf-token");
        std::string_view ck = req.cookie(names_of(c.opts).refresh);
        if (csrf.empty() || csrf != req.cookie(names_of(c.opts).csrf) || c.svc->csrf_mismatch(ck, csrf)) {
            co_return error_response(make_error_code(core::errc::csrf_failed));
        }
        refresh = std::string(ck);
        cookie_mode = true;
    }
    auto r = co_await c.svc->async_logout(std::move(refresh), caller, req.deadline);
    if (!r) co_return failure_response(r.error());
    response res = message_response(200, "Logged out.");
    if (cookie_mode || (caller && caller->via_cookie)) clear_session_cookies(res, c.opts);
    co_return res;
}

// Authenticates or produces the error response.
boost::asio::awaitable<auth::outcome<auth::principal>> async_auth(ctx c, const request& req)
{
    co_return co_await c.svc->async_authenticate(credentials_of(req, c.opts), req.deadline);
}

boost::asio::awaitable<response> async_logout_all(ctx c, request& req)
{
    auto p = co_await async_auth(c, req);
    if (!p) co_return failure_response(p.error());
    auto r = co_await c.svc->async_logout_all(*p, req.deadline);
    if (!r) co_return failure_response(r.error());
    response res = message_response(200, "Every session has ended.");
    if (p->via_cookie) clear_session_cookies(res, c.opts);
    co_return res;
}

boost::asio::awaitable<response> async_session(ctx c, request& req)
{
    auto p = co_await async_auth(c, req);
    if (!p) co_return failure_response(p.error());
    auto r = co_await c.svc->async_current_session(*p, req.deadline);
    if (!r) co_return failure_response(r.error());
    json::object s;
    s["id"] = r->session.id;
    s["created_at"] = core::format_rfc3339(r->session.created_at);
    s["expires_at"] = core::format_rfc3339(r->session.expires_at);
    json::object o;
    o["user"] = own_view(r->user);
    o["session"] = std::move(s);
    co_return json_response(200, o);
}

boost::asio::awaitable<response> async_sessions(ctx c, request& req)
{
    auto p = co_await async_auth(c, req);
    if (!p) co_return failure_response(p.error());
    auto r = co_await c.svc->async_list_sessions(*p, req.deadline);
    if (!r) co_return failure_response(r.error());
    json::array list;
    for (const auto& s : *r) {
        json::object o;
        o["id"] = s.id;
        o["created_at"] = core::format_rfc3339(s.created_at);
        o["last_used_at"] = core::format_rfc3339(s.last_used_at);
        o["user_agent"] = s.user_agent;
        o["ip"] = s.ip;
        o["current"] = s.id == p->session_id;
        list.push_back(std::move(o));
    }
    json::object o;
    o["results"] = std::move(list);
    co_return json_response(200, o);
}

boost::asio::awaitable<response> async_end_session(ctx c, request& req)
{
    auto p = co_await async_auth(c, req);
    if (!p) co_return failure_response(p.error());
    auto r = co_await c.svc->async_end_session(*p, std::string(req.params.get("id")), req.deadline);
    if (!r) co_return failure_response(r.error());
    response res;
    res.status = 204;
    co_return res;
}

// --- passwords ---------------------------------------------------------------------

boost::asio::awaitable<response> async_password_change(ctx c, request& req)
{
    auto p = co_await async_auth(c, req);
    if (!p) co_return failure_response(p.error());
    auto body = body_of(req);
    if (!body) co_return body_error(body.error());
    fields f(*body);
    std::string old_pw = f.str("old_password", true);
    std::string new_pw = f.str("new_password", true);
    std::string confirm = f.str("confirm_password", true);
    if (!f.ok()) co_return f.error();
    auto r = co_await c.svc->async_change_password(*p, std::move(old_pw), std::move(new_pw), std::move(confirm),
                                                   std::string(req.peer_ip), req.deadline);
    if (!r) co_return failure_response(r.error());
    co_return message_response(200, "Password changed; every other session has ended.");
}

boost::asio::awaitable<response> async_password_forgot(ctx c, request& req)
{
    auto body = body_of(req);
    if (!body) co_return body_error(body.error());
    fields f(*body);
    std::string email = f.str("email", true);
    if (!f.ok()) co_return f.error();
    auto r = co_await c.svc->async_forgot_password(std::move(email), std::string(req.peer_ip), req.deadline);
    if (!r) co_return failure_response(r.error());
    co_return message_response(202, "If an active account uses this address, a code is on its way.");
}

boost::asio::awaitable<response> async_password_verify_otp(ctx c, request& req)
{
    auto body = body_of(req);
    if (!body) co_return body_error(body.error());
    fields f(*body);
    std::string email = f.str("email", true);
    std::string otp = f.str("otp", true);
    if (!f.ok()) co_return f.error();
    auto r = co_await c.svc->async_verify_reset_otp(std::move(email), std::move(otp), std::string(req.peer_ip),
                                                    req.deadline);
    if (!r) co_return failure_response(r.error());
    json::object o;
    o["reset_token"] = *r;
    co_return json_response(200, o);
}

boost::asio::awaitable<response> async_password_reset(ctx c, request& req)
{
    auto body = body_of(req);
    if (!body) co_return body_error(body.error());
    fields f(*body);
    std::string token = f.str("reset_token", true);
    std::string new_pw = f.str("new_password", true);
    std::string confirm = f.str("confirm_password", true);
    if (!f.ok()) co_return f.error();
    auto r =
        co_await c.svc->async_reset_password(std::move(token), std::move(new_pw), std::move(confirm), req.deadline);
    if (!r) co_return failure_response(r.error());
    co_return message_response(200, "Password reset; every session has ended.");
}

// --- users -------------------------------------------------------------------------

boost::asio::awaitable<response> async_users(ctx c, request& req)
{
    auto p = co_await async_auth(c, req);
    if (!p) co_return failure_response(p.error());
    int limit = 20;
    if (auto l = req.query_param("limit")) {
        int v = 0;
        auto [ptr, ec] = std::from_chars(l->data(), l->data() + l->size(), v);
        if (ec != std::errc{} || ptr != l->data() + l->size() || v < 1 || v > 100) {
            co_return error_response(make_error_code(core::errc::validation_failed),
                                     {{"limit", "Must be a whole number from 1 to 100."}});
        }
        limit = v;
    }
    std::string cursor = req.query_param("cursor").value_or("");
    std::string q = req.query_param("q").value_or("");
    if (q.size() > 150) {
        co_return error_response(make_error_code(core::errc::validation_failed), {{"q", "Too long."}});
    }
    auto r = co_await c.svc->async_list_users(*p, limit, std::move(cursor), std::move(q), req.deadline);
    if (!r) co_return failure_response(r.error());
    json::array results;
    for (const auto& u : r->results) results.push_back(public_view(u));
    json::object o;
    o["results"] = std::move(results);
    o["next"] = r->next ? json::value(*r->next) : json::value(nullptr);
    co_return json_response(200, o);
}

boost::asio::awaitable<response> async_me(ctx c, request& req)
{
    auto p = co_await async_auth(c, req);
    if (!p) co_return failure_response(p.error());
    auto r = co_await c.svc->async_me(*p, req.deadline);
    if (!r) co_return failure_response(r.error());
    co_return json_response(200, own_view(*r));
}

boost::asio::awaitable<response> async_update_me_for(ctx c, request& req, const auth::principal& p)
{
    auto body = body_of(req);
    if (!body) co_return body_error(body.error());
    error_details details;
    store::profile_update u;
    for (const auto& kv : *body) {
        std::string_view key = kv.key();
        std::optional<std::string>* target = nullptr;
        if (key == "full_name")
            target = &u.full_name;
        else if (key == "phone_number")
            target = &u.phone_number;
        else if (key == "username")
            target = &u.username;
        else if (key == "id" || key == "email" || key == "is_active" || key == "date_joined" || key == "last_login") {
            details.emplace_back(std::string(key), "This field is read-only.");
            continue;
        } else {
            details.emplace_back(std::string(key), "Unknown field.");
            continue;
        }
        if (kv.value().is_null() && key != "username") {
            *target = std::string();
        } else if (!kv.value().is_string()) {
            details.emplace_back(std::string(key), "Must be a string.");
        } else if (has_nul(kv.value().as_string())) {
            details.emplace_back(std::string(key), std::string(null_characters));
        } else {
            *target = std::string(kv.value().as_string());
        }
    }
    if (!details.empty()) co_return error_response(make_error_code(core::errc::validation_failed), details);
    auto r = co_await c.svc->async_update_me(p, std::move(u), req.deadline);
    if (!r) co_return failure_response(r.error());
    co_return json_response(200, own_view(*r));
}

boost::asio::awaitable<response> async_update_me(ctx c, request& req)
{
    auto p = co_await async_auth(c, req);
    if (!p) co_return failure_response(p.error());
    co_return co_await async_update_me_for(c, req, *p);
}

boost::asio::awaitable<response> async_delete_me_for(ctx c, request& req, const auth::principal& p)
{
    auto body = body_of(req);
    if (!body) co_return body_error(body.error());
    fields f(*body);
    std::string password = f.str("password", true);
    if (!f.ok()) co_return f.error();
    auto r = co_await c.svc->async_delete_me(p, std::move(password), std::string(req.peer_ip), req.deadline);
    if (!r) co_return failure_response(r.error());
    response res;
    res.status = 204;
    if (p.via_cookie) clear_session_cookies(res, c.opts);
    co_return res;
}

boost::asio::awaitable<response> async_delete_me(ctx c, request& req)
{
    auto p = co_await async_auth(c, req);
    if (!p) co_return failure_response(p.error());
    co_return co_await async_delete_me_for(c, req, *p);
}

boost::asio::awaitable<response> async_user(ctx c, request& req)
{
    auto p = co_await async_auth(c, req);
    if (!p) co_return failure_response(p.error());
    std::string id(req.params.get("id"));
    auto r = co_await c.svc->async_get_user(*p, id, req.deadline);
    if (!r) co_return failure_response(r.error());
    co_return json_response(200, r->id == p->user_id ? own_view(*r) : public_view(*r));
}

// PATCH, PUT and DELETE on /api/users/{id}: one's own id behaves like /api/users/me;
// everybody else's profile is read-only.
boost::asio::awaitable<response> async_user_write(ctx c, request& req)
{
    auto p = co_await async_auth(c, req);
    if (!p) co_return failure_response(p.error());
    std::string id(req.params.get("id"));
    auto target = co_await c.svc->async_get_user(*p, id, req.deadline);
    if (!target) co_return failure_response(target.error());
    if (target->id != p->user_id) co_return error_response(make_error_code(core::errc::forbidden));
    if (req.method == "PATCH") co_return co_await async_update_me_for(c, req, *p);
    if (req.method == "DELETE") co_return co_await async_delete_me_for(c, req, *p);
    response res = error_response(405, "method_not_allowed", "Method not allowed.");
    res.add_header("Allow", "GET, PATCH, DELETE");
    co_return res;
}

}  // namespace

void add_api_routes(router& routes, auth::service& svc, const api_options& opts)
{
    ctx c{&svc, opts};
    // Each handler is a plain lambda returning the coroutine of a free function: the
    // context is copied into that coroutine's frame, never captured by reference.
    auto bind = [c](boost::asio::awaitable<response> (*fn)(ctx, request&)) {
        return [c, fn](request& r) { return fn(c, r); };
    };
    routes.add("POST", "/api/auth/register", bind(async_register), body_kind::json);
    routes.add("POST", "/api/auth/verify-email", bind(async_verify_email), body_kind::json);
    routes.add("POST", "/api/auth/resend-otp", bind(async_resend_otp), body_kind::json);
    routes.add("POST", "/api/auth/login", bind(async_login), body_kind::json);
    routes.add("POST", "/api/auth/refresh", bind(async_refresh), body_kind::json);
    routes.add("POST", "/api/auth/logout", bind(async_logout), body_kind::json);
    routes.add("POST", "/api/auth/logout-all", bind(async_logout_all), body_kind::json);
    routes.add("GET", "/api/auth/session", bind(async_session));
    routes.add("GET", "/api/auth/sessions", bind(async_sessions));
    routes.add("DELETE", "/api/auth/sessions/{id}", bind(async_end_session));
    routes.add("POST", "/api/auth/password/change", bind(async_password_change), body_kind::json);
    routes.add("POST", "/api/auth/password/forgot", bind(async_password_forgot), body_kind::json);
    routes.add("POST", "/api/auth/password/verify-otp", bind(async_password_verify_otp), body_kind::json);
    routes.add("POST", "/api/auth/password/reset", bind(async_password_reset), body_kind::json);
    routes.add("GET", "/api/users", bind(async_users));
    routes.add("GET", "/api/users/me", bind(async_me));
    routes.add("PATCH", "/api/users/me", bind(async_update_me), body_kind::json);
    routes.add("DELETE", "/api/users/me", bind(async_delete_me), body_kind::json);
    routes.add("GET", "/api/users/{id}", bind(async_user));
    routes.add("PATCH", "/api/users/{id}", bind(async_user_write), body_kind::json);
    routes.add("PUT", "/api/users/{id}", bind(async_user_write), body_kind::json);
    routes.add("DELETE", "/api/users/{id}", bind(async_user_write), body_kind::json);
}

}  // namespace portcullis::net
