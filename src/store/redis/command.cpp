#include "store/redis/command.hpp"

#include <charconv>
#include <system_error>

namespace portcullis::store::redis {
namespace {

void append_length(std::string& out, char prefix, std::size_t n)
{
    char buf[24];
    buf[0] = prefix;
    auto [end, ec] = std::to_chars(buf + 1, buf + sizeof buf, n);
    out.append(buf, end);
    out.append("\r\n", 2);
}

}  // namespace

command& command::arg(std::string_view a)
{
    append_length(body_, '$', a.size());
    body_.append(a);
    body_.append("\r\n", 2);
    ++argc_;
    return *this;
}

command& command::arg(double a)
{
    char buf[64];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, a);
    return arg(std::string_view(buf, static_cast<std::size_t>(end - buf)));
}

command& command::arg_int(std::int64_t v)
{
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    return arg(std::string_view(buf, static_cast<std::size_t>(end - buf)));
}

command& command::arg_uint(std::uint64_t v)
{
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    return arg(std::string_view(buf, static_cast<std::size_t>(end - buf)));
}

command& command::append(const command& other)
{
    body_ += other.body_;
    argc_ += other.argc_;
    return *this;
}

void command::write_to(std::string& out) const
{
    append_length(out, '*', argc_);
    out += body_;
}

}  // namespace portcullis::store::redis
