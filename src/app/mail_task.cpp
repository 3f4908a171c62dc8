#include "app/mail_task.hpp"

#include <algorithm>

#include "auth/sealed.hpp"
#include "core/log.hpp"
#include "mail/mailer.hpp"
#include "mail/templates.hpp"

#include <boost/json/parse.hpp>

namespace portcullis::app {

namespace json = boost::json;

namespace {

std::optional<mail::template_kind> kind_of(std::string_view name)
{
    if (name == "verify_email") return mail::template_kind::verify_email;
    if (name == "password_reset") return mail::template_kind::password_reset;
    if (name == "password_changed") return mail::template_kind::password_changed;
    if (name == "mfa_recovery_code_used") return mail::template_kind::mfa_recovery_code_used;
    return std::nullopt;
}

}  // namespace

mail_task::mail_task(const mail::settings& s, std::string seal_key, boost::asio::any_io_executor ex)
    : seal_key_(std::move(seal_key))
{
    if (s.backend == mail::backend_kind::file) {
        std::error_code ec;
        std::filesystem::create_directories(s.file_path, ec);
    }
    try {
        mail::validate(s);
    } catch (const std::invalid_argument& e) {
        throw config_error(std::string(e.what()) + "\n");
    }
    templates_ = std::make_shared<mail::template_store>(s.templates_dir);
    mailer_ = std::make_unique<mail::mailer>(s, templates_, mail::make_backend(s, std::move(ex)));
}

mail_task::~mail_task() = default;

void mail_task::register_with(jobs::registry& tasks)
{
    mail_task* self = this;
    jobs::task_options opts;
    opts.timeout = std::chrono::seconds(120);
    tasks.add(
        "send_email", [self](const jobs::job& j) { return async_handle(self, j); }, opts);
}

bool mail_task::reload_templates()
{
    return templates_->reload();
}

boost::asio::awaitable<void> mail_task::async_close(core::deadline deadline)
{
    co_await mailer_->async_close(std::min(deadline, core::steady_clock::now() + std::chrono::seconds(5)));
}

boost::asio::awaitable<core::result<void>> mail_task::async_handle(mail_task* self, const jobs::job& j)
{
    auto deadline = core::steady_clock::now() + std::chrono::seconds(100);
    boost::system::error_code ec;
    json::value args = json::parse(j.args, ec);
    if (ec || !args.is_object()) {
        j.set_error_detail("arguments are not a JSON object");
        co_return make_error_code(core::errc::validation_failed);
    }
    const json::object& o = args.as_object();
    const json::value* tmpl = o.if_contains("template");
    const json::value* to = o.if_contains("to");
    const json::value* values_text = o.if_contains("values");
    if (tmpl == nullptr || !tmpl->is_string() || to == nullptr || !to->is_string()) {
        j.set_error_detail("template and to are required strings");
        co_return make_error_code(core::errc::validation_failed);
    }
    auto kind = kind_of(tmpl->as_string());
    if (!kind) {
        j.set_error_detail("unknown template");
        co_return make_error_code(core::errc::validation_failed);
    }
    mail::template_values values;
    if (values_text != nullptr && values_text->is_string()) {
        json::value v = json::parse(values_text->as_string(), ec);
        if (!ec && v.is_object()) {
            for (const auto& kv : v.as_object()) {
                std::string key(kv.key());
                if (key == "code_sealed" && kv.value().is_string()) {
                    auto code = auth::unseal(self->seal_key_, kv.value().as_string());
                    if (!code) {
                        // Sealed with another SECRET_KEY: it can never be read, so retrying is pointless.
                        j.set_error_detail("the code cannot be unsealed with this SECRET_KEY");
                        co_return make_error_code(core::errc::validation_failed);
                    }
                    values["code"] = *code;
                } else if (kv.value().is_string()) {
                    values[key] = std::string(kv.value().as_string());
                } else if (kv.value().is_int64()) {
                    values[key] = std::to_string(kv.value().as_int64());
                }
            }
        }
    }
    if (values.count("minutes") != 0 && values.count("minutes_valid") == 0) values["minutes_valid"] = values["minutes"];

    // A recovered or retried job that already delivered its message stops here.
    auto sent = co_await j.async_was_done("sent", deadline);
    if (!sent) co_return sent.error();
    if (*sent) co_return core::result<void>{};

    std::string recipient(to->as_string());
    auto r = co_await self->mailer_->async_send_template(*kind, recipient, std::move(values), deadline);
    if (r.ok()) {
        auto marked = co_await j.async_mark_done("sent", deadline);
        if (!marked) core::log::warn("mail_sent_mark_failed", {{"job", j.id}});
        co_return core::result<void>{};
    }
    // The worker records "<error>: <detail>": give it the step and the server's answer only,
    // not describe(), which repeats the error's name.
    std::string why = r.detail;
    if (!r.server_reply.empty()) why += (why.empty() ? "" : ": ") + r.server_reply;
    j.set_error_detail(std::move(why));
    co_return r.ec;
}

}  // namespace portcullis::app
