#pragma once
// Password hashing: argon2id in PHC string format for new hashes, and
// verification of imported Django hashes (pbkdf2_sha256, pbkdf2_sha1, argon2,
// bcrypt_sha256, bcrypt, scrypt).
// Version 0x13 argon2id/argon2i is computed by auth/argon2id.hpp (vectorised, checked
// against libargon2 in the tests); libargon2 computes version 0x10 and serves as the
// reference engine. Each thread keeps its block memory between hashes (wiped after each).
// These calls are CPU-bound (tens of ms at the defaults): run them on hash_pool,
// never on an I/O thread.

#include "auth/argon2id.hpp"
#include "core/error.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace portcullis::auth {

// The largest argon2 costs accepted, for new hashes (ARGON2_MEMORY_KIB, ARGON2_ITERATIONS
// are validated against them) and for stored ones alike.
inline constexpr std::uint32_t max_argon2_memory_kib = 2u * 1024 * 1024;  // 2 GiB
inline constexpr std::uint32_t max_argon2_iterations = 64;

// Who computes version 0x13 hashes: this project's implementation, or libargon2 (the
// reference, slower; `portcullis bench-hash` measures both). Both give the same bytes.
enum class argon2_engine : std::uint8_t { own = 0, libargon2 = 1 };

// argon2id cost. Defaults are OWASP's first recommendation (19 MiB, 2 passes, 1 lane).
struct argon2_params {
    std::uint32_t memory_kib = 19456;
    std::uint32_t iterations = 2;
    std::uint32_t parallelism = 1;
    std::uint32_t salt_length = 16;
    std::uint32_t hash_length = 32;
    argon2_engine engine = argon2_engine::own;
    argon2::kernel kernel = argon2::kernel::automatic;  // of the own engine
};

struct verify_result {
    bool ok = false;            // the password matches
    bool needs_rehash = false;  // ok, but stored in an older format or with other parameters
};

class password_hasher {
public:
    // Throws std::invalid_argument for parameters libargon2 refuses (start-up error).
    explicit password_hasher(argon2_params params = {});

    const argon2_params& params() const noexcept { return params_; }

    // "libargon2", or "portcullis (avx2)" naming the kernel this CPU runs.
    std::string implementation() const;

    // argon2id PHC string "$argon2id$v=19$m=…,t=…,p=…$<salt>$<hash>" with a fresh
    // random salt. errc::internal if hashing fails (out of memory).
    core::result<std::string> hash(std::string_view password) const;

    // Checks `password` against `stored`: our PHC argon2id/argon2i strings, Django's
    // "pbkdf2_sha256$iter$salt$b64", "pbkdf2_sha1$…", "argon2$argon2id$…" /
    // "argon2$argon2i$…", "bcrypt_sha256$$2b$…", "bcrypt$$2b$…" and
    // "scrypt$N$salt$r$p$b64". Every match of a Django hash needs a rehash. Unusable
    // ("!…"), unknown or malformed values and absurd costs give {false, false} after
    // the work of a dummy check, so they take as long as a real one.
    // Comparisons are constant-time.
    verify_result verify(std::string_view password, std::string_view stored) const;

    // Spends the same work as verify() of a current-parameter hash and returns
    // nothing useful: used for unknown users so login timing reveals no accounts.
    void verify_dummy(std::string_view password) const;

    // True when `stored` is argon2id in PHC form with exactly the current parameters.
    bool is_current(std::string_view stored) const;

private:
    argon2_params params_;
    std::string dummy_;  // a current-parameter hash of a random secret
};

}  // namespace portcullis::auth
