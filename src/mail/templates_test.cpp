#include "mail/templates.hpp"
#include "core/timeout.hpp"
#include "mail/encoding.hpp"
#include "mail/local_backends.hpp"
#include "mail/mailer.hpp"

#include <doctest/doctest.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include <fstream>
#include <regex>

using namespace portcullis;
using namespace portcullis::mail;
namespace fs = std::filesystem;

namespace {

const fs::path default_dir = fs::path(PORTCULLIS_SOURCE_ROOT) / "templates";

fs::path temp_copy_of_templates()
{
    std::string tmpl = (fs::temp_directory_path() / "mail-templates-XXXXXX").string();
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    fs::copy(default_dir, tmpl, fs::copy_options::overwrite_existing | fs::copy_options::recursive);
    return tmpl;
}

void write(const fs::path& p, const std::string& text)
{
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out << text;
}

std::string slurp(const fs::path& p)
{
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

template <class T>
T run(boost::asio::io_context& io, boost::asio::awaitable<T> a)
{
    auto f = boost::asio::co_spawn(io, std::move(a), boost::asio::use_future);
    io.restart();
    io.run();
    return f.get();
}

}  // namespace

TEST_CASE("render_template substitutes, escapes for HTML, ignores unknown names")
{
    template_values v{{"code", "123456"}, {"name", "<Ann & \"Bob\">"}};
    CHECK(render_template("Code {{code}} for {{ name }}", v, false) == "Code 123456 for <Ann & \"Bob\">");
    CHECK(render_template("Code {{code}} for {{ name }}", v, true) ==
          "Code 123456 for &lt;Ann &amp; &quot;Bob&quot;&gt;");
    CHECK(render_template("x{{unknown}}y", v, false) == "xy");
    CHECK(render_template("no placeholders", v, false) == "no placeholders");
    CHECK_THROWS_AS(render_template("broken {{code", v, false), std::invalid_argument);
}

TEST_CASE("the default templates load and put the code in text/plain as a standalone number")
{
    auto set = template_set::load(default_dir);
    for (auto kind : {template_kind::verify_email, template_kind::password_reset}) {
        auto r = set.render(kind, {{"code", "042917"}, {"name", "Ann"}, {"minutes_valid", "10"}, {"site_name", "P"}});
        std::smatch m;
        REQUIRE(std::regex_search(r.text, m, std::regex(R"(\b\d{6}\b)")));
        CHECK(m.str() == "042917");
        CHECK(r.html.find("042917") != std::string::npos);
        CHECK(r.subject.find('\n') == std::string::npos);
        CHECK(r.subject.starts_with("P: "));
        // Survives quoted-printable encoding unsplit.
        CHECK(quoted_printable_encode(r.text).find("    042917\r\n") != std::string::npos);
    }
    auto changed = set.render(template_kind::password_changed,
                              {{"name", "<script>"}, {"time", "2026-11-21T14:07:00Z"}, {"email", "a@b.c"}});
    CHECK(changed.text.find("<script>") != std::string::npos);
    CHECK(changed.html.find("<script>") == std::string::npos);
    CHECK(changed.html.find("&lt;script&gt;") != std::string::npos);
    CHECK(changed.text.find("2026-11-21T14:07:00Z") != std::string::npos);
}

TEST_CASE("a missing or broken template is a clear start-up error")
{
    auto dir = temp_copy_of_templates();
    fs::remove(dir / "password_reset.html");
    try {
        (void)template_set::load(dir);
        FAIL("load should have thrown");
    } catch (const std::runtime_error& e) {
        CHECK(std::string(e.what()).find("password_reset.html") != std::string::npos);
    }
    CHECK_THROWS_AS(template_store{dir}, std::runtime_error);

    auto dir2 = temp_copy_of_templates();
    write(dir2 / "verify_email.txt", "no code here\n");
    CHECK_THROWS_WITH_AS(template_set::load(dir2), doctest::Contains("{{code}}"), std::runtime_error);
    write(dir2 / "verify_email.txt", "code {{code\n");
    CHECK_THROWS_WITH_AS(template_set::load(dir2), doctest::Contains("unclosed"), std::runtime_error);
    fs::remove_all(dir);
    fs::remove_all(dir2);
}

TEST_CASE("template_store::reload swaps atomically and keeps the old set on failure")
{
    auto dir = temp_copy_of_templates();
    template_store store(dir);
    auto before = store.current();
    write(dir / "verify_email.subject", "New subject {{code}}\n");
    CHECK(store.reload());
    auto after = store.current();
    CHECK(after != before);
    CHECK(after->render(template_kind::verify_email, {{"code", "1"}}).subject == "New subject 1");
    // A reader holding the old set keeps it.
    CHECK(before->render(template_kind::verify_email, {{"site_name", "S"}}).subject == "S: your verification code");

    fs::remove(dir / "verify_email.txt");
    CHECK_FALSE(store.reload());
    CHECK(store.current() == after);
    fs::remove_all(dir);
}

TEST_CASE("mailer composes from templates; the file backend writes one .eml atomically")
{
    std::string tmpl = (fs::temp_directory_path() / "mail-out-XXXXXX").string();
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    settings s;
    s.backend = backend_kind::file;
    s.file_path = fs::path(tmpl) / "outbox";
    s.from = "Portcullis <noreply@example.com>";
    s.templates_dir = default_dir;
    validate(s);
    boost::asio::io_context io;
    mailer m(s, std::make_shared<template_store>(s.templates_dir), make_backend(s, io.get_executor()));

    auto composed =
        m.compose(template_kind::verify_email, "zoe@example.com", {{"code", "314159"}, {"full_name", "Zo\xc3\xab"}});
    CHECK(composed.to.at(0).name == "Zo\xc3\xab");
    CHECK(composed.text.find("Hello Zo\xc3\xab,") != std::string::npos);

    auto r = run(io, m.async_send_template(template_kind::verify_email, "zoe@example.com",
                                           {{"code", "314159"}, {"username", "zoe"}, {"minutes_valid", "10"}},
                                           core::steady_clock::now() + std::chrono::seconds(5)));
    CHECK(r.ok());
    CHECK(r.detail.ends_with("@example.com>"));
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(s.file_path)) files.push_back(e.path());
    REQUIRE(files.size() == 1);
    CHECK(files[0].extension() == ".eml");
    auto mime = slurp(files[0]);
    CHECK(mime.find("Message-ID: " + r.detail) != std::string::npos);
    CHECK(mime.find("To: zoe@example.com") != std::string::npos);
    CHECK(mime.find("    314159\r\n") != std::string::npos);

