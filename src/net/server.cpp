#include "net/server.hpp"

#include "core/log.hpp"
#include "core/random.hpp"
#include "core/spawn.hpp"
#include "net/errors.hpp"
#include "net/framing.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/string_body.hpp>

#include <array>
#include <charconv>
#include <cstdio>
#include <ctime>

namespace portcullis::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using clock_type = std::chrono::steady_clock;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// One open connection, registered in its thread's intrusive list so the sweeper
// can enforce deadlines and shutdown can close idle connections. It lives in the
// session coroutine's frame: no allocation and no timer per connection.
struct connection_entry {
    tcp::socket* socket = nullptr;
    clock_type::time_point deadline = clock_type::time_point::max();
    bool idle = true;
    connection_entry* prev = nullptr;
    connection_entry* next = nullptr;
};

std::string_view header_from_fields(const void* source, std::string_view name)
{
    const auto& fields = *static_cast<const http::fields*>(source);
    auto it = fields.find(name);
    return it == fields.end() ? std::string_view{} : std::string_view(it->value());
}

bool is_json_content_type(std::string_view ct)
{
    auto semi = ct.find(';');
    std::string_view media = ct.substr(0, semi);
    while (!media.empty() && media.back() == ' ') media.remove_suffix(1);
    if (media.size() != 16) return false;
    static constexpr std::string_view want = "application/json";
    for (std::size_t i = 0; i < media.size(); ++i) {
        char c = media[i];
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
        if (c != want[i]) return false;
    }
    return true;
}

void append_decimal(std::string& out, std::uint64_t v)
{
    char buf[24];
    auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v);
    (void)ec;
    out.append(buf, p);
}

void append_header(std::string& out, std::string_view name, std::string_view value)
{
    out += name;
    out += ": ";
    out += value;
    out += "\r\n";
}

// Status line and header block of a response, as Beast's serializer would write them
// for the same message: Connection follows keep-alive semantics of the version, and
// Content-Length is omitted where a body is not allowed (1xx, 204, 304).
std::string format_head(std::string_view date, const response& res, std::string_view request_id, bool keep,
                        unsigned version)
{
    std::string out;
    std::size_t extra = 0;
    for (const auto& [name, value] : res.headers) extra += name.size() + value.size() + 4;
    out.reserve(160 + date.size() + res.content_type.size() + request_id.size() + extra);
    out += "HTTP/";
    out += static_cast<char>('0' + version / 10 % 10);
    out += '.';
    out += static_cast<char>('0' + version % 10);
    out += ' ';
    append_decimal(out, res.status);
    out += ' ';
    out += http::obsolete_reason(static_cast<http::status>(res.status));
    out += "\r\n";
    append_header(out, "Server", "portcullis");
    append_header(out, "Date", date);
    append_header(out, "Content-Type", res.content_type);
    append_header(out, "X-Request-Id", request_id);
    for (const auto& [name, value] : res.headers) append_header(out, name, value);
    if (version >= 11) {
        if (!keep) append_header(out, "Connection", "close");
    } else if (keep) {
        append_header(out, "Connection", "keep-alive");
    }
    const bool bodiless = res.status < 200 || res.status == 204 || res.status == 304;
    if (!bodiless) {
        out += "Content-Length: ";
        append_decimal(out, res.body.size());
        out += "\r\n";
    }
    out += "\r\n";
    return out;
}

}  // namespace

struct listener::impl {
    asio::io_context& ioc;
    const server_settings& settings;
    const router& routes;
    request_observer* observer;
    std::size_t max_connections;
    std::atomic<std::size_t>& open;
    tcp::acceptor acceptor;
    asio::steady_timer slot_timer;   // accept loop waits here while at the connection cap
    asio::steady_timer sweep_timer;  // fires every second: deadlines, Date header, log flush
    connection_entry* head = nullptr;
    bool stopping = false;
    std::string date_header;
    std::string request_id_prefix;
    std::uint64_t request_counter = 0;

    impl(asio::io_context& ioc_, const server_settings& s, const router& r, std::size_t threads, request_observer* obs,
         std::atomic<std::size_t>& open_)
        : ioc(ioc_),
          settings(s),
          routes(r),
          observer(obs),
          max_connections(std::max<std::size_t>(1, s.max_connections / std::max<std::size_t>(1, threads))),
          open(open_),
          acceptor(ioc_),
          slot_timer(ioc_),
          sweep_timer(ioc_),
          request_id_prefix(core::random_hex(4))
    {
        refresh_date();
    }

