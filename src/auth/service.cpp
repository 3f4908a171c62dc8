#include "auth/service.hpp"

#include "auth/crypto.hpp"
#include "auth/otp.hpp"
#include "auth/sealed.hpp"
#include "auth/validation.hpp"
#include "core/log.hpp"
#include "core/spawn.hpp"
#include "jobs/queue.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cstring>

namespace portcullis::auth {

using core::errc;
using steady = std::chrono::steady_clock;

namespace {

constexpr std::string_view purpose_verify = "verify_email";
constexpr std::string_view purpose_reset = "reset_password";

failure validation(std::string field, std::string message)
{
    return failure(errc::validation_failed, {{std::move(field), std::move(message)}});
}

template <class T>
outcome<T> fail(boost::system::error_code ec)
{
    return outcome<T>(boost::system::in_place_error, failure(ec));
}

// 429 rate_limited with Retry-After.
template <class T>
outcome<T> limited(std::int64_t retry_after)
{
    failure f(errc::rate_limited);
    f.retry_after = retry_after;
    return outcome<T>(boost::system::in_place_error, std::move(f));
}

std::string to_hex(const sha256_digest& d, std::size_t bytes)
{
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    for (std::size_t i = 0; i < bytes; ++i) {
        out += digits[d[i] >> 4];
        out += digits[d[i] & 0xf];
    }
    return out;
}

// Addresses are unique case-insensitively: codes, cooldowns and limits key on this form.
std::string canonical(std::string_view email)
{
    std::string out(email);
    for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

std::optional<std::int64_t> parse_id(std::string_view s)
{
    std::int64_t v = 0;
    if (s.empty() || s.size() > 19) return std::nullopt;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc{} || p != s.data() + s.size() || v <= 0) return std::nullopt;
    return v;
}

// Text from request headers (User-Agent) as PostgreSQL can store it: valid UTF-8
// without control characters, at most `max_bytes`, never cut inside a character.
// Anything else becomes '?'.
std::string storable_text(std::string_view in, std::size_t max_bytes)
{
    std::string out;
    std::size_t i = 0;
    while (i < in.size()) {
        auto c = static_cast<unsigned char>(in[i]);
        std::size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
        bool ok = len != 0 && i + len <= in.size();
        std::uint32_t cp = len == 1 ? c : len == 2 ? (c & 0x1f) : len == 3 ? (c & 0x0f) : (c & 0x07);
        for (std::size_t k = 1; ok && k < len; ++k) {
            auto cc = static_cast<unsigned char>(in[i + k]);
            ok = (cc & 0xc0) == 0x80;
            cp = (cp << 6) | (cc & 0x3f);
        }
        // Overlong forms, surrogates and values past U+10FFFF are not UTF-8 either.
        if (ok && len > 1) {
            static constexpr std::uint32_t min_cp[] = {0, 0, 0x80, 0x800, 0x10000};
            ok = cp >= min_cp[len] && cp <= 0x10ffff && !(cp >= 0xd800 && cp <= 0xdfff);
        }
        if (ok && len == 1 && (c < 0x20 || c == 0x7f)) ok = false;
        std::size_t take = ok ? len : 1;
        if (out.size() + (ok ? len : 1) > max_bytes) break;
        if (ok)
            out.append(in.substr(i, len));
        else
            out += '?';
        i += take;
    }
    return out;
}

// Control characters (C0, DEL, C1) have no place in a name that mails quote.
bool has_control(std::string_view s)
{
    for (std::size_t i = 0; i < s.size(); ++i) {
        auto c = static_cast<unsigned char>(s[i]);
        if (c < 0x20 || c == 0x7f) return true;
        if (c == 0xc2 && i + 1 < s.size() && static_cast<unsigned char>(s[i + 1]) < 0xa0) return true;
    }
    return false;
}

constexpr std::string_view control_message = "Control characters (such as line breaks) are not allowed.";

// Length in characters, as Django counts max_length (input is valid UTF-8 JSON text).
std::size_t char_count(std::string_view s)
{
    std::size_t n = 0;
    for (char c : s) n += (static_cast<unsigned char>(c) & 0xc0) != 0x80;
    return n;
}

// Deterministic access-token id from its refresh token id: presenting a just-rotated
// token inside REFRESH_REUSE_INTERVAL then yields byte-identical tokens.
std::string access_jti(const hmac_key& key, std::string_view refresh_jti)
{
    return to_hex(key.mac({"access-jti:", refresh_jti}), 16);
}

// Sessions' last_used_at is written back at most once per touch interval, off the
// request path. The repository outlives the thread's coroutines.
boost::asio::awaitable<void> async_touch_session(store::session_repository* sessions, std::string sid)
{
    auto deadline = steady::now() + std::chrono::seconds(5);
    auto r = co_await sessions->async_touch(sid, deadline);
    if (!r) core::log::debug("session_touch_failed", {{"error", r.error().message()}});
}

// Only access tokens are for other services: refresh and reset tokens carry no audience.
jwt_settings without_audience(jwt_settings s)
{
    s.audience.clear();
    return s;
}

}  // namespace

key_set::key_set(std::string_view secret_key, jwt_settings settings)
    : jwt(derive_subkey(secret_key, "jwt"), without_audience(settings)),
      otp(derive_subkey(secret_key, "otp")),
      csrf(derive_subkey(secret_key, "csrf")),
      cursor(derive_subkey(secret_key, "cursor")),
      ids(derive_subkey(secret_key, "ids")),
      seal(derive_subkey(secret_key, "seal"))
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
    return base64url_encode(text);
}

std::optional<std::int64_t> decode_cursor(const hmac_key& key, std::string_view cursor)
{
    std::string text;
    if (cursor.size() > 128 || !base64url_decode(cursor, text)) return std::nullopt;
    auto dot = text.find('.');
    if (dot == std::string::npos) return std::nullopt;
    std::string id = text.substr(0, dot);
    std::string expected = to_hex(key.mac({"cursor:", id}), 8);
    std::string given = text.substr(dot + 1);
    if (!otp_digest_equal(given, expected)) return std::nullopt;
    return parse_id(id);
}

