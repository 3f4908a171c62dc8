#include "verify_support.hpp"

#include "test_env.hpp"
#include "wait.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <stdexcept>
#include <thread>

namespace portcullis::test::verify {

namespace {

std::string find_dnsmasq()
{
    for (const char* p : {"/usr/sbin/dnsmasq", "/usr/bin/dnsmasq"}) {
        if (::access(p, X_OK) == 0) return p;
    }
    throw std::runtime_error("dnsmasq is not installed (Debian package dnsmasq-base)");
}

// Binds a UDP socket on 127.0.0.1 port 0; returns the fd and sets `port`.
int bind_udp(int& port)
{
    int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw std::runtime_error("socket failed");
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        ::close(fd);
        throw std::runtime_error("bind failed");
    }
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
    return fd;
}

}  // namespace

dns_server::dns_server()
{
    std::string dir = make_temp_dir("dnsmasq");
    std::string log = dir + "/dnsmasq.log";
    // The port was free for TCP a moment ago; dnsmasq binds UDP and TCP on it. Retry on
    // the rare collision.
    for (int attempt = 0; attempt < 5; ++attempt) {
        port_ = free_port();
        std::vector<std::string> argv{
            find_dnsmasq(), "--keep-in-foreground", "--conf-file=/dev/null", "--log-facility=-", "--log-queries",
            "--no-resolv", "--no-hosts", "--no-poll", "--bind-interfaces", "--listen-address=127.0.0.1",
            "--port=" + std::to_string(port_), "--pid-file=", "--local=/test/", "--mx-host=mail.test,mx1.mail.test,10",
            "--host-record=mx1.mail.test,127.0.0.10", "--host-record=a-only.test,127.0.0.11",
            "--host-record=v6-only.test,fd00::11",
            // RDATA of MX: preference 0, exchange "." (one zero byte).
            "--dns-rr=nullmx.test,15,000000", "--txt-record=txt-only.test,nothing here",
            "--host-record=api.mailboxlayer.test,127.0.0.1", "--host-record=other.mailboxlayer.test,127.0.0.1"};
        proc_ = std::make_unique<process>(argv, std::map<std::string, std::string>{}, log);
        // dnsmasq binds its sockets before it logs "started": queries sent from now on wait
        // in the socket's buffer.
        if (wait_for_text(log, "started, version", std::chrono::seconds(10)) && proc_->running()) return;
        proc_.reset();
    }
    throw std::runtime_error("dnsmasq did not start: " + read_file(log));
}

dns_server::~dns_server() = default;

dns_server& shared_dns_server()
{
    static dns_server server;
    return server;
}

silent_udp::silent_udp()
{
    fd_ = bind_udp(port_);
}

silent_udp::~silent_udp()
{
    if (fd_ >= 0) ::close(fd_);
}

std::string refusing_udp_address()
{
    int port = 0;
    int fd = bind_udp(port);
    ::close(fd);
    return "127.0.0.1:" + std::to_string(port);
}

mailboxlayer_stub::mailboxlayer_stub(std::string access_key) : key_(std::move(access_key))
{
    dir_ = make_temp_dir("mailboxlayer");
    cert_ = dir_ + "/cert.pem";
    log_ = dir_ + "/requests.jsonl";
    std::string key = dir_ + "/key.pem";
    int rc =
        run_command({"/usr/bin/openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                     "-nodes", "-keyout", key, "-out", cert_, "-days", "2", "-subj", "/CN=api.mailboxlayer.test",
                     "-addext", "subjectAltName=DNS:api.mailboxlayer.test,IP:127.0.0.1"},
                    {}, dir_ + "/openssl.log", std::chrono::seconds(30));
    if (rc != 0) throw std::runtime_error("openssl req failed: " + read_file(dir_ + "/openssl.log"));
    {
        std::ofstream(log_, std::ios::trunc);
    }

    std::string script = require_env("PORTCULLIS_SOURCE_ROOT") + "/tests/verify/mailboxlayer_stub.py";
    // Port 0: the stub binds a port the kernel picks and prints it ("listening PORT").
    const std::string out = dir_ + "/stub.log";
    proc_ =
        std::make_unique<process>(std::vector<std::string>{"/usr/bin/python3", script, "--port", "0", "--cert", cert_,
                                                           "--key", key, "--access-key", key_, "--log", log_},
                                  std::map<std::string, std::string>{}, out);
    std::string text;
    std::size_t at = std::string::npos;
    const bool listening = wait_until(
        [&] {
            text = read_file(out);
            at = text.find("listening ");
            return at != std::string::npos && text.find('\n', at) != std::string::npos;
        },
        std::chrono::seconds(10), std::chrono::milliseconds(20));
    if (!listening) throw std::runtime_error("the Mailboxlayer stub did not start: " + text);
    port_ = std::stoi(text.substr(at + 10));
}

mailboxlayer_stub::~mailboxlayer_stub() = default;

std::string mailboxlayer_stub::url(const std::string& host) const
{
    return "https://" + host + ":" + std::to_string(port_) + "/api/check";
}

std::string mailboxlayer_stub::request_log() const
{
    return read_file(log_);
}

int mailboxlayer_stub::requests() const
{
    int n = 0;
    for (char c : request_log()) n += c == '\n' ? 1 : 0;
    return n;
}

}  // namespace portcullis::test::verify
