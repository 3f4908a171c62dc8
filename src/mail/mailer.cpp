#include "mail/mailer.hpp"

#include "core/error.hpp"
#include "mail/local_backends.hpp"
#include "mail/smtp_backend.hpp"

#include <stdexcept>

namespace portcullis::mail {

bool send_result::transient() const noexcept
{
    return ec == core::make_error_code(core::errc::smtp_unavailable);
}

bool send_result::permanent() const noexcept
{
    return ec && !transient();
}

std::string send_result::describe() const
{
    if (!ec) return "sent " + detail;
    std::string out = ec.message();
    if (!detail.empty()) out += ": " + detail;
    if (!server_reply.empty()) out += ": " + server_reply;
    return out;
}

std::unique_ptr<mail_backend> make_backend(const settings& s, boost::asio::any_io_executor ex)
{
    switch (s.backend) {
    case backend_kind::smtp:
        return std::make_unique<smtp_backend>(std::move(ex), s);
    case backend_kind::console:
        return std::make_unique<console_backend>();
    case backend_kind::file:
        return std::make_unique<file_backend>(s.file_path);
    }
    throw std::invalid_argument("EMAIL_BACKEND has an unknown value");
}

mailer::mailer(const settings& s, std::shared_ptr<template_store> templates, std::unique_ptr<mail_backend> backend)
    : site_name_(s.site_name), templates_(std::move(templates)), backend_(std::move(backend))
{
    auto from = parse_mailbox(s.from);
    if (!from) throw std::invalid_argument("DEFAULT_FROM_EMAIL is not a valid address");
    from_ = std::move(*from);
}

message mailer::compose(template_kind kind, const std::string& to, template_values values) const
{
    values.try_emplace("email", to);
    values.try_emplace("site_name", site_name_);
    if (!values.contains("name")) {
        auto full = values.find("full_name");
        auto user = values.find("username");
        std::string name = full != values.end() && !full->second.empty() ? full->second
                           : user != values.end()                        ? user->second
                                                                         : std::string();
        values.emplace("name", std::move(name));
    }
    rendered_mail r = templates_->current()->render(kind, values);
    message m;
    m.from = from_;
    auto full = values.find("full_name");
    m.to.push_back(mailbox{full != values.end() ? full->second : std::string(), to});
    m.subject = std::move(r.subject);
    m.text = std::move(r.text);
    m.html = std::move(r.html);
    return m;
}

boost::asio::awaitable<send_result> mailer::async_send_template(template_kind kind, std::string to,
                                                                template_values values, core::deadline deadline)
{
    message m;
    try {
        m = compose(kind, to, std::move(values));
    } catch (const std::exception& e) {
        co_return send_result{
            core::make_error_code(core::errc::smtp_rejected),
            {},
            std::string("cannot render template ") + std::string(template_name(kind)) + ": " + e.what()};
    }
    co_return co_await backend_->async_send(std::move(m), deadline);
}

boost::asio::awaitable<void> mailer::async_close(core::deadline deadline)
{
    co_await backend_->async_close(deadline);
}

}  // namespace portcullis::mail
