#include "jobs/envelope.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <string>

namespace portcullis::jobs {

namespace json = boost::json;

namespace {

class jobs_category final : public boost::system::error_category {
public:
    const char* name() const noexcept override { return "portcullis.jobs"; }
    std::string message(int) const override { return "retry_later"; }
    boost::system::error_condition default_error_condition(int) const noexcept override
    {
        return core::make_error_condition(core::condition::unavailable);
    }
};

const jobs_category& category() noexcept
{
    static const jobs_category instance;
    return instance;
}

template <class I>
bool read_int(const json::object& o, std::string_view key, I& out)
{
    auto* v = o.if_contains(key);
    if (v == nullptr) return true;  // optional: keep the default
    if (auto* i = v->if_int64()) {
        out = static_cast<I>(*i);
        return true;
    }
    if (auto* u = v->if_uint64()) {
        out = static_cast<I>(*u);
        return true;
    }
    return false;
}

bool read_string(const json::object& o, std::string_view key, std::string& out, bool required)
{
    auto* v = o.if_contains(key);
    if (v == nullptr) return !required;
    auto* s = v->if_string();
    if (s == nullptr) return false;
    out.assign(s->data(), s->size());
    return true;
}

}  // namespace

boost::system::error_code retry_later() noexcept
{
    return {1, category()};
}

std::string encode(const envelope& e)
{
    json::object o;
    o["id"] = e.id;
    o["task"] = e.task;
    o["queue"] = e.queue;
    o["args"] = json::parse(e.args);
    o["attempt"] = e.attempt;
    o["max_retries"] = e.max_retries;
    o["enqueued_at"] = e.enqueued_at_ms;
    o["eta"] = e.eta_ms;
    o["backoff_base"] = e.backoff_base_ms;
    o["backoff_cap"] = e.backoff_cap_ms;
    if (!e.last_error.empty()) o["last_error"] = e.last_error;
    if (e.failed_at_ms != 0) o["failed_at"] = e.failed_at_ms;
    return json::serialize(o);
}

core::result<envelope> decode(std::string_view text)
{
    const auto bad = core::make_error_code(core::errc::malformed_json);
    boost::system::error_code ec;
    json::value v = json::parse(text, ec);
    if (ec) return bad;
    auto* o = v.if_object();
    if (o == nullptr) return bad;
    envelope e;
    if (!read_string(*o, "id", e.id, true) || e.id.empty()) return bad;
    if (!read_string(*o, "task", e.task, true)) return bad;
    if (!read_string(*o, "queue", e.queue, false)) return bad;
    if (!read_string(*o, "last_error", e.last_error, false)) return bad;
    if (auto* a = o->if_contains("args")) e.args = json::serialize(*a);
    if (!read_int(*o, "attempt", e.attempt) || !read_int(*o, "max_retries", e.max_retries) ||
        !read_int(*o, "enqueued_at", e.enqueued_at_ms) || !read_int(*o, "eta", e.eta_ms) ||
        !read_int(*o, "backoff_base", e.backoff_base_ms) || !read_int(*o, "backoff_cap", e.backoff_cap_ms) ||
        !read_int(*o, "failed_at", e.failed_at_ms)) {
        return bad;
    }
    if (e.attempt < 0 || e.max_retries < 0) return bad;
    return e;
}

bool is_json(std::string_view text)
{
    boost::system::error_code ec;
    json::parse(text, ec);
    return !ec;
}

std::chrono::milliseconds retry_delay(std::chrono::milliseconds base, std::chrono::milliseconds cap, int attempt,
                                      std::uint64_t random_bits)
{
    std::int64_t b = std::max<std::int64_t>(base.count(), 1);
    std::int64_t c = std::max<std::int64_t>(cap.count(), b);
    int shift = std::clamp(attempt - 1, 0, 40);
    std::int64_t d = c;
    // Doubling that would pass the cap stops at the cap (and avoids overflow).
    if (shift < 40 && b <= (c >> shift)) d = b << shift;
    std::int64_t half = d / 2;
    std::int64_t jitter = static_cast<std::int64_t>(random_bits % static_cast<std::uint64_t>(d - half + 1));
    return std::chrono::milliseconds(half + jitter);
}

bool is_transient(const boost::system::error_code& ec) noexcept
{
    return core::is_unavailable(ec) || ec == core::condition::unavailable;
}

next_step after_failure(const boost::system::error_code& ec, int attempt, int max_retries) noexcept
{
    if (is_transient(ec) && attempt <= max_retries) return next_step::retry;
    return next_step::dead;
}

}  // namespace portcullis::jobs
