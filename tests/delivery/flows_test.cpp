// The mail flows end to end: `portcullis serve` (no in-process workers) enqueues, a separate
// `portcullis worker` delivers to a real SMTP server, and the code in the message's
// text/plain part completes the flow over HTTP. One-time codes travel sealed: the raw
// Redis data never contains them.

#include "http_client.hpp"
#include "server_fixture.hpp"
#include "support.hpp"
#include "test_env.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <regex>
#include <sstream>

using namespace portcullis;
using namespace portcullis::test;
using namespace portcullis::test::delivery;
using nlohmann::json;
using std::chrono::seconds;

namespace {

const std::vector<std::pair<std::string, std::string>> json_headers = {{"Content-Type", "application/json"}};

http_response post(int port, const std::string& target, const json& body)
{
    return http_request(port, "POST", target, body.dump(), json_headers);
}

// The messages to `to`, oldest first.
std::vector<sink_message> messages_to(const recording_sink& sink, const std::string& to)
{
    std::vector<sink_message> out;
    for (auto& m : sink.messages()) {
        if (std::find(m.to.begin(), m.to.end(), to) != m.to.end()) out.push_back(std::move(m));
    }
    return out;
}

// Waits for message number `n` (1-based) to `to` and returns it.
sink_message wait_for_message(const recording_sink& sink, const std::string& to, std::size_t n)
{
    std::vector<sink_message> got;
    bool ok = poll_until(
        [&] {
            got = messages_to(sink, to);
            return got.size() >= n;
        },
        seconds(30));
    if (!ok) throw std::runtime_error("message " + std::to_string(n) + " to " + to + " did not arrive");
    return got[n - 1];
}

std::string subject_of(const sink_message& m)
{
    std::smatch match;
    static const std::regex subject(R"((?:^|\r?\n)Subject: ([^\r\n]*))", std::regex::icase);
    return std::regex_search(m.raw, match, subject) ? match[1].str() : std::string();
}

// The code: a line of the text/plain part that is exactly six digits (surrounding
// whitespace allowed). Empty unless exactly one such line exists.
std::string code_in(const sink_message& m)
{
    std::string text = text_plain_part(m.raw);
    std::istringstream lines(text);
    std::string line;
    std::vector<std::string> found;
    static const std::regex six(R"(^\s*([0-9]{6})\s*$)");
    while (std::getline(lines, line)) {
        std::smatch match;
        if (std::regex_match(line, match, six)) found.push_back(match[1].str());
    }
    return found.size() == 1 ? found[0] : std::string();
}

// `code` as a token of its own in `text` (not part of a longer number such as a timestamp).
bool holds_code(const std::string& text, const std::string& code)
{
    for (auto p = text.find(code); p != std::string::npos; p = text.find(code, p + 1)) {
        bool digit_before = p > 0 && std::isdigit(static_cast<unsigned char>(text[p - 1]));
        bool digit_after =
            p + code.size() < text.size() && std::isdigit(static_cast<unsigned char>(text[p + code.size()]));
        if (!digit_before && !digit_after) return true;
    }
    return false;
}

bool mentions(const std::map<std::string, std::string>& dump, const std::string& code)
{
    return std::any_of(dump.begin(), dump.end(),
                       [&](const auto& kv) { return holds_code(kv.first, code) || holds_code(kv.second, code); });
}

}  // namespace

