#include "app/webhooks.hpp"

#include "app/config.hpp"
#include "core/log.hpp"
#include "core/random.hpp"
#include "core/spawn.hpp"
#include "core/text.hpp"
#include "verify/dns.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/url/parse.hpp>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <optional>

namespace portcullis::app {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using asio::ip::tcp;
using boost::system::error_code;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t max_pending = 10'000;  // job arguments waiting for Redis, per I/O thread
constexpr std::size_t max_answer = 64 * 1024;

// A receiver's address, taken apart.
struct target {
    bool tls = true;
    std::string host;         // name or address literal, without brackets
    std::string host_header;  // as it goes in Host:
    std::uint16_t port = 443;
    std::string path;  // with its query
    std::optional<asio::ip::address> literal;
};

std::optional<target> parse_target(std::string_view url, bool allow_http, std::string& why)
{
    auto parsed = boost::urls::parse_absolute_uri(url);
    if (!parsed) {
        why = "not an absolute URL";
        return std::nullopt;
    }
    const auto& u = *parsed;
    target t;
    if (u.scheme() == "https") {
        t.tls = true;
    } else if (u.scheme() == "http" && allow_http) {
        t.tls = false;
    } else {
        why = allow_http ? "the scheme must be https or http"
                         : "the scheme must be https (WEBHOOK_ALLOW_HTTP=true allows http)";
        return std::nullopt;
    }
    if (u.has_userinfo() || u.has_fragment()) {
        why = "give no user information and no fragment";
        return std::nullopt;
    }
    t.host = u.host_address();
    if (t.host.empty()) {
        why = "the host is missing";
        return std::nullopt;
    }
    t.port = u.has_port() ? u.port_number() : (t.tls ? 443 : 80);
    if (t.port == 0) {
        why = "bad port";
        return std::nullopt;
    }
    t.host_header = std::string(u.encoded_host_and_port());
    t.path = u.encoded_path().empty() ? "/" : std::string(u.encoded_path());
    if (u.has_query()) t.path += "?" + std::string(u.encoded_query());
    error_code ec;
    auto addr = asio::ip::make_address(t.host, ec);
    if (!ec) t.literal = addr;
    return t;
}

error_code failed()
{
    return make_error_code(core::errc::dependency_failed);
}

error_code network_error(const error_code& ec)
{
    return ec == beast::error::timeout ? make_error_code(core::errc::timeout) : failed();
}

template <class Stream>
asio::awaitable<core::result<unsigned>> async_post(Stream& s, const http::request<http::string_body>& req)
{
    auto [wec, written] = co_await http::async_write(s, req, use_tuple);
    (void)written;
    if (wec) co_return network_error(wec);
    beast::flat_buffer buf;
    http::response_parser<http::string_body> parser;
    parser.body_limit(max_answer);
    auto [rec, read] = co_await http::async_read(s, buf, parser, use_tuple);
    (void)read;
    if (rec) co_return network_error(rec);
    co_return parser.get().result_int();
}

}  // namespace

std::vector<std::string> validate(const webhook_settings& s)
{
    std::vector<std::string> out;
    if (!s.enabled()) return out;
    for (const auto& url : s.urls) {
        std::string why;
        if (!parse_target(url, s.allow_http, why)) out.push_back("WEBHOOK_URL: " + url + ": " + why);
    }
    if (s.secret.empty()) out.push_back("WEBHOOK_SECRET: required with WEBHOOK_URL (whsec_ and base64 key bytes)");
    return out;
}

std::string webhook_signature(std::string_view key, std::string_view id, std::int64_t timestamp, std::string_view body)
{
    std::string content;
    content.reserve(id.size() + body.size() + 24);
    content.append(id).append(".").append(std::to_string(timestamp)).append(".").append(body);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(content.data()),
         content.size(), mac, &len);
    return "v1," + core::base64_encode(std::string_view(reinterpret_cast<const char*>(mac), len));
}

