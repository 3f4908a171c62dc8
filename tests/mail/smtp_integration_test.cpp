// Why one file of this size: every case needs the same CA, certificates and sink modes,
// made once here.
// The SMTP backend against a real SMTP server (tests/smtp_sink.py on aiosmtpd): plain,
// STARTTLS and implicit TLS with a CA and certificates made here, AUTH, 4xx/5xx handling,
// timeouts, connection reuse and reconnection.

#include "core/error.hpp"
#include "mail/encoding.hpp"
#include "mail/mailer.hpp"
#include "mail/smtp_backend.hpp"
#include "smtp_sink.hpp"
#include "test_env.hpp"
#include "wait.hpp"

#include <doctest/doctest.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <regex>
#include <set>
#include <stdexcept>
#include <thread>

using namespace portcullis;
using namespace portcullis::mail;
namespace fs = std::filesystem;
namespace asio = boost::asio;
using std::chrono::milliseconds;
using std::chrono::seconds;

namespace {

std::string source_root()
{
    return test::env_or("PORTCULLIS_SOURCE_ROOT", fs::current_path().string());
}

std::string slurp(const fs::path& p)
{
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

void run_or_throw(const std::string& cmd)
{
    if (std::system(cmd.c_str()) != 0) throw std::runtime_error("command failed: " + cmd);
}

// A test CA and server certificates signed by it, made once per test run with the openssl CLI.
struct test_pki {
    fs::path dir;
    fs::path ca() const { return dir / "ca.pem"; }
    fs::path cert(const std::string& name) const { return dir / (name + ".pem"); }
    fs::path key(const std::string& name) const { return dir / (name + ".key"); }

    test_pki() : dir(test::make_temp_dir("mail-pki"))
    {
        const std::string d = dir.string();
        const std::string ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
        run_or_throw("cd " + d + " && openssl req -x509 " + ec +
                     " -keyout ca.key -out ca.pem -days 2 -subj '/CN=Portcullis Test CA'"
                     " -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign"
                     " 2>/dev/null");
        issue("good", "localhost", "DNS:localhost,IP:127.0.0.1");
        issue("wrong", "wrong.example", "DNS:wrong.example");
    }

    void issue(const std::string& name, const std::string& cn, const std::string& san)
    {
        const std::string d = dir.string();
        std::ofstream(dir / (name + ".ext"))
            << "subjectAltName=" << san << "\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n";
        run_or_throw("cd " + d + " && openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout " +
                     name + ".key -out " + name + ".csr -subj '/CN=" + cn + "' 2>/dev/null && openssl x509 -req -in " +
                     name + ".csr -CA ca.pem -CAkey ca.key -CAcreateserial -out " + name + ".pem -days 2 -extfile " +
                     name + ".ext 2>/dev/null");
    }
};

const test_pki& pki()
{
    static const test_pki instance;
    return instance;
}

// The common sink (tests/common/smtp_sink.hpp) started at once with `extra` options; a
// `port` and `mail_dir` of an earlier sink make it take over from that one.
class sink {
public:
    explicit sink(std::vector<std::string> extra, int port = 0, std::string mail_dir = {})
        : s_(std::move(mail_dir), port)
    {
        s_.start(std::move(extra));
    }

    void stop() { s_.stop(); }
    int port() const { return s_.port(); }
    const std::string& mail_dir() const { return s_.mail_dir(); }

    std::vector<fs::path> files() const
    {
        auto names = s_.message_files();
        return {names.begin(), names.end()};
    }

    // The stored messages once there are at least `n`, polling until a deadline.
    std::vector<fs::path> wait_files(std::size_t n, milliseconds limit = milliseconds(10'000)) const
    {
        test::wait_until([&] { return s_.message_count() >= n; }, limit, milliseconds(20));
        return files();
    }

private:
    test::smtp_sink s_;
};

settings base_settings(const sink& s)
{
    settings st;
    st.backend = backend_kind::smtp;
    st.host = "127.0.0.1";
    st.port = static_cast<std::uint16_t>(s.port());
    st.from = "Portcullis <noreply@example.com>";
    st.templates_dir = fs::path(source_root()) / "templates";
    st.helo_name = "client.test";
    st.timeout = milliseconds(5000);
    return st;
}

template <class T>
T run(asio::io_context& io, asio::awaitable<T> a)
{
    auto f = asio::co_spawn(io, std::move(a), asio::use_future);
    io.restart();
    io.run();
    return f.get();
}

core::deadline in(seconds s)
{
    return core::steady_clock::now() + s;
}

// A mailer on its own smtp_backend, so tests can also ask the backend how many connections it opened.
struct client {
    explicit client(const settings& s) : backend(new smtp_backend(io.get_executor(), s))
    {
        validate(s);
        m = std::make_unique<mailer>(s, std::make_shared<template_store>(s.templates_dir),
                                     std::unique_ptr<mail_backend>(backend));
    }

    send_result send_code(const std::string& to, const std::string& code,
                          template_kind kind = template_kind::verify_email, template_values extra = {})
    {
        extra["code"] = code;
        extra.try_emplace("username", "ann");
        extra.try_emplace("minutes_valid", "10");
        return run(io, m->async_send_template(kind, to, extra, in(seconds(20))));
    }

    ~client() { run(io, m->async_close(in(seconds(5)))); }

    asio::io_context io;
    smtp_backend* backend;
    std::unique_ptr<mailer> m;
};

std::string header(const std::string& mime, const std::string& name)
{
    std::smatch m;
    if (!std::regex_search(mime, m, std::regex("(^|\r\n)" + name + ": ([^\r\n]*)"))) return {};
    return m[2];
}

// The decoded body of the part with this content type.
std::string part(const std::string& mime, const std::string& type)
{
    auto start = mime.find("Content-Type: " + type);
    if (start == std::string::npos) return {};
    auto body = mime.find("\r\n\r\n", start);
    auto end = mime.find("\r\n--=_portcullis_", body);
    return quoted_printable_decode(mime.substr(body + 4, end - body - 4));
}

std::string six_digits(const std::string& text)
{
    std::smatch m;
    if (!std::regex_search(text, m, std::regex(R"(\b\d{6}\b)"))) return {};
    return m.str();
}

bool is(const send_result& r, core::errc e)
{
    return r.ec == core::make_error_code(e);
}

}  // namespace

TEST_CASE("plain SMTP: the stored message has the headers, both parts and the code")
{
    sink s({});
    client c(base_settings(s));
    auto r = c.send_code("zoe@example.com", "418302", template_kind::verify_email, {{"full_name", "Zo\xc3\xab <Z>"}});
    INFO(r.describe());
    REQUIRE(r.ok());
    auto files = s.wait_files(1);
    REQUIRE(files.size() == 1);
    auto mime = slurp(files[0]);
    CHECK(header(mime, "X-Sink-Envelope-From") == "noreply@example.com");
    CHECK(header(mime, "X-Sink-Envelope-To") == "zoe@example.com");
    CHECK(header(mime, "From") == "Portcullis <noreply@example.com>");
    CHECK(header(mime, "To") == "=?UTF-8?B?Wm/DqyA8Wj4=?= <zoe@example.com>");
    CHECK(header(mime, "Subject") == "Portcullis: your verification code");
    CHECK(header(mime, "Message-ID") == r.detail);
    CHECK(header(mime, "MIME-Version") == "1.0");
    CHECK(std::regex_search(header(mime, "Date"), std::regex(R"(^\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d \+0000$)")));
    auto text = part(mime, "text/plain; charset=UTF-8");
    auto html = part(mime, "text/html; charset=UTF-8");
    CHECK(six_digits(text) == "418302");
    CHECK(text.find("Hello Zo\xc3\xab <Z>,") != std::string::npos);
    CHECK(html.find("418302") != std::string::npos);
    CHECK(html.find("Hello Zo\xc3\xab &lt;Z&gt;,") != std::string::npos);
}

TEST_CASE("consecutive messages reuse one connection; a stale connection is replaced")
{
    sink s({});
    client c(base_settings(s));
    REQUIRE(c.send_code("a@example.com", "111111").ok());
    REQUIRE(c.send_code("b@example.com", "222222", template_kind::password_reset).ok());
    auto files = s.wait_files(2);
    REQUIRE(files.size() == 2);
    CHECK(header(slurp(files[0]), "X-Sink-Session") == "1");
    CHECK(header(slurp(files[1]), "X-Sink-Session") == "1");
    CHECK(c.backend->connections_opened() == 1);
    CHECK(six_digits(part(slurp(files[1]), "text/plain; charset=UTF-8")) == "222222");

    // The server goes away and comes back on the same port: the kept connection is dead,
    // the next message goes through on a new one.
    const int port = s.port();
    const std::string dir = s.mail_dir();
    s.stop();
    sink again({}, port, dir);
    auto r = c.send_code("c@example.com", "333333");
    INFO(r.describe());
    CHECK(r.ok());
    CHECK(c.backend->connections_opened() == 2);
    CHECK(again.wait_files(3).size() == 3);
}

TEST_CASE("451 is transient and keeps the connection; the retry is delivered")
{
    sink s({"--fail-first", "1", "--fail-code", "451"});
    client c(base_settings(s));
    auto r = c.send_code("a@example.com", "123123");
    CHECK(r.transient());
    CHECK(is(r, core::errc::smtp_unavailable));
    CHECK(r.server_reply.starts_with("451 4.3.0"));
    CHECK(s.files().empty());
    auto r2 = c.send_code("a@example.com", "123123");
    INFO(r2.describe());
    CHECK(r2.ok());
    CHECK(c.backend->connections_opened() == 1);
    CHECK(s.wait_files(1).size() == 1);
}

TEST_CASE("451 at MAIL FROM is transient too")
{
    sink s({"--fail-first", "1", "--fail-code", "452", "--fail-stage", "mail"});
    client c(base_settings(s));
    auto r = c.send_code("a@example.com", "123123");
    CHECK(r.transient());
    CHECK(r.detail == "MAIL FROM refused");
    CHECK(c.send_code("a@example.com", "123123").ok());
}

TEST_CASE("550 is permanent, with the server's reply for the dead-letter record")
{
    sink s({"--reject-code", "550", "--fail-stage", "rcpt"});
    client c(base_settings(s));
    auto r = c.send_code("nobody@example.com", "123123");
    CHECK(r.permanent());
    CHECK(is(r, core::errc::smtp_rejected));
    CHECK(r.server_reply == "550 5.7.1 Rejected by the test sink");
    CHECK(r.detail == "RCPT TO refused");
    CHECK(r.describe() == "smtp_rejected: RCPT TO refused: 550 5.7.1 Rejected by the test sink");
    CHECK(s.files().empty());
}

TEST_CASE("AUTH required and checked: PLAIN, LOGIN, wrong password")
{
    sink s({"--auth", "mailer:s3cret pass"});
    {
        auto st = base_settings(s);
        st.username = "mailer";
        st.password = "s3cret pass";
        st.allow_plaintext_auth = true;
        client c(st);
        auto r = c.send_code("a@example.com", "100001");
        INFO(r.describe());
        CHECK(r.ok());
    }
    {
        auto st = base_settings(s);
        st.username = "mailer";
        st.password = "wrong";
        st.allow_plaintext_auth = true;
        client c(st);
        auto r = c.send_code("a@example.com", "100002");
        CHECK(r.permanent());
        CHECK(r.detail == "authentication failed");
        CHECK(r.server_reply.starts_with("535"));
    }
    {
        // Without credentials the server refuses MAIL: permanent.
        client c(base_settings(s));
        auto r = c.send_code("a@example.com", "100003");
        CHECK(r.permanent());
        CHECK(r.server_reply.starts_with("530"));
    }
    CHECK(s.wait_files(1).size() == 1);

    sink login_only({"--auth", "u:p", "--auth-exclude", "PLAIN"});
    auto st = base_settings(login_only);
    st.username = "u";
    st.password = "p";
    st.allow_plaintext_auth = true;
    client c(st);
    auto r = c.send_code("a@example.com", "100004");
    INFO(r.describe());
    CHECK(r.ok());
    CHECK(login_only.wait_files(1).size() == 1);
}

TEST_CASE("AUTH without TLS is refused unless plaintext AUTH is allowed: nothing is sent")
{
    sink s({"--auth", "mailer:s3cret pass"});
    auto st = base_settings(s);
    st.username = "mailer";
    st.password = "s3cret pass";
    client c(st);
    auto r = c.send_code("a@example.com", "100005");
    CHECK_FALSE(r.ok());
    CHECK(r.permanent());
    CHECK(r.detail.find("without TLS") != std::string::npos);
    CHECK(s.files().empty());
}

TEST_CASE("STARTTLS with a private CA, AUTH offered only after TLS")
{
    sink s({"--starttls", "--require-tls", "--cert", pki().cert("good").string(), "--key", pki().key("good").string(),
            "--auth", "u:p"});
    auto st = base_settings(s);
    st.host = "localhost";
    st.use_tls = true;
    st.ca_file = pki().ca();
    st.username = "u";
    st.password = "p";
    client c(st);
    auto r = c.send_code("a@example.com", "271828");
    INFO(r.describe());
    REQUIRE(r.ok());
    REQUIRE(c.send_code("b@example.com", "271829").ok());
    CHECK(c.backend->connections_opened() == 1);
    auto files = s.wait_files(2);
    REQUIRE(files.size() == 2);
    CHECK(six_digits(part(slurp(files[0]), "text/plain; charset=UTF-8")) == "271828");
}

TEST_CASE("STARTTLS: a certificate for another host name, or from an unknown CA, is refused")
{
    sink wrong(
        {"--starttls", "--require-tls", "--cert", pki().cert("wrong").string(), "--key", pki().key("wrong").string()});
    auto st = base_settings(wrong);
    st.host = "localhost";
    st.use_tls = true;
    st.ca_file = pki().ca();
    {
        client c(st);
        auto r = c.send_code("a@example.com", "123456");
        CHECK(r.transient());
        CHECK(r.detail.find("TLS certificate verification failed for localhost") != std::string::npos);
        CHECK(r.detail.find("mismatch") != std::string::npos);
    }
    sink good({"--starttls", "--cert", pki().cert("good").string(), "--key", pki().key("good").string()});
    auto st2 = base_settings(good);
    st2.host = "localhost";
    st2.use_tls = true;  // system CA store: does not know the test CA
    {
        client c(st2);
        auto r = c.send_code("a@example.com", "123456");
        CHECK(r.transient());
        CHECK(r.detail.find("TLS certificate verification failed") != std::string::npos);
    }
    CHECK(wrong.files().empty());
    CHECK(good.files().empty());
}

TEST_CASE("STARTTLS required but not offered: no mail goes out in clear text")
{
    sink s({});
    auto st = base_settings(s);
    st.use_tls = true;
    client c(st);
    auto r = c.send_code("a@example.com", "123456");
    CHECK(r.transient());
    CHECK(r.detail.find("does not offer") != std::string::npos);
    CHECK(s.files().empty());
}

TEST_CASE("implicit TLS, verified against the IP address in the certificate")
{
    sink s({"--tls", "--cert", pki().cert("good").string(), "--key", pki().key("good").string(), "--auth", "u:p"});
    auto st = base_settings(s);
    st.use_ssl = true;
    st.ca_file = pki().ca();
    st.username = "u";
    st.password = "p";
    client c(st);
    auto r = c.send_code("a@example.com", "654321", template_kind::password_reset);
    INFO(r.describe());
    REQUIRE(r.ok());
    auto files = s.wait_files(1);
    REQUIRE(files.size() == 1);
    CHECK(six_digits(part(slurp(files[0]), "text/plain; charset=UTF-8")) == "654321");

    sink wrong({"--tls", "--cert", pki().cert("wrong").string(), "--key", pki().key("wrong").string()});
    auto st2 = base_settings(wrong);
    st2.use_ssl = true;
    st2.ca_file = pki().ca();
    client c2(st2);
    auto r2 = c2.send_code("a@example.com", "654321");
    CHECK(r2.transient());
    CHECK(r2.detail.find("TLS certificate verification failed for 127.0.0.1") != std::string::npos);
}

TEST_CASE("no server, or a server that never answers: transient, within the timeout")
{
    {
        const test::refused_port nothing;  // held for the block: no server can appear on it
        settings st;
        st.host = "127.0.0.1";
        st.port = static_cast<std::uint16_t>(nothing.port());
        st.templates_dir = fs::path(source_root()) / "templates";
        client c(st);
        auto r = c.send_code("a@example.com", "123456");
        CHECK(r.transient());
        CHECK(r.detail.find("cannot connect") != std::string::npos);
    }
    // A socket that listens but never speaks: the kernel completes the TCP handshake.
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(fd, 8) == 0);
    socklen_t len = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    settings st;
    st.host = "127.0.0.1";
    st.port = ntohs(addr.sin_port);
    st.timeout = milliseconds(400);
    st.templates_dir = fs::path(source_root()) / "templates";
    for (bool tls : {false, true}) {
        st.use_ssl = tls;  // with TLS the handshake is what times out
        client c(st);
        auto t0 = std::chrono::steady_clock::now();
        auto r = c.send_code("a@example.com", "123456");
        auto took = std::chrono::steady_clock::now() - t0;
        CHECK(r.transient());
        CHECK(r.detail.find("timed out") != std::string::npos);
        CHECK(r.detail.find(tls ? "TLS handshake" : "greeting") != std::string::npos);
        MESSAGE(std::string(tls ? "TLS handshake" : "greeting")
                << " timeout of 400 ms reported after " << std::chrono::duration_cast<milliseconds>(took).count()
                << " ms");
        // Without the timeout the call would never return (the peer never speaks): a bound
        // of 25 times the timeout is about that, not about speed.
        CHECK(took < seconds(10));
    }
    ::close(fd);
}

TEST_CASE("concurrent sends share at most max_connections connections")
{
    sink s({});
    auto st = base_settings(s);
    st.max_connections = 2;
    client c(st);
    std::vector<std::future<send_result>> results;
    for (int i = 0; i < 6; ++i) {
        template_values v{{"code", "50000" + std::to_string(i)}, {"username", "u"}};
        results.push_back(
            asio::co_spawn(c.io,
                           c.m->async_send_template(template_kind::verify_email,
                                                    "u" + std::to_string(i) + "@example.com", v, in(seconds(20))),
                           asio::use_future));
    }
    c.io.restart();
    c.io.run();
    for (auto& f : results) {
        auto r = f.get();
        INFO(r.describe());
        CHECK(r.ok());
    }
    CHECK(c.backend->connections_opened() == 2);
    auto files = s.wait_files(6);
    CHECK(files.size() == 6);
    std::set<std::string> sessions;
    for (const auto& f : files) sessions.insert(header(slurp(f), "X-Sink-Session"));
    CHECK(sessions.size() == 2);
}
