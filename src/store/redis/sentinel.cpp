#include "store/redis/sentinel.hpp"

#include "core/log.hpp"
#include "core/spawn.hpp"
#include "core/timeout.hpp"
#include "store/redis/command.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <array>
#include <charconv>

namespace portcullis::store::redis {

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

std::optional<std::uint16_t> parse_port(std::string_view s)
{
    std::uint16_t port = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), port);
    if (ec != std::errc{} || p != s.data() + s.size() || port == 0) return std::nullopt;
    return port;
}

}  // namespace

std::optional<endpoint> parse_master_addr(const reply& r)
{
    if (!r.is_array() || r.elements.size() != 2) return std::nullopt;
    const reply& host = r.elements[0];
    const reply& port = r.elements[1];
    if (!host.is_text() || host.str.empty() || !port.is_text()) return std::nullopt;
    auto p = parse_port(port.str);
    if (!p) return std::nullopt;
    return endpoint{host.str, *p};
}

bool is_master_role(const reply& r) noexcept
{
    return r.is_array() && !r.elements.empty() && r.elements[0].is_text() && r.elements[0].str == "master";
}

std::optional<endpoint> parse_switch_master(const reply& r, std::string_view master)
{
    if (!r.is_array() || r.elements.size() != 3) return std::nullopt;
    for (const auto& e : r.elements) {
        if (!e.is_text()) return std::nullopt;
    }
    if (r.elements[0].str != "message" || r.elements[1].str != "+switch-master") return std::nullopt;
    // "<name> <old-ip> <old-port> <new-ip> <new-port>"
    std::string_view text = r.elements[2].str;
    std::array<std::string_view, 5> words{};
    std::size_t n = 0;
    while (!text.empty()) {
        auto sp = text.find(' ');
        std::string_view w = text.substr(0, sp);
        text = sp == std::string_view::npos ? std::string_view{} : text.substr(sp + 1);
        if (w.empty()) continue;
        if (n == words.size()) return std::nullopt;
        words[n++] = w;
    }
    if (n != words.size() || words[0] != master) return std::nullopt;
    auto port = parse_port(words[4]);
    if (!port) return std::nullopt;
    return endpoint{std::string(words[3]), *port};
}

bool means_master_lost(const reply& r) noexcept
{
    if (!r.is_error()) return false;
    std::string_view s = r.str;
    return s.starts_with("READONLY") || s.starts_with("LOADING") || s.starts_with("MASTERDOWN") ||
           s.starts_with("UNBLOCKED");
}

std::optional<endpoint> master_tracker::master() const
{
    std::lock_guard lock(mu_);
    return master_;
}

bool master_tracker::announce(const endpoint& m)
{
    std::lock_guard lock(mu_);
    if (master_ && *master_ == m) return false;
    master_ = m;
    epoch_.fetch_add(1, std::memory_order_acq_rel);
    return true;
}

namespace detail {

asio::awaitable<error_code> async_dial(tcp::socket& sock, const std::string& host, std::uint16_t port)
{
    error_code ec;
    sock.close(ec);
    auto addr = asio::ip::make_address(host, ec);
    if (!ec) {
        auto [cec] = co_await sock.async_connect(tcp::endpoint(addr, port), use_tuple);
        if (cec) co_return cec;
    } else {
        tcp::resolver resolver(sock.get_executor());
        auto [rec, results] = co_await resolver.async_resolve(host, std::to_string(port), use_tuple);
        if (rec) co_return rec;
        auto [cec, ep] = co_await asio::async_connect(sock, results, use_tuple);
        if (cec) co_return cec;
    }
    sock.set_option(tcp::no_delay(true), ec);
    sock.set_option(asio::socket_base::keep_alive(true), ec);
    co_return error_code{};
}

asio::awaitable<core::result<std::vector<reply>>> async_roundtrip(tcp::socket& sock, reply_reader& reader,
                                                                  const std::string& bytes, std::size_t expected)
{
    auto [wec, wn] = co_await asio::async_write(sock, asio::buffer(bytes), use_tuple);
    if (wec) co_return wec;
    std::vector<reply> out;
    out.reserve(expected);
    std::array<char, 4096> buf{};
    while (out.size() < expected) {
        bool failed = false;
        auto r = reader.next(failed);
        if (failed) co_return core::make_error_code(core::errc::redis_unavailable);
        if (r) {
            out.push_back(std::move(*r));
            continue;
        }
        auto [rec, n] = co_await sock.async_read_some(asio::buffer(buf), use_tuple);
        if (rec) co_return rec;
        if (!reader.feed(buf.data(), n)) co_return core::make_error_code(core::errc::redis_unavailable);
    }
    co_return out;
}

namespace {

asio::awaitable<core::result<endpoint>> async_ask_sentinel_once(endpoint sentinel, const settings* cfg)
{
    tcp::socket sock(co_await asio::this_coro::executor);
    if (auto ec = co_await async_dial(sock, sentinel.host, sentinel.port)) co_return ec;
    std::string bytes;
    std::size_t expected = 1;
    if (!cfg->sentinel_password.empty()) {
        command("AUTH", cfg->sentinel_password).write_to(bytes);
        ++expected;
    }
    command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", cfg->sentinel_master).write_to(bytes);
    reply_reader reader;
    auto replies = co_await async_roundtrip(sock, reader, bytes, expected);
    if (!replies) co_return replies.error();
    if (expected == 2 && replies->front().is_error()) {
        core::log::error("redis_sentinel_auth_refused", {{"sentinel", sentinel.host}, {"port", sentinel.port}});
        co_return core::make_error_code(core::errc::redis_unavailable);
    }
    auto addr = parse_master_addr(replies->back());
    if (!addr) co_return core::make_error_code(core::errc::redis_unavailable);
    co_return *addr;
}

}  // namespace

asio::awaitable<core::result<endpoint>> async_ask_sentinel(const endpoint& sentinel, const settings& cfg)
{
    auto ask = async_ask_sentinel_once(sentinel, &cfg);
    co_return co_await core::async_with_timeout(
        std::move(ask), std::chrono::duration_cast<core::steady_clock::duration>(cfg.connect_timeout));
}

}  // namespace detail

