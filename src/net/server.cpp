// Why one file of this size: the listener's connection machinery is one state machine
// shared by its parts (the four per-thread connection lists, the sweeper that enforces
// their deadlines, admission at the connection cap, and the session loop that moves a
// connection between the lists); split apart, each part would need the others' private
// state. The request path inside a session is split into async_read_request,
// async_dispatch and async_write_response.
#include "net/server.hpp"

#include "core/log.hpp"
#include "core/random.hpp"
#include "core/spawn.hpp"
#include "net/errors.hpp"
#include "net/framing.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_executor.hpp>
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

#include <boost/range/iterator_range.hpp>

#include <array>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <optional>
#include <vector>

namespace portcullis::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using clock_type = std::chrono::steady_clock;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// Room in a connection's read buffer beyond the header limit: a chunk line or a trailer
// must fit in it (Beast 1.81 applies no limit of its own to either).
constexpr std::size_t chunk_line_limit = 4 * 1024;
// Time a client gets before MIN_INGRESS_RATE applies to a header or a body.
constexpr auto ingress_grace = std::chrono::seconds(3);
// What a connection may still send after an error answer before it is closed.
constexpr std::size_t linger_bytes = 256 * 1024;
constexpr auto linger_time = std::chrono::seconds(1);

// Where a connection is. The first three are the candidates for shedding, each list
// in the order its connections entered it (oldest first); `active` holds the rest.
enum class phase : std::uint8_t { fresh, idle, header, active };
constexpr std::size_t phase_count = 4;

// One open connection, registered in its thread's lists so the sweeper can enforce
// deadlines and rates, the accept loop can shed, and shutdown can close idle connections.
// It lives in the session coroutine's frame: no allocation and no timer per connection.
struct connection_entry {
    tcp::socket* socket = nullptr;
    phase where = phase::fresh;
    bool reading_body = false;  // active: the ingress rate and the body deadline apply
    bool doomed = false;        // the server closed it; its session is ending
    bool counted = false;       // holds a place in the per-address counts
    bool lingering = false;     // draining the client's bytes before the close
    address_counts::key key{};
    clock_type::time_point since{};                                   // entered `where`
    clock_type::time_point deadline = clock_type::time_point::max();  // active only
    std::uint64_t bytes = 0;                                          // read since `since`
    connection_entry* prev = nullptr;
    connection_entry* next = nullptr;
};

struct entry_list {
    connection_entry* head = nullptr;
    connection_entry* tail = nullptr;

    void push_back(connection_entry& e) noexcept
    {
        e.prev = tail;
        e.next = nullptr;
        if (tail != nullptr)
            tail->next = &e;
        else
            head = &e;
        tail = &e;
    }

    void erase(connection_entry& e) noexcept
    {
        if (e.prev != nullptr)
            e.prev->next = e.next;
        else
            head = e.next;
        if (e.next != nullptr)
            e.next->prev = e.prev;
        else
            tail = e.prev;
        e.prev = e.next = nullptr;
    }
};

// The socket as Beast reads it: each completed read adds its bytes to a counter, from
// which the sweeper computes the client's ingress rate.
class counting_reader {
public:
    using executor_type = tcp::socket::executor_type;

    counting_reader(tcp::socket& sock, std::uint64_t& bytes) noexcept : sock_(sock), bytes_(bytes) {}
    executor_type get_executor() noexcept { return sock_.get_executor(); }

    template <class MutableBuffers, class Token>
    auto async_read_some(const MutableBuffers& buffers, Token&& token)
    {
        return asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(initiation{this}, token,
                                                                                         buffers);
    }

private:
    template <class Handler>
    struct counted {
        Handler handler;
        std::uint64_t* bytes;
        void operator()(boost::system::error_code ec, std::size_t n)
        {
            *bytes += n;
            std::move(handler)(ec, n);
        }
    };

    struct initiation {
        counting_reader* self;
        template <class Handler, class MutableBuffers>
        void operator()(Handler&& handler, const MutableBuffers& buffers) const
        {
            auto ex = asio::get_associated_executor(handler, self->sock_.get_executor());
            self->sock_.async_read_some(
                buffers,
                asio::bind_executor(ex, counted<std::decay_t<Handler>>{std::forward<Handler>(handler), &self->bytes_}));
        }
    };

