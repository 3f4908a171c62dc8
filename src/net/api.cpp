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
#include <chrono>

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

// Where the request came from, for the audit trail.
auth::request_meta meta_of(const request& req)
{
    return auth::request_meta{std::string(req.peer_ip), std::string(req.header("user-agent")),
                              std::string(req.request_id)};
}

boost::asio::awaitable<auth::outcome<auth::principal>> async_auth(ctx c, const request& req)
{
    auto p = co_await c.svc->sessions().async_authenticate(credentials_of(req, c.opts), req.deadline);
    if (p) p->meta = meta_of(req);
    co_return p;
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
    b.in.meta = meta_of(req);
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
                                                           std::string(req.peer_ip), req.deadline, meta_of(req));
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
                         std::string(req.header("user-agent")), std::string(req.request_id)};
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
    auto r = co_await c.svc->sessions().async_refresh(std::move(b.refresh), req.deadline, meta_of(req));
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
    auto r = co_await c.svc->sessions().async_logout(std::move(b.refresh), caller, req.deadline, meta_of(req));
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
                                                              std::move(b.confirm), req.deadline, meta_of(req));
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
                                                std::string(req.header("user-agent")), req.deadline,
                                                std::string(req.request_id));
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

// --- account activity and operators' tools ------------------------------------------

// A whole number query parameter in [lo, hi] (absent: `fallback`); nullopt when malformed.
std::optional<std::int64_t> int_param(const request& req, std::string_view name, std::int64_t fallback, std::int64_t lo,
                                      std::int64_t hi)
{
    auto v = req.query_param(name);
    if (!v) return fallback;
    std::int64_t out = 0;
    auto [ptr, ec] = std::from_chars(v->data(), v->data() + v->size(), out);
    if (v->empty() || ec != std::errc{} || ptr != v->data() + v->size() || out < lo || out > hi) return std::nullopt;
    return out;
}

// "YYYY-MM-DDTHH:MM:SSZ", with optional fractional seconds (UTC only).
std::optional<std::chrono::system_clock::time_point> parse_utc(std::string_view t)
{
    auto num = [&t](std::size_t at, std::size_t len, int& out) {
        if (at + len > t.size()) return false;
        auto [ptr, ec] = std::from_chars(t.data() + at, t.data() + at + len, out);
        return ec == std::errc{} && ptr == t.data() + at + len;
    };
    int y = 0, mo = 0, dd = 0, h = 0, mi = 0, sec = 0;
    if (t.size() < 20 || t[4] != '-' || t[7] != '-' || (t[10] != 'T' && t[10] != 't') || t[13] != ':' || t[16] != ':' ||
        (t.back() != 'Z' && t.back() != 'z')) {
        return std::nullopt;
    }
    if (!num(0, 4, y) || !num(5, 2, mo) || !num(8, 2, dd) || !num(11, 2, h) || !num(14, 2, mi) || !num(17, 2, sec)) {
        return std::nullopt;
    }
    std::string_view frac = t.substr(19, t.size() - 20);
    if (!frac.empty() && (frac[0] != '.' || frac.size() < 2 || frac.size() > 10)) return std::nullopt;
    for (std::size_t i = 1; i < frac.size(); ++i) {
        if (frac[i] < '0' || frac[i] > '9') return std::nullopt;
    }
    std::chrono::year_month_day ymd{std::chrono::year(y), std::chrono::month(static_cast<unsigned>(mo)),
                                    std::chrono::day(static_cast<unsigned>(dd))};
    if (!ymd.ok() || h > 23 || mi > 59 || sec > 59) return std::nullopt;
    return std::chrono::sys_days(ymd) + std::chrono::hours(h) + std::chrono::minutes(mi) + std::chrono::seconds(sec);
}

std::string_view status_of(const store::user& u)
{
    if (!u.verified()) return "pending";
    if (!u.is_active) return "deleted";
    if (u.disabled_at) return "disabled";
    return "active";
}

