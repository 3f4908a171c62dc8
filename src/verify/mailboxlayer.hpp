#pragma once
// A client of the Mailboxlayer API (GET /api/check?access_key=…&email=…&smtp=1): one
// HTTPS request per address, its own TLS verification, and a timeout over the whole
// exchange (name lookup included). The access key travels only in the request line:
// it is never logged and never part of an error.

#include "auth/service.hpp"
#include "core/error.hpp"
#include "verify/dns.hpp"

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

namespace portcullis::verify {

struct mailboxlayer_settings {
    std::string url = "https://apilayer.net/api/check";  // http:// is allowed for local tests only
    std::string access_key;
    std::string ca_file;  // PEM bundle; empty: the system store
    std::chrono::milliseconds timeout{3'000};
    dns_settings dns;  // for the API's host name
};

// The verdict in one answer body. Refused: format_valid false, mx_found false,
// disposable true, or smtp_check false; a "did_you_mean" suggestion joins the reason.
// Errors: dependency_failed for an error object ({"success": false, "error": …}) or a
// body that is not the documented shape.
core::result<auth::address_verdict> read_mailboxlayer_answer(std::string_view body);

class mailboxlayer_client {
public:
    // Throws std::invalid_argument naming MAILBOXLAYER_URL or MAILBOXLAYER_CA_FILE when
    // the URL cannot be used or the CA file cannot be loaded.
    explicit mailboxlayer_client(mailboxlayer_settings s);
    ~mailboxlayer_client();
    mailboxlayer_client(const mailboxlayer_client&) = delete;
    mailboxlayer_client& operator=(const mailboxlayer_client&) = delete;

    // Asks about `email`. Waits at most min(timeout, what is left of `d`).
    // Errors: timeout; dependency_failed (unreachable, TLS failure, non-200, error object).
    // Safe to call from several threads at once (each call has its own connection).
    boost::asio::awaitable<core::result<auth::address_verdict>> async_check(std::string email, core::deadline d);

    // Requests sent since construction (for tests and logs).
    std::size_t requests() const noexcept;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace portcullis::verify
