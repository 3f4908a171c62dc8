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
// 253 characters; labels with non-ASCII characters converted to their ASCII form
// ("xn--" + Punycode, ASCII case folding only, no NFC); the whole at most 254.
// Error message: "Enter a valid email address."
normalized normalize_email(std::string_view input);

// 3–150 characters of [A-Za-z0-9@.+_-] after trimming surrounding whitespace; case kept.
normalized normalize_username(std::string_view input);

// RFC 3492 Punycode encoding of the code points in `utf8` (basic code points kept as
// they are, no "xn--" prefix). False on invalid UTF-8 or arithmetic overflow.
bool punycode_encode(std::string_view utf8, std::string& out);

}  // namespace portcullis::auth