service::service(deps d, auth_settings settings) : d_(d), settings_(std::move(settings)) {}

std::string service::key_id(std::string_view identifier) const
{
    return to_hex(d_.keys.ids.mac({"id:", identifier}), 16);
}

std::string service::state_id(std::string_view password_hash) const
{
    return to_hex(d_.keys.ids.mac({"state:", password_hash}), 16);
}

store::kv::password_guard service::password_guard_for(std::string account, const std::string& ip) const
{
    store::kv::password_guard g;
    g.account = std::move(account);
    g.network = limit_network(ip);
    g.network_limited = !exempt(ip);
    g.pair_max = settings_.login_fail_limit;
    g.pair_window = settings_.login_fail_window;
    g.network_max = settings_.login_ip_limit;
    g.account_max = settings_.login_account_limit;
    g.account_free = settings_.login_account_free;
    g.account_max_wait = settings_.login_account_max_wait;
    g.checks_max = settings_.password_check_limit;
    return g;
}

boost::asio::awaitable<void> service::async_forget_sessions(const std::vector<std::string>& ids, core::deadline d)
{
    for (const auto& sid : ids) {
        std::string event = "s:" + sid;
        d_.sink.broadcast(event);
        auto pub = co_await d_.kv.async_publish_invalidation(event, d);
        if (!pub) core::log::warn("invalidation_publish_failed", {{"error", pub.error().message()}});
    }
}

std::string service::csrf_for(std::string_view session_id) const
{
    auto mac = d_.keys.csrf.mac({"csrf:", session_id});
    return base64url_encode(std::string_view(reinterpret_cast<const char*>(mac.data()), mac.size()));
}

bool service::csrf_mismatch(std::string_view refresh, std::string_view csrf) const
{
    auto cl = verify(refresh, d_.keys.jwt, token_type::refresh, d_.clock.now());
    if (!cl) return false;
    return !otp_digest_equal(csrf, csrf_for(cl->sid));
}

token_pair service::issue(const store::refresh_token& rt, std::int64_t user_id) const
{
    claims refresh;
    refresh.iss = d_.keys.jwt.settings().issuer;
    refresh.sub = std::to_string(user_id);
    refresh.iat = core::to_unix(rt.issued_at);
    refresh.exp = core::to_unix(rt.expires_at);
    refresh.jti = rt.jti;
    refresh.sid = rt.session_id;
    refresh.typ = token_type::refresh;

    claims access = refresh;
    access.exp = refresh.iat + settings_.access_lifetime.count();
    access.jti = access_jti(d_.keys.csrf, rt.jti);
    access.typ = token_type::access;

    token_pair out;
    out.access = d_.keys.access->sign(access, d_.clock.now());
    out.refresh = sign(refresh, d_.keys.jwt);
    out.expires_in = settings_.access_lifetime;
    out.session_id = rt.session_id;
    out.csrf = csrf_for(rt.session_id);
    return out;
}

namespace {
boost::asio::awaitable<void> async_publish(store::kv::auth_kv* kv, std::string event)
{
    auto deadline = steady::now() + std::chrono::seconds(2);
    auto r = co_await kv->async_publish_invalidation(event, deadline);
    if (!r) core::log::warn("invalidation_publish_failed", {{"error", r.error().message()}});
}
}  // namespace

boost::asio::awaitable<void> service::async_invalidate(std::string event)
{
    d_.sink.broadcast(event);
    auto ex = co_await boost::asio::this_coro::executor;
    boost::asio::co_spawn(ex, async_publish(&d_.kv, std::move(event)), core::log_escape{"invalidation_publish"});
}

async_outcome<void> service::async_end_sessions(std::int64_t user_id, std::optional<std::string> except,
                                                std::string_view reason, core::deadline d)
{
    std::optional<std::string_view> keep;
    if (except) keep = *except;
    auto revoked = co_await d_.sessions.async_revoke_all(user_id, keep, reason, d);
    if (!revoked) co_return fail<void>(revoked.error());
    // One user event ends every cached session of the user on every instance; when a
    // session is kept, end the others one by one instead.
    std::vector<std::string> events;
    if (except) {
        for (const auto& sid : *revoked) events.push_back("s:" + sid);
        events.push_back("u:" + std::to_string(user_id));
        // Re-cache of the kept session happens on its next request.
    } else {
        events.push_back("u:" + std::to_string(user_id));
    }
    for (const auto& e : events) {
        d_.sink.broadcast(e);
        auto pub = co_await d_.kv.async_publish_invalidation(e, d);
        if (!pub) core::log::warn("invalidation_publish_failed", {{"error", pub.error().message()}});
    }
    co_return outcome<void>{};
}

async_outcome<store::user> service::async_load_user(std::int64_t id, core::deadline d)
{
    auto now = steady::now();
    if (const store::user* cached = d_.cache.find_user(id, now)) co_return *cached;
    // A change broadcast while the row is read must not be undone by caching it.
    auto generation = d_.cache.generation();
    auto found = co_await d_.users.async_find_by_id(id, d);
    if (!found) co_return fail<store::user>(found.error());
    if (!*found || !(*found)->is_active) co_return fail<store::user>(make_error_code(errc::token_revoked));
    d_.cache.put_user(**found, now, generation);
    co_return std::move(**found);
}

