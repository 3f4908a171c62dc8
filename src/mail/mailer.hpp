#pragma once
// What the job handlers call: render a template for a recipient and send it through the
// configured backend.
//
//   mail::settings s = …;                                   // filled by the config code
//   mail::validate(s);                                      // throws naming the variable
//   auto templates = std::make_shared<mail::template_store>(s.templates_dir);  // throws
//   mail::mailer m(s, templates, mail::make_backend(s, worker_io.get_executor()));
//   auto r = co_await m.async_send_template(mail::template_kind::verify_email, "a@b.c",
//                                           {{"code", "123456"}, {"username", "ann"}}, deadline);
//   if (r.permanent()) dead-letter with r.describe(); else if (!r.ok()) retry later.
//   On SIGHUP: templates->reload();

#include "mail/backend.hpp"
#include "mail/settings.hpp"
#include "mail/templates.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <memory>

namespace portcullis::mail {

// The backend `s.backend` names, living on `ex`. Throws std::runtime_error naming the setting
// when it cannot be built (EMAIL_CA_FILE unreadable, EMAIL_FILE_PATH not a directory).
std::unique_ptr<mail_backend> make_backend(const settings& s, boost::asio::any_io_executor ex);

class mailer {
public:
    // `s.from` must be valid (validate(s)); throws std::invalid_argument otherwise.
    mailer(const settings& s, std::shared_ptr<template_store> templates, std::unique_ptr<mail_backend> backend);

    // Renders `kind` with `values` and sends it to `to`. Adds these values when absent:
    // email (= to), name (full_name, else username), site_name (settings). A template that
    // fails to render is a permanent failure. Timeouts and errors as mail_backend::async_send.
    boost::asio::awaitable<send_result> async_send_template(template_kind kind, std::string to, template_values values,
                                                            core::deadline deadline);

    // The rendered message async_send_template would send (for tests and previews).
    message compose(template_kind kind, const std::string& to, template_values values) const;

    boost::asio::awaitable<void> async_close(core::deadline deadline);
    mail_backend& backend() noexcept { return *backend_; }

private:
    mailbox from_;
    std::string site_name_;
    std::shared_ptr<template_store> templates_;
    std::unique_ptr<mail_backend> backend_;
};

}  // namespace portcullis::mail
