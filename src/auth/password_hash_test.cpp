#include "auth/password_hash.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <vector>

using namespace portcullis::auth;

namespace {
// Small parameters keep the suite fast; the defaults are exercised by the
// reference vector below and by hash_pool's benchmark.
const argon2_params small{.memory_kib = 256, .iterations = 1, .parallelism = 1};
}  // namespace

TEST_CASE("password_hash: argon2id PHC round trip")
{
    password_hasher h(small);
    auto a = h.hash("correct horse battery staple");
    auto b = h.hash("correct horse battery staple");
    REQUIRE(a.has_value());
    REQUIRE(b.has_value());
    CHECK(a->starts_with("$argon2id$v=19$m=256,t=1,p=1$"));
    CHECK(*a != *b);  // fresh salt each time
    CHECK(h.is_current(*a));

    auto ok = h.verify("correct horse battery staple", *a);
    CHECK(ok.ok);
    CHECK_FALSE(ok.needs_rehash);
    CHECK_FALSE(h.verify("correct horse battery stapler", *a).ok);
    CHECK_FALSE(h.verify("", *a).ok);

    // Unicode and empty passwords hash fine.
    auto u = h.hash("pässwörd 🔑");
    REQUIRE(u.has_value());
    CHECK(h.verify("pässwörd 🔑", *u).ok);
    CHECK_FALSE(h.verify("passwörd 🔑", *u).ok);
}

TEST_CASE("password_hash: other parameters verify but ask for a rehash")
{
    password_hasher old_params({.memory_kib = 128, .iterations = 1, .parallelism = 1});
    password_hasher current(small);
    auto stored = old_params.hash("hunter2hunter2");
    REQUIRE(stored.has_value());
    auto r = current.verify("hunter2hunter2", *stored);
    CHECK(r.ok);
    CHECK(r.needs_rehash);
    CHECK_FALSE(current.is_current(*stored));
    // A wrong password never asks for a rehash.
    CHECK_FALSE(current.verify("hunter3hunter3", *stored).needs_rehash);
}

TEST_CASE("password_hash: libargon2 reference vector (argon2id, t=2, m=64 MiB, p=1)")
{
    // From the libargon2 test suite: password "password", salt "somesalt".
    password_hasher h(small);
    const char* ref = "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc";
    auto r = h.verify("password", ref);
    CHECK(r.ok);
    CHECK(r.needs_rehash);
    CHECK_FALSE(h.verify("Password", ref).ok);
}

TEST_CASE("password_hash: Django PBKDF2 hashes")
{
    // Produced with the Python standard library, the way Django's PBKDF2PasswordHasher does:
    //   /usr/bin/python3 -c "import hashlib,base64; print('pbkdf2_sha256$600000$Xq3BrOPVu6kSvGGmA2Ie9r$' +
    //     base64.b64encode(hashlib.pbkdf2_hmac('sha256', b'correct horse battery staple',
    //                                          b'Xq3BrOPVu6kSvGGmA2Ie9r', 600000)).decode())"
    // (600000 iterations is Django 4.2's default), and likewise for the other two with
    // ('sha256', 'pässwörd'.encode(), b'saltsalt', 1000) and ('sha1', b'hunter22', b'saltsalt', 1000).
    password_hasher h(small);
    const char* django42 = "pbkdf2_sha256$600000$Xq3BrOPVu6kSvGGmA2Ie9r$oSRlSwLawWedklCSD95Nh06ER3TQ9BvCftj77Tenuoo=";
    auto r = h.verify("correct horse battery staple", django42);
    CHECK(r.ok);
    CHECK(r.needs_rehash);
    CHECK_FALSE(h.verify("correct horse battery stapl", django42).ok);

    const char* utf8 = "pbkdf2_sha256$1000$saltsalt$48x5uCaVNWWLVkyLaRqhNAqjN+vMTFM9KOF0XuPOdR0=";
    CHECK(h.verify("pässwörd", utf8).ok);
    CHECK_FALSE(h.verify("passwörd", utf8).ok);

    const char* sha1 = "pbkdf2_sha1$1000$saltsalt$g6m30ECzIbVENs7QpndcooFuxoE=";
    CHECK(h.verify("hunter22", sha1).ok);
    CHECK(h.verify("hunter22", sha1).needs_rehash);
    CHECK_FALSE(h.verify("hunter23", sha1).ok);
}

TEST_CASE("password_hash: Django argon2 hashes")
{
    // Produced by libargon2's argon2_hash() (a 10-line C program linked with -largon2)
    // with password "correct horse", salt "djangosalt123456", hash length 32, version
    // 0x13, then prefixed with "argon2" as Django's Argon2PasswordHasher stores them.
    password_hasher h(small);
    const char* id =
        "argon2$argon2id$v=19$m=1024,t=2,p=1$ZGphbmdvc2FsdDEyMzQ1Ng$xQKtRB82HEW2VK7i2aBDobUa1x2qEdRWb2NxtWq0C84";
    const char* i =
        "argon2$argon2i$v=19$m=512,t=2,p=2$ZGphbmdvc2FsdDEyMzQ1Ng$KvbO3a2gz9m8sfIvOCc1eWFa1IGGDOsmAOItYsXJH8Q";
    auto r = h.verify("correct horse", id);
    CHECK(r.ok);
    CHECK(r.needs_rehash);
    CHECK_FALSE(h.verify("correct horsE", id).ok);
    auto ri = h.verify("correct horse", i);
    CHECK(ri.ok);
    CHECK(ri.needs_rehash);
    CHECK_FALSE(h.verify("correct horse ", i).ok);
    // Without the Django prefix it is a plain PHC string (argon2i: an older type, so rehash).
    CHECK(h.verify("correct horse", std::string_view(i).substr(6)).needs_rehash);
}

