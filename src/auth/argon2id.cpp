#include "auth/argon2id.hpp"

#include <immintrin.h>
#include <string.h>  // explicit_bzero

#include <array>
#include <bit>
#include <cstdlib>
#include <cstring>

namespace portcullis::auth::argon2 {
namespace {

// ---- BLAKE2b (RFC 7693) ----

constexpr std::array<std::uint64_t, 8> blake2b_iv = {
    0x6a09e667f3bcc908ULL, 0xbb67ae8584caa73bULL, 0x3c6ef372fe94f82bULL, 0xa54ff53a5f1d36f1ULL,
    0x510e527fade682d1ULL, 0x9b05688c2b3e6c1fULL, 0x1f83d9abfb41bd6bULL, 0x5be0cd19137e2179ULL,
};

constexpr std::uint8_t blake2b_sigma[12][16] = {
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}, {14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3},
    {11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4}, {7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8},
    {9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13}, {2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9},
    {12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11}, {13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10},
    {6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5}, {10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0},
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}, {14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3},
};

std::uint64_t load64(const unsigned char* p) noexcept
{
    std::uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
    return v;
}

void store64(unsigned char* p, std::uint64_t v) noexcept
{
    for (int i = 0; i < 8; ++i) p[i] = static_cast<unsigned char>(v >> (8 * i));
}

void store32(unsigned char* p, std::uint32_t v) noexcept
{
    for (int i = 0; i < 4; ++i) p[i] = static_cast<unsigned char>(v >> (8 * i));
}

void wipe(void* p, std::size_t n) noexcept
{
    ::explicit_bzero(p, n);
}

// An unkeyed BLAKE2b state fed in pieces. The final block is compressed only when the
// input is known to be complete, as the last-block flag requires.
class blake2b_state {
public:
    explicit blake2b_state(std::size_t out_len) noexcept : out_len_(out_len)
    {
        h_ = blake2b_iv;
        h_[0] ^= 0x01010000ULL ^ out_len;
    }
    ~blake2b_state()
    {
        wipe(buf_.data(), buf_.size());
        wipe(h_.data(), sizeof h_);
    }
    blake2b_state(const blake2b_state&) = delete;
    blake2b_state& operator=(const blake2b_state&) = delete;

    void update(const unsigned char* p, std::size_t n) noexcept
    {
        while (n > 0) {
            if (buffered_ == buf_.size()) {
                counter_ += buf_.size();
                compress(false);
                buffered_ = 0;
            }
            const std::size_t take = std::min(n, buf_.size() - buffered_);
            std::memcpy(buf_.data() + buffered_, p, take);
            buffered_ += take;
            p += take;
            n -= take;
        }
    }
    void update(std::string_view s) noexcept { update(reinterpret_cast<const unsigned char*>(s.data()), s.size()); }
    void update_u32(std::uint32_t v) noexcept
    {
        unsigned char b[4];
        store32(b, v);
        update(b, 4);
    }

    void final(unsigned char* out) noexcept
    {
        counter_ += buffered_;
        std::memset(buf_.data() + buffered_, 0, buf_.size() - buffered_);
        compress(true);
        unsigned char full[64];
        for (int i = 0; i < 8; ++i) store64(full + 8 * i, h_[i]);
        std::memcpy(out, full, out_len_);
        wipe(full, sizeof full);
    }

private:
    static void mix(std::uint64_t* v, int a, int b, int c, int d, std::uint64_t x, std::uint64_t y) noexcept
    {
        v[a] = v[a] + v[b] + x;
        v[d] = std::rotr(v[d] ^ v[a], 32);
        v[c] = v[c] + v[d];
        v[b] = std::rotr(v[b] ^ v[c], 24);
        v[a] = v[a] + v[b] + y;
        v[d] = std::rotr(v[d] ^ v[a], 16);
        v[c] = v[c] + v[d];
        v[b] = std::rotr(v[b] ^ v[c], 63);
    }

