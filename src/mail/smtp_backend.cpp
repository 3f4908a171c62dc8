#include "mail/smtp_backend.hpp"

#include "core/error.hpp"
#include "core/log.hpp"
#include "mail/encoding.hpp"
#include "mail/smtp_protocol.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/host_name.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <array>
#include <deque>
#include <stdexcept>
#include <tuple>
#include <vector>

namespace portcullis::mail {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using core::errc;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// One SMTP session: the socket (TLS-capable from the start, so STARTTLS can upgrade it in
// place), the bytes received and the dialogue state.
struct connection {
    connection(const asio::any_io_executor& ex, asio::ssl::context& ctx, smtp::dialogue_options o)
        : stream(ex, ctx), fsm(std::move(o))
    {
    }

    void close() noexcept
    {
        error_code ignored;
        stream.next_layer().shutdown(tcp::socket::shutdown_both, ignored);
        stream.next_layer().close(ignored);
        broken = true;
    }

    asio::ssl::stream<tcp::socket> stream;
    smtp::reply_reader reader;
    smtp::dialogue fsm;
    bool tls = false;     // bytes go through the TLS layer
    bool broken = false;  // closed after an error: never reuse
    core::steady_clock::time_point last_used{};
};

send_result transient(std::string detail)
{
    return {core::make_error_code(errc::smtp_unavailable), {}, std::move(detail)};
}

send_result permanent(std::string detail)
{
    return {core::make_error_code(errc::smtp_rejected), {}, std::move(detail)};
}

asio::awaitable<core::result<std::size_t>> async_write_raw(connection& c, std::string_view data)
{
    std::tuple<error_code, std::size_t> r;
    if (c.tls) {
        r = co_await asio::async_write(c.stream, asio::buffer(data), use_tuple);
    } else {
        r = co_await asio::async_write(c.stream.next_layer(), asio::buffer(data), use_tuple);
    }
    if (std::get<0>(r)) co_return std::get<0>(r);
    co_return std::get<1>(r);
}

asio::awaitable<core::result<smtp::reply>> async_read_reply_raw(connection& c)
{
    std::array<char, 4096> buf;
    for (;;) {
        smtp::reply r;
        auto st = c.reader.next(r);
        if (st == smtp::reply_reader::status::ready) co_return r;
        if (st == smtp::reply_reader::status::malformed) {
            co_return make_error_code(boost::system::errc::protocol_error);
        }
        std::tuple<error_code, std::size_t> got;
        if (c.tls) {
            got = co_await c.stream.async_read_some(asio::buffer(buf), use_tuple);
        } else {
            got = co_await c.stream.next_layer().async_read_some(asio::buffer(buf), use_tuple);
        }
        if (std::get<0>(got)) co_return std::get<0>(got);
        c.reader.feed(std::string_view(buf.data(), std::get<1>(got)));
    }
}

asio::awaitable<core::result<void>> async_handshake_raw(connection& c)
{
    auto [ec] = co_await c.stream.async_handshake(asio::ssl::stream_base::client, use_tuple);
    if (ec) co_return ec;
    co_return core::result<void>{};
}

asio::awaitable<core::result<tcp::resolver::results_type>> async_resolve_raw(asio::any_io_executor ex, std::string host,
                                                                             std::string port)
{
    tcp::resolver resolver(ex);
    auto [ec, results] = co_await resolver.async_resolve(host, port, use_tuple);
    if (ec) co_return ec;
    co_return results;
}

asio::awaitable<core::result<void>> async_connect_raw(tcp::socket& s, tcp::endpoint ep)
{
    auto [ec] = co_await s.async_connect(ep, use_tuple);
    if (ec) co_return ec;
    co_return core::result<void>{};
}

std::string describe_io_error(const error_code& ec)
{
    if (ec == core::make_error_code(errc::timeout)) return "timed out";
    if (ec == asio::error::eof) return "connection closed by the server";
    return ec.message();
}

}  // namespace

