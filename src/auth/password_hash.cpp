#include "auth/password_hash.hpp"

#include "auth/crypto.hpp"
#include "core/random.hpp"

#include <argon2.h>
#include <openssl/evp.h>

#include <charconv>
#include <stdexcept>
#include <vector>

namespace portcullis::auth {
namespace {

// Refuse stored hashes whose cost would let one bad row stall a hashing thread or
// exhaust memory (imports are data from elsewhere).
constexpr std::uint32_t max_memory_kib = max_argon2_memory_kib;
constexpr std::uint32_t max_time_cost = max_argon2_iterations;
constexpr std::uint32_t max_lanes = 64;
constexpr std::uint64_t max_pbkdf2_iterations = 10'000'000;

struct phc_info {
    argon2_type type = Argon2_id;
    std::uint32_t version = ARGON2_VERSION_10;
    std::uint32_t m = 0, t = 0, p = 0;
    std::size_t salt_bytes = 0, hash_bytes = 0;
};

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
    info.salt_bytes = parts[i + 1].size() * 3 / 4;
    info.hash_bytes = parts[i + 2].size() * 3 / 4;
    return true;
}

bool cost_acceptable(const phc_info& info)
{
    return info.m >= 8 && info.m <= max_memory_kib && info.t >= 1 && info.t <= max_time_cost && info.p >= 1 &&
           info.p <= max_lanes;
}

bool verify_phc(std::string_view password, std::string_view phc, const phc_info& info)
{
    if (!cost_acceptable(info)) return false;
    // libargon2 wants a NUL-terminated encoding.
    const std::string encoded(phc);
    return argon2_verify(encoded.c_str(), password.data(), password.size(), info.type) == ARGON2_OK;
}

// Django's "pbkdf2_sha256$<iterations>$<salt>$<base64 hash>" (and the sha1 variant).
bool verify_django_pbkdf2(std::string_view password, std::string_view stored, const EVP_MD* md)
{
    auto parts = split(stored, '$');
    if (parts.size() != 4 || parts[2].empty()) return false;
    std::uint64_t iterations = 0;
    if (!parse_uint(parts[1], iterations) || iterations == 0 || iterations > max_pbkdf2_iterations) return false;
    std::string expected;
    if (!base64_decode(parts[3], expected)) return false;
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
    std::string salt(params_.salt_length, '\0');
    core::random_bytes(salt.data(), salt.size());
    std::string encoded(argon2_encodedlen(params_.iterations, params_.memory_kib, params_.parallelism,
                                          params_.salt_length, params_.hash_length, Argon2_id),
                        '\0');
    int rc = argon2id_hash_encoded(params_.iterations, params_.memory_kib, params_.parallelism, password.data(),
                                   password.size(), salt.data(), salt.size(), params_.hash_length, encoded.data(),
                                   encoded.size());
    if (rc != ARGON2_OK) return make_error_code(core::errc::internal);
    encoded.resize(encoded.find('\0'));
    return encoded;
}

bool password_hasher::is_current(std::string_view stored) const
{
    phc_info info;
    return parse_phc(stored, info) && info.type == Argon2_id && info.version == ARGON2_VERSION_13 &&
           info.m == params_.memory_kib && info.t == params_.iterations && info.p == params_.parallelism &&
           info.salt_bytes == params_.salt_length && info.hash_bytes == params_.hash_length;
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
        r.ok = verify_phc(password, stored, info);
        r.needs_rehash = r.ok && !is_current(stored);
    } else if (stored.starts_with("argon2$argon2")) {
        // Django's Argon2PasswordHasher prefixes the PHC string with "argon2".
        stored.remove_prefix(6);
        phc_info info;
        if (!parse_phc(stored, info)) return refuse();
        r.ok = verify_phc(password, stored, info);
        r.needs_rehash = r.ok;
    } else if (stored.starts_with("pbkdf2_sha256$")) {
        r.ok = verify_django_pbkdf2(password, stored, EVP_sha256());
        r.needs_rehash = r.ok;
    } else if (stored.starts_with("pbkdf2_sha1$")) {
        r.ok = verify_django_pbkdf2(password, stored, EVP_sha1());
        r.needs_rehash = r.ok;
    } else {
        return refuse();
    }
    return r;
}

void password_hasher::verify_dummy(std::string_view password) const
{
    // Same call, parameters and memory as a real check of a current hash.
    (void)argon2_verify(dummy_.c_str(), password.data(), password.size(), Argon2_id);
}

}  // namespace portcullis::auth