json::value text_or_null(const std::string& s)
{
    if (s.empty()) return nullptr;
    return json::value(s);
}

json::object admin_view(const store::user& u)
{
    json::object o = own_view(u);
    o["role"] = u.role;
    o["status"] = status_of(u);
    o["email_verified"] = u.verified();
    o["mfa_enabled"] = u.mfa_enabled;
    o["disabled_at"] = u.disabled_at ? json::value(core::format_rfc3339(*u.disabled_at)) : json::value(nullptr);
    return o;
}

json::object event_view(const store::audit_record& e, bool with_actor)
{
    json::object o;
    o["id"] = std::to_string(e.id);
    o["type"] = e.type;
    o["at"] = core::format_rfc3339(e.at);
    o["user_id"] = e.user_id ? json::value(std::to_string(*e.user_id)) : json::value(nullptr);
    if (with_actor) o["actor_id"] = e.actor_id ? json::value(std::to_string(*e.actor_id)) : json::value(nullptr);
    o["session_id"] = text_or_null(e.session_id);
    o["ip"] = text_or_null(e.ip);
    o["user_agent"] = text_or_null(e.user_agent);
    o["request_id"] = text_or_null(e.request_id);
    o["reason"] = text_or_null(e.reason);
    return o;
}

boost::asio::awaitable<response> async_activity(ctx c, request& req, auth::principal p)
{
    auto r = co_await c.svc->admin().async_activity(p, req.deadline);
    if (!r) co_return failure_response(r.error());
    json::array list;
    for (const auto& e : *r) list.push_back(event_view(e, false));
    json::object o;
    o["results"] = std::move(list);
    co_return json_response(200, o);
}

using admin_handler = boost::asio::awaitable<response> (*)(ctx, request&, auth::operator_ref);
template <class Body>
using admin_body_handler = boost::asio::awaitable<response> (*)(ctx, request&, auth::operator_ref, Body);

// The caller is authenticated and authorized as an operator (403 forbidden otherwise,
// 429 past the operator's limit) before anything else is looked at.
boost::asio::awaitable<auth::outcome<auth::operator_ref>> async_operator(ctx c, const request& req)
{
    auto p = co_await async_auth(c, req);
    if (!p) co_return auth::outcome<auth::operator_ref>(boost::system::in_place_error, p.error());
    co_return co_await c.svc->admin().async_authorize(*p, req.deadline);
}

boost::asio::awaitable<response> async_admin(ctx c, admin_handler fn, request& req)
{
    auto op = co_await async_operator(c, req);
    if (!op) co_return failure_response(op.error());
    co_return co_await fn(c, req, std::move(*op));
}

template <class Body>
boost::asio::awaitable<response> async_admin_body(ctx c, admin_body_handler<Body> fn, request& req)
{
    auto op = co_await async_operator(c, req);
    if (!op) co_return failure_response(op.error());
    Body b;
    if (auto error = read_body(req, b)) co_return std::move(*error);
    co_return co_await fn(c, req, std::move(*op), std::move(b));
}

response user_response(const auth::outcome<store::user>& r)
{
    if (!r) return failure_response(r.error());
    return json_response(200, admin_view(*r));
}