namespace detail {

struct smtp_pool {
    smtp_pool(asio::any_io_executor ex, settings s);

    asio::awaitable<send_result> async_send(message m, core::deadline dl);
    asio::awaitable<void> async_close(core::deadline dl);

    // Bounded number of connections in use: a waiter queue, FIFO, woken by release().
    struct waiter {
        asio::steady_timer* timer;
        bool granted = false;
    };
    asio::awaitable<bool> async_acquire(core::deadline dl);
    void release() noexcept;

    std::unique_ptr<connection> make_connection();
    std::unique_ptr<connection> take_idle();
    asio::awaitable<send_result> async_open(connection& c, core::deadline dl);
    asio::awaitable<send_result> async_tls_handshake(connection& c, core::deadline dl);
    asio::awaitable<send_result> async_drive(connection& c, smtp::action a, std::string_view body, core::deadline dl);
    send_result lost(connection& c, const error_code& ec, std::string what);
    core::steady_clock::duration step(core::deadline dl) const { return core::budget(dl, s_.timeout); }

    asio::any_io_executor ex_;
    settings s_;
    asio::ssl::context tls_ctx_;
    smtp::dialogue_options dialogue_opts_;
    std::vector<std::unique_ptr<connection>> idle_;
    std::deque<waiter*> waiters_;
    std::size_t in_use_ = 0;
    std::size_t opened_ = 0;
};

namespace {

asio::ssl::context make_tls_context(const settings& s)
{
    asio::ssl::context ctx(asio::ssl::context::tls_client);
    SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION);
    ctx.set_verify_mode(asio::ssl::verify_peer);
    error_code ec;
    if (s.ca_file.empty()) {
        ctx.set_default_verify_paths(ec);
        if (ec) throw std::runtime_error("cannot load the system CA store for SMTP TLS: " + ec.message());
    } else {
        ctx.load_verify_file(s.ca_file.string(), ec);
        if (ec) throw std::runtime_error("EMAIL_CA_FILE " + s.ca_file.string() + " cannot be loaded: " + ec.message());
    }
    return ctx;
}

}  // namespace

smtp_pool::smtp_pool(asio::any_io_executor ex, settings s)
    : ex_(std::move(ex)), s_(std::move(s)), tls_ctx_(make_tls_context(s_))
{
    dialogue_opts_.helo_name = s_.helo_name.empty() ? asio::ip::host_name() : s_.helo_name;
    dialogue_opts_.tls =
        s_.use_ssl ? smtp::tls_mode::implicit : (s_.use_tls ? smtp::tls_mode::starttls : smtp::tls_mode::none);
    dialogue_opts_.username = s_.username;
    dialogue_opts_.password = s_.password;
    dialogue_opts_.allow_plaintext_auth = s_.allow_plaintext_auth;
}

asio::awaitable<bool> smtp_pool::async_acquire(core::deadline dl)
{
    if (in_use_ < s_.max_connections && waiters_.empty()) {
        ++in_use_;
        co_return true;
    }
    asio::steady_timer timer(ex_, step(dl));
    waiter w{&timer};
    waiters_.push_back(&w);
    (void)co_await timer.async_wait(use_tuple);
    // `granted` decides, not the wait's error: release() may hand over the slot just as the
    // timer expires.
    if (!w.granted) std::erase(waiters_, &w);
    co_return w.granted;
}

void smtp_pool::release() noexcept
{
    if (!waiters_.empty()) {
        waiter* w = waiters_.front();
        waiters_.pop_front();
        w->granted = true;
        w->timer->cancel();
        return;
    }
    --in_use_;
}

std::unique_ptr<connection> smtp_pool::make_connection()
{
    auto c = std::make_unique<connection>(ex_, tls_ctx_, dialogue_opts_);
    SSL* ssl = c->stream.native_handle();
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    // Check the certificate against the configured host: an IP address against its IP SANs,
    // a name against its DNS SANs (and send it as SNI).
    error_code ec;
    (void)asio::ip::make_address(s_.host, ec);
    if (!ec) {
        X509_VERIFY_PARAM_set1_ip_asc(param, s_.host.c_str());
    } else {
        SSL_set_tlsext_host_name(ssl, s_.host.c_str());
        SSL_set1_host(ssl, s_.host.c_str());
    }
    return c;
}

