#include "auth/flow_context.hpp"

#include "auth/crypto.hpp"
#include "auth/profile_rules.hpp"
#include "auth/sealed.hpp"
#include "core/log.hpp"
#include "core/random.hpp"
#include "core/spawn.hpp"
#include "core/text.hpp"
#include "jobs/enqueuer.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include <arpa/inet.h>

#include <cctype>
#include <charconv>
#include <cstring>

namespace portcullis::auth {

using core::errc;

namespace {

// The first `bytes` bytes of `d` in hex.
std::string to_hex(const sha256_digest& d, std::size_t bytes)
{
    return core::hex_encode(std::span<const unsigned char>(d.data(), bytes));
}

// Deterministic access-token id from its refresh token id: presenting a just-rotated
// token inside REFRESH_REUSE_INTERVAL then yields byte-identical tokens.
std::string access_jti(const hmac_key& key, std::string_view refresh_jti)
{
    return to_hex(key.mac({"access-jti:", refresh_jti}), 16);
}

// Only access tokens are for other services: refresh and reset tokens carry no audience.
jwt_settings without_audience(jwt_settings s)
{
    s.audience.clear();
    return s;
}

boost::asio::awaitable<void> async_publish(store::kv::auth_kv* kv, std::string event)
{
    auto deadline = core::steady_clock::now() + std::chrono::seconds(2);
    auto r = co_await kv->async_publish_invalidation(event, deadline);
    if (!r) core::log::warn("invalidation_publish_failed", {{"error", r.error().message()}});
}

}  // namespace

failure validation(std::string field, std::string message)
{
    return failure(errc::validation_failed, {{std::move(field), std::move(message)}});
}

std::string canonical(std::string_view email)
{
    return core::ascii_lower(email);
}

std::optional<std::int64_t> parse_id(std::string_view s)
{
    std::int64_t v = 0;
    if (s.empty() || s.size() > 19) return std::nullopt;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc{} || p != s.data() + s.size() || v <= 0) return std::nullopt;
    return v;
}

std::string ended_session_event(std::string_view session_id)
{
    return "s:" + std::string(session_id);
}

std::string ended_user_event(std::int64_t user_id)
{
    return "u:" + std::to_string(user_id);
}

std::string changed_user_event(std::int64_t user_id)
{
    return "r:" + std::to_string(user_id);
}

key_set::key_set(std::string_view secret_key, jwt_settings settings)
    : jwt(derive_subkey(secret_key, "jwt"), without_audience(settings)),
      otp(derive_subkey(secret_key, "otp")),
      csrf(derive_subkey(secret_key, "csrf")),
      cursor(derive_subkey(secret_key, "cursor")),
      ids(derive_subkey(secret_key, "ids")),
      seal(derive_subkey(secret_key, "seal")),
      mfa_seal(derive_subkey(secret_key, "mfa-totp")),
      recovery(derive_subkey(secret_key, "mfa-recovery"))
{
    access = std::make_shared<key_ring>(std::move(settings),
                                        key_snapshot{{ring_entry{jwt.key(), {}, std::nullopt, true, true}}});
}

std::string limit_network(std::string_view ip)
{
    if (ip.find(':') == std::string_view::npos || ip.size() >= INET6_ADDRSTRLEN) return std::string(ip);
    std::string text(ip.substr(0, ip.find('%')));
    in6_addr a{};
    if (inet_pton(AF_INET6, text.c_str(), &a) != 1) return text;
    static constexpr unsigned char v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    char buf[INET6_ADDRSTRLEN] = {};
    if (std::memcmp(a.s6_addr, v4_mapped, sizeof v4_mapped) == 0) {
        inet_ntop(AF_INET, a.s6_addr + 12, buf, sizeof buf);
        return buf;
    }
    std::memset(a.s6_addr + 8, 0, 8);
    inet_ntop(AF_INET6, &a, buf, sizeof buf);
    return std::string(buf) + "/64";
}

std::string encode_cursor(const hmac_key& key, std::int64_t last_id)
{
    std::string id = std::to_string(last_id);
    std::string text = id + "." + to_hex(key.mac({"cursor:", id}), 8);
    return core::base64url_encode(text);
}

std::optional<std::int64_t> decode_cursor(const hmac_key& key, std::string_view cursor)
{
    std::string text;
    if (cursor.size() > 128 || !core::base64url_decode(cursor, text)) return std::nullopt;
    auto dot = text.find('.');
    if (dot == std::string::npos) return std::nullopt;
    std::string id = text.substr(0, dot);
    std::string expected = to_hex(key.mac({"cursor:", id}), 8);
    std::string given = text.substr(dot + 1);
    if (!otp_digest_equal(given, expected)) return std::nullopt;
    return parse_id(id);
}

