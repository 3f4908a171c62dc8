#include "auth/password_policy.hpp"

#include <doctest/doctest.h>

using namespace portcullis::auth;

namespace {
const user_attributes nobody{};
const char* const too_short = "This password is too short. It must contain at least 8 characters.";
}  // namespace

TEST_CASE("similarity_ratio agrees with difflib.SequenceMatcher.ratio()")
{
    // Expected values from Python 3.11: difflib.SequenceMatcher(a=a, b=b, autojunk=False).ratio()
    struct sample {
        const char* a;
        const char* b;
        double ratio;
    };
    for (const sample& s :
         {sample{"password", "passw0rd", 0.875}, sample{"abcd", "dcba", 0.25}, sample{"tide", "diet", 0.25},
          sample{"qabxcd", "abycdf", 2.0 / 3.0}, sample{"johnsmith1", "johnsmith", 0.9473684210526315},
          sample{"private volume", "private_volume_x", 0.8666666666666667}, sample{"bücher2024", "bucher", 0.625},
          sample{"aaabbbccc", "abcabcabc", 0.5555555555555556}, sample{"", "", 1.0}, sample{"a", "", 0.0}}) {
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
