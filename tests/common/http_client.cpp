#include "http_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <stdexcept>

namespace portcullis::test {

http_connection::http_connection(int port, std::chrono::milliseconds timeout, const std::string& source)
    : timeout_(timeout)
{
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) throw std::runtime_error("socket failed");
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (!source.empty()) {
        sockaddr_in from{};
        from.sin_family = AF_INET;
        if (::inet_pton(AF_INET, source.c_str(), &from.sin_addr) != 1 ||
            ::bind(fd_, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0) {
            ::close(fd_);
            throw std::runtime_error("bind to " + source + " failed");
        }
    }
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        ::close(fd_);
        throw std::runtime_error("connect failed");
    }
}

http_connection::~http_connection()
{
    if (fd_ >= 0) ::close(fd_);
}

void http_connection::send(const std::string& raw)
{
    std::size_t off = 0;
    while (off < raw.size()) {
        pollfd p{fd_, POLLOUT, 0};
        if (::poll(&p, 1, static_cast<int>(timeout_.count())) <= 0) throw std::runtime_error("send timeout");
        ssize_t n = ::send(fd_, raw.data() + off, raw.size() - off, MSG_NOSIGNAL);
        if (n <= 0) throw std::runtime_error("send failed");
        off += static_cast<std::size_t>(n);
    }
}

bool http_connection::fill()
{
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout_.count())) <= 0) throw std::runtime_error("read timeout");
    char buf[16384];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) return false;
    buffer_.append(buf, static_cast<std::size_t>(n));
    return true;
}

bool http_connection::closed_by_peer(std::chrono::milliseconds wait)
{
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(wait.count())) <= 0) return false;
    char c;
    ssize_t n = ::recv(fd_, &c, 1, MSG_PEEK);
    return n <= 0;
}

http_response http_connection::read_response()
{
    std::size_t end;
    while ((end = buffer_.find("\r\n\r\n")) == std::string::npos) {
        if (!fill()) throw std::runtime_error("connection closed before a response");
    }
    std::string head = buffer_.substr(0, end);
    buffer_.erase(0, end + 4);
    http_response r;
    auto line_end = head.find("\r\n");
    std::string status_line = head.substr(0, line_end);
    if (status_line.size() < 12) throw std::runtime_error("bad status line");
    r.status = std::stoi(status_line.substr(9, 3));
    std::size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
    while (pos < head.size()) {
        auto next = head.find("\r\n", pos);
        std::string line = head.substr(pos, next == std::string::npos ? std::string::npos : next - pos);
        pos = next == std::string::npos ? head.size() : next + 2;
        auto colon = line.find(':');
        if (colon == std::string::npos) continue;
        std::string name = line.substr(0, colon);
        std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
        std::string value = line.substr(colon + 1);
        while (!value.empty() && value.front() == ' ') value.erase(0, 1);
        if (r.headers.count(name) != 0)
            r.headers[name] += ", " + value;
        else
            r.headers[name] = value;
    }
    std::size_t length = r.headers.count("content-length") != 0 ? std::stoul(r.headers["content-length"]) : 0;
    while (buffer_.size() < length) {
        if (!fill()) throw std::runtime_error("connection closed inside a body");
    }
    r.body = buffer_.substr(0, length);
    buffer_.erase(0, length);
    return r;
}

http_response http_connection::request(const std::string& method, const std::string& target, const std::string& body,
                                       const std::vector<std::pair<std::string, std::string>>& headers)
{
    std::string raw = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    bool has_type = false;
    for (const auto& [k, v] : headers) {
        raw += k + ": " + v + "\r\n";
        std::string lower = k;
        std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
        has_type = has_type || lower == "content-type";
    }
    if (!body.empty() || method == "POST" || method == "PATCH" || method == "PUT") {
        if (!has_type && !body.empty()) raw += "Content-Type: application/json\r\n";
        raw += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    }
    raw += "\r\n" + body;
    send(raw);
    return read_response();
}

http_response http_request(int port, const std::string& method, const std::string& target, const std::string& body,
                           const std::vector<std::pair<std::string, std::string>>& headers)
{
    http_connection c(port);
    return c.request(method, target, body, headers);
}

}  // namespace portcullis::test
