#include "core/text.hpp"

#include <doctest/doctest.h>

#include <array>
#include <string>

using namespace portcullis::core;

namespace {

// The decoded text, or "<invalid>" (and then the output must have been emptied).
std::string decoded(std::string_view text, bool url)
{
    std::string out = "junk";
    if (!(url ? base64url_decode(text, out) : base64_decode(text, out))) {
        CHECK(out.empty());
        return "<invalid>";
    }
    return out;
}

std::string url_decoded(std::string_view text)
{
    return decoded(text, true);
}

std::string std_decoded(std::string_view text)
{
    return decoded(text, false);
}

}  // namespace

TEST_CASE("base64 and base64url encode the RFC 4648 test vectors")
{
    const std::array<std::pair<std::string_view, std::string_view>, 7> vectors{{
        {"", ""},
        {"f", "Zg=="},
        {"fo", "Zm8="},
        {"foo", "Zm9v"},
        {"foob", "Zm9vYg=="},
        {"fooba", "Zm9vYmE="},
        {"foobar", "Zm9vYmFy"},
    }};
    for (const auto& [plain, encoded] : vectors) {
        CHECK(base64_encode(plain) == encoded);
        CHECK(std_decoded(encoded) == plain);
        std::string unpadded(encoded.substr(0, encoded.find('=')));
        CHECK(base64url_encode(plain) == unpadded);
        CHECK(url_decoded(unpadded) == plain);
    }
    // The two alphabets differ only in the last two characters.
    const std::string high("\xfb\xff\xbf", 3);
    CHECK(base64_encode(std::string("\0user\0pass", 10)) == "AHVzZXIAcGFzcw==");  // SMTP AUTH PLAIN
    CHECK(base64_encode(high) == "+/+/");
    CHECK(base64url_encode(high) == "-_-_");
    CHECK(std_decoded("+/+/") == high);
    CHECK(url_decoded("-_-_") == high);

    std::string appended = "x.";
    base64url_encode_append(appended, "foob");
    CHECK(appended == "x.Zm9vYg");
}

