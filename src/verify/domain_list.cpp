#include "verify/domain_list.hpp"

#include "core/text.hpp"

#include <fstream>
#include <sstream>
#include <stdexcept>

namespace portcullis::verify {

domain_list domain_list::parse(std::string_view text)
{
    domain_list list;
    while (!text.empty()) {
        auto nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
        if (auto hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
        line = core::trim(line, " \t\r");
        while (!line.empty() && line.back() == '.') line.remove_suffix(1);
        if (!line.empty()) list.domains_.insert(core::ascii_lower(line));
    }
    return list;
}

domain_list domain_list::load(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("DISPOSABLE_DOMAINS_FILE: cannot read " + path);
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) throw std::runtime_error("DISPOSABLE_DOMAINS_FILE: cannot read " + path);
    return parse(text.str());
}

bool domain_list::contains(std::string_view domain) const
{
    std::string d = core::ascii_lower(domain);
    std::string_view rest = d;
    while (!rest.empty()) {
        if (domains_.contains(std::string(rest))) return true;
        auto dot = rest.find('.');
        if (dot == std::string_view::npos) break;
        rest.remove_prefix(dot + 1);
    }
    return false;
}

}  // namespace portcullis::verify
