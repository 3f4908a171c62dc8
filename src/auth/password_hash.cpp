#include "auth/password_hash.hpp"

#include "auth/crypto.hpp"
#include "core/random.hpp"
#include "core/text.hpp"

#include <argon2.h>
#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include <charconv>
#include <memory>
#include <span>
#include <stdexcept>
#include <vector>

namespace portcullis::auth {
namespace {

// Refuse stored hashes whose cost would let one bad row stall a hashing thread or
// exhaust memory (imports are data from elsewhere).
constexpr std::uint32_t max_memory_kib = max_argon2_memory_kib;
constexpr std::uint32_t max_time_cost = max_argon2_iterations;
constexpr std::uint32_t max_lanes = 64;
constexpr std::size_t max_salt_bytes = 1024;
constexpr std::size_t max_hash_bytes = 1024;
constexpr std::size_t max_password_bytes = 0xffffffffu;
constexpr std::uint64_t max_pbkdf2_iterations = 10'000'000;
constexpr int max_bcrypt_cost = 16;                        // 2^16 rounds, about 4 s
constexpr std::uint64_t max_scrypt_memory = 256ull << 20;  // 128 * N * r bytes
constexpr std::uint64_t max_scrypt_work = 1ull << 24;      // N * r * p

struct phc_info {
    argon2_type type = Argon2_id;
    std::uint32_t version = ARGON2_VERSION_10;
    std::uint32_t m = 0, t = 0, p = 0;
    std::string salt;
    std::size_t hash_bytes = 0;
    std::string hash;
};

// The block memory of this thread's hashes, kept from one hash to the next (each hash
// pool thread has its own; never shared by two hashes at once).
thread_local argon2::arena hash_arena;

// libargon2's allocation callbacks, serving its blocks from hash_arena.
int arena_allocate(std::uint8_t** memory, std::size_t bytes)
{
    *memory = reinterpret_cast<std::uint8_t*>(hash_arena.acquire(bytes));
    return *memory != nullptr ? ARGON2_OK : ARGON2_MEMORY_ALLOCATION_ERROR;
}

void arena_free(std::uint8_t* memory, std::size_t bytes)
{
    // libargon2 wipes the blocks before it hands them back.
    hash_arena.release(reinterpret_cast<std::byte*>(memory), bytes, true);
}

// PHC strings use standard base64 without padding.
std::string phc_base64(std::string_view bytes)
{
    std::string s = core::base64_encode(bytes);
    while (!s.empty() && s.back() == '=') s.pop_back();
    return s;
}

bool phc_base64_decode(std::string_view text, std::string& out)
{
    if (text.size() % 4 == 1 || text.find('=') != std::string_view::npos) return false;
    std::string padded(text);
    padded.append((4 - text.size() % 4) % 4, '=');
    return core::base64_decode(padded, out);
}

std::vector<std::string_view> split(std::string_view s, char sep)
{
    std::vector<std::string_view> parts;
    std::size_t start = 0;
    for (;;) {
        auto pos = s.find(sep, start);
        parts.push_back(s.substr(start, pos == std::string_view::npos ? std::string_view::npos : pos - start));
        if (pos == std::string_view::npos) break;
        start = pos + 1;
    }
    return parts;
}

template <class U>
bool parse_uint(std::string_view s, U& out)
{
    if (s.empty() || (s.size() > 1 && s[0] == '0')) return false;
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc{} && ptr == s.data() + s.size();
}

// Parses "$argon2id$v=19$m=…,t=…,p=…$salt$hash" (v= optional, as libargon2 accepts).
bool parse_phc(std::string_view s, phc_info& info)
{
    auto parts = split(s, '$');
    if (parts.size() != 5 && parts.size() != 6) return false;
    if (!parts[0].empty()) return false;
    if (parts[1] == "argon2id") {
        info.type = Argon2_id;
    } else if (parts[1] == "argon2i") {
        info.type = Argon2_i;
    } else {
        return false;
    }
    std::size_t i = 2;
    if (parts.size() == 6) {
        if (parts[2].substr(0, 2) != "v=" || !parse_uint(parts[2].substr(2), info.version)) return false;
        i = 3;
    }
    auto kv = split(parts[i], ',');
    if (kv.size() != 3 || kv[0].substr(0, 2) != "m=" || kv[1].substr(0, 2) != "t=" || kv[2].substr(0, 2) != "p=") {
        return false;
    }
    if (!parse_uint(kv[0].substr(2), info.m) || !parse_uint(kv[1].substr(2), info.t) ||
        !parse_uint(kv[2].substr(2), info.p)) {
        return false;
    }
    if (parts[i + 1].empty() || parts[i + 2].empty()) return false;
    if (!phc_base64_decode(parts[i + 1], info.salt) || !phc_base64_decode(parts[i + 2], info.hash)) return false;
    info.hash_bytes = info.hash.size();
    return true;
}

bool cost_acceptable(const phc_info& info)
{
    return info.m >= 8 * info.p && info.m <= max_memory_kib && info.t >= 1 && info.t <= max_time_cost && info.p >= 1 &&
           info.p <= max_lanes && info.salt.size() >= 8 && info.salt.size() <= max_salt_bytes &&
           info.hash.size() >= 4 && info.hash.size() <= max_hash_bytes &&
           (info.version == ARGON2_VERSION_10 || info.version == ARGON2_VERSION_13);
}

// The tag of `password` with the salt and costs of `info` (out.size() bytes long).
bool compute_tag(const argon2_params& params, std::string_view password, const phc_info& info,
                 std::span<unsigned char> out)
{
    if (info.version == ARGON2_VERSION_13 && params.engine == argon2_engine::own) {
        const argon2::inputs in{.password = password,
                                .salt = info.salt,
                                .secret = {},
                                .associated_data = {},
                                .memory_kib = info.m,
                                .iterations = info.t,
                                .lanes = info.p,
                                .type = info.type == Argon2_i ? argon2::variant::argon2i : argon2::variant::argon2id};
        return argon2::hash_raw(in, out, hash_arena, params.kernel) == argon2::status::ok;
    }
    // libargon2 only reads the inputs; its context wants them mutable.
    std::string pwd(password);
    std::string salt(info.salt);
    argon2_context ctx{};
    ctx.out = out.data();
    ctx.outlen = static_cast<std::uint32_t>(out.size());
    ctx.pwd = reinterpret_cast<std::uint8_t*>(pwd.data());
    ctx.pwdlen = static_cast<std::uint32_t>(pwd.size());
    ctx.salt = reinterpret_cast<std::uint8_t*>(salt.data());
    ctx.saltlen = static_cast<std::uint32_t>(salt.size());
    ctx.t_cost = info.t;
    ctx.m_cost = info.m;
    ctx.lanes = info.p;
    ctx.threads = info.p;
    ctx.version = info.version;
    ctx.allocate_cbk = arena_allocate;
    ctx.free_cbk = arena_free;
    ctx.flags = ARGON2_DEFAULT_FLAGS;
    const int rc = argon2_ctx(&ctx, info.type);
    OPENSSL_cleanse(pwd.data(), pwd.size());
    return rc == ARGON2_OK;
}

bool verify_phc(const argon2_params& params, std::string_view password, const phc_info& info)
{
    if (!cost_acceptable(info)) return false;
    if (password.size() > max_password_bytes) return false;
    std::string tag(info.hash.size(), '\0');
    if (!compute_tag(params, password, info, {reinterpret_cast<unsigned char*>(tag.data()), tag.size()})) return false;
    return constant_time_equal(tag, info.hash);
}

// Django's "pbkdf2_sha256$<iterations>$<salt>$<base64 hash>" (and the sha1 variant).
bool verify_django_pbkdf2(std::string_view password, std::string_view stored, const EVP_MD* md)
{
    auto parts = split(stored, '$');
    if (parts.size() != 4 || parts[2].empty()) return false;
    std::uint64_t iterations = 0;
    if (!parse_uint(parts[1], iterations) || iterations == 0 || iterations > max_pbkdf2_iterations) return false;
    std::string expected;
    if (!core::base64_decode(parts[3], expected)) return false;
    const auto dklen = static_cast<std::size_t>(EVP_MD_get_size(md));
    if (expected.size() != dklen) return false;
    std::string derived(dklen, '\0');
    if (PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                          reinterpret_cast<const unsigned char*>(parts[2].data()), static_cast<int>(parts[2].size()),
                          static_cast<int>(iterations), md, static_cast<int>(dklen),
                          reinterpret_cast<unsigned char*>(derived.data())) != 1) {
        return false;
    }
    return constant_time_equal(derived, expected);
}

// "$2b$12$" + 53 characters, as bcrypt.hashpw writes it ($2a$ and $2y$ too).
bool bcrypt_setting_acceptable(std::string_view setting)
{
    if (setting.size() != 60 || setting[0] != '$' || setting[1] != '2' || setting[3] != '$' || setting[6] != '$') {
        return false;
    }
    if (setting[2] != 'a' && setting[2] != 'b' && setting[2] != 'y') return false;
    const char d0 = setting[4], d1 = setting[5];
    if (d0 < '0' || d0 > '9' || d1 < '0' || d1 > '9') return false;
    const int cost = (d0 - '0') * 10 + (d1 - '0');
    return cost >= 4 && cost <= max_bcrypt_cost;
}

// bcrypt through libxcrypt's crypt_rn: the stored string is also the setting.
bool verify_bcrypt(std::string_view password, std::string_view setting)
{
    if (!bcrypt_setting_acceptable(setting)) return false;
    // crypt() reads a C string: a NUL would silently cut the password short.
    if (password.find('\0') != std::string_view::npos) return false;
    const std::string phrase(password);
    const std::string stored(setting);
    auto data = std::make_unique<crypt_data>();
    const char* out = crypt_rn(phrase.c_str(), stored.c_str(), data.get(), sizeof(crypt_data));
    if (out == nullptr || out[0] == '*') return false;
    return constant_time_equal(out, stored);
}

// Django's BCryptSHA256PasswordHasher: bcrypt of the hex SHA-256 of the password, so
// long passwords are not cut at bcrypt's 72 bytes.
bool verify_django_bcrypt_sha256(std::string_view password, std::string_view setting)
{
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const unsigned char*>(password.data()), password.size(), digest);
    return verify_bcrypt(core::hex_encode(std::span<const unsigned char>(digest)), setting);
}

