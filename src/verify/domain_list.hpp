#pragma once
// A set of e-mail domains (the disposable-domain blocklist): one domain per line,
// '#' comments and blank lines ignored. A domain matches itself and every subdomain.

#include <cstddef>
#include <string>
#include <string_view>
#include <unordered_set>

namespace portcullis::verify {

class domain_list {
public:
    // Entries are lower-cased and stripped of a trailing dot; IDN entries must be in
    // their ASCII (punycode) form, as addresses are compared after IDN conversion.
    static domain_list parse(std::string_view text);
    // Throws std::runtime_error naming the path when the file cannot be read.
    static domain_list load(const std::string& path);

    // Whether `domain` (ASCII) or one of its parent domains is listed.
    bool contains(std::string_view domain) const;
    std::size_t size() const noexcept { return domains_.size(); }

private:
    std::unordered_set<std::string> domains_;
};

}  // namespace portcullis::verify
