#include "core/error.hpp"

#include <string>

namespace portcullis::core {
namespace {

class error_category_impl final : public boost::system::error_category {
public:
    const char* name() const noexcept override { return "portcullis"; }

    std::string message(int ev) const override { return std::string(errc_name(static_cast<errc>(ev))); }

    boost::system::error_condition default_error_condition(int ev) const noexcept override
    {
        if (ev > 0 && ev < static_cast<int>(errc::validation_failed)) {
            return make_error_condition(condition::unavailable);
        }
        return {ev, *this};
    }
};

class condition_category_impl final : public boost::system::error_category {
public:
    const char* name() const noexcept override { return "portcullis.condition"; }

    std::string message(int ev) const override
    {
        return ev == static_cast<int>(condition::unavailable) ? "unavailable" : "unknown";
    }

    bool equivalent(const boost::system::error_code& code, int cond) const noexcept override
    {
        if (cond != static_cast<int>(condition::unavailable)) {
            return false;
        }
        return is_unavailable(code);
    }
};

}  // namespace

const boost::system::error_category& error_category() noexcept
{
    static const error_category_impl instance;
    return instance;
}

const boost::system::error_category& condition_category() noexcept
{
    static const condition_category_impl instance;
    return instance;
}

boost::system::error_code make_error_code(errc e) noexcept
{
    return {static_cast<int>(e), error_category()};
}

boost::system::error_condition make_error_condition(condition c) noexcept
{
    return {static_cast<int>(c), condition_category()};
}

bool is_unavailable(const boost::system::error_code& ec) noexcept
{
    if (ec.category() != error_category()) {
        return false;
    }
    return ec.value() > 0 && ec.value() < static_cast<int>(errc::validation_failed);
}

std::string_view errc_name(errc e) noexcept
{
    switch (e) {
    case errc::db_unavailable:
        return "db_unavailable";
    case errc::redis_unavailable:
        return "redis_unavailable";
    case errc::timeout:
        return "timeout";
    case errc::pool_exhausted:
        return "pool_exhausted";
    case errc::overloaded:
        return "overloaded";
    case errc::smtp_unavailable:
        return "smtp_unavailable";
    case errc::dependency_failed:
        return "dependency_failed";
    case errc::validation_failed:
        return "validation_failed";
    case errc::malformed_json:
        return "malformed_json";
    case errc::invalid_otp:
        return "invalid_otp";
    case errc::otp_expired:
        return "otp_expired";
    case errc::password_mismatch:
        return "password_mismatch";
    case errc::not_authenticated:
        return "not_authenticated";
    case errc::invalid_token:
        return "invalid_token";
    case errc::token_expired:
        return "token_expired";
    case errc::token_revoked:
        return "token_revoked";
    case errc::token_reused:
        return "token_reused";
    case errc::invalid_credentials:
        return "invalid_credentials";
    case errc::forbidden:
        return "forbidden";
    case errc::email_not_verified:
        return "email_not_verified";
    case errc::not_found:
        return "not_found";
    case errc::email_taken:
        return "email_taken";
    case errc::username_taken:
        return "username_taken";
    case errc::already_verified:
        return "already_verified";
    case errc::rate_limited:
        return "rate_limited";
    case errc::smtp_rejected:
        return "smtp_rejected";
    case errc::csrf_failed:
        return "csrf_failed";
    case errc::internal:
        return "internal";
    case errc::invalid_code:
        return "invalid_code";
    case errc::mfa_token_invalid:
        return "mfa_token_invalid";
    case errc::mfa_already_enabled:
        return "mfa_already_enabled";
    case errc::mfa_not_enabled:
        return "mfa_not_enabled";
    case errc::mfa_setup_required:
        return "mfa_setup_required";
    case errc::account_disabled:
        return "account_disabled";
    case errc::last_admin:
        return "last_admin";
    }
    return "unknown";
}

}  // namespace portcullis::core
