#pragma once
// Cryptographically secure randomness from the kernel (getrandom), plus an
// injectable clock so expiry and cooldown logic can be tested with a fake.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

namespace portcullis::core {

// Fills `out` with `n` bytes from the kernel CSPRNG. Throws std::system_error only if
// the kernel refuses (never in practice).
void random_bytes(void* out, std::size_t n);

// Uniform integer in [0, bound) without modulo bias. `bound` must be > 0.
std::uint64_t random_below(std::uint64_t bound);

// `n` random bytes as lowercase hex (2n characters).
std::string random_hex(std::size_t n);

// A random (version 4) uuid in canonical lowercase form.
std::string random_uuid();

// n random bytes encoded as unpadded base64url.
std::string random_token(std::size_t n);

class clock {
public:
    virtual ~clock() = default;
    virtual std::chrono::system_clock::time_point now() const = 0;
};

// The real wall clock.
const clock& system_clock() noexcept;

// Seconds since the epoch of a time point.
inline std::int64_t to_unix(std::chrono::system_clock::time_point t) noexcept
{
    return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

// RFC 3339 UTC with second precision: 2026-11-21T14:07:00Z.
std::string format_rfc3339(std::chrono::system_clock::time_point t);

}  // namespace portcullis::core
