#include "auth/password_policy.hpp"
#include "core/text.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <string>

using namespace portcullis::auth;

namespace {
const user_attributes nobody{};
const char* const too_short = "This password is too short. It must contain at least 8 characters.";
}  // namespace

TEST_CASE("similarity_ratio agrees with difflib.SequenceMatcher.quick_ratio()")
{
    // Expected values from Python 3.11: difflib.SequenceMatcher(a=a, b=b).quick_ratio()
    struct sample {
        const char* a;
        const char* b;
        double ratio;
    };
    for (const sample& s :
         {sample{"password", "passw0rd", 0.875}, sample{"abcd", "dcba", 1.0}, sample{"tide", "diet", 1.0},
          sample{"qabxcd", "abycdf", 2.0 / 3.0}, sample{"johnsmith1", "johnsmith", 0.9473684210526315},
          sample{"private volume", "private_volume_x", 0.8666666666666667}, sample{"bücher2024", "bucher", 0.625},
          sample{"aaabbbccc", "abcabcabc", 1.0}, sample{"", "", 1.0}, sample{"a", "", 0.0}}) {
        CAPTURE(s.a);
        CAPTURE(s.b);
        CHECK(similarity_ratio(s.a, s.b) == doctest::Approx(s.ratio).epsilon(1e-12));
    }
}

TEST_CASE("common passwords: embedded list, case-insensitive, trimmed")
{
    CHECK(common_password_count() == 10000);
    for (const char* p : {"password", "PASSWORD", "PaSsWoRd", " password ", "12345678", "qwerty123", "iloveyou",
                          "password1", "pic\\'s", "?????"}) {
        CAPTURE(p);
        CHECK(is_common_password(p));
    }
    for (const char* p : {"", "Tr0ub4dor&3", "velvet-otter-harbor", "passwordpassword", "pass word"}) {
        CAPTURE(p);
        CHECK_FALSE(is_common_password(p));
    }
}

TEST_CASE("password policy: Django's default rules and messages")
{
    const password_policy policy;

    SUBCASE("a good password passes")
    {
        const user_attributes user{"johnsmith", "john.smith@example.com", "John Smith"};
        CHECK(policy.problems("velvet-otter-harbor-42", user).empty());
        CHECK(policy.validate("velvet-otter-harbor-42", user).empty());
    }
    SUBCASE("too short, counted in characters")
    {
        CHECK(policy.problems("x7#kQ2", nobody) == std::vector<std::string>{too_short});
        CHECK(policy.problems("äöüßäöüß", nobody).empty());     // 8 characters, 16 bytes
        CHECK(policy.problems("äöüßäöü", nobody).size() == 1);  // 7 characters
    }
    SUBCASE("common, and the messages are combined in Django's order")
    {
        CHECK(policy.problems("iloveyou", nobody) == std::vector<std::string>{"This password is too common."});
        CHECK(policy.problems("love", nobody) == std::vector<std::string>{too_short, "This password is too common."});
        const auto errors = policy.validate("love", nobody);
        REQUIRE(errors.size() == 1);
        CHECK(errors.at("password") ==
              "This password is too short. It must contain at least 8 characters. This password is too common.");
    }
    SUBCASE("entirely numeric")
    {
        CHECK(policy.problems("84739201556", nobody) == std::vector<std::string>{"This password is entirely numeric."});
        CHECK(policy.problems("12345678", nobody) ==
              std::vector<std::string>{"This password is too common.", "This password is entirely numeric."});
        CHECK(policy.problems("8473920155a", nobody).empty());
    }
    SUBCASE("too similar to the username, the e-mail address or the full name")
    {
        const user_attributes user{"johnsmith", "jane.doe@example.com", "Maria Gonzalez"};
        const auto similar_to = [&](const char* pw) {
            auto p = policy.problems(pw, user);
            return p.empty() ? std::string() : p.front();
        };
        CHECK(similar_to("johnsmith1") == "The password is too similar to the username.");
        CHECK(similar_to("JohnSmith!") == "The password is too similar to the username.");
        CHECK(similar_to("jane.doe@example") == "The password is too similar to the email address.");
        CHECK(similar_to("example.org") == "The password is too similar to the email address.");  // a part: "example"
        CHECK(similar_to("gonzalez2") == "The password is too similar to the full name.");
        CHECK(similar_to("velvet-otter-harbor-42").empty());
        // Only the first similar attribute is reported, as Django does.
        const user_attributes same{"maria.gonzalez", "maria.gonzalez@example.com", "Maria Gonzalez"};
        CHECK(policy.problems("mariagonzalez", same) ==
              std::vector<std::string>{"The password is too similar to the username."});
    }
    SUBCASE("a custom field name")
    {
        const auto errors = policy.validate("love", nobody, "new_password");
        CHECK(errors.count("new_password") == 1);
    }
}

TEST_CASE("password policy: settings")
{
    const password_policy strict({.min_length = 12, .max_length = 20});
    CHECK(strict.problems("velvetotter", nobody) ==
          std::vector<std::string>{"This password is too short. It must contain at least 12 characters."});
    CHECK(strict.problems("velvet-otter-harbor-1234", nobody) ==
          std::vector<std::string>{"This password is too long. It must contain at most 20 characters."});

    const password_policy lenient({.min_length = 1, .reject_common = false, .reject_numeric = false});
    CHECK(lenient.problems("1", nobody).empty());
    CHECK(lenient.problems("password", nobody).empty());
    CHECK(password_policy({.min_length = 1}).problems("", nobody).size() == 1);

    // Very long passwords are bounded, not compared at quadratic cost.
    const password_policy defaults;
    const user_attributes user{"johnsmith", "john@example.com", "John Smith"};
    CHECK(defaults.problems(std::string(4096, 'a'), user).empty());
    CHECK(defaults.problems(std::string(4097, 'a'), user).size() == 1);
}

using portcullis::core::utf8_encode;

TEST_CASE("password policy: the similarity check's cost is bounded whatever the attribute length")
{
    // The worst case of a longest-block ratio: a password of 2048 distinct characters
    // (4096 UTF-8 bytes) against a value made of the same characters interleaved with
    // 'x', so every common block has length 1 and the recursion goes 2048 deep. A
    // full name of about 1 MiB made one such check take minutes.
    std::string password;
    for (char32_t cp = 0x100; cp < 0x100 + 2048; ++cp) password += utf8_encode(cp);
    std::string value;
    while (value.size() < 1'000'000) {
        for (char32_t cp = 0x100; cp < 0x100 + 2048 && value.size() < 1'000'000; ++cp) value += utf8_encode(cp) + "x";
    }
    const password_policy defaults;
    const user_attributes user{value, value, value};
    auto t0 = std::chrono::steady_clock::now();
    auto problems = defaults.problems(password, user);
    auto t1 = std::chrono::steady_clock::now();
    CHECK(problems.empty());
    // A measurement for the record (docs/PASSWORDS.md), not an assertion.
    MESSAGE("similarity check, 2048-character password against three 1 MB attributes: ",
            std::chrono::duration<double, std::milli>(t1 - t0).count(), " ms");

    // The same for passwords short enough that no attribute part is skipped.
    std::string shorter;
    for (char32_t cp = 0x100; cp < 0x100 + 64; ++cp) shorter += utf8_encode(cp);
    t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < 100; ++i) problems = defaults.problems(shorter, user);
    t1 = std::chrono::steady_clock::now();
    MESSAGE("similarity check, 64-character password against three 1 MB attributes: ",
            std::chrono::duration<double, std::milli>(t1 - t0).count() / 100, " ms per check");
}