async_outcome<principal> service::async_authenticate(credentials c, core::deadline d)
{
    std::string_view token = c.bearer;
    bool via_cookie = false;
    if (token.empty() && !c.access_cookie.empty()) {
        token = c.access_cookie;
        via_cookie = true;
    }
    if (token.empty()) co_return fail<principal>(make_error_code(errc::not_authenticated));
    auto cl = d_.keys.access->verify(token, token_type::access, d_.clock.now());
    if (!cl) co_return fail<principal>(cl.error());
    auto uid = parse_id(cl->sub);
    if (!uid || cl->sid.empty()) co_return fail<principal>(make_error_code(errc::invalid_token));
    if (via_cookie && c.unsafe_method) {
        std::string expected = csrf_for(cl->sid);
        if (c.csrf_header.empty() || !otp_digest_equal(c.csrf_header, c.csrf_cookie) ||
            !otp_digest_equal(c.csrf_header, expected)) {
            co_return fail<principal>(make_error_code(errc::csrf_failed));
        }
    }

    auto now = steady::now();
    if (auto* e = d_.cache.find_session(cl->sid, now)) {
        if (e->user_id != *uid || e->expires_at <= d_.clock.now()) {
            co_return fail<principal>(make_error_code(errc::token_revoked));
        }
        if (now - e->touched_at > d_.cache.settings().touch_interval) {
            e->touched_at = now;
            auto ex = co_await boost::asio::this_coro::executor;
            boost::asio::co_spawn(ex, async_touch_session(&d_.sessions, cl->sid), core::log_escape{"session_touch"});
        }
        co_return principal{*uid, std::move(cl->sid), via_cookie};
    }
    // A revocation broadcast while the row is read must not be undone by caching it.
    auto generation = d_.cache.generation();
    auto s = co_await d_.sessions.async_find(cl->sid, d);
    if (!s) co_return fail<principal>(s.error());
    if (!*s || (*s)->user_id != *uid || !(*s)->live(d_.clock.now())) {
        co_return fail<principal>(make_error_code(errc::token_revoked));
    }
    d_.cache.put_session(cl->sid, *uid, (*s)->expires_at, now, generation);
    if (d_.clock.now() - (*s)->last_used_at > d_.cache.settings().touch_interval) {
        auto ex = co_await boost::asio::this_coro::executor;
        boost::asio::co_spawn(ex, async_touch_session(&d_.sessions, cl->sid), core::log_escape{"session_touch"});
    }
    co_return principal{*uid, std::move(cl->sid), via_cookie};
}

std::vector<store::kv::limit> service::request_limits(std::string_view kind, const std::string& ip,
                                                      const std::string& email) const
{
    std::vector<store::kv::limit> limits;
    if (!exempt(ip)) {
        limits.push_back({"rl:" + std::string(kind) + ":ip:" + limit_network(ip), settings_.request_ip_limit,
                          std::chrono::hours(1)});
    }
    if (!email.empty()) {
        limits.push_back({"rl:" + std::string(kind) + ":addr:" + key_id(canonical(email)), settings_.address_limit,
                          std::chrono::hours(1)});
    }
    return limits;
}

async_outcome<void> service::async_check_address(const std::string& email, core::deadline d)
{
    if (d_.checker == nullptr) co_return outcome<void>{};
    auto ok = co_await d_.checker->async_check(email, d);
    if (!ok) {
        if (d_.checker->fail_open()) {
            core::log::warn("email_check_unavailable", {{"error", ok.error().message()}});
            co_return outcome<void>{};
        }
        co_return fail<void>(ok.error());
    }
    if (!ok->accepted) co_return validation("email", ok->reason);
    co_return outcome<void>{};
}

async_outcome<void> service::async_enqueue_mail(std::string_view tmpl, const std::string& to, std::string values_json,
                                                core::deadline d)
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
    auto id = co_await d_.jobs.async_enqueue("send_email", payload, opts, d);
    if (!id) co_return fail<void>(id.error());
    co_return outcome<void>{};
}

async_outcome<void> service::async_send_code(const store::user& u, std::string_view purpose, std::string_view tmpl,
                                             core::deadline d)
{
    std::string code = generate_otp();
    otp_purpose p = purpose == purpose_verify ? otp_purpose::verify_email : otp_purpose::reset_password;
    std::string key = canonical(u.email);
    std::string digest = otp_digest(d_.keys.otp, p, key, code, state_id(u.password_hash));
    auto put = co_await d_.kv.async_put_otp(purpose, key, digest, settings_.otp_ttl, d);
    if (!put) co_return fail<void>(put.error());
    // The code travels to the worker sealed: Redis never holds it in plain text.
    boost::json::object values;
    values["code_sealed"] = seal(d_.keys.seal, code);
    values["username"] = u.username;
    values["full_name"] = u.full_name;
    values["minutes"] = settings_.otp_ttl.count() / 60;
    co_return co_await async_enqueue_mail(tmpl, u.email, boost::json::serialize(values), d);
}

async_outcome<std::string> service::async_check_code(std::string_view purpose, const std::string& email,
                                                     const std::string& otp, std::string_view binding,
                                                     const std::string& ip, core::deadline d)
{
    if (!is_otp_syntax(otp)) co_return fail<std::string>(make_error_code(errc::invalid_otp));
    otp_purpose p = purpose == purpose_verify ? otp_purpose::verify_email : otp_purpose::reset_password;
    std::string key = canonical(email);
    // No account: a digest that no stored code can match (the check still counts).
    std::string digest = otp_digest(d_.keys.otp, p, key, otp, binding.empty() ? std::string_view("-") : binding);
    store::kv::otp_limits limits;
    limits.max_attempts = settings_.max_otp_attempts;
    limits.max_failures_per_hour = settings_.otp_max_failures_per_hour;
    if (!exempt(ip)) limits.network_key = "rl:otp:ip:" + limit_network(ip);
    limits.network_max_per_hour = settings_.otp_ip_limit;
    auto r = co_await d_.kv.async_check_otp(purpose, key, digest, limits, d);
    if (!r) co_return fail<std::string>(r.error());
    switch (r->outcome) {
    case store::kv::otp_outcome::accepted:
        co_return std::string(email);
    case store::kv::otp_outcome::wrong: {
        failure f(errc::invalid_otp);
        if (p == otp_purpose::verify_email) {
            f.details.emplace_back("otp", "Wrong code; " + std::to_string(r->attempts_left) + " attempts left.");
        }
        co_return outcome<std::string>(boost::system::in_place_error, std::move(f));
    }
    case store::kv::otp_outcome::missing:
    case store::kv::otp_outcome::exhausted:
        // A reset code that is wrong and one that was never sent answer alike, so the
        // answer does not tell whether someone asked to reset the address's password.
        if (p == otp_purpose::reset_password) co_return fail<std::string>(make_error_code(errc::invalid_otp));
        co_return fail<std::string>(make_error_code(errc::otp_expired));
    case store::kv::otp_outcome::locked: {
        co_return limited<std::string>(r->retry_after_s);
    }
    }
    co_return fail<std::string>(make_error_code(errc::invalid_otp));
}

