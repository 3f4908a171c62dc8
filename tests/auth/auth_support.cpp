// Shared steps of the auth end-to-end tests (see auth_support.hpp). Why one file of this
// size: the HTTP client, the mailbox reader and the account helpers are used together by
// every auth test and are small each.
#include "auth_support.hpp"

#include "test_env.hpp"

#include "auth/crypto.hpp"

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <unistd.h>
#include <algorithm>
#include <atomic>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace portcullis::test::auth {

namespace {

std::string lower(std::string s)
{
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

reply make_reply(http_response raw)
{
    reply r;
    r.status = raw.status;
    if (!raw.body.empty()) {
        r.body = json::parse(raw.body, nullptr, false);
    }
    r.raw = std::move(raw);
    return r;
}

std::string describe(const std::string& method, const std::string& target)
{
    return method + " " + target;
}

}  // namespace

std::string reply::code() const
{
    if (!body.is_object()) return {};
    auto e = body.find("error");
    if (e == body.end() || !e->is_object()) return {};
    auto c = e->find("code");
    if (c == e->end() || !c->is_string()) return {};
    return c->get<std::string>();
}

std::string reply::detail(const std::string& field) const
{
    if (!body.is_object() || !body.contains("error")) return {};
    const auto& e = body["error"];
    if (!e.is_object() || !e.contains("details") || !e["details"].is_object()) return {};
    const auto& d = e["details"];
    if (!d.contains(field) || !d[field].is_string()) return {};
    return d[field].get<std::string>();
}

std::vector<std::string> reply::set_cookies() const
{
    std::vector<std::string> out;
    std::string all = raw.header("set-cookie");
    // Cookie values here are base64url and attributes carry no commas, so ", " separates lines.
    std::size_t pos = 0;
    while (pos < all.size()) {
        auto next = all.find(", ", pos);
        out.push_back(all.substr(pos, next == std::string::npos ? std::string::npos : next - pos));
        if (next == std::string::npos) break;
        pos = next + 2;
    }
    return out;
}

void check_response(const reply& r, const std::string& what)
{
    INFO(what, " -> ", r.status, " ", r.raw.body);
    CHECK(r.status < 500);
    CHECK_FALSE(r.raw.header("x-request-id").empty());
    if (!r.raw.body.empty()) {
        CHECK_FALSE(r.body.is_discarded());
        CHECK(r.raw.header("content-type").rfind("application/json", 0) == 0);
    }
    if (r.status >= 400 && r.status != 431) {
        // One error shape: {"error": {"code", "message", "details"?}}.
        CHECK(r.body.is_object());
        CHECK_FALSE(r.code().empty());
        if (r.body.is_object() && r.body.contains("error")) {
            CHECK(r.body["error"].contains("message"));
            CHECK(r.body["error"]["message"].is_string());
        }
    }
    if (r.status == 429 || r.status == 503) {
        CHECK_FALSE(r.raw.header("retry-after").empty());
    }
}

reply client::call_unchecked(const std::string& method, const std::string& target, const std::optional<json>& body,
                             const std::string& bearer, const header_list& headers) const
{
    header_list h = headers;
    if (!bearer.empty()) h.emplace_back("Authorization", "Bearer " + bearer);
    std::string text;
    if (body) {
        text = body->dump();
        h.emplace_back("Content-Type", "application/json");
    }
    return make_reply(http_request(port_, method, target, text, h));
}

reply client::call(const std::string& method, const std::string& target, const std::optional<json>& body,
                   const std::string& bearer, const header_list& headers) const
{
    reply r = call_unchecked(method, target, body, bearer, headers);
    check_response(r, describe(method, target));
    return r;
}

reply client::call_raw(const std::string& method, const std::string& target, const std::string& body,
                       const header_list& headers) const
{
    header_list h = headers;
    bool has_type = std::any_of(h.begin(), h.end(), [](const auto& kv) { return lower(kv.first) == "content-type"; });
    if (!has_type) h.emplace_back("Content-Type", "application/json");
    reply r = make_reply(http_request(port_, method, target, body, h));
    check_response(r, describe(method, target) + " body=" + body.substr(0, 80));
    return r;
}

// --- the SMTP sink ---------------------------------------------------------------

namespace {

struct message_info {
    std::string to;       // X-Sink-Envelope-To and To, lower-cased
    std::string subject;  // lower-cased
    std::string text;     // whole message
};

std::mutex cache_mu;
std::map<std::string, message_info> message_cache;  // by file name

std::string header_value(const std::string& head, const std::string& name)
{
    // Unfolded value of the first header `name` (case-insensitive).
    std::istringstream in(head);
    std::string line;
    std::string out;
    bool in_header = false;
    std::string want = lower(name) + ":";
    while (std::getline(in, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (in_header) {
            if (!line.empty() && (line[0] == ' ' || line[0] == '\t')) {
                out += line;
                continue;
            }
            break;
        }
        if (lower(line.substr(0, want.size())) == want) {
            out = line.substr(want.size());
            in_header = true;
        }
    }
    while (!out.empty() && (out.front() == ' ' || out.front() == '\t')) out.erase(0, 1);
    return out;
}

message_info read_message(const std::string& path)
{
    message_info m;
    m.text = read_file(path);
    auto end = m.text.find("\r\n\r\n");
    if (end == std::string::npos) end = m.text.find("\n\n");
    std::string head = m.text.substr(0, end);
    m.to = lower(header_value(head, "X-Sink-Envelope-To") + " " + header_value(head, "To"));
    m.subject = lower(header_value(head, "Subject"));
    return m;
}

}  // namespace

mailbox::mailbox(std::string address) : address_(lower(std::move(address))) {}

std::vector<std::pair<std::string, std::string>> mailbox::scan(const std::string& subject_part)
{
    namespace fs = std::filesystem;
    std::string dir = require_env("PORTCULLIS_TEST_SMTP_DIR");
    std::vector<std::string> names;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
        std::string name = e.path().filename().string();
        if (name.size() > 4 && name.compare(name.size() - 4, 4, ".eml") == 0 && name[0] != '.') names.push_back(name);
    }
    // <unix-ms>-<pid>-<n>.eml: numeric order of the prefix is arrival order.
    std::sort(names.begin(), names.end(), [](const std::string& a, const std::string& b) {
        auto ka = std::stoull(a.substr(0, a.find('-')));
        auto kb = std::stoull(b.substr(0, b.find('-')));
        return ka != kb ? ka < kb : a < b;
    });
    std::vector<std::pair<std::string, std::string>> out;
    std::string want_subject = lower(subject_part);
    for (const auto& name : names) {
        if (seen_.count(name) != 0) continue;
        message_info info;
        {
            std::lock_guard lock(cache_mu);
            auto it = message_cache.find(name);
            if (it == message_cache.end()) it = message_cache.emplace(name, read_message(dir + "/" + name)).first;
            info = it->second;
        }
        // Exact address match among the comma-separated recipients.
        bool to_me = false;
        std::string to = info.to;
        for (char& ch : to) {
            if (ch == ',' || ch == '<' || ch == '>' || ch == ' ') ch = ' ';
        }
        std::istringstream words(to);
        std::string w;
        while (words >> w) to_me = to_me || w == address_;
        if (!to_me || info.subject.find(want_subject) == std::string::npos) continue;
        out.emplace_back(name, info.text);
    }
    return out;
}

std::string mailbox::next_message(const std::string& subject_part, std::chrono::milliseconds timeout)
{
    auto until = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        auto found = scan(subject_part);
        if (!found.empty()) {
            seen_.insert(found.front().first);
            return found.front().second;
        }
        if (std::chrono::steady_clock::now() > until) {
            throw std::runtime_error("no message '" + subject_part + "' arrived for " + address_);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
}

std::string mailbox::next_code(const std::string& subject_part, std::chrono::milliseconds timeout)
{
    std::string msg = next_message(subject_part, timeout);
    auto code = standalone_code(text_plain_part(msg));
    if (!code) throw std::runtime_error("no 6-digit code in the text/plain part of:\n" + msg);
    return *code;
}

int mailbox::unseen(const std::string& subject_part)
{
    return static_cast<int>(scan(subject_part).size());
}

std::string text_plain_part(const std::string& message)
{
    // Find the part whose headers say text/plain (or the message itself when it is
    // not multipart), then decode its transfer encoding.
    std::string low = lower(message);
    std::size_t type_at = low.find("content-type: text/plain");
    if (type_at == std::string::npos) throw std::runtime_error("no text/plain part");
    // The part's headers start after the previous blank line or boundary line.
    std::size_t head_start = low.rfind("\n--", type_at);
    head_start = head_start == std::string::npos ? 0 : head_start;
    std::size_t body_start = low.find("\r\n\r\n", type_at);
    std::size_t sep = 4;
    if (body_start == std::string::npos) {
        body_start = low.find("\n\n", type_at);
        sep = 2;
    }
    if (body_start == std::string::npos) throw std::runtime_error("text/plain part without a body");
    std::string part_head = low.substr(head_start, body_start - head_start);
    body_start += sep;
    std::size_t body_end = message.find("\n--", body_start);
    std::string body =
        message.substr(body_start, body_end == std::string::npos ? std::string::npos : body_end - body_start);
    if (part_head.find("content-transfer-encoding: quoted-printable") != std::string::npos) {
        return decode_quoted_printable(body);
    }
    if (part_head.find("content-transfer-encoding: base64") != std::string::npos) return decode_base64_lenient(body);
    return body;
}

std::optional<std::string> standalone_code(const std::string& text)
{
    static const std::regex six(R"((^|[^0-9])([0-9]{6})(?![0-9]))");
    std::smatch m;
    if (!std::regex_search(text, m, six)) return std::nullopt;
    return m[2].str();
}

// --- accounts ----------------------------------------------------------------------

namespace {
std::atomic<int> name_counter{0};
std::string unique_suffix()
{
    // pid + counter + a little time, so reruns against the same sink never collide.
    auto t = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
                 .count() %
             100000000;
    return std::to_string(::getpid()) + "x" + std::to_string(name_counter++) + "x" + std::to_string(t);
}
}  // namespace

std::string unique_email(const std::string& tag)
{
    return tag + "." + unique_suffix() + "@example.test";
}

std::string unique_username(const std::string& tag)
{
    return tag + "_" + unique_suffix();
}

account register_pending(const client& c, const std::string& tag, const std::string& password)
{
    account a{unique_email(tag), unique_username(tag), password, {}};
    auto r = c.post("/api/auth/register", {{"email", a.email}, {"username", a.username}, {"password", password}});
    REQUIRE_MESSAGE(r.status == 201, r.raw.body);
    a.id = r.body["user"]["id"].get<std::string>();
    return a;
}

account register_active(const client& c, const std::string& tag, const std::string& password)
{
    account a = register_pending(c, tag, password);
    mailbox box(a.email);
    std::string code = box.next_code(verify_subject);
    auto r = c.post("/api/auth/verify-email", {{"email", a.email}, {"otp", code}});
    REQUIRE_MESSAGE(r.status == 200, r.raw.body);
    return a;
}

session_tokens login(const client& c, const account& a, const std::string& user_agent)
{
    auto r = c.call("POST", "/api/auth/login", json{{"email", a.email}, {"password", a.password}}, {},
                    {{"User-Agent", user_agent}});
    REQUIRE_MESSAGE(r.status == 200, r.raw.body);
    return {r.body["access"].get<std::string>(), r.body["refresh"].get<std::string>(), r.body["user"]};
}

// --- JWT ---------------------------------------------------------------------------

namespace {
json segment(const std::string& token, int index)
{
    auto a = token.find('.');
    auto b = token.find('.', a + 1);
    if (a == std::string::npos || b == std::string::npos) throw std::runtime_error("not a JWT");
    std::string part = index == 0 ? token.substr(0, a) : token.substr(a + 1, b - a - 1);
    std::string bytes;
    if (!portcullis::auth::base64url_decode(part, bytes)) throw std::runtime_error("bad base64url in JWT");
    return json::parse(bytes);
}
}  // namespace

json payload_of(const std::string& token)
{
    return segment(token, 1);
}
json header_of(const std::string& token)
{
    return segment(token, 0);
}

std::string b64url(const std::string& bytes)
{
    return portcullis::auth::base64url_encode(bytes);
}

std::string jwt_key(const std::string& secret_key)
{
    return portcullis::auth::derive_subkey(secret_key, "jwt");
}

std::string sign_jwt(const json& header, const json& payload, const std::string& key, bool sha512)
{
    std::string input = b64url(header.dump()) + "." + b64url(payload.dump());
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(sha512 ? EVP_sha512() : EVP_sha256(), key.data(), static_cast<int>(key.size()),
         reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &len);
    return input + "." + b64url(std::string(reinterpret_cast<const char*>(mac), len));
}

std::int64_t unix_now()
{
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// --- a minimal RESP client (tests only) -------------------------------------------

namespace {

class resp_client {
public:
    resp_client()
    {
        std::string url = require_env("PORTCULLIS_TEST_REDIS_URL");  // redis://host:port[/db]
        std::string rest = url.substr(url.find("//") + 2);
        auto slash = rest.find('/');
        std::string hostport = rest.substr(0, slash);
        db_ = slash == std::string::npos || slash + 1 >= rest.size() ? "0" : rest.substr(slash + 1);
        auto colon = hostport.rfind(':');
        port_ = colon == std::string::npos ? 6379 : std::stoi(hostport.substr(colon + 1));
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(static_cast<std::uint16_t>(port_));
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (fd_ < 0 || ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
            throw std::runtime_error("cannot connect to the test Redis");
        }
        timeval tv{10, 0};
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        command({"SELECT", db_});
    }
    ~resp_client() { ::close(fd_); }
    resp_client(const resp_client&) = delete;
    resp_client& operator=(const resp_client&) = delete;

    // The reply flattened to its strings (integers as text, nil as nothing).
    std::vector<std::string> command(const std::vector<std::string>& args)
    {
        std::string out = "*" + std::to_string(args.size()) + "\r\n";
        for (const auto& a : args) out += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
        std::size_t off = 0;
        while (off < out.size()) {
            ssize_t n = ::send(fd_, out.data() + off, out.size() - off, MSG_NOSIGNAL);
            if (n <= 0) throw std::runtime_error("redis send failed");
            off += static_cast<std::size_t>(n);
        }
        std::vector<std::string> values;
        read_reply(values);
        return values;
    }

private:
    std::string line()
    {
        for (;;) {
            auto end = buf_.find("\r\n");
            if (end != std::string::npos) {
                std::string l = buf_.substr(0, end);
                buf_.erase(0, end + 2);
                return l;
            }
            fill();
        }
    }
    void fill()
    {
        char tmp[65536];
        ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
        if (n <= 0) throw std::runtime_error("redis read failed");
        buf_.append(tmp, static_cast<std::size_t>(n));
    }
    void read_reply(std::vector<std::string>& values)
    {
        std::string l = line();
        if (l.empty()) throw std::runtime_error("empty redis reply");
        char type = l[0];
        std::string rest = l.substr(1);
        if (type == '-') throw std::runtime_error("redis error: " + rest);
        if (type == '+' || type == ':') {
            values.push_back(rest);
        } else if (type == '$') {
            long long n = std::stoll(rest);
            if (n < 0) return;
            while (buf_.size() < static_cast<std::size_t>(n) + 2) fill();
            values.push_back(buf_.substr(0, static_cast<std::size_t>(n)));
            buf_.erase(0, static_cast<std::size_t>(n) + 2);
        } else if (type == '*') {
            long long n = std::stoll(rest);
            for (long long i = 0; i < n; ++i) read_reply(values);
        } else {
            throw std::runtime_error("unexpected redis reply: " + l);
        }
    }

    int fd_ = -1;
    int port_ = 6379;
    std::string db_;
    std::string buf_;
};

}  // namespace

std::vector<std::string> redis_command(const std::vector<std::string>& args)
{
    resp_client r;
    return r.command(args);
}

std::map<std::string, std::string> redis_dump(const std::string& prefix)
{
    resp_client r;
    std::map<std::string, std::string> out;
    for (const auto& key : r.command({"KEYS", prefix + "*"})) {
        auto type = r.command({"TYPE", key});
        std::string t = type.empty() ? "none" : type[0];
        std::vector<std::string> v;
        if (t == "string")
            v = r.command({"GET", key});
        else if (t == "hash")
            v = r.command({"HGETALL", key});
        else if (t == "list")
            v = r.command({"LRANGE", key, "0", "-1"});
        else if (t == "set")
            v = r.command({"SMEMBERS", key});
        else if (t == "zset")
            v = r.command({"ZRANGE", key, "0", "-1", "WITHSCORES"});
        else if (t == "stream")
            v = r.command({"XRANGE", key, "-", "+"});
        std::string text;
        for (const auto& s : v) text += s + "\n";
        out[key] = text;
    }
    return out;
}

std::string server_log_tail(server_fixture& srv, std::size_t bytes)
{
    std::string log = srv.proc().log();
    return log.size() > bytes ? log.substr(log.size() - bytes) : log;
}

server_fixture& shared_server()
{
    static server_fixture srv(env_map{{"RATE_LIMIT_EXEMPT", "127.0.0.1/32"}});
    return srv;
}

}  // namespace portcullis::test::auth
