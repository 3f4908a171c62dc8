#include "mail/templates.hpp"

#include "core/log.hpp"
#include "core/text.hpp"
#include "mail/encoding.hpp"

#include <fstream>
#include <sstream>
#include <stdexcept>

namespace portcullis::mail {
namespace {

constexpr template_kind all_kinds[] = {template_kind::verify_email, template_kind::password_reset,
                                       template_kind::password_changed, template_kind::mfa_recovery_code_used};

// Kinds whose text must carry {{code}}: the ones that send a code.
bool sends_code(template_kind k)
{
    return k == template_kind::verify_email || k == template_kind::password_reset;
}

std::string read_file(const std::filesystem::path& p)
{
    std::ifstream in(p, std::ios::binary);
    if (!in) throw std::runtime_error("e-mail template " + p.string() + " is missing or unreadable");
    std::ostringstream ss;
    ss << in.rdbuf();
    if (in.bad()) throw std::runtime_error("e-mail template " + p.string() + " could not be read");
    return std::move(ss).str();
}

bool mentions(std::string_view text, std::string_view name)
{
    for (std::size_t pos = text.find("{{"); pos != std::string_view::npos; pos = text.find("{{", pos + 2)) {
        std::size_t end = text.find("}}", pos + 2);
        if (end == std::string_view::npos) return false;
        if (core::trim(text.substr(pos + 2, end - pos - 2)) == name) return true;
    }
    return false;
}

}  // namespace

std::string_view template_name(template_kind k) noexcept
{
    switch (k) {
    case template_kind::verify_email:
        return "verify_email";
    case template_kind::password_reset:
        return "password_reset";
    case template_kind::password_changed:
        return "password_changed";
    case template_kind::mfa_recovery_code_used:
        return "mfa_recovery_code_used";
    }
    return "unknown";
}

std::string render_template(std::string_view text, const template_values& values, bool html)
{
    std::string out;
    out.reserve(text.size() + 64);
    std::size_t pos = 0;
    for (;;) {
        std::size_t open = text.find("{{", pos);
        if (open == std::string_view::npos) break;
        std::size_t close = text.find("}}", open + 2);
        if (close == std::string_view::npos) throw std::invalid_argument("unclosed {{ in template");
        out.append(text.substr(pos, open - pos));
        std::string_view name = core::trim(text.substr(open + 2, close - open - 2));
        if (auto it = values.find(name); it != values.end()) out += html ? html_escape(it->second) : it->second;
        pos = close + 2;
    }
    out.append(text.substr(pos));
    return out;
}

template_set template_set::load(const std::filesystem::path& dir)
{
    template_set set;
    for (template_kind k : all_kinds) {
        const std::string stem(template_name(k));
        parts& p = set.parts_[static_cast<int>(k)];
        const std::filesystem::path subject = dir / (stem + ".subject");
        const std::filesystem::path text = dir / (stem + ".txt");
        const std::filesystem::path html = dir / (stem + ".html");
        p.subject = std::string(core::trim(single_line(read_file(subject))));
        p.text = read_file(text);
        p.html = read_file(html);
        const template_values none;
        for (const auto& [file, body] : {std::pair{&subject, &p.subject}, {&text, &p.text}, {&html, &p.html}}) {
            try {
                (void)render_template(*body, none, false);
            } catch (const std::invalid_argument& e) {
                throw std::runtime_error("e-mail template " + file->string() + ": " + e.what());
            }
        }
        if (p.subject.empty()) throw std::runtime_error("e-mail template " + subject.string() + " is empty");
        // The API promises the code in the text/plain part; an operator's template must keep it.
        if (sends_code(k) && !mentions(p.text, "code")) {
            throw std::runtime_error("e-mail template " + text.string() + " must contain {{code}}");
        }
    }
    return set;
}

rendered_mail template_set::render(template_kind k, const template_values& values) const
{
    const parts& p = parts_[static_cast<int>(k)];
    return rendered_mail{
        .subject = single_line(render_template(p.subject, values, false)),
        .text = render_template(p.text, values, false),
        .html = render_template(p.html, values, true),
    };
}

template_store::template_store(std::filesystem::path dir)
    : dir_(std::move(dir)), current_(std::make_shared<const template_set>(template_set::load(dir_)))
{
}

bool template_store::reload() noexcept
{
    try {
        current_.store(std::make_shared<const template_set>(template_set::load(dir_)));
        core::log::info("mail_templates_reloaded", {{"dir", dir_.native()}});
        return true;
    } catch (const std::exception& e) {
        core::log::error("mail_templates_reload_failed", {{"dir", dir_.native()}, {"error", e.what()}});
        return false;
    }
}

std::shared_ptr<const template_set> template_store::current() const noexcept
{
    return current_.load();
}

}  // namespace portcullis::mail
