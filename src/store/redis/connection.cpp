// Why one file of this size: one connection's run loop (connect, Sentinel discovery,
// pipelined writes, the reply reader and the pending-reply queue) is one state machine.
#include "store/redis/connection.hpp"

#include "core/log.hpp"
#include "core/random.hpp"
#include "core/spawn.hpp"
#include "store/redis/sentinel.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <array>
#include <deque>
#include <string>
#include <utility>

namespace portcullis::store::redis {

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

error_code make_ec(core::errc e)
{
    return core::make_error_code(e);
}

}  // namespace

namespace detail {

struct request;

// One request's place in the FIFO of awaited replies. `req` is null once its caller
// gave up (timeout): the replies are then read and dropped.
struct pending_entry {
    request* req;
    std::size_t left;
};

class connection_state {
public:
    enum class phase { initial, up, down, stopped };

    connection_state(asio::any_io_executor ex, settings cfg)
        : ex_(ex), cfg_(std::move(cfg)), sock_(ex), wake_(ex), backoff_(ex), target_{cfg_.host, cfg_.port}
    {
    }

    asio::any_io_executor ex_;
    settings cfg_;
    tcp::socket sock_;
    asio::steady_timer wake_;     // wakes the writer when bytes are queued
    asio::steady_timer backoff_;  // reconnect delay
    std::string wbuf_;            // queued, not yet written
    std::string wout_;            // being written
    std::deque<pending_entry> pending_;
    std::uint64_t front_seq_ = 0;  // sequence number of pending_.front()
    std::size_t pending_replies_ = 0;
    reply_reader reader_;
    std::array<char, 65536> rbuf_{};
    phase phase_ = phase::initial;
    bool started_ = false;
    core::steady_clock::time_point last_progress_{};
    connection_stats stats_;
    endpoint target_;                 // where the next connect goes (the master in sentinel mode)
    std::size_t first_sentinel_ = 0;  // the sentinel that answered last is asked first
    std::uint64_t seen_epoch_ = 0;    // master_tracker epoch known at the last connect

    // Queues `r` for `replies` replies, `write` appending its commands to the write buffer.
    template <class Write>
    error_code submit(request& r, std::size_t replies, Write&& write);
    void deliver(reply&& r, bool& desync);
    void abandon(std::uint64_t seq) noexcept;
    void fail_all(error_code ec);
    void stop();

    asio::awaitable<void> async_run();
    bool sentinel_mode() const noexcept { return !cfg_.sentinels.empty(); }
    asio::awaitable<core::result<void>> async_discover();
    asio::awaitable<core::result<void>> async_connect_handshake();
    asio::awaitable<error_code> async_reader();
    asio::awaitable<error_code> async_writer();
    asio::awaitable<error_code> async_watchdog();
};

struct request {
    std::shared_ptr<connection_state> owner;
    asio::steady_timer timer;
    std::vector<reply> replies;
    error_code ec;
    std::uint64_t seq = 0;
    bool queued = false;
    bool done = false;

    request(std::shared_ptr<connection_state> o, std::size_t n) : owner(std::move(o)), timer(owner->ex_)
    {
        replies.reserve(n);
    }
    request(const request&) = delete;
    request& operator=(const request&) = delete;
    // A caller that stops waiting (timeout, cancellation, frame destroyed) leaves its
    // entry in the FIFO, but without a pointer back to this object.
    ~request()
    {
        if (queued && !done) owner->abandon(seq);
    }

