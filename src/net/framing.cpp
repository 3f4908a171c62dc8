#include "net/framing.hpp"

#include "core/text.hpp"

#include <boost/beast/http/field.hpp>

namespace portcullis::net {
namespace http = boost::beast::http;

std::string_view check_framing(const http::fields& fields, unsigned version)
{
    bool has_te = false;
    std::string_view te_last;
    // Iterate every field: duplicates need not be adjacent in insertion order.
    for (const auto& f : fields) {
        if (f.name() != http::field::transfer_encoding) continue;
        has_te = true;
        std::string_view v = f.value();
        // The last coding of the last header is what frames the body.
        auto comma = v.rfind(',');
        te_last = core::trim(comma == std::string_view::npos ? v : v.substr(comma + 1));
    }
    std::string_view first_cl;
    bool has_cl = false;
    for (const auto& f : fields) {
        if (f.name() != http::field::content_length) continue;
        std::string_view v = f.value();
        // A list value "5, 5" is also several lengths.
        while (!v.empty()) {
            auto comma = v.find(',');
            std::string_view one = core::trim(v.substr(0, comma));
            v = comma == std::string_view::npos ? std::string_view{} : v.substr(comma + 1);
            if (!has_cl) {
                first_cl = one;
                has_cl = true;
            } else if (one != first_cl) {
                return "differing Content-Length values";
            }
        }
    }
    if (has_te && has_cl) return "both Content-Length and Transfer-Encoding";
    if (has_te && version < 11) return "Transfer-Encoding in HTTP/1.0";
    if (has_te && !core::ascii_iequals(te_last, "chunked")) return "unsupported Transfer-Encoding";
    return {};
}

bool request_id_is_sane(std::string_view id) noexcept
{
    if (id.empty() || id.size() > 128) return false;
    for (char c : id) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
                  c == '.' || c == ':';
        if (!ok) return false;
    }
    return true;
}

}  // namespace portcullis::net
