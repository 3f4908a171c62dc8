#pragma once
// Authenticated encryption (AES-256-GCM) of small secrets that must travel through
// Redis, such as the one-time code inside an e-mail job: the queue then holds
// only ciphertext, and only holders of SECRET_KEY can read it.

#include <optional>
#include <string>
#include <string_view>

namespace portcullis::auth {

// base64url(nonce ‖ ciphertext ‖ tag) of `plaintext` under the 32-byte `key`.
std::string seal(std::string_view key, std::string_view plaintext);

// The plaintext, or nullopt when `sealed` is malformed or was not made with `key`.
std::optional<std::string> unseal(std::string_view key, std::string_view sealed);

}  // namespace portcullis::auth
