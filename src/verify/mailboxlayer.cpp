#include "verify/mailboxlayer.hpp"

#include "auth/validation.hpp"
#include "core/log.hpp"
#include "core/percent.hpp"
#include "core/timeout.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <boost/url/parse.hpp>

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <atomic>
#include <stdexcept>

#ifndef PORTCULLIS_VERSION
#define PORTCULLIS_VERSION "dev"
#endif

namespace portcullis::verify {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using core::errc;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t max_body = 64 * 1024;

const boost::json::value* field(const boost::json::object& o, std::string_view key)
{
    auto it = o.find(key);
    return it == o.end() ? nullptr : &it->value();
}

// A boolean member: its value, or `fallback` when absent or null; nullopt when of another type.
std::optional<bool> flag(const boost::json::object& o, std::string_view key, std::optional<bool> fallback)
{
    const auto* v = field(o, key);
    if (v == nullptr || v->is_null()) return fallback;
    if (!v->is_bool()) return std::nullopt;
    return v->as_bool();
}

error_code failed()
{
    return make_error_code(errc::dependency_failed);
}

error_code network_error(const error_code& ec)
{
    return ec == beast::error::timeout ? make_error_code(errc::timeout) : failed();
}

// Sends `req` and reads the answer on an open stream (plain or TLS).
template <class Stream>
asio::awaitable<core::result<http::response<http::string_body>>> async_exchange(
    Stream& s, const http::request<http::empty_body>& req)
{
    auto [wec, written] = co_await http::async_write(s, req, use_tuple);
    if (wec) co_return network_error(wec);
    beast::flat_buffer buf;
    http::response_parser<http::string_body> parser;
    parser.header_limit(16 * 1024);
    parser.body_limit(max_body);
    auto [rec, read] = co_await http::async_read(s, buf, parser, use_tuple);
    if (rec) co_return network_error(rec);
    co_return parser.release();
}

}  // namespace

core::result<auth::address_verdict> read_mailboxlayer_answer(std::string_view body)
{
    error_code ec;
    boost::json::value v = boost::json::parse(body, ec);
    if (ec || !v.is_object()) return failed();
    const auto& o = v.as_object();

    if (const auto* err = field(o, "error"); err != nullptr || flag(o, "success", true) == false) {
        std::string type = "unknown";
        std::int64_t code = 0;
        if (err != nullptr && err->is_object()) {
            const auto& e = err->as_object();
            if (const auto* t = field(e, "type"); t != nullptr && t->is_string()) type = std::string(t->as_string());
            if (const auto* c = field(e, "code"); c != nullptr && c->is_int64()) code = c->as_int64();
        }
        core::log::warn("mailboxlayer_error", {{"type", type}, {"code", code}});
        return failed();
    }

    auto format_valid = flag(o, "format_valid", std::nullopt);
    auto mx_found = flag(o, "mx_found", std::nullopt);
    // smtp_check is absent when the plan or the request skips the SMTP probe; null when
    // the probe had no answer. Neither refuses the address.
    auto smtp_check = flag(o, "smtp_check", true);
    auto disposable = flag(o, "disposable", false);
    if (!format_valid || !mx_found || !smtp_check || !disposable) return failed();

    auth::address_verdict v2;
    if (!*format_valid) {
        v2 = {false, "This e-mail address is not valid."};
    } else if (*disposable) {
        v2 = {false, "Disposable e-mail addresses are not accepted."};
    } else if (!*mx_found) {
        v2 = {false, "The domain of this address does not receive mail."};
    } else if (!*smtp_check) {
        v2 = {false, "This mailbox does not exist."};
    }
    if (!v2.accepted) {
        // Only a well-formed address is repeated to the client, never other remote text.
        if (const auto* dym = field(o, "did_you_mean");
            dym != nullptr && dym->is_string() && !dym->as_string().empty()) {
            auto suggestion = auth::normalize_email(std::string_view(dym->as_string()));
            if (suggestion.ok() && suggestion.value == std::string_view(dym->as_string())) {
                v2.reason += " Did you mean " + suggestion.value + "?";
            }
        }
    }
    return v2;
}

struct mailboxlayer_client::impl {
    mailboxlayer_settings s;
    bool tls = true;
    std::string host;         // name or address literal, without brackets
    std::string host_header;  // as it goes in Host:
    std::uint16_t port = 443;
    std::string path;
    std::optional<asio::ip::address> literal;
    asio::ssl::context ctx{asio::ssl::context::tls_client};
    std::atomic<std::size_t> requests{0};