std::string webhook_payload(const auth::security_event& e)
{
    json::object data;
    data["user_id"] = e.user_id ? json::value(std::to_string(*e.user_id)) : json::value(nullptr);
    if (e.actor_id) data["actor_id"] = std::to_string(*e.actor_id);
    if (!e.session_id.empty()) data["session_id"] = e.session_id;
    if (!e.reason.empty()) data["reason"] = e.reason;
    if (!e.meta.ip.empty()) data["ip"] = e.meta.ip;
    if (!e.meta.request_id.empty()) data["request_id"] = e.meta.request_id;
    json::object o;
    o["type"] = e.type;
    o["timestamp"] = core::format_rfc3339(e.at);
    o["data"] = std::move(data);
    return json::serialize(o);
}

// --- producing ----------------------------------------------------------------------

webhook_sink::webhook_sink(asio::any_io_executor ex, jobs::enqueuer& jobs, const webhook_settings& s,
                           webhook_counters& counters)
    : ex_(std::move(ex)), jobs_(jobs), settings_(s), counters_(counters)
{
}

void webhook_sink::record(auth::security_event e) noexcept
{
    if (std::find(settings_.events.begin(), settings_.events.end(), e.type) == settings_.events.end()) return;
    try {
        // One id for every URL and attempt: receivers deduplicate by it.
        const std::string id = "msg_" + core::random_token(18);
        const std::string body = webhook_payload(e);
        for (const auto& url : settings_.urls) {
            if (pending_.size() >= max_pending) {
                counters_.enqueue_failed.fetch_add(1, std::memory_order_relaxed);
                continue;
            }
            json::object args;
            args["url"] = url;
            args["id"] = id;
            args["body"] = body;
            pending_.push_back(json::serialize(args));
        }
        if (!draining_ && !pending_.empty()) {
            draining_ = true;
            asio::co_spawn(ex_, async_drain(), core::log_escape{"webhook_enqueue"});
        }
    } catch (...) {
        counters_.enqueue_failed.fetch_add(1, std::memory_order_relaxed);
    }
}

asio::awaitable<void> webhook_sink::async_drain()
{
    jobs::enqueue_options opts;
    opts.max_retries = settings_.max_retries;
    opts.backoff_cap = settings_.backoff_cap;
    while (!pending_.empty()) {
        std::string args = std::move(pending_.front());
        pending_.pop_front();
        auto d = core::steady_clock::now() + std::chrono::seconds(5);
        auto id = co_await jobs_.async_enqueue("deliver_webhook", args, opts, d);
        if (id) {
            counters_.queued.fetch_add(1, std::memory_order_relaxed);
        } else {
            counters_.enqueue_failed.fetch_add(1, std::memory_order_relaxed);
            core::log::warn("webhook_enqueue_failed", {{"error", id.error().message()}});
        }
    }
    draining_ = false;
}

void tee_sink::record(auth::security_event e) noexcept
{
    if (second_ != nullptr) {
        try {
            second_->record(e);
        } catch (...) {
        }
    }
    if (first_ != nullptr) first_->record(std::move(e));
}

// --- delivering ---------------------------------------------------------------------

struct webhook_task::impl {
    const webhook_settings& s;
    asio::ssl::context ctx{asio::ssl::context::tls_client};

    explicit impl(const webhook_settings& settings) : s(settings)
    {
        ctx.set_verify_mode(asio::ssl::verify_peer);
        error_code ec;
        if (s.ca_file.empty()) {
            ctx.set_default_verify_paths(ec);
        } else {
            ctx.load_verify_file(s.ca_file, ec);
        }
        if (ec) throw config_error("WEBHOOK_CA_FILE: cannot load the CA certificates\n");
    }

    // SNI, and the certificate checked against the host name (or address).
    static bool prepare(SSL* ssl, const target& t)
    {
        X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
        if (t.literal) return X509_VERIFY_PARAM_set1_ip_asc(param, t.host.c_str()) == 1;
        X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        return SSL_set_tlsext_host_name(ssl, t.host.c_str()) == 1 && SSL_set1_host(ssl, t.host.c_str()) == 1;
    }
};

webhook_task::webhook_task(const webhook_settings& s) : impl_(std::make_unique<impl>(s)) {}

webhook_task::~webhook_task() = default;