async_outcome<store::user> service::async_register(register_input in, core::deadline d)
{
    std::vector<std::pair<std::string, std::string>> details;
    auto email = normalize_email(in.email);
    if (!email.ok()) details.emplace_back("email", email.error);
    auto username = normalize_username(in.username);
    if (!username.ok()) details.emplace_back("username", username.error);
    // Sizes first: a value over its limit never reaches the similarity check.
    bool sized = true;
    if (char_count(in.full_name) > 150) {
        details.emplace_back("full_name", "Ensure this field has no more than 150 characters.");
        sized = false;
    } else if (has_control(in.full_name)) {
        details.emplace_back("full_name", std::string(control_message));
    }
    if (char_count(in.phone_number) > 32) {
        details.emplace_back("phone_number", "Enter a valid phone number.");
        sized = false;
    }
    if (sized) {
        user_attributes attrs{username.value, email.value, in.full_name};
        for (auto& [field, msg] : d_.policy.validate(in.password, attrs)) details.emplace_back(field, msg);
    }
    if (!details.empty()) co_return failure(errc::validation_failed, std::move(details));
    // No hash slot free: answer 503 at once, before any I/O.
    if (d_.hashes.saturated()) co_return fail<store::user>(make_error_code(errc::overloaded));

    auto limits = request_limits("register", in.ip, email.value);
    auto allowed = co_await d_.kv.async_hit(limits, d);
    if (!allowed) co_return fail<store::user>(allowed.error());
    if (!allowed->allowed) {
        co_return limited<store::user>(allowed->retry_after_s);
    }

    // A verified owner of the address: refuse before spending a hash.
    auto existing = co_await d_.users.async_find_by_email(email.value, d);
    if (!existing) co_return fail<store::user>(existing.error());
    if (*existing && (*existing)->verified()) co_return fail<store::user>(make_error_code(errc::email_taken));

    auto checked = co_await async_check_address(email.value, d);
    if (!checked) co_return outcome<store::user>(boost::system::in_place_error, checked.error());

    auto hash = co_await d_.hashes.async_hash(in.password);
    if (!hash) co_return fail<store::user>(hash.error());

    store::new_user nu{email.value, username.value, std::move(*hash), in.full_name, in.phone_number};
    auto created = co_await d_.users.async_create_pending(nu, d);
    if (!created) co_return fail<store::user>(created.error());

    auto sent = co_await async_send_code(*created, purpose_verify, "verify_email", d);
    if (!sent) co_return outcome<store::user>(boost::system::in_place_error, sent.error());
    // The resend cooldown starts with the first code.
    auto cd = co_await d_.kv.async_cooldown("cooldown:verify_email:" + canonical(email.value),
                                            settings_.otp_resend_cooldown, d);
    (void)cd;
    co_return std::move(*created);
}

async_outcome<store::user> service::async_verify_email(std::string email_in, std::string otp, std::string ip,
                                                       core::deadline d)
{
    auto email = normalize_email(email_in);
    if (!email.ok()) co_return validation("email", email.error);
    auto existing = co_await d_.users.async_find_by_email(email.value, d);
    if (!existing) co_return fail<store::user>(existing.error());
    // The code is checked (and a failure counted for the client's network) before the
    // answer can tell a verified address: that answer is throttled like a guess.
    std::string binding = *existing ? state_id((*existing)->password_hash) : std::string();
    auto ok = co_await async_check_code(purpose_verify, email.value, otp, binding, ip, d);
    if (*existing && (*existing)->verified()) {
        if (!ok && ok.error().code == errc::rate_limited) {
            co_return outcome<store::user>(boost::system::in_place_error, ok.error());
        }
        co_return fail<store::user>(make_error_code(errc::already_verified));
    }
    if (!ok) co_return outcome<store::user>(boost::system::in_place_error, ok.error());
    if (!*existing) co_return fail<store::user>(make_error_code(errc::otp_expired));

    // Only the registration the code was sent for: a replacement since then stays pending.
    auto act = co_await d_.users.async_activate((*existing)->id, (*existing)->password_hash, d);
    if (!act && act.error() == errc::not_found) co_return fail<store::user>(make_error_code(errc::otp_expired));
    if (!act) co_return fail<store::user>(act.error());
    co_await async_invalidate("r:" + std::to_string(act->account.id));
    co_return std::move(act->account);
}

async_outcome<void> service::async_resend_otp(std::string email_in, std::string ip, core::deadline d)
{
    auto email = normalize_email(email_in);
    if (!email.ok()) co_return validation("email", email.error);
    // The cooldown runs for every address, known or not, so answers reveal nothing.
    auto left = co_await d_.kv.async_cooldown("cooldown:verify_email:" + canonical(email.value),
                                              settings_.otp_resend_cooldown, d);
    if (!left) co_return fail<void>(left.error());
    if (*left > 0) {
        co_return limited<void>(*left);
    }
    auto limits = request_limits("resend", ip, email.value);
    auto allowed = co_await d_.kv.async_hit(limits, d);
    if (!allowed) co_return fail<void>(allowed.error());
    if (!allowed->allowed) {
        co_return limited<void>(allowed->retry_after_s);
    }
    auto existing = co_await d_.users.async_find_by_email(email.value, d);
    if (!existing) co_return fail<void>(existing.error());
    if (!*existing || (*existing)->verified()) co_return outcome<void>{};
    co_return co_await async_send_code(**existing, purpose_verify, "verify_email", d);
}