    void compress(bool last) noexcept
    {
        std::uint64_t m[16];
        std::uint64_t v[16];
        for (int i = 0; i < 16; ++i) m[i] = load64(buf_.data() + 8 * i);
        for (int i = 0; i < 8; ++i) {
            v[i] = h_[i];
            v[i + 8] = blake2b_iv[i];
        }
        v[12] ^= counter_;  // inputs here stay far below 2^64 bytes: the high counter word is zero
        if (last) v[14] = ~v[14];
        for (const auto& s : blake2b_sigma) {
            mix(v, 0, 4, 8, 12, m[s[0]], m[s[1]]);
            mix(v, 1, 5, 9, 13, m[s[2]], m[s[3]]);
            mix(v, 2, 6, 10, 14, m[s[4]], m[s[5]]);
            mix(v, 3, 7, 11, 15, m[s[6]], m[s[7]]);
            mix(v, 0, 5, 10, 15, m[s[8]], m[s[9]]);
            mix(v, 1, 6, 11, 12, m[s[10]], m[s[11]]);
            mix(v, 2, 7, 8, 13, m[s[12]], m[s[13]]);
            mix(v, 3, 4, 9, 14, m[s[14]], m[s[15]]);
        }
        for (int i = 0; i < 8; ++i) h_[i] ^= v[i] ^ v[i + 8];
        wipe(m, sizeof m);
        wipe(v, sizeof v);
    }

    std::array<std::uint64_t, 8> h_{};
    std::array<unsigned char, 128> buf_{};
    std::size_t buffered_ = 0;
    std::uint64_t counter_ = 0;
    std::size_t out_len_;
};

// H' of RFC 9106 (section 3.3): a hash of any output length built from BLAKE2b, over
// the concatenation of `a` and `b`.
void hash_long(std::span<unsigned char> out, std::span<const unsigned char> a, std::span<const unsigned char> b = {})
{
    const auto len = static_cast<std::uint32_t>(out.size());
    if (out.size() <= 64) {
        blake2b_state s(out.size());
        s.update_u32(len);
        s.update(a.data(), a.size());
        s.update(b.data(), b.size());
        s.final(out.data());
        return;
    }
    // Chained 64-byte hashes; each contributes its first half, the last one what remains.
    unsigned char v[64];
    {
        blake2b_state s(64);
        s.update_u32(len);
        s.update(a.data(), a.size());
        s.update(b.data(), b.size());
        s.final(v);
    }
    std::size_t pos = 0;
    std::memcpy(out.data(), v, 32);
    pos += 32;
    while (out.size() - pos > 64) {
        blake2b_state s(64);
        s.update(v, 64);
        s.final(v);
        std::memcpy(out.data() + pos, v, 32);
        pos += 32;
    }
    blake2b_state s(out.size() - pos);
    s.update(v, 64);
    s.final(out.data() + pos);
    wipe(v, sizeof v);
}

// ---- the compression function G and its kernels ----

constexpr std::size_t block_bytes = 1024;
constexpr std::size_t block_words = block_bytes / 8;
constexpr std::uint32_t slices = 4;
constexpr std::uint32_t version = 0x13;

struct alignas(64) block {
    std::uint64_t v[block_words];
};

// next = G(prev, ref), or next ^= G(prev, ref) when `xor_into` (passes after the first).
// next may be the same object as neither input.
using fill_fn = void (*)(const block& prev, const block& ref, block& next, bool xor_into) noexcept;

// The multiply-add of BlaMka: x + y + 2 * lo32(x) * lo32(y).
inline std::uint64_t blamka(std::uint64_t x, std::uint64_t y) noexcept
{
    return x + y + 2 * (x & 0xffffffffULL) * (y & 0xffffffffULL);
}

inline void gb(std::uint64_t& a, std::uint64_t& b, std::uint64_t& c, std::uint64_t& d) noexcept
{
    a = blamka(a, b);
    d = std::rotr(d ^ a, 32);
    c = blamka(c, d);
    b = std::rotr(b ^ c, 24);
    a = blamka(a, b);
    d = std::rotr(d ^ a, 16);
    c = blamka(c, d);
    b = std::rotr(b ^ c, 63);
}