std::string flow_context::key_id(std::string_view identifier) const
{
    return to_hex(deps.keys.ids.mac({"id:", identifier}), 16);
}

std::string flow_context::state_id(std::string_view password_hash) const
{
    return to_hex(deps.keys.ids.mac({"state:", password_hash}), 16);
}

std::string flow_context::csrf_for(std::string_view session_id) const
{
    auto mac = deps.keys.csrf.mac({"csrf:", session_id});
    return core::base64url_encode(std::string_view(reinterpret_cast<const char*>(mac.data()), mac.size()));
}

void flow_context::record(std::string type, std::optional<std::int64_t> user_id, const request_meta& meta,
                          std::string session_id, std::string reason, std::optional<std::int64_t> actor) const
{
    if (deps.audit == nullptr) return;
    security_event e;
    e.type = std::move(type);
    e.user_id = user_id;
    e.actor_id = actor;
    e.session_id = std::move(session_id);
    e.reason = std::move(reason);
    // Header text as PostgreSQL stores it (one bad byte would lose the whole batch).
    e.meta.ip = storable_text(meta.ip, 64);
    e.meta.user_agent = storable_text(meta.user_agent, 512);
    e.meta.request_id = storable_text(meta.request_id, 128);
    e.at = deps.clock.now();
    deps.audit->record(std::move(e));
}

std::string flow_context::refresh_jti(std::string_view session_id, std::int64_t counter) const
{
    const std::string n = std::to_string(counter);
    return to_hex(deps.keys.ids.mac({"refresh-jti:", session_id, ":", n}), 16);
}

bool flow_context::refresh_id_matches(const claims& refresh) const
{
    if (refresh.ctr < 0) {
        // 8-4-4-4-12 hexadecimal digits.
        const std::string_view j = refresh.jti;
        if (j.size() != 36) return false;
        for (std::size_t i = 0; i < j.size(); ++i) {
            const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
            if (dash != (j[i] == '-') || (!dash && !std::isxdigit(static_cast<unsigned char>(j[i])))) return false;
        }
        return true;
    }
    return otp_digest_equal(refresh.jti, refresh_jti(refresh.sid, refresh.ctr));
}

token_pair flow_context::issue(std::string_view session_id, std::int64_t counter, store::time_point issued_at,
                               std::int64_t user_id, bool otp, bool admin) const
{
    claims refresh;
    refresh.iss = deps.keys.jwt.settings().issuer;
    refresh.sub = std::to_string(user_id);
    refresh.iat = core::to_unix(issued_at);
    refresh.exp = refresh.iat + settings.refresh_lifetime.count();
    refresh.jti = refresh_jti(session_id, counter);
    refresh.sid = std::string(session_id);
    refresh.typ = token_type::refresh;
    refresh.otp = otp;
    refresh.ctr = counter;
    refresh.admin = admin;

    claims access = refresh;
    access.exp = refresh.iat + settings.access_lifetime.count();
    access.jti = access_jti(deps.keys.csrf, refresh.jti);
    access.typ = token_type::access;
    access.ctr = -1;

    token_pair out;
    out.access = deps.keys.access->sign(access, deps.clock.now());
    out.refresh = sign(refresh, deps.keys.jwt);
    out.expires_in = settings.access_lifetime;
    out.session_id = std::string(session_id);
    out.csrf = csrf_for(session_id);
    return out;
}

async_outcome<login_result> flow_context::async_open_session(store::user u, std::string verified_hash, std::string ip,
                                                             std::string user_agent, bool otp, core::deadline d)
{
    store::new_session ns;
    ns.user_id = u.id;
    ns.expires_at = deps.clock.now() + settings.refresh_lifetime;
    ns.user_agent = std::move(user_agent);
    ns.ip = std::move(ip);
    ns.verified_hash = std::move(verified_hash);
    ns.max_live = settings.max_sessions_per_user;
    auto opened = co_await deps.sessions.async_open(ns, d);
    if (!opened) co_return fail<login_result>(opened.error());
    // Sessions ended to stay within max_sessions_per_user.
    if (!opened->ended.empty()) {
        std::vector<std::string> events;
        for (const auto& sid : opened->ended) events.push_back(ended_session_event(sid));
        co_await async_announce(std::move(events), d);
    }
    u.last_login = opened->sess.created_at;
    co_await async_announce_later(changed_user_event(u.id));
    login_result out{issue(opened->sess.id, 0, opened->sess.created_at, u.id, otp, u.admin()), std::move(u),
                     std::nullopt};
    co_return out;
}

std::string flow_context::mfa_challenge_id(std::string_view mfa_token) const
{
    return to_hex(deps.keys.ids.mac({"mfa:", mfa_token}), 16);
}

