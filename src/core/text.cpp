#include "core/text.hpp"

namespace portcullis::core {
namespace {

constexpr char b64url_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
constexpr char b64_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

struct decode_table {
    signed char url[256];
    signed char std[256];
    constexpr decode_table() : url{}, std{}
    {
        for (int i = 0; i < 256; ++i) {
            url[i] = -1;
            std[i] = -1;
        }
        for (int i = 0; i < 64; ++i) {
            url[static_cast<unsigned char>(b64url_alphabet[i])] = static_cast<signed char>(i);
            std[static_cast<unsigned char>(b64_alphabet[i])] = static_cast<signed char>(i);
        }
    }
};
constexpr decode_table tables;

void encode_append(std::string& out, std::string_view in, const char* alphabet, bool pad)
{
    const auto* p = reinterpret_cast<const unsigned char*>(in.data());
    const std::size_t n = in.size();
    out.reserve(out.size() + (n + 2) / 3 * 4);
    std::size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        const unsigned v = (unsigned(p[i]) << 16) | (unsigned(p[i + 1]) << 8) | p[i + 2];
        out += alphabet[(v >> 18) & 63];
        out += alphabet[(v >> 12) & 63];
        out += alphabet[(v >> 6) & 63];
        out += alphabet[v & 63];
    }
    if (n - i == 1) {
        const unsigned v = unsigned(p[i]) << 16;
        out += alphabet[(v >> 18) & 63];
        out += alphabet[(v >> 12) & 63];
        if (pad) out += "==";
    } else if (n - i == 2) {
        const unsigned v = (unsigned(p[i]) << 16) | (unsigned(p[i + 1]) << 8);
        out += alphabet[(v >> 18) & 63];
        out += alphabet[(v >> 12) & 63];
        out += alphabet[(v >> 6) & 63];
        if (pad) out += '=';
    }
}

// Decodes unpadded base64 text with `table`; -1 on an invalid character, an
// impossible length or non-zero unused bits.
std::ptrdiff_t decode_into(std::string_view text, const signed char* table, char* out, std::size_t cap) noexcept
{
    const std::size_t n = text.size();
    if (n % 4 == 1) return -1;
    const std::size_t need = n / 4 * 3 + (n % 4 == 0 ? 0 : n % 4 - 1);
    if (need > cap) return -1;
    std::size_t o = 0;
    std::size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const int a = table[static_cast<unsigned char>(text[i])];
        const int b = table[static_cast<unsigned char>(text[i + 1])];
        const int c = table[static_cast<unsigned char>(text[i + 2])];
        const int d = table[static_cast<unsigned char>(text[i + 3])];
        if ((a | b | c | d) < 0) return -1;
        const unsigned v = (unsigned(a) << 18) | (unsigned(b) << 12) | (unsigned(c) << 6) | unsigned(d);
        out[o++] = static_cast<char>(v >> 16);
        out[o++] = static_cast<char>((v >> 8) & 0xff);
        out[o++] = static_cast<char>(v & 0xff);
    }
    const std::size_t rest = n - i;
    if (rest == 2) {
        const int a = table[static_cast<unsigned char>(text[i])];
        const int b = table[static_cast<unsigned char>(text[i + 1])];
        if ((a | b) < 0 || (b & 0x0f) != 0) return -1;
        out[o++] = static_cast<char>((a << 2) | (b >> 4));
    } else if (rest == 3) {
        const int a = table[static_cast<unsigned char>(text[i])];
        const int b = table[static_cast<unsigned char>(text[i + 1])];
        const int c = table[static_cast<unsigned char>(text[i + 2])];
        if ((a | b | c) < 0 || (c & 0x03) != 0) return -1;
        out[o++] = static_cast<char>((a << 2) | (b >> 4));
        out[o++] = static_cast<char>(((b & 0x0f) << 4) | (c >> 2));
    }
    return static_cast<std::ptrdiff_t>(o);
}

bool decode_string(std::string_view text, const signed char* table, std::string& out)
{
    out.resize(text.size() / 4 * 3 + 3);
    const auto n = decode_into(text, table, out.data(), out.size());
    if (n < 0) {
        out.clear();
        return false;
    }
    out.resize(static_cast<std::size_t>(n));
    return true;
}

}  // namespace

std::string base64url_encode(std::string_view bytes)
{
    std::string out;
    encode_append(out, bytes, b64url_alphabet, false);
    return out;
}

void base64url_encode_append(std::string& out, std::string_view bytes)
{
    encode_append(out, bytes, b64url_alphabet, false);
}

bool base64url_decode(std::string_view text, std::string& out)
{
    return decode_string(text, tables.url, out);
}

std::ptrdiff_t base64url_decode(std::string_view text, std::span<char> out) noexcept
{
    return decode_into(text, tables.url, out.data(), out.size());
}

std::string base64_encode(std::string_view bytes)
{
    std::string out;
    encode_append(out, bytes, b64_alphabet, true);
    return out;
}

bool base64_decode(std::string_view text, std::string& out)
{
    // Padding is required to bring the length to a multiple of four, and only at the end.
    if (text.size() % 4 != 0) {
        out.clear();
        return false;
    }
    std::size_t pad = 0;
    while (pad < 2 && pad < text.size() && text[text.size() - 1 - pad] == '=') ++pad;
    text.remove_suffix(pad);
    return decode_string(text, tables.std, out);
}

std::string hex_encode(std::span<const unsigned char> bytes)
{
    std::string out;
    hex_encode_append(out, bytes);
    return out;
}

std::string hex_encode(std::string_view bytes)
{
    return hex_encode(std::span(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size()));
}

void hex_encode_append(std::string& out, std::span<const unsigned char> bytes)
{
    out.reserve(out.size() + 2 * bytes.size());
    for (const unsigned char c : bytes) {
        out += hex_digits_lower[c >> 4];
        out += hex_digits_lower[c & 0xf];
    }
}

std::optional<utf8_code_point> utf8_next(std::string_view text) noexcept
{
    if (text.empty()) return std::nullopt;
    const auto b0 = static_cast<unsigned char>(text[0]);
    const std::size_t len = utf8_sequence_length(b0);
    if (len == 0 || len > text.size()) return std::nullopt;
    if (len == 1) return utf8_code_point{b0, 1};
    char32_t cp = len == 2 ? (b0 & 0x1f) : len == 3 ? (b0 & 0x0f) : (b0 & 0x07);
    for (std::size_t k = 1; k < len; ++k) {
        const auto b = static_cast<unsigned char>(text[k]);
        if ((b & 0xc0) != 0x80) return std::nullopt;
        cp = (cp << 6) | (b & 0x3f);
    }
    // The shortest form only, and only Unicode scalar values.
    static constexpr char32_t min_for_length[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_for_length[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return std::nullopt;
    return utf8_code_point{cp, len};
}

void utf8_append(std::string& out, char32_t cp)
{
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xc0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xe0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
        out += static_cast<char>(0x80 | (cp & 0x3f));
    } else {
        out += static_cast<char>(0xf0 | ((cp >> 18) & 0x07));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
        out += static_cast<char>(0x80 | (cp & 0x3f));
    }
}

std::string utf8_encode(char32_t cp)
{
    std::string out;
    utf8_append(out, cp);
    return out;
}

std::string ascii_lower(std::string_view s)
{
    std::string out(s);
    for (char& c : out) c = ascii_lower(c);
    return out;
}

}  // namespace portcullis::core