// The permutation P on sixteen words given by their positions in `r`.
inline void permute(std::uint64_t* r, const std::array<std::size_t, 16>& at) noexcept
{
    auto w = [&](int i) -> std::uint64_t& { return r[at[static_cast<std::size_t>(i)]]; };
    gb(w(0), w(4), w(8), w(12));
    gb(w(1), w(5), w(9), w(13));
    gb(w(2), w(6), w(10), w(14));
    gb(w(3), w(7), w(11), w(15));
    gb(w(0), w(5), w(10), w(15));
    gb(w(1), w(6), w(11), w(12));
    gb(w(2), w(7), w(8), w(13));
    gb(w(3), w(4), w(9), w(14));
}

void fill_portable(const block& prev, const block& ref, block& next, bool xor_into) noexcept
{
    std::uint64_t r[block_words];
    std::uint64_t keep[block_words];
    for (std::size_t i = 0; i < block_words; ++i) {
        r[i] = prev.v[i] ^ ref.v[i];
        keep[i] = xor_into ? r[i] ^ next.v[i] : r[i];
    }
    // Rows: the eight runs of sixteen consecutive words.
    for (std::size_t row = 0; row < 8; ++row) {
        std::array<std::size_t, 16> at{};
        for (std::size_t k = 0; k < 16; ++k) at[k] = 16 * row + k;
        permute(r, at);
    }
    // Columns: word pairs 2c, 2c+1 of each row.
    for (std::size_t col = 0; col < 8; ++col) {
        std::array<std::size_t, 16> at{};
        for (std::size_t k = 0; k < 8; ++k) {
            at[2 * k] = 16 * k + 2 * col;
            at[2 * k + 1] = 16 * k + 2 * col + 1;
        }
        permute(r, at);
    }
    for (std::size_t i = 0; i < block_words; ++i) next.v[i] = keep[i] ^ r[i];
}

// SSE4.1: a block is 64 registers of two words. Row i is registers 8i..8i+7, column c is
// registers c, c+8, …, c+56; both are P over eight registers laid out the same way.
#define PORTCULLIS_SSE41 __attribute__((target("sse4.1")))

PORTCULLIS_SSE41 inline __m128i sse_blamka(__m128i x, __m128i y) noexcept
{
    const __m128i z = _mm_mul_epu32(x, y);
    return _mm_add_epi64(_mm_add_epi64(x, y), _mm_add_epi64(z, z));
}

PORTCULLIS_SSE41 inline __m128i sse_rotr32(__m128i x) noexcept
{
    return _mm_shuffle_epi32(x, _MM_SHUFFLE(2, 3, 0, 1));
}

PORTCULLIS_SSE41 inline __m128i sse_rotr24(__m128i x) noexcept
{
    return _mm_shuffle_epi8(x, _mm_setr_epi8(3, 4, 5, 6, 7, 0, 1, 2, 11, 12, 13, 14, 15, 8, 9, 10));
}

PORTCULLIS_SSE41 inline __m128i sse_rotr16(__m128i x) noexcept
{
    return _mm_shuffle_epi8(x, _mm_setr_epi8(2, 3, 4, 5, 6, 7, 0, 1, 10, 11, 12, 13, 14, 15, 8, 9));
}

PORTCULLIS_SSE41 inline __m128i sse_rotr63(__m128i x) noexcept
{
    return _mm_xor_si128(_mm_srli_epi64(x, 63), _mm_add_epi64(x, x));
}