async_outcome<login_result> service::async_login(login_input in, core::deadline d)
{
    // No hash slot free: answer 503 at once, before any I/O.
    if (d_.hashes.saturated()) co_return fail<login_result>(make_error_code(errc::overloaded));
    std::string ident = in.identifier;
    while (!ident.empty() && ident.front() == ' ') ident.erase(0, 1);
    while (!ident.empty() && ident.back() == ' ') ident.pop_back();
    // No account has a longer identifier (an address is at most 254 characters, a
    // username 150): refused before any I/O, so it never reaches a key or the pool.
    if (ident.size() > 4 * 254 || char_count(ident) > 254) {
        co_return fail<login_result>(make_error_code(errc::invalid_credentials));
    }
    if (ident.find('@') != std::string::npos) {
        auto e = normalize_email(ident);
        if (e.ok()) ident = e.value;
    }

    auto found = co_await d_.users.async_find_by_login(ident, d);
    if (!found) co_return fail<login_result>(found.error());
    // A deactivated account is as unknown as a missing one.
    bool known = *found && ((*found)->is_active || !(*found)->verified());
    // Limits are per account (whichever identifier names it), or per identifier for
    // unknown ones; the attempt is counted before the check, atomically with the limits.
    std::string account = known ? "u" + std::to_string((*found)->id) : "i" + key_id(canonical(ident));
    auto guard = password_guard_for(std::move(account), in.ip);
    auto allowed = co_await d_.kv.async_password_attempt(guard, d);
    if (!allowed) co_return fail<login_result>(allowed.error());
    if (!allowed->allowed) co_return limited<login_result>(allowed->retry_after_s);

    if (!known) {
        // The same hashing work as a real check, so timing reveals no accounts.
        auto dummy = co_await d_.hashes.async_verify_dummy(in.password);
        if (!dummy) co_return fail<login_result>(dummy.error());
        co_return fail<login_result>(make_error_code(errc::invalid_credentials));
    }
    store::user u = std::move(**found);
    auto v = co_await d_.hashes.async_verify(in.password, u.password_hash);
    if (!v) co_return fail<login_result>(v.error());
    if (!v->ok) co_return fail<login_result>(make_error_code(errc::invalid_credentials));
    auto success = co_await d_.kv.async_password_success(guard, d);
    if (!success) core::log::warn("login_success_not_recorded", {{"error", success.error().message()}});
    if (!u.verified()) co_return fail<login_result>(make_error_code(errc::email_not_verified));

    std::string verified_hash = u.password_hash;
    if (v->needs_rehash) {
        // Imported (Django) or older hashes move to the current parameters; a failure
        // here must not fail the login.
        auto fresh = co_await d_.hashes.async_hash(in.password);
        if (fresh) {
            auto rh = co_await d_.users.async_rehash_password(u.id, u.password_hash, *fresh, d);
            if (!rh) core::log::warn("rehash_failed", {{"user_id", u.id}, {"error", rh.error().message()}});
            if (rh && *rh) verified_hash = std::move(*fresh);
        }
    }

    store::new_session ns;
    ns.user_id = u.id;
    ns.expires_at = d_.clock.now() + settings_.refresh_lifetime;
    ns.user_agent = storable_text(in.user_agent, 512);
    ns.ip = in.ip;
    ns.verified_hash = std::move(verified_hash);
    ns.max_live = settings_.max_sessions_per_user;
    auto opened = co_await d_.sessions.async_open(ns, ns.expires_at, d);
    if (!opened) co_return fail<login_result>(opened.error());
    if (!opened->ended.empty()) co_await async_forget_sessions(opened->ended, d);
    u.last_login = opened->token.issued_at;
    co_await async_invalidate("r:" + std::to_string(u.id));
    login_result out{issue(opened->token, u.id), std::move(u)};
    co_return out;
}

