#include "mail/encoding.hpp"

#include "core/text.hpp"

#include <doctest/doctest.h>

#include <sstream>

using namespace portcullis::mail;

namespace {
// Every line of `s` (split on CRLF) is at most `max` characters and no line ends in a blank.
void check_qp_lines(const std::string& s, std::size_t max = 76)
{
    std::size_t pos = 0;
    while (pos <= s.size()) {
        std::size_t end = s.find("\r\n", pos);
        std::string line = s.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
        CHECK(line.size() <= max);
        if (!line.empty()) CHECK((line.back() != ' ' && line.back() != '\t'));
        CHECK(line.find('\n') == std::string::npos);
        if (end == std::string::npos) break;
        pos = end + 2;
    }
}
}  // namespace

TEST_CASE("quoted-printable keeps plain ASCII and escapes = and non-ASCII")
{
    CHECK(quoted_printable_encode("Hello, world") == "Hello, world");
    CHECK(quoted_printable_encode("a=b") == "a=3Db");
    CHECK(quoted_printable_encode("Zo\xc3\xab") == "Zo=C3=AB");
    CHECK(quoted_printable_encode("tab\there") == "tab\there");
}

TEST_CASE("quoted-printable line breaks become CRLF")
{
    CHECK(quoted_printable_encode("a\nb") == "a\r\nb");
    CHECK(quoted_printable_encode("a\r\nb\r\n") == "a\r\nb\r\n");
    CHECK(quoted_printable_encode("\n\n") == "\r\n\r\n");
}

TEST_CASE("quoted-printable escapes trailing blanks only at the end of a line")
{
    CHECK(quoted_printable_encode("end \nnext") == "end=20\r\nnext");
    CHECK(quoted_printable_encode("end\t") == "end=09");
    CHECK(quoted_printable_encode("a b") == "a b");
    CHECK(quoted_printable_encode("-- \n") == "--=20\r\n");
}

TEST_CASE("quoted-printable soft-breaks long lines at 76 characters and round-trips")
{
    std::string longline(200, 'x');
    auto enc = quoted_printable_encode(longline);
    check_qp_lines(enc);
    CHECK(enc.find("=\r\n") != std::string::npos);
    CHECK(quoted_printable_decode(enc) == longline);

    // Escapes are never split by a soft break.
    std::string utf;
    for (int i = 0; i < 60; ++i) utf += "\xc3\xa9";
    auto enc2 = quoted_printable_encode(utf + " \nnext line");
    check_qp_lines(enc2);
    CHECK(quoted_printable_decode(enc2) == utf + " \r\nnext line");

    // Exactly 76 characters fit without a soft break.
    std::string exact(76, 'y');
    CHECK(quoted_printable_encode(exact) == exact);
    std::string over(77, 'y');
    check_qp_lines(quoted_printable_encode(over));

    // Spaces at a soft-break point survive.
    std::string spaced;
    for (int i = 0; i < 30; ++i) spaced += "ab ";
    CHECK(quoted_printable_decode(quoted_printable_encode(spaced)) == spaced);
    check_qp_lines(quoted_printable_encode(spaced));
}

TEST_CASE("quoted-printable round-trips every byte value")
{
    std::string all;
    for (int i = 0; i < 256; ++i) {
        if (i != '\n' && i != '\r') all += static_cast<char>(i);
    }
    auto enc = quoted_printable_encode(all);
    check_qp_lines(enc);
    for (unsigned char c : enc) CHECK(c < 0x7f);
    CHECK(quoted_printable_decode(enc) == all);
}

TEST_CASE("RFC 2047: ASCII subjects stay readable, others become encoded words")
{
    CHECK(encode_header_text("Your code") == "Your code");
    CHECK(encode_header_text("Gr\xc3\xbc\xc3\x9f"
                             "e") == "=?UTF-8?B?R3LDvMOfZQ==?=");
    // Header injection attempts are flattened to one line.
    CHECK(encode_header_text("hi\r\nBcc: evil@x") == "hi  Bcc: evil@x");
    // Text that looks like an encoded word is encoded so it is not misread.
    CHECK(encode_header_text("=?x?=").starts_with("=?UTF-8?B?"));
}

TEST_CASE("RFC 2047: long non-ASCII text is split into folded words on character boundaries")
{
    std::string s;
    for (int i = 0; i < 40; ++i) s += "\xe2\x82\xac";  // euro sign, 3 bytes
    auto enc = encode_header_text(s);
    std::size_t pos = 0;
    int words = 0;
    std::string decoded_b64;
    while (pos < enc.size()) {
        std::size_t end = enc.find("\r\n ", pos);
        std::string w = enc.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
        CHECK(w.size() <= 75);
        CHECK(w.starts_with("=?UTF-8?B?"));
        CHECK(w.ends_with("?="));
        ++words;
        if (end == std::string::npos) break;
        pos = end + 3;
    }
    CHECK(words >= 3);
    // 39-byte chunks of 3-byte characters: 13 per word, never split.
    CHECK(enc.substr(10, 52) == portcullis::core::base64_encode(s.substr(0, 39)));
}

TEST_CASE("display names: atoms, quoted strings, encoded words")
{
    CHECK(encode_display_name("Portcullis") == "Portcullis");
    CHECK(encode_display_name("Ann Smith") == "Ann Smith");
    CHECK(encode_display_name("Smith, Ann") == "\"Smith, Ann\"");
    CHECK(encode_display_name("a \"b\" c") == "\"a \\\"b\\\" c\"");
    CHECK(encode_display_name("Zo\xc3\xab") == "=?UTF-8?B?Wm/Dqw==?=");
    CHECK(encode_display_name("") == "");
}

TEST_CASE("RFC 5322 date")
{
    CHECK(format_rfc5322_date(std::chrono::system_clock::time_point{}) == "Thu, 01 Jan 1970 00:00:00 +0000");
    CHECK(format_rfc5322_date(std::chrono::system_clock::time_point{std::chrono::seconds{1795270000}}) ==
          "Sat, 21 Nov 2026 14:06:40 +0000");
}

TEST_CASE("dot-stuffing doubles leading dots and terminates the data")
{
    CHECK(dot_stuff("a\r\n.b\r\n..c\r\n") == "a\r\n..b\r\n...c\r\n.\r\n");
    CHECK(dot_stuff(".\r\n") == "..\r\n.\r\n");
    CHECK(dot_stuff("no newline") == "no newline\r\n.\r\n");
    CHECK(dot_stuff("bare\n.lf\n") == "bare\r\n..lf\r\n.\r\n");
    CHECK(dot_stuff("") == ".\r\n");
    CHECK(dot_stuff("x. y\r\n") == "x. y\r\n.\r\n");
}

TEST_CASE("html escaping")
{
    CHECK(html_escape("<b>\"Tom\" & 'Jerry'</b>") == "&lt;b&gt;&quot;Tom&quot; &amp; &#39;Jerry&#39;&lt;/b&gt;");
    CHECK(html_escape("plain") == "plain");
}
