#include "verify/address_checker.hpp"

#include "core/log.hpp"
#include "verify/domain_list.hpp"

#include <boost/asio/this_coro.hpp>

#include <mutex>
#include <optional>
#include <unordered_map>

namespace portcullis::verify {

namespace asio = boost::asio;

namespace {

std::string domain_of(const std::string& email)
{
    auto at = email.rfind('@');
    return at == std::string::npos ? std::string() : email.substr(at + 1);
}

// Definite verdicts by key, each for `ttl`; when full, the whole map is dropped (the
// cache only saves repeated lookups, it is never needed for correctness).
class verdict_cache {
public:
    verdict_cache(std::chrono::seconds ttl, std::size_t cap) : ttl_(ttl), cap_(cap) {}

    std::optional<auth::address_verdict> get(const std::string& key)
    {
        std::lock_guard lock(mutex_);
        auto it = entries_.find(key);
        if (it == entries_.end()) return std::nullopt;
        if (it->second.expires <= core::steady_clock::now()) {
            entries_.erase(it);
            return std::nullopt;
        }
        return it->second.verdict;
    }

    void put(const std::string& key, const auth::address_verdict& v)
    {
        if (cap_ == 0 || ttl_.count() == 0) return;
        std::lock_guard lock(mutex_);
        if (entries_.size() >= cap_) entries_.clear();
        entries_[key] = {v, core::steady_clock::now() + ttl_};
    }

private:
    struct entry {
        auth::address_verdict verdict;
        core::steady_clock::time_point expires;
    };
    std::mutex mutex_;
    std::unordered_map<std::string, entry> entries_;
    std::chrono::seconds ttl_;
    std::size_t cap_;
};

}  // namespace

struct address_checker::impl {
    checker_settings s;
    std::unique_ptr<mailboxlayer_client> mailboxlayer;
    verdict_cache cache;
    std::mutex list_mutex;
    std::shared_ptr<const domain_list> list;

    explicit impl(const checker_settings& settings) : s(settings), cache(settings.cache_ttl, settings.cache_entries)
    {
        if (s.mode != "syntax" && s.mode != "mx" && s.mode != "mailboxlayer") {
            throw std::invalid_argument("EMAIL_VALIDATION: unknown mode " + s.mode);
        }
        if (s.mode != "syntax") prepare_system_resolver();
        if (s.mode == "mailboxlayer") {
            mailboxlayer_settings m = s.mailboxlayer;
            m.timeout = s.dns.timeout;
            m.dns = s.dns;
            mailboxlayer = std::make_unique<mailboxlayer_client>(std::move(m));
        }
        if (!s.disposable_domains_file.empty()) {
            list = std::make_shared<const domain_list>(domain_list::load(s.disposable_domains_file));
        }
    }

    std::shared_ptr<const domain_list> current_list()
    {
        std::lock_guard lock(list_mutex);
        return list;
    }
};

std::unique_ptr<address_checker> make_address_checker(const checker_settings& s)
{
    if (s.mode == "syntax" && s.disposable_domains_file.empty()) return nullptr;
    return std::make_unique<address_checker>(s);
}

address_checker::address_checker(const checker_settings& s) : impl_(std::make_unique<impl>(s))
{
    auto list = impl_->current_list();
    core::log::info(
        "email_validation",
        {{"mode", s.mode}, {"fail_open", s.fail_open}, {"disposable_domains", list ? list->size() : std::size_t{0}}});
}

address_checker::~address_checker() = default;

bool address_checker::fail_open() const noexcept
{
    return impl_->s.fail_open;
}

bool address_checker::reload()
{
    if (impl_->s.disposable_domains_file.empty()) return true;
    try {
        auto fresh = std::make_shared<const domain_list>(domain_list::load(impl_->s.disposable_domains_file));
        std::lock_guard lock(impl_->list_mutex);
        impl_->list = std::move(fresh);
        return true;
    } catch (const std::exception& e) {
        core::log::error("disposable_domains_reload_failed", {{"error", e.what()}});
        return false;
    }
}

asio::awaitable<core::result<auth::address_verdict>> address_checker::async_check(std::string email, core::deadline d)
{
    impl& m = *impl_;
    std::string domain = domain_of(email);
    if (auto list = m.current_list(); list && list->contains(domain)) {
        co_return auth::address_verdict{false, "Disposable e-mail addresses are not accepted."};
    }

    if (m.s.mode == "mx") {
        std::string key = "mx:" + domain;
        if (auto hit = m.cache.get(key)) co_return *hit;
        dns_settings ds = m.s.dns;
        ds.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(core::budget(d, m.s.dns.timeout));
        auto accepts = co_await async_domain_accepts_mail(domain, ds);
        if (!accepts) co_return accepts.error();
        auth::address_verdict v;
        if (!*accepts) v = {false, "The domain of this address does not receive mail."};
        m.cache.put(key, v);
        co_return v;
    }

    if (m.s.mode == "mailboxlayer") {
        std::string key = "ml:" + email;
        if (auto hit = m.cache.get(key)) co_return *hit;
        auto v = co_await m.mailboxlayer->async_check(email, d);
        if (v) m.cache.put(key, *v);
        co_return v;
    }
    co_return auth::address_verdict{};
}

}  // namespace portcullis::verify
