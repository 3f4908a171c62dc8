#pragma once
// Real servers for the address-check tests: dnsmasq on loopback with test records,
// the Mailboxlayer stand-in (mailboxlayer_stub.py) over TLS with a certificate made
// here, and UDP ports that refuse or never answer.

#include "process.hpp"

#include <memory>
#include <string>

namespace portcullis::test::verify {

// dnsmasq answering only from its own records (anything else under .test is NXDOMAIN):
//   mail.test          MX 10 mx1.mail.test (127.0.0.10)
//   a-only.test        A 127.0.0.11, no MX
//   v6-only.test       AAAA fd00::11, no MX and no A
//   nullmx.test        the "no mail" MX of RFC 7505 (exchange ".")
//   txt-only.test      TXT only
//   api.mailboxlayer.test, other.mailboxlayer.test   A 127.0.0.1 (the stub's host)
class dns_server {
public:
    dns_server();
    ~dns_server();
    int port() const noexcept { return port_; }
    std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

private:
    int port_ = 0;
    std::unique_ptr<process> proc_;
};

// One dns_server for the whole test executable, started on first use.
dns_server& shared_dns_server();

// A UDP socket bound on loopback that never answers.
class silent_udp {
public:
    silent_udp();
    ~silent_udp();
    std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

private:
    int fd_ = -1;
    int port_ = 0;
};

// A loopback UDP port with nothing bound to it (queries get ICMP port unreachable).
std::string refusing_udp_address();

// The stub, over TLS with a self-signed certificate for api.mailboxlayer.test and 127.0.0.1.
class mailboxlayer_stub {
public:
    explicit mailboxlayer_stub(std::string access_key = "test-access-key-0123456789");
    ~mailboxlayer_stub();
    int port() const noexcept { return port_; }
    const std::string& access_key() const noexcept { return key_; }
    // The certificate, to trust as the CA (MAILBOXLAYER_CA_FILE).
    const std::string& ca_file() const noexcept { return cert_; }
    // https://api.mailboxlayer.test:PORT/api/check
    std::string url(const std::string& host = "api.mailboxlayer.test") const;
    // Requests received so far (one JSON line each).
    int requests() const;
    std::string request_log() const;

private:
    int port_ = 0;
    std::string key_;
    std::string dir_;
    std::string cert_;
    std::string log_;
    std::unique_ptr<process> proc_;
};

}  // namespace portcullis::test::verify