    void complete(error_code e)
    {
        ec = e;
        done = true;
        timer.cancel();
    }
};

template <class Write>
error_code connection_state::submit(request& r, std::size_t replies, Write&& write)
{
    if (phase_ == phase::down || phase_ == phase::stopped) return make_ec(core::errc::redis_unavailable);
    if (pending_replies_ + replies > cfg_.max_pending) return make_ec(core::errc::overloaded);
    if (pending_.empty()) last_progress_ = core::steady_clock::now();
    r.seq = front_seq_ + pending_.size();
    r.queued = true;
    pending_.push_back({&r, replies});
    pending_replies_ += replies;
    bool was_empty = wbuf_.empty();
    write(wbuf_);
    if (was_empty) wake_.cancel();
    stats_.commands.fetch_add(replies, std::memory_order_relaxed);
    return {};
}

void connection_state::deliver(reply&& r, bool& desync)
{
    if (pending_.empty()) {
        desync = true;
        return;
    }
    pending_entry& e = pending_.front();
    if (e.req != nullptr) e.req->replies.push_back(std::move(r));
    --pending_replies_;
    if (--e.left == 0) {
        request* done = e.req;
        pending_.pop_front();
        ++front_seq_;
        if (done != nullptr) done->complete({});
    }
}

void connection_state::abandon(std::uint64_t seq) noexcept
{
    if (seq < front_seq_) return;
    std::uint64_t idx = seq - front_seq_;
    if (idx < pending_.size()) pending_[static_cast<std::size_t>(idx)].req = nullptr;
}

void connection_state::fail_all(error_code ec)
{
    // Detach first: completing a request may not touch the FIFO we iterate.
    std::deque<pending_entry> failed;
    failed.swap(pending_);
    front_seq_ += failed.size();
    pending_replies_ = 0;
    wbuf_.clear();
    for (auto& e : failed) {
        if (e.req != nullptr) e.req->complete(ec);
    }
}

void connection_state::stop()
{
    if (phase_ == phase::stopped) return;
    phase_ = phase::stopped;
    error_code ignored;
    sock_.close(ignored);
    wake_.cancel();
    backoff_.cancel();
    fail_all(make_ec(core::errc::redis_unavailable));
}

asio::awaitable<core::result<void>> connection_state::async_discover()
{
    if (cfg_.tracker) seen_epoch_ = cfg_.tracker->epoch();
    const std::size_t n = cfg_.sentinels.size();
    for (std::size_t i = 0; i < n; ++i) {
        std::size_t at = (first_sentinel_ + i) % n;
        auto found = co_await detail::async_ask_sentinel(cfg_.sentinels[at], cfg_);
        if (phase_ == phase::stopped) co_return make_ec(core::errc::redis_unavailable);
        if (found) {
            first_sentinel_ = at;
            target_ = std::move(*found);
            co_return core::result<void>{};
        }
    }
    co_return make_ec(core::errc::redis_unavailable);
}

asio::awaitable<core::result<void>> connection_state::async_connect_handshake()
{
    if (auto ec = co_await detail::async_dial(sock_, target_.host, target_.port)) co_return ec;

    std::string hello;
    std::size_t expected = 0;
    if (!cfg_.password.empty()) {
        if (cfg_.username.empty())
            command("AUTH", cfg_.password).write_to(hello);
        else
            command("AUTH", cfg_.username, cfg_.password).write_to(hello);
        ++expected;
    }
    if (cfg_.db != 0) {
        command("SELECT", cfg_.db).write_to(hello);
        ++expected;
    }
    if (!cfg_.client_name.empty()) {
        command("CLIENT", "SETNAME", cfg_.client_name).write_to(hello);
        ++expected;
    }
    // Sentinel mode: the address came from a sentinel that may be behind; only a server
    // that says it is the master is used.
    if (sentinel_mode()) {
        command("ROLE").write_to(hello);
        ++expected;
    }
    // PING last: while Redis loads its data set it answers LOADING, and we must wait.
    command("PING").write_to(hello);
    ++expected;

    auto replies = co_await detail::async_roundtrip(sock_, reader_, hello, expected);
    if (!replies) co_return replies.error();
    for (std::size_t i = 0; i < replies->size(); ++i) {
        const reply& r = (*replies)[i];
        if (r.is_error()) {
            if (!is_transient_error(r)) {
                core::log::error("redis_handshake_refused", {{"host", target_.host}, {"error", r.str}});
            }
            co_return make_ec(core::errc::redis_unavailable);
        }
        if (sentinel_mode() && i + 2 == replies->size() && !is_master_role(r)) {
            core::log::warn("redis_not_master", {{"host", target_.host}, {"port", target_.port}});
            co_return make_ec(core::errc::redis_unavailable);
        }
    }
    co_return core::result<void>{};
}

asio::awaitable<error_code> connection_state::async_reader()
{
    for (;;) {
        auto [ec, n] = co_await sock_.async_read_some(asio::buffer(rbuf_), use_tuple);
        if (ec) co_return ec;
        last_progress_ = core::steady_clock::now();
        if (!reader_.feed(rbuf_.data(), n)) co_return make_ec(core::errc::redis_unavailable);
        for (;;) {
            bool failed = false;
            auto r = reader_.next(failed);
            if (failed) co_return make_ec(core::errc::redis_unavailable);
            if (!r) break;
            // Sentinel mode: this server stopped being a usable master; find the master again.
            bool lost = sentinel_mode() && means_master_lost(*r);
            bool desync = false;
            deliver(std::move(*r), desync);
            if (desync || lost) co_return make_ec(core::errc::redis_unavailable);
        }
    }
}

asio::awaitable<error_code> connection_state::async_writer()
{
    for (;;) {
        if (wbuf_.empty()) {
            wake_.expires_at(core::steady_clock::time_point::max());
            co_await wake_.async_wait(use_tuple);
            if (phase_ != phase::up) co_return make_ec(core::errc::redis_unavailable);
            continue;
        }
        wout_.clear();
        std::swap(wbuf_, wout_);
        auto [ec, n] = co_await asio::async_write(sock_, asio::buffer(wout_), use_tuple);
        if (ec) co_return ec;
    }
}

asio::awaitable<error_code> connection_state::async_watchdog()
{
    // Replies outstanding but nothing read for stall_timeout: the peer is gone without a
    // reset (network partition) or hung; drop the connection instead of waiting forever.
    asio::steady_timer t(ex_);
    auto period = std::min<core::steady_clock::duration>(cfg_.stall_timeout / 4, std::chrono::seconds(1));
    // With a tracker, a +switch-master is noticed within this period.
    if (cfg_.tracker) period = std::min<core::steady_clock::duration>(period, std::chrono::milliseconds(100));
    for (;;) {
        t.expires_after(period);
        auto [ec] = co_await t.async_wait(use_tuple);
        if (ec) co_return ec;
        if (!pending_.empty() && core::steady_clock::now() - last_progress_ > cfg_.stall_timeout) {
            co_return make_ec(core::errc::timeout);
        }
        if (cfg_.tracker && cfg_.tracker->epoch() != seen_epoch_) {
            seen_epoch_ = cfg_.tracker->epoch();
            auto announced = cfg_.tracker->master();
            if (announced && *announced != target_) co_return make_ec(core::errc::redis_unavailable);
        }
    }
}

asio::awaitable<void> connection_state::async_run()
{
    using namespace asio::experimental::awaitable_operators;
    bool ever_connected = false;
    bool logged_down = false;
    unsigned failures = 0;
    while (phase_ != phase::stopped) {
        core::result<void> r = core::result<void>{};
        if (sentinel_mode()) r = co_await async_discover();
        if (r && phase_ != phase::stopped) {
            auto handshake = async_connect_handshake();
            r = co_await core::async_with_timeout(
                std::move(handshake), std::chrono::duration_cast<core::steady_clock::duration>(cfg_.connect_timeout));
        }
        if (phase_ == phase::stopped) break;
        if (r) {
            if (ever_connected) stats_.reconnects.fetch_add(1, std::memory_order_relaxed);
            ever_connected = true;
            logged_down = false;
            failures = 0;
            phase_ = phase::up;
            last_progress_ = core::steady_clock::now();
            core::log::info("redis_connected", {{"host", target_.host}, {"port", target_.port}});
            auto ended = co_await (async_reader() || async_writer() || async_watchdog());
            error_code why = std::visit([](const error_code& e) { return e; }, ended);
            if (phase_ == phase::stopped) break;
            stats_.disconnects.fetch_add(1, std::memory_order_relaxed);
            core::log::warn("redis_disconnected",
                            {{"host", target_.host}, {"port", target_.port}, {"error", why.message()}});
            logged_down = true;
        } else if (!logged_down) {
            core::log::warn("redis_connect_failed",
                            {{"host", target_.host}, {"port", target_.port}, {"error", r.error().message()}});
            logged_down = true;
        }
        phase_ = phase::down;
        error_code ignored;
        sock_.close(ignored);
        reader_.reset();
        fail_all(make_ec(core::errc::redis_unavailable));

        // Exponential backoff with jitter in [delay/2, delay], so clients restarted together spread out.
        auto base = cfg_.reconnect_min.count() << std::min(failures, 16U);
        auto cap = std::max<std::int64_t>(cfg_.reconnect_min.count(),
                                          std::min<std::int64_t>(base, cfg_.reconnect_max.count()));
        ++failures;
        auto half = static_cast<std::uint64_t>(cap / 2);
        auto delay = std::chrono::milliseconds(static_cast<std::int64_t>(half + core::random_below(half + 1)));
        backoff_.expires_after(delay);
        co_await backoff_.async_wait(use_tuple);
    }
    fail_all(make_ec(core::errc::redis_unavailable));
}

}  // namespace detail