// GB on four word columns at once: (a0, b0, c0, d0) and (a1, b1, c1, d1), two lanes each.
PORTCULLIS_SSE41 inline void sse_gb(__m128i& a0, __m128i& a1, __m128i& b0, __m128i& b1, __m128i& c0, __m128i& c1,
                                    __m128i& d0, __m128i& d1) noexcept
{
    a0 = sse_blamka(a0, b0);
    a1 = sse_blamka(a1, b1);
    d0 = sse_rotr32(_mm_xor_si128(d0, a0));
    d1 = sse_rotr32(_mm_xor_si128(d1, a1));
    c0 = sse_blamka(c0, d0);
    c1 = sse_blamka(c1, d1);
    b0 = sse_rotr24(_mm_xor_si128(b0, c0));
    b1 = sse_rotr24(_mm_xor_si128(b1, c1));
    a0 = sse_blamka(a0, b0);
    a1 = sse_blamka(a1, b1);
    d0 = sse_rotr16(_mm_xor_si128(d0, a0));
    d1 = sse_rotr16(_mm_xor_si128(d1, a1));
    c0 = sse_blamka(c0, d0);
    c1 = sse_blamka(c1, d1);
    b0 = sse_rotr63(_mm_xor_si128(b0, c0));
    b1 = sse_rotr63(_mm_xor_si128(b1, c1));
}

// P over words v0..v15 held as r0 = (v0, v1), r1 = (v2, v3), …, r7 = (v14, v15).
PORTCULLIS_SSE41 inline void sse_permute(__m128i& r0, __m128i& r1, __m128i& r2, __m128i& r3, __m128i& r4, __m128i& r5,
                                         __m128i& r6, __m128i& r7) noexcept
{
    sse_gb(r0, r1, r2, r3, r4, r5, r6, r7);
    // Diagonals: lanes become (v0,v5,v10,v15) (v1,v6,v11,v12) and (v2,v7,v8,v13) (v3,v4,v9,v14).
    __m128i b0 = _mm_alignr_epi8(r3, r2, 8);
    __m128i b1 = _mm_alignr_epi8(r2, r3, 8);
    __m128i c0 = r5;
    __m128i c1 = r4;
    __m128i d0 = _mm_alignr_epi8(r6, r7, 8);
    __m128i d1 = _mm_alignr_epi8(r7, r6, 8);
    sse_gb(r0, r1, b0, b1, c0, c1, d0, d1);
    r2 = _mm_alignr_epi8(b0, b1, 8);
    r3 = _mm_alignr_epi8(b1, b0, 8);
    r4 = c1;
    r5 = c0;
    r6 = _mm_alignr_epi8(d1, d0, 8);
    r7 = _mm_alignr_epi8(d0, d1, 8);
}

PORTCULLIS_SSE41 void fill_sse41(const block& prev, const block& ref, block& next, bool xor_into) noexcept
{
    __m128i s[64];
    __m128i keep[64];
    const auto* p = reinterpret_cast<const __m128i*>(prev.v);
    const auto* q = reinterpret_cast<const __m128i*>(ref.v);
    auto* n = reinterpret_cast<__m128i*>(next.v);
    for (int i = 0; i < 64; ++i) {
        s[i] = _mm_xor_si128(_mm_load_si128(p + i), _mm_load_si128(q + i));
        keep[i] = xor_into ? _mm_xor_si128(s[i], _mm_load_si128(n + i)) : s[i];
    }
    for (int row = 0; row < 8; ++row) {
        __m128i* r = s + 8 * row;
        sse_permute(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]);
    }
    for (int col = 0; col < 8; ++col) {
        __m128i* r = s + col;
        sse_permute(r[0], r[8], r[16], r[24], r[32], r[40], r[48], r[56]);
    }
    for (int i = 0; i < 64; ++i) _mm_store_si128(n + i, _mm_xor_si128(s[i], keep[i]));
}

// AVX2: a block is 32 registers of four words. A row is four consecutive registers and P
// runs on it with whole-register diagonal rotations. For columns, register 4k+j of row r
// holds columns 2k (low half) and 2k+1 (high half), so the eight registers k, k+4, …, k+28
// carry two columns side by side in the two-word layout of the SSE kernel.
#define PORTCULLIS_AVX2 __attribute__((target("avx2")))

PORTCULLIS_AVX2 inline __m256i avx_blamka(__m256i x, __m256i y) noexcept
{
    const __m256i z = _mm256_mul_epu32(x, y);
    return _mm256_add_epi64(_mm256_add_epi64(x, y), _mm256_add_epi64(z, z));
}

PORTCULLIS_AVX2 inline __m256i avx_rotr32(__m256i x) noexcept
{
    return _mm256_shuffle_epi32(x, _MM_SHUFFLE(2, 3, 0, 1));
}

