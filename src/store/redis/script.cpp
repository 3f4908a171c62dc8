#include "store/redis/script.hpp"

#include "core/text.hpp"

#include <openssl/evp.h>

#include <stdexcept>
#include <utility>

namespace portcullis::store::redis {

std::string sha1_hex(std::string_view data)
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha1(), nullptr) != 1) {
        throw std::runtime_error("OpenSSL failure: EVP_Digest(SHA1)");
    }
    return core::hex_encode(std::span<const unsigned char>(digest, len));
}

script::script(std::string source) : source_(std::move(source)), sha1_(sha1_hex(source_)) {}

}  // namespace portcullis::store::redis
