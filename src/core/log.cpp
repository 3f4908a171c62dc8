#include "core/log.hpp"

#include "core/text.hpp"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <limits>
#include <string>

namespace portcullis::core::log {
namespace {

std::atomic<int> min_level{static_cast<int>(level::info)};
constexpr std::size_t flush_threshold = 32 * 1024;

struct thread_buffer {
    std::string data;
    bool buffered = false;
    ~thread_buffer() { flush(); }
    void flush() noexcept
    {
        std::size_t off = 0;
        while (off < data.size()) {
            ssize_t n = ::write(STDOUT_FILENO, data.data() + off, data.size() - off);
            if (n < 0) {
                if (errno == EINTR) continue;
                break;  // stdout gone: drop the lines rather than block or crash
            }
            off += static_cast<std::size_t>(n);
        }
        data.clear();
    }
};

thread_local thread_buffer tls_buffer;

const char* level_name(level l)
{
    switch (l) {
    case level::debug:
        return "debug";
    case level::info:
        return "info";
    case level::warn:
        return "warn";
    case level::error:
        return "error";
    }
    return "info";
}

// The date and time down to the second change once a second: format them then, and
// only the milliseconds on every line (the access log writes one line per request).
void append_time(std::string& out)
{
    using namespace std::chrono;
    thread_local std::int64_t cached_second = std::numeric_limits<std::int64_t>::min();
    thread_local char cached[64];
    const auto now = system_clock::now();
    const auto secs = time_point_cast<seconds>(now);
    const auto ms = static_cast<int>(duration_cast<milliseconds>(now - secs).count());
    if (secs.time_since_epoch().count() != cached_second) {
        std::time_t t = system_clock::to_time_t(secs);
        std::tm tm{};
        gmtime_r(&t, &tm);
        std::snprintf(cached, sizeof cached, "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1,
                      tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
        cached_second = secs.time_since_epoch().count();
    }
    const char frac[5] = {'.', static_cast<char>('0' + ms / 100), static_cast<char>('0' + ms / 10 % 10),
                          static_cast<char>('0' + ms % 10), 'Z'};
    out.append(cached, 19);
    out.append(frac, sizeof frac);
}

template <class N>
void append_number(std::string& out, N v)
{
    char buf[32];
    auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v);
    if (ec == std::errc{}) out.append(buf, p);
}

}  // namespace

void set_level(level l) noexcept
{
    min_level.store(static_cast<int>(l), std::memory_order_relaxed);
}

bool enabled(level l) noexcept
{
    return static_cast<int>(l) >= min_level.load(std::memory_order_relaxed);
}

bool parse_level(std::string_view text, level& out) noexcept
{
    if (text == "debug")
        out = level::debug;
    else if (text == "info")
        out = level::info;
    else if (text == "warn" || text == "warning")
        out = level::warn;
    else if (text == "error")
        out = level::error;
    else
        return false;
    return true;
}

void append_json_escaped(std::string& out, std::string_view text)
{
    for (unsigned char c : text) {
        switch (c) {
        case '"':
            out += "\\\"";
            break;
        case '\\':
            out += "\\\\";
            break;
        case '\n':
            out += "\\n";
            break;
        case '\r':
            out += "\\r";
            break;
        case '\t':
            out += "\\t";
            break;
        default:
            if (c < 0x20 || c == 0x7f) {
                out += "\\u00";
                out += hex_digits_lower[c >> 4];
                out += hex_digits_lower[c & 0xf];
            } else {
                out += static_cast<char>(c);
            }
        }
    }
}

void write(level l, std::string_view event, std::initializer_list<field> fields)
{
    if (!enabled(l)) return;
    thread_buffer& tb = tls_buffer;
    std::string& out = tb.data;
    out += "{\"time\":\"";
    append_time(out);
    out += "\",\"level\":\"";
    out += level_name(l);
    out += "\",\"msg\":\"";
    append_json_escaped(out, event);
    out += '"';
    for (const field& f : fields) {
        out += ",\"";
        append_json_escaped(out, f.key);
        out += "\":";
        switch (f.k) {
        case field::kind::str:
            out += '"';
            append_json_escaped(out, f.s);
            out += '"';
            break;
        case field::kind::i64:
            append_number(out, f.i);
            break;
        case field::kind::u64:
            append_number(out, f.u);
            break;
        case field::kind::f64: {
            char buf[64];
            auto [p, ec] = std::to_chars(buf, buf + sizeof buf, f.d, std::chars_format::fixed, 3);
            if (ec == std::errc{})
                out.append(buf, p);
            else
                out += "null";
            break;
        }
        case field::kind::boolean:
            out += f.b ? "true" : "false";
            break;
        }
    }
    out += "}\n";
    if (!tb.buffered || l >= level::warn || out.size() >= flush_threshold) tb.flush();
}

void set_thread_buffered(bool on) noexcept
{
    tls_buffer.buffered = on;
    if (!on) tls_buffer.flush();
}

void flush_thread() noexcept
{
    tls_buffer.flush();
}

}  // namespace portcullis::core::log
