#pragma once
// Redis commands as RESP bytes, built once by the caller (binary safe), and
// pipelines of several commands sent in one round trip.

#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>

namespace portcullis::store::redis {

// An argument list: a command name and its arguments, or (default-constructed and
// filled with arg()) the KEYS or ARGV of a script call.
class command {
public:
    command() = default;

    template <class... Args>
    explicit command(std::string_view name, const Args&... args)
    {
        arg(name);
        (arg(args), ...);
    }

    command& arg(std::string_view a);
    command& arg(const char* a) { return arg(std::string_view(a)); }
    command& arg(const std::string& a) { return arg(std::string_view(a)); }
    command& arg(double a);
    template <std::integral I>
    requires(!std::is_same_v<I, bool> && !std::is_same_v<I, char>) command& arg(I a)
    {
        if constexpr (std::is_signed_v<I>)
            return arg_int(static_cast<std::int64_t>(a));
        else
            return arg_uint(static_cast<std::uint64_t>(a));
    }
    // Milliseconds as an integer (PX, PEXPIRE, scores).
    command& arg(std::chrono::milliseconds ms) { return arg_int(static_cast<std::int64_t>(ms.count())); }

    // Appends every argument of `other` after ours.
    command& append(const command& other);

    std::size_t size() const noexcept { return argc_; }
    bool empty() const noexcept { return argc_ == 0; }

    // Appends the RESP array for this command to `out`.
    void write_to(std::string& out) const;

private:
    command& arg_int(std::int64_t v);
    command& arg_uint(std::uint64_t v);

    std::string body_;  // "$len\r\nbytes\r\n" per argument
    std::size_t argc_ = 0;
};

// Several commands sent together; their replies come back in the same order.
class pipeline {
public:
    template <class... Args>
    pipeline& push(std::string_view name, const Args&... args)
    {
        command(name, args...).write_to(bytes_);
        ++count_;
        return *this;
    }
    pipeline& push(const command& c)
    {
        c.write_to(bytes_);
        ++count_;
        return *this;
    }

    std::size_t size() const noexcept { return count_; }
    bool empty() const noexcept { return count_ == 0; }
    const std::string& bytes() const noexcept { return bytes_; }

private:
    std::string bytes_;
    std::size_t count_ = 0;
};

}  // namespace portcullis::store::redis