std::unique_ptr<connection> smtp_pool::take_idle()
{
    const auto now = core::steady_clock::now();
    while (!idle_.empty()) {
        std::unique_ptr<connection> c = std::move(idle_.back());
        idle_.pop_back();
        // Servers drop idle sessions after a while; replacing an old one is cheaper than a failed RSET.
        if (now - c->last_used <= s_.max_idle) return c;
        c->close();
    }
    return nullptr;
}

send_result smtp_pool::lost(connection& c, const error_code& ec, std::string what)
{
    c.close();
    return transient(what + ": " + describe_io_error(ec));
}

asio::awaitable<send_result> smtp_pool::async_drive(connection& c, smtp::action a, std::string_view body,
                                                    core::deadline dl)
{
    for (;;) {
        switch (a.what) {
        case smtp::action::kind::write_line:
        case smtp::action::kind::write_body: {
            std::string_view out = a.what == smtp::action::kind::write_line ? std::string_view(a.line) : body;
            auto w = co_await core::async_with_timeout(async_write_raw(c, out), step(dl));
            if (!w) co_return lost(c, w.error(), "sending " + std::string(c.fsm.step_name()));
            a.what = smtp::action::kind::read_reply;
            break;
        }
        case smtp::action::kind::read_reply: {
            auto r = co_await core::async_with_timeout(async_read_reply_raw(c), step(dl));
            if (!r) co_return lost(c, r.error(), "waiting for the reply to " + std::string(c.fsm.step_name()));
            a = c.fsm.on_reply(*r);
            break;
        }
        case smtp::action::kind::start_tls: {
            // Bytes that arrived with the STARTTLS reply were sent in clear text and could be
            // injected by an attacker (CVE-2011-0411 style): refuse them.
            if (c.reader.buffered() > 0) {
                c.close();
                co_return transient("server sent data after its STARTTLS reply");
            }
            send_result h = co_await async_tls_handshake(c, dl);
            if (!h.ok()) co_return h;
            a = c.fsm.on_tls_established();
            break;
        }
        case smtp::action::kind::ready:
            co_return send_result{};
        case smtp::action::kind::closed:
            c.close();
            co_return send_result{};
        case smtp::action::kind::failed:
            if (!a.error.connection_usable) c.close();
            co_return send_result{a.error.ec, std::move(a.error.server_reply), std::move(a.error.detail)};
        }
    }
}

asio::awaitable<send_result> smtp_pool::async_open(connection& c, core::deadline dl)
{
    ++opened_;
    auto endpoints =
        co_await core::async_with_timeout(async_resolve_raw(ex_, s_.host, std::to_string(s_.port)), step(dl));
    if (!endpoints) co_return transient("cannot resolve " + s_.host + ": " + describe_io_error(endpoints.error()));
    error_code last = asio::error::host_not_found;
    bool connected = false;
    for (const auto& entry : *endpoints) {
        auto r =
            co_await core::async_with_timeout(async_connect_raw(c.stream.next_layer(), entry.endpoint()), step(dl));
        if (r) {
            connected = true;
            break;
        }
        last = r.error();
        error_code ignored;
        c.stream.next_layer().close(ignored);
    }
    if (!connected) {
        c.broken = true;
        co_return transient("cannot connect to " + s_.host + ":" + std::to_string(s_.port) + ": " +
                            describe_io_error(last));
    }
    error_code ignored;
    c.stream.next_layer().set_option(tcp::no_delay(true), ignored);
    if (s_.use_ssl) {
        send_result h = co_await async_tls_handshake(c, dl);
        if (!h.ok()) co_return h;
    }
    core::log::debug("smtp_connected", {{"host", s_.host}, {"port", static_cast<unsigned>(s_.port)}, {"tls", c.tls}});
    co_return co_await async_drive(c, c.fsm.start(), {}, dl);
}