// Django's ScryptPasswordHasher (4.0+): "scrypt$<N>$<salt>$<r>$<p>$<base64 of the key>".
bool verify_django_scrypt(std::string_view password, std::string_view stored)
{
    auto parts = split(stored, '$');
    if (parts.size() != 6 || parts[2].empty()) return false;
    std::uint64_t n = 0, r = 0, p = 0;
    if (!parse_uint(parts[1], n) || !parse_uint(parts[3], r) || !parse_uint(parts[4], p)) return false;
    if (n < 2 || (n & (n - 1)) != 0 || r == 0 || p == 0 || r > 1024 || p > 1024) return false;
    if (128 * n * r > max_scrypt_memory || n * r * p > max_scrypt_work) return false;
    std::string expected;
    if (!core::base64_decode(parts[5], expected) || expected.size() < 16 || expected.size() > 128) return false;
    std::string derived(expected.size(), '\0');
    // OpenSSL's own bound: the V array (128 * r * (N + 2)) and B (128 * r * p) bytes.
    const std::uint64_t maxmem = 128 * r * (n + 2) + 128 * r * p + (1u << 20);
    if (EVP_PBE_scrypt(password.data(), password.size(), reinterpret_cast<const unsigned char*>(parts[2].data()),
                       parts[2].size(), n, r, p, maxmem, reinterpret_cast<unsigned char*>(derived.data()),
                       derived.size()) != 1) {
        return false;
    }
    return constant_time_equal(derived, expected);
}

}  // namespace

