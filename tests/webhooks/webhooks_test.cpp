// End to end: webhooks. A local HTTPS receiver (a self-signed certificate made here,
// trusted through WEBHOOK_CA_FILE) verifies every delivery with the npm package
// `standardwebhooks`, a library no one here wrote. Events reach it signed; while it is
// down the server keeps answering at once, and after it comes back every event is
// delivered (retries), none lost.

#include "auth_support.hpp"
#include "test_env.hpp"

#include <doctest/doctest.h>

#include <csignal>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>

using namespace portcullis::test;
using namespace portcullis::test::auth;

namespace {

// "whsec_" and the base64 of a 32-byte key.
const std::string secret = "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

struct receiver {
    std::string dir;
    int port = 0;
    std::unique_ptr<process> proc;

    // Starts on `at` (0: any port) and waits until it listens.
    void start(int at)
    {
        std::string port_file = dir + "/port";
        std::remove(port_file.c_str());
        proc = std::make_unique<process>(
            std::vector<std::string>{require_env("PORTCULLIS_NODE"),
                                     require_env("PORTCULLIS_WEBHOOK_TOOLS") + "/receiver.mjs", dir + "/cert.pem",
                                     dir + "/key.pem", std::to_string(at), dir + "/received.jsonl", port_file},
            std::map<std::string, std::string>{{"WEBHOOK_SECRET", secret}}, dir + "/receiver.log");
        REQUIRE_MESSAGE(wait_until(
                            [&] {
                                std::ifstream in(port_file);
                                return in && (in >> port) && port > 0;
                            },
                            std::chrono::seconds(20), std::chrono::milliseconds(20)),
                        proc->log());
    }

    // Every line the receiver wrote.
    std::vector<json> lines() const
    {
        std::vector<json> out;
        std::ifstream in(dir + "/received.jsonl");
        for (std::string l; std::getline(in, l);) {
            if (!l.empty()) out.push_back(json::parse(l));
        }
        return out;
    }
};

// A self-signed certificate for 127.0.0.1 (cert.pem, key.pem in `dir`).
void make_certificate(const std::string& dir)
{
    int st = run_command({require_env("PORTCULLIS_OPENSSL"), "req", "-x509", "-newkey", "ec", "-pkeyopt",
                          "ec_paramgen_curve:P-256", "-nodes", "-keyout", dir + "/key.pem", "-out", dir + "/cert.pem",
                          "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"},
                         {}, dir + "/openssl.log", std::chrono::seconds(30));
    REQUIRE_MESSAGE(st == 0, read_file(dir + "/openssl.log"));
}

// Events of type `type` for user `id` that arrived verified.
int delivered(const receiver& r, const std::string& type, const std::string& id)
{
    int n = 0;
    for (const auto& l : r.lines()) {
        if (l["ok"] == true && l["payload"]["type"] == type && l["payload"]["data"]["user_id"] == id) ++n;
    }
    return n;
}

int refused(const receiver& r)
{
    int n = 0;
    for (const auto& l : r.lines()) n += l["ok"] == true ? 0 : 1;
    return n;
}

}  // namespace