boost::asio::awaitable<response> async_admin_users(ctx c, request& req, auth::operator_ref)
{
    auto limit = int_param(req, "limit", 20, 1, 100);
    if (!limit) {
        co_return error_response(make_error_code(core::errc::validation_failed),
                                 {{"limit", "Must be a whole number from 1 to 100."}});
    }
    std::string q = req.query_param("q").value_or("");
    if (q.size() > 254) co_return error_response(make_error_code(core::errc::validation_failed), {{"q", "Too long."}});
    store::user_status status = store::user_status::any;
    if (auto st = req.query_param("status")) {
        if (*st == "active") {
            status = store::user_status::active;
        } else if (*st == "pending") {
            status = store::user_status::pending;
        } else if (*st == "disabled") {
            status = store::user_status::disabled;
        } else if (*st == "deleted") {
            status = store::user_status::deleted;
        } else if (*st != "any") {
            co_return error_response(make_error_code(core::errc::validation_failed),
                                     {{"status", "Must be one of active, pending, disabled, deleted, any."}});
        }
    }
    std::string cursor = req.query_param("cursor").value_or("");
    auto r = co_await c.svc->admin().async_list(static_cast<int>(*limit), std::move(cursor), std::move(q), status,
                                                req.deadline);
    if (!r) co_return failure_response(r.error());
    json::array results;
    for (const auto& u : r->results) results.push_back(admin_view(u));
    json::object o;
    o["results"] = std::move(results);
    o["next"] = r->next ? json::value(*r->next) : json::value(nullptr);
    co_return json_response(200, o);
}

boost::asio::awaitable<response> async_admin_user(ctx c, request& req, auth::operator_ref)
{
    auto r = co_await c.svc->admin().async_get(std::string(req.params.get("id")), req.deadline);
    co_return user_response(r);
}

struct admin_update_body {
    store::admin_user_update update;
    static admin_update_body read(fields& f)
    {
        admin_update_body b;
        for (const auto& kv : f.object()) {
            std::string_view key = kv.key();
            std::optional<std::string>* target = nullptr;
            if (key == "full_name") {
                target = &b.update.full_name;
            } else if (key == "phone_number") {
                target = &b.update.phone_number;
            } else if (key == "username") {
                target = &b.update.username;
            } else if (key == "role") {
                target = &b.update.role;
            } else {
                f.details().emplace_back(std::string(key), "Unknown or read-only field.");
                continue;
            }
            if (auto text = f.text(key, kv.value(), 0)) *target = std::move(*text);
        }
        return b;
    }
};

boost::asio::awaitable<response> async_admin_update(ctx c, request& req, auth::operator_ref op, admin_update_body b)
{
    auto r = co_await c.svc->admin().async_update(std::move(op), std::string(req.params.get("id")), std::move(b.update),
                                                  req.deadline);
    co_return user_response(r);
}

boost::asio::awaitable<response> async_admin_delete(ctx c, request& req, auth::operator_ref op)
{
    auto r = co_await c.svc->admin().async_delete(std::move(op), std::string(req.params.get("id")), req.deadline);
    if (!r) co_return failure_response(r.error());
    response res;
    res.status = 204;
    co_return res;
}

boost::asio::awaitable<response> async_admin_disable(ctx c, request& req, auth::operator_ref op)
{
    auto r = co_await c.svc->admin().async_disable(std::move(op), std::string(req.params.get("id")), req.deadline);
    co_return user_response(r);
}

boost::asio::awaitable<response> async_admin_enable(ctx c, request& req, auth::operator_ref op)
{
    auto r = co_await c.svc->admin().async_enable(std::move(op), std::string(req.params.get("id")), req.deadline);
    co_return user_response(r);
}

boost::asio::awaitable<response> async_admin_verify(ctx c, request& req, auth::operator_ref op)
{
    auto r = co_await c.svc->admin().async_verify(std::move(op), std::string(req.params.get("id")), req.deadline);
    co_return user_response(r);
}

boost::asio::awaitable<response> async_admin_logout(ctx c, request& req, auth::operator_ref op)
{
    auto r = co_await c.svc->admin().async_logout(std::move(op), std::string(req.params.get("id")), req.deadline);
    if (!r) co_return failure_response(r.error());
    co_return message_response(200, "Every session of the user has ended.");
}

boost::asio::awaitable<response> async_admin_resend(ctx c, request& req, auth::operator_ref op)
{
    auto r = co_await c.svc->admin().async_resend_verification(std::move(op), std::string(req.params.get("id")),
                                                               req.deadline);
    if (!r) co_return failure_response(r.error());
    co_return message_response(202, "A new verification code is on its way.");
}