async_outcome<token_pair> service::async_refresh(std::string refresh, core::deadline d)
{
    if (refresh.empty()) co_return validation("refresh", "This field is required.");
    auto cl = verify(refresh, d_.keys.jwt, token_type::refresh, d_.clock.now());
    if (!cl) co_return fail<token_pair>(cl.error());
    auto uid = parse_id(cl->sub);
    if (!uid) co_return fail<token_pair>(make_error_code(errc::invalid_token));

    auto expires = d_.clock.now() + settings_.refresh_lifetime;
    std::string successor = core::random_uuid();
    auto rotated = co_await d_.tokens.async_rotate(cl->jti, successor, expires, d);
    if (!rotated) {
        if (core::is_unavailable(rotated.error())) {
            // The rotation may have committed although its reply never came (a connection
            // lost at that moment, a failover). Its successor then reached nobody: note it,
            // so that the client's retry with this token gets it instead of ending the
            // session as a reuse. The note matters most when the request's time ran out,
            // so it gets a second even then.
            auto ttl = std::chrono::seconds(cl->exp - core::to_unix(d_.clock.now()));
            auto note_by = std::max(d, core::steady_clock::now() + std::chrono::seconds(1));
            auto noted = co_await d_.kv.async_note_unanswered_rotation(cl->jti, successor, ttl, note_by);
            if (!noted) {
                core::log::warn("unanswered_rotation_not_noted",
                                {{"session", cl->sid}, {"error", noted.error().message()}});
            }
        }
        co_return fail<token_pair>(rotated.error());
    }
    if (*rotated) co_return issue(**rotated, *uid);

    auto st = co_await d_.tokens.async_inspect(cl->jti, d);
    if (!st) co_return fail<token_pair>(st.error());
    if (!*st) co_return fail<token_pair>(make_error_code(errc::invalid_token));
    auto now = d_.clock.now();
    switch ((*st)->status(now)) {
    case store::refresh_status::unknown:
        co_return fail<token_pair>(make_error_code(errc::invalid_token));
    case store::refresh_status::expired:
        co_return fail<token_pair>(make_error_code(errc::token_expired));
    case store::refresh_status::revoked:
        co_return fail<token_pair>(make_error_code(errc::token_revoked));
    case store::refresh_status::valid:
        co_return fail<token_pair>(make_error_code(errc::invalid_token));
    case store::refresh_status::used:
        break;
    }
    const auto& state = **st;
    const bool successor_pending = state.successor && !state.successor->used_at && !state.successor->blacklisted_at &&
                                   !state.session_revoked_at && state.session_expires_at > now;
    // Two tabs refreshing at once: inside the grace interval the just-rotated token
    // yields the same successor pair instead of ending the session.
    if (successor_pending && settings_.refresh_reuse_interval.count() > 0 && state.token.used_at &&
        now - *state.token.used_at <= settings_.refresh_reuse_interval) {
        co_return issue(*state.successor, *uid);
    }
    if (successor_pending) {
        // A retry after a rotation whose reply was lost: this server noted that nobody
        // received the successor, so handing it over now is the answer the lost reply
        // carried, not a reuse. Whoever uses the successor first wins; presenting this
        // token after that is a reuse again. When the note cannot be read, 503: the
        // client retries, and nothing ends on a guess.
        auto noted = co_await d_.kv.async_unanswered_rotation(cl->jti, d);
        if (!noted) co_return fail<token_pair>(noted.error());
        if (*noted && **noted == state.successor->jti) co_return issue(*state.successor, *uid);
    }
    auto revoked = co_await d_.sessions.async_revoke_by_id(state.token.session_id, "refresh_reuse", d);
    if (!revoked) co_return fail<token_pair>(revoked.error());
    std::string event = "s:" + state.token.session_id;
    d_.sink.broadcast(event);
    auto pub = co_await d_.kv.async_publish_invalidation(event, d);
    if (!pub) core::log::warn("invalidation_publish_failed", {{"error", pub.error().message()}});
    core::log::warn("refresh_token_reused", {{"session", state.token.session_id}, {"user_id", *uid}});
    co_return fail<token_pair>(make_error_code(errc::token_reused));
}

async_outcome<void> service::async_logout(std::string refresh, std::optional<principal> caller, core::deadline d)
{
    if (refresh.empty()) co_return validation("refresh", "This field is required.");
    auto cl = verify(refresh, d_.keys.jwt, token_type::refresh, d_.clock.now());
    if (!cl) co_return fail<void>(cl.error());
    if (caller && std::to_string(caller->user_id) != cl->sub) co_return fail<void>(make_error_code(errc::forbidden));
    auto sid = co_await d_.tokens.async_blacklist(cl->jti, "logout", d);
    if (!sid) co_return fail<void>(sid.error());
    if (!*sid) co_return fail<void>(make_error_code(errc::invalid_token));
    std::string event = "s:" + **sid;
    d_.sink.broadcast(event);
    auto pub = co_await d_.kv.async_publish_invalidation(event, d);
    if (!pub) core::log::warn("invalidation_publish_failed", {{"error", pub.error().message()}});
    co_return outcome<void>{};
}

async_outcome<void> service::async_logout_all(principal p, core::deadline d)
{
    co_return co_await async_end_sessions(p.user_id, std::nullopt, "logout_all", d);
}

async_outcome<session_view> service::async_current_session(principal p, core::deadline d)
{
    auto u = co_await async_load_user(p.user_id, d);
    if (!u) co_return outcome<session_view>(boost::system::in_place_error, u.error());
    auto s = co_await d_.sessions.async_find(p.session_id, d);
    if (!s) co_return fail<session_view>(s.error());
    if (!*s) co_return fail<session_view>(make_error_code(errc::token_revoked));
    session_view out{std::move(*u), std::move(**s)};
    co_return out;
}

async_outcome<std::vector<store::session>> service::async_list_sessions(principal p, core::deadline d)
{
    auto list = co_await d_.sessions.async_list_live(p.user_id, 100, d);
    if (!list) co_return fail<std::vector<store::session>>(list.error());
    co_return std::move(*list);
}

async_outcome<void> service::async_end_session(principal p, std::string session_id, core::deadline d)
{
    auto ok = co_await d_.sessions.async_revoke(session_id, p.user_id, "ended_by_user", d);
    if (!ok) co_return fail<void>(ok.error());
    if (!*ok) co_return fail<void>(make_error_code(errc::not_found));
    std::string event = "s:" + session_id;
    d_.sink.broadcast(event);
    auto pub = co_await d_.kv.async_publish_invalidation(event, d);
    if (!pub) core::log::warn("invalidation_publish_failed", {{"error", pub.error().message()}});
    co_return outcome<void>{};
}

async_outcome<void> service::async_apply_new_password(const store::user& u, std::string hash,
                                                      std::optional<std::string> keep_session, std::string_view reason,
                                                      core::deadline d)
{
    auto set = co_await d_.users.async_set_password(u.id, hash, d);
    if (!set) co_return fail<void>(set.error());
    auto ended = co_await async_end_sessions(u.id, std::move(keep_session), reason, d);
    if (!ended) co_return ended;
    // The notice is a courtesy: the password has changed whether or not it can be queued.
    boost::json::object values;
    values["username"] = u.username;
    values["full_name"] = u.full_name;
    values["time"] = core::format_rfc3339(d_.clock.now());
    auto mail = co_await async_enqueue_mail("password_changed", u.email, boost::json::serialize(values), d);
    if (!mail) core::log::warn("password_changed_notice_not_queued", {{"user_id", u.id}});
    co_return outcome<void>{};
}

