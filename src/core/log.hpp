#pragma once
// Structured JSON logging: one object per line on stdout (journald-friendly).
// I/O threads buffer their lines and flush on a short timer or when the buffer
// fills; every other thread writes through at once. Never log secrets or codes.

#include <cstdint>
#include <initializer_list>
#include <string_view>
#include <type_traits>

namespace portcullis::core::log {

enum class level { debug = 0, info = 1, warn = 2, error = 3 };

// One key/value of a log line. Strings are escaped as JSON.
struct field {
    enum class kind { str, i64, u64, f64, boolean };

    std::string_view key;
    kind k;
    std::string_view s{};
    std::int64_t i = 0;
    std::uint64_t u = 0;
    double d = 0;
    bool b = false;

    field(std::string_view key_, std::string_view v) : key(key_), k(kind::str), s(v) {}
    field(std::string_view key_, const char* v) : key(key_), k(kind::str), s(v) {}
    field(std::string_view key_, bool v) : key(key_), k(kind::boolean), b(v) {}
    field(std::string_view key_, double v) : key(key_), k(kind::f64), d(v) {}
    template <class I>
    requires(std::is_integral_v<I> && !std::is_same_v<I, bool> && std::is_signed_v<I>) field(std::string_view key_, I v)
        : key(key_), k(kind::i64), i(v)
    {
    }
    template <class I>
    requires(std::is_integral_v<I> && !std::is_same_v<I, bool> && std::is_unsigned_v<I>)
        field(std::string_view key_, I v)
        : key(key_), k(kind::u64), u(v)
    {
    }
};

// Minimum level written; parsed from LOG_LEVEL by the configuration.
void set_level(level l) noexcept;
bool enabled(level l) noexcept;
bool parse_level(std::string_view text, level& out) noexcept;

// Writes {"time":…,"level":…,"msg":event,<fields>} as one line.
void write(level l, std::string_view event, std::initializer_list<field> fields);

inline void debug(std::string_view e, std::initializer_list<field> f = {})
{
    if (enabled(level::debug)) write(level::debug, e, f);
}
inline void info(std::string_view e, std::initializer_list<field> f = {})
{
    if (enabled(level::info)) write(level::info, e, f);
}
inline void warn(std::string_view e, std::initializer_list<field> f = {})
{
    write(level::warn, e, f);
}
inline void error(std::string_view e, std::initializer_list<field> f = {})
{
    write(level::error, e, f);
}

// Marks the calling thread as buffered (I/O threads). Its lines are written by
// flush_thread(), called from a timer on that thread, or when 32 KiB accumulate.
void set_thread_buffered(bool on) noexcept;
void flush_thread() noexcept;

// Appends `text` to `out` as a JSON string body (no quotes), escaping as needed.
void append_json_escaped(std::string& out, std::string_view text);

}  // namespace portcullis::core::log