TEST_CASE("webhooks: signed deliveries verified by standardwebhooks; an outage delays them, loses none")
{
    receiver rx;
    rx.dir = make_temp_dir("webhooks");
    // A certificate for 127.0.0.1, made here: the server trusts it through WEBHOOK_CA_FILE.
    make_certificate(rx.dir);
    rx.start(0);
    const std::string url = "https://127.0.0.1:" + std::to_string(rx.port) + "/hooks/portcullis";

    server_fixture srv(env_map{{"RATE_LIMIT_EXEMPT", "127.0.0.1/32"},
                               {"WEBHOOK_URL", url},
                               {"WEBHOOK_SECRET", secret},
                               {"WEBHOOK_CA_FILE", rx.dir + "/cert.pem"},
                               {"WEBHOOK_TIMEOUT", "3"},
                               {"WEBHOOK_MAX_RETRIES", "30"},
                               {"WEBHOOK_EVENTS",
                                "user.registered,email.verified,password.changed,session.revoked,"
                                "user.deleted"}});
    client c(srv.port());

    account a = register_active(c, "hook");
    CHECK(eventually([&] { return delivered(rx, "user.registered", a.id) == 1; }, std::chrono::seconds(15)));
    CHECK(eventually([&] { return delivered(rx, "email.verified", a.id) == 1; }, std::chrono::seconds(15)));
    auto s = login(c, a);
    // Not chosen by WEBHOOK_EVENTS: never sent.
    CHECK(delivered(rx, "login.succeeded", a.id) == 0);

    // The receiver goes away: requests are answered at once all the same.
    rx.proc->stop();
    auto t0 = std::chrono::steady_clock::now();
    auto s2 = login(c, a);
    REQUIRE(c.call("DELETE", "/api/auth/sessions/" + payload_of(s2.access)["sid"].get<std::string>(), std::nullopt,
                   s.access)
                .status == 204);
    REQUIRE(
        c.post("/api/auth/password/change",
               {{"old_password", a.password}, {"new_password", other_password}, {"confirm_password", other_password}},
               s.access)
            .status == 200);
    account b = register_active(c, "hook-b");
    auto took = std::chrono::steady_clock::now() - t0;
    MESSAGE("requests during the outage took " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                                               << " ms");
    CHECK(delivered(rx, "password.changed", a.id) == 0);

    // Back on the same port: every event of the outage arrives, each once.
    rx.start(rx.port);
    CHECK(eventually(
        [&] {
            return delivered(rx, "session.revoked", a.id) == 1 && delivered(rx, "password.changed", a.id) == 1 &&
                   delivered(rx, "user.registered", b.id) == 1 && delivered(rx, "email.verified", b.id) == 1;
        },
        std::chrono::seconds(60)));
    CHECK(delivered(rx, "session.revoked", a.id) == 1);
    CHECK(delivered(rx, "password.changed", a.id) == 1);
    CHECK(delivered(rx, "user.registered", b.id) == 1);
    CHECK(delivered(rx, "email.verified", b.id) == 1);
    CHECK(delivered(rx, "user.registered", a.id) == 1);
    CHECK(refused(rx) == 0);
    // Each delivery has its own id, and the payload holds no secret.
    std::set<std::string> ids;
    for (const auto& l : rx.lines()) {
        ids.insert(l["id"].get<std::string>());
        std::string text = l.dump();
        CHECK(text.find(a.password) == std::string::npos);
        CHECK(text.find(other_password) == std::string::npos);
        CHECK(text.find(s.access) == std::string::npos);
    }
    CHECK(ids.size() == rx.lines().size());
}

TEST_CASE("webhooks: a receiver whose certificate is not trusted gets nothing; the configuration is checked")
{
    receiver rx;
    rx.dir = make_temp_dir("webhooks-untrusted");
    make_certificate(rx.dir);
    rx.start(0);
    // No WEBHOOK_CA_FILE: the system's CAs do not know this certificate.
    server_fixture srv(env_map{{"RATE_LIMIT_EXEMPT", "127.0.0.1/32"},
                               {"WEBHOOK_URL", "https://127.0.0.1:" + std::to_string(rx.port) + "/"},
                               {"WEBHOOK_SECRET", secret}});
    client c(srv.port());
    account a = register_active(c, "hook-untrusted");
    // The job fails its TLS handshake and is retried: the server's log says why.
    CHECK(eventually([&] { return srv.proc().log().find("certificate") != std::string::npos; },
                     std::chrono::seconds(20)));
    CHECK(rx.lines().empty());

    // http:// only with WEBHOOK_ALLOW_HTTP; a secret in the spec's form only.
    std::string dir = make_temp_dir("webhooks-config");
    env_map bad = {{"PORTCULLIS_ENV", "development"},
                   {"PORTCULLIS_ENV_FILE", "/dev/null"},
                   {"WEBHOOK_URL", "http://127.0.0.1:9/"},
                   {"WEBHOOK_SECRET", secret},
                   {"LOG_LEVEL", "error"}};
    CHECK(run_command({require_env("PORTCULLIS_BINARY"), "serve", "--print-routes"}, bad, dir + "/a.log",
                      std::chrono::seconds(20)) == 2);
    CHECK(read_file(dir + "/a.log").find("WEBHOOK_URL") != std::string::npos);
    bad["WEBHOOK_URL"] = "https://127.0.0.1:9/";
    bad["WEBHOOK_SECRET"] = "not-a-secret";
    CHECK(run_command({require_env("PORTCULLIS_BINARY"), "serve", "--print-routes"}, bad, dir + "/b.log",
                      std::chrono::seconds(20)) == 2);
    CHECK(read_file(dir + "/b.log").find("WEBHOOK_SECRET") != std::string::npos);
}