PORTCULLIS_AVX2 inline __m256i avx_rotr24(__m256i x) noexcept
{
    return _mm256_shuffle_epi8(x, _mm256_setr_epi8(3, 4, 5, 6, 7, 0, 1, 2, 11, 12, 13, 14, 15, 8, 9, 10, 3, 4, 5, 6, 7,
                                                   0, 1, 2, 11, 12, 13, 14, 15, 8, 9, 10));
}

PORTCULLIS_AVX2 inline __m256i avx_rotr16(__m256i x) noexcept
{
    return _mm256_shuffle_epi8(x, _mm256_setr_epi8(2, 3, 4, 5, 6, 7, 0, 1, 10, 11, 12, 13, 14, 15, 8, 9, 2, 3, 4, 5, 6,
                                                   7, 0, 1, 10, 11, 12, 13, 14, 15, 8, 9));
}

PORTCULLIS_AVX2 inline __m256i avx_rotr63(__m256i x) noexcept
{
    return _mm256_xor_si256(_mm256_srli_epi64(x, 63), _mm256_add_epi64(x, x));
}

PORTCULLIS_AVX2 inline void avx_gb(__m256i& a, __m256i& b, __m256i& c, __m256i& d) noexcept
{
    a = avx_blamka(a, b);
    d = avx_rotr32(_mm256_xor_si256(d, a));
    c = avx_blamka(c, d);
    b = avx_rotr24(_mm256_xor_si256(b, c));
    a = avx_blamka(a, b);
    d = avx_rotr16(_mm256_xor_si256(d, a));
    c = avx_blamka(c, d);
    b = avx_rotr63(_mm256_xor_si256(b, c));
}

// P over one row: a = (v0..v3), b = (v4..v7), c = (v8..v11), d = (v12..v15).
PORTCULLIS_AVX2 inline void avx_permute_row(__m256i& a, __m256i& b, __m256i& c, __m256i& d) noexcept
{
    avx_gb(a, b, c, d);
    b = _mm256_permute4x64_epi64(b, _MM_SHUFFLE(0, 3, 2, 1));
    c = _mm256_permute4x64_epi64(c, _MM_SHUFFLE(1, 0, 3, 2));
    d = _mm256_permute4x64_epi64(d, _MM_SHUFFLE(2, 1, 0, 3));
    avx_gb(a, b, c, d);
    b = _mm256_permute4x64_epi64(b, _MM_SHUFFLE(2, 1, 0, 3));
    c = _mm256_permute4x64_epi64(c, _MM_SHUFFLE(1, 0, 3, 2));
    d = _mm256_permute4x64_epi64(d, _MM_SHUFFLE(0, 3, 2, 1));
}

PORTCULLIS_AVX2 inline void avx_gb2(__m256i& a0, __m256i& a1, __m256i& b0, __m256i& b1, __m256i& c0, __m256i& c1,
                                    __m256i& d0, __m256i& d1) noexcept
{
    avx_gb(a0, b0, c0, d0);
    avx_gb(a1, b1, c1, d1);
}

// P over two columns at once, one per 128-bit half, in the two-word layout of sse_permute
// (the byte alignment below works within each half).
PORTCULLIS_AVX2 inline void avx_permute_columns(__m256i& r0, __m256i& r1, __m256i& r2, __m256i& r3, __m256i& r4,
                                                __m256i& r5, __m256i& r6, __m256i& r7) noexcept
{
    avx_gb2(r0, r1, r2, r3, r4, r5, r6, r7);
    __m256i b0 = _mm256_alignr_epi8(r3, r2, 8);
    __m256i b1 = _mm256_alignr_epi8(r2, r3, 8);
    __m256i c0 = r5;
    __m256i c1 = r4;
    __m256i d0 = _mm256_alignr_epi8(r6, r7, 8);
    __m256i d1 = _mm256_alignr_epi8(r7, r6, 8);
    avx_gb2(r0, r1, b0, b1, c0, c1, d0, d1);
    r2 = _mm256_alignr_epi8(b0, b1, 8);
    r3 = _mm256_alignr_epi8(b1, b0, 8);
    r4 = c1;
    r5 = c0;
    r6 = _mm256_alignr_epi8(d1, d0, 8);
    r7 = _mm256_alignr_epi8(d0, d1, 8);
}