async_outcome<mfa_challenge> flow_context::async_start_mfa(const store::user& u, std::string_view verified_hash,
                                                           core::deadline d)
{
    std::string token = core::random_token(32);
    // Who passed the password check, and against which hash: a password change or reset
    // before the second step makes the token worthless.
    std::string value = std::to_string(u.id) + ":" + state_id(verified_hash);
    auto put = co_await deps.kv.async_put_mfa_challenge(mfa_challenge_id(token), value, settings.mfa_token_ttl, d);
    if (!put) co_return fail<mfa_challenge>(put.error());
    co_return mfa_challenge{std::move(token), settings.mfa_token_ttl};
}

store::kv::password_guard flow_context::password_guard_for(std::string account, const std::string& ip) const
{
    store::kv::password_guard g;
    g.account = std::move(account);
    g.network = limit_network(ip);
    g.network_limited = !exempt(ip);
    g.pair_max = settings.login_fail_limit;
    g.pair_window = settings.login_fail_window;
    g.network_max = settings.login_ip_limit;
    g.account_max = settings.login_account_limit;
    g.account_free = settings.login_account_free;
    g.account_max_wait = settings.login_account_max_wait;
    g.checks_max = settings.password_check_limit;
    return g;
}

async_outcome<void> flow_context::async_request_allowed(store::kv::request_kind kind, const std::string& ip,
                                                        const std::string& email, core::deadline d)
{
    store::kv::request_limits l;
    if (!exempt(ip)) l.network = limit_network(ip);
    l.network_max = settings.request_ip_limit;
    if (!email.empty()) l.address = key_id(canonical(email));
    l.address_max = settings.address_limit;
    auto allowed = co_await deps.kv.async_request(kind, l, d);
    if (!allowed) co_return fail<void>(allowed.error());
    if (!allowed->allowed) co_return limited<void>(allowed->retry_after_s);
    co_return outcome<void>{};
}

async_outcome<verify_result> flow_context::async_check_password(const store::kv::password_guard& g,
                                                                std::string password, std::string stored,
                                                                core::deadline d)
{
    auto allowed = co_await deps.kv.async_password_attempt(g, d);
    if (!allowed) co_return fail<verify_result>(allowed.error());
    if (!allowed->allowed) co_return limited<verify_result>(allowed->retry_after_s);
    if (stored.empty()) {
        // The same hashing work as a real check, so timing reveals no accounts.
        auto dummy = co_await deps.hashes.async_verify_dummy(std::move(password));
        if (!dummy) co_return fail<verify_result>(dummy.error());
        co_return verify_result{};
    }
    auto v = co_await deps.hashes.async_verify(std::move(password), std::move(stored));
    if (!v) co_return fail<verify_result>(v.error());
    if (v->ok) {
        auto success = co_await deps.kv.async_password_success(g, d);
        if (!success) core::log::warn("password_success_not_recorded", {{"error", success.error().message()}});
    }
    co_return *v;
}

async_outcome<store::user> flow_context::async_load_user(std::int64_t id, core::errc missing, core::deadline d)
{
    auto now = core::steady_clock::now();
    if (const store::user* cached = deps.cache.find_user(id, now)) co_return *cached;
    // A change broadcast while the row is read must not be undone by caching it.
    auto generation = deps.cache.generation();
    auto found = co_await deps.users.async_find_by_id(id, d);
    if (!found) co_return fail<store::user>(found.error());
    if (!*found || !(*found)->is_active) co_return fail<store::user>(missing);
    deps.cache.put_user(**found, now, generation);
    co_return std::move(**found);
}

async_outcome<store::user> flow_context::async_find_active(std::int64_t id, core::errc missing, core::deadline d)
{
    auto found = co_await deps.users.async_find_by_id(id, d);
    if (!found) co_return fail<store::user>(found.error());
    if (!*found || !(*found)->is_active) co_return fail<store::user>(missing);
    co_return std::move(**found);
}

boost::asio::awaitable<void> flow_context::async_announce(std::vector<std::string> events, core::deadline d)
{
    for (const auto& e : events) {
        deps.sink.broadcast(e);
        auto pub = co_await deps.kv.async_publish_invalidation(e, d);
        if (!pub) core::log::warn("invalidation_publish_failed", {{"error", pub.error().message()}});
    }
}

boost::asio::awaitable<void> flow_context::async_announce(std::string event, core::deadline d)
{
    std::vector<std::string> events;
    events.push_back(std::move(event));
    co_await async_announce(std::move(events), d);
}