    tcp::socket& sock_;
    std::uint64_t& bytes_;
};

// Whether the unparsed bytes of a chunked body are the trailer: a complete last-chunk line
// ("0", maybe with extensions) then fields. Beast reports the last chunk only once the
// whole trailer has arrived, so a full buffer is told apart here.
bool in_trailer(const beast::flat_buffer& buffer) noexcept
{
    std::string_view v(static_cast<const char*>(buffer.data().data()), buffer.size());
    if (v.starts_with("\r\n")) v.remove_prefix(2);  // the end of the previous chunk's data
    std::size_t zeros = 0;
    while (zeros < v.size() && v[zeros] == '0') ++zeros;
    if (zeros == 0 || (zeros < v.size() && std::isxdigit(static_cast<unsigned char>(v[zeros])) != 0)) return false;
    return v.find("\r\n", zeros) != std::string_view::npos;
}

address_counts::key key_of(const asio::ip::address& a) noexcept
{
    if (a.is_v4()) return asio::ip::make_address_v6(asio::ip::v4_mapped, a.to_v4()).to_bytes();
    return a.to_v6().to_bytes();
}

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

std::string_view close_reason_name(close_reason r) noexcept
{
    switch (r) {
    case close_reason::shed_never_sent:
        return "shed_never_sent";
    case close_reason::shed_idle:
        return "shed_idle";
    case close_reason::shed_slow_header:
        return "shed_slow_header";
    case close_reason::refused_busy:
        return "refused_busy";
    case close_reason::refused_per_ip:
        return "refused_per_ip";
    case close_reason::first_byte_timeout:
        return "first_byte_timeout";
    case close_reason::header_timeout:
        return "header_timeout";
    case close_reason::idle_timeout:
        return "idle_timeout";
    case close_reason::body_timeout:
        return "body_timeout";
    case close_reason::write_timeout:
        return "write_timeout";
    case close_reason::slow_ingress:
        return "slow_ingress";
    }
    return "unknown";
}

std::chrono::milliseconds pressure_timeout(std::chrono::milliseconds configured, std::size_t open,
                                           std::size_t max) noexcept
{
    if (max == 0 || open * 2 <= max) return configured;
    const auto floor = std::min(configured, std::chrono::milliseconds(1000));
    double f = std::min(1.0, (static_cast<double>(open) / static_cast<double>(max) - 0.5) / 0.4);
    auto span = static_cast<double>((configured - floor).count());
    return floor + std::chrono::milliseconds(static_cast<std::int64_t>(span * (1.0 - f)));
}

bool address_counts::try_add(const key& k, std::size_t cap)
{
    std::lock_guard lock(mutex_);
    auto [it, added] = counts_.try_emplace(k, 0);
    (void)added;
    if (it->second >= cap) return false;
    ++it->second;
    return true;
}

void address_counts::remove(const key& k) noexcept
{
    std::lock_guard lock(mutex_);
    auto it = counts_.find(k);
    if (it == counts_.end()) return;
    if (--it->second == 0) counts_.erase(it);
}

std::size_t address_counts::addresses() const
{
    std::lock_guard lock(mutex_);
    return counts_.size();
}

std::size_t address_counts::hash::operator()(const key& k) const noexcept
{
    std::uint64_t a = 0;
    std::uint64_t b = 0;
    std::memcpy(&a, k.data(), 8);
    std::memcpy(&b, k.data() + 8, 8);
    return static_cast<std::size_t>((a * 0x9E3779B97F4A7C15ull) ^ (b + 0x632BE59BD9B4E019ull + (a << 6) + (a >> 2)));
}

