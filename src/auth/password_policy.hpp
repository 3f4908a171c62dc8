#pragma once
// Password policy modelled on Django's four default validators: not too similar to
// the user's attributes, a minimum length, not a common password, not entirely
// numeric. Messages use Django's wording so clients ported from Django see the same.

#include <cstddef>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace portcullis::auth {

struct password_policy_settings {
    std::size_t min_length = 8;     // characters (code points)
    std::size_t max_length = 4096;  // characters; bounds the cost of the checks and of hashing
    double max_similarity = 0.7;    // Django's UserAttributeSimilarityValidator default
    bool reject_common = true;
    bool reject_numeric = true;
};

// What the password is compared against; empty values are skipped.
struct user_attributes {
    std::string_view username;
    std::string_view email;
    std::string_view full_name;
};

// field -> message, as put into the `details` of a validation_failed error.
using field_errors = std::map<std::string, std::string, std::less<>>;

class password_policy {
public:
    explicit password_policy(password_policy_settings settings = {});

    // Every rule the password breaks, one message each, in Django's order; empty if acceptable.
    std::vector<std::string> problems(std::string_view password, const user_attributes& user) const;

    // {field: all messages joined by a space}, or an empty map when acceptable.
    field_errors validate(std::string_view password, const user_attributes& user,
                          std::string_view field = "password") const;

    const password_policy_settings& settings() const noexcept { return settings_; }

private:
    password_policy_settings settings_;
};

// True if `password`, lower-cased and trimmed, is in the embedded common-password list.
bool is_common_password(std::string_view password);

// Number of entries in the embedded list.
std::size_t common_password_count() noexcept;

// Similarity of two strings as difflib.SequenceMatcher(a, b).quick_ratio() computes it
// (2 * characters in common, as multisets, / total length), the measure Django's
// UserAttributeSimilarityValidator applies; 1.0 for two empty strings. Compares UTF-8
// code points in O(n log n).
double similarity_ratio(std::string_view a, std::string_view b);

}  // namespace portcullis::auth