async_outcome<void> service::async_change_password(principal p, std::string old_password, std::string new_password,
                                                   std::string confirm, std::string ip, core::deadline d)
{
    auto found = co_await d_.users.async_find_by_id(p.user_id, d);
    if (!found) co_return fail<void>(found.error());
    if (!*found || !(*found)->is_active) co_return fail<void>(make_error_code(errc::token_revoked));
    const store::user& u = **found;
    if (new_password != confirm) {
        co_return failure(errc::password_mismatch, {{"confirm_password", "The two password fields didn't match."}});
    }
    user_attributes attrs{u.username, u.email, u.full_name};
    auto problems = d_.policy.validate(new_password, attrs, "new_password");
    if (!problems.empty()) {
        std::vector<std::pair<std::string, std::string>> details(problems.begin(), problems.end());
        co_return failure(errc::validation_failed, std::move(details));
    }
    // The current password is guessed no faster here than at login.
    auto guard = password_guard_for("u" + std::to_string(u.id), ip);
    auto allowed = co_await d_.kv.async_password_attempt(guard, d);
    if (!allowed) co_return fail<void>(allowed.error());
    if (!allowed->allowed) co_return limited<void>(allowed->retry_after_s);
    auto v = co_await d_.hashes.async_verify(old_password, u.password_hash);
    if (!v) co_return fail<void>(v.error());
    if (!v->ok) co_return validation("old_password", "Your old password was entered incorrectly.");
    auto success = co_await d_.kv.async_password_success(guard, d);
    if (!success) core::log::warn("password_success_not_recorded", {{"error", success.error().message()}});
    auto hash = co_await d_.hashes.async_hash(new_password);
    if (!hash) co_return fail<void>(hash.error());
    std::optional<std::string> keep = p.session_id;
    co_return co_await async_apply_new_password(u, std::move(*hash), std::move(keep), "password_changed", d);
}

async_outcome<void> service::async_forgot_password(std::string email_in, std::string ip, core::deadline d)
{
    auto email = normalize_email(email_in);
    if (!email.ok()) co_return validation("email", email.error);
    auto limits = request_limits("forgot", ip, email.value);
    auto allowed = co_await d_.kv.async_hit(limits, d);
    if (!allowed) co_return fail<void>(allowed.error());
    if (!allowed->allowed) {
        co_return limited<void>(allowed->retry_after_s);
    }
    // Always 202 from here on: a cooldown or an unknown address changes nothing visible.
    auto left = co_await d_.kv.async_cooldown("cooldown:reset_password:" + canonical(email.value),
                                              settings_.otp_resend_cooldown, d);
    if (!left) co_return fail<void>(left.error());
    if (*left > 0) co_return outcome<void>{};
    auto existing = co_await d_.users.async_find_by_email(email.value, d);
    if (!existing) co_return fail<void>(existing.error());
    if (!*existing || !(*existing)->is_active || !(*existing)->verified()) co_return outcome<void>{};
    co_return co_await async_send_code(**existing, purpose_reset, "password_reset", d);
}

async_outcome<std::string> service::async_verify_reset_otp(std::string email_in, std::string otp, std::string ip,
                                                           core::deadline d)
{
    auto email = normalize_email(email_in);
    if (!email.ok()) co_return validation("email", email.error);
    auto existing = co_await d_.users.async_find_by_email(email.value, d);
    if (!existing) co_return fail<std::string>(existing.error());
    bool usable = *existing && (*existing)->is_active && (*existing)->verified();
    // Bound to the password the code was sent for: a change since then voids it.
    std::string binding = usable ? state_id((*existing)->password_hash) : std::string();
    auto ok = co_await async_check_code(purpose_reset, email.value, otp, binding, ip, d);
    if (!ok) co_return outcome<std::string>(boost::system::in_place_error, ok.error());
    if (!usable) co_return fail<std::string>(make_error_code(errc::invalid_otp));
    claims c;
    c.iss = d_.keys.jwt.settings().issuer;
    c.sub = std::to_string((*existing)->id);
    c.iat = core::to_unix(d_.clock.now());
    c.exp = c.iat + settings_.reset_lifetime.count();
    // The token names the password state it may replace: once the password changes (by
    // this or another reset, or a change), every other outstanding reset token is void.
    c.jti = core::random_hex(16) + "." + state_id((*existing)->password_hash);
    c.typ = token_type::reset;
    co_return sign(c, d_.keys.jwt);
}

async_outcome<void> service::async_reset_password(std::string reset_token, std::string new_password,
                                                  std::string confirm, core::deadline d)
{
    if (reset_token.empty()) co_return validation("reset_token", "This field is required.");
    auto cl = verify(reset_token, d_.keys.jwt, token_type::reset, d_.clock.now());
    if (!cl) co_return fail<void>(cl.error());
    auto uid = parse_id(cl->sub);
    if (!uid) co_return fail<void>(make_error_code(errc::invalid_token));
    if (new_password != confirm) {
        co_return failure(errc::password_mismatch, {{"confirm_password", "The two password fields didn't match."}});
    }
    auto found = co_await d_.users.async_find_by_id(*uid, d);
    if (!found) co_return fail<void>(found.error());
    if (!*found || !(*found)->is_active) co_return fail<void>(make_error_code(errc::invalid_token));
    const store::user& u = **found;
    auto dot = cl->jti.find('.');
    if (dot == std::string::npos || !otp_digest_equal(cl->jti.substr(dot + 1), state_id(u.password_hash))) {
        co_return fail<void>(make_error_code(errc::token_revoked));
    }
    user_attributes attrs{u.username, u.email, u.full_name};
    auto problems = d_.policy.validate(new_password, attrs, "new_password");
    if (!problems.empty()) {
        std::vector<std::pair<std::string, std::string>> details(problems.begin(), problems.end());
        co_return failure(errc::validation_failed, std::move(details));
    }
    // Single use: the first presenter consumes the jti; a validation error above did not.
    auto first = co_await d_.kv.async_consume_once("reset:" + cl->jti, settings_.reset_lifetime, d);
    if (!first) co_return fail<void>(first.error());
    if (!*first) co_return fail<void>(make_error_code(errc::token_revoked));
    auto hash = co_await d_.hashes.async_hash(new_password);
    if (!hash) co_return fail<void>(hash.error());
    std::optional<std::string> keep;
    auto applied = co_await async_apply_new_password(u, std::move(*hash), std::move(keep), "password_reset", d);
    if (!applied) co_return applied;
    // The owner has proven control of the address: the account's failure run and
    // back-off end, whatever someone else tried meanwhile.
    auto cleared = co_await d_.kv.async_password_reset("u" + std::to_string(u.id), d);
    if (!cleared) core::log::warn("login_backoff_not_cleared", {{"user_id", u.id}});
    co_return outcome<void>{};
}

