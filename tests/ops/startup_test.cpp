// Start-up of `serve` as an operator runs it: from any working directory without
// TEMPLATES_DIR, and with MIGRATE_ON_START=false.

#include "ops_support.hpp"
#include "process.hpp"
#include "server_fixture.hpp"
#include "test_env.hpp"

#include <doctest/doctest.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <map>
#include <sstream>

using namespace portcullis::test;
using nlohmann::json;

namespace {

// Runs the server in `dir` with TEMPLATES_DIR removed from its environment.
std::vector<std::string> in_dir_without_templates_dir(const std::string& dir)
{
    return {"/usr/bin/env", "-C", dir, "-u", "TEMPLATES_DIR"};
}

}  // namespace

TEST_CASE("serve started from /tmp with TEMPLATES_DIR unset finds the mail templates")
{
    std::string mail_dir = make_temp_dir("startup-mail");
    server_fixture srv({{"EMAIL_BACKEND", "file"}, {"EMAIL_FILE_PATH", mail_dir}}, true,
                       in_dir_without_templates_dir("/tmp"));
    const std::string email = "startup-" + unique_name("u") + "@example.com";
    auto r = json_request(
        srv.port(), "POST", "/api/auth/register",
        json{{"email", email}, {"username", "startup" + std::to_string(::getpid())}, {"password", strong_password()}});
    REQUIRE(r.status == 201);
    // The verification mail is rendered from templates/verify_email.txt of the source tree.
    std::string mail = wait_for_mail(mail_dir, email, 1);
    code_in(mail);
    // The text before the first placeholder of the template's third line ("Use this code … for ").
    std::istringstream lines(read_file(require_env("PORTCULLIS_SOURCE_ROOT") + "/templates/verify_email.txt"));
    std::string line;
    for (int i = 0; i < 3; ++i) std::getline(lines, line);
    const std::string fixed = line.substr(0, line.find("{{"));
    REQUIRE(fixed.size() > 10);
    CHECK(mail.find(fixed) != std::string::npos);
}

TEST_CASE("MIGRATE_ON_START=false: serve leaves the schema alone; true (the default) migrates")
{
    server_fixture off(std::map<std::string, std::string>{{"MIGRATE_ON_START", "false"}});
    CHECK(pg_exec(off.database_url(), "SELECT coalesce(to_regclass('public.users')::text, 'none')") == "none");

    server_fixture on;
    CHECK(pg_exec(on.database_url(), "SELECT coalesce(to_regclass('public.users')::text, 'none')") == "users");
}