PORTCULLIS_AVX2 void fill_avx2(const block& prev, const block& ref, block& next, bool xor_into) noexcept
{
    __m256i s[32];
    __m256i keep[32];
    const auto* p = reinterpret_cast<const __m256i*>(prev.v);
    const auto* q = reinterpret_cast<const __m256i*>(ref.v);
    auto* n = reinterpret_cast<__m256i*>(next.v);
    for (int i = 0; i < 32; ++i) {
        s[i] = _mm256_xor_si256(_mm256_load_si256(p + i), _mm256_load_si256(q + i));
        keep[i] = xor_into ? _mm256_xor_si256(s[i], _mm256_load_si256(n + i)) : s[i];
    }
    for (int row = 0; row < 8; ++row) {
        __m256i* r = s + 4 * row;
        avx_permute_row(r[0], r[1], r[2], r[3]);
    }
    for (int k = 0; k < 4; ++k) {
        __m256i* r = s + k;
        avx_permute_columns(r[0], r[4], r[8], r[12], r[16], r[20], r[24], r[28]);
    }
    for (int i = 0; i < 32; ++i) _mm256_store_si256(n + i, _mm256_xor_si256(s[i], keep[i]));
}

fill_fn kernel_fn(kernel k) noexcept
{
    switch (k) {
    case kernel::avx2:
        return fill_avx2;
    case kernel::sse41:
        return fill_sse41;
    case kernel::portable:
    case kernel::automatic:
        break;
    }
    return fill_portable;
}

// ---- memory filling (RFC 9106 section 3.4) ----

struct instance {
    block* memory = nullptr;
    std::uint32_t passes = 0;
    std::uint32_t lanes = 0;
    std::uint32_t lane_length = 0;     // q: blocks per lane
    std::uint32_t segment_length = 0;  // q / 4
    std::uint32_t total_blocks = 0;    // m'
    variant type = variant::argon2id;
    fill_fn fill = fill_portable;
};

// The block index (within the reference lane) that J1 selects for block `index` of the
// current segment (section 3.4.1.2).
std::uint32_t reference_index(const instance& in, std::uint32_t pass, std::uint32_t slice, std::uint32_t index,
                              std::uint32_t j1, bool same_lane) noexcept
{
    // The blocks that may be referenced: every finished one, never the previous block,
    // and from other lanes nothing of the segment being filled.
    std::uint64_t area = 0;
    if (pass == 0) {
        if (slice == 0) {
            area = index - 1;
        } else if (same_lane) {
            area = std::uint64_t{slice} * in.segment_length + index - 1;
        } else {
            area = std::uint64_t{slice} * in.segment_length - (index == 0 ? 1 : 0);
        }
    } else if (same_lane) {
        area = std::uint64_t{in.lane_length} - in.segment_length + index - 1;
    } else {
        area = std::uint64_t{in.lane_length} - in.segment_length - (index == 0 ? 1 : 0);
    }
    const std::uint64_t x = (std::uint64_t{j1} * j1) >> 32;
    const std::uint64_t y = (area * x) >> 32;
    const std::uint64_t relative = area - 1 - y;
    std::uint64_t start = 0;
    if (pass != 0 && slice != slices - 1) start = std::uint64_t{slice + 1} * in.segment_length;
    return static_cast<std::uint32_t>((start + relative) % in.lane_length);
}