namespace {

asio::awaitable<void> async_run_connection(std::shared_ptr<detail::connection_state> state)
{
    co_await state->async_run();
}

}  // namespace

connection::connection(asio::any_io_executor ex, settings cfg)
    : state_(std::make_shared<detail::connection_state>(ex, std::move(cfg)))
{
}

connection::~connection()
{
    stop();
}

void connection::start()
{
    if (state_->started_) return;
    state_->started_ = true;
    asio::co_spawn(state_->ex_, async_run_connection(state_), core::log_escape{"redis_connection"});
}

void connection::stop()
{
    state_->stop();
}

bool connection::connected() const noexcept
{
    return state_->phase_ == detail::connection_state::phase::up;
}

const settings& connection::config() const noexcept
{
    return state_->cfg_;
}

const connection_stats& connection::stats() const noexcept
{
    return state_->stats_;
}

namespace {

// Counts a failed call in the connection's statistics and returns its code.
error_code count_failure(detail::connection_state& st, error_code ec, bool timed_out = false)
{
    st.stats_.errors.fetch_add(1, std::memory_order_relaxed);
    if (timed_out) st.stats_.timeouts.fetch_add(1, std::memory_order_relaxed);
    return ec;
}

// Waits for the replies of `req`, submitted just before, until `limit` has passed.
asio::awaitable<error_code> async_await_replies(detail::connection_state& st, detail::request& req,
                                                core::steady_clock::duration limit)
{
    req.timer.expires_after(limit);
    co_await req.timer.async_wait(use_tuple);
    if (!req.done) co_return count_failure(st, make_ec(core::errc::timeout), true);
    if (req.ec) co_return count_failure(st, req.ec);
    co_return error_code{};
}

}  // namespace