password_hasher::password_hasher(argon2_params params) : params_(params)
{
    if (params_.parallelism < 1 || params_.parallelism > max_lanes || params_.iterations < 1 ||
        params_.iterations > max_time_cost || params_.memory_kib < 8 * params_.parallelism ||
        params_.memory_kib > max_memory_kib || params_.salt_length < 8 || params_.hash_length < 16 ||
        params_.hash_length > 64) {
        throw std::invalid_argument("argon2 parameters out of range");
    }
    std::string secret(32, '\0');
    core::random_bytes(secret.data(), secret.size());
    auto h = hash(secret);
    if (!h) throw std::runtime_error("argon2id hashing failed at start-up");
    dummy_ = std::move(*h);
}

core::result<std::string> password_hasher::hash(std::string_view password) const
{
    if (password.size() > max_password_bytes) return make_error_code(core::errc::internal);
    phc_info info;
    info.type = Argon2_id;
    info.version = ARGON2_VERSION_13;
    info.m = params_.memory_kib;
    info.t = params_.iterations;
    info.p = params_.parallelism;
    info.salt.assign(params_.salt_length, '\0');
    core::random_bytes(info.salt.data(), info.salt.size());
    std::string tag(params_.hash_length, '\0');
    if (!compute_tag(params_, password, info, {reinterpret_cast<unsigned char*>(tag.data()), tag.size()})) {
        return make_error_code(core::errc::internal);
    }
    // The form libargon2 writes, so hashes of either engine read the same.
    std::string encoded = "$argon2id$v=19$m=" + std::to_string(info.m) + ",t=" + std::to_string(info.t) +
                          ",p=" + std::to_string(info.p) + "$";
    encoded += phc_base64(info.salt);
    encoded += '$';
    encoded += phc_base64(tag);
    return encoded;
}