void fill_segment(const instance& in, std::uint32_t pass, std::uint32_t lane, std::uint32_t slice) noexcept
{
    const bool independent = in.type == variant::argon2i || (pass == 0 && slice < 2);
    block zero{};
    block input{};
    block address{};
    block scratch{};
    auto next_addresses = [&] {
        ++input.v[6];
        in.fill(zero, input, scratch, false);
        in.fill(zero, scratch, address, false);
    };
    if (independent) {
        input.v[0] = pass;
        input.v[1] = lane;
        input.v[2] = slice;
        input.v[3] = in.total_blocks;
        input.v[4] = in.passes;
        input.v[5] = static_cast<std::uint64_t>(in.type);
    }
    // The first two blocks of each lane come from H0.
    const std::uint32_t first = (pass == 0 && slice == 0) ? 2 : 0;
    if (independent && first != 0) next_addresses();

    block* const lane_blocks = in.memory + std::size_t{lane} * in.lane_length;
    for (std::uint32_t i = first; i < in.segment_length; ++i) {
        const std::uint32_t column = slice * in.segment_length + i;
        const std::uint32_t prev = column == 0 ? in.lane_length - 1 : column - 1;
        std::uint64_t pseudo_random = 0;
        if (independent) {
            if (i % block_words == 0) next_addresses();
            pseudo_random = address.v[i % block_words];
        } else {
            pseudo_random = lane_blocks[prev].v[0];
        }
        std::uint32_t ref_lane = static_cast<std::uint32_t>((pseudo_random >> 32) % in.lanes);
        if (pass == 0 && slice == 0) ref_lane = lane;
        const std::uint32_t ref_index =
            reference_index(in, pass, slice, i, static_cast<std::uint32_t>(pseudo_random), ref_lane == lane);
        const block& ref = in.memory[std::size_t{ref_lane} * in.lane_length + ref_index];
        in.fill(lane_blocks[prev], ref, lane_blocks[column], pass != 0);
    }
    if (independent) {
        wipe(&address, sizeof address);
        wipe(&scratch, sizeof scratch);
    }
}

void block_from_bytes(block& b, const unsigned char* bytes) noexcept
{
    for (std::size_t i = 0; i < block_words; ++i) b.v[i] = load64(bytes + 8 * i);
}

void block_to_bytes(unsigned char* bytes, const block& b) noexcept
{
    for (std::size_t i = 0; i < block_words; ++i) store64(bytes + 8 * i, b.v[i]);
}

constexpr std::uint64_t max_u32 = 0xffffffffULL;

}  // namespace

// ---- public ----

const char* kernel_name(kernel k) noexcept
{
    switch (k) {
    case kernel::automatic:
        return "automatic";
    case kernel::portable:
        return "portable";
    case kernel::sse41:
        return "sse4.1";
    case kernel::avx2:
        return "avx2";
    }
    return "unknown";
}

bool kernel_supported(kernel k) noexcept
{
    switch (k) {
    case kernel::avx2:
        return __builtin_cpu_supports("avx2") != 0;
    case kernel::sse41:
        return __builtin_cpu_supports("sse4.1") != 0;
    case kernel::portable:
    case kernel::automatic:
        return true;
    }
    return false;
}

kernel best_kernel() noexcept
{
    static const kernel best = [] {
        __builtin_cpu_init();
        if (kernel_supported(kernel::avx2)) return kernel::avx2;
        if (kernel_supported(kernel::sse41)) return kernel::sse41;
        return kernel::portable;
    }();
    return best;
}

arena::~arena()
{
    std::free(kept_);
}

std::byte* arena::acquire(std::size_t bytes) noexcept
{
    const std::size_t rounded = (bytes + 63) / 64 * 64;
    if (rounded == 0) return nullptr;
    if (in_use_ || rounded > keep_bytes_) return static_cast<std::byte*>(std::aligned_alloc(64, rounded));
    if (rounded > capacity_) {
        std::free(kept_);
        kept_ = static_cast<std::byte*>(std::aligned_alloc(64, rounded));
        capacity_ = kept_ != nullptr ? rounded : 0;
        if (kept_ == nullptr) return nullptr;
    }
    in_use_ = true;
    return kept_;
}

void arena::release(std::byte* p, std::size_t bytes, bool wiped) noexcept
{
    if (p == nullptr) return;
    if (!wiped) wipe(p, bytes);
    if (p == kept_ && in_use_) {
        in_use_ = false;
    } else {
        std::free(p);
    }
}

