#pragma once
// Mail settings, filled by the configuration code (the module never reads the
// environment). Defaults follow Django's where Django has the setting.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace portcullis::mail {

enum class backend_kind { smtp, console, file };

struct settings {
    backend_kind backend = backend_kind::console;          // EMAIL_BACKEND
    std::string host = "localhost";                        // EMAIL_HOST
    std::uint16_t port = 25;                               // EMAIL_PORT
    bool use_tls = false;                                  // EMAIL_USE_TLS: STARTTLS, required once set
    bool use_ssl = false;                                  // EMAIL_USE_SSL: implicit TLS (usually port 465)
    std::string username;                                  // EMAIL_HOST_USER: empty means no AUTH
    std::string password;                                  // EMAIL_HOST_PASSWORD: never logged
    bool allow_plaintext_auth = false;                     // EMAIL_ALLOW_PLAINTEXT_AUTH: AUTH without TLS
    std::string from = "Portcullis <no-reply@localhost>";  // DEFAULT_FROM_EMAIL, "addr" or "Name <addr>"
    std::filesystem::path file_path = "mail";              // EMAIL_FILE_PATH (file backend)
    std::filesystem::path ca_file;                         // EMAIL_CA_FILE: empty means the system CA store
    std::chrono::milliseconds timeout{10'000};             // EMAIL_TIMEOUT: each SMTP step (connect, each reply)
    std::filesystem::path templates_dir = "templates";     // TEMPLATES_DIR (the configuration finds the installed set)
    std::string helo_name;                                 // name sent in EHLO; empty: this host's name
    std::string site_name = "Portcullis";                  // {{site_name}} in the templates
    std::size_t max_connections = 4;                       // SMTP connections kept per backend (per io_context)
    std::chrono::milliseconds max_idle{30'000};            // an idle connection older than this is replaced
};

// "smtp", "console", "file", or Django's dotted names ("django.core.mail.backends.smtp.EmailBackend",
// "…console…", "…filebased…"). std::nullopt for anything else.
std::optional<backend_kind> parse_backend_kind(std::string_view text) noexcept;

// Checks the settings a backend will need; throws std::invalid_argument naming the variable
// (e.g. "EMAIL_USE_TLS and EMAIL_USE_SSL are mutually exclusive").
void validate(const settings& s);

}  // namespace portcullis::mail
