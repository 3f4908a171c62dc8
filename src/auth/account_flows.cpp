#include "auth/flows.hpp"
#include "auth/profile_rules.hpp"
#include "auth/validation.hpp"
#include "core/log.hpp"

namespace portcullis::auth {

using core::errc;

async_outcome<void> account_flows::async_check_address(const std::string& email, core::deadline d)
{
    email_checker* checker = c_.deps.checker;
    if (checker == nullptr) co_return outcome<void>{};
    auto ok = co_await checker->async_check(email, d);
    if (!ok) {
        if (checker->fail_open()) {
            core::log::warn("email_check_unavailable", {{"error", ok.error().message()}});
            co_return outcome<void>{};
        }
        co_return fail<void>(ok.error());
    }
    if (!ok->accepted) co_return validation("email", ok->reason);
    co_return outcome<void>{};
}

async_outcome<store::user> account_flows::async_register(register_input in, core::deadline d)
{
    field_problems details;
    auto email = normalize_email(in.email);
    if (!email.ok()) details.emplace_back("email", email.error);
    auto username = normalize_username(in.username);
    if (!username.ok()) details.emplace_back("username", username.error);
    // Sizes first: a value over its limit never reaches the similarity check.
    if (check_profile_fields(&in.full_name, &in.phone_number, details)) {
        user_attributes attrs{username.value, email.value, in.full_name};
        for (auto& [field, msg] : c_.deps.policy.validate(in.password, attrs)) details.emplace_back(field, msg);
    }
    if (!details.empty()) co_return failure(errc::validation_failed, std::move(details));
    // No hash slot free: answer 503 at once, before any I/O.
    if (c_.deps.hashes.saturated()) co_return fail<store::user>(errc::overloaded);

    auto allowed = co_await c_.async_request_allowed(store::kv::request_kind::register_account, in.ip, email.value, d);
    if (!allowed) co_return pass<store::user>(allowed);

    // A verified owner of the address: refuse before spending a hash.
    auto existing = co_await c_.deps.users.async_find_by_email(email.value, d);
    if (!existing) co_return fail<store::user>(existing.error());
    if (*existing && (*existing)->verified()) co_return fail<store::user>(errc::email_taken);

    auto checked = co_await async_check_address(email.value, d);
    if (!checked) co_return pass<store::user>(checked);

    auto hash = co_await c_.deps.hashes.async_hash(in.password);
    if (!hash) co_return fail<store::user>(hash.error());

    store::new_user nu{email.value, username.value, std::move(*hash), in.full_name, in.phone_number};
    auto created = co_await c_.deps.users.async_create_pending(nu, d);
    if (!created) co_return fail<store::user>(created.error());

    auto sent = co_await c_.async_send_code(*created, otp_purpose::verify_email, "verify_email", d);
    if (!sent) co_return pass<store::user>(sent);
    // The resend cooldown starts with the first code.
    auto cd = co_await c_.deps.kv.async_code_cooldown(to_string(otp_purpose::verify_email), canonical(email.value),
                                                      c_.settings.otp_resend_cooldown, d);
    (void)cd;
    request_meta meta = in.meta;
    if (meta.ip.empty()) meta.ip = in.ip;
    c_.record("user.registered", created->id, meta);
    co_return std::move(*created);
}

async_outcome<store::user> account_flows::async_verify_email(std::string email_in, std::string otp, std::string ip,
                                                             core::deadline d, request_meta meta)
{
    auto email = normalize_email(email_in);
    if (!email.ok()) co_return validation("email", email.error);
    auto existing = co_await c_.deps.users.async_find_by_email(email.value, d);
    if (!existing) co_return fail<store::user>(existing.error());
    // The code is checked (and a failure counted for the client's network) before the
    // answer can tell a verified address: that answer is throttled like a guess.
    std::string binding = *existing ? c_.state_id((*existing)->password_hash) : std::string();
    auto ok = co_await c_.async_check_code(otp_purpose::verify_email, email.value, otp, binding, ip, d);
    if (*existing && (*existing)->verified()) {
        if (!ok && ok.error().code == errc::rate_limited) co_return pass<store::user>(ok);
        co_return fail<store::user>(errc::already_verified);
    }
    if (!ok) co_return pass<store::user>(ok);
    if (!*existing) co_return fail<store::user>(errc::otp_expired);

    // Only the registration the code was sent for: a replacement since then stays pending.
    auto act = co_await c_.deps.users.async_activate((*existing)->id, (*existing)->password_hash, d);
    if (!act && act.error() == errc::not_found) co_return fail<store::user>(errc::otp_expired);
    if (!act) co_return fail<store::user>(act.error());
    co_await c_.async_announce_later(changed_user_event(act->account.id));
    if (act->activated) {
        if (meta.ip.empty()) meta.ip = ip;
        c_.record("email.verified", act->account.id, meta);
    }
    co_return std::move(act->account);
}

async_outcome<void> account_flows::async_resend_otp(std::string email_in, std::string ip, core::deadline d)
{
    auto email = normalize_email(email_in);
    if (!email.ok()) co_return validation("email", email.error);
    // The cooldown runs for every address, known or not, so answers reveal nothing.
    auto left = co_await c_.deps.kv.async_code_cooldown(to_string(otp_purpose::verify_email), canonical(email.value),
                                                        c_.settings.otp_resend_cooldown, d);
    if (!left) co_return fail<void>(left.error());
    if (*left > 0) co_return limited<void>(*left);
    auto allowed = co_await c_.async_request_allowed(store::kv::request_kind::resend_code, ip, email.value, d);
    if (!allowed) co_return pass<void>(allowed);
    auto existing = co_await c_.deps.users.async_find_by_email(email.value, d);
    if (!existing) co_return fail<void>(existing.error());
    if (!*existing || (*existing)->verified()) co_return outcome<void>{};
    co_return co_await c_.async_send_code(**existing, otp_purpose::verify_email, "verify_email", d);
}

}  // namespace portcullis::auth