    void refresh_date()
    {
        std::time_t t = std::time(nullptr);
        std::tm tm{};
        gmtime_r(&t, &tm);
        char buf[64];
        std::size_t n = std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        date_header.assign(buf, n);
    }

    void link(connection_entry& e)
    {
        e.next = head;
        if (head != nullptr) head->prev = &e;
        head = &e;
        open.fetch_add(1, std::memory_order_relaxed);
        if (observer != nullptr) observer->on_connection(1);
    }

    void unlink(connection_entry& e)
    {
        if (e.prev != nullptr)
            e.prev->next = e.next;
        else
            head = e.next;
        if (e.next != nullptr) e.next->prev = e.prev;
        open.fetch_sub(1, std::memory_order_relaxed);
        if (observer != nullptr) observer->on_connection(-1);
        slot_timer.cancel();  // wakes the accept loop if it waits for a free slot
    }

    std::string next_request_id()
    {
        char buf[20];
        auto [p, ec] = std::to_chars(buf, buf + sizeof buf, ++request_counter, 16);
        (void)ec;
        std::string id;
        id.reserve(request_id_prefix.size() + 1 + static_cast<std::size_t>(p - buf));
        id += request_id_prefix;
        id += '-';
        id.append(buf, p);
        return id;
    }

    asio::awaitable<void> async_sweep()
    {
        for (;;) {
            sweep_timer.expires_after(std::chrono::seconds(1));
            auto [ec] = co_await sweep_timer.async_wait(use_tuple);
            if (ec) co_return;
            refresh_date();
            core::log::flush_thread();
            auto now = clock_type::now();
            for (connection_entry* e = head; e != nullptr; e = e->next) {
                // Cancelling makes the pending read/write/wait complete with an error,
                // which ends that session.
                if (e->deadline <= now) {
                    boost::system::error_code ignored;
                    e->socket->cancel(ignored);
                }
            }
            if (stopping && head == nullptr) co_return;
        }
    }

    asio::awaitable<void> async_accept_loop()
    {
        auto backoff = std::chrono::milliseconds(10);
        while (!stopping) {
            if (open.load(std::memory_order_relaxed) >= max_connections) {
                // Past the cap: stop accepting (the kernel backlog holds new clients) until one closes.
                slot_timer.expires_after(std::chrono::seconds(1));
                co_await slot_timer.async_wait(use_tuple);
                continue;
            }
            auto [ec, sock] = co_await acceptor.async_accept(use_tuple);
            if (ec) {
                if (ec == asio::error::operation_aborted || stopping) co_return;
                // Out of descriptors or memory: back off and keep going, never die.
                core::log::warn("accept_failed", {{"error", ec.message()}, {"backoff_ms", backoff.count()}});
                slot_timer.expires_after(backoff);
                co_await slot_timer.async_wait(use_tuple);
                backoff = std::min(backoff * 2, std::chrono::milliseconds(1000));
                continue;
            }
            backoff = std::chrono::milliseconds(10);
            boost::system::error_code ignored;
            sock.set_option(tcp::no_delay(true), ignored);
            asio::co_spawn(ioc, async_session(this, std::move(sock)), core::log_escape{"http_session"});
        }
    }

    // One coroutine per connection; it owns the socket. While idle it holds no
    // buffer: it waits for readability first, so an idle keep-alive connection
    // costs only this frame.
    static asio::awaitable<void> async_session(impl* self, tcp::socket sock)
    {
        connection_entry entry;
        entry.socket = &sock;
        self->link(entry);
        std::string peer;
        {
            boost::system::error_code ec;
            auto ep = sock.remote_endpoint(ec);
            if (!ec) peer = ep.address().to_string();
        }
        beast::flat_buffer buffer;
        bool first = true;
        for (;;) {
            if (buffer.size() == 0) {
                if (self->stopping) break;
                entry.idle = true;
                entry.deadline =
                    clock_type::now() + (first ? self->settings.header_timeout : self->settings.idle_timeout);
                auto [ec] = co_await sock.async_wait(tcp::socket::wait_read, use_tuple);
                entry.idle = false;
                if (ec) break;
            }
            first = false;
            bool keep = co_await async_serve_one(self, sock, buffer, entry, peer);
            if (!keep || self->stopping) break;
            if (buffer.size() == 0) buffer.shrink_to_fit();
        }
        boost::system::error_code ignored;
        sock.shutdown(tcp::socket::shutdown_send, ignored);
        sock.close(ignored);
        self->unlink(entry);
    }

