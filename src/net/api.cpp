// The contract's /api handlers: each is its business logic over a declared body struct
// and the adaptors that parse and authenticate before it runs. Why one file of this
// size: one short handler per route of the contract, next to the route table at its end.
#include "net/api.hpp"

#include "core/random.hpp"
#include "core/text.hpp"
#include "net/api_io.hpp"
#include "net/errors.hpp"
#include "net/json_body.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include <charconv>

namespace portcullis::net {

namespace json = boost::json;
using auth::service;
using namespace api_io;

namespace {
struct ctx {
    service* svc;
    api_options opts;
};

// --- how handlers are bound --------------------------------------------------------
//
// A handler is its business logic only: the adaptors below parse the declared body
// (a struct with `static Body read(fields&)`, whose problems become one 400) and
// authenticate the caller (401/403 in the usual shape) before calling it. Each route
// is a plain lambda returning the coroutine of a free function: the context is copied
// into that coroutine's frame, never captured by reference.

using plain_handler = boost::asio::awaitable<response> (*)(ctx, request&);
template <class Body>
using body_handler = boost::asio::awaitable<response> (*)(ctx, request&, Body);
using authed_handler = boost::asio::awaitable<response> (*)(ctx, request&, auth::principal);
template <class Body>
using authed_body_handler = boost::asio::awaitable<response> (*)(ctx, request&, auth::principal, Body);

// Reads `Body` out of the request's JSON object; the error response otherwise.
template <class Body>
std::optional<response> read_body(const request& req, Body& out)
{
    auto body = parse_json_object(req);
    if (!body) {
        if (body.error() == core::errc::validation_failed) {
            return error_response(body.error(), {{"non_field_errors", "Expected a JSON object."}});
        }
        return error_response(body.error());
    }
    fields f(*body);
    out = Body::read(f);
    if (!f.ok()) return f.error();
    return std::nullopt;
}

boost::asio::awaitable<auth::outcome<auth::principal>> async_auth(ctx c, const request& req)
{
    co_return co_await c.svc->sessions().async_authenticate(credentials_of(req, c.opts), req.deadline);
}

template <class Body>
boost::asio::awaitable<response> async_with_body(ctx c, body_handler<Body> fn, request& req)
{
    Body b;
    if (auto error = read_body(req, b)) co_return std::move(*error);
    co_return co_await fn(c, req, std::move(b));
}

boost::asio::awaitable<response> async_authed(ctx c, authed_handler fn, request& req)
{
    auto p = co_await async_auth(c, req);
    if (!p) co_return failure_response(p.error());
    co_return co_await fn(c, req, std::move(*p));
}

// The caller is authenticated before the body is looked at.
template <class Body>
boost::asio::awaitable<response> async_authed_body(ctx c, authed_body_handler<Body> fn, request& req)
{
    auto p = co_await async_auth(c, req);
    if (!p) co_return failure_response(p.error());
    Body b;
    if (auto error = read_body(req, b)) co_return std::move(*error);
    co_return co_await fn(c, req, std::move(*p), std::move(b));
}

// The refresh cookie of a request that offers it instead of a body field. It
// authenticates the request, so it needs its session's CSRF echo: csrf_failed
// otherwise, checked before the token is used so a refused request changes nothing.
// Empty: no cookie.
core::result<std::string> cookie_refresh(ctx c, const request& req)
{
    std::string_view ck = req.cookie(names_of(c.opts).refresh);
    if (ck.empty()) return std::string();
    if (!c.svc->sessions().cookie_csrf_ok(ck, req.header("x-csrf-token"), req.cookie(names_of(c.opts).csrf))) {
        return make_error_code(core::errc::csrf_failed);
    }
    return std::string(ck);
}

// --- account lifecycle -------------------------------------------------------------

struct register_body {
    auth::register_input in;
    static register_body read(fields& f)
    {
        register_body b;
        b.in.email = f.str("email", true);
        b.in.username = f.str("username", true);
        b.in.password = f.str("password", true);
        b.in.full_name = f.optional_str("full_name").value_or("");
        b.in.phone_number = f.optional_str("phone_number").value_or("");
        return b;
    }
};

boost::asio::awaitable<response> async_register(ctx c, request& req, register_body b)
{
    b.in.ip = std::string(req.peer_ip);
    auto r = co_await c.svc->accounts().async_register(std::move(b.in), req.deadline);
    if (!r) co_return failure_response(r.error());
    json::object o;
    o["user"] = own_view(*r);
    co_return json_response(201, o);
}

struct email_code_body {
    std::string email;
    std::string otp;
    static email_code_body read(fields& f) { return {f.str("email", true), f.str("otp", true)}; }
};

boost::asio::awaitable<response> async_verify_email(ctx c, request& req, email_code_body b)
{
    auto r = co_await c.svc->accounts().async_verify_email(std::move(b.email), std::move(b.otp),
                                                           std::string(req.peer_ip), req.deadline);
    if (!r) co_return failure_response(r.error());
    json::object o;
    o["user"] = own_view(*r);
    co_return json_response(200, o);
}

struct email_body {
    std::string email;
    static email_body read(fields& f) { return {f.str("email", true)}; }
};

boost::asio::awaitable<response> async_resend_otp(ctx c, request& req, email_body b)
{
    auto r = co_await c.svc->accounts().async_resend_otp(std::move(b.email), std::string(req.peer_ip), req.deadline);
    if (!r) co_return failure_response(r.error());
    co_return message_response(202, "If the address has a pending registration, a new code is on its way.");
}

// --- sessions and tokens -----------------------------------------------------------

struct login_body {
    std::string identifier;
    std::string password;
    bool cookie = false;
    bool cookie_only = false;
    static login_body read(fields& f)
    {
        login_body b;
        auto email = f.optional_str("email");
        auto username = f.optional_str("username");
        b.password = f.str("password", true);
        b.cookie = f.boolean("cookie");
        b.cookie_only = f.boolean("cookie_only");
        if ((!email || email->empty()) && (!username || username->empty())) {
            f.details().emplace_back("email", "Provide an e-mail address or a username.");
        }
        // No account has a longer identifier; refused before it costs any I/O.
        if (email && core::utf8_count(*email) > 254) {
            f.details().emplace_back("email", "Ensure this field has no more than 254 characters.");
        }
        if (username && core::utf8_count(*username) > 150) {
            f.details().emplace_back("username", "Ensure this field has no more than 150 characters.");
        }
        if (f.ok()) b.identifier = email && !email->empty() ? *email : *username;
        return b;
    }
};

boost::asio::awaitable<response> async_login(ctx c, request& req, login_body b)
{
    auth::login_input in{std::move(b.identifier), std::move(b.password), std::string(req.peer_ip),
                         std::string(req.header("user-agent"))};
    auto r = co_await c.svc->sessions().async_login(std::move(in), req.deadline);
    if (!r) co_return failure_response(r.error());
    if (r->mfa) {
        // The password was right; the session opens at /api/auth/mfa/verify.
        json::object m;
        m["mfa_required"] = true;
        m["mfa_token"] = r->mfa->token;
        m["expires_in"] = r->mfa->expires_in.count();
        co_return json_response(200, m);
    }
    json::object o = tokens_json(r->tokens, !(b.cookie && b.cookie_only));
    o["user"] = own_view(r->user);
    response res = json_response(200, o);
    if (b.cookie) set_session_cookies(res, r->tokens, c.opts, c.svc->settings().refresh_lifetime.count());
    co_return res;
}

struct refresh_body {
    std::string refresh;
    bool cookie_only = false;
    static refresh_body read(fields& f)
    {
        refresh_body b;
        b.refresh = f.optional_str("refresh").value_or("");
        b.cookie_only = f.boolean("cookie_only");
        return b;
    }
};

boost::asio::awaitable<response> async_refresh(ctx c, request& req, refresh_body b)
{
    bool from_cookie = false;
    if (b.refresh.empty()) {
        auto ck = cookie_refresh(c, req);
        if (!ck) co_return error_response(ck.error());
        b.refresh = std::move(*ck);
        from_cookie = !b.refresh.empty();
    }
    auto r = co_await c.svc->sessions().async_refresh(std::move(b.refresh), req.deadline);
    if (!r) co_return failure_response(r.error());
    response res = json_response(200, tokens_json(*r, !(from_cookie && b.cookie_only)));
    if (from_cookie) set_session_cookies(res, *r, c.opts, c.svc->settings().refresh_lifetime.count());
    co_return res;
}

boost::asio::awaitable<response> async_logout(ctx c, request& req, refresh_body b)
{
    // Authentication is optional here; when offered, its user must own the token.
    std::optional<auth::principal> caller;
    auth::credentials cred = credentials_of(req, c.opts);
    if (!cred.bearer.empty() || !cred.access_cookie.empty()) {
        auto p = co_await c.svc->sessions().async_authenticate(cred, req.deadline);
        if (!p) co_return failure_response(p.error());
        caller = *p;
    }
    bool cookie_mode = false;
    if (b.refresh.empty()) {
        auto ck = cookie_refresh(c, req);
        if (!ck) co_return error_response(ck.error());
        b.refresh = std::move(*ck);
        cookie_mode = !b.refresh.empty();
    }
    auto r = co_await c.svc->sessions().async_logout(std::move(b.refresh), caller, req.deadline);
    if (!r) co_return failure_response(r.error());
    response res = message_response(200, "Logged out.");
    if (cookie_mode || (caller && caller->via_cookie)) clear_session_cookies(res, c.opts);
    co_return res;
}

boost::asio::awaitable<response> async_logout_all(ctx c, request& req, auth::principal p)
{
    auto r = co_await c.svc->sessions().async_logout_all(p, req.deadline);
    if (!r) co_return failure_response(r.error());
    response res = message_response(200, "Every session has ended.");
    if (p.via_cookie) clear_session_cookies(res, c.opts);
    co_return res;
}

boost::asio::awaitable<response> async_session(ctx c, request& req, auth::principal p)
{
    auto r = co_await c.svc->sessions().async_current_session(p, req.deadline);
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

boost::asio::awaitable<response> async_sessions(ctx c, request& req, auth::principal p)
{
    auto r = co_await c.svc->sessions().async_list_sessions(p, req.deadline);
    if (!r) co_return failure_response(r.error());
    json::array list;
    for (const auto& s : *r) {
        json::object o;
        o["id"] = s.id;
        o["created_at"] = core::format_rfc3339(s.created_at);
        o["last_used_at"] = core::format_rfc3339(s.last_used_at);
        o["user_agent"] = s.user_agent;
        o["ip"] = s.ip;
        o["current"] = s.id == p.session_id;
        list.push_back(std::move(o));
    }
    json::object o;
    o["results"] = std::move(list);
    co_return json_response(200, o);
}

boost::asio::awaitable<response> async_end_session(ctx c, request& req, auth::principal p)
{
    auto r = co_await c.svc->sessions().async_end_session(p, std::string(req.params.get("id")), req.deadline);
    if (!r) co_return failure_response(r.error());
    response res;
    res.status = 204;
    co_return res;
}

// --- passwords ---------------------------------------------------------------------

// A new password with its confirmation, and what allows the change (`proof`: the
// old password or a reset token).
struct new_password_body {
    std::string proof;
    std::string new_password;
    std::string confirm;
    static new_password_body read_with(fields& f, std::string_view proof_field)
    {
        return {f.str(proof_field, true), f.str("new_password", true), f.str("confirm_password", true)};
    }
};

struct password_change_body : new_password_body {
    static password_change_body read(fields& f) { return {read_with(f, "old_password")}; }
};

boost::asio::awaitable<response> async_password_change(ctx c, request& req, auth::principal p, password_change_body b)
{
    auto r = co_await c.svc->passwords().async_change_password(
        p, std::move(b.proof), std::move(b.new_password), std::move(b.confirm), std::string(req.peer_ip), req.deadline);
    if (!r) co_return failure_response(r.error());
    co_return message_response(200, "Password changed; every other session has ended.");
}

boost::asio::awaitable<response> async_password_forgot(ctx c, request& req, email_body b)
{
    auto r =
        co_await c.svc->passwords().async_forgot_password(std::move(b.email), std::string(req.peer_ip), req.deadline);
    if (!r) co_return failure_response(r.error());
    co_return message_response(202, "If an active account uses this address, a code is on its way.");
}

boost::asio::awaitable<response> async_password_verify_otp(ctx c, request& req, email_code_body b)
{
    auto r = co_await c.svc->passwords().async_verify_reset_otp(std::move(b.email), std::move(b.otp),
                                                                std::string(req.peer_ip), req.deadline);
    if (!r) co_return failure_response(r.error());
    json::object o;
    o["reset_token"] = *r;
    co_return json_response(200, o);
}

struct password_reset_body : new_password_body {
    static password_reset_body read(fields& f) { return {read_with(f, "reset_token")}; }
};

boost::asio::awaitable<response> async_password_reset(ctx c, request& req, password_reset_body b)
{
    auto r = co_await c.svc->passwords().async_reset_password(std::move(b.proof), std::move(b.new_password),
                                                              std::move(b.confirm), req.deadline);
    if (!r) co_return failure_response(r.error());
    co_return message_response(200, "Password reset; every session has ended.");
}

// --- multi-factor authentication ---------------------------------------------------

json::array codes_json(const std::vector<std::string>& codes)
{
    json::array a;
    for (const auto& code : codes) a.emplace_back(code);
    return a;
}

boost::asio::awaitable<response> async_mfa_status(ctx c, request& req, auth::principal p)
{
    auto r = co_await c.svc->mfa().async_status(p, req.deadline);
    if (!r) co_return failure_response(r.error());
    json::object o;
    o["totp"] = r->totp;
    o["recovery_codes_left"] = r->recovery_codes_left;
    co_return json_response(200, o);
}

boost::asio::awaitable<response> async_totp_setup(ctx c, request& req, auth::principal p)
{
    auto r = co_await c.svc->mfa().async_setup(p, req.deadline);
    if (!r) co_return failure_response(r.error());
    json::object o;
    o["secret"] = r->secret;
    o["otpauth_uri"] = r->otpauth_uri;
    co_return json_response(200, o);
}

struct code_body {
    std::string code;
    static code_body read(fields& f) { return {f.str("code", true)}; }
};

boost::asio::awaitable<response> async_totp_confirm(ctx c, request& req, auth::principal p, code_body b)
{
    auto r = co_await c.svc->mfa().async_confirm(p, std::move(b.code), std::string(req.peer_ip), req.deadline);
    if (!r) co_return failure_response(r.error());
    json::object o;
    o["recovery_codes"] = codes_json(*r);
    co_return json_response(200, o);
}

// The password and a second factor (a TOTP code or a recovery code).
struct password_code_body {
    std::string password;
    std::string code;
    static password_code_body read(fields& f) { return {f.str("password", true), f.str("code", true)}; }
};

boost::asio::awaitable<response> async_totp_disable(ctx c, request& req, auth::principal p, password_code_body b)
{
    auto r = co_await c.svc->mfa().async_disable(p, std::move(b.password), std::move(b.code), std::string(req.peer_ip),
                                                 req.deadline);
    if (!r) co_return failure_response(r.error());
    response res;
    res.status = 204;
    co_return res;
}

boost::asio::awaitable<response> async_recovery_codes(ctx c, request& req, auth::principal p, password_code_body b)
{
    auto r = co_await c.svc->mfa().async_new_recovery_codes(p, std::move(b.password), std::move(b.code),
                                                            std::string(req.peer_ip), req.deadline);
    if (!r) co_return failure_response(r.error());
    json::object o;
    o["recovery_codes"] = codes_json(*r);
    co_return json_response(200, o);
}

struct mfa_verify_body {
    std::string mfa_token;
    auth::mfa_code code;
    bool cookie = false;
    bool cookie_only = false;
    static mfa_verify_body read(fields& f)
    {
        mfa_verify_body b;
        b.mfa_token = f.str("mfa_token", true);
        auto code = f.optional_str("code");
        auto recovery = f.optional_str("recovery_code");
        b.cookie = f.boolean("cookie");
        b.cookie_only = f.boolean("cookie_only");
        const bool has_code = code && !code->empty();
        const bool has_recovery = recovery && !recovery->empty();
        if (has_code == has_recovery) {
            f.details().emplace_back("code", "Provide either a code or a recovery_code.");
        } else if (has_code) {
            b.code = auth::mfa_code{std::move(*code), false};
        } else {
            b.code = auth::mfa_code{std::move(*recovery), true};
        }
        return b;
    }
};

boost::asio::awaitable<response> async_mfa_verify(ctx c, request& req, mfa_verify_body b)
{
    auto r = co_await c.svc->mfa().async_verify(std::move(b.mfa_token), std::move(b.code), std::string(req.peer_ip),
                                                std::string(req.header("user-agent")), req.deadline);
    if (!r) co_return failure_response(r.error());
    json::object o = tokens_json(r->tokens, !(b.cookie && b.cookie_only));
    o["user"] = own_view(r->user);
    response res = json_response(200, o);
    if (b.cookie) set_session_cookies(res, r->tokens, c.opts, c.svc->settings().refresh_lifetime.count());
    co_return res;
}

// --- users -------------------------------------------------------------------------

boost::asio::awaitable<response> async_users(ctx c, request& req, auth::principal)
{
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
    auto r = co_await c.svc->users().async_list_users(limit, std::move(cursor), std::move(q), req.deadline);
    if (!r) co_return failure_response(r.error());
    json::array results;
    for (const auto& u : r->results) results.push_back(public_view(u));
    json::object o;
    o["results"] = std::move(results);
    o["next"] = r->next ? json::value(*r->next) : json::value(nullptr);
    co_return json_response(200, o);
}

boost::asio::awaitable<response> async_me(ctx c, request& req, auth::principal p)
{
    auto r = co_await c.svc->users().async_me(p, req.deadline);
    if (!r) co_return failure_response(r.error());
    co_return json_response(200, own_view(*r));
}

// PATCH: only the writable fields, each a string (null clears a name or a phone
// number); the sizes are the flow's rules.
struct profile_body {
    store::profile_update update;
    static profile_body read(fields& f)
    {
        profile_body b;
        for (const auto& kv : f.object()) {
            std::string_view key = kv.key();
            std::optional<std::string>* target = nullptr;
            if (key == "full_name")
                target = &b.update.full_name;
            else if (key == "phone_number")
                target = &b.update.phone_number;
            else if (key == "username")
                target = &b.update.username;
            else if (key == "id" || key == "email" || key == "is_active" || key == "date_joined" ||
                     key == "last_login") {
                f.details().emplace_back(std::string(key), "This field is read-only.");
                continue;
            } else {
                f.details().emplace_back(std::string(key), "Unknown field.");
                continue;
            }
            if (kv.value().is_null() && key != "username") {
                *target = std::string();
            } else if (auto s = f.text(key, kv.value(), 0)) {
                *target = std::move(*s);
            }
        }
        return b;
    }
};

boost::asio::awaitable<response> async_update_me(ctx c, request& req, auth::principal p, profile_body b)
{
    auto r = co_await c.svc->users().async_update_me(p, std::move(b.update), req.deadline);
    if (!r) co_return failure_response(r.error());
    co_return json_response(200, own_view(*r));
}

struct password_body {
    std::string password;
    static password_body read(fields& f) { return {f.str("password", true)}; }
};

boost::asio::awaitable<response> async_delete_me(ctx c, request& req, auth::principal p, password_body b)
{
    auto r = co_await c.svc->users().async_delete_me(p, std::move(b.password), std::string(req.peer_ip), req.deadline);
    if (!r) co_return failure_response(r.error());
    response res;
    res.status = 204;
    if (p.via_cookie) clear_session_cookies(res, c.opts);
    co_return res;
}

boost::asio::awaitable<response> async_user(ctx c, request& req, auth::principal p)
{
    std::string id(req.params.get("id"));
    auto r = co_await c.svc->users().async_get_user(p, id, req.deadline);
    if (!r) co_return failure_response(r.error());
    co_return json_response(200, r->id == p.user_id ? own_view(*r) : public_view(*r));
}

// PATCH, PUT and DELETE on /api/users/{id}: one's own id behaves like /api/users/me;
// everybody else's profile is read-only, and a write to it answers 403 forbidden
// whatever the method (as the permission check of the Django contract does), so PUT
// is routed here too and answers 405 only on one's own id.
boost::asio::awaitable<response> async_user_write(ctx c, request& req, auth::principal p)
{
    std::string id(req.params.get("id"));
    auto target = co_await c.svc->users().async_get_user(p, id, req.deadline);
    if (!target) co_return failure_response(target.error());
    if (target->id != p.user_id) co_return error_response(make_error_code(core::errc::forbidden));
    if (req.method == "PATCH") {
        profile_body b;
        if (auto error = read_body(req, b)) co_return std::move(*error);
        co_return co_await async_update_me(c, req, std::move(p), std::move(b));
    }
    if (req.method == "DELETE") {
        password_body b;
        if (auto error = read_body(req, b)) co_return std::move(*error);
        co_return co_await async_delete_me(c, req, std::move(p), std::move(b));
    }
    response res = protocol_error_response(protocol_error::method_not_allowed);
    res.add_header("Allow", "GET, PATCH, DELETE");
    co_return res;
}

}  // namespace

void add_api_routes(router& routes, auth::service& svc, const api_options& opts)
{
    ctx c{&svc, opts};
    auto body = [c]<class Body>(body_handler<Body> fn) {
        return [c, fn](request& r) { return async_with_body<Body>(c, fn, r); };
    };
    auto authed = [c](authed_handler fn) { return [c, fn](request& r) { return async_authed(c, fn, r); }; };
    auto authed_body = [c]<class Body>(authed_body_handler<Body> fn) {
        return [c, fn](request& r) { return async_authed_body<Body>(c, fn, r); };
    };
    routes.add("POST", "/api/auth/register", body(async_register), body_kind::json);
    routes.add("POST", "/api/auth/verify-email", body(async_verify_email), body_kind::json);
    routes.add("POST", "/api/auth/resend-otp", body(async_resend_otp), body_kind::json);
    routes.add("POST", "/api/auth/login", body(async_login), body_kind::json);
    routes.add("POST", "/api/auth/refresh", body(async_refresh), body_kind::json);
    routes.add("POST", "/api/auth/logout", body(async_logout), body_kind::json);
    routes.add("POST", "/api/auth/logout-all", authed(async_logout_all), body_kind::json);
    routes.add("GET", "/api/auth/session", authed(async_session));
    routes.add("GET", "/api/auth/sessions", authed(async_sessions));
    routes.add("DELETE", "/api/auth/sessions/{id}", authed(async_end_session));
    routes.add("POST", "/api/auth/password/change", authed_body(async_password_change), body_kind::json);
    routes.add("POST", "/api/auth/password/forgot", body(async_password_forgot), body_kind::json);
    routes.add("POST", "/api/auth/password/verify-otp", body(async_password_verify_otp), body_kind::json);
    routes.add("POST", "/api/auth/password/reset", body(async_password_reset), body_kind::json);
    routes.add("GET", "/api/auth/mfa", authed(async_mfa_status));
    routes.add("POST", "/api/auth/mfa/totp/setup", authed(async_totp_setup), body_kind::json);
    routes.add("POST", "/api/auth/mfa/totp/confirm", authed_body(async_totp_confirm), body_kind::json);
    routes.add("DELETE", "/api/auth/mfa/totp", authed_body(async_totp_disable), body_kind::json);
    routes.add("POST", "/api/auth/mfa/recovery-codes", authed_body(async_recovery_codes), body_kind::json);
    routes.add("POST", "/api/auth/mfa/verify", body(async_mfa_verify), body_kind::json);
    routes.add("GET", "/api/users", authed(async_users));
    routes.add("GET", "/api/users/me", authed(async_me));
    routes.add("PATCH", "/api/users/me", authed_body(async_update_me), body_kind::json);
    routes.add("DELETE", "/api/users/me", authed_body(async_delete_me), body_kind::json);
    routes.add("GET", "/api/users/{id}", authed(async_user));
    routes.add("PATCH", "/api/users/{id}", authed(async_user_write), body_kind::json);
    routes.add("PUT", "/api/users/{id}", authed(async_user_write), body_kind::json);
    routes.add("DELETE", "/api/users/{id}", authed(async_user_write), body_kind::json);
}

}  // namespace portcullis::net
