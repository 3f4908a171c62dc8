#include "mail/message.hpp"
#include "mail/encoding.hpp"

#include <doctest/doctest.h>

#include <regex>

using namespace portcullis::mail;

TEST_CASE("address validation refuses anything that could break a command or header")
{
    CHECK(valid_address("ann@example.com"));
    CHECK(valid_address("a.b+c@sub.example.org"));
    CHECK_FALSE(valid_address("ann"));
    CHECK_FALSE(valid_address("@example.com"));
    CHECK_FALSE(valid_address("ann@"));
    CHECK_FALSE(valid_address("ann@example.com>\r\nRCPT TO:<x@y"));
    CHECK_FALSE(valid_address("a nn@example.com"));
    CHECK_FALSE(valid_address("ann<@example.com"));
    CHECK_FALSE(valid_address("zo\xc3\xab@example.com"));
}

TEST_CASE("parse_mailbox reads DEFAULT_FROM_EMAIL forms")
{
    auto a = parse_mailbox("noreply@example.com");
    REQUIRE(a);
    CHECK(a->name.empty());
    CHECK(a->address == "noreply@example.com");
    auto b = parse_mailbox("Portcullis <noreply@example.com>");
    REQUIRE(b);
    CHECK(b->name == "Portcullis");
    CHECK(b->address == "noreply@example.com");
    auto c = parse_mailbox("\"Smith, \\\"Ann\\\"\" <ann@example.com>");
    REQUIRE(c);
    CHECK(c->name == "Smith, \"Ann\"");
    CHECK_FALSE(parse_mailbox("Bad <not an address>"));
    CHECK_FALSE(parse_mailbox("Bad <x@y"));
}

TEST_CASE("MIME: headers, multipart/alternative, quoted-printable parts")
{
    message m;
    m.from = {"Portcullis", "noreply@example.com"};
    m.to = {{"Zo\xc3\xab Smith", "zoe@example.com"}};
    m.subject = "V\xc3\xa9rification";
    m.text = "Your code:\n\n    123456\n\nBye = ok\n";
    m.html = "<p>Your code: <b>123456</b></p>";
    auto mime = build_mime(m, std::chrono::system_clock::time_point{}, "<id@example.com>");

    CHECK(mime.starts_with("Date: Thu, 01 Jan 1970 00:00:00 +0000\r\n"));
    CHECK(mime.find("\r\nFrom: Portcullis <noreply@example.com>\r\n") != std::string::npos);
    CHECK(mime.find("\r\nTo: =?UTF-8?B?Wm/DqyBTbWl0aA==?= <zoe@example.com>\r\n") != std::string::npos);
    CHECK(mime.find("\r\nSubject: =?UTF-8?B?VsOpcmlmaWNhdGlvbg==?=\r\n") != std::string::npos);
    CHECK(mime.find("\r\nMessage-ID: <id@example.com>\r\n") != std::string::npos);
    CHECK(mime.find("\r\nMIME-Version: 1.0\r\n") != std::string::npos);
    CHECK(mime.find("Content-Type: multipart/alternative; boundary=\"=_portcullis_") != std::string::npos);
    CHECK(mime.find("Content-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: quoted-printable") !=
          std::string::npos);
    CHECK(mime.find("Content-Type: text/html; charset=UTF-8\r\nContent-Transfer-Encoding: quoted-printable") !=
          std::string::npos);
    CHECK(mime.find("Bye =3D ok") != std::string::npos);
    // Only CRLF line ends, none longer than 78 characters, nothing outside ASCII.
    for (std::size_t i = 0; i < mime.size(); ++i) {
        if (mime[i] == '\n') CHECK(i > 0);
        if (mime[i] == '\n') CHECK(mime[i - 1] == '\r');
        CHECK(static_cast<unsigned char>(mime[i]) < 0x80);
    }

    // The text part, decoded, carries the code as a standalone 6-digit number.
    auto text_start = mime.find("text/plain");
    auto html_start = mime.find("text/html");
    REQUIRE(text_start < html_start);
    std::string text_part = quoted_printable_decode(mime.substr(text_start, html_start - text_start));
    std::smatch match;
    REQUIRE(std::regex_search(text_part, match, std::regex(R"(\b\d{6}\b)")));
    CHECK(match.str() == "123456");

    // The boundary occurs exactly three times as a delimiter.
    auto bpos = mime.find("boundary=\"") + 10;
    std::string boundary = mime.substr(bpos, mime.find('"', bpos) - bpos);
    std::size_t count = 0;
    for (auto p = mime.find("--" + boundary); p != std::string::npos; p = mime.find("--" + boundary, p + 1)) ++count;
    CHECK(count == 3);
    CHECK(mime.find("--" + boundary + "--\r\n") != std::string::npos);
}

TEST_CASE("MIME: a text-only message is a single part")
{
    message m;
    m.from = {"", "a@example.com"};
    m.to = {{"", "b@example.com"}};
    m.subject = "Hi";
    m.text = "hello";
    auto mime = build_mime(m, std::chrono::system_clock::time_point{}, "<x@example.com>");
    CHECK(mime.find("multipart") == std::string::npos);
    CHECK(mime.find("\r\nTo: b@example.com\r\n") != std::string::npos);
    CHECK(mime.ends_with("\r\n\r\nhello\r\n"));
}

TEST_CASE("Message-ID uses the sender's domain and is unique")
{
    mailbox from{"", "noreply@example.com"};
    auto a = make_message_id(from);
    CHECK(a.starts_with("<"));
    CHECK(a.ends_with("@example.com>"));
    CHECK(a.size() == 1 + 32 + 13);
    CHECK(make_message_id(from) != a);
}