void webhook_task::register_with(jobs::registry& tasks)
{
    impl* self = impl_.get();
    jobs::task_options opts;
    opts.timeout = self->s.timeout + std::chrono::seconds(5);
    tasks.add(
        "deliver_webhook", [self](const jobs::job& j) { return async_handle(self, j); }, opts);
}

asio::awaitable<core::result<void>> webhook_task::async_handle(impl* self, const jobs::job& j)
{
    const auto deadline = core::steady_clock::now() + self->s.timeout;
    error_code ec;
    json::value args = json::parse(j.args, ec);
    const json::object* o = args.if_object();
    const json::value* url = o != nullptr ? o->if_contains("url") : nullptr;
    const json::value* id = o != nullptr ? o->if_contains("id") : nullptr;
    const json::value* body = o != nullptr ? o->if_contains("body") : nullptr;
    if (ec || url == nullptr || !url->is_string() || id == nullptr || !id->is_string() || body == nullptr ||
        !body->is_string()) {
        j.set_error_detail("url, id and body are required strings");
        co_return make_error_code(core::errc::validation_failed);
    }
    std::string why;
    auto t = parse_target(url->as_string(), self->s.allow_http, why);
    if (!t) {
        j.set_error_detail("bad URL: " + why);
        co_return make_error_code(core::errc::validation_failed);
    }

    std::vector<tcp::endpoint> endpoints;
    if (t->literal) {
        endpoints.emplace_back(*t->literal, t->port);
    } else {
        verify::dns_settings ds;
        ds.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(core::remaining(deadline));
        auto addrs = co_await verify::async_resolve_host(t->host, ds);
        if (!addrs) {
            j.set_error_detail("cannot resolve " + t->host);
            co_return addrs.error();
        }
        for (const auto& a : *addrs) endpoints.emplace_back(a, t->port);
    }

    // The timestamp of this attempt: receivers refuse old ones, so each retry signs anew.
    const std::int64_t now = core::to_unix(std::chrono::system_clock::now());
    const std::string msg_id(id->as_string());
    http::request<http::string_body> req{http::verb::post, t->path, 11};
    req.set(http::field::host, t->host_header);
    req.set(http::field::user_agent, "portcullis/" PORTCULLIS_VERSION);
    req.set(http::field::content_type, "application/json");
    req.set(http::field::connection, "close");
    req.set("webhook-id", msg_id);
    req.set("webhook-timestamp", std::to_string(now));
    req.set("webhook-signature", webhook_signature(self->s.secret, msg_id, now, body->as_string()));
    req.body() = std::string(body->as_string());
    req.prepare_payload();

    auto ex = co_await asio::this_coro::executor;
    beast::tcp_stream tcp_stream(ex);
    tcp_stream.expires_at(deadline);
    auto [cec, ep] = co_await tcp_stream.async_connect(endpoints, use_tuple);
    (void)ep;
    if (cec) {
        j.set_error_detail("cannot connect to " + t->host_header);
        co_return network_error(cec);
    }
    core::result<unsigned> status = failed();
    if (t->tls) {
        asio::ssl::stream<beast::tcp_stream> tls(std::move(tcp_stream), self->ctx);
        if (!impl::prepare(tls.native_handle(), *t)) co_return failed();
        auto [hec] = co_await tls.async_handshake(asio::ssl::stream_base::client, use_tuple);
        if (hec) {
            long verify = SSL_get_verify_result(tls.native_handle());
            j.set_error_detail(verify != X509_V_OK ? std::string("TLS: ") + X509_verify_cert_error_string(verify)
                                                   : std::string("TLS handshake failed"));
            co_return network_error(hec);
        }
        status = co_await async_post(tls, req);
    } else {
        status = co_await async_post(tcp_stream, req);
    }
    if (!status) {
        j.set_error_detail("no answer from " + t->host_header);
        co_return status.error();
    }
    if (*status < 200 || *status > 299) {
        j.set_error_detail("status " + std::to_string(*status) + " from " + t->host_header);
        co_return make_error_code(core::errc::dependency_failed);
    }
    co_return core::result<void>{};
}

}  // namespace portcullis::app
