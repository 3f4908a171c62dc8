// SIGHUP: `serve` and `worker` reload the mail templates; the next e-mail uses the new text.

#include "ops_support.hpp"
#include "process.hpp"
#include "server_fixture.hpp"
#include "test_env.hpp"

#include <doctest/doctest.h>
#include <signal.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <map>

using namespace portcullis::test;
using nlohmann::json;

namespace {

// A private copy of templates/ that the test may edit.
std::string copy_templates()
{
    std::string dir = make_temp_dir("templates");
    std::filesystem::copy(require_env("PORTCULLIS_SOURCE_ROOT") + "/templates", dir,
                          std::filesystem::copy_options::recursive | std::filesystem::copy_options::overwrite_existing);
    return dir;
}

void prepend_line(const std::string& path, const std::string& line)
{
    std::string old = read_file(path);
    std::ofstream out(path, std::ios::trunc);
    out << line << "\n" << old;
}

std::string register_user(int port, const std::string& tag)
{
    std::string email = "reload-" + tag + "-" + unique_name("u") + "@example.com";
    std::string username = "reload" + tag + std::to_string(::getpid());
    auto r = json_request(port, "POST", "/api/auth/register",
                          json{{"email", email}, {"username", username}, {"password", strong_password()}});
    REQUIRE(r.status == 201);
    return email;
}

}  // namespace

TEST_CASE("SIGHUP makes serve reload the mail templates")
{
    std::string templates = copy_templates();
    std::string mail_dir = make_temp_dir("reload-mail");
    server_fixture srv({{"TEMPLATES_DIR", templates}, {"EMAIL_BACKEND", "file"}, {"EMAIL_FILE_PATH", mail_dir}});

    std::string first = register_user(srv.port(), "a");
    std::string before = wait_for_mail(mail_dir, first, 1);
    CHECK(before.find("Reloaded-Marker-7") == std::string::npos);
    code_in(before);

    prepend_line(templates + "/verify_email.txt", "Reloaded-Marker-7");
    srv.proc().signal(SIGHUP);
    REQUIRE(wait_for_text(srv.proc().log_path(), "\"msg\":\"reloaded\""));
    CHECK(srv.proc().log().find("\"result\":\"ok\"") != std::string::npos);
    CHECK(srv.proc().running());

    std::string second = register_user(srv.port(), "b");
    std::string after = wait_for_mail(mail_dir, second, 1);
    CHECK(after.find("Reloaded-Marker-7") != std::string::npos);
    code_in(after);

    // A broken template set is refused and the old one stays in use.
    std::filesystem::remove(templates + "/verify_email.txt");
    srv.proc().signal(SIGHUP);
    REQUIRE(wait_for_text(srv.proc().log_path(), "failed, kept the old state"));
    std::string third = register_user(srv.port(), "c");
    CHECK(wait_for_mail(mail_dir, third, 1).find("Reloaded-Marker-7") != std::string::npos);
}

TEST_CASE("SIGHUP makes a separate worker reload the mail templates")
{
    std::string templates = copy_templates();
    std::string mail_dir = make_temp_dir("reload-worker-mail");
    // The HTTP server only enqueues (JOB_WORKERS=0); the worker process sends.
    server_fixture srv(std::map<std::string, std::string>{{"JOB_WORKERS", "0"}});
    std::map<std::string, std::string> env = {
        {"PORTCULLIS_ENV", "development"},
        {"PORTCULLIS_ENV_FILE", "/dev/null"},
        {"SECRET_KEY", "test-secret-key-0123456789abcdef0123456789"},
        {"DATABASE_URL", srv.database_url()},
        {"REDIS_URL", env_or("PORTCULLIS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")},
        {"REDIS_PREFIX", srv.redis_prefix()},
        {"EMAIL_BACKEND", "file"},
        {"EMAIL_FILE_PATH", mail_dir},
        {"TEMPLATES_DIR", templates},
        {"JOB_WORKERS", "1"},
    };
    process worker({require_env("PORTCULLIS_BINARY"), "worker"}, env, srv.dir() + "/worker.log");
    REQUIRE(wait_for_text(worker.log_path(), "worker_started"));

    std::string first = register_user(srv.port(), "wa");
    CHECK(wait_for_mail(mail_dir, first, 1).find("Worker-Marker-9") == std::string::npos);

    prepend_line(templates + "/verify_email.txt", "Worker-Marker-9");
    worker.signal(SIGHUP);
    REQUIRE(wait_for_text(worker.log_path(), "\"msg\":\"reloaded\""));
    CHECK(worker.running());

    std::string second = register_user(srv.port(), "wb");
    CHECK(wait_for_mail(mail_dir, second, 1).find("Worker-Marker-9") != std::string::npos);

    worker.signal(SIGTERM);
    auto status = worker.wait(std::chrono::seconds(40));
    REQUIRE(status.has_value());
    CHECK(*status == 0);
}