asio::awaitable<send_result> smtp_pool::async_tls_handshake(connection& c, core::deadline dl)
{
    auto h = co_await core::async_with_timeout(async_handshake_raw(c), step(dl));
    if (!h) {
        // A certificate that does not verify is reported as transient, not permanent:
        // it is usually a configuration or renewal problem that an operator fixes, and the
        // job then goes through on a later attempt instead of being dead-lettered at once.
        long verify = SSL_get_verify_result(c.stream.native_handle());
        if (verify != X509_V_OK) {
            std::string why = X509_verify_cert_error_string(verify);
            core::log::error("smtp_tls_verify_failed", {{"host", s_.host}, {"reason", why}});
            c.close();
            co_return transient("TLS certificate verification failed for " + s_.host + ": " + why);
        }
        co_return lost(c, h.error(), "TLS handshake");
    }
    c.tls = true;
    co_return send_result{};
}

asio::awaitable<send_result> smtp_pool::async_send(message m, core::deadline dl)
{
    if (!valid_address(m.from.address)) co_return permanent("invalid sender address");
    smtp::envelope env;
    env.from = m.from.address;
    for (const mailbox& r : m.to) {
        if (!valid_address(r.address)) co_return permanent("invalid recipient address");
        env.to.push_back(r.address);
    }
    if (env.to.empty()) co_return permanent("message without recipients");
    const std::string id = make_message_id(m.from);
    const std::string data = dot_stuff(build_mime(m, std::chrono::system_clock::now(), id));
    env.size = data.size();

    if (!co_await async_acquire(dl)) co_return transient("no SMTP connection became free before the deadline");
    struct slot_guard {
        smtp_pool* pool;
        ~slot_guard() { pool->release(); }
    } guard{this};

    std::unique_ptr<connection> c = take_idle();
    bool reused = c != nullptr;
    for (;;) {
        if (!c) {
            c = make_connection();
            send_result opened = co_await async_open(*c, dl);
            if (!opened.ok()) co_return opened;
        }
        send_result r = co_await async_drive(*c, c->fsm.begin_message(env), data, dl);
        if (!c->broken) {
            c->last_used = core::steady_clock::now();
            idle_.push_back(std::move(c));
        } else if (reused && !c->fsm.delivery_uncertain() &&
                   core::remaining(dl) > core::steady_clock::duration::zero()) {
            // A kept connection that went stale fails at RSET or MAIL; nothing was delivered, so
            // one retry on a fresh connection is safe.
            core::log::debug("smtp_reconnect", {{"host", s_.host}, {"after", r.detail}});
            c.reset();
            reused = false;
            continue;
        }
        if (r.ok()) r.detail = id;
        co_return r;
    }
}

asio::awaitable<void> smtp_pool::async_close(core::deadline dl)
{
    std::vector<std::unique_ptr<connection>> conns = std::move(idle_);
    idle_.clear();
    for (auto& c : conns) {
        (void)co_await async_drive(*c, c->fsm.quit(), {}, dl);
        c->close();
    }
}

}  // namespace detail

smtp_backend::smtp_backend(asio::any_io_executor ex, settings s)
    : pool_(std::make_unique<detail::smtp_pool>(std::move(ex), std::move(s)))
{
}

smtp_backend::~smtp_backend() = default;

asio::awaitable<send_result> smtp_backend::async_send(message m, core::deadline deadline)
{
    co_return co_await pool_->async_send(std::move(m), deadline);
}

asio::awaitable<void> smtp_backend::async_close(core::deadline deadline)
{
    co_await pool_->async_close(deadline);
}

std::size_t smtp_backend::connections_opened() const noexcept
{
    return pool_->opened_;
}

}  // namespace portcullis::mail