boost::asio::awaitable<void> flow_context::async_announce_later(std::string event)
{
    deps.sink.broadcast(event);
    auto ex = co_await boost::asio::this_coro::executor;
    boost::asio::co_spawn(ex, async_publish(&deps.kv, std::move(event)), core::log_escape{"invalidation_publish"});
}

async_outcome<void> flow_context::async_end_sessions(std::int64_t user_id, std::optional<std::string> except,
                                                     std::string_view reason, core::deadline d)
{
    std::optional<std::string_view> keep;
    if (except) keep = *except;
    auto revoked = co_await deps.sessions.async_revoke_all(user_id, keep, reason, d);
    if (!revoked) co_return fail<void>(revoked.error());
    // One user event ends every cached session of the user on every instance; when a
    // session is kept, the others end one by one and the user's row is dropped (the kept
    // session is cached again on its next request).
    std::vector<std::string> events;
    if (except) {
        for (const auto& sid : *revoked) events.push_back(ended_session_event(sid));
    }
    events.push_back(ended_user_event(user_id));
    co_await async_announce(std::move(events), d);
    co_return outcome<void>{};
}

async_outcome<void> flow_context::async_enqueue_mail(std::string_view tmpl, const std::string& to,
                                                     std::string values_json, core::deadline d)
{
    boost::json::object args;
    args["template"] = tmpl;
    args["to"] = to;
    args["values"] = values_json;
    std::string payload = boost::json::serialize(args);
    // Retries at most a minute apart for about ten minutes (a code's lifetime): an SMTP
    // outage of that length loses nothing, and delivery resumes within a minute of its end.
    jobs::enqueue_options opts;
    opts.max_retries = 20;
    opts.backoff_cap = std::chrono::seconds(60);
    auto id = co_await deps.jobs.async_enqueue("send_email", payload, opts, d);
    if (!id) co_return fail<void>(id.error());
    co_return outcome<void>{};
}

async_outcome<void> flow_context::async_send_code(const store::user& u, otp_purpose purpose, std::string_view tmpl,
                                                  core::deadline d)
{
    std::string code = generate_otp();
    std::string key = canonical(u.email);
    std::string digest = otp_digest(deps.keys.otp, purpose, key, code, state_id(u.password_hash));
    auto put = co_await deps.kv.async_put_otp(to_string(purpose), key, digest, settings.otp_ttl, d);
    if (!put) co_return fail<void>(put.error());
    // The code travels to the worker sealed: Redis never holds it in plain text.
    boost::json::object values;
    values["code_sealed"] = seal(deps.keys.seal, code);
    values["username"] = u.username;
    values["full_name"] = u.full_name;
    values["minutes"] = settings.otp_ttl.count() / 60;
    co_return co_await async_enqueue_mail(tmpl, u.email, boost::json::serialize(values), d);
}

async_outcome<std::string> flow_context::async_check_code(otp_purpose purpose, const std::string& email,
                                                          const std::string& otp, std::string_view binding,
                                                          const std::string& ip, core::deadline d)
{
    if (!is_otp_syntax(otp)) co_return fail<std::string>(errc::invalid_otp);
    std::string key = canonical(email);
    // No account: a digest that no stored code can match (the check still counts).
    std::string digest =
        otp_digest(deps.keys.otp, purpose, key, otp, binding.empty() ? std::string_view("-") : binding);
    store::kv::otp_limits limits;
    limits.max_attempts = settings.max_otp_attempts;
    limits.max_failures_per_hour = settings.otp_max_failures_per_hour;
    if (!exempt(ip)) limits.network = limit_network(ip);
    limits.network_max_per_hour = settings.otp_ip_limit;
    auto r = co_await deps.kv.async_check_otp(to_string(purpose), key, digest, limits, d);
    if (!r) co_return fail<std::string>(r.error());
    switch (r->outcome) {
    case store::kv::otp_outcome::accepted:
        co_return std::string(email);
    case store::kv::otp_outcome::wrong: {
        failure f(errc::invalid_otp);
        if (purpose == otp_purpose::verify_email) {
            f.details.emplace_back("otp", "Wrong code; " + std::to_string(r->attempts_left) + " attempts left.");
        }
        co_return outcome<std::string>(boost::system::in_place_error, std::move(f));
    }
    case store::kv::otp_outcome::missing:
    case store::kv::otp_outcome::exhausted:
        // A reset code that is wrong and one that was never sent answer alike, so the
        // answer does not tell whether someone asked to reset the address's password.
        if (purpose == otp_purpose::reset_password) co_return fail<std::string>(errc::invalid_otp);
        co_return fail<std::string>(errc::otp_expired);
    case store::kv::otp_outcome::locked:
        co_return limited<std::string>(r->retry_after_s);
    }
    co_return fail<std::string>(errc::invalid_otp);
}

}  // namespace portcullis::auth
