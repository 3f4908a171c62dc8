#pragma once
// Syntax checks and normalization of e-mail addresses and usernames. Pure
// functions: no DNS here (the mx/mailboxlayer checks build on these results).

#include <string>
#include <string_view>

namespace portcullis::auth {

// Either a normalized value or a message for the `details` of validation_failed.
struct normalized {
    std::string value;
    std::string error;
    bool ok() const noexcept { return error.empty(); }
};

// A practical RFC 5322 subset: surrounding whitespace trimmed; local part a dot-atom
// of 1–64 ASCII characters (case kept); domain of at least two labels, each 1–63 of
// letters, digits and inner hyphens, lower-cased, the last not all digits, at most
// 253 characters; a domain with non-ASCII characters is converted to its ASCII form
// by UTS #46 non-transitional processing (libidn2: case mapping, NFC, "xn--" +
// Punycode, the STD3 rules); the whole at most 254.
// Error message: "Enter a valid email address."
normalized normalize_email(std::string_view input);

// 3–150 characters of [A-Za-z0-9@.+_-] after trimming surrounding whitespace; case kept.
normalized normalize_username(std::string_view input);

}  // namespace portcullis::auth
