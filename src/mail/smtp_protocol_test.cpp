#include "mail/smtp_protocol.hpp"
#include "core/error.hpp"
#include "core/text.hpp"
#include "mail/encoding.hpp"

#include <doctest/doctest.h>

using namespace portcullis;
using namespace portcullis::mail::smtp;
using kind = action::kind;

namespace {

reply one(int code, std::string text = "ok")
{
    return reply{code, {std::move(text)}};
}

reply ehlo_reply(std::vector<std::string> ext)
{
    reply r{250, {"mx.example.com greets you"}};
    for (auto& e : ext) r.lines.push_back(std::move(e));
    return r;
}

// Drives a dialogue through the greeting and EHLO; returns the action after EHLO.
action greet(dialogue& d, std::vector<std::string> ext)
{
    CHECK(d.start().what == kind::read_reply);
    action a = d.on_reply(one(220, "mx ESMTP"));
    CHECK(a.what == kind::write_line);
    CHECK(a.line == "EHLO client.test\r\n");
    return d.on_reply(ehlo_reply(std::move(ext)));
}

dialogue_options opts(tls_mode tls = tls_mode::none, std::string user = {}, std::string pass = {})
{
    return dialogue_options{"client.test", tls, std::move(user), std::move(pass), false};
}

envelope env(std::size_t size = 100)
{
    return envelope{"from@example.com", {"to@example.com"}, size};
}

bool is(const boost::system::error_code& ec, core::errc e)
{
    return ec == core::make_error_code(e);
}

}  // namespace

TEST_CASE("reply reader: single and multi-line replies, split across reads")
{
    reply_reader rr;
    reply r;
    CHECK(rr.next(r) == reply_reader::status::need_more);
    rr.feed("250-mx.example.com\r\n250-SIZE 1000\r");
    CHECK(rr.next(r) == reply_reader::status::need_more);
    rr.feed("\n250 AUTH PLAIN LOGIN\r\n220 next");
    REQUIRE(rr.next(r) == reply_reader::status::ready);
    CHECK(r.code == 250);
    REQUIRE(r.lines.size() == 3);
    CHECK(r.lines[1] == "SIZE 1000");
    CHECK(r.lines[2] == "AUTH PLAIN LOGIN");
    CHECK(rr.buffered() == 8);
    CHECK(rr.next(r) == reply_reader::status::need_more);
    rr.feed("\r\n");
    REQUIRE(rr.next(r) == reply_reader::status::ready);
    CHECK(r.code == 220);
    CHECK(r.text() == "220 next");
    CHECK(rr.buffered() == 0);
}

TEST_CASE("reply reader: bare code, LF-only lines and text()")
{
    reply_reader rr;
    reply r;
    rr.feed("250\n");
    REQUIRE(rr.next(r) == reply_reader::status::ready);
    CHECK(r.code == 250);
    rr.feed("550-5.1.1 no such user\n550 5.1.1 try again\n");
    REQUIRE(rr.next(r) == reply_reader::status::ready);
    CHECK(r.cls() == 5);
    CHECK(r.text() == "550 5.1.1 no such user | 5.1.1 try again");
}

TEST_CASE("reply reader: malformed input")
{
    for (std::string bad :
         {"25\r\n", "abc hello\r\n", "250x\r\n", "199 too low\r\n", "600 too high\r\n", "250-a\r\n251 b\r\n"}) {
        reply_reader rr;
        reply r;
        rr.feed(bad);
        CHECK(rr.next(r) == reply_reader::status::malformed);
    }
    reply_reader rr;
    reply r;
    rr.feed(std::string(reply_reader::max_line + 10, 'x'));
    CHECK(rr.next(r) == reply_reader::status::malformed);
}

TEST_CASE("dialogue: plain session, one message, accepted")
{
    dialogue d(opts());
    action a = greet(d, {"SIZE 1000000", "8BITMIME"});
    CHECK(a.what == kind::ready);
    CHECK(d.ext().size);
    CHECK(d.ext().size_limit == 1000000);
    a = d.begin_message(env(1234));
    CHECK(a.line == "MAIL FROM:<from@example.com> SIZE=1234\r\n");
    a = d.on_reply(one(250));
    CHECK(a.line == "RCPT TO:<to@example.com>\r\n");
    a = d.on_reply(one(250));
    CHECK(a.line == "DATA\r\n");
    a = d.on_reply(one(354, "go ahead"));
    CHECK(a.what == kind::write_body);
    CHECK(d.delivery_uncertain());
    a = d.on_reply(one(250, "queued"));
    CHECK(a.what == kind::ready);
    CHECK(d.current() == dialogue::state::ready);
    CHECK_FALSE(d.delivery_uncertain());

    // The second message on the same session starts with RSET.
    a = d.begin_message(env());
    CHECK(a.line == "RSET\r\n");
    a = d.on_reply(one(250));
    CHECK(a.line.starts_with("MAIL FROM:<from@example.com>"));

    a = d.quit();
    CHECK(a.line == "QUIT\r\n");
    CHECK(d.on_reply(one(221)).what == kind::closed);
}