TEST_CASE("password_hash: Django bcrypt_sha256, bcrypt and scrypt hashes")
{
    // The two bcrypt values were made by Django 3.2's own hashers (Debian python3-django,
    // python3-bcrypt) with rounds = 4: BCryptSHA256PasswordHasher().encode(pw,
    // bcrypt.gensalt(4)) and BCryptPasswordHasher likewise. The scrypt value is Django
    // 4's format, made with the standard library as its ScryptPasswordHasher does:
    //   hashlib.scrypt(pw.encode(), salt=b'djangoscryptsalt', n=1024, r=8, p=1, dklen=64)
    //   → "scrypt$1024$djangoscryptsalt$8$1$" + base64 of the key.
    password_hasher h(small);
    const std::string pw = "correct horse battery staple";
    const char* bsha = "bcrypt_sha256$$2b$04$7lH5/N0OFFyP2dqQrixKBeMsiQaO3n8Ot1cbFZqUy0Xn/HHN2yuAu";
    const char* bc = "bcrypt$$2b$04$OBloK7JR1Cp7XmbGYpWg/.pfHF5iIJkHuBjXirwLl7wQEGpNgSHFG";
    const char* sc =
        "scrypt$1024$djangoscryptsalt$8$1$"
        "pWjMwPIkv9e4PSBRjJB509thAF2AL6xqhVTA7q3RcUgRHD3wu1AMhxXipesufFXEziN0CziTmKBnmo38BDNY1A==";
    for (const char* stored : {bsha, bc, sc}) {
        CAPTURE(stored);
        auto r = h.verify(pw, stored);
        CHECK(r.ok);
        CHECK(r.needs_rehash);
        CHECK_FALSE(h.verify(pw + "!", stored).ok);
        CHECK_FALSE(h.verify("", stored).ok);
    }
    // bcrypt reads a C string: a NUL must not make a prefix of the password enough.
    CHECK_FALSE(h.verify(pw + std::string(1, '\0') + "tail", bc).ok);
    // bcrypt_sha256 and bcrypt are not interchangeable.
    CHECK_FALSE(h.verify(pw, std::string("bcrypt$") + (bsha + 14)).ok);
}