    auto bad = run(io, m.async_send_template(template_kind::verify_email, "not an address", {{"code", "1"}},
                                             core::steady_clock::now() + std::chrono::seconds(5)));
    CHECK(bad.permanent());
    CHECK(bad.describe().find("invalid recipient") != std::string::npos);
    fs::remove_all(tmpl);
}

TEST_CASE("the console backend accepts a message")
{
    boost::asio::io_context io;
    console_backend b;
    message msg;
    msg.from = {"", "a@example.com"};
    msg.to = {{"", "b@example.com"}};
    msg.subject = "s";
    msg.text = "t";
    auto r = run(io, b.async_send(msg, core::steady_clock::now() + std::chrono::seconds(1)));
    CHECK(r.ok());
}

TEST_CASE("settings validation names the variable")
{
    settings s;
    s.use_tls = s.use_ssl = true;
    CHECK_THROWS_WITH_AS(validate(s), doctest::Contains("EMAIL_USE_TLS"), std::invalid_argument);
    settings f;
    f.backend = backend_kind::file;
    f.file_path.clear();
    CHECK_THROWS_WITH_AS(validate(f), doctest::Contains("EMAIL_FILE_PATH"), std::invalid_argument);
    settings u;
    u.backend = backend_kind::smtp;
    u.username = "x";
    CHECK_THROWS_WITH_AS(validate(u), doctest::Contains("EMAIL_HOST_PASSWORD"), std::invalid_argument);
    settings d;
    d.from = "nobody";
    CHECK_THROWS_WITH_AS(validate(d), doctest::Contains("DEFAULT_FROM_EMAIL"), std::invalid_argument);
    settings t;
    t.templates_dir.clear();
    try {
        validate(t);
        FAIL("an empty TEMPLATES_DIR was accepted");
    } catch (const std::invalid_argument& e) {
        CHECK(std::string(e.what()).starts_with("TEMPLATES_DIR "));
    }
    CHECK(parse_backend_kind("django.core.mail.backends.filebased.EmailBackend") == backend_kind::file);
    CHECK(parse_backend_kind("console") == backend_kind::console);
    CHECK_FALSE(parse_backend_kind("pigeon"));
}