TEST_CASE(
    "delivery: registration, resend and forgot-password mails go through the queue to SMTP and complete the flows")
{
    const std::string scratch = make_temp_dir("dlv-flows");
    recording_sink sink;
    sink.start();
    server_fixture server({{"JOB_WORKERS", "0"},
                           {"EMAIL_HOST", "127.0.0.1"},
                           {"EMAIL_PORT", std::to_string(sink.port())},
                           {"OTP_RESEND_COOLDOWN", "0"}});
    redis_client redis(shared_redis_settings(), server.redis_prefix());
    auto env = worker_env(require_env("PORTCULLIS_TEST_REDIS_URL"), server.redis_prefix(), server.database_url(),
                          sink.port(), 2);
    INFO("server log:\n" << tail(server.proc().log()));

    // --- registration: the job waits in Redis (no worker yet); its raw data is kept.
    const std::string ann = "ann.flows@example.test";
    const std::string ann_pw = "Portcullis-Flows-2024!";
    auto reg =
        post(server.port(), "/api/auth/register", {{"email", ann}, {"username", "annflows"}, {"password", ann_pw}});
    INFO("register: " << reg.status << " " << reg.body);
    REQUIRE(reg.status == 201);
    CHECK(json::parse(reg.body)["user"]["is_active"] == false);
    auto queued = redis.exec(store::redis::command("LRANGE", redis.keys().queue("default"), 0, -1));
    REQUIRE(queued.elements.size() == 1);
    const std::string raw_job = queued.elements[0].str;
    auto before_worker = redis.dump_prefix();
    {
        auto envelope = json::parse(raw_job);
        CHECK(envelope["task"] == "send_email");
        auto args = envelope["args"];
        CHECK(args["template"] == "verify_email");
        CHECK(args["to"] == ann);
        auto values = json::parse(args["values"].get<std::string>());
        CHECK(values.contains("code_sealed"));
        CHECK_FALSE(values.contains("code"));
    }

    worker_process worker(env, scratch + "/worker.log");
    INFO("worker log:\n" << tail(worker.log()));
    auto verify_mail = wait_for_message(sink, ann, 1);
    CHECK(subject_of(verify_mail).find("verification code") != std::string::npos);
    const std::string code = code_in(verify_mail);
    INFO("text/plain:\n" << text_plain_part(verify_mail.raw));
    REQUIRE(code.size() == 6);
    // Sealed all the way: neither the job as it waited nor anything else under the prefix held the code.
    CHECK_FALSE(holds_code(raw_job, code));
    CHECK_FALSE(mentions(before_worker, code));
    CHECK_FALSE(mentions(redis.dump_prefix(), code));

    auto verified = post(server.port(), "/api/auth/verify-email", {{"email", ann}, {"otp", code}});
    INFO("verify: " << verified.status << " " << verified.body);
    REQUIRE(verified.status == 200);
    CHECK(json::parse(verified.body)["user"]["is_active"] == true);
    CHECK(post(server.port(), "/api/auth/login", {{"email", ann}, {"password", ann_pw}}).status == 200);

    // --- resend: a second code arrives for a pending registration and verifies it.
    const std::string bob = "bob.flows@example.test";
    auto reg_bob = post(server.port(), "/api/auth/register",
                        {{"email", bob}, {"username", "bobflows"}, {"password", ann_pw + "b"}});
    REQUIRE(reg_bob.status == 201);
    const std::string first_code = code_in(wait_for_message(sink, bob, 1));
    REQUIRE(first_code.size() == 6);
    auto resend = post(server.port(), "/api/auth/resend-otp", {{"email", bob}});
    INFO("resend: " << resend.status << " " << resend.body);
    REQUIRE(resend.status == 202);
    auto second_mail = wait_for_message(sink, bob, 2);
    const std::string second_code = code_in(second_mail);
    REQUIRE(second_code.size() == 6);
    CHECK(subject_of(second_mail).find("verification code") != std::string::npos);
    auto bob_ok = post(server.port(), "/api/auth/verify-email", {{"email", bob}, {"otp", second_code}});
    INFO("verify bob: " << bob_ok.status << " " << bob_ok.body);
    CHECK(bob_ok.status == 200);

    // --- forgot password: the reset code arrives, leads to a reset, and the change notice follows.
    auto forgot = post(server.port(), "/api/auth/password/forgot", {{"email", ann}});
    REQUIRE(forgot.status == 202);
    auto reset_mail = wait_for_message(sink, ann, 2);
    CHECK(subject_of(reset_mail).find("password reset code") != std::string::npos);
    const std::string reset_code = code_in(reset_mail);
    REQUIRE(reset_code.size() == 6);
    auto otp_ok = post(server.port(), "/api/auth/password/verify-otp", {{"email", ann}, {"otp", reset_code}});
    INFO("verify-otp: " << otp_ok.status << " " << otp_ok.body);
    REQUIRE(otp_ok.status == 200);
    const std::string token = json::parse(otp_ok.body)["reset_token"].get<std::string>();
    const std::string new_pw = "Another-Flows-Secret-77";
    auto reset = post(server.port(), "/api/auth/password/reset",
                      {{"reset_token", token}, {"new_password", new_pw}, {"confirm_password", new_pw}});
    INFO("reset: " << reset.status << " " << reset.body);
    REQUIRE(reset.status == 200);
    auto notice = wait_for_message(sink, ann, 3);
    CHECK(subject_of(notice).find("password was changed") != std::string::npos);
    CHECK(code_in(notice).empty());
    CHECK(post(server.port(), "/api/auth/login", {{"email", ann}, {"password", new_pw}}).status == 200);
    CHECK(post(server.port(), "/api/auth/login", {{"email", ann}, {"password", ann_pw}}).status == 401);

    // No code ever rested in Redis in plain text, and each mail was sent once.
    auto after = redis.dump_prefix();
    for (const auto& c : {code, first_code, second_code, reset_code}) CHECK_FALSE(mentions(after, c));
    CHECK(messages_to(sink, ann).size() == 3);
    CHECK(messages_to(sink, bob).size() == 2);
    CHECK(worker.terminate(seconds(40)) == std::optional<int>(0));
}