TEST_CASE("password_hash: malformed or hostile stored values are refused")
{
    password_hasher h(small);
    for (const char* stored : {
             "",
             "correct horse",
             "!",  // Django's unusable password marker
             "md5$salt$abc",
             "bcrypt_sha256$$2b$12$abc",
             "!0EGJ2mq8Yyxa1ChRcydXFSn0vn0uRMlm5c6WkuzH",  // Django's make_password(None)
             // Cost 31 (a thread for days) and a malformed cost.
             "bcrypt$$2b$31$OBloK7JR1Cp7XmbGYpWg/.pfHF5iIJkHuBjXirwLl7wQEGpNgSHFG",
             "bcrypt$$2b$4x$OBloK7JR1Cp7XmbGYpWg/.pfHF5iIJkHuBjXirwLl7wQEGpNgSHFG",
             "bcrypt$$2x$04$OBloK7JR1Cp7XmbGYpWg/.pfHF5iIJkHuBjXirwLl7wQEGpNgSHFG",
             "bcrypt$$2b$04$OBloK7JR1Cp7XmbGYpWg/.pfHF5iIJkHuBjXirwLl7wQEGpNgSHF",
             // scrypt: N not a power of two, N * r memory of 16 GiB, missing fields.
             "scrypt$1000$djangoscryptsalt$8$1$"
             "pWjMwPIkv9e4PSBRjJB509thAF2AL6xqhVTA7q3RcUgRHD3wu1AMhxXipesufFXEziN0CziTmKBnmo38BDNY1A==",
             "scrypt$16777216$djangoscryptsalt$8$1$"
             "pWjMwPIkv9e4PSBRjJB509thAF2AL6xqhVTA7q3RcUgRHD3wu1AMhxXipesufFXEziN0CziTmKBnmo38BDNY1A==",
             "scrypt$1024$djangoscryptsalt$8$"
             "pWjMwPIkv9e4PSBRjJB509thAF2AL6xqhVTA7q3RcUgRHD3wu1AMhxXipesufFXEziN0CziTmKBnmo38BDNY1A==",
             "scrypt$1024$$8$1$pWjMwPIkv9e4PSBRjJB509thAF2AL6xqhVTA7q3RcUgRHD3wu1AMhxXipesufFXEziN0CziTmKBnmo38BDNY1A="
             "=",
             "pbkdf2_sha256$0$saltsalt$48x5uCaVNWWLVkyLaRqhNAqjN+vMTFM9KOF0XuPOdR0=",
             "pbkdf2_sha256$01000$saltsalt$48x5uCaVNWWLVkyLaRqhNAqjN+vMTFM9KOF0XuPOdR0=",
             "pbkdf2_sha256$abc$saltsalt$48x5uCaVNWWLVkyLaRqhNAqjN+vMTFM9KOF0XuPOdR0=",
             "pbkdf2_sha256$1000$$48x5uCaVNWWLVkyLaRqhNAqjN+vMTFM9KOF0XuPOdR0=",
             "pbkdf2_sha256$1000$saltsalt$48x5uCaVNWWLVkyLaRqhNAqjN+vMTFM9KOF0XuPOdR0",
             "pbkdf2_sha256$1000$saltsalt$g6m30ECzIbVENs7QpndcooFuxoE=",
             "pbkdf2_sha256$99999999999$saltsalt$48x5uCaVNWWLVkyLaRqhNAqjN+vMTFM9KOF0XuPOdR0=",
             "pbkdf2_sha256$1000$saltsalt$48x5uCaVNWWLVkyLaRqhNAqjN+vMTFM9KOF0XuPOdR0=$extra",
             "$argon2id$v=19$m=8388608,t=2,p=1$ZGphbmdvc2FsdDEyMzQ1Ng$xQKtRB82HEW2VK7i2aBDobUa1x2qEdRWb2NxtWq0C84",
             "$argon2id$v=19$m=1024,t=1000,p=1$ZGphbmdvc2FsdDEyMzQ1Ng$xQKtRB82HEW2VK7i2aBDobUa1x2qEdRWb2NxtWq0C84",
             "$argon2d$v=19$m=1024,t=2,p=1$ZGphbmdvc2FsdDEyMzQ1Ng$xQKtRB82HEW2VK7i2aBDobUa1x2qEdRWb2NxtWq0C84",
             "$argon2id$v=19$m=1024,t=2$ZGphbmdvc2FsdDEyMzQ1Ng$xQKtRB82HEW2VK7i2aBDobUa1x2qEdRWb2NxtWq0C84",
             "$argon2id$v=19$m=1024,t=2,p=1$$xQKtRB82HEW2VK7i2aBDobUa1x2qEdRWb2NxtWq0C84",
             "$argon2id$v=19$m=1024,t=2,p=1$ZGphbmdvc2FsdDEyMzQ1Ng$",
             "argon2$argon2d$v=19$m=1024,t=2,p=1$ZGphbmdvc2FsdDEyMzQ1Ng$xQKtRB82HEW2VK7i2aBDobUa1x2qEdRWb2NxtWq0C84",
         }) {
        CAPTURE(stored);
        auto r = h.verify("correct horse", stored);
        CHECK_FALSE(r.ok);
        CHECK_FALSE(r.needs_rehash);
    }
}

TEST_CASE("password_hash: parameters are validated at construction")
{
    CHECK_THROWS_AS(password_hasher({.memory_kib = 4, .iterations = 1, .parallelism = 1}), std::invalid_argument);
    CHECK_THROWS_AS(password_hasher({.memory_kib = 256, .iterations = 0, .parallelism = 1}), std::invalid_argument);
    CHECK_THROWS_AS(password_hasher({.memory_kib = 256, .iterations = 1, .parallelism = 0}), std::invalid_argument);
    CHECK_THROWS_AS(password_hasher({.memory_kib = 256, .iterations = 1, .parallelism = 1, .salt_length = 4}),
                    std::invalid_argument);
    CHECK(password_hasher().params().memory_kib == 19456);
    CHECK(password_hasher().params().iterations == 2);
    CHECK(password_hasher().params().parallelism == 1);
}

TEST_CASE("password_hash: the dummy check costs about as much as a real one")
{
    // 4 MiB: long enough to dominate the noise, short enough for the suite.
    password_hasher h({.memory_kib = 4096, .iterations = 2, .parallelism = 1});
    auto stored = h.hash("an actual password");
    REQUIRE(stored.has_value());
    // Interleaved, so a burst of load on a shared machine hits both series alike.
    std::vector<double> real_t, dummy_t;
    auto time = [](auto&& fn) {
        auto s = std::chrono::steady_clock::now();
        fn();
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - s).count();
    };
    for (int i = 0; i < 9; ++i) {
        real_t.push_back(time([&] { (void)h.verify("wrong password", *stored); }));
        dummy_t.push_back(time([&] { h.verify_dummy("wrong password"); }));
    }
    std::sort(real_t.begin(), real_t.end());
    std::sort(dummy_t.begin(), dummy_t.end());
    const double real = real_t[4];
    const double dummy = dummy_t[4];
    MESSAGE("verify " << real * 1e3 << " ms, verify_dummy " << dummy * 1e3 << " ms");
    CHECK(dummy > real / 3);
    CHECK(dummy < real * 3);
}
