#include "net/errors.hpp"

#include "core/error.hpp"
#include "core/log.hpp"

namespace portcullis::net {

using core::errc;

error_info describe(const boost::system::error_code& ec) noexcept
{
    if (core::is_unavailable(ec)) {
        return {503, "unavailable", "A service this request needs is unavailable; retry shortly."};
    }
    if (ec.category() != core::error_category()) {
        return {500, "internal", "Internal server error."};
    }
    switch (static_cast<errc>(ec.value())) {
    case errc::validation_failed:
        return {400, "validation_failed", "The request did not pass validation."};
    case errc::malformed_json:
        return {400, "malformed_json", "The request body is not valid JSON."};
    case errc::invalid_otp:
        return {400, "invalid_otp", "The code is not valid."};
    case errc::otp_expired:
        return {400, "otp_expired", "The code has expired; request a new one."};
    case errc::password_mismatch:
        return {400, "password_mismatch", "The passwords do not match."};
    case errc::not_authenticated:
        return {401, "not_authenticated", "Authentication credentials were not provided."};
    case errc::invalid_token:
        return {401, "invalid_token", "The token is invalid."};
    case errc::token_expired:
        return {401, "token_expired", "The token has expired."};
    case errc::token_revoked:
        return {401, "token_revoked", "The token has been revoked."};
    case errc::token_reused:
        return {401, "token_reused", "The refresh token was already used; the session has ended."};
    case errc::invalid_credentials:
        return {401, "invalid_credentials", "Invalid credentials."};
    case errc::forbidden:
        return {403, "forbidden", "You do not have permission to perform this action."};
    case errc::csrf_failed:
        return {403, "forbidden", "CSRF token missing or incorrect."};
    case errc::email_not_verified:
        return {403, "email_not_verified", "The e-mail address has not been verified."};
    case errc::not_found:
        return {404, "not_found", "Not found."};
    case errc::email_taken:
        return {409, "email_taken", "An account with this e-mail address already exists."};
    case errc::username_taken:
        return {409, "username_taken", "This username is already taken."};
    case errc::already_verified:
        return {409, "already_verified", "The e-mail address is already verified."};
    case errc::rate_limited:
        return {429, "rate_limited", "Too many requests; retry later."};
    case errc::invalid_code:
        return {400, "invalid_code", "The code is not valid."};
    case errc::mfa_token_invalid:
        return {401, "invalid_mfa_token", "The MFA token is invalid or has expired; log in again."};
    case errc::mfa_already_enabled:
        return {409, "mfa_already_enabled", "Multi-factor authentication is already on."};
    case errc::mfa_not_enabled:
        return {409, "mfa_not_enabled", "Multi-factor authentication is not on."};
    case errc::mfa_setup_required:
        return {409, "mfa_setup_required", "No TOTP setup is pending; start one first."};
    case errc::account_disabled:
        return {403, "account_disabled", "This account has been disabled."};
    case errc::last_admin:
        return {409, "last_admin", "The last enabled administrator cannot be disabled, demoted or deleted."};
    default:
        break;
    }
    return {500, "internal", "Internal server error."};
}

namespace {

void append_json_string(std::string& out, std::string_view s)
{
    out += '"';
    core::log::append_json_escaped(out, s);
    out += '"';
}

std::string error_body(std::string_view code, std::string_view message, const error_details& details)
{
    std::string body = "{\"error\":{\"code\":";
    append_json_string(body, code);
    body += ",\"message\":";
    append_json_string(body, message);
    if (!details.empty()) {
        body += ",\"details\":{";
        bool first = true;
        for (const auto& [k, v] : details) {
            if (!first) body += ',';
            first = false;
            append_json_string(body, k);
            body += ':';
            append_json_string(body, v);
        }
        body += '}';
    }
    body += "}}";
    return body;
}

}  // namespace

response error_response(unsigned status, std::string_view code, std::string_view message, const error_details& details)
{
    response r;
    r.status = status;
    r.body = error_body(code, message, details);
    return r;
}

response protocol_error_response(protocol_error e)
{
    switch (e) {
    case protocol_error::header_too_large:
        return error_response(431, "request_header_fields_too_large", "Request header fields are too large.");
    case protocol_error::trailer_too_large:
        return error_response(431, "request_header_fields_too_large", "Trailer fields are too large.");
    case protocol_error::body_too_large:
        return error_response(413, "payload_too_large", "The request body is too large.");
    case protocol_error::chunk_too_long:
        return error_response(400, "bad_request", "A chunk header is too long.");
    case protocol_error::ambiguous_framing:
        return error_response(400, "bad_request", "Ambiguous message framing.");
    case protocol_error::trailer_refused:
        return error_response(400, "bad_request", "Trailer fields are not accepted.");
    case protocol_error::method_not_allowed:
        return error_response(405, "method_not_allowed", "Method not allowed.");
    case protocol_error::unsupported_media_type:
        return error_response(415, "unsupported_media_type", "Content-Type must be application/json.");
    case protocol_error::malformed:
        break;
    }
    return error_response(400, "bad_request", "The request is malformed.");
}

response error_response(const boost::system::error_code& ec, const error_details& details, unsigned retry_after)
{
    error_info info = describe(ec);
    response r = error_response(info.status, info.code, info.message, details);
    if (info.status == 503 || info.status == 429) {
        r.add_header("Retry-After", std::to_string(retry_after != 0 ? retry_after : (info.status == 503 ? 1u : 60u)));
    }
    return r;
}

}  // namespace portcullis::net