    explicit impl(mailboxlayer_settings settings) : s(std::move(settings))
    {
        auto parsed = boost::urls::parse_absolute_uri(s.url);
        if (!parsed) throw std::invalid_argument("MAILBOXLAYER_URL: not an absolute URL");
        const auto& u = *parsed;
        if (u.scheme() == "https") {
            tls = true;
        } else if (u.scheme() == "http") {
            tls = false;
        } else {
            throw std::invalid_argument("MAILBOXLAYER_URL: the scheme must be https (or http)");
        }
        if (u.has_userinfo() || u.has_query() || u.has_fragment()) {
            throw std::invalid_argument("MAILBOXLAYER_URL: give scheme, host, port and path only");
        }
        host = u.host_address();
        if (host.empty()) throw std::invalid_argument("MAILBOXLAYER_URL: the host is missing");
        port = u.has_port() ? u.port_number() : (tls ? 443 : 80);
        if (port == 0) throw std::invalid_argument("MAILBOXLAYER_URL: bad port");
        host_header = std::string(u.encoded_host_and_port());
        path = u.encoded_path().empty() ? "/" : std::string(u.encoded_path());
        error_code ec;
        auto addr = asio::ip::make_address(host, ec);
        if (!ec) literal = addr;

        ctx.set_verify_mode(asio::ssl::verify_peer);
        if (s.ca_file.empty()) {
            ctx.set_default_verify_paths(ec);
        } else {
            ctx.load_verify_file(s.ca_file, ec);
        }
        if (ec) throw std::invalid_argument("MAILBOXLAYER_CA_FILE: cannot load the CA certificates");
    }

    // The request target. Everything but RFC 3986's unreserved characters is
    // percent-encoded: the API reads '+' in a query as a space.
    std::string target_for(const std::string& email) const
    {
        return path + "?access_key=" + core::percent_encode(s.access_key) + "&email=" + core::percent_encode(email) +
               "&smtp=1";
    }

    // TLS with SNI and a check of the certificate against the host name (or address).
    bool prepare(SSL* ssl) const
    {
        X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
        if (literal) return X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str()) == 1;
        X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        return SSL_set_tlsext_host_name(ssl, host.c_str()) == 1 && SSL_set1_host(ssl, host.c_str()) == 1;
    }
};

mailboxlayer_client::mailboxlayer_client(mailboxlayer_settings s) : impl_(std::make_unique<impl>(std::move(s))) {}

mailboxlayer_client::~mailboxlayer_client() = default;

std::size_t mailboxlayer_client::requests() const noexcept
{
    return impl_->requests.load();
}

asio::awaitable<core::result<auth::address_verdict>> mailboxlayer_client::async_check(std::string email,
                                                                                      core::deadline d)
{
    impl& m = *impl_;
    auto deadline = core::steady_clock::now() + core::budget(d, m.s.timeout);
    auto ex = co_await asio::this_coro::executor;

    std::vector<tcp::endpoint> endpoints;
    if (m.literal) {
        endpoints.emplace_back(*m.literal, m.port);
    } else {
        dns_settings ds = m.s.dns;
        ds.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(core::remaining(deadline));
        auto addrs = co_await async_resolve_host(m.host, ds);
        if (!addrs) co_return addrs.error();
        for (const auto& a : *addrs) endpoints.emplace_back(a, m.port);
    }

    beast::tcp_stream tcp_stream(ex);
    tcp_stream.expires_at(deadline);
    auto [cec, ep] = co_await tcp_stream.async_connect(endpoints, use_tuple);
    if (cec) co_return network_error(cec);

    http::request<http::empty_body> req{http::verb::get, m.target_for(email), 11};
    req.set(http::field::host, m.host_header);
    req.set(http::field::user_agent, "portcullis/" PORTCULLIS_VERSION);
    req.set(http::field::accept, "application/json");
    req.set(http::field::connection, "close");
    ++m.requests;

    core::result<http::response<http::string_body>> res = failed();
    if (m.tls) {
        asio::ssl::stream<beast::tcp_stream> tls(std::move(tcp_stream), m.ctx);
        if (!m.prepare(tls.native_handle())) co_return failed();
        auto [hec] = co_await tls.async_handshake(asio::ssl::stream_base::client, use_tuple);
        if (hec) {
            long verify = SSL_get_verify_result(tls.native_handle());
            if (verify != X509_V_OK) {
                core::log::error("mailboxlayer_tls_verify_failed",
                                 {{"host", m.host}, {"reason", X509_verify_cert_error_string(verify)}});
            }
            co_return network_error(hec);
        }
        res = co_await async_exchange(tls, req);
    } else {
        res = co_await async_exchange(tcp_stream, req);
    }
    if (!res) co_return res.error();
    if (res->result() != http::status::ok) {
        core::log::warn("mailboxlayer_status", {{"status", static_cast<unsigned>(res->result_int())}});
        co_return failed();
    }
    co_return read_mailboxlayer_answer(res->body());
}

}  // namespace portcullis::verify
