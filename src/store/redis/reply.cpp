#include "store/redis/reply.hpp"

#include <hiredis/read.h>

#include <limits>
#include <ostream>
#include <utility>

namespace portcullis::store::redis {

reply reply::make_integer(std::int64_t v)
{
    reply r;
    r.kind = reply_kind::integer;
    r.integer = v;
    return r;
}

reply reply::make_string(std::string v)
{
    reply r;
    r.kind = reply_kind::string;
    r.str = std::move(v);
    return r;
}

reply reply::make_status(std::string v)
{
    reply r;
    r.kind = reply_kind::status;
    r.str = std::move(v);
    return r;
}

reply reply::make_error(std::string v)
{
    reply r;
    r.kind = reply_kind::error;
    r.str = std::move(v);
    return r;
}

reply reply::make_array(std::vector<reply> v)
{
    reply r;
    r.kind = reply_kind::array;
    r.elements = std::move(v);
    return r;
}

std::ostream& operator<<(std::ostream& os, const reply& r)
{
    switch (r.kind) {
    case reply_kind::nil:
        return os << "(nil)";
    case reply_kind::integer:
        return os << "(integer) " << r.integer;
    case reply_kind::string:
        return os << '"' << r.str << '"';
    case reply_kind::status:
        return os << r.str;
    case reply_kind::error:
        return os << "(error) " << r.str;
    case reply_kind::array:
        os << '[';
        for (std::size_t i = 0; i < r.elements.size(); ++i) os << (i ? ", " : "") << r.elements[i];
        return os << ']';
    }
    return os;
}

bool is_transient_error(const reply& r) noexcept
{
    if (!r.is_error()) return false;
    std::string_view s = r.str;
    for (std::string_view p : {"LOADING", "BUSY", "MASTERDOWN", "TRYAGAIN", "READONLY", "UNBLOCKED"}) {
        if (s.starts_with(p)) return true;
    }
    return false;
}

namespace {

boost::system::error_code bad_reply(const reply& r)
{
    return core::make_error_code(is_transient_error(r) ? core::errc::redis_unavailable : core::errc::internal);
}

}  // namespace

core::result<std::int64_t> as_integer(const reply& r)
{
    if (r.kind == reply_kind::integer) return r.integer;
    return bad_reply(r);
}

core::result<std::string> as_string(const reply& r)
{
    if (r.is_text()) return r.str;
    return bad_reply(r);
}

core::result<std::optional<std::string>> as_optional_string(const reply& r)
{
    if (r.is_nil()) return std::optional<std::string>{};
    if (r.is_text()) return std::optional<std::string>{r.str};
    return bad_reply(r);
}

core::result<void> as_ok(const reply& r)
{
    if (r.is_error()) return bad_reply(r);
    return {};
}

namespace {

// hiredis calls these while parsing. The root is heap-allocated; children live in their
// parent's pre-sized element vector, and hiredis only needs a non-null pointer for them.
reply* place(const redisReadTask* task, reply&& value)
{
    if (task->parent != nullptr) {
        auto* parent = static_cast<reply*>(task->parent->obj);
        reply& slot = parent->elements[static_cast<std::size_t>(task->idx)];
        slot = std::move(value);
        return &slot;
    }
    return new reply(std::move(value));
}

void* create_string(const redisReadTask* task, char* str, size_t len)
{
    reply r;
    switch (task->type) {
    case REDIS_REPLY_ERROR:
        r.kind = reply_kind::error;
        break;
    case REDIS_REPLY_STATUS:
        r.kind = reply_kind::status;
        break;
    default:
        r.kind = reply_kind::string;
        break;
    }
    r.str.assign(str, len);
    return place(task, std::move(r));
}

void* create_array(const redisReadTask* task, int elements)
{
    reply r;
    r.kind = reply_kind::array;
    r.elements.resize(static_cast<std::size_t>(elements < 0 ? 0 : elements));
    return place(task, std::move(r));
}

void* create_integer(const redisReadTask* task, long long value)
{
    return place(task, reply::make_integer(static_cast<std::int64_t>(value)));
}

void* create_nil(const redisReadTask* task)
{
    return place(task, reply{});
}

void free_object(void* obj)
{
    delete static_cast<reply*>(obj);
}

redisReplyObjectFunctions reply_functions = {create_string, create_array, create_integer, create_nil, free_object};

}  // namespace

struct reply_reader::impl {
    redisReader* r = nullptr;

    impl() : r(redisReaderCreateWithFunctions(&reply_functions))
    {
        if (r == nullptr) throw std::bad_alloc();
    }
    ~impl() { redisReaderFree(r); }
};

reply_reader::reply_reader() : impl_(std::make_unique<impl>()) {}
reply_reader::~reply_reader() = default;

bool reply_reader::feed(const char* data, std::size_t n)
{
    return redisReaderFeed(impl_->r, data, n) == REDIS_OK;
}

std::optional<reply> reply_reader::next(bool& failed)
{
    failed = false;
    void* obj = nullptr;
    if (redisReaderGetReply(impl_->r, &obj) != REDIS_OK) {
        failed = true;
        return std::nullopt;
    }
    if (obj == nullptr) return std::nullopt;
    std::unique_ptr<reply> owned(static_cast<reply*>(obj));
    return std::optional<reply>(std::move(*owned));
}

void reply_reader::reset()
{
    impl_ = std::make_unique<impl>();
}

}  // namespace portcullis::store::redis
