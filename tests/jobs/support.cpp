#include "support.hpp"

#include "test_env.hpp"

#include <boost/asio/co_spawn.hpp>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <exception>
#include <stdexcept>

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

}  // namespace portcullis::test
