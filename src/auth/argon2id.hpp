#pragma once
// Argon2 (RFC 9106, version 0x13) written for Portcullis: BLAKE2b, H0, the variable-length
// hash H', argon2id/argon2i indexing and a memory-filling kernel that uses SSE4.1 or AVX2
// when the CPU has them (chosen at run time; the portable kernel runs everywhere).
// libargon2 remains the reference: the unit tests compare every kernel with it.
//
// Blocking and CPU-bound (tens of ms at the default costs): call it on hash_pool only.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace portcullis::auth::argon2 {

// The block-filling implementations. `automatic` picks the fastest the CPU supports.
enum class kernel : std::uint8_t { automatic = 0, portable = 1, sse41 = 2, avx2 = 3 };

// "portable", "sse4.1", "avx2" (and "automatic").
const char* kernel_name(kernel k) noexcept;
// Whether this CPU runs `k` (portable and automatic always).
bool kernel_supported(kernel k) noexcept;
// The kernel `automatic` stands for on this CPU.
kernel best_kernel() noexcept;

enum class variant : std::uint8_t { argon2i = 1, argon2id = 2 };

// Memory for the blocks of one hash at a time, kept between hashes so a hash thread does
// not allocate and fault in megabytes per call. Not thread-safe: one per thread. Every
// byte handed out is wiped before the next hash may see it (release()).
class arena {
public:
    // Up to `keep_bytes` stay allocated between hashes; a larger request is served by an
    // allocation freed at release().
    explicit arena(std::size_t keep_bytes = std::size_t{64} << 20) noexcept : keep_bytes_(keep_bytes) {}
    ~arena();
    arena(const arena&) = delete;
    arena& operator=(const arena&) = delete;

    // `bytes` of 64-byte aligned memory, or nullptr when out of memory. One acquisition at
    // a time: a second acquire() before release() returns a fresh allocation, never the
    // memory in use.
    std::byte* acquire(std::size_t bytes) noexcept;
    // Wipes the acquired bytes (unless the caller did: `wiped`) and gives them back.
    void release(std::byte* p, std::size_t bytes, bool wiped = false) noexcept;

    std::size_t capacity() const noexcept { return capacity_; }

private:
    std::size_t keep_bytes_;
    std::byte* kept_ = nullptr;
    std::size_t capacity_ = 0;
    bool in_use_ = false;
};

struct inputs {
    std::string_view password;
    std::string_view salt;
    std::string_view secret;           // K, optional
    std::string_view associated_data;  // X, optional
    std::uint32_t memory_kib = 19456;  // m
    std::uint32_t iterations = 2;      // t
    std::uint32_t lanes = 1;           // p
    variant type = variant::argon2id;
};

enum class status : std::uint8_t {
    ok = 0,
    bad_parameters = 1,  // out of libargon2's accepted ranges (see valid())
    out_of_memory = 2,
};

// True when libargon2 would accept these inputs: t >= 1, 1 <= p < 2^24, m >= 8p,
// salt >= 8 bytes, every length below 2^32, and a tag of 4 bytes or more.
bool valid(const inputs& in, std::size_t tag_length) noexcept;

// The raw tag of `in` (its length is tag.size()). `mem` serves the block memory.
status hash_raw(const inputs& in, std::span<unsigned char> tag, arena& mem, kernel k = kernel::automatic) noexcept;

// BLAKE2b (RFC 7693) without a key, with an output of 1..64 bytes; exposed for tests.
void blake2b(std::span<const unsigned char> data, std::span<unsigned char> out) noexcept;

}  // namespace portcullis::auth::argon2
