#pragma once
// Support for the end-to-end tests of the auth contract: a JSON client over the raw
// HTTP client that checks the rules every response must follow (X-Request-Id, JSON
// bodies, never a 5xx), a reader of the SMTP sink's messages, account helpers, and
// JWT crafting with the server's key for the token attacks.

#include "http_client.hpp"
#include "mime.hpp"
#include "server_fixture.hpp"
#include "wait.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace portcullis::test::auth {

using nlohmann::json;
using env_map = std::map<std::string, std::string>;
using header_list = std::vector<std::pair<std::string, std::string>>;

// The SECRET_KEY every fixture server runs with (server_fixture's default).
inline constexpr const char* fixture_secret_key = "test-secret-key-0123456789abcdef0123456789";

struct reply {
    int status = 0;
    json body;  // null when the body was empty
    http_response raw;

    std::string header(const std::string& lower_name) const { return raw.header(lower_name); }
    // error.code of an error body, or "" when there is none.
    std::string code() const;
    // error.details.<field>, or "" when absent.
    std::string detail(const std::string& field) const;
    // Set-Cookie lines (the client joins repeated headers with ", ").
    std::vector<std::string> set_cookies() const;
    // Retry-After in seconds, or -1 when absent.
    int retry_after() const
    {
        const std::string v = header("retry-after");
        return v.empty() ? -1 : std::stoi(v);
    }
};

// Checks the rules of every response (X-Request-Id present, JSON body when there is a
// body, no 5xx) with doctest CHECKs. Not for use from several threads at once: use
// `call_unchecked` there and `check_response` afterwards on the main thread.
void check_response(const reply& r, const std::string& what);

class client {
public:
    explicit client(int port) : port_(port) {}

    reply call(const std::string& method, const std::string& target, const std::optional<json>& body = std::nullopt,
               const std::string& bearer = {}, const header_list& headers = {}) const;
    // Raw body text (malformed JSON and the like), checked like `call`.
    reply call_raw(const std::string& method, const std::string& target, const std::string& body,
                   const header_list& headers = {}) const;
    // Thread-safe: no doctest assertions.
    reply call_unchecked(const std::string& method, const std::string& target,
                         const std::optional<json>& body = std::nullopt, const std::string& bearer = {},
                         const header_list& headers = {}) const;

    reply get(const std::string& target, const std::string& bearer = {}) const
    {
        return call("GET", target, std::nullopt, bearer);
    }
    reply post(const std::string& target, const json& body, const std::string& bearer = {}) const
    {
        return call("POST", target, body, bearer);
    }

    int port() const noexcept { return port_; }

private:
    int port_;
};

// Messages that arrived at the shared SMTP sink for one address. Each code is handed
// out once: `next_code` waits for a message not seen before.
// One server for the calling test executable; unique addresses keep its tests independent.
// Loopback is exempt from the per-IP limits (a suite registers many accounts from one
// address); per-address limits and cooldowns still apply.
server_fixture& shared_server();

class mailbox {
public:
    explicit mailbox(std::string address);

    // Waits (up to `timeout`) for a new message whose Subject contains `subject_part`,
    // and returns the standalone 6-digit code of its text/plain part. Throws on timeout.
    std::string next_code(const std::string& subject_part,
                          std::chrono::milliseconds timeout = std::chrono::seconds(20));
    // Waits for a new message whose Subject contains `subject_part`; returns its raw text.
    std::string next_message(const std::string& subject_part,
                             std::chrono::milliseconds timeout = std::chrono::seconds(20));
    // The number of messages not yet handed out whose Subject contains `subject_part` (no waiting).
    int unseen(const std::string& subject_part);

    const std::string& address() const noexcept { return address_; }

private:
    std::vector<std::pair<std::string, std::string>> scan(const std::string& subject_part);

    std::string address_;
    std::set<std::string> seen_;
};

inline const char* verify_subject = "verification code";
inline const char* reset_subject = "password reset code";
inline const char* changed_subject = "password was changed";

// Pieces of a message (exposed for the tests of the helpers themselves).
using portcullis::test::decode_quoted_printable;
std::string text_plain_part(const std::string& message);
std::optional<std::string> standalone_code(const std::string& text);

// A fresh address and username unique to this process and call.
std::string unique_email(const std::string& tag);
std::string unique_username(const std::string& tag);

inline const char* good_password = "Vu9!tramp-Kestrel";
inline const char* other_password = "Qx7#marble-Osprey";

struct account {
    std::string email;
    std::string username;
    std::string password;
    std::string id;
};

// Registers (201) and returns the account without verifying it.
account register_pending(const client& c, const std::string& tag, const std::string& password = good_password);
// Registers, reads the code from the sink and verifies (200).
account register_active(const client& c, const std::string& tag, const std::string& password = good_password);

struct session_tokens {
    std::string access;
    std::string refresh;
    json user;
};
// Logs in (200 expected) by e-mail.
session_tokens login(const client& c, const account& a, const std::string& user_agent = "auth-e2e");

// JWT helpers. `payload_of` decodes the middle segment (no verification).
json payload_of(const std::string& token);
json header_of(const std::string& token);
std::string b64url(const std::string& bytes);
// The server's HS256 key, derived from SECRET_KEY as the server does.
std::string jwt_key(const std::string& secret_key = fixture_secret_key);
// header.payload.signature with HMAC-SHA256 (or SHA-512 when `sha512`) over `key`.
std::string sign_jwt(const json& header, const json& payload, const std::string& key, bool sha512 = false);

std::int64_t unix_now();

// Polls `pred` every 20 ms until it holds or `timeout` passes; returns its last value.
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout = std::chrono::seconds(10));

// Every key under `prefix` in the test Redis (PORTCULLIS_TEST_REDIS_URL) with its
// value rendered as text (strings, hashes, lists, sets, sorted sets, streams), for
// checks that something is never stored in plain text.
std::map<std::string, std::string> redis_dump(const std::string& prefix);
// One command on the test Redis; the reply flattened to strings.
std::vector<std::string> redis_command(const std::vector<std::string>& args);

// Dumps the server log into the doctest output when the test failed.
std::string server_log_tail(server_fixture& srv, std::size_t bytes = 4000);

}  // namespace portcullis::test::auth

template <class Pred>
bool portcullis::test::auth::eventually(Pred pred, std::chrono::milliseconds timeout)
{
    return portcullis::test::wait_until(pred, timeout, std::chrono::milliseconds(20));
}
