#pragma once
// Storage of the asymmetric token-signing keys (implemented over PostgreSQL in
// store/pg/pg_signing_keys.hpp). The private part arrives sealed: this layer never
// sees a usable private key.

#include "core/error.hpp"
#include "core/timeout.hpp"

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace portcullis::store {

struct signing_key_record {
    std::string kid;
    std::string algorithm;       // "EdDSA" | "ES256"
    std::string public_pem;      // SubjectPublicKeyInfo
    std::string private_sealed;  // sealed PKCS#8 PEM
    std::chrono::system_clock::time_point created_at{};
    std::chrono::system_clock::time_point signs_from{};
    std::optional<std::chrono::system_clock::time_point> retired_at;
};

class signing_key_repository {
public:
    virtual ~signing_key_repository() = default;

    // Every key, retired ones included, by signs_from then kid.
    virtual boost::asio::awaitable<core::result<std::vector<signing_key_record>>> async_list(core::deadline d) = 0;
    // Inserts `k` (created_at is the server's now). With `if_newest`, only while the newest
    // unretired key of k's algorithm is that kid ("" : while there is none), checked under
    // a lock so that instances deciding at once insert one key between them. Returns
    // whether the row was inserted.
    virtual boost::asio::awaitable<core::result<bool>> async_insert(const signing_key_record& k,
                                                                    std::optional<std::string> if_newest,
                                                                    core::deadline d) = 0;
    // Marks `kid` retired now. False: no such unretired key.
    virtual boost::asio::awaitable<core::result<bool>> async_retire(std::string_view kid, core::deadline d) = 0;
};

}  // namespace portcullis::store
