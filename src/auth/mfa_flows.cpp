#include "auth/flows.hpp"
#include "auth/profile_rules.hpp"
#include "auth/sealed.hpp"
#include "auth/totp.hpp"
#include "core/log.hpp"
#include "core/random.hpp"
#include "core/text.hpp"

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <span>

namespace portcullis::auth {

using core::errc;

namespace {

constexpr int recovery_code_count = 10;
constexpr int totp_window = 1;  // steps accepted either side of now (clock drift)

// A six-digit code is a TOTP code, anything else a recovery code (unless the client said which).
bool is_totp(const mfa_code& c)
{
    return !c.recovery && is_totp_syntax(c.code);
}

// Recovery codes are 60-bit random values: a keyed fast hash resists offline guessing
// as well as a slow one would, and the key stays outside the database (PASSWORDS.md).
std::string recovery_digest(const hmac_key& key, std::int64_t user_id, std::string_view normalized)
{
    std::string uid = std::to_string(user_id);
    auto mac = key.mac({"recovery:", uid, ":", normalized});
    return core::hex_encode(std::span<const unsigned char>(mac.data(), mac.size()));
}

// The guard of second-factor checks: the login's limits, counted apart from password
// failures ("m<id>"), so wrong codes cannot lock out the password and the reverse.
store::kv::password_guard code_guard(const flow_context& c, std::int64_t user_id, const std::string& ip)
{
    return c.password_guard_for("m" + std::to_string(user_id), ip);
}

// "<user id>:<binding>" as async_start_mfa stores it.
std::optional<std::pair<std::int64_t, std::string>> parse_challenge(std::string_view value)
{
    auto colon = value.find(':');
    if (colon == std::string_view::npos) return std::nullopt;
    auto id = parse_id(value.substr(0, colon));
    if (!id) return std::nullopt;
    return std::pair<std::int64_t, std::string>(*id, std::string(value.substr(colon + 1)));
}

}  // namespace

std::vector<std::string> mfa_flows::new_recovery_codes(std::int64_t user_id, std::vector<std::string>& digests) const
{
    std::vector<std::string> codes;
    for (int i = 0; i < recovery_code_count; ++i) {
        std::string code = generate_recovery_code();
        digests.push_back(recovery_digest(c_.deps.keys.recovery, user_id, *normalize_recovery_code(code)));
        codes.push_back(std::move(code));
    }
    return codes;
}

async_outcome<totp_setup> mfa_flows::async_setup(principal p, core::deadline d)
{
    if (c_.deps.mfa == nullptr) co_return fail<totp_setup>(errc::db_unavailable);
    auto u = co_await c_.async_find_active(p.user_id, errc::token_revoked, d);
    if (!u) co_return pass<totp_setup>(u);
    auto st = co_await c_.deps.mfa->async_get(u->id, d);
    if (!st) co_return fail<totp_setup>(st.error());
    if (st->enabled()) co_return fail<totp_setup>(errc::mfa_already_enabled);
    std::string secret(totp_secret_bytes, '\0');
    core::random_bytes(secret.data(), secret.size());
    std::string sealed = seal(c_.deps.keys.mfa_seal, secret);
    auto set = co_await c_.deps.mfa->async_set_pending(u->id, sealed, d);
    if (!set) co_return fail<totp_setup>(set.error());
    if (!*set) co_return fail<totp_setup>(errc::mfa_already_enabled);
    std::string b32 = base32_encode(secret);
    totp_setup out{b32, otpauth_uri(c_.settings.mfa_issuer, u->email, b32)};
    co_return out;
}

async_outcome<std::vector<std::string>> mfa_flows::async_confirm(principal p, std::string code, std::string ip,
                                                                 core::deadline d)
{
    using codes_outcome = outcome<std::vector<std::string>>;
    if (c_.deps.mfa == nullptr) co_return fail<std::vector<std::string>>(errc::db_unavailable);
    auto u = co_await c_.async_find_active(p.user_id, errc::token_revoked, d);
    if (!u) co_return pass<std::vector<std::string>>(u);
    auto st = co_await c_.deps.mfa->async_get(u->id, d);
    if (!st) co_return fail<std::vector<std::string>>(st.error());
    if (st->enabled()) co_return fail<std::vector<std::string>>(errc::mfa_already_enabled);
    if (!st->pending_sealed) co_return fail<std::vector<std::string>>(errc::mfa_setup_required);
    if (!is_totp_syntax(code)) co_return fail<std::vector<std::string>>(errc::invalid_code);

    auto guard = code_guard(c_, u->id, ip);
    auto allowed = co_await c_.deps.kv.async_password_attempt(guard, d);
    if (!allowed) co_return fail<std::vector<std::string>>(allowed.error());
    if (!allowed->allowed) co_return limited<std::vector<std::string>>(allowed->retry_after_s);
    // Sealed under another SECRET_KEY: it can never be confirmed; a new setup replaces it.
    auto secret = unseal(c_.deps.keys.mfa_seal, *st->pending_sealed);
    if (!secret) co_return fail<std::vector<std::string>>(errc::mfa_setup_required);
    auto step = totp_match(*secret, code, totp_step(core::to_unix(c_.deps.clock.now())), totp_window, st->last_step);
    if (!step) co_return fail<std::vector<std::string>>(errc::invalid_code);

    std::vector<std::string> digests;
    std::vector<std::string> codes = new_recovery_codes(u->id, digests);
    auto enabled = co_await c_.deps.mfa->async_enable(u->id, *st->pending_sealed, *step, digests, d);
    if (!enabled) co_return fail<std::vector<std::string>>(enabled.error());
    // A parallel setup replaced the secret, or a parallel confirm used the step.
    if (!*enabled) co_return fail<std::vector<std::string>>(errc::invalid_code);
    auto success = co_await c_.deps.kv.async_password_success(guard, d);
    if (!success) core::log::warn("mfa_success_not_recorded", {{"error", success.error().message()}});

    // Sessions opened with the password alone end; this one stays.
    std::optional<std::string> keep = p.session_id;
    auto ended = co_await c_.async_end_sessions(u->id, std::move(keep), "mfa_enabled", d);
    if (!ended) co_return pass<std::vector<std::string>>(ended);
    core::log::info("mfa_enabled", {{"user_id", u->id}});
    c_.record("mfa.enabled", u->id, p.meta, p.session_id);
    co_return codes_outcome(std::move(codes));
}

async_outcome<void> mfa_flows::async_check_second_factor(const store::user& u, const store::mfa_state& st,
                                                         const mfa_code& code, const std::string& ip, core::deadline d)
{
    if (!st.enabled()) co_return fail<void>(errc::mfa_not_enabled);
    auto guard = code_guard(c_, u.id, ip);
    auto allowed = co_await c_.deps.kv.async_password_attempt(guard, d);
    if (!allowed) co_return fail<void>(allowed.error());
    if (!allowed->allowed) co_return limited<void>(allowed->retry_after_s);

    if (is_totp(code)) {
        auto secret = unseal(c_.deps.keys.mfa_seal, *st.secret_sealed);
        if (!secret) {
            core::log::error("mfa_secret_unreadable", {{"user_id", u.id}});
            co_return fail<void>(errc::invalid_code);
        }
        auto step =
            totp_match(*secret, code.code, totp_step(core::to_unix(c_.deps.clock.now())), totp_window, st.last_step);
        if (!step) co_return fail<void>(errc::invalid_code);
        // Accepted at most once: a parallel request with the same code loses here.
        auto used = co_await c_.deps.mfa->async_use_step(u.id, *step, d);
        if (!used) co_return fail<void>(used.error());
        if (!*used) co_return fail<void>(errc::invalid_code);
    } else {
        auto normalized = normalize_recovery_code(code.code);
        if (!normalized) co_return fail<void>(errc::invalid_code);
        std::string digest = recovery_digest(c_.deps.keys.recovery, u.id, *normalized);
        auto used = co_await c_.deps.mfa->async_use_recovery_code(u.id, digest, d);
        if (!used) co_return fail<void>(used.error());
        if (!*used) co_return fail<void>(errc::invalid_code);
        // The owner learns of it: a recovery code used by someone else means both factors leaked.
        boost::json::object values;
        values["username"] = u.username;
        values["full_name"] = u.full_name;
        values["time"] = core::format_rfc3339(c_.deps.clock.now());
        values["codes_left"] = std::to_string(std::max(st.recovery_codes_left - 1, 0));
        auto mail =
            co_await c_.async_enqueue_mail("mfa_recovery_code_used", u.email, boost::json::serialize(values), d);
        if (!mail) core::log::warn("recovery_code_notice_not_queued", {{"user_id", u.id}});
        core::log::info("mfa_recovery_code_used", {{"user_id", u.id}});
        c_.record("mfa.recovery_code_used", u.id, request_meta{ip, {}, {}});
    }
    auto success = co_await c_.deps.kv.async_password_success(guard, d);
    if (!success) core::log::warn("mfa_success_not_recorded", {{"error", success.error().message()}});
    co_return outcome<void>{};
}

async_outcome<store::mfa_state> mfa_flows::async_prove(const store::user& u, std::string password, std::string code,
                                                       const std::string& ip, core::deadline d)
{
    auto st = co_await c_.deps.mfa->async_get(u.id, d);
    if (!st) co_return fail<store::mfa_state>(st.error());
    if (!st->enabled()) co_return fail<store::mfa_state>(errc::mfa_not_enabled);
    // The password is guessed no faster here than at login.
    auto guard = c_.password_guard_for("u" + std::to_string(u.id), ip);
    auto v = co_await c_.async_check_password(guard, std::move(password), u.password_hash, d);
    if (!v) co_return pass<store::mfa_state>(v);
    if (!v->ok) co_return validation("password", "Your password was entered incorrectly.");
    mfa_code second{std::move(code), false};
    auto checked = co_await async_check_second_factor(u, *st, second, ip, d);
    if (!checked) co_return pass<store::mfa_state>(checked);
    co_return std::move(*st);
}

async_outcome<void> mfa_flows::async_disable(principal p, std::string password, std::string code, std::string ip,
                                             core::deadline d)
{
    if (c_.deps.mfa == nullptr) co_return fail<void>(errc::db_unavailable);
    auto u = co_await c_.async_find_active(p.user_id, errc::token_revoked, d);
    if (!u) co_return pass<void>(u);
    auto proved = co_await async_prove(*u, std::move(password), std::move(code), ip, d);
    if (!proved) co_return pass<void>(proved);
    auto off = co_await c_.deps.mfa->async_disable(u->id, d);
    if (!off) co_return fail<void>(off.error());
    if (!*off) co_return fail<void>(errc::mfa_not_enabled);
    co_await c_.async_announce(changed_user_event(u->id), d);
    core::log::info("mfa_disabled", {{"user_id", u->id}});
    c_.record("mfa.disabled", u->id, p.meta, p.session_id, "by_owner");
    co_return outcome<void>{};
}

async_outcome<std::vector<std::string>> mfa_flows::async_new_recovery_codes(principal p, std::string password,
                                                                            std::string code, std::string ip,
                                                                            core::deadline d)
{
    using codes_outcome = outcome<std::vector<std::string>>;
    if (c_.deps.mfa == nullptr) co_return fail<std::vector<std::string>>(errc::db_unavailable);
    auto u = co_await c_.async_find_active(p.user_id, errc::token_revoked, d);
    if (!u) co_return pass<std::vector<std::string>>(u);
    auto proved = co_await async_prove(*u, std::move(password), std::move(code), ip, d);
    if (!proved) co_return pass<std::vector<std::string>>(proved);
    std::vector<std::string> digests;
    std::vector<std::string> codes = new_recovery_codes(u->id, digests);
    auto replaced = co_await c_.deps.mfa->async_replace_recovery_codes(u->id, digests, d);
    if (!replaced) co_return fail<std::vector<std::string>>(replaced.error());
    if (!*replaced) co_return fail<std::vector<std::string>>(errc::mfa_not_enabled);
    c_.record("mfa.recovery_codes_replaced", u->id, p.meta, p.session_id);
    co_return codes_outcome(std::move(codes));
}

async_outcome<mfa_status> mfa_flows::async_status(principal p, core::deadline d)
{
    if (c_.deps.mfa == nullptr) co_return fail<mfa_status>(errc::db_unavailable);
    auto st = co_await c_.deps.mfa->async_get(p.user_id, d);
    if (!st) co_return fail<mfa_status>(st.error());
    mfa_status out{st->enabled(), st->enabled() ? st->recovery_codes_left : 0};
    co_return out;
}

async_outcome<login_result> mfa_flows::async_verify(std::string mfa_token, mfa_code code, std::string ip,
                                                    std::string user_agent, core::deadline d, std::string request_id)
{
    if (c_.deps.mfa == nullptr) co_return fail<login_result>(errc::db_unavailable);
    if (mfa_token.empty() || mfa_token.size() > 128) co_return fail<login_result>(errc::mfa_token_invalid);
    std::string id = c_.mfa_challenge_id(mfa_token);
    // Every try counts, right or wrong: past the limit the token is gone.
    auto value = co_await c_.deps.kv.async_mfa_attempt(id, c_.settings.mfa_max_attempts, d);
    if (!value) co_return fail<login_result>(value.error());
    if (!*value) co_return fail<login_result>(errc::mfa_token_invalid);
    auto challenge = parse_challenge(**value);
    if (!challenge) co_return fail<login_result>(errc::mfa_token_invalid);

    auto u = co_await c_.async_find_active(challenge->first, errc::mfa_token_invalid, d);
    if (!u) co_return pass<login_result>(u);
    // The password changed (or was reset) since the check this token follows.
    if (!u->verified() || !otp_digest_equal(c_.state_id(u->password_hash), challenge->second)) {
        auto taken = co_await c_.deps.kv.async_take_mfa_challenge(id, d);
        if (!taken) core::log::warn("mfa_challenge_not_dropped", {{"error", taken.error().message()}});
        co_return fail<login_result>(errc::mfa_token_invalid);
    }
    auto st = co_await c_.deps.mfa->async_get(u->id, d);
    if (!st) co_return fail<login_result>(st.error());
    if (!st->enabled()) co_return fail<login_result>(errc::mfa_token_invalid);
    request_meta meta{ip, storable_text(user_agent, 512), std::move(request_id)};
    auto checked = co_await async_check_second_factor(*u, *st, code, ip, d);
    if (!checked) {
        c_.record("login.failed", u->id, meta, {}, "invalid_second_factor");
        co_return pass<login_result>(checked);
    }
    // Single use: of two right answers with one token, one opens a session.
    auto taken = co_await c_.deps.kv.async_take_mfa_challenge(id, d);
    if (!taken) co_return fail<login_result>(taken.error());
    if (!*taken) co_return fail<login_result>(errc::mfa_token_invalid);
    std::string hash = u->password_hash;
    std::string agent = meta.user_agent;
    std::int64_t uid = u->id;
    if (u->disabled_at) {
        c_.record("login.failed", uid, meta, {}, "account_disabled");
        co_return fail<login_result>(errc::account_disabled);
    }
    auto opened =
        co_await c_.async_open_session(std::move(*u), std::move(hash), std::move(ip), std::move(agent), true, d);
    if (opened) c_.record("login.succeeded", uid, meta, opened->tokens.session_id, "password+mfa");
    co_return opened;
}

}  // namespace portcullis::auth
