#include "core/random.hpp"

#include "core/text.hpp"

#include <sys/random.h>

#include <cerrno>
#include <cstdio>
#include <ctime>
#include <system_error>

namespace portcullis::core {

void random_bytes(void* out, std::size_t n)
{
    auto* p = static_cast<unsigned char*>(out);
    while (n > 0) {
        ssize_t got = ::getrandom(p, n, 0);
        if (got < 0) {
            if (errno == EINTR) continue;
            throw std::system_error(errno, std::generic_category(), "getrandom");
        }
        p += got;
        n -= static_cast<std::size_t>(got);
    }
}

std::uint64_t random_below(std::uint64_t bound)
{
    // Rejection sampling: draw until the value falls below the largest multiple of bound.
    const std::uint64_t limit = UINT64_MAX - (UINT64_MAX % bound);
    for (;;) {
        std::uint64_t v = 0;
        random_bytes(&v, sizeof v);
        if (v < limit) return v % bound;
    }
}

std::string random_uuid()
{
    unsigned char b[16];
    random_bytes(b, sizeof b);
    b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40);  // version 4
    b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);  // RFC 4122 variant
    std::string out;
    out.reserve(36);
    for (std::size_t i = 0; i < 16; i += 2) {
        if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
        hex_encode_append(out, std::span(b + i, 2));
    }
    return out;
}

std::string random_hex(std::size_t n)
{
    std::string raw(n, '\0');
    random_bytes(raw.data(), n);
    return hex_encode(raw);
}

std::string random_token(std::size_t n)
{
    std::string raw(n, '\0');
    random_bytes(raw.data(), n);
    return base64url_encode(raw);
}

namespace {
class real_clock final : public clock {
public:
    std::chrono::system_clock::time_point now() const override { return std::chrono::system_clock::now(); }
};
}  // namespace

const clock& system_clock() noexcept
{
    static const real_clock instance;
    return instance;
}

std::string format_rfc3339(std::chrono::system_clock::time_point t)
{
    std::time_t tt = std::chrono::system_clock::to_time_t(t);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    char buf[32];
    int n = std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                          tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    return std::string(buf, static_cast<std::size_t>(n));
}

}  // namespace portcullis::core
