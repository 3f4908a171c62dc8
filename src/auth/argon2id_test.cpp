// The Argon2 implementation of auth/argon2id.hpp against its specification and against
// libargon2, kernel by kernel: every kernel this CPU runs must give libargon2's tag.
#include "auth/argon2id.hpp"
#include "auth/password_hash.hpp"

#include <argon2.h>
#include <doctest/doctest.h>
#include <openssl/evp.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

using namespace portcullis::auth;

namespace {

const std::vector<argon2::kernel> all_kernels = {argon2::kernel::portable, argon2::kernel::sse41, argon2::kernel::avx2};

std::string hex(const std::vector<unsigned char>& v)
{
    static const char* digits = "0123456789abcdef";
    std::string s;
    for (unsigned char c : v) {
        s += digits[c >> 4];
        s += digits[c & 15];
    }
    return s;
}

// libargon2's tag for the same inputs (version 0x13).
std::vector<unsigned char> reference_tag(const argon2::inputs& in, std::size_t tag_length)
{
    std::vector<unsigned char> out(tag_length);
    std::string pwd(in.password), salt(in.salt), secret(in.secret), ad(in.associated_data);
    argon2_context ctx{};
    ctx.out = out.data();
    ctx.outlen = static_cast<std::uint32_t>(out.size());
    ctx.pwd = reinterpret_cast<std::uint8_t*>(pwd.data());
    ctx.pwdlen = static_cast<std::uint32_t>(pwd.size());
    ctx.salt = reinterpret_cast<std::uint8_t*>(salt.data());
    ctx.saltlen = static_cast<std::uint32_t>(salt.size());
    ctx.secret = secret.empty() ? nullptr : reinterpret_cast<std::uint8_t*>(secret.data());
    ctx.secretlen = static_cast<std::uint32_t>(secret.size());
    ctx.ad = ad.empty() ? nullptr : reinterpret_cast<std::uint8_t*>(ad.data());
    ctx.adlen = static_cast<std::uint32_t>(ad.size());
    ctx.t_cost = in.iterations;
    ctx.m_cost = in.memory_kib;
    ctx.lanes = in.lanes;
    ctx.threads = in.lanes;
    ctx.version = ARGON2_VERSION_13;
    const int rc = argon2_ctx(&ctx, in.type == argon2::variant::argon2i ? Argon2_i : Argon2_id);
    REQUIRE(rc == ARGON2_OK);
    return out;
}

std::vector<unsigned char> own_tag(const argon2::inputs& in, std::size_t tag_length, argon2::kernel k,
                                   argon2::arena& mem)
{
    std::vector<unsigned char> out(tag_length);
    REQUIRE(argon2::hash_raw(in, out, mem, k) == argon2::status::ok);
    return out;
}

std::string random_bytes(std::mt19937_64& rng, std::size_t n)
{
    std::string s(n, '\0');
    for (auto& c : s) c = static_cast<char>(rng());
    return s;
}

}  // namespace

TEST_CASE("argon2id: kernels of this CPU")
{
    const std::string best = argon2::kernel_name(argon2::best_kernel());
    MESSAGE("best kernel: " << best);
    for (auto k : all_kernels) {
        const std::string name = argon2::kernel_name(k);
        const std::string state = argon2::kernel_supported(k) ? "supported, tested" : "not supported";
        MESSAGE(name << ": " << state);
    }
    CHECK(argon2::kernel_supported(argon2::kernel::portable));
    CHECK(argon2::kernel_supported(argon2::best_kernel()));
}

TEST_CASE("argon2id: BLAKE2b matches RFC 7693 and OpenSSL")
{
    const std::string abc = "abc";
    std::vector<unsigned char> out(64);
    argon2::blake2b({reinterpret_cast<const unsigned char*>(abc.data()), abc.size()}, out);
    CHECK(hex(out) ==
          "ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d17d87c5392aab792dc252d5de4533cc9518d38aa8db"
          "f1925ab92386edd4009923");

    // Every length around the 128-byte block boundaries, against OpenSSL's BLAKE2b-512.
    std::mt19937_64 rng(7);
    for (std::size_t n = 0; n <= 300; ++n) {
        const std::string data = random_bytes(rng, n);
        std::vector<unsigned char> mine(64), theirs(64);
        argon2::blake2b({reinterpret_cast<const unsigned char*>(data.data()), data.size()}, mine);
        unsigned int len = 0;
        REQUIRE(EVP_Digest(data.data(), data.size(), theirs.data(), &len, EVP_blake2b512(), nullptr) == 1);
        REQUIRE(len == 64);
        CHECK_MESSAGE(mine == theirs, "length " << n);
    }
}