TEST_CASE("dialogue: several recipients")
{
    dialogue d(opts());
    greet(d, {});
    action a = d.begin_message(envelope{"f@x.org", {"a@x.org", "b@x.org"}, 10});
    CHECK(a.line == "MAIL FROM:<f@x.org>\r\n");  // no SIZE parameter without the extension
    CHECK(d.on_reply(one(250)).line == "RCPT TO:<a@x.org>\r\n");
    CHECK(d.on_reply(one(250)).line == "RCPT TO:<b@x.org>\r\n");
    CHECK(d.on_reply(one(251, "will forward")).line == "DATA\r\n");
}

TEST_CASE("dialogue: EHLO refused falls back to HELO for a plain session")
{
    dialogue d(opts());
    d.start();
    d.on_reply(one(220));
    action a = d.on_reply(one(502, "command not implemented"));
    CHECK(a.line == "HELO client.test\r\n");
    CHECK(d.on_reply(one(250)).what == kind::ready);
    CHECK_FALSE(d.ext().esmtp);
}

TEST_CASE("dialogue: no HELO fallback when STARTTLS or AUTH is needed")
{
    dialogue d(opts(tls_mode::starttls));
    d.start();
    d.on_reply(one(220));
    action a = d.on_reply(one(502));
    REQUIRE(a.what == kind::failed);
    CHECK(is(a.error.ec, core::errc::smtp_rejected));
    CHECK_FALSE(a.error.connection_usable);
}

TEST_CASE("dialogue: STARTTLS, then EHLO again, then AUTH PLAIN")
{
    dialogue d(opts(tls_mode::starttls, "user", "s3cret"));
    // Before TLS the server does not offer AUTH; it does afterwards.
    action a = greet(d, {"STARTTLS"});
    CHECK(a.line == "STARTTLS\r\n");
    a = d.on_reply(one(220, "ready to start TLS"));
    CHECK(a.what == kind::start_tls);
    a = d.on_tls_established();
    CHECK(a.line == "EHLO client.test\r\n");
    CHECK(d.tls_active());
    a = d.on_reply(ehlo_reply({"AUTH LOGIN PLAIN"}));
    CHECK(a.line == "AUTH PLAIN " + portcullis::core::base64_encode(std::string("\0user\0s3cret", 12)) + "\r\n");
    CHECK(a.sensitive);
    CHECK(d.on_reply(one(235, "2.7.0 Authentication successful")).what == kind::ready);
}

TEST_CASE("dialogue: STARTTLS required but not offered is a transient failure, never plain text")
{
    dialogue d(opts(tls_mode::starttls, "user", "pw"));
    action a = greet(d, {"AUTH PLAIN"});
    REQUIRE(a.what == kind::failed);
    CHECK(is(a.error.ec, core::errc::smtp_unavailable));
    CHECK(a.error.detail.find("STARTTLS") != std::string::npos);
    CHECK_FALSE(a.error.connection_usable);
}

TEST_CASE("dialogue: STARTTLS refused with 454 is transient")
{
    dialogue d(opts(tls_mode::starttls));
    greet(d, {"STARTTLS"});
    action a = d.on_reply(one(454, "TLS not available"));
    REQUIRE(a.what == kind::failed);
    CHECK(is(a.error.ec, core::errc::smtp_unavailable));
    CHECK(a.error.server_reply == "454 TLS not available");
}

TEST_CASE("dialogue: AUTH LOGIN when only LOGIN is offered")
{
    dialogue d(opts(tls_mode::implicit, "user", "pw"));
    action a = greet(d, {"AUTH=LOGIN"});
    CHECK(a.line == "AUTH LOGIN\r\n");
    CHECK_FALSE(a.sensitive);
    a = d.on_reply(one(334, "VXNlcm5hbWU6"));
    CHECK(a.line == portcullis::core::base64_encode("user") + "\r\n");
    CHECK(a.sensitive);
    a = d.on_reply(one(334, "UGFzc3dvcmQ6"));
    CHECK(a.line == portcullis::core::base64_encode("pw") + "\r\n");
    CHECK(a.sensitive);
    CHECK(d.on_reply(one(235)).what == kind::ready);
}

TEST_CASE("dialogue: AUTH PLAIN without initial-response support")
{
    dialogue d(opts(tls_mode::implicit, "u", "p"));
    greet(d, {"AUTH PLAIN"});
    action a = d.on_reply(one(334, ""));
    CHECK(a.line == portcullis::core::base64_encode(std::string("\0u\0p", 4)) + "\r\n");
    CHECK(d.on_reply(one(235)).what == kind::ready);
}

