#include "auth/sealed.hpp"

#include "auth/crypto.hpp"
#include "core/random.hpp"
#include "core/text.hpp"

#include <openssl/evp.h>

#include <memory>
#include <stdexcept>

namespace portcullis::auth {
namespace {

constexpr std::size_t nonce_size = 12;
constexpr std::size_t tag_size = 16;

struct ctx_free {
    void operator()(EVP_CIPHER_CTX* c) const noexcept { EVP_CIPHER_CTX_free(c); }
};
using ctx_ptr = std::unique_ptr<EVP_CIPHER_CTX, ctx_free>;

}  // namespace

std::string seal(std::string_view key, std::string_view plaintext)
{
    if (key.size() != 32) throw std::invalid_argument("seal key must be 32 bytes");
    unsigned char nonce[nonce_size];
    core::random_bytes(nonce, sizeof nonce);
    ctx_ptr ctx(EVP_CIPHER_CTX_new());
    std::string out(nonce_size + plaintext.size() + tag_size, '\0');
    auto* o = reinterpret_cast<unsigned char*>(out.data());
    std::copy(nonce, nonce + nonce_size, o);
    int len = 0;
    if (!ctx ||
        EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, reinterpret_cast<const unsigned char*>(key.data()),
                           nonce) != 1 ||
        EVP_EncryptUpdate(ctx.get(), o + nonce_size, &len, reinterpret_cast<const unsigned char*>(plaintext.data()),
                          static_cast<int>(plaintext.size())) != 1 ||
        EVP_EncryptFinal_ex(ctx.get(), o + nonce_size + len, &len) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, tag_size, o + nonce_size + plaintext.size()) != 1) {
        throw std::runtime_error("AES-GCM encryption failed");
    }
    return core::base64url_encode(out);
}

std::optional<std::string> unseal(std::string_view key, std::string_view sealed)
{
    std::string raw;
    if (key.size() != 32 || !core::base64url_decode(sealed, raw) || raw.size() < nonce_size + tag_size)
        return std::nullopt;
    const auto* r = reinterpret_cast<const unsigned char*>(raw.data());
    std::size_t ct_len = raw.size() - nonce_size - tag_size;
    std::string out(ct_len, '\0');
    ctx_ptr ctx(EVP_CIPHER_CTX_new());
    int len = 0;
    std::string tag(raw.substr(nonce_size + ct_len));
    if (!ctx ||
        EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, reinterpret_cast<const unsigned char*>(key.data()),
                           r) != 1 ||
        EVP_DecryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(out.data()), &len, r + nonce_size,
                          static_cast<int>(ct_len)) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, tag_size, tag.data()) != 1 ||
        EVP_DecryptFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(out.data()) + len, &len) != 1) {
        return std::nullopt;
    }
    return out;
}

}  // namespace portcullis::auth