TEST_CASE("argon2id: RFC 9106 test vectors (section 5.3 argon2id, 5.2 argon2i), every kernel")
{
    const std::string password(32, '\x01'), salt(16, '\x02'), secret(8, '\x03'), ad(12, '\x04');
    argon2::inputs in{.password = password,
                      .salt = salt,
                      .secret = secret,
                      .associated_data = ad,
                      .memory_kib = 32,
                      .iterations = 3,
                      .lanes = 4,
                      .type = argon2::variant::argon2id};
    const std::string id_tag = "0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659";
    const std::string i_tag = "c814d9d1dc7f37aa13f0d77f2494bda1c8de6b016dd388d29952a4c4672b6ce8";
    argon2::arena mem;
    CHECK(hex(reference_tag(in, 32)) == id_tag);
    for (auto k : all_kernels) {
        if (!argon2::kernel_supported(k)) continue;
        const std::string kernel = argon2::kernel_name(k);
        CAPTURE(kernel);
        in.type = argon2::variant::argon2id;
        CHECK(hex(own_tag(in, 32, k, mem)) == id_tag);
        in.type = argon2::variant::argon2i;
        CHECK(hex(own_tag(in, 32, k, mem)) == i_tag);
    }
}

TEST_CASE("argon2id: random inputs give libargon2's tag with every kernel")
{
    // Small memory keeps this quick under the sanitizers; lane crossings, both indexing
    // modes and tags longer than 64 bytes are all reached at these sizes. Segments of more
    // than 128 blocks (a second address block) are the next test's.
    std::mt19937_64 rng(20260518);
    argon2::arena mem;
    int compared = 0;
    for (int n = 0; n < 1000; ++n) {
        const std::uint32_t lanes = 1 + static_cast<std::uint32_t>(rng() % 4);
        const std::uint32_t min_memory = 8 * lanes;
        const std::string password = random_bytes(rng, rng() % 40);
        const std::string salt = random_bytes(rng, 8 + rng() % 24);
        const std::string secret = rng() % 4 == 0 ? random_bytes(rng, 1 + rng() % 32) : std::string();
        const std::string ad = rng() % 4 == 0 ? random_bytes(rng, 1 + rng() % 32) : std::string();
        argon2::inputs in{.password = password,
                          .salt = salt,
                          .secret = secret,
                          .associated_data = ad,
                          .memory_kib = min_memory + static_cast<std::uint32_t>(rng() % (129 - min_memory)),
                          .iterations = 1 + static_cast<std::uint32_t>(rng() % 3),
                          .lanes = lanes,
                          .type = rng() % 5 == 0 ? argon2::variant::argon2i : argon2::variant::argon2id};
        // Mostly the usual 16..64 bytes, sometimes the chained H' output of longer tags.
        const std::size_t tag_length = rng() % 8 == 0 ? 65 + rng() % 200 : 4 + rng() % 61;
        const auto expected = reference_tag(in, tag_length);
        for (auto k : all_kernels) {
            if (!argon2::kernel_supported(k)) continue;
            const std::string kernel = argon2::kernel_name(k);
            CAPTURE(kernel);
            CAPTURE(in.memory_kib);
            CAPTURE(in.iterations);
            CAPTURE(in.lanes);
            CAPTURE(tag_length);
            REQUIRE(own_tag(in, tag_length, k, mem) == expected);
            ++compared;
        }
    }
    MESSAGE(compared << " random cases compared with libargon2");
}

TEST_CASE("argon2id: default costs (19456 KiB, t=2, p=1) and a multi-lane case give libargon2's tag")
{
    std::mt19937_64 rng(42);
    argon2::arena mem;
    for (int n = 0; n < 2; ++n) {
        const std::string password = random_bytes(rng, 12);
        const std::string salt = random_bytes(rng, 16);
        argon2::inputs in{.password = password,
                          .salt = salt,
                          .secret = {},
                          .associated_data = {},
                          .memory_kib = 19456,
                          .iterations = 2,
                          .lanes = 1,
                          .type = argon2::variant::argon2id};
        if (n == 1) {
            in.memory_kib = 4099;  // not a multiple of 4 * lanes: rounded down the same way
            in.lanes = 3;
        }
        const auto expected = reference_tag(in, 32);
        for (auto k : all_kernels) {
            if (!argon2::kernel_supported(k)) continue;
            const std::string kernel = argon2::kernel_name(k);
            CAPTURE(kernel);
            CHECK(own_tag(in, 32, k, mem) == expected);
        }
    }
}

