#pragma once
// The SMTP backend: an Asio client with STARTTLS / implicit TLS (OpenSSL, certificate and
// host-name verification), AUTH PLAIN/LOGIN, a timeout on every step, and a small set of
// connections kept open and reused (RSET between messages, reconnect when one went stale).

#include "mail/backend.hpp"
#include "mail/settings.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <memory>

namespace portcullis::mail {

namespace detail {
struct smtp_pool;
}

class smtp_backend final : public mail_backend {
public:
    // Builds the TLS context (system CA store, or only EMAIL_CA_FILE when set). Throws
    // std::runtime_error naming EMAIL_CA_FILE when it cannot be loaded. Connects lazily.
    // All calls must come from `ex` (a single-threaded io_context or a strand).
    smtp_backend(boost::asio::any_io_executor ex, settings s);
    ~smtp_backend() override;

    // Transient failures (smtp_unavailable): 4xx, connection/TLS errors (including a
    // certificate that fails verification), timeouts. Permanent (smtp_rejected): 5xx,
    // invalid addresses, a message over the server's SIZE. Each step waits at most
    // min(EMAIL_TIMEOUT, what is left of `deadline`).
    boost::asio::awaitable<send_result> async_send(message m, core::deadline deadline) override;
    boost::asio::awaitable<void> async_close(core::deadline deadline) override;

    // Connection attempts since construction (for tests and metrics).
    std::size_t connections_opened() const noexcept;

private:
    std::unique_ptr<detail::smtp_pool> pool_;
};

}  // namespace portcullis::mail
