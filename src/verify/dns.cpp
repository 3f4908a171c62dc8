#include "verify/dns.hpp"

#include "core/timeout.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <ares.h>
#include <arpa/nameser.h>
#include <poll.h>

#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <stdexcept>
#include <vector>

namespace portcullis::verify {

namespace asio = boost::asio;
using boost::system::error_code;
using core::errc;

namespace {

// The system resolver's configuration (/etc/resolv.conf), read once: building a channel
// from scratch reads that file, which must not happen per lookup on an I/O thread. Each
// lookup's channel is built from these saved options (all of them set, so c-ares reads no
// file) and gets the saved server list, IPv6 servers and ports included.
struct system_resolver {
    ares_options opts{};
    int mask = 0;
    ares_addr_port_node* servers = nullptr;
    bool saved = false;

    system_resolver()
    {
        if (ares_library_init(ARES_LIB_INIT_ALL) != ARES_SUCCESS) throw std::runtime_error("c-ares did not initialise");
        ares_channel c = nullptr;
        if (ares_init(&c) != ARES_SUCCESS) return;
        saved = ares_save_options(c, &opts, &mask) == ARES_SUCCESS;
        if (saved && ares_get_servers_ports(c, &servers) != ARES_SUCCESS) servers = nullptr;
        ares_destroy(c);
        // The saved timeout is in milliseconds (ARES_OPT_TIMEOUTMS); lookups set their own.
        mask &= ~ARES_OPT_TIMEOUT;
    }
    ~system_resolver()
    {
        if (servers != nullptr) ares_free_data(servers);
        if (saved) ares_destroy_options(&opts);
    }
    system_resolver(const system_resolver&) = delete;
    system_resolver& operator=(const system_resolver&) = delete;
};

const system_resolver& system_config()
{
    static const system_resolver r;
    return r;
}

// One c-ares channel and the sockets it asked us to watch. c-ares calls back into it
// synchronously (socket state changes, query completion), always on the thread that
// drives it. Wait handlers hold a shared_ptr, so a wait cancelled when c-ares closes
// its socket finds the driver alive when its handler runs.
class driver : public std::enable_shared_from_this<driver> {
public:
    explicit driver(asio::any_io_executor ex) : ex_(std::move(ex)), wake_(ex_) {}

    driver(const driver&) = delete;
    driver& operator=(const driver&) = delete;

    ~driver() { close(); }

    // Creates the channel. Errors: dependency_failed (bad server list, no resources).
    core::result<void> open(const dns_settings& s, std::chrono::milliseconds per_try)
    {
        const system_resolver& sys = system_config();
        ares_options opts = sys.saved ? sys.opts : ares_options{};
        int mask = sys.saved ? sys.mask : 0;
        opts.sock_state_cb = &driver::on_sock_state;
        opts.sock_state_cb_data = this;
        opts.timeout = static_cast<int>(per_try.count());
        opts.tries = 2;
        mask |= ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES;
        if (ares_init_options(&channel_, &opts, mask) != ARES_SUCCESS) {
            channel_ = nullptr;
            return make_error_code(errc::dependency_failed);
        }
        int set = ARES_SUCCESS;
        if (!s.servers.empty()) {
            set = ares_set_servers_ports_csv(channel_, s.servers.c_str());
        } else if (sys.servers != nullptr) {
            set = ares_set_servers_ports(channel_, sys.servers);
        }
        if (set != ARES_SUCCESS) return make_error_code(errc::dependency_failed);
        return {};
    }

    // Sends one query; `done()` turns true when its answer (or failure) is in.
    void start(const std::string& name, int type)
    {
        done_ = false;
        status_ = ARES_SUCCESS;
        answer_.clear();
        ares_query(channel_, name.c_str(), ns_c_in, type, &driver::on_answer, this);
    }

    bool done() const noexcept { return done_; }
    int status() const noexcept { return status_; }
    const std::vector<unsigned char>& answer() const noexcept { return answer_; }

