#include "private_redis.hpp"

#include "test_env.hpp"
#include "wait.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <stdexcept>

namespace portcullis::test {

using std::chrono::seconds;

bool redis_answers_ping(int port)
{
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    bool ok = false;
    timeval tv{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
        const char ping[] = "PING\r\n";
        if (::write(fd, ping, sizeof ping - 1) == static_cast<ssize_t>(sizeof ping - 1)) {
            char buf[64];
            ssize_t n = ::read(fd, buf, sizeof buf);
            ok = n >= 5 && std::memcmp(buf, "+PONG", 5) == 0;
        }
    }
    ::close(fd);
    return ok;
}

private_redis::private_redis(std::string appendfsync)
    : appendfsync_(std::move(appendfsync)), dir_(make_temp_dir("portcullis-redis"))
{
}

private_redis::~private_redis()
{
    stop();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
}

bool private_redis::start_on_port()
{
    proc_ = std::make_unique<process>(
        std::vector<std::string>{env_or("PORTCULLIS_TEST_REDIS_SERVER", "/usr/bin/redis-server"), "--bind", "127.0.0.1",
                                 "--port", std::to_string(port_), "--dir", dir_, "--appendonly", "yes", "--appendfsync",
                                 appendfsync_, "--save", "", "--daemonize", "no", "--loglevel", "warning"},
        std::map<std::string, std::string>{}, dir_ + "/redis.log");
    const bool up = wait_until([&] { return !proc_->running() || redis_answers_ping(port_); }, seconds(10));
    if (up && proc_->running()) return true;
    const std::string log = proc_->log();
    proc_.reset();
    if (log.find("Address already in use") != std::string::npos) return false;
    throw std::runtime_error("private redis-server did not start:\n" + log);
}

void private_redis::start()
{
    if (port_ != 0) {
        if (!start_on_port()) throw std::runtime_error("port " + std::to_string(port_) + " of private redis was taken");
        return;
    }
    // The free port may be taken by another test before redis-server binds it.
    for (int attempt = 0; attempt < 5; ++attempt) {
        port_ = free_port();
        if (start_on_port()) return;
    }
    throw std::runtime_error("private redis-server found no free port in 5 attempts");
}

void private_redis::stop()
{
    if (!proc_) return;
    proc_->stop();
    proc_.reset();
}

void private_redis::kill9()
{
    if (!proc_) return;
    proc_->signal(SIGKILL);
    proc_->wait(seconds(5));
    proc_.reset();
}

}  // namespace portcullis::test
