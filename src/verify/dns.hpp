#pragma once
// Does a domain receive mail? DNS lookups with c-ares, driven by the calling
// coroutine's executor: c-ares owns its sockets, Asio only waits for them to become
// readable or writable, so nothing blocks the thread.

#include "core/error.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/address.hpp>

#include <chrono>
#include <string>
#include <vector>

namespace portcullis::verify {

struct dns_settings {
    // "host[:port],…" (IPv6 as "[addr]:port"); empty: the system resolver's servers
    // from /etc/resolv.conf.
    std::string servers;
    // The whole lookup (MX, then A and AAAA when there is no MX), tries included.
    std::chrono::milliseconds timeout{3'000};
};

// Whether `domain` (ASCII, lower case) can receive mail, as RFC 5321 §5.1 reads it: an MX
// record other than the "no mail" MX of RFC 7505, or with no MX at all an A or AAAA record.
// False for a domain that does not exist (NXDOMAIN) or has none of these.
// Errors: errc::timeout when no answer came within `s.timeout`; errc::dependency_failed
// when the servers refused or failed (SERVFAIL, REFUSED, connection refused, bad reply).
boost::asio::awaitable<core::result<bool>> async_domain_accepts_mail(std::string domain, const dns_settings& s);

// The IPv4 and IPv6 addresses of `host` (A, then AAAA), for clients that must not
// wait on getaddrinfo past their timeout. Errors: as above, and dependency_failed when
// the name has no address.
boost::asio::awaitable<core::result<std::vector<boost::asio::ip::address>>> async_resolve_host(std::string host,
                                                                                               const dns_settings& s);

// Reads the system resolver's configuration (/etc/resolv.conf) once for the process; call
// it at start-up, off the I/O threads. The first lookup does it otherwise. Later changes
// to the file need a restart (or DNS_SERVERS).
void prepare_system_resolver();

// Checks the syntax of a DNS_SERVERS-style list without resolving anything; false
// when c-ares would refuse it.
bool valid_server_list(const std::string& servers);

}  // namespace portcullis::verify