bool valid(const inputs& in, std::size_t tag_length) noexcept
{
    return tag_length >= 4 && tag_length <= max_u32 && in.password.size() <= max_u32 && in.salt.size() >= 8 &&
           in.salt.size() <= max_u32 && in.secret.size() <= max_u32 && in.associated_data.size() <= max_u32 &&
           in.iterations >= 1 && in.lanes >= 1 && in.lanes <= 0xffffffU &&
           std::uint64_t{in.memory_kib} >= 8 * std::uint64_t{in.lanes} &&
           (in.type == variant::argon2id || in.type == variant::argon2i);
}

status hash_raw(const inputs& in, std::span<unsigned char> tag, arena& mem, kernel k) noexcept
{
    if (!valid(in, tag.size())) return status::bad_parameters;
    if (k == kernel::automatic || !kernel_supported(k)) k = best_kernel();

    instance inst;
    inst.passes = in.iterations;
    inst.lanes = in.lanes;
    inst.segment_length = in.memory_kib / (slices * in.lanes);
    inst.lane_length = inst.segment_length * slices;
    inst.total_blocks = inst.lane_length * in.lanes;
    inst.type = in.type;
    inst.fill = kernel_fn(k);

    // H0 (section 3.2).
    unsigned char h0[64];
    {
        blake2b_state s(64);
        s.update_u32(in.lanes);
        s.update_u32(static_cast<std::uint32_t>(tag.size()));
        s.update_u32(in.memory_kib);
        s.update_u32(in.iterations);
        s.update_u32(version);
        s.update_u32(static_cast<std::uint32_t>(in.type));
        s.update_u32(static_cast<std::uint32_t>(in.password.size()));
        s.update(in.password);
        s.update_u32(static_cast<std::uint32_t>(in.salt.size()));
        s.update(in.salt);
        s.update_u32(static_cast<std::uint32_t>(in.secret.size()));
        s.update(in.secret);
        s.update_u32(static_cast<std::uint32_t>(in.associated_data.size()));
        s.update(in.associated_data);
        s.final(h0);
    }

    const std::size_t bytes = std::size_t{inst.total_blocks} * block_bytes;
    std::byte* raw = mem.acquire(bytes);
    if (raw == nullptr) {
        wipe(h0, sizeof h0);
        return status::out_of_memory;
    }
    inst.memory = reinterpret_cast<block*>(raw);

    unsigned char buf[block_bytes];
    for (std::uint32_t lane = 0; lane < in.lanes; ++lane) {
        for (std::uint32_t j = 0; j < 2; ++j) {
            unsigned char suffix[8];
            store32(suffix, j);
            store32(suffix + 4, lane);
            hash_long(buf, h0, suffix);
            block_from_bytes(inst.memory[std::size_t{lane} * inst.lane_length + j], buf);
        }
    }
    wipe(h0, sizeof h0);

    // Within a slice the lanes do not depend on each other; they are filled one after
    // the other here.
    for (std::uint32_t pass = 0; pass < inst.passes; ++pass) {
        for (std::uint32_t slice = 0; slice < slices; ++slice) {
            for (std::uint32_t lane = 0; lane < inst.lanes; ++lane) fill_segment(inst, pass, lane, slice);
        }
    }

    block final_block = inst.memory[inst.lane_length - 1];
    for (std::uint32_t lane = 1; lane < inst.lanes; ++lane) {
        const block& last = inst.memory[std::size_t{lane} * inst.lane_length + inst.lane_length - 1];
        for (std::size_t i = 0; i < block_words; ++i) final_block.v[i] ^= last.v[i];
    }
    block_to_bytes(buf, final_block);
    hash_long(tag, buf);
    wipe(buf, sizeof buf);
    wipe(&final_block, sizeof final_block);
    mem.release(raw, bytes);
    return status::ok;
}

void blake2b(std::span<const unsigned char> data, std::span<unsigned char> out) noexcept
{
    if (out.empty() || out.size() > 64) return;
    blake2b_state s(out.size());
    s.update(data.data(), data.size());
    s.final(out.data());
}

}  // namespace portcullis::auth::argon2