asio::awaitable<core::result<reply>> connection::async_exec(command cmd, core::deadline d)
{
    auto& st = *state_;
    auto limit = core::budget(d, st.cfg_.command_timeout);
    if (limit <= core::steady_clock::duration::zero()) co_return count_failure(st, make_ec(core::errc::timeout), true);
    detail::request req(state_, 1);
    auto write = [&cmd](std::string& out) { cmd.write_to(out); };
    if (auto ec = st.submit(req, 1, write)) co_return count_failure(st, ec);
    if (auto ec = co_await async_await_replies(st, req, limit)) co_return ec;
    if (is_transient_error(req.replies.front())) co_return make_ec(core::errc::redis_unavailable);
    co_return std::move(req.replies.front());
}

asio::awaitable<core::result<std::vector<reply>>> connection::async_exec(pipeline p, core::deadline d)
{
    auto& st = *state_;
    if (p.empty()) co_return std::vector<reply>{};
    auto limit = core::budget(d, st.cfg_.command_timeout);
    if (limit <= core::steady_clock::duration::zero()) co_return count_failure(st, make_ec(core::errc::timeout), true);
    detail::request req(state_, p.size());
    auto write = [&p](std::string& out) { out += p.bytes(); };
    if (auto ec = st.submit(req, p.size(), write)) co_return count_failure(st, ec);
    if (auto ec = co_await async_await_replies(st, req, limit)) co_return ec;
    for (const auto& r : req.replies) {
        if (is_transient_error(r)) co_return make_ec(core::errc::redis_unavailable);
    }
    co_return std::move(req.replies);
}

