#include "auth/crypto.hpp"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include <stdexcept>

namespace portcullis::auth {
namespace {

[[noreturn]] void openssl_failed(const char* what)
{
    // Only reachable through a broken OpenSSL installation; never carries key material.
    throw std::runtime_error(std::string("OpenSSL failure: ") + what);
}

// Fetched once: an implicit fetch per call (as EVP_sha256()/HMAC() do) takes a lock.
EVP_MAC* hmac_algorithm()
{
    static EVP_MAC* const mac = [] {
        EVP_MAC* m = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
        if (m == nullptr) openssl_failed("EVP_MAC_fetch(HMAC)");
        return m;
    }();
    return mac;
}

EVP_MD* sha256_algorithm()
{
    static EVP_MD* const md = [] {
        EVP_MD* m = EVP_MD_fetch(nullptr, "SHA256", nullptr);
        if (m == nullptr) openssl_failed("EVP_MD_fetch(SHA256)");
        return m;
    }();
    return md;
}

struct mac_ctx_deleter {
    void operator()(EVP_MAC_CTX* c) const noexcept { EVP_MAC_CTX_free(c); }
};
using mac_ctx_ptr = std::unique_ptr<EVP_MAC_CTX, mac_ctx_deleter>;

}  // namespace

sha256_digest sha256(std::string_view data)
{
    sha256_digest out{};
    unsigned int len = 0;
    if (EVP_Digest(data.data(), data.size(), out.data(), &len, sha256_algorithm(), nullptr) != 1 || len != out.size()) {
        openssl_failed("EVP_Digest");
    }
    return out;
}

struct hmac_key::state {
    mac_ctx_ptr keyed;
};

hmac_key::hmac_key(std::string_view key)
    : hmac_key(std::span<const unsigned char>(reinterpret_cast<const unsigned char*>(key.data()), key.size()))
{
}

hmac_key::hmac_key(std::span<const unsigned char> key)
{
    auto s = std::make_shared<state>();
    s->keyed.reset(EVP_MAC_CTX_new(hmac_algorithm()));
    if (!s->keyed) openssl_failed("EVP_MAC_CTX_new");
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0), OSSL_PARAM_END};
    // An empty key is legal for HMAC; OpenSSL wants a non-null pointer for it.
    static const unsigned char empty = 0;
    if (EVP_MAC_init(s->keyed.get(), key.empty() ? &empty : key.data(), key.size(), params) != 1) {
        openssl_failed("EVP_MAC_init");
    }
    state_ = std::move(s);
}

sha256_digest hmac_key::mac(std::string_view data) const
{
    return mac({data});
}

sha256_digest hmac_key::mac(std::initializer_list<std::string_view> parts) const
{
    // Duplicating the keyed context skips re-deriving the padded key blocks.
    mac_ctx_ptr ctx(EVP_MAC_CTX_dup(state_->keyed.get()));
    if (!ctx) openssl_failed("EVP_MAC_CTX_dup");
    for (std::string_view p : parts) {
        if (!p.empty() && EVP_MAC_update(ctx.get(), reinterpret_cast<const unsigned char*>(p.data()), p.size()) != 1) {
            openssl_failed("EVP_MAC_update");
        }
    }
    sha256_digest out{};
    std::size_t len = 0;
    if (EVP_MAC_final(ctx.get(), out.data(), &len, out.size()) != 1 || len != out.size()) {
        openssl_failed("EVP_MAC_final");
    }
    return out;
}

sha256_digest hmac_sha256(std::span<const unsigned char> key, std::string_view data)
{
    return hmac_key(key).mac(data);
}

std::string hkdf_sha256(std::string_view ikm, std::string_view salt, std::string_view info, std::size_t out_len)
{
    if (ikm.empty()) throw std::invalid_argument("HKDF input key material is empty");
    if (out_len == 0 || out_len > 255 * sha256_size) throw std::invalid_argument("HKDF output length out of range");
    EVP_KDF* kdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
    if (kdf == nullptr) openssl_failed("EVP_KDF_fetch(HKDF)");
    EVP_KDF_CTX* ctx = EVP_KDF_CTX_new(kdf);
    EVP_KDF_free(kdf);
    if (ctx == nullptr) openssl_failed("EVP_KDF_CTX_new");

    char digest[] = "SHA256";
    auto octets = [](const char* name, std::string_view v) {
        return OSSL_PARAM_construct_octet_string(name, const_cast<char*>(v.data()), v.size());
    };
    OSSL_PARAM params[5];
    OSSL_PARAM* p = params;
    *p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0);
    *p++ = octets(OSSL_KDF_PARAM_KEY, ikm);
    if (!salt.empty()) *p++ = octets(OSSL_KDF_PARAM_SALT, salt);
    if (!info.empty()) *p++ = octets(OSSL_KDF_PARAM_INFO, info);
    *p = OSSL_PARAM_construct_end();

    std::string out(out_len, '\0');
    int rc = EVP_KDF_derive(ctx, reinterpret_cast<unsigned char*>(out.data()), out.size(), params);
    EVP_KDF_CTX_free(ctx);
    if (rc != 1) openssl_failed("EVP_KDF_derive");
    return out;
}

std::string derive_subkey(std::string_view secret_key, std::string_view use)
{
    std::string info = "portcullis/v1/";
    info.append(use);
    return hkdf_sha256(secret_key, "portcullis", info, sha256_size);
}

secret_keys derive_secret_keys(std::string_view secret_key)
{
    return secret_keys{
        .jwt = derive_subkey(secret_key, "jwt"),
        .otp = derive_subkey(secret_key, "otp"),
        .csrf = derive_subkey(secret_key, "csrf"),
        .cursor = derive_subkey(secret_key, "cursor"),
    };
}

bool constant_time_equal(std::string_view a, std::string_view b) noexcept
{
    if (a.size() != b.size()) return false;
    if (a.empty()) return true;
    return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace portcullis::auth