struct listener::impl {
    asio::io_context& ioc;
    const server_settings& settings;
    const router& routes;
    request_observer* observer;
    std::size_t max_connections;
    std::atomic<std::size_t>& open;
    address_counts own_counts;
    address_counts& counts;
    tcp::acceptor acceptor;
    asio::steady_timer backoff_timer;  // the accept loop waits here after a failed accept
    asio::steady_timer sweep_timer;    // fires every second: deadlines, rates, Date header, log flush
    std::array<entry_list, phase_count> lists;
    std::size_t linked = 0;    // entries in the lists
    std::size_t doomed = 0;    // of which closed by the server, their sessions ending
    std::size_t starting = 0;  // sessions spawned that have not linked their entry yet
    bool stopping = false;
    std::string date_header;
    std::string request_id_prefix;
    std::uint64_t request_counter = 0;

    impl(asio::io_context& ioc_, const server_settings& s, const router& r, std::size_t threads, request_observer* obs,
         std::atomic<std::size_t>& open_, address_counts* shared_counts)
        : ioc(ioc_),
          settings(s),
          routes(r),
          observer(obs),
          max_connections(std::max<std::size_t>(1, s.max_connections / std::max<std::size_t>(1, threads))),
          open(open_),
          counts(shared_counts != nullptr ? *shared_counts : own_counts),
          acceptor(ioc_),
          backoff_timer(ioc_),
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

    std::size_t live() const noexcept { return linked - doomed + starting; }

    void link(connection_entry& e) noexcept
    {
        e.where = phase::fresh;
        e.since = clock_type::now();
        lists[static_cast<std::size_t>(e.where)].push_back(e);
        ++linked;
        if (starting > 0) --starting;
        open.fetch_add(1, std::memory_order_relaxed);
        if (observer != nullptr) observer->on_connection(1);
    }

    void unlink(connection_entry& e) noexcept
    {
        lists[static_cast<std::size_t>(e.where)].erase(e);
        --linked;
        if (e.doomed) --doomed;
        if (e.counted) counts.remove(e.key);
        open.fetch_sub(1, std::memory_order_relaxed);
        if (observer != nullptr) observer->on_connection(-1);
    }

    // Moves a connection to the end of another list and starts its clock and byte count.
    void enter(connection_entry& e, phase p, clock_type::time_point now = clock_type::now()) noexcept
    {
        if (e.doomed) return;
        lists[static_cast<std::size_t>(e.where)].erase(e);
        e.where = p;
        e.since = now;
        e.bytes = 0;
        e.reading_body = false;
        e.deadline = clock_type::time_point::max();
        lists[static_cast<std::size_t>(p)].push_back(e);
    }

    // Closes a connection from outside its session: its pending operation completes with
    // an error and the session ends. The descriptor is free at once.
    void cut(connection_entry& e, std::optional<close_reason> why) noexcept
    {
        if (e.doomed) return;
        enter(e, phase::active);
        e.doomed = true;
        ++doomed;
        boost::system::error_code ignored;
        e.socket->close(ignored);
        if (why && observer != nullptr) observer->on_close(*why);
    }

    // At the connection cap: closes the connection that matters least. False when every
    // connection is busy with a request.
    bool shed_one() noexcept
    {
        static constexpr std::array<std::pair<phase, close_reason>, 3> order{{
            {phase::fresh, close_reason::shed_never_sent},
            {phase::idle, close_reason::shed_idle},
            {phase::header, close_reason::shed_slow_header},
        }};
        for (const auto& [p, why] : order) {
            if (connection_entry* e = lists[static_cast<std::size_t>(p)].head; e != nullptr) {
                cut(*e, why);
                return true;
            }
        }
        return false;
    }

