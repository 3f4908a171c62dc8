#pragma once
// The "send_email" job: renders a template and delivers it through the configured
// mail backend. Idempotent where it can know: a job that already delivered its
// message (recorded in Redis) is not sent again when it is retried or recovered.

#include "app/config.hpp"
#include "core/timeout.hpp"
#include "jobs/queue.hpp"
#include "mail/settings.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <memory>
#include <string>

namespace portcullis::mail {
class mailer;
class template_store;
}  // namespace portcullis::mail

namespace portcullis::app {

class mail_task {
public:
    // Builds the backend from the configuration; throws std::runtime_error naming the
    // variable when it cannot (missing templates, unreadable EMAIL_CA_FILE).
    mail_task(const mail::settings& s, std::string seal_key, boost::asio::any_io_executor ex);
    ~mail_task();

    void register_with(jobs::registry& tasks);
    // Reloads the templates (SIGHUP); false keeps the old set.
    bool reload_templates();
    boost::asio::awaitable<void> async_close(core::deadline deadline);

private:
    static boost::asio::awaitable<core::result<void>> async_handle(mail_task* self, const jobs::job& j);

    std::string seal_key_;
    std::shared_ptr<mail::template_store> templates_;
    std::unique_ptr<mail::mailer> mailer_;
};

}  // namespace portcullis::app
