#pragma once
// A small blocking HTTP/1.1 client over plain POSIX sockets, independent of the
// server's Beast code, with a timeout on every read and write.

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace portcullis::test {

struct http_response {
    int status = 0;
    std::map<std::string, std::string> headers;  // names lower-cased
    std::string body;

    std::string header(const std::string& lower_name) const
    {
        auto it = headers.find(lower_name);
        return it == headers.end() ? std::string{} : it->second;
    }
};

class http_connection {
public:
    // Connects to 127.0.0.1:port, from `source` (another loopback address such as
    // 127.0.0.2, so that a test can play several clients) when it is not empty.
    // Throws std::runtime_error on failure.
    explicit http_connection(int port, std::chrono::milliseconds timeout = std::chrono::seconds(10),
                             const std::string& source = {});
    ~http_connection();
    http_connection(const http_connection&) = delete;
    http_connection& operator=(const http_connection&) = delete;

    // Sends raw bytes.
    void send(const std::string& raw);
    // Reads one response (Content-Length framed). Throws on timeout or close.
    http_response read_response();
    // True when the server closed the connection (reads EOF within `wait`).
    bool closed_by_peer(std::chrono::milliseconds wait);

    http_response request(const std::string& method, const std::string& target, const std::string& body = {},
                          const std::vector<std::pair<std::string, std::string>>& headers = {});

private:
    int fd_ = -1;
    std::chrono::milliseconds timeout_;
    std::string buffer_;
    bool fill();
};

// One request on a fresh connection.
http_response http_request(int port, const std::string& method, const std::string& target, const std::string& body = {},
                           const std::vector<std::pair<std::string, std::string>>& headers = {});

}  // namespace portcullis::test