    bool too_slow(const connection_entry& e, clock_type::time_point now) const noexcept
    {
        if (settings.min_ingress_rate == 0) return false;
        auto elapsed = now - e.since - ingress_grace;
        if (elapsed <= clock_type::duration::zero()) return false;
        double due = std::chrono::duration<double>(elapsed).count() * static_cast<double>(settings.min_ingress_rate);
        return static_cast<double>(e.bytes) < due;
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

    void sweep(clock_type::time_point now) noexcept
    {
        const std::size_t n = live();
        auto budget = [&](std::chrono::milliseconds t) { return pressure_timeout(t, n, max_connections); };
        // Fresh and idle lists are in the order their clocks started, so only their fronts can be due.
        const auto first_byte = budget(settings.first_byte_timeout);
        for (auto* e = lists[0].head; e != nullptr && e->since + first_byte <= now; e = lists[0].head) {
            cut(*e, close_reason::first_byte_timeout);
        }
        const auto idle = budget(settings.idle_timeout);
        for (auto* e = lists[1].head; e != nullptr && e->since + idle <= now; e = lists[1].head) {
            cut(*e, close_reason::idle_timeout);
        }
        const auto header = budget(settings.header_timeout);
        for (auto* e = lists[2].head; e != nullptr;) {
            auto* next = e->next;
            if (e->since + header <= now)
                cut(*e, close_reason::header_timeout);
            else if (too_slow(*e, now))
                cut(*e, close_reason::slow_ingress);
            e = next;
        }
        for (auto* e = lists[3].head; e != nullptr;) {
            auto* next = e->next;
            if (!e->doomed) {
                if (e->deadline <= now && e->lingering)
                    cut(*e, std::nullopt);
                else if (e->deadline <= now)
                    cut(*e, e->reading_body ? close_reason::body_timeout : close_reason::write_timeout);
                else if (e->reading_body && too_slow(*e, now))
                    cut(*e, close_reason::slow_ingress);
            }
            e = next;
        }
    }

    asio::awaitable<void> async_sweep()
    {
        for (;;) {
            sweep_timer.expires_after(std::chrono::seconds(1));
            auto [ec] = co_await sweep_timer.async_wait(use_tuple);
            if (ec) co_return;
            refresh_date();
            core::log::flush_thread();
            sweep(clock_type::now());
            if (stopping && linked == 0) co_return;
        }
    }

    void refuse(tcp::socket& sock, close_reason why) noexcept
    {
        boost::system::error_code ignored;
        sock.close(ignored);
        if (observer != nullptr) observer->on_close(why);
    }

    // A new connection: the per-address cap, then room under the connection cap (shedding
    // another if need be), then its session.
    void admit(tcp::socket sock)
    {
        boost::system::error_code ec;
        auto ep = sock.remote_endpoint(ec);
        if (ec) return;  // already gone
        auto peer = unmap(ep.address());
        const bool proxy = !settings.trusted_proxies.empty() && in_any(settings.trusted_proxies, peer);
        const auto key = key_of(peer);
        bool counted = false;
        if (!proxy && settings.max_connections_per_ip != 0) {
            if (!counts.try_add(key, settings.max_connections_per_ip)) {
                refuse(sock, close_reason::refused_per_ip);
                return;
            }
            counted = true;
        }
        if (live() >= max_connections && !shed_one()) {
            if (counted) counts.remove(key);
            refuse(sock, close_reason::refused_busy);
            return;
        }
        sock.set_option(tcp::no_delay(true), ec);
        // Counted before the spawn: co_spawn dispatches, so from this thread the session
        // usually runs (and links its entry, which ends its "starting" count) inline.
        ++starting;
        try {
            asio::co_spawn(ioc, async_session(this, std::move(sock), peer, proxy, key, counted),
                           core::log_escape{"http_session"});
        } catch (const std::exception& e) {
            // The session never ran (its frame or its spawn could not be allocated).
            --starting;
            if (counted) counts.remove(key);
            core::log::error("session_not_started", {{"error", e.what()}});
        }
    }

    asio::awaitable<void> async_accept_loop()
    {
        auto backoff = std::chrono::milliseconds(10);
        while (!stopping) {
            auto [ec, sock] = co_await acceptor.async_accept(use_tuple);
            if (ec) {
                if (ec == asio::error::operation_aborted || stopping) co_return;
                // Out of descriptors or memory: back off and keep going, never die.
                core::log::warn("accept_failed", {{"error", ec.message()}, {"backoff_ms", backoff.count()}});
                backoff_timer.expires_after(backoff);
                co_await backoff_timer.async_wait(use_tuple);
                backoff = std::min(backoff * 2, std::chrono::milliseconds(1000));
                continue;
            }
            backoff = std::chrono::milliseconds(10);
            admit(std::move(sock));
        }
    }

    // What a session's helpers share: the connection and its addresses.
    struct connection {
        impl* self;
        tcp::socket& sock;
        connection_entry& entry;
        std::string peer;  // the TCP peer
        bool via_proxy;    // the peer is a trusted proxy
    };

    // One request and what its log line and metrics need.
    struct exchange {
        clock_type::time_point started = clock_type::now();
        std::string request_id;
        std::string forwarded_client;  // from the proxy's header, when it names one
        std::string_view method = unmatched;
        std::string_view route = unmatched;
        static constexpr std::string_view unmatched = "-";
    };

    // Keeps a connection in its thread's lists for exactly as long as its session runs,
    // also when the session ends by an exception.
    struct registration {
        impl* self;
        connection_entry& entry;
        registration(impl* s, connection_entry& e) noexcept : self(s), entry(e) { self->link(entry); }
        ~registration() { self->unlink(entry); }
        registration(const registration&) = delete;
        registration& operator=(const registration&) = delete;
    };

    // One coroutine per connection; it owns the socket. While idle it holds no
    // buffer: it waits for readability first, so an idle keep-alive connection
    // costs only this frame.
    static asio::awaitable<void> async_session(impl* self, tcp::socket sock, asio::ip::address peer, bool via_proxy,
                                               address_counts::key key, bool counted)
    {
        connection_entry entry;
        entry.socket = &sock;
        entry.key = key;
        entry.counted = counted;
        registration reg(self, entry);
        connection c{self, sock, entry, peer.to_string(), via_proxy};
        // Bounded: past the header limit plus one chunk line a read fails, so an endless chunk
        // extension or trailer cannot grow it.
        beast::flat_buffer buffer(self->settings.header_limit + chunk_line_limit);
        bool first = true;
        for (;;) {
            if (buffer.size() == 0) {
                if (self->stopping) break;
                if (!first) self->enter(entry, phase::idle);
                auto [ec] = co_await sock.async_wait(tcp::socket::wait_read, use_tuple);
                if (ec || entry.doomed) break;
            }
            first = false;
            bool keep = co_await async_serve_one(c, buffer);
            if (!keep || self->stopping || entry.doomed) break;
            if (buffer.size() == 0) buffer.shrink_to_fit();
        }
        if (!entry.doomed) {
            boost::system::error_code ignored;
            sock.shutdown(tcp::socket::shutdown_send, ignored);
            sock.close(ignored);
        }
    }

    using request_parser = http::request_parser<http::string_body>;

    // Reads one request's header and body. nullopt when it was read whole; otherwise the
    // protocol error to answer, or `closed` set when the client went away (or was cut).
    static asio::awaitable<std::optional<protocol_error>> async_read_request(connection& c, beast::flat_buffer& buffer,
                                                                             request_parser& parser, exchange& x,
                                                                             bool& closed)
    {
        const server_settings& s = c.self->settings;
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

        c.self->enter(c.entry, phase::header, x.started);
        counting_reader reader(c.sock, c.entry.bytes);
        auto [rec, rn] = co_await http::async_read_header(reader, buffer, parser, use_tuple);
        (void)rn;
        if (rec) {
            if (c.entry.doomed || rec == http::error::end_of_stream || rec == asio::error::eof ||
                rec == asio::error::operation_aborted || rec == asio::error::connection_reset) {
                closed = true;
                co_return std::nullopt;
            }
            if (rec == http::error::header_limit || rec == http::error::buffer_overflow)
                co_return protocol_error::header_too_large;
            if (rec == http::error::body_limit) co_return protocol_error::body_too_large;
            co_return protocol_error::malformed;
        }

        auto& msg = parser.get();
        std::string_view given = msg["X-Request-Id"];
        x.request_id = request_id_is_sane(given) ? std::string(given) : c.self->next_request_id();
        if (!check_framing(msg.base(), msg.version()).empty()) co_return protocol_error::ambiguous_framing;
        if (parser.is_done()) co_return std::nullopt;

        auto fields_before_body = std::distance(msg.begin(), msg.end());
        if (msg[http::field::expect] == "100-continue" && msg.version() >= 11) {
            static constexpr std::string_view cont = "HTTP/1.1 100 Continue\r\n\r\n";
            c.self->enter(c.entry, phase::active);
            c.entry.deadline = clock_type::now() + s.write_timeout;
            auto [wec, wn] = co_await asio::async_write(c.sock, asio::buffer(cont), use_tuple);
            (void)wn;
            if (wec) {
                closed = true;
                co_return std::nullopt;
            }
        }
        auto now = clock_type::now();
        c.self->enter(c.entry, phase::active, now);
        c.entry.reading_body = true;
        c.entry.deadline = now + s.body_timeout;
        auto [bec, bn] = co_await http::async_read(reader, buffer, parser, use_tuple);
        (void)bn;
        c.entry.reading_body = false;
        c.entry.deadline = clock_type::time_point::max();
        if (bec) {
            if (bec == http::error::body_limit) co_return protocol_error::body_too_large;
            if (bec == http::error::buffer_overflow)
                co_return in_trailer(buffer) ? protocol_error::trailer_too_large : protocol_error::chunk_too_long;
            if (c.entry.doomed || bec == asio::error::operation_aborted || bec == asio::error::eof ||
                bec == http::error::end_of_stream || bec == http::error::partial_message ||
                bec == asio::error::connection_reset) {
                closed = true;
                co_return std::nullopt;
            }
            co_return protocol_error::malformed;
        }
        // Trailer fields would be merged into the header block after framing was
        // checked; no route uses them, so they are refused outright.
        if (std::distance(msg.begin(), msg.end()) != fields_before_body) co_return protocol_error::trailer_refused;
        co_return std::nullopt;
    }

    // After an error answer, reads and drops what the client is still sending (bounded in
    // bytes and time) before the close: closing with unread data would reset the
    // connection and could destroy the answer before the client reads it.
    static asio::awaitable<void> async_linger(connection& c)
    {
        boost::system::error_code ec;
        c.sock.shutdown(tcp::socket::shutdown_send, ec);
        c.self->enter(c.entry, phase::active);
        c.entry.lingering = true;
        c.entry.deadline = clock_type::now() + linger_time;
        std::array<char, 2048> sink;
        std::size_t total = 0;
        while (!ec && !c.entry.doomed && total < linger_bytes) {
            auto [rec, n] = co_await c.sock.async_read_some(asio::buffer(sink), use_tuple);
            ec = rec;
            total += n;
        }
    }

    // The client address: the peer, or what a trusted proxy says the client is.
    static std::string_view client_address(const connection& c, const http::fields& fields, exchange& x)
    {
        if (!c.via_proxy) return c.peer;
        const server_settings& s = c.self->settings;
        std::string_view name = s.proxy_header == forwarding_header::forwarded ? "Forwarded" : "X-Forwarded-For";
        std::vector<std::string_view> values;
        for (const auto& f : boost::make_iterator_range(fields.equal_range(name))) values.push_back(f.value());
        if (auto a = forwarded_client(values, s.proxy_header, s.trusted_proxies)) {
            x.forwarded_client = a->to_string();
            return x.forwarded_client;
        }
        return c.peer;
    }

    // Routes a request and runs its handler; never throws for what a handler throws.
    static asio::awaitable<response> async_dispatch(impl* self, request& req, exchange& x)
    {
        route_match m = self->routes.match(req.method, req.path, req.params);
        switch (m.result) {
        case route_match::outcome::not_found:
            co_return error_response(make_error_code(core::errc::not_found));
        case route_match::outcome::method_not_allowed: {
            x.route = m.route;
            response res = protocol_error_response(protocol_error::method_not_allowed);
            res.add_header("Allow", m.allow);
            co_return res;
        }
        case route_match::outcome::found:
            break;
        }
        x.route = m.route;
        req.route = m.route;
        std::string_view ct = req.header("content-type");
        if (m.body == body_kind::json && (!req.body.empty() || !ct.empty()) && !is_json_content_type(ct)) {
            co_return protocol_error_response(protocol_error::unsupported_media_type);
        }
        std::string failure;
        try {
            co_return co_await (*m.fn)(req);
        } catch (const std::exception& e) {
            failure = e.what();
        } catch (...) {
            failure = "unknown exception";
        }
        // A bug: the detail goes to the log with the request id, never to the client.
        core::log::error("handler_failed", {{"request_id", x.request_id}, {"route", m.route}, {"error", failure}});
        co_return error_response(make_error_code(core::errc::internal));
    }

    // Reads, routes and answers one request. Returns whether the connection stays open.
    static asio::awaitable<bool> async_serve_one(connection& c, beast::flat_buffer& buffer)
    {
        exchange x;
        request_parser parser;
        bool closed = false;
        auto failed = co_await async_read_request(c, buffer, parser, x, closed);
        if (closed) co_return false;
        if (failed) {
            if (co_await async_write_response(c, x, protocol_error_response(*failed), false, 11, c.peer))
                co_await async_linger(c);
            co_return false;
        }

        auto& msg = parser.get();
        request req;
        req.method = msg.method_string();
        req.target = msg.target();
        auto q = req.target.find('?');
        req.path = req.target.substr(0, q);
        req.query = q == std::string_view::npos ? std::string_view{} : req.target.substr(q + 1);
        req.body = msg.body();
        req.request_id = x.request_id;
        req.peer_ip = client_address(c, msg.base(), x);
        req.version = msg.version();
        req.deadline = x.started + c.self->settings.request_timeout;
        req.header_lookup_ = &header_from_fields;
        req.header_source_ = &msg.base();
        x.method = req.method;

        c.self->enter(c.entry, phase::active);
        response res = co_await async_dispatch(c.self, req, x);
        bool keep = msg.keep_alive() && !res.close && !c.self->stopping;
        bool ok = co_await async_write_response(c, x, std::move(res), keep, msg.version(), req.peer_ip);
        co_return ok&& keep;
    }

    static asio::awaitable<bool> async_write_response(connection& c, exchange& x, response res, bool keep,
                                                      unsigned version, std::string_view client)
    {
        impl* self = c.self;
        if (x.request_id.empty()) x.request_id = self->next_request_id();
        // The header block is formatted straight into one string and sent with the body in
        // one gathered write: Beast's fields container would allocate a node per header.
        std::string head = format_head(self->date_header, res, x.request_id, keep, version);
        const std::array<asio::const_buffer, 2> buffers{asio::buffer(head), asio::buffer(res.body)};
        if (c.entry.where != phase::active) self->enter(c.entry, phase::active);
        c.entry.deadline = clock_type::now() + self->settings.write_timeout;
        auto [ec, n] = co_await asio::async_write(c.sock, buffers, use_tuple);
        (void)n;
        c.entry.deadline = clock_type::time_point::max();
        auto elapsed = clock_type::now() - x.started;
        if (self->observer != nullptr) self->observer->on_request(x.method, x.route, res.status, elapsed);
        if (self->settings.access_log) {
            double ms = std::chrono::duration<double, std::milli>(elapsed).count();
            if (c.via_proxy) {
                core::log::info("request", {{"method", x.method},
                                            {"route", x.route},
                                            {"status", res.status},
                                            {"duration_ms", ms},
                                            {"request_id", x.request_id},
                                            {"peer", client},
                                            {"proxy", c.peer}});
            } else {
                core::log::info("request", {{"method", x.method},
                                            {"route", x.route},
                                            {"status", res.status},
                                            {"duration_ms", ms},
                                            {"request_id", x.request_id},
                                            {"peer", client}});
            }
        }
        co_return !ec;
    }
};

listener::listener(asio::io_context& ioc, const server_settings& settings, const router& routes, std::size_t threads,
                   request_observer* observer, address_counts* counts)
    : impl_(std::make_unique<impl>(ioc, settings, routes, threads, observer, open_, counts))
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
    impl_->backoff_timer.cancel();
    // Connections with no request under way close now; the others after their response.
    // One whose request has arrived but not been read yet is under way: closing it with
    // unread bytes would reset it.
    for (phase p : {phase::fresh, phase::idle}) {
        for (connection_entry* e = impl_->lists[static_cast<std::size_t>(p)].head; e != nullptr;) {
            connection_entry* next = e->next;
            if (e->socket->available(ignored) == 0 || ignored) impl_->cut(*e, std::nullopt);
            e = next;
        }
    }
}

}  // namespace portcullis::net