TEST_CASE("argon2id: out-of-range inputs are refused as libargon2 refuses them")
{
    const std::string salt(16, 's');
    argon2::arena mem;
    std::vector<unsigned char> tag(32);
    const argon2::inputs good{.password = "pw",
                              .salt = salt,
                              .secret = {},
                              .associated_data = {},
                              .memory_kib = 64,
                              .iterations = 1,
                              .lanes = 2,
                              .type = argon2::variant::argon2id};
    CHECK(argon2::hash_raw(good, tag, mem) == argon2::status::ok);

    auto refused = [&](argon2::inputs in, std::size_t tag_length) {
        std::vector<unsigned char> out(tag_length);
        return argon2::hash_raw(in, out, mem) == argon2::status::bad_parameters;
    };
    auto in = good;
    in.memory_kib = 15;  // below 8 per lane
    CHECK(refused(in, 32));
    in = good;
    in.iterations = 0;
    CHECK(refused(in, 32));
    in = good;
    in.lanes = 0;
    CHECK(refused(in, 32));
    in = good;
    in.salt = "short";
    CHECK(refused(in, 32));
    CHECK(refused(good, 3));
}

TEST_CASE("argon2id: the arena reuses its memory and wipes it after each use")
{
    argon2::arena mem(1 << 20);
    std::byte* a = mem.acquire(4096);
    REQUIRE(a != nullptr);
    for (std::size_t i = 0; i < 4096; ++i) a[i] = std::byte{0xa5};
    // A second user while the first holds the memory gets other memory.
    std::byte* other = mem.acquire(1024);
    REQUIRE(other != nullptr);
    CHECK(other != a);
    mem.release(other, 1024);
    mem.release(a, 4096);
    std::byte* b = mem.acquire(2048);
    CHECK(b == a);
    bool wiped = true;
    for (std::size_t i = 0; i < 4096; ++i) wiped = wiped && b[i] == std::byte{0};
    CHECK(wiped);
    mem.release(b, 2048);
    CHECK(mem.capacity() == 4096);

    // Above the keep limit: served and freed, the kept memory untouched.
    std::byte* big = mem.acquire(2 << 20);
    REQUIRE(big != nullptr);
    CHECK(big != a);
    mem.release(big, 2 << 20);
    CHECK(mem.capacity() == 4096);

    // A hash leaves nothing of its blocks behind.
    const std::string salt(16, 's');
    std::vector<unsigned char> tag(32);
    const argon2::inputs in{.password = "pw",
                            .salt = salt,
                            .secret = {},
                            .associated_data = {},
                            .memory_kib = 64,
                            .iterations = 1,
                            .lanes = 1,
                            .type = argon2::variant::argon2id};
    argon2::arena h(1 << 20);
    REQUIRE(argon2::hash_raw(in, tag, h) == argon2::status::ok);
    REQUIRE(h.capacity() == 64 * 1024);
    std::byte* blocks = h.acquire(64 * 1024);
    bool clean = true;
    for (std::size_t i = 0; i < 64 * 1024; ++i) clean = clean && blocks[i] == std::byte{0};
    CHECK(clean);
    h.release(blocks, 64 * 1024);
}

TEST_CASE("argon2id: password_hasher's PHC strings and libargon2's read each other")
{
    const argon2_params small{.memory_kib = 64, .iterations = 2, .parallelism = 2};
    password_hasher own(small);
    auto with_libargon2 = small;
    with_libargon2.engine = argon2_engine::libargon2;
    password_hasher reference(with_libargon2);
    CHECK(reference.implementation() == "libargon2");
    CHECK(own.implementation().starts_with("portcullis ("));

    // Ours, checked by libargon2 itself.
    auto mine = own.hash("tr0ub4dor&3");
    REQUIRE(mine.has_value());
    CHECK(argon2id_verify(mine->c_str(), "tr0ub4dor&3", 11) == ARGON2_OK);
    CHECK(argon2id_verify(mine->c_str(), "tr0ub4dor&4", 11) != ARGON2_OK);
    CHECK(reference.verify("tr0ub4dor&3", *mine).ok);

    // libargon2's, argon2id and argon2i, version 0x13 and 0x10, checked by ours.
    const std::string salt = "0123456789abcdef";
    for (const argon2_type type : {Argon2_id, Argon2_i}) {
        for (const std::uint32_t version : {ARGON2_VERSION_13, ARGON2_VERSION_10}) {
            std::string encoded(256, '\0');
            REQUIRE(argon2_hash(2, 64, 2, "hunter2", 7, salt.data(), salt.size(), nullptr, 32, encoded.data(),
                                encoded.size(), type, version) == ARGON2_OK);
            encoded.resize(encoded.find('\0'));
            CAPTURE(encoded);
            const auto r = own.verify("hunter2", encoded);
            CHECK(r.ok);
            CHECK(r.needs_rehash == (type != Argon2_id || version != ARGON2_VERSION_13));
            CHECK_FALSE(own.verify("hunter3", encoded).ok);
        }
    }
}
