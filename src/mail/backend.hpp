#pragma once
// The interface every mail backend implements, and the outcome of one send.

#include "core/timeout.hpp"
#include "mail/message.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/system/error_code.hpp>

#include <string>

namespace portcullis::mail {

// Outcome of one send. `ec` is empty when the server took the message,
// core::errc::smtp_unavailable when a retry may work (4xx, network, TLS, timeout), and
// core::errc::smtp_rejected when it will not (5xx, invalid address, AUTH refused).
struct send_result {
    boost::system::error_code ec;
    std::string server_reply;  // the SMTP reply behind the failure ("550 5.1.1 …"); empty if local
    std::string detail;        // which step failed and why, or for success the Message-ID
    bool ok() const noexcept { return !ec; }
    bool transient() const noexcept;
    bool permanent() const noexcept;
    // One line for logs and dead-letter records: "smtp_rejected: RCPT TO refused: 550 …".
    std::string describe() const;
};

class mail_backend {
public:
    virtual ~mail_backend() = default;

    // Delivers `m`, finishing by `deadline` (each network step also has EMAIL_TIMEOUT).
    // Never throws for delivery problems: they are in the result. Call from the executor
    // the backend was made for; concurrent calls are allowed.
    virtual boost::asio::awaitable<send_result> async_send(message m, core::deadline deadline) = 0;

    // Ends kept connections politely (QUIT) before shutdown. Bounded by `deadline`.
    virtual boost::asio::awaitable<void> async_close(core::deadline deadline) = 0;
};

}  // namespace portcullis::mail