TEST_CASE("base64url: RFC 4648 vectors, no padding, strict decoding")
{
    const std::pair<const char*, const char*> vectors[] = {
        {"", ""},           {"f", "Zg"},          {"fo", "Zm8"},         {"foo", "Zm9v"},
        {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"}};
    for (auto [plain, encoded] : vectors) {
        CHECK(base64url_encode(plain) == encoded);
        std::string out;
        CHECK(base64url_decode(encoded, out));
        CHECK(out == plain);
    }
    CHECK(base64url_encode("\xfb\xff") == "-_8");
    std::string out;
    CHECK(base64url_decode("-_8", out));
    CHECK(out == "\xfb\xff");
    CHECK_FALSE(base64url_decode("Zg==", out));    // padding
    CHECK_FALSE(base64url_decode("Zh", out));      // non-zero unused bits: not canonical
    CHECK_FALSE(base64url_decode("Zm9", out));     // 'Zm9' decodes with unused bits set
    CHECK_FALSE(base64url_decode("Z", out));       // impossible length
    CHECK_FALSE(base64url_decode("Zm9v+w", out));  // standard alphabet
    CHECK_FALSE(base64url_decode("Zm 9v", out));   // whitespace
    CHECK_FALSE(base64url_decode("Zm9v\n", out));
    char small[2];
    CHECK(base64url_decode("Zm9v", std::span<char>(small)) == -1);  // does not fit
}

TEST_CASE("base64 (standard, padded) as Django stores hashes")
{
    CHECK(base64_encode("foob") == "Zm9vYg==");
    CHECK(base64_encode("\xfb\xff") == "+/8=");
    std::string out;
    CHECK(base64_decode("Zm9vYg==", out));
    CHECK(out == "foob");
    CHECK(base64_decode("+/8=", out));
    CHECK(out == "\xfb\xff");
    CHECK_FALSE(base64_decode("Zm9vYg", out));    // padding required
    CHECK_FALSE(base64_decode("Zm9v=g==", out));  // padding inside
    CHECK_FALSE(base64_decode("-_8=", out));      // url alphabet
}

TEST_CASE("base64url decoding is strict and canonical")
{
    CHECK(url_decoded("Zm9vYg==") == "<invalid>");  // no padding
    CHECK(url_decoded("Zm9v+g") == "<invalid>");    // standard alphabet
    CHECK(url_decoded("Zm9v/g") == "<invalid>");
    CHECK(url_decoded("Zm9 v") == "<invalid>");  // whitespace
    CHECK(url_decoded("Zm9v\n") == "<invalid>");
    CHECK(url_decoded(std::string_view("Zm\0v", 4)) == "<invalid>");
    CHECK(url_decoded("Zm9vY") == "<invalid>");  // a length of 4k+1 is impossible
    CHECK(url_decoded("Z") == "<invalid>");
    // Unused trailing bits must be zero: "Zg" is the only text for "f".
    CHECK(url_decoded("Zg") == "f");
    CHECK(url_decoded("Zh") == "<invalid>");
    CHECK(url_decoded("Zv") == "<invalid>");
    CHECK(url_decoded("Zm8") == "fo");
    CHECK(url_decoded("Zm9") == "<invalid>");
    CHECK(url_decoded("Zm-") == "<invalid>");
    CHECK(url_decoded("") == "");
    // Every byte value survives a round trip.
    std::string all;
    for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
    CHECK(url_decoded(base64url_encode(all)) == all);
    CHECK(std_decoded(base64_encode(all)) == all);
}

TEST_CASE("base64url decoding into a caller buffer refuses what does not fit")
{
    std::array<char, 4> buf{};
    CHECK(base64url_decode("Zm9vYg", std::span<char>(buf)) == 4);
    CHECK(std::string_view(buf.data(), 4) == "foob");
    CHECK(base64url_decode("Zm9vYmE", std::span<char>(buf)) == -1);  // 5 bytes
    CHECK(base64url_decode("Zh", std::span<char>(buf)) == -1);
    CHECK(base64url_decode("Zm9v=", std::span<char>(buf)) == -1);
    CHECK(base64url_decode("", std::span<char>(buf)) == 0);
}

TEST_CASE("base64 decoding wants exact padding and the standard alphabet")
{
    CHECK(std_decoded("Zg") == "<invalid>");   // padding is required
    CHECK(std_decoded("Zg=") == "<invalid>");  // and complete
    CHECK(std_decoded("Zg===") == "<invalid>");
    CHECK(std_decoded("Z===") == "<invalid>");  // at most two '='
    CHECK(std_decoded("====") == "<invalid>");
    CHECK(std_decoded("Zg==Zg==") == "<invalid>");  // padding only at the end
    CHECK(std_decoded("Z=g=") == "<invalid>");
    CHECK(std_decoded("Zm9v-_==") == "<invalid>");  // url alphabet
    CHECK(std_decoded("Zh==") == "<invalid>");      // non-zero unused bits
    CHECK(std_decoded("Zm9=") == "<invalid>");
    CHECK(std_decoded("Zm9v Zg==") == "<invalid>");
    CHECK(std_decoded("") == "");
}

TEST_CASE("hex encodes lower-case and reads either case")
{
    CHECK(hex_encode(std::string_view("")) == "");
    CHECK(hex_encode(std::string_view("\x00\x01\x7f\x80\xab\xff", 6)) == "00017f80abff");
    const std::array<unsigned char, 3> bytes{0xde, 0xad, 0x0f};
    CHECK(hex_encode(std::span<const unsigned char>(bytes)) == "dead0f");
    std::string out = "id:";
    hex_encode_append(out, bytes);
    CHECK(out == "id:dead0f");

    CHECK(hex_value('0') == 0);
    CHECK(hex_value('9') == 9);
    CHECK(hex_value('a') == 10);
    CHECK(hex_value('F') == 15);
    CHECK(hex_value('g') == -1);
    CHECK(hex_value('G') == -1);
    CHECK(hex_value('/') == -1);
    CHECK(hex_value(':') == -1);
    CHECK(hex_value('\0') == -1);
    CHECK(hex_value('\xff') == -1);
}

TEST_CASE("utf8_next decodes well-formed sequences of every length")
{
    const auto cp = [](std::string_view s) -> std::pair<char32_t, std::size_t> {
        auto r = utf8_next(s);
        REQUIRE(r.has_value());
        return {r->value, r->length};
    };
    CHECK(cp("A") == std::pair<char32_t, std::size_t>{U'A', 1});
    CHECK(cp(std::string_view("\0", 1)) == std::pair<char32_t, std::size_t>{0, 1});
    CHECK(cp("\x7f") == std::pair<char32_t, std::size_t>{0x7f, 1});
    CHECK(cp("\xc2\x80") == std::pair<char32_t, std::size_t>{0x80, 2});
    CHECK(cp("\xc3\xa9tude") == std::pair<char32_t, std::size_t>{0xe9, 2});
    CHECK(cp("\xdf\xbf") == std::pair<char32_t, std::size_t>{0x7ff, 2});
    CHECK(cp("\xe0\xa0\x80") == std::pair<char32_t, std::size_t>{0x800, 3});
    CHECK(cp("\xed\x9f\xbf") == std::pair<char32_t, std::size_t>{0xd7ff, 3});
    CHECK(cp("\xee\x80\x80") == std::pair<char32_t, std::size_t>{0xe000, 3});
    CHECK(cp("\xef\xbf\xbf") == std::pair<char32_t, std::size_t>{0xffff, 3});
    CHECK(cp("\xf0\x90\x80\x80") == std::pair<char32_t, std::size_t>{0x10000, 4});
    CHECK(cp("\xf4\x8f\xbf\xbf") == std::pair<char32_t, std::size_t>{0x10ffff, 4});
}

TEST_CASE("utf8_next refuses ill-formed sequences")
{
    CHECK_FALSE(utf8_next("").has_value());
    CHECK_FALSE(utf8_next("\x80").has_value());  // stray continuation bytes
    CHECK_FALSE(utf8_next("\xbf"
                          "A")
                    .has_value());
    CHECK_FALSE(utf8_next("\xc3").has_value());  // truncated
    CHECK_FALSE(utf8_next("\xe2\x82").has_value());
    CHECK_FALSE(utf8_next("\xf0\x9f\x98").has_value());
    CHECK_FALSE(utf8_next("\xc3"
                          "A")
                    .has_value());  // not a continuation byte
    CHECK_FALSE(utf8_next("\xe2\x82"
                          "A")
                    .has_value());
    CHECK_FALSE(utf8_next("\xc0\xaf").has_value());  // overlong forms
    CHECK_FALSE(utf8_next("\xc1\xbf").has_value());
    CHECK_FALSE(utf8_next("\xe0\x80\xaf").has_value());
    CHECK_FALSE(utf8_next("\xe0\x9f\xbf").has_value());
    CHECK_FALSE(utf8_next("\xf0\x80\x80\xaf").has_value());
    CHECK_FALSE(utf8_next("\xf0\x8f\xbf\xbf").has_value());
    CHECK_FALSE(utf8_next("\xed\xa0\x80").has_value());  // surrogates
    CHECK_FALSE(utf8_next("\xed\xbf\xbf").has_value());
    CHECK_FALSE(utf8_next("\xf4\x90\x80\x80").has_value());  // past U+10FFFF
    CHECK_FALSE(utf8_next("\xf7\xbf\xbf\xbf").has_value());
    CHECK_FALSE(utf8_next("\xf8\x88\x80\x80\x80").has_value());  // never a lead byte
    CHECK_FALSE(utf8_next("\xff").has_value());
}

TEST_CASE("utf8_count counts code points")
{
    CHECK(utf8_count("") == 0);
    CHECK(utf8_count("abc") == 3);
    CHECK(utf8_count("\xc3\xa9t\xc3\xa9") == 3);             // "été"
    CHECK(utf8_count("\xf0\x9f\x98\x80\xe2\x82\xac") == 2);  // U+1F600 U+20AC
    CHECK(utf8_count("\x80\x80") == 0);                      // continuation bytes only
}

TEST_CASE("utf8_sequence_length reads the lead byte only")
{
    CHECK(utf8_sequence_length('a') == 1);
    CHECK(utf8_sequence_length(0x7f) == 1);
    CHECK(utf8_sequence_length(0x80) == 0);
    CHECK(utf8_sequence_length(0xbf) == 0);
    CHECK(utf8_sequence_length(0xc0) == 2);
    CHECK(utf8_sequence_length(0xdf) == 2);
    CHECK(utf8_sequence_length(0xe0) == 3);
    CHECK(utf8_sequence_length(0xef) == 3);
    CHECK(utf8_sequence_length(0xf0) == 4);
    CHECK(utf8_sequence_length(0xf7) == 4);
    CHECK(utf8_sequence_length(0xf8) == 0);
    CHECK(utf8_sequence_length(0xff) == 0);
}

TEST_CASE("utf8_encode is the inverse of utf8_next for every scalar value")
{
    CHECK(utf8_encode(U'A') == "A");
    CHECK(utf8_encode(0xe9) == "\xc3\xa9");
    CHECK(utf8_encode(0x20ac) == "\xe2\x82\xac");
    CHECK(utf8_encode(0x1f600) == "\xf0\x9f\x98\x80");
    std::size_t mismatches = 0;
    for (char32_t c = 0; c <= 0x10ffff; ++c) {
        if (c >= 0xd800 && c <= 0xdfff) continue;
        const std::string s = utf8_encode(c);
        const auto r = utf8_next(s);
        if (!r || r->value != c || r->length != s.size()) ++mismatches;
    }
    CHECK(mismatches == 0);
    std::string out = "x";
    utf8_append(out, 0x7ff);
    CHECK(out == "x\xdf\xbf");
}

TEST_CASE("trim removes the given characters from both ends only")
{
    CHECK(trim("") == "");
    CHECK(trim(" \t ") == "");
    CHECK(trim(" a b\t") == "a b");
    CHECK(trim("\r\na\n") == "\r\na\n");  // only blanks by default
    CHECK(trim("\r\n a\v\f", whitespace) == "a");
    CHECK(trim(" a\r", " \t\r") == "a");
    CHECK(trim("xxaxx", "x") == "a");
    CHECK(trim("a") == "a");
}

TEST_CASE("ascii_lower and ascii_iequals touch ASCII letters only")
{
    CHECK(ascii_lower("Hello, WORLD@Example.COM") == "hello, world@example.com");
    CHECK(ascii_lower("\xc3\x89T\xc3\x89") == "\xc3\x89t\xc3\x89");  // "ÉTÉ": non-ASCII bytes kept
    CHECK(ascii_lower('@') == '@');
    CHECK(ascii_lower('[') == '[');
    CHECK(ascii_lower('Z') == 'z');
    CHECK(ascii_lower(U'Q') == U'q');
    CHECK(ascii_lower(char32_t{0xc9}) == char32_t{0xc9});
    CHECK(ascii_iequals("Transfer-Encoding", "transfer-encoding"));
    CHECK(ascii_iequals("", ""));
    CHECK_FALSE(ascii_iequals("chunked", "chunked "));
    CHECK_FALSE(ascii_iequals("@", "`"));  // 0x40 and 0x60 differ by the case bit but are not letters
}