    // Reads, routes and answers one request. Returns whether the connection stays open.
    static asio::awaitable<bool> async_serve_one(impl* self, tcp::socket& sock, beast::flat_buffer& buffer,
                                                 connection_entry& entry, const std::string& peer)
    {
        const server_settings& s = self->settings;
        auto started = clock_type::now();
        http::request_parser<http::string_body> parser;
        parser.header_limit(static_cast<std::uint32_t>(s.header_limit));
        parser.body_limit(s.body_limit);
        // Refuse chunk sizes beyond the body limit and long chunk extensions up front.
        std::size_t body_limit = s.body_limit;
        auto chunk_check = [body_limit](std::uint64_t size, std::string_view extensions,
                                        boost::system::error_code& ec) {
            if (size > body_limit)
                ec = http::error::body_limit;
            else if (extensions.size() > 256)
                ec = http::error::bad_chunk_extension;
        };
        parser.on_chunk_header(chunk_check);

        entry.deadline = started + s.header_timeout;
        auto [rec, rn] = co_await http::async_read_header(sock, buffer, parser, use_tuple);
        (void)rn;
        if (rec) {
            if (rec == http::error::end_of_stream || rec == asio::error::eof || rec == asio::error::operation_aborted ||
                rec == asio::error::connection_reset) {
                co_return false;
            }
            if (rec == http::error::header_limit || rec == http::error::buffer_overflow) {
                co_await async_send_error(self, sock, entry, 431, "request_header_fields_too_large",
                                          "Request header fields are too large.", "", started, "-");
            } else if (rec == http::error::body_limit) {
                co_await async_send_error(self, sock, entry, 413, "payload_too_large", "The request body is too large.",
                                          "", started, "-");
            } else {
                co_await async_send_error(self, sock, entry, 400, "bad_request", "The request is malformed.", "",
                                          started, "-");
            }
            co_return false;
        }

        auto& msg = parser.get();
        std::string request_id;
        {
            std::string_view given = msg["X-Request-Id"];
            request_id = request_id_is_sane(given) ? std::string(given) : self->next_request_id();
        }
        if (std::string_view why = check_framing(msg.base(), msg.version()); !why.empty()) {
            co_await async_send_error(self, sock, entry, 400, "bad_request", "Ambiguous message framing.", request_id,
                                      started, "-");
            co_return false;
        }

        std::size_t fields_before_body = std::distance(msg.begin(), msg.end());
        if (!parser.is_done()) {
            if (msg[http::field::expect] == "100-continue" && msg.version() >= 11) {
                static constexpr std::string_view cont = "HTTP/1.1 100 Continue\r\n\r\n";
                entry.deadline = clock_type::now() + s.write_timeout;
                auto [wec, wn] = co_await asio::async_write(sock, asio::buffer(cont), use_tuple);
                (void)wn;
                if (wec) co_return false;
            }
            entry.deadline = clock_type::now() + s.body_timeout;
            auto [bec, bn] = co_await http::async_read(sock, buffer, parser, use_tuple);
            (void)bn;
            if (bec) {
                if (bec == http::error::body_limit) {
                    co_await async_send_error(self, sock, entry, 413, "payload_too_large",
                                              "The request body is too large.", request_id, started, "-");
                } else if (bec != asio::error::operation_aborted && bec != asio::error::eof &&
                           bec != http::error::end_of_stream && bec != http::error::partial_message) {
                    co_await async_send_error(self, sock, entry, 400, "bad_request", "The request is malformed.",
                                              request_id, started, "-");
                }
                co_return false;
            }
            // Trailer fields would be merged into the header block after framing was
            // checked; no route uses them, so they are refused outright.
            if (static_cast<std::size_t>(std::distance(msg.begin(), msg.end())) != fields_before_body) {
                co_await async_send_error(self, sock, entry, 400, "bad_request", "Trailer fields are not accepted.",
                                          request_id, started, "-");
                co_return false;
            }
        }

        request req;
        req.method = msg.method_string();
        req.target = msg.target();
        {
            auto q = req.target.find('?');
            req.path = req.target.substr(0, q);
            req.query = q == std::string_view::npos ? std::string_view{} : req.target.substr(q + 1);
        }
        req.body = msg.body();
        req.request_id = request_id;
        req.peer_ip = peer;
        req.version = msg.version();
        req.deadline = started + s.request_timeout;
        req.header_lookup_ = &header_from_fields;
        req.header_source_ = &msg.base();

        response res;
        route_match m = self->routes.match(req.method, req.path, req.params);
        std::string_view route_name = "-";
        switch (m.result) {
        case route_match::outcome::not_found:
            res = error_response(404, "not_found", "Not found.");
            break;
        case route_match::outcome::method_not_allowed:
            route_name = m.route;
            res = error_response(405, "method_not_allowed", "Method not allowed.");
            res.add_header("Allow", m.allow);
            break;
        case route_match::outcome::found: {
            route_name = m.route;
            req.route = m.route;
            std::string_view ct = req.header("content-type");
            if (m.body == body_kind::json && (!req.body.empty() || !ct.empty()) && !is_json_content_type(ct)) {
                res = error_response(415, "unsupported_media_type", "Content-Type must be application/json.");
                break;
            }
            try {
                res = co_await (*m.fn)(req);
            } catch (const std::exception& e) {
                // A bug: the detail goes to the log with the request id, never to the client.
                core::log::error("handler_failed",
                                 {{"request_id", request_id}, {"route", m.route}, {"error", e.what()}});
                res = error_response(500, "internal", "Internal server error.");
            }
            break;
        }
        }

        bool keep = msg.keep_alive() && !res.close && !self->stopping;
        bool ok = co_await async_write_response(self, sock, entry, std::move(res), request_id, keep, msg.version(),
                                                started, route_name, req.method, peer);
        co_return ok&& keep;
    }

