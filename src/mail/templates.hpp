#pragma once
// E-mail templates: <dir>/<kind>.subject, <kind>.txt and <kind>.html with {{name}}
// placeholders. Values are inserted as they are in the subject and text, HTML-escaped
// in the HTML. Unknown names render as nothing.

#include <atomic>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>

namespace portcullis::mail {

enum class template_kind { verify_email, password_reset, password_changed, mfa_recovery_code_used };

// "verify_email", "password_reset", "password_changed", "mfa_recovery_code_used": the file stem.
std::string_view template_name(template_kind k) noexcept;

using template_values = std::map<std::string, std::string, std::less<>>;

struct rendered_mail {
    std::string subject;  // one line
    std::string text;
    std::string html;
};

// Replaces each {{ name }} in `text` by values[name] (escaped for HTML when `html`).
// Throws std::invalid_argument on an unclosed "{{".
std::string render_template(std::string_view text, const template_values& values, bool html);

// One loaded, validated set of the templates. Immutable.
class template_set {
public:
    // Reads every file of every kind from `dir`. Throws std::runtime_error naming the file
    // that is missing, unreadable or malformed, or a code template without {{code}} in its .txt.
    static template_set load(const std::filesystem::path& dir);

    rendered_mail render(template_kind k, const template_values& values) const;

private:
    struct parts {
        std::string subject, text, html;
    };
    parts parts_[4];
};

// The current template_set, swapped atomically by reload() (called on SIGHUP): a render
// that already took current() keeps using the old set.
class template_store {
public:
    // Loads `dir`; throws std::runtime_error like template_set::load (a start-up error).
    explicit template_store(std::filesystem::path dir);

    // Loads the directory again and swaps it in; on failure logs why, keeps the old set and
    // returns false.
    bool reload() noexcept;

    std::shared_ptr<const template_set> current() const noexcept;
    const std::filesystem::path& directory() const noexcept { return dir_; }

private:
    std::filesystem::path dir_;
    std::atomic<std::shared_ptr<const template_set>> current_;
};

}  // namespace portcullis::mail