boost::asio::awaitable<response> async_admin_mfa_reset(ctx c, request& req, auth::operator_ref op)
{
    auto r = co_await c.svc->admin().async_reset_mfa(std::move(op), std::string(req.params.get("id")), req.deadline);
    if (!r) co_return failure_response(r.error());
    co_return message_response(200, "Multi-factor authentication is off for the user.");
}

boost::asio::awaitable<response> async_admin_audit(ctx c, request& req, auth::operator_ref)
{
    store::audit_query q;
    error_details problems;
    auto limit = int_param(req, "limit", 50, 1, 200);
    if (!limit) problems.emplace_back("limit", "Must be a whole number from 1 to 200.");
    q.limit = static_cast<int>(limit.value_or(50));
    if (auto u = req.query_param("user_id")) {
        auto id = auth::parse_id(*u);
        if (!id) {
            problems.emplace_back("user_id", "Must be a user id.");
        } else {
            q.user_id = *id;
        }
    }
    if (auto t = req.query_param("type")) {
        bool ok = !t->empty() && t->size() <= 64;
        for (char ch : *t) ok = ok && ((ch >= 'a' && ch <= 'z') || ch == '.' || ch == '_' || ch == '*');
        if (!ok) {
            problems.emplace_back("type", "Must be an event type such as login.failed, or a family such as mfa.*.");
        } else {
            q.type = *t;
        }
    }
    if (auto since = req.query_param("since")) {
        q.since = parse_utc(*since);
        if (!q.since) problems.emplace_back("since", "Must be a UTC time such as 2026-01-31T12:00:00Z.");
    }
    if (auto until = req.query_param("until")) {
        q.until = parse_utc(*until);
        if (!q.until) problems.emplace_back("until", "Must be a UTC time such as 2026-01-31T12:00:00Z.");
    }
    if (!problems.empty()) co_return error_response(make_error_code(core::errc::validation_failed), problems);
    std::string cursor = req.query_param("cursor").value_or("");
    auto r = co_await c.svc->admin().async_audit(std::move(q), std::move(cursor), req.deadline);
    if (!r) co_return failure_response(r.error());
    json::array results;
    for (const auto& e : r->results) results.push_back(event_view(e, true));
    json::object o;
    o["results"] = std::move(results);
    o["next"] = r->next ? json::value(*r->next) : json::value(nullptr);
    co_return json_response(200, o);
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
    routes.add("GET", "/api/auth/activity", authed(async_activity));

    auto admin = [c](admin_handler fn) { return [c, fn](request& r) { return async_admin(c, fn, r); }; };
    auto admin_body = [c]<class Body>(admin_body_handler<Body> fn) {
        return [c, fn](request& r) { return async_admin_body<Body>(c, fn, r); };
    };
    routes.add("GET", "/api/admin/users", admin(async_admin_users));
    routes.add("GET", "/api/admin/users/{id}", admin(async_admin_user));
    routes.add("PATCH", "/api/admin/users/{id}", admin_body(async_admin_update), body_kind::json);
    routes.add("DELETE", "/api/admin/users/{id}", admin(async_admin_delete), body_kind::json);
    routes.add("POST", "/api/admin/users/{id}/disable", admin(async_admin_disable), body_kind::json);
    routes.add("POST", "/api/admin/users/{id}/enable", admin(async_admin_enable), body_kind::json);
    routes.add("POST", "/api/admin/users/{id}/logout", admin(async_admin_logout), body_kind::json);
    routes.add("POST", "/api/admin/users/{id}/verify", admin(async_admin_verify), body_kind::json);
    routes.add("POST", "/api/admin/users/{id}/resend-verification", admin(async_admin_resend), body_kind::json);
    routes.add("POST", "/api/admin/users/{id}/mfa/reset", admin(async_admin_mfa_reset), body_kind::json);
    routes.add("GET", "/api/admin/audit", admin(async_admin_audit));
}

}  // namespace portcullis::net