    // Drives the channel until the query is done or `deadline` passes (the query is
    // then cancelled and finishes with ARES_ECANCELLED).
    asio::awaitable<void> async_run(core::deadline deadline)
    {
        constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
        while (!done_) {
            auto left = core::remaining(deadline);
            if (left == core::steady_clock::duration::zero()) {
                ares_cancel(channel_);
                break;
            }
            auto left_us = std::chrono::duration_cast<std::chrono::microseconds>(left).count();
            timeval max{static_cast<time_t>(left_us / 1'000'000), static_cast<suseconds_t>(left_us % 1'000'000)};
            timeval tv{};
            timeval* next = ares_timeout(channel_, &max, &tv);
            wake_.expires_after(std::chrono::seconds(next->tv_sec) + std::chrono::microseconds(next->tv_usec));
            auto [ec] = co_await wake_.async_wait(use_tuple);
            // Expired: c-ares retries or gives up on the queries whose time is up. Cancelled:
            // a socket handler made progress; look again.
            if (!ec) ares_process_fd(channel_, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
        }
    }

    // Destroys the channel: c-ares closes its sockets, reporting each one, and pending
    // waits are cancelled.
    void close() noexcept
    {
        if (channel_ != nullptr) {
            ares_channel c = channel_;
            channel_ = nullptr;
            ares_destroy(c);
        }
        for (auto& [fd, w] : sockets_) {
            error_code ignored;
            w.desc->cancel(ignored);
            (void)w.desc->release();
        }
        sockets_.clear();
    }

private:
    struct watched {
        std::unique_ptr<asio::posix::stream_descriptor> desc;
        std::uint64_t generation = 0;  // fd numbers are reused; handlers check this
        bool want_read = false;
        bool want_write = false;
        bool reading = false;
        bool writing = false;
    };

    static void on_sock_state(void* data, ares_socket_t fd, int readable, int writable)
    {
        static_cast<driver*>(data)->sock_state(fd, readable != 0, writable != 0);
    }

    static void on_answer(void* arg, int status, int /*timeouts*/, unsigned char* abuf, int alen)
    {
        auto* self = static_cast<driver*>(arg);
        self->done_ = true;
        self->status_ = status;
        if (abuf != nullptr && alen > 0) self->answer_.assign(abuf, abuf + alen);
        // The coroutine may be waiting on c-ares's next timeout: wake it now.
        self->wake_.cancel();
    }

    void sock_state(ares_socket_t fd, bool readable, bool writable)
    {
        if (!readable && !writable) {
            auto it = sockets_.find(fd);
            if (it != sockets_.end()) {
                (void)it->second.desc->release();  // c-ares closes the fd itself
                sockets_.erase(it);
            }
            return;
        }
        auto& w = sockets_[fd];
        if (!w.desc) {
            error_code ec;
            w.desc = std::make_unique<asio::posix::stream_descriptor>(ex_);
            w.desc->assign(fd, ec);
            if (ec) {
                // Not watchable: c-ares will time the query out; nothing else to do.
                w.desc.reset();
                sockets_.erase(fd);
                return;
            }
            w.generation = ++generations_;
        }
        w.want_read = readable;
        w.want_write = writable;
        arm(fd);
    }

    void arm(ares_socket_t fd)
    {
        auto it = sockets_.find(fd);
        if (it == sockets_.end()) return;
        watched& w = it->second;
        if (w.want_read && !w.reading) {
            w.reading = true;
            w.desc->async_wait(asio::posix::descriptor_base::wait_read,
                               [self = shared_from_this(), fd, gen = w.generation](error_code ec) {
                                   self->on_ready(fd, gen, true, ec);
                               });
        }
        if (w.want_write && !w.writing) {
            w.writing = true;
            w.desc->async_wait(asio::posix::descriptor_base::wait_write,
                               [self = shared_from_this(), fd, gen = w.generation](error_code ec) {
                                   self->on_ready(fd, gen, false, ec);
                               });
        }
    }

    void on_ready(ares_socket_t fd, std::uint64_t gen, bool read, error_code ec)
    {
        auto it = sockets_.find(fd);
        if (it == sockets_.end() || it->second.generation != gen) return;
        (read ? it->second.reading : it->second.writing) = false;
        if (ec || channel_ == nullptr) return;
        ares_process_fd(channel_, read ? fd : ARES_SOCKET_BAD, read ? ARES_SOCKET_BAD : fd);
        // Asio's reactor is edge-triggered: bytes that arrived while no wait was queued
        // raise no new event, so drain what is already readable before waiting again.
        for (int rounds = 0; read && rounds < 64; ++rounds) {
            auto again = sockets_.find(fd);
            if (again == sockets_.end() || again->second.generation != gen || channel_ == nullptr) break;
            pollfd p{fd, POLLIN, 0};
            if (::poll(&p, 1, 0) <= 0 || (p.revents & POLLIN) == 0) break;
            ares_process_fd(channel_, fd, ARES_SOCKET_BAD);
        }
        wake_.cancel();
        arm(fd);
    }

    asio::any_io_executor ex_;
    asio::steady_timer wake_;
    ares_channel channel_ = nullptr;
    std::map<ares_socket_t, watched> sockets_;
    std::uint64_t generations_ = 0;
    bool done_ = true;
    int status_ = ARES_SUCCESS;
    std::vector<unsigned char> answer_;
};

// Destroys the channel however the coroutine ends (including by cancellation).
struct close_guard {
    driver& d;
    ~close_guard() { d.close(); }
};

enum class found { yes, no, no_data, failed, timed_out };

found classify(int status)
{
    switch (status) {
    case ARES_SUCCESS:
        return found::yes;
    case ARES_ENODATA:
        return found::no_data;
    case ARES_ENOTFOUND:
    case ARES_EBADNAME:
        return found::no;
    case ARES_ETIMEOUT:
    case ARES_ECANCELLED:
        return found::timed_out;
    default:
        return found::failed;
    }
}

// MX answer: yes when some exchange is a real host; no when the only MX is the
// "no mail" one (RFC 7505: a single MX with the root as exchange); no_data otherwise.
found read_mx(const std::vector<unsigned char>& answer)
{
    ares_mx_reply* mx = nullptr;
    int st = ares_parse_mx_reply(answer.data(), static_cast<int>(answer.size()), &mx);
    if (st == ARES_ENODATA) return found::no_data;
    if (st != ARES_SUCCESS) return found::failed;
    bool any = false;
    bool real = false;
    for (ares_mx_reply* r = mx; r != nullptr; r = r->next) {
        any = true;
        std::string_view host = r->host != nullptr ? r->host : "";
        if (!host.empty() && host != ".") real = true;
    }
    ares_free_data(mx);
    if (real) return found::yes;
    return any ? found::no : found::no_data;
}

// A or AAAA answer: yes (addresses appended to `out`) or no_data when it holds none.
found read_address(const std::vector<unsigned char>& answer, int type, std::vector<asio::ip::address>* out = nullptr)
{
    int count = 8;
    int st = ARES_SUCCESS;
    if (type == ns_t_a) {
        ares_addrttl ttls[8];
        st = ares_parse_a_reply(answer.data(), static_cast<int>(answer.size()), nullptr, ttls, &count);
        for (int i = 0; st == ARES_SUCCESS && out != nullptr && i < count; ++i) {
            asio::ip::address_v4::bytes_type b;
            std::memcpy(b.data(), &ttls[i].ipaddr, b.size());
            out->push_back(asio::ip::address_v4(b));
        }
    } else {
        ares_addr6ttl ttls[8];
        st = ares_parse_aaaa_reply(answer.data(), static_cast<int>(answer.size()), nullptr, ttls, &count);
        for (int i = 0; st == ARES_SUCCESS && out != nullptr && i < count; ++i) {
            asio::ip::address_v6::bytes_type b;
            std::memcpy(b.data(), &ttls[i].ip6addr, b.size());
            out->push_back(asio::ip::address_v6(b));
        }
    }
    if (st == ARES_ENODATA) return found::no_data;
    if (st != ARES_SUCCESS) return found::failed;
    return count > 0 ? found::yes : found::no_data;
}

// Opens a driver for one lookup of at most `timeout` (three queries at most, each with
// two tries whose wait doubles: a quarter of the budget per first try leaves room for
// the retry of the first query).
core::result<void> open_for(driver& d, const dns_settings& s)
{
    return d.open(s, std::max(std::chrono::milliseconds(100), s.timeout / 4));
}

}  // namespace

void prepare_system_resolver()
{
    (void)system_config();
}

bool valid_server_list(const std::string& servers)
{
    const system_resolver& sys = system_config();
    ares_options opts = sys.saved ? sys.opts : ares_options{};
    ares_channel c = nullptr;
    if (ares_init_options(&c, &opts, sys.saved ? sys.mask : 0) != ARES_SUCCESS) return false;
    bool ok = ares_set_servers_ports_csv(c, servers.c_str()) == ARES_SUCCESS;
    ares_destroy(c);
    return ok;
}

asio::awaitable<core::result<bool>> async_domain_accepts_mail(std::string domain, const dns_settings& s)
{
    auto deadline = core::steady_clock::now() + s.timeout;
    auto d = std::make_shared<driver>(co_await asio::this_coro::executor);
    close_guard guard{*d};
    auto opened = open_for(*d, s);
    if (!opened) co_return core::result<bool>(boost::system::in_place_error, opened.error());

    for (int type : {ns_t_mx, ns_t_a, ns_t_aaaa}) {
        d->start(domain, type);
        co_await d->async_run(deadline);
        found f = classify(d->status());
        if (f == found::yes) f = type == ns_t_mx ? read_mx(d->answer()) : read_address(d->answer(), type);
        switch (f) {
        case found::yes:
            co_return true;
        case found::no:
            co_return false;
        case found::no_data:
            continue;  // no MX: the domain's own address is the implicit MX
        case found::timed_out:
            co_return core::result<bool>(boost::system::in_place_error, make_error_code(errc::timeout));
        case found::failed:
            co_return core::result<bool>(boost::system::in_place_error, make_error_code(errc::dependency_failed));
        }
    }
    co_return false;
}

asio::awaitable<core::result<std::vector<asio::ip::address>>> async_resolve_host(std::string host,
                                                                                 const dns_settings& s)
{
    auto deadline = core::steady_clock::now() + s.timeout;
    auto d = std::make_shared<driver>(co_await asio::this_coro::executor);
    close_guard guard{*d};
    auto opened = open_for(*d, s);
    if (!opened) co_return opened.error();

    std::vector<asio::ip::address> out;
    for (int type : {ns_t_a, ns_t_aaaa}) {
        d->start(host, type);
        co_await d->async_run(deadline);
        found f = classify(d->status());
        if (f == found::yes) f = read_address(d->answer(), type, &out);
        if (f == found::timed_out && out.empty()) co_return make_error_code(errc::timeout);
        if (f == found::failed && out.empty()) co_return make_error_code(errc::dependency_failed);
        if (f == found::no) break;
    }
    if (out.empty()) co_return make_error_code(errc::dependency_failed);
    co_return out;
}

}  // namespace portcullis::verify
