#include "auth/flows.hpp"
#include "auth/validation.hpp"
#include "core/log.hpp"
#include "core/random.hpp"

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

namespace portcullis::auth {

using core::errc;

std::optional<failure> password_flows::new_password_problems(const store::user& u, const std::string& new_password,
                                                             const std::string& confirm) const
{
    if (new_password != confirm) {
        return failure(errc::password_mismatch, {{"confirm_password", "The two password fields didn't match."}});
    }
    user_attributes attrs{u.username, u.email, u.full_name};
    auto problems = c_.deps.policy.validate(new_password, attrs, "new_password");
    if (problems.empty()) return std::nullopt;
    return failure(errc::validation_failed, {problems.begin(), problems.end()});
}

async_outcome<void> password_flows::async_apply(const store::user& u, std::string hash,
                                                std::optional<std::string> keep_session, std::string_view reason,
                                                core::deadline d)
{
    auto set = co_await c_.deps.users.async_set_password(u.id, hash, d);
    if (!set) co_return fail<void>(set.error());
    auto ended = co_await c_.async_end_sessions(u.id, std::move(keep_session), reason, d);
    if (!ended) co_return ended;
    // The notice is a courtesy: the password has changed whether or not it can be queued.
    boost::json::object values;
    values["username"] = u.username;
    values["full_name"] = u.full_name;
    values["time"] = core::format_rfc3339(c_.deps.clock.now());
    auto mail = co_await c_.async_enqueue_mail("password_changed", u.email, boost::json::serialize(values), d);
    if (!mail) core::log::warn("password_changed_notice_not_queued", {{"user_id", u.id}});
    co_return outcome<void>{};
}

async_outcome<void> password_flows::async_change_password(principal p, std::string old_password,
                                                          std::string new_password, std::string confirm, std::string ip,
                                                          core::deadline d)
{
    auto found = co_await c_.async_find_active(p.user_id, errc::token_revoked, d);
    if (!found) co_return pass<void>(found);
    const store::user& u = *found;
    if (auto problem = new_password_problems(u, new_password, confirm)) co_return std::move(*problem);
    // The current password is guessed no faster here than at login.
    auto guard = c_.password_guard_for("u" + std::to_string(u.id), ip);
    auto v = co_await c_.async_check_password(guard, std::move(old_password), u.password_hash, d);
    if (!v) co_return pass<void>(v);
    if (!v->ok) co_return validation("old_password", "Your old password was entered incorrectly.");
    auto hash = co_await c_.deps.hashes.async_hash(new_password);
    if (!hash) co_return fail<void>(hash.error());
    std::optional<std::string> keep = p.session_id;
    auto applied = co_await async_apply(u, std::move(*hash), std::move(keep), "password_changed", d);
    if (applied) c_.record("password.changed", u.id, p.meta, p.session_id);
    co_return applied;
}

async_outcome<void> password_flows::async_forgot_password(std::string email_in, std::string ip, core::deadline d)
{
    auto email = normalize_email(email_in);
    if (!email.ok()) co_return validation("email", email.error);
    auto allowed = co_await c_.async_request_allowed(store::kv::request_kind::forgot_password, ip, email.value, d);
    if (!allowed) co_return pass<void>(allowed);
    // Always 202 from here on: a cooldown or an unknown address changes nothing visible.
    auto left = co_await c_.deps.kv.async_code_cooldown(to_string(otp_purpose::reset_password), canonical(email.value),
                                                        c_.settings.otp_resend_cooldown, d);
    if (!left) co_return fail<void>(left.error());
    if (*left > 0) co_return outcome<void>{};
    auto existing = co_await c_.deps.users.async_find_by_email(email.value, d);
    if (!existing) co_return fail<void>(existing.error());
    if (!*existing || !(*existing)->is_active || !(*existing)->verified()) co_return outcome<void>{};
    co_return co_await c_.async_send_code(**existing, otp_purpose::reset_password, "password_reset", d);
}

async_outcome<std::string> password_flows::async_verify_reset_otp(std::string email_in, std::string otp, std::string ip,
                                                                  core::deadline d)
{
    auto email = normalize_email(email_in);
    if (!email.ok()) co_return validation("email", email.error);
    auto existing = co_await c_.deps.users.async_find_by_email(email.value, d);
    if (!existing) co_return fail<std::string>(existing.error());
    bool usable = *existing && (*existing)->is_active && (*existing)->verified();
    // Bound to the password the code was sent for: a change since then voids it.
    std::string binding = usable ? c_.state_id((*existing)->password_hash) : std::string();
    auto ok = co_await c_.async_check_code(otp_purpose::reset_password, email.value, otp, binding, ip, d);
    if (!ok) co_return pass<std::string>(ok);
    if (!usable) co_return fail<std::string>(errc::invalid_otp);
    claims c;
    c.iss = c_.deps.keys.jwt.settings().issuer;
    c.sub = std::to_string((*existing)->id);
    c.iat = core::to_unix(c_.deps.clock.now());
    c.exp = c.iat + c_.settings.reset_lifetime.count();
    // The token names the password state it may replace: once the password changes (by
    // this or another reset, or a change), every other outstanding reset token is void.
    c.jti = core::random_hex(16) + "." + c_.state_id((*existing)->password_hash);
    c.typ = token_type::reset;
    co_return sign(c, c_.deps.keys.jwt);
}

async_outcome<void> password_flows::async_reset_password(std::string reset_token, std::string new_password,
                                                         std::string confirm, core::deadline d, request_meta meta)
{
    if (reset_token.empty()) co_return validation("reset_token", "This field is required.");
    auto cl = verify(reset_token, c_.deps.keys.jwt, token_type::reset, c_.deps.clock.now());
    if (!cl) co_return fail<void>(cl.error());
    auto uid = parse_id(cl->sub);
    if (!uid) co_return fail<void>(errc::invalid_token);
    if (new_password != confirm) {
        co_return failure(errc::password_mismatch, {{"confirm_password", "The two password fields didn't match."}});
    }
    auto found = co_await c_.async_find_active(*uid, errc::invalid_token, d);
    if (!found) co_return pass<void>(found);
    const store::user& u = *found;
    auto dot = cl->jti.find('.');
    if (dot == std::string::npos || !otp_digest_equal(cl->jti.substr(dot + 1), c_.state_id(u.password_hash))) {
        co_return fail<void>(errc::token_revoked);
    }
    if (auto problem = new_password_problems(u, new_password, confirm)) co_return std::move(*problem);
    // Single use: the first presenter consumes the jti; a validation error above did not.
    auto first = co_await c_.deps.kv.async_consume_reset_token(cl->jti, c_.settings.reset_lifetime, d);
    if (!first) co_return fail<void>(first.error());
    if (!*first) co_return fail<void>(errc::token_revoked);
    auto hash = co_await c_.deps.hashes.async_hash(new_password);
    if (!hash) co_return fail<void>(hash.error());
    std::optional<std::string> keep;
    auto applied = co_await async_apply(u, std::move(*hash), std::move(keep), "password_reset", d);
    if (!applied) co_return applied;
    c_.record("password.reset", u.id, meta);
    // The owner has proven control of the address: the account's failure run and
    // back-off end, whatever someone else tried meanwhile.
    auto cleared = co_await c_.deps.kv.async_password_reset("u" + std::to_string(u.id), d);
    if (!cleared) core::log::warn("login_backoff_not_cleared", {{"user_id", u.id}});
    co_return outcome<void>{};
}

}  // namespace portcullis::auth
