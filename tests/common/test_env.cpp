#include "test_env.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <random>
#include <stdexcept>

namespace portcullis::test {

std::string require_env(const char* name)
{
    const char* v = std::getenv(name);
    if (v == nullptr || *v == '\0') {
        throw std::runtime_error(std::string("integration test needs ") + name +
                                 " (run the tests through scripts/test.sh)");
    }
    return v;
}

std::string env_or(const char* name, std::string fallback)
{
    const char* v = std::getenv(name);
    return (v == nullptr || *v == '\0') ? fallback : std::string(v);
}

std::string unique_name(const std::string& prefix)
{
    static std::atomic<int> counter{0};
    return prefix + "_" + std::to_string(::getpid()) + "_" + std::to_string(counter++);
}

namespace {
// A TCP socket bound to an ephemeral port on 127.0.0.1; returns the fd and sets `port`.
int bind_ephemeral(int& port)
{
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw std::runtime_error("socket failed");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        ::close(fd);
        throw std::runtime_error("bind failed");
    }
    socklen_t len = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    port = ntohs(addr.sin_port);
    return fd;
}
}  // namespace

int free_port()
{
    // Below the kernel's ephemeral range (ip_local_port_range), so that no outgoing
    // connection of this machine is handed the port between this check and the daemon's
    // bind; random, so that parallel tests rarely try the same one.
    int low = 32768;
    if (std::ifstream range("/proc/sys/net/ipv4/ip_local_port_range"); range) range >> low;
    const int first = 10000;
    if (low <= first + 1000) {
        int port = 0;
        ::close(bind_ephemeral(port));
        return port;
    }
    static std::mt19937 pick(static_cast<unsigned>(::getpid()) ^
                             static_cast<unsigned>(std::chrono::steady_clock::now().time_since_epoch().count()));
    std::uniform_int_distribution<int> in_range(first, low - 1);
    for (int attempt = 0; attempt < 1000; ++attempt) {
        const int port = in_range(pick);
        const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) throw std::runtime_error("socket failed");
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        addr.sin_port = htons(static_cast<std::uint16_t>(port));
        const bool free = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
        ::close(fd);
        if (free) return port;
    }
    throw std::runtime_error("no free port below the ephemeral range");
}

refused_port::refused_port()
{
    fd_ = bind_ephemeral(port_);
}

refused_port::~refused_port()
{
    ::close(fd_);
}

std::string make_temp_dir(const std::string& prefix)
{
    std::string base = env_or("TMPDIR", "/tmp");
    std::string tmpl = base + "/" + prefix + "-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    return tmpl;
}

}  // namespace portcullis::test
