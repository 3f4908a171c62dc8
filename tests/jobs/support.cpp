#include "support.hpp"

#include "test_env.hpp"

#include <boost/asio/co_spawn.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <exception>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace portcullis::test {

store::redis::settings shared_redis()
{
    auto s = store::redis::parse_url(require_env("PORTCULLIS_TEST_REDIS_URL"));
    if (!s) throw std::runtime_error("PORTCULLIS_TEST_REDIS_URL is not a redis:// URL");
    return *s;
}

void run(boost::asio::io_context& ioc, boost::asio::awaitable<void> body)
{
    std::exception_ptr failure;
    bool finished = false;
    // Long-lived coroutines (connection run loops) keep the context busy: stop it when
    // the body is done.
    boost::asio::co_spawn(ioc, std::move(body), [&](std::exception_ptr e) {
        failure = e;
        finished = true;
        ioc.stop();
    });
    ioc.restart();
    ioc.run();
    if (failure) std::rethrow_exception(failure);
    if (!finished) throw std::runtime_error("test coroutine did not finish");
}

void drain(boost::asio::io_context& ioc)
{
    ioc.restart();
    ioc.run_for(std::chrono::seconds(5));
}

bool wait_until(const std::function<bool()>& cond, std::chrono::milliseconds timeout)
{
    auto end = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        if (cond()) return true;
        if (std::chrono::steady_clock::now() >= end) return cond();
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
}

child_process::child_process(const std::vector<std::string>& argv, const std::string& log_path)
{
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    ::posix_spawn_file_actions_init(&actions);
    if (!log_path.empty()) {
        ::posix_spawn_file_actions_addopen(&actions, 1, log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
        ::posix_spawn_file_actions_adddup2(&actions, 1, 2);
    }
    pid_t pid = -1;
    int rc = ::posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
    ::posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) throw std::runtime_error("posix_spawnp " + argv[0] + ": " + std::strerror(rc));
    pid_ = pid;
}

child_process::~child_process()
{
    if (pid_ > 0) {
        ::kill(pid_, SIGKILL);
        int st = 0;
        ::waitpid(pid_, &st, 0);
    }
}

child_process::child_process(child_process&& o) noexcept : pid_(o.pid_)
{
    o.pid_ = -1;
}

child_process& child_process::operator=(child_process&& o) noexcept
{
    if (this != &o) {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            int st = 0;
            ::waitpid(pid_, &st, 0);
        }
        pid_ = o.pid_;
        o.pid_ = -1;
    }
    return *this;
}

void child_process::kill(int sig)
{
    if (pid_ > 0) ::kill(pid_, sig);
}

int child_process::wait(std::chrono::milliseconds timeout)
{
    if (pid_ <= 0) return -1;
    int status = -1;
    bool done = wait_until(
        [&] {
            int st = 0;
            pid_t r = ::waitpid(pid_, &st, WNOHANG);
            if (r == pid_) {
                status = st;
                return true;
            }
            return false;
        },
        timeout);
    if (!done) return -1;
    pid_ = -1;
    return status;
}

namespace {

bool answers_ping(int port)
{
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
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

}  // namespace

private_redis::private_redis() : port_(free_port()), dir_(make_temp_dir("portcullis-redis")) {}

private_redis::~private_redis()
{
    proc_ = child_process();
    std::string cmd = "rm -rf '" + dir_ + "'";
    int ignored = std::system(cmd.c_str());
    (void)ignored;
}

void private_redis::start()
{
    std::string server = env_or("PORTCULLIS_TEST_REDIS_SERVER", "redis-server");
    proc_ =
        child_process({server, "--port", std::to_string(port_), "--bind", "127.0.0.1", "--dir", dir_, "--appendonly",
                       "yes", "--appendfsync", "always", "--save", "", "--daemonize", "no", "--loglevel", "warning"},
                      dir_ + "/redis.log");
    if (!wait_until([&] { return answers_ping(port_); }, std::chrono::seconds(10))) {
        throw std::runtime_error("private redis-server did not start");
    }
}

void private_redis::kill()
{
    proc_.kill(SIGKILL);
    proc_.wait(std::chrono::seconds(10));
}

void private_redis::stop()
{
    proc_.kill(SIGTERM);
    proc_.wait(std::chrono::seconds(10));
}

store::redis::settings private_redis::settings() const
{
    store::redis::settings s;
    s.host = "127.0.0.1";
    s.port = static_cast<std::uint16_t>(port_);
    return s;
}

}  // namespace portcullis::test
