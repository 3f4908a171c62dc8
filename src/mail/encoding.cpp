#include "mail/encoding.hpp"

#include "core/text.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <ctime>

namespace portcullis::mail {
namespace {

constexpr std::size_t qp_max_line = 76;

bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

// Appends one input line (no line break) encoded as quoted-printable with soft breaks.
void qp_line(std::string& out, std::string_view line)
{
    std::size_t col = 0;
    for (std::size_t i = 0; i < line.size(); ++i) {
        auto c = static_cast<unsigned char>(line[i]);
        const bool last = i + 1 == line.size();
        char token[3];
        std::size_t len = 1;
        // A blank at the end of a line would be stripped by transports: escape it.
        if ((c >= 33 && c <= 126 && c != '=') || (is_blank(static_cast<char>(c)) && !last)) {
            token[0] = static_cast<char>(c);
        } else {
            token[0] = '=';
            token[1] = core::hex_digits_upper[c >> 4];
            token[2] = core::hex_digits_upper[c & 0xf];
            len = 3;
        }
        // The final token may use the 76th column; others must leave room for the "=" soft break.
        const std::size_t limit = last ? qp_max_line : qp_max_line - 1;
        if (col + len > limit) {
            out += "=\r\n";
            col = 0;
        }
        out.append(token, len);
        col += len;
    }
}

bool needs_encoded_words(std::string_view text)
{
    if (text.find("=?") != std::string_view::npos) return true;
    for (unsigned char c : text) {
        if (c < 0x20 || c >= 0x7f) return true;
    }
    return false;
}

// B-encoded words of at most 39 input bytes each (a 64-character word), never splitting
// a UTF-8 sequence, joined by CRLF SP folds.
std::string encoded_words(std::string_view text)
{
    constexpr std::size_t chunk = 39;
    std::string out;
    std::size_t pos = 0;
    while (pos < text.size()) {
        std::size_t end = pos;
        while (end < text.size()) {
            // A byte that starts no sequence goes alone.
            std::size_t n = std::max<std::size_t>(1, core::utf8_sequence_length(static_cast<unsigned char>(text[end])));
            if (end + n > text.size()) n = text.size() - end;
            if (end - pos + n > chunk) break;
            end += n;
        }
        if (!out.empty()) out += "\r\n ";
        out += "=?UTF-8?B?";
        out += core::base64_encode(text.substr(pos, end - pos));
        out += "?=";
        pos = end;
    }
    return out;
}

}  // namespace

std::string quoted_printable_encode(std::string_view text)
{
    std::string out;
    out.reserve(text.size() + text.size() / 8);
    std::size_t pos = 0;
    while (pos <= text.size()) {
        std::size_t nl = text.find('\n', pos);
        std::string_view line = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        qp_line(out, line);
        if (nl == std::string_view::npos) break;
        out += "\r\n";
        pos = nl + 1;
    }
    return out;
}

std::string quoted_printable_decode(std::string_view in)
{
    std::string out;
    out.reserve(in.size());
    for (std::size_t i = 0; i < in.size(); ++i) {
        char c = in[i];
        if (c != '=') {
            out += c;
            continue;
        }
        if (i + 1 < in.size() && in[i + 1] == '\n') {
            i += 1;
        } else if (i + 2 < in.size() && in[i + 1] == '\r' && in[i + 2] == '\n') {
            i += 2;
        } else if (i + 2 < in.size() && core::hex_value(in[i + 1]) >= 0 && core::hex_value(in[i + 2]) >= 0) {
            out += static_cast<char>(core::hex_value(in[i + 1]) * 16 + core::hex_value(in[i + 2]));
            i += 2;
        } else {
            out += c;
        }
    }
    return out;
}

std::string single_line(std::string_view text)
{
    std::string out(text);
    for (char& c : out) {
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
    }
    return std::string(core::trim(out, " "));
}

std::string encode_header_text(std::string_view text)
{
    std::string clean = single_line(text);
    if (!needs_encoded_words(clean)) return clean;
    return encoded_words(clean);
}

std::string encode_display_name(std::string_view name)
{
    std::string clean = single_line(name);
    if (clean.empty()) return {};
    if (needs_encoded_words(clean)) return encoded_words(clean);
    static constexpr std::string_view specials = "()<>[]:;@\\,.\"";
    if (clean.find_first_of(specials) == std::string::npos) return clean;
    std::string out = "\"";
    for (char c : clean) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
    }
    out += '"';
    return out;
}

std::string format_rfc5322_date(std::chrono::system_clock::time_point t)
{
    static constexpr std::array<const char*, 7> days{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static constexpr std::array<const char*, 12> months{"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    std::time_t tt = std::chrono::system_clock::to_time_t(t);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    char buf[48];
    int n = std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday % 7], tm.tm_mday,
                          months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
    return std::string(buf, static_cast<std::size_t>(n));
}

std::string dot_stuff(std::string_view message)
{
    std::string out;
    out.reserve(message.size() + message.size() / 64 + 8);
    bool line_start = true;
    for (std::size_t i = 0; i < message.size(); ++i) {
        char c = message[i];
        if (line_start && c == '.') out += '.';
        line_start = false;
        if (c == '\n') {
            if (out.empty() || out.back() != '\r') out += '\r';
            line_start = true;
        }
        out += c;
    }
    if (!line_start) out += "\r\n";
    out += ".\r\n";
    return out;
}

std::string html_escape(std::string_view text)
{
    std::string out;
    out.reserve(text.size());
    for (char c : text) {
        switch (c) {
        case '&':
            out += "&amp;";
            break;
        case '<':
            out += "&lt;";
            break;
        case '>':
            out += "&gt;";
            break;
        case '"':
            out += "&quot;";
            break;
        case '\'':
            out += "&#39;";
            break;
        default:
            out += c;
        }
    }
    return out;
}

}  // namespace portcullis::mail