    static asio::awaitable<bool> async_write_response(impl* self, tcp::socket& sock, connection_entry& entry,
                                                      response res, std::string_view request_id, bool keep,
                                                      unsigned version, clock_type::time_point started,
                                                      std::string_view route, std::string_view method,
                                                      std::string_view peer)
    {
        // The header block is formatted straight into one string and sent with the body in
        // one gathered write: Beast's fields container would allocate a node per header.
        std::string head = format_head(self->date_header, res, request_id, keep, version);
        const std::array<asio::const_buffer, 2> buffers{asio::buffer(head), asio::buffer(res.body)};
        entry.deadline = clock_type::now() + self->settings.write_timeout;
        auto [ec, n] = co_await asio::async_write(sock, buffers, use_tuple);
        (void)n;
        auto elapsed = clock_type::now() - started;
        if (self->observer != nullptr) self->observer->on_request(method, route, res.status, elapsed);
        if (self->settings.access_log) {
            core::log::info("request", {{"method", method},
                                        {"route", route},
                                        {"status", res.status},
                                        {"duration_ms", std::chrono::duration<double, std::milli>(elapsed).count()},
                                        {"request_id", request_id},
                                        {"peer", peer}});
        }
        co_return !ec;
    }

    static asio::awaitable<void> async_send_error(impl* self, tcp::socket& sock, connection_entry& entry,
                                                  unsigned status, std::string_view code, std::string_view message,
                                                  std::string request_id, clock_type::time_point started,
                                                  std::string_view route)
    {
        if (request_id.empty()) request_id = self->next_request_id();
        response res = error_response(status, code, message);
        co_await async_write_response(self, sock, entry, std::move(res), request_id, false, 11, started, route, "-",
                                      "");
    }
};

listener::listener(asio::io_context& ioc, const server_settings& settings, const router& routes, std::size_t threads,
                   request_observer* observer)
    : impl_(std::make_unique<impl>(ioc, settings, routes, threads, observer, open_))
{
}

listener::~listener() = default;

std::uint16_t listener::bind(std::uint16_t port)
{
    auto address = asio::ip::make_address(impl_->settings.host);
    tcp::endpoint ep(address, port);
    auto& a = impl_->acceptor;
    a.open(ep.protocol());
    a.set_option(tcp::acceptor::reuse_address(true));
    // Every I/O thread binds the same address; the kernel spreads new connections.
    int one = 1;
    if (::setsockopt(a.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
        throw std::system_error(errno, std::generic_category(), "SO_REUSEPORT");
    }
    a.bind(ep);
    a.listen(asio::socket_base::max_listen_connections);
    return a.local_endpoint().port();
}

void listener::start()
{
    asio::co_spawn(impl_->ioc, impl_->async_accept_loop(), core::log_escape{"accept_loop"});
    asio::co_spawn(impl_->ioc, impl_->async_sweep(), core::log_escape{"connection_sweeper"});
}

void listener::stop()
{
    impl_->stopping = true;
    boost::system::error_code ignored;
    impl_->acceptor.close(ignored);
    impl_->slot_timer.cancel();
    for (connection_entry* e = impl_->head; e != nullptr; e = e->next) {
        if (e->idle) e->socket->cancel(ignored);
    }
}

}  // namespace portcullis::net
