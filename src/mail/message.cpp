#include "mail/message.hpp"

#include "core/random.hpp"
#include "core/text.hpp"
#include "mail/encoding.hpp"

namespace portcullis::mail {
namespace {

void append_header(std::string& out, std::string_view name, std::string_view value)
{
    out += name;
    out += ": ";
    out += value;
    out += "\r\n";
}

void append_part(std::string& out, std::string_view content_type, std::string_view body)
{
    append_header(out, "Content-Type", content_type);
    append_header(out, "Content-Transfer-Encoding", "quoted-printable");
    out += "\r\n";
    out += quoted_printable_encode(body);
    out += "\r\n";
}

}  // namespace

bool valid_address(std::string_view a) noexcept
{
    if (a.size() < 3 || a.size() > 254) return false;
    std::size_t at = a.rfind('@');
    if (at == std::string_view::npos || at == 0 || at + 1 == a.size() || at > 64) return false;
    static constexpr std::string_view forbidden = "<>()[]\\,;:\" ";
    for (unsigned char c : a) {
        if (c <= 0x20 || c >= 0x7f) return false;
        if (forbidden.find(static_cast<char>(c)) != std::string_view::npos) return false;
    }
    return true;
}

std::optional<mailbox> parse_mailbox(std::string_view text)
{
    text = core::trim(text);
    mailbox m;
    std::size_t lt = text.rfind('<');
    if (lt != std::string_view::npos) {
        if (text.back() != '>') return std::nullopt;
        m.address = std::string(text.substr(lt + 1, text.size() - lt - 2));
        std::string_view name = core::trim(text.substr(0, lt));
        if (name.size() >= 2 && name.front() == '"' && name.back() == '"') {
            name = name.substr(1, name.size() - 2);
            for (std::size_t i = 0; i < name.size(); ++i) {
                if (name[i] == '\\' && i + 1 < name.size()) ++i;
                m.name += name[i];
            }
        } else {
            m.name = std::string(name);
        }
    } else {
        m.address = std::string(text);
    }
    if (!valid_address(m.address)) return std::nullopt;
    return m;
}

std::string format_mailbox(const mailbox& m)
{
    std::string name = encode_display_name(m.name);
    if (name.empty()) return m.address;
    return name + " <" + m.address + ">";
}

std::string make_message_id(const mailbox& from)
{
    std::string_view domain = "localhost";
    if (auto at = from.address.rfind('@'); at != std::string::npos)
        domain = std::string_view(from.address).substr(at + 1);
    return "<" + core::random_hex(16) + "@" + std::string(domain) + ">";
}

std::string build_mime(const message& m, std::chrono::system_clock::time_point date, std::string_view message_id)
{
    std::string out;
    out.reserve(1024 + m.text.size() * 2 + m.html.size() * 2);
    append_header(out, "Date", format_rfc5322_date(date));
    append_header(out, "From", format_mailbox(m.from));
    std::string to;
    for (const mailbox& r : m.to) {
        if (!to.empty()) to += ",\r\n ";
        to += format_mailbox(r);
    }
    append_header(out, "To", to);
    append_header(out, "Subject", encode_header_text(m.subject));
    append_header(out, "Message-ID", message_id);
    append_header(out, "MIME-Version", "1.0");
    if (m.html.empty()) {
        append_part(out, "text/plain; charset=UTF-8", m.text);
        return out;
    }
    // "=_" can never occur in quoted-printable output, so the boundary cannot clash with a body.
    const std::string boundary = "=_portcullis_" + core::random_hex(12);
    append_header(out, "Content-Type", "multipart/alternative; boundary=\"" + boundary + "\"");
    out += "\r\nThis is a multi-part message in MIME format.\r\n";
    out += "\r\n--" + boundary + "\r\n";
    append_part(out, "text/plain; charset=UTF-8", m.text);
    out += "--" + boundary + "\r\n";
    append_part(out, "text/html; charset=UTF-8", m.html);
    out += "--" + boundary + "--\r\n";
    return out;
}

}  // namespace portcullis::mail