TEST_CASE("dialogue: wrong password is permanent, with the server's reply")
{
    dialogue d(opts(tls_mode::implicit, "u", "wrong"));
    greet(d, {"AUTH PLAIN LOGIN"});
    action a = d.on_reply(one(535, "5.7.8 Authentication credentials invalid"));
    REQUIRE(a.what == kind::failed);
    CHECK(is(a.error.ec, core::errc::smtp_rejected));
    CHECK(a.error.server_reply == "535 5.7.8 Authentication credentials invalid");
    CHECK(a.error.detail == "authentication failed");
}

TEST_CASE("dialogue: credentials but no usable AUTH mechanism")
{
    dialogue d(opts(tls_mode::implicit, "u", "p"));
    action a = greet(d, {"AUTH CRAM-MD5"});
    REQUIRE(a.what == kind::failed);
    CHECK(is(a.error.ec, core::errc::smtp_rejected));
}

TEST_CASE("dialogue: credentials are never sent without TLS unless plaintext AUTH is allowed")
{
    dialogue d(opts(tls_mode::none, "u", "p"));
    action a = greet(d, {"AUTH PLAIN LOGIN"});
    REQUIRE(a.what == kind::failed);
    CHECK(is(a.error.ec, core::errc::smtp_rejected));
    CHECK(a.error.detail.find("without TLS") != std::string::npos);
    CHECK(a.line.empty());

    auto allowed = opts(tls_mode::none, "u", "p");
    allowed.allow_plaintext_auth = true;
    dialogue plain(allowed);
    a = greet(plain, {"AUTH PLAIN"});
    CHECK(a.line == "AUTH PLAIN " + portcullis::core::base64_encode(std::string("\0u\0p", 4)) + "\r\n");
}

TEST_CASE("dialogue: 4xx is transient, 5xx permanent; the session stays usable after a refused message")
{
    dialogue d(opts());
    greet(d, {});
    d.begin_message(env());
    d.on_reply(one(250));
    action a = d.on_reply(one(550, "5.1.1 no such user"));
    REQUIRE(a.what == kind::failed);
    CHECK(is(a.error.ec, core::errc::smtp_rejected));
    CHECK(a.error.detail == "RCPT TO refused");
    CHECK(a.error.server_reply == "550 5.1.1 no such user");
    CHECK(a.error.connection_usable);
    CHECK(d.current() == dialogue::state::ready);

    a = d.begin_message(env());
    CHECK(a.line == "RSET\r\n");
    d.on_reply(one(250));
    d.on_reply(one(250));
    d.on_reply(one(250));
    d.on_reply(one(354));
    a = d.on_reply(one(451, "4.3.0 try later"));
    REQUIRE(a.what == kind::failed);
    CHECK(is(a.error.ec, core::errc::smtp_unavailable));
    CHECK(a.error.connection_usable);
}

TEST_CASE("dialogue: 421 closes the session")
{
    dialogue d(opts());
    greet(d, {});
    d.begin_message(env());
    action a = d.on_reply(one(421, "4.4.2 closing"));
    REQUIRE(a.what == kind::failed);
    CHECK(is(a.error.ec, core::errc::smtp_unavailable));
    CHECK_FALSE(a.error.connection_usable);
    CHECK(d.current() == dialogue::state::failed);
}

TEST_CASE("dialogue: greeting refused and unexpected replies")
{
    dialogue d(opts());
    d.start();
    action a = d.on_reply(one(554, "no service"));
    REQUIRE(a.what == kind::failed);
    CHECK(is(a.error.ec, core::errc::smtp_rejected));

    dialogue e(opts());
    greet(e, {});
    e.begin_message(env());
    a = e.on_reply(one(354));  // 354 to MAIL FROM makes no sense
    REQUIRE(a.what == kind::failed);
    CHECK(is(a.error.ec, core::errc::smtp_unavailable));
    CHECK_FALSE(a.error.connection_usable);
}

TEST_CASE("dialogue: SIZE limit refuses an oversized message before sending it")
{
    dialogue d(opts());
    greet(d, {"SIZE 100"});
    action a = d.begin_message(env(101));
    REQUIRE(a.what == kind::failed);
    CHECK(is(a.error.ec, core::errc::smtp_rejected));
    CHECK(a.error.connection_usable);
    CHECK(d.begin_message(env(100)).line == "MAIL FROM:<from@example.com> SIZE=100\r\n");
}

TEST_CASE("dialogue: RSET failure makes the session unusable")
{
    dialogue d(opts());
    greet(d, {});
    d.begin_message(env());
    d.on_reply(one(250));
    d.on_reply(one(250));
    d.on_reply(one(354));
    d.on_reply(one(250));
    d.begin_message(env());
    action a = d.on_reply(one(421, "timeout"));
    REQUIRE(a.what == kind::failed);
    CHECK_FALSE(a.error.connection_usable);
}
