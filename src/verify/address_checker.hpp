#pragma once
// The e-mail address checks beyond syntax, as auth::email_checker: the disposable-domain
// list (any mode), then by EMAIL_VALIDATION a DNS lookup of the domain (mx) or a
// Mailboxlayer request (mailboxlayer). Definite answers are cached for a while, so a
// retried registration does not repeat the lookup; failures are not cached.

#include "auth/service.hpp"
#include "verify/dns.hpp"
#include "verify/mailboxlayer.hpp"

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

namespace portcullis::verify {

struct checker_settings {
    std::string mode = "syntax";  // syntax | mx | mailboxlayer
    bool fail_open = true;        // EMAIL_VALIDATION_FAIL_OPEN
    dns_settings dns;             // DNS_SERVERS, EMAIL_VALIDATION_TIMEOUT
    mailboxlayer_settings mailboxlayer;
    std::string disposable_domains_file;  // empty: no list
    std::chrono::seconds cache_ttl{3'600};
    std::size_t cache_entries = 10'000;
};

class address_checker;

// Null when there is nothing to check beyond syntax (mode syntax and no list).
// Throws std::runtime_error / std::invalid_argument naming the variable at fault.
std::unique_ptr<address_checker> make_address_checker(const checker_settings& s);

class address_checker final : public auth::email_checker {
public:
    explicit address_checker(const checker_settings& s);
    ~address_checker() override;

    // Checks the list, then the mode's source; waits at most min(EMAIL_VALIDATION_TIMEOUT,
    // what is left of `d`). Errors: timeout, dependency_failed. Any thread.
    boost::asio::awaitable<core::result<auth::address_verdict>> async_check(std::string email,
                                                                            core::deadline d) override;
    bool fail_open() const noexcept override;

    // SIGHUP: reads the disposable-domain list again. False (and the old list kept) when
    // it cannot be read.
    bool reload();

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace portcullis::verify
