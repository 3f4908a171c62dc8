#include "mail/settings.hpp"

#include "mail/message.hpp"

#include <stdexcept>

namespace portcullis::mail {

std::optional<backend_kind> parse_backend_kind(std::string_view t) noexcept
{
    if (t == "smtp" || t == "django.core.mail.backends.smtp.EmailBackend") return backend_kind::smtp;
    if (t == "console" || t == "django.core.mail.backends.console.EmailBackend") return backend_kind::console;
    if (t == "file" || t == "filebased" || t == "django.core.mail.backends.filebased.EmailBackend") {
        return backend_kind::file;
    }
    return std::nullopt;
}

void validate(const settings& s)
{
    if (s.use_tls && s.use_ssl) {
        throw std::invalid_argument("EMAIL_USE_TLS and EMAIL_USE_SSL are mutually exclusive");
    }
    if (s.backend == backend_kind::smtp) {
        if (s.host.empty()) throw std::invalid_argument("EMAIL_HOST must not be empty for the smtp backend");
        if (s.port == 0) throw std::invalid_argument("EMAIL_PORT must be a port number (1-65535)");
        if (s.username.empty() != s.password.empty()) {
            throw std::invalid_argument("EMAIL_HOST_USER and EMAIL_HOST_PASSWORD must be set together");
        }
    }
    if (s.backend == backend_kind::file && s.file_path.empty()) {
        throw std::invalid_argument("EMAIL_FILE_PATH is required for the file backend");
    }
    if (!parse_mailbox(s.from)) {
        throw std::invalid_argument("DEFAULT_FROM_EMAIL is not a valid address (\"addr\" or \"Name <addr>\")");
    }
    if (s.timeout <= std::chrono::milliseconds::zero()) throw std::invalid_argument("EMAIL_TIMEOUT must be positive");
    if (s.max_connections == 0) throw std::invalid_argument("mail max_connections must be at least 1");
    if (s.templates_dir.empty()) throw std::invalid_argument("TEMPLATES_DIR must not be empty");
}

}  // namespace portcullis::mail