async_outcome<user_page> service::async_list_users(principal p, int limit, std::string cursor, std::string prefix,
                                                   core::deadline d)
{
    (void)p;
    // PostgreSQL refuses text that is not UTF-8 (a query string may carry any bytes).
    if (storable_text(prefix, prefix.size()) != prefix) co_return validation("q", "Must be valid UTF-8 text.");
    store::user_list_query q;
    q.limit = limit + 1;
    q.username_prefix = std::move(prefix);
    if (!cursor.empty()) {
        auto after = decode_cursor(d_.keys.cursor, cursor);
        if (!after) co_return validation("cursor", "Invalid cursor.");
        q.after_id = *after;
    }
    store::user_repository& from = d_.directory != nullptr ? *d_.directory : d_.users;
    auto rows = co_await from.async_list_active(q, d);
    if (!rows) co_return fail<user_page>(rows.error());
    user_page page;
    page.results = std::move(*rows);
    if (page.results.size() > static_cast<std::size_t>(limit)) {
        page.results.resize(static_cast<std::size_t>(limit));
        page.next = encode_cursor(d_.keys.cursor, page.results.back().id);
    }
    co_return page;
}

async_outcome<store::user> service::async_me(principal p, core::deadline d)
{
    co_return co_await async_load_user(p.user_id, d);
}

async_outcome<store::user> service::async_update_me(principal p, store::profile_update u, core::deadline d)
{
    std::vector<std::pair<std::string, std::string>> details;
    if (u.username) {
        auto n = normalize_username(*u.username);
        if (!n.ok())
            details.emplace_back("username", n.error);
        else
            u.username = n.value;
    }
    if (u.full_name && char_count(*u.full_name) > 150) {
        details.emplace_back("full_name", "Ensure this field has no more than 150 characters.");
    } else if (u.full_name && has_control(*u.full_name)) {
        details.emplace_back("full_name", std::string(control_message));
    }
    if (u.phone_number && char_count(*u.phone_number) > 32) {
        details.emplace_back("phone_number", "Enter a valid phone number.");
    }
    if (!details.empty()) co_return failure(errc::validation_failed, std::move(details));
    auto updated = co_await d_.users.async_update_profile(p.user_id, u, d);
    if (!updated) co_return fail<store::user>(updated.error());
    if (!*updated) co_return fail<store::user>(make_error_code(errc::token_revoked));
    // Other instances must show the change at once: publish before answering.
    std::string event = "r:" + std::to_string(p.user_id);
    d_.sink.broadcast(event);
    auto pub = co_await d_.kv.async_publish_invalidation(event, d);
    if (!pub) core::log::warn("invalidation_publish_failed", {{"error", pub.error().message()}});
    co_return std::move(**updated);
}

async_outcome<void> service::async_delete_me(principal p, std::string password, std::string ip, core::deadline d)
{
    auto found = co_await d_.users.async_find_by_id(p.user_id, d);
    if (!found) co_return fail<void>(found.error());
    if (!*found || !(*found)->is_active) co_return fail<void>(make_error_code(errc::token_revoked));
    if (password.empty()) co_return validation("password", "This field is required.");
    auto guard = password_guard_for("u" + std::to_string(p.user_id), ip);
    auto allowed = co_await d_.kv.async_password_attempt(guard, d);
    if (!allowed) co_return fail<void>(allowed.error());
    if (!allowed->allowed) co_return limited<void>(allowed->retry_after_s);
    auto v = co_await d_.hashes.async_verify(password, (*found)->password_hash);
    if (!v) co_return fail<void>(v.error());
    if (!v->ok) co_return validation("password", "Incorrect password.");
    auto success = co_await d_.kv.async_password_success(guard, d);
    if (!success) core::log::warn("password_success_not_recorded", {{"error", success.error().message()}});
    auto off = co_await d_.users.async_deactivate(p.user_id, d);
    if (!off) co_return fail<void>(off.error());
    co_return co_await async_end_sessions(p.user_id, std::nullopt, "account_deleted", d);
}

async_outcome<store::user> service::async_get_user(principal p, std::string id, core::deadline d)
{
    auto uid = parse_id(id);
    if (!uid) co_return fail<store::user>(make_error_code(errc::not_found));
    auto now = steady::now();
    if (const store::user* cached = d_.cache.find_user(*uid, now)) co_return *cached;
    if (d_.directory != nullptr && *uid != p.user_id) {
        // Someone else's profile, from the directory (a replica): not cached, since the
        // cache also serves authentication, which must see the primary's rows.
        auto other = co_await d_.directory->async_find_by_id(*uid, d);
        if (!other) co_return fail<store::user>(other.error());
        if (!*other || !(*other)->is_active) co_return fail<store::user>(make_error_code(errc::not_found));
        co_return std::move(**other);
    }
    auto generation = d_.cache.generation();
    auto found = co_await d_.users.async_find_by_id(*uid, d);
    if (!found) co_return fail<store::user>(found.error());
    if (!*found || !(*found)->is_active) co_return fail<store::user>(make_error_code(errc::not_found));
    d_.cache.put_user(**found, now, generation);
    co_return std::move(**found);
}

}  // namespace portcullis::auth
