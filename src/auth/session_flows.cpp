#include "auth/flows.hpp"
#include "auth/profile_rules.hpp"
#include "auth/validation.hpp"
#include "core/log.hpp"
#include "core/random.hpp"
#include "core/spawn.hpp"
#include "core/text.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/this_coro.hpp>

#include <algorithm>

namespace portcullis::auth {

using core::errc;

namespace {

// Sessions' last_used_at is written back at most once per touch interval, off the
// request path. The repository outlives the thread's coroutines.
boost::asio::awaitable<void> async_touch_session(store::session_repository* sessions, std::string sid)
{
    auto deadline = core::steady_clock::now() + std::chrono::seconds(5);
    auto r = co_await sessions->async_touch(sid, deadline);
    if (!r) core::log::debug("session_touch_failed", {{"error", r.error().message()}});
}

boost::asio::awaitable<void> async_touch_later(store::session_repository& sessions, std::string sid)
{
    auto ex = co_await boost::asio::this_coro::executor;
    boost::asio::co_spawn(ex, async_touch_session(&sessions, std::move(sid)), core::log_escape{"session_touch"});
}

// The login identifier without surrounding spaces.
std::string login_identifier(std::string_view ident)
{
    return std::string(core::trim(ident, " "));
}

}  // namespace

bool session_flows::csrf_mismatch(std::string_view refresh, std::string_view csrf) const
{
    auto cl = verify(refresh, c_.deps.keys.jwt, token_type::refresh, c_.deps.clock.now());
    if (!cl) return false;
    return !otp_digest_equal(csrf, c_.csrf_for(cl->sid));
}

bool session_flows::cookie_csrf_ok(std::string_view refresh, std::string_view header, std::string_view cookie) const
{
    return !header.empty() && otp_digest_equal(header, cookie) && !csrf_mismatch(refresh, header);
}

async_outcome<principal> session_flows::async_authenticate(credentials c, core::deadline d)
{
    std::string_view token = c.bearer;
    bool via_cookie = false;
    if (token.empty() && !c.access_cookie.empty()) {
        token = c.access_cookie;
        via_cookie = true;
    }
    if (token.empty()) co_return fail<principal>(errc::not_authenticated);
    auto cl = c_.deps.keys.access->verify(token, token_type::access, c_.deps.clock.now());
    if (!cl) co_return fail<principal>(cl.error());
    auto uid = parse_id(cl->sub);
    if (!uid || cl->sid.empty()) co_return fail<principal>(errc::invalid_token);
    if (via_cookie && c.unsafe_method) {
        std::string expected = c_.csrf_for(cl->sid);
        if (c.csrf_header.empty() || !otp_digest_equal(c.csrf_header, c.csrf_cookie) ||
            !otp_digest_equal(c.csrf_header, expected)) {
            co_return fail<principal>(errc::csrf_failed);
        }
    }

    session_cache& cache = c_.deps.cache;
    auto now = core::steady_clock::now();
    if (auto* e = cache.find_session(cl->sid, now)) {
        if (e->user_id != *uid || e->expires_at <= c_.deps.clock.now()) co_return fail<principal>(errc::token_revoked);
        if (now - e->touched_at > cache.settings().touch_interval) {
            e->touched_at = now;
            co_await async_touch_later(c_.deps.sessions, cl->sid);
        }
        principal p{*uid, std::move(cl->sid), via_cookie};
        p.admin = cl->admin;
        co_return p;
    }
    // A revocation broadcast while the row is read must not be undone by caching it.
    auto generation = cache.generation();
    auto s = co_await c_.deps.sessions.async_find(cl->sid, d);
    if (!s) co_return fail<principal>(s.error());
    if (!*s || (*s)->user_id != *uid || !(*s)->live(c_.deps.clock.now())) {
        co_return fail<principal>(errc::token_revoked);
    }
    cache.put_session(cl->sid, *uid, (*s)->expires_at, now, generation);
    if (c_.deps.clock.now() - (*s)->last_used_at > cache.settings().touch_interval) {
        co_await async_touch_later(c_.deps.sessions, cl->sid);
    }
    principal p{*uid, std::move(cl->sid), via_cookie};
    p.admin = cl->admin;
    co_return p;
}

async_outcome<login_result> session_flows::async_login(login_input in, core::deadline d)
{
    // No hash slot free: answer 503 at once, before any I/O.
    if (c_.deps.hashes.saturated()) co_return fail<login_result>(errc::overloaded);
    std::string ident = login_identifier(in.identifier);
    // No account has a longer identifier (an address is at most 254 characters, a
    // username 150): refused before any I/O, so it never reaches a key or the pool.
    if (ident.size() > 4 * 254 || core::utf8_count(ident) > 254)
        co_return fail<login_result>(errc::invalid_credentials);
    if (ident.find('@') != std::string::npos) {
        auto e = normalize_email(ident);
        if (e.ok()) ident = e.value;
    }

    auto found = co_await c_.deps.users.async_find_by_login(ident, d);
    if (!found) co_return fail<login_result>(found.error());
    // A deactivated account is as unknown as a missing one.
    bool known = *found && ((*found)->is_active || !(*found)->verified());
    // Limits are per account (whichever identifier names it), or per identifier for
    // unknown ones; the attempt is counted before the check, atomically with the limits.
    std::string account = known ? "u" + std::to_string((*found)->id) : "i" + c_.key_id(canonical(ident));
    auto guard = c_.password_guard_for(std::move(account), in.ip);
    // Unknown: the same work against a dummy. (Named first: g++ 12 destroys a temporary
    // of a conditional expression inside a co_await expression twice.)
    std::string stored = known ? (*found)->password_hash : std::string();
    request_meta meta{in.ip, storable_text(in.user_agent, 512), in.request_id};
    std::optional<std::int64_t> who;
    if (known) who = (*found)->id;
    auto v = co_await c_.async_check_password(guard, in.password, std::move(stored), d);
    if (!v) {
        if (v.error().code == errc::rate_limited) c_.record("login.failed", who, meta, {}, "rate_limited");
        co_return pass<login_result>(v);
    }
    if (!v->ok) {
        c_.record("login.failed", who, meta, {}, known ? "invalid_password" : "unknown_account");
        co_return fail<login_result>(errc::invalid_credentials);
    }
    store::user u = std::move(**found);
    if (!u.verified()) {
        c_.record("login.failed", who, meta, {}, "email_not_verified");
        co_return fail<login_result>(errc::email_not_verified);
    }
    // Told only to someone who knows the password.
    if (u.disabled_at) {
        c_.record("login.failed", who, meta, {}, "account_disabled");
        co_return fail<login_result>(errc::account_disabled);
    }

    std::string verified_hash = u.password_hash;
    if (v->needs_rehash) {
        // Imported (Django) or older hashes move to the current parameters; a failure
        // here must not fail the login.
        auto fresh = co_await c_.deps.hashes.async_hash(in.password);
        if (fresh) {
            auto rh = co_await c_.deps.users.async_rehash_password(u.id, u.password_hash, *fresh, d);
            if (!rh) core::log::warn("rehash_failed", {{"user_id", u.id}, {"error", rh.error().message()}});
            if (rh && *rh) verified_hash = std::move(*fresh);
        }
    }

    // MFA on: the right password earns only the second step (an answer given after the
    // same password work as any other, so it tells nothing to someone without it).
    if (u.mfa_enabled && c_.deps.mfa != nullptr) {
        auto challenge = co_await c_.async_start_mfa(u, verified_hash, d);
        if (!challenge) co_return pass<login_result>(challenge);
        c_.record("login.mfa_required", who, meta);
        login_result out{token_pair{}, std::move(u), std::move(*challenge)};
        co_return out;
    }
    std::string user_agent = meta.user_agent;
    auto opened = co_await c_.async_open_session(std::move(u), std::move(verified_hash), std::move(in.ip),
                                                 std::move(user_agent), false, d);
    if (!opened) {
        if (opened.error().code == errc::invalid_credentials)
            c_.record("login.failed", who, meta, {}, "account_changed");
        co_return opened;
    }
    c_.record("login.succeeded", who, meta, opened->tokens.session_id, "password");
    co_return opened;
}

async_outcome<token_pair> session_flows::async_refresh(std::string refresh, core::deadline d, request_meta meta)
{
    if (refresh.empty()) co_return validation("refresh", "This field is required.");
    auto cl = verify(refresh, c_.deps.keys.jwt, token_type::refresh, c_.deps.clock.now());
    if (!cl) co_return fail<token_pair>(cl.error());
    auto uid = parse_id(cl->sub);
    if (!uid || !c_.refresh_id_matches(*cl)) co_return fail<token_pair>(errc::invalid_token);

    // A token issued before refresh counters existed carries none: it stands for counter
    // 0 while it is still its session's legacy token.
    store::refresh_position at{cl->sid, std::max<std::int64_t>(cl->ctr, 0), std::nullopt};
    if (cl->ctr < 0) at.legacy_jti = cl->jti;
    auto rotated = co_await c_.deps.tokens.async_rotate(at, d);
    if (!rotated) {
        if (core::is_unavailable(rotated.error())) {
            // The rotation may have committed although its reply never came (a connection
            // lost at that moment, a failover). Its successor then reached nobody: note it,
            // so that the client's retry with this token gets it instead of ending the
            // session as a reuse. The note matters most when the request's time ran out,
            // so it gets a second even then.
            auto ttl = std::chrono::seconds(cl->exp - core::to_unix(c_.deps.clock.now()));
            auto note_by = std::max(d, core::steady_clock::now() + std::chrono::seconds(1));
            std::string successor = c_.refresh_jti(at.session_id, at.counter + 1);
            auto noted =
                co_await c_.deps.kv.async_note_unanswered_rotation(cl->jti, std::move(successor), ttl, note_by);
            if (!noted) {
                core::log::warn("unanswered_rotation_not_noted",
                                {{"session", cl->sid}, {"error", noted.error().message()}});
            }
        }
        co_return fail<token_pair>(rotated.error());
    }
    if (*rotated) {
        if ((*rotated)->user_id != *uid) co_return fail<token_pair>(errc::invalid_token);
        co_return c_.issue((*rotated)->session_id, (*rotated)->counter, (*rotated)->rotated_at, *uid, cl->otp,
                           cl->admin);
    }

    auto st = co_await c_.deps.tokens.async_inspect(cl->sid, d);
    if (!st) co_return fail<token_pair>(st.error());
    if (!*st || (*st)->user_id != *uid) co_return fail<token_pair>(errc::invalid_token);
    const store::refresh_state& state = **st;
    // Where the presented token stands: a legacy token that is no longer its session's
    // legacy token was rotated (or replaced) before, so it counts as older than any.
    std::int64_t presented = at.counter;
    if (at.legacy_jti && state.legacy_jti != at.legacy_jti) presented = -1;
    if (presented > state.counter) co_return fail<token_pair>(errc::invalid_token);
    if (presented == state.counter) {
        // Not rotated although current: the session ended or expired.
        co_return fail<token_pair>(errc::token_revoked);
    }
    // Older than the session's counter: presenting a rotated token is reuse, whatever
    // happened since (unless it is the grace or lost-reply case).
    co_return co_await async_refresh_used(*cl, *uid, presented, state, d, std::move(meta));
}

async_outcome<token_pair> session_flows::async_refresh_used(const claims& cl, std::int64_t user_id,
                                                            std::int64_t presented, const store::refresh_state& state,
                                                            core::deadline d, request_meta meta)
{
    auto now = c_.deps.clock.now();
    // The token rotated last: its successor (the session's current counter) is unused.
    const bool successor_pending = presented + 1 == state.counter && state.refreshed_at.has_value() && state.live(now);
    // Two tabs refreshing at once: inside the grace interval the just-rotated token
    // yields the same successor pair instead of ending the session.
    if (successor_pending && c_.settings.refresh_reuse_interval.count() > 0 &&
        now - *state.refreshed_at <= c_.settings.refresh_reuse_interval) {
        co_return c_.issue(state.session_id, state.counter, *state.refreshed_at, user_id, cl.otp, cl.admin);
    }
    if (successor_pending) {
        // A retry after a rotation whose reply was lost: this server noted that nobody
        // received the successor, so handing it over now is the answer the lost reply
        // carried, not a reuse. Whoever uses the successor first wins; presenting this
        // token after that is a reuse again. When the note cannot be read, 503: the
        // client retries, and nothing ends on a guess.
        auto noted = co_await c_.deps.kv.async_unanswered_rotation(cl.jti, d);
        if (!noted) co_return fail<token_pair>(noted.error());
        if (*noted && **noted == c_.refresh_jti(state.session_id, state.counter)) {
            co_return c_.issue(state.session_id, state.counter, *state.refreshed_at, user_id, cl.otp, cl.admin);
        }
    }
    auto revoked = co_await c_.deps.sessions.async_revoke_by_id(state.session_id, "refresh_reuse", d);
    if (!revoked) co_return fail<token_pair>(revoked.error());
    co_await c_.async_announce(ended_session_event(state.session_id), d);
    core::log::warn("refresh_token_reused", {{"session", state.session_id}, {"user_id", user_id}});
    c_.record("refresh.reused", user_id, meta, state.session_id, "session_ended");
    co_return fail<token_pair>(errc::token_reused);
}

async_outcome<void> session_flows::async_logout(std::string refresh, std::optional<principal> caller, core::deadline d,
                                                request_meta meta)
{
    if (refresh.empty()) co_return validation("refresh", "This field is required.");
    auto cl = verify(refresh, c_.deps.keys.jwt, token_type::refresh, c_.deps.clock.now());
    if (!cl) co_return fail<void>(cl.error());
    auto uid = parse_id(cl->sub);
    if (!uid || !c_.refresh_id_matches(*cl)) co_return fail<void>(errc::invalid_token);
    if (caller && caller->user_id != *uid) co_return fail<void>(errc::forbidden);
    // Any refresh token of the session ends it (its access tokens are refused from then on).
    auto sid = co_await c_.deps.tokens.async_end(cl->sid, *uid, "logout", d);
    if (!sid) co_return fail<void>(sid.error());
    if (!*sid) co_return fail<void>(errc::invalid_token);
    co_await c_.async_announce(ended_session_event(**sid), d);
    c_.record("logout", *uid, meta, **sid);
    co_return outcome<void>{};
}

async_outcome<void> session_flows::async_logout_all(principal p, core::deadline d)
{
    auto r = co_await c_.async_end_sessions(p.user_id, std::nullopt, "logout_all", d);
    if (r) c_.record("logout", p.user_id, p.meta, p.session_id, "all_sessions");
    co_return r;
}

async_outcome<session_view> session_flows::async_current_session(principal p, core::deadline d)
{
    auto u = co_await c_.async_load_user(p.user_id, errc::token_revoked, d);
    if (!u) co_return pass<session_view>(u);
    auto s = co_await c_.deps.sessions.async_find(p.session_id, d);
    if (!s) co_return fail<session_view>(s.error());
    if (!*s) co_return fail<session_view>(errc::token_revoked);
    session_view out{std::move(*u), std::move(**s)};
    co_return out;
}

async_outcome<std::vector<store::session>> session_flows::async_list_sessions(principal p, core::deadline d)
{
    auto list = co_await c_.deps.sessions.async_list_live(p.user_id, 100, d);
    if (!list) co_return fail<std::vector<store::session>>(list.error());
    co_return std::move(*list);
}

async_outcome<void> session_flows::async_end_session(principal p, std::string session_id, core::deadline d)
{
    auto ok = co_await c_.deps.sessions.async_revoke(session_id, p.user_id, "ended_by_user", d);
    if (!ok) co_return fail<void>(ok.error());
    if (!*ok) co_return fail<void>(errc::not_found);
    co_await c_.async_announce(ended_session_event(session_id), d);
    c_.record("session.revoked", p.user_id, p.meta, session_id, "ended_by_user");
    co_return outcome<void>{};
}

}  // namespace portcullis::auth