namespace {

asio::awaitable<core::result<void>> async_dial_checked(tcp::socket* sock, endpoint e)
{
    if (auto ec = co_await detail::async_dial(*sock, e.host, e.port)) co_return ec;
    co_return core::result<void>{};
}

}  // namespace

class sentinel_watch_state {
public:
    sentinel_watch_state(asio::any_io_executor ex, settings cfg) : ex_(ex), cfg_(std::move(cfg)), sock_(ex), pause_(ex)
    {
    }

    asio::awaitable<void> async_run();
    asio::awaitable<error_code> async_follow(const endpoint& sentinel);

    asio::any_io_executor ex_;
    settings cfg_;
    tcp::socket sock_;
    asio::steady_timer pause_;
    bool stopped_ = false;
    bool started_ = false;
};

asio::awaitable<error_code> sentinel_watch_state::async_follow(const endpoint& sentinel)
{
    // Subscribe first, then ask: a switch between the two is then seen either way.
    auto limit = std::chrono::duration_cast<core::steady_clock::duration>(cfg_.connect_timeout);
    auto dial = async_dial_checked(&sock_, sentinel);
    auto dialled = co_await core::async_with_timeout(std::move(dial), limit);
    if (!dialled) co_return dialled.error();

    std::string bytes;
    std::size_t expected = 1;
    if (!cfg_.sentinel_password.empty()) {
        command("AUTH", cfg_.sentinel_password).write_to(bytes);
        ++expected;
    }
    command("SUBSCRIBE", "+switch-master").write_to(bytes);
    reply_reader reader;
    auto exchange = detail::async_roundtrip(sock_, reader, bytes, expected);
    auto subscribed = co_await core::async_with_timeout(std::move(exchange), limit);
    if (!subscribed) co_return subscribed.error();
    for (const auto& r : *subscribed) {
        if (r.is_error()) co_return core::make_error_code(core::errc::redis_unavailable);
    }
    // The subscribed link cannot run other commands: ask on a second connection.
    auto now = co_await detail::async_ask_sentinel(sentinel, cfg_);
    if (!now) co_return now.error();
    if (cfg_.tracker->announce(*now)) {
        core::log::info("redis_master_announced", {{"host", now->host}, {"port", now->port}});
    }

    std::array<char, 4096> buf{};
    for (;;) {
        bool failed = false;
        while (auto r = reader.next(failed)) {
            auto m = parse_switch_master(*r, cfg_.sentinel_master);
            if (m && cfg_.tracker->announce(*m)) {
                core::log::warn("redis_master_switched", {{"host", m->host}, {"port", m->port}});
            }
        }
        if (failed) co_return core::make_error_code(core::errc::redis_unavailable);
        // No timeout: a subscription is idle until a failover; TCP keep-alive finds a dead peer.
        auto [ec, n] = co_await sock_.async_read_some(asio::buffer(buf), use_tuple);
        if (ec) co_return ec;
        if (!reader.feed(buf.data(), n)) co_return core::make_error_code(core::errc::redis_unavailable);
    }
}

asio::awaitable<void> sentinel_watch_state::async_run()
{
    std::size_t next = 0;
    bool logged = false;
    while (!stopped_) {
        const endpoint sentinel = cfg_.sentinels[next % cfg_.sentinels.size()];
        auto ec = co_await async_follow(sentinel);
        if (stopped_) break;
        if (!logged) {
            core::log::warn("redis_sentinel_watch_lost",
                            {{"sentinel", sentinel.host}, {"port", sentinel.port}, {"error", ec.message()}});
        }
        logged = true;
        ++next;
        error_code ignored;
        sock_.close(ignored);
        pause_.expires_after(std::chrono::milliseconds(200));
        co_await pause_.async_wait(use_tuple);
    }
}

namespace {

asio::awaitable<void> async_run_watch(std::shared_ptr<sentinel_watch_state> st)
{
    co_await st->async_run();
}

}  // namespace

sentinel_watch::sentinel_watch(asio::any_io_executor ex, settings cfg)
    : state_(std::make_shared<sentinel_watch_state>(ex, std::move(cfg)))
{
}

sentinel_watch::~sentinel_watch()
{
    stop();
}

void sentinel_watch::start()
{
    if (state_->started_ || state_->cfg_.sentinels.empty() || !state_->cfg_.tracker) return;
    state_->started_ = true;
    asio::co_spawn(state_->ex_, async_run_watch(state_), core::log_escape{"redis_sentinel_watch"});
}

void sentinel_watch::stop()
{
    state_->stopped_ = true;
    error_code ignored;
    state_->sock_.close(ignored);
    state_->pause_.cancel();
}

}  // namespace portcullis::store::redis