asio::awaitable<core::result<reply>> connection::async_eval(const script& s, command keys, command args,
                                                            core::deadline d)
{
    command call("EVALSHA", s.sha1(), keys.size());
    call.append(keys).append(args);
    auto r = co_await async_exec(std::move(call), d);
    if (!r || !r->is_error() || !r->str.starts_with("NOSCRIPT")) co_return r;
    // The server lost its script cache (restart, SCRIPT FLUSH): EVAL runs and caches it.
    command full("EVAL", s.source(), keys.size());
    full.append(keys).append(args);
    co_return co_await async_exec(std::move(full), d);
}

namespace {

// WAIT's own timeout: half the time this call may take, so its reply comes back in time.
std::int64_t wait_budget_ms(const settings& cfg, core::deadline d)
{
    auto limit = core::budget(d, cfg.command_timeout);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(limit / 2).count();
    return std::max<std::int64_t>(ms, 1);  // WAIT 0 would block forever
}

// Checks the WAIT reply that ends `replies` and removes it.
error_code check_replicas(std::vector<reply>& replies, unsigned wanted)
{
    auto acked = as_integer(replies.back());
    replies.pop_back();
    // An error instead of a count: WAIT reached a server that is no longer the master.
    if (!acked) return make_ec(core::errc::redis_unavailable);
    if (*acked < static_cast<std::int64_t>(wanted)) {
        core::log::warn("redis_replicas_missing",
                        {{"wanted", static_cast<std::int64_t>(wanted)}, {"acknowledged", *acked}});
        return make_ec(core::errc::redis_unavailable);
    }
    return {};
}

}  // namespace

asio::awaitable<core::result<std::vector<reply>>> connection::async_exec_durable(pipeline p, core::deadline d)
{
    const unsigned wanted = state_->cfg_.min_replicas;
    if (wanted == 0) co_return co_await async_exec(std::move(p), d);
    p.push("WAIT", wanted, wait_budget_ms(state_->cfg_, d));
    auto r = co_await async_exec(std::move(p), d);
    if (!r) co_return r;
    if (auto ec = check_replicas(*r, wanted)) co_return ec;
    co_return r;
}

asio::awaitable<core::result<reply>> connection::async_eval_durable(const script& s, command keys, command args,
                                                                    core::deadline d)
{
    const unsigned wanted = state_->cfg_.min_replicas;
    if (wanted == 0) co_return co_await async_eval(s, std::move(keys), std::move(args), d);
    for (bool full : {false, true}) {
        command call(full ? "EVAL" : "EVALSHA", full ? s.source() : s.sha1(), keys.size());
        call.append(keys).append(args);
        pipeline p;
        p.push(call);
        p.push("WAIT", wanted, wait_budget_ms(state_->cfg_, d));
        auto r = co_await async_exec(std::move(p), d);
        if (!r) co_return r.error();
        // NOSCRIPT: the script did not run; EVAL runs and caches it.
        if (!full && r->front().is_error() && r->front().str.starts_with("NOSCRIPT")) continue;
        if (auto ec = check_replicas(*r, wanted)) co_return ec;
        co_return std::move(r->front());
    }
    co_return make_ec(core::errc::internal);
}

asio::awaitable<core::result<void>> connection::async_wait_connected(core::deadline d)
{
    asio::steady_timer t(co_await asio::this_coro::executor);
    while (!connected()) {
        if (core::remaining(d) <= core::steady_clock::duration::zero()) co_return make_ec(core::errc::timeout);
        t.expires_after(std::min<core::steady_clock::duration>(core::remaining(d), std::chrono::milliseconds(10)));
        co_await t.async_wait(use_tuple);
    }
    co_return core::result<void>{};
}

}  // namespace portcullis::store::redis
