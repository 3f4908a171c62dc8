#pragma once
// Development backends. They show the whole message, codes included, to whoever reads
// the log or the folder: that is their purpose. Never use them in production.

#include "mail/backend.hpp"

#include <filesystem>

namespace portcullis::mail {

// Logs each message (headers and text part) as one core::log line "mail_console".
class console_backend final : public mail_backend {
public:
    boost::asio::awaitable<send_result> async_send(message m, core::deadline deadline) override;
    boost::asio::awaitable<void> async_close(core::deadline deadline) override;
};

// Writes each message as <dir>/<UTC time>-<random>.eml, atomically (a dot-file, then rename).
class file_backend final : public mail_backend {
public:
    // Creates `dir` if needed; throws std::runtime_error naming EMAIL_FILE_PATH if it cannot.
    explicit file_backend(std::filesystem::path dir);

    // A write failure is transient (smtp_unavailable): the disk may recover.
    boost::asio::awaitable<send_result> async_send(message m, core::deadline deadline) override;
    boost::asio::awaitable<void> async_close(core::deadline deadline) override;

private:
    std::filesystem::path dir_;
};

}  // namespace portcullis::mail
