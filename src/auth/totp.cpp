#include "auth/totp.hpp"

#include "core/percent.hpp"
#include "core/random.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cctype>
#include <stdexcept>

namespace portcullis::auth {

namespace {

constexpr std::string_view base32_alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
constexpr std::size_t recovery_chars = 12;  // 60 bits

// Equal strings of equal length, compared without an early exit.
bool same_code(std::string_view a, std::string_view b) noexcept
{
    if (a.size() != b.size()) return false;
    unsigned char diff = 0;
    for (std::size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
    return diff == 0;
}

int base32_value(char c) noexcept
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a';
    if (c >= '2' && c <= '7') return c - '2' + 26;
    return -1;
}

}  // namespace

std::string hotp(std::string_view secret, std::uint64_t counter, int digits)
{
    unsigned char msg[8];
    for (int i = 7; i >= 0; --i) {
        msg[i] = static_cast<unsigned char>(counter & 0xff);
        counter >>= 8;
    }
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (HMAC(EVP_sha1(), secret.data(), static_cast<int>(secret.size()), msg, sizeof msg, mac, &len) == nullptr ||
        len != 20) {
        throw std::runtime_error("HMAC-SHA1 failed");
    }
    // RFC 4226 §5.3 dynamic truncation.
    const int offset = mac[19] & 0x0f;
    const std::uint32_t bin = (static_cast<std::uint32_t>(mac[offset] & 0x7f) << 24) |
                              (static_cast<std::uint32_t>(mac[offset + 1]) << 16) |
                              (static_cast<std::uint32_t>(mac[offset + 2]) << 8) | mac[offset + 3];
    std::uint32_t mod = 1;
    for (int i = 0; i < digits; ++i) mod *= 10;
    std::string code = std::to_string(bin % mod);
    if (code.size() < static_cast<std::size_t>(digits))
        code.insert(0, static_cast<std::size_t>(digits) - code.size(), '0');
    return code;
}

std::int64_t totp_step(std::int64_t unix_seconds) noexcept
{
    return unix_seconds >= 0 ? unix_seconds / totp_period : -1;
}

bool is_totp_syntax(std::string_view code) noexcept
{
    if (code.size() != static_cast<std::size_t>(totp_digits)) return false;
    for (char c : code) {
        if (c < '0' || c > '9') return false;
    }
    return true;
}

std::optional<std::int64_t> totp_match(std::string_view secret, std::string_view code, std::int64_t now_step,
                                       int window, std::int64_t after)
{
    if (!is_totp_syntax(code)) return std::nullopt;
    std::optional<std::int64_t> found;
    for (std::int64_t step = now_step - window; step <= now_step + window; ++step) {
        if (step < 0 || step <= after) continue;
        // Every candidate is computed and compared: the time taken does not tell which matched.
        if (same_code(hotp(secret, static_cast<std::uint64_t>(step)), code) && !found) found = step;
    }
    return found;
}

std::string base32_encode(std::string_view bytes)
{
    std::string out;
    out.reserve((bytes.size() * 8 + 4) / 5);
    std::uint32_t buffer = 0;
    int bits = 0;
    for (unsigned char b : bytes) {
        buffer = (buffer << 8) | b;
        bits += 8;
        while (bits >= 5) {
            out += base32_alphabet[(buffer >> (bits - 5)) & 0x1f];
            bits -= 5;
        }
    }
    if (bits > 0) out += base32_alphabet[(buffer << (5 - bits)) & 0x1f];
    return out;
}

std::optional<std::string> base32_decode(std::string_view text)
{
    std::string out;
    std::uint32_t buffer = 0;
    int bits = 0;
    for (char c : text) {
        if (c == '=' || c == ' ') continue;
        int v = base32_value(c);
        if (v < 0) return std::nullopt;
        buffer = (buffer << 5) | static_cast<std::uint32_t>(v);
        bits += 5;
        if (bits >= 8) {
            out += static_cast<char>((buffer >> (bits - 8)) & 0xff);
            bits -= 8;
        }
    }
    return out;
}

std::string otpauth_uri(std::string_view issuer, std::string_view account, std::string_view secret_base32)
{
    std::string uri = "otpauth://totp/";
    uri += core::percent_encode(issuer);
    uri += ':';
    uri += core::percent_encode(account);
    uri += "?secret=";
    uri += secret_base32;
    uri += "&issuer=";
    uri += core::percent_encode(issuer);
    uri += "&algorithm=SHA1&digits=" + std::to_string(totp_digits) + "&period=" + std::to_string(totp_period);
    return uri;
}

std::string generate_recovery_code()
{
    std::string code;
    for (std::size_t i = 0; i < recovery_chars; ++i) {
        if (i > 0 && i % 4 == 0) code += '-';
        code += static_cast<char>(
            std::tolower(static_cast<unsigned char>(base32_alphabet[core::random_below(base32_alphabet.size())])));
    }
    return code;
}

std::optional<std::string> normalize_recovery_code(std::string_view code)
{
    std::string out;
    if (code.size() > 32) return std::nullopt;
    for (char c : code) {
        if (c == '-' || c == ' ') continue;
        if (base32_value(c) < 0) return std::nullopt;
        out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    if (out.size() != recovery_chars) return std::nullopt;
    return out;
}

}  // namespace portcullis::auth