std::string password_hasher::implementation() const
{
    if (params_.engine == argon2_engine::libargon2) return "libargon2";
    argon2::kernel k = params_.kernel;
    if (k == argon2::kernel::automatic || !argon2::kernel_supported(k)) k = argon2::best_kernel();
    return std::string("portcullis (") + argon2::kernel_name(k) + ")";
}

bool password_hasher::is_current(std::string_view stored) const
{
    phc_info info;
    return parse_phc(stored, info) && info.type == Argon2_id && info.version == ARGON2_VERSION_13 &&
           info.m == params_.memory_kib && info.t == params_.iterations && info.p == params_.parallelism &&
           info.salt.size() == params_.salt_length && info.hash_bytes == params_.hash_length;
}

verify_result password_hasher::verify(std::string_view password, std::string_view stored) const
{
    verify_result r;
    // An unusable ("!…"), unknown or refused hash costs what a real check costs, so
    // timing does not tell such accounts from others.
    const auto refuse = [&] {
        verify_dummy(password);
        return r;
    };
    if (stored.starts_with("$argon2")) {
        phc_info info;
        if (!parse_phc(stored, info)) return refuse();
        r.ok = verify_phc(params_, password, info);
        r.needs_rehash = r.ok && !is_current(stored);
    } else if (stored.starts_with("argon2$argon2")) {
        // Django's Argon2PasswordHasher prefixes the PHC string with "argon2".
        stored.remove_prefix(6);
        phc_info info;
        if (!parse_phc(stored, info)) return refuse();
        r.ok = verify_phc(params_, password, info);
        r.needs_rehash = r.ok;
    } else if (stored.starts_with("pbkdf2_sha256$")) {
        r.ok = verify_django_pbkdf2(password, stored, EVP_sha256());
        r.needs_rehash = r.ok;
    } else if (stored.starts_with("pbkdf2_sha1$")) {
        r.ok = verify_django_pbkdf2(password, stored, EVP_sha1());
        r.needs_rehash = r.ok;
    } else if (stored.starts_with("bcrypt_sha256$")) {
        r.ok = verify_django_bcrypt_sha256(password, stored.substr(14));
        r.needs_rehash = r.ok;
    } else if (stored.starts_with("bcrypt$")) {
        r.ok = verify_bcrypt(password, stored.substr(7));
        r.needs_rehash = r.ok;
    } else if (stored.starts_with("scrypt$")) {
        r.ok = verify_django_scrypt(password, stored);
        r.needs_rehash = r.ok;
    } else {
        return refuse();
    }
    return r;
}

void password_hasher::verify_dummy(std::string_view password) const
{
    // Same path, parameters and memory as a real check of a current hash.
    phc_info info;
    if (parse_phc(dummy_, info)) (void)verify_phc(params_, password, info);
}

}  // namespace portcullis::auth
