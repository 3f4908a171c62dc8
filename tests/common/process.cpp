#include "process.hpp"

#include "wait.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace portcullis::test {

process::process(std::vector<std::string> argv, const std::map<std::string, std::string>& env, std::string log_path)
    : log_path_(std::move(log_path))
{
    std::map<std::string, std::string> full;
    for (char** e = environ; *e != nullptr; ++e) {
        std::string kv(*e);
        auto eq = kv.find('=');
        if (eq != std::string::npos) full[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    for (const auto& [k, v] : env) full[k] = v;
    std::vector<std::string> env_strings;
    for (const auto& [k, v] : full) env_strings.push_back(k + "=" + v);
    std::vector<char*> envp;
    for (auto& s : env_strings) envp.push_back(s.data());
    envp.push_back(nullptr);
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);

    int fd = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) throw std::runtime_error("cannot open " + log_path_);
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
        // Nothing else of the test's (listening sockets of its proxies and stubs) goes to
        // the child: what it listens on is then its own.
        ::close_range(3, ~0U, 0);
        ::setpgid(0, 0);
        ::execve(args[0], args.data(), envp.data());
        ::_exit(127);
    }
    ::close(fd);
}

process::~process()
{
    if (running()) {
        ::kill(pid_, SIGKILL);
        wait(std::chrono::seconds(10));
    }
}

void process::signal(int signo) const
{
    ::kill(pid_, signo);
}

bool process::running()
{
    if (status_) return false;
    int st = 0;
    pid_t r = ::waitpid(pid_, &st, WNOHANG);
    if (r == pid_) {
        status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        return false;
    }
    return r == 0;
}

void process::stop(std::chrono::milliseconds grace)
{
    signal(SIGTERM);
    if (!wait(grace)) signal(SIGKILL);
    wait(std::chrono::seconds(5));
}

std::optional<int> process::wait(std::chrono::milliseconds timeout)
{
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (running()) {
        if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return status_;
}

std::string process::log() const
{
    return read_file(log_path_);
}

int run_command(std::vector<std::string> argv, const std::map<std::string, std::string>& env,
                const std::string& log_path, std::chrono::milliseconds timeout)
{
    process p(std::move(argv), env, log_path);
    auto st = p.wait(timeout);
    return st ? *st : -1;
}

std::string read_file(const std::string& path)
{
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

int bind_notify_socket(const std::string& path, std::chrono::milliseconds receive_timeout)
{
    int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw std::runtime_error("socket(AF_UNIX) failed");
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        ::close(fd);
        throw std::runtime_error("cannot bind " + path);
    }
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(receive_timeout).count();
    timeval tv{static_cast<time_t>(us / 1'000'000), static_cast<suseconds_t>(us % 1'000'000)};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

std::optional<int> listening_port(int pid)
{
    const std::string proc = "/proc/" + std::to_string(pid);
    std::set<std::string> inodes;
    std::error_code ec;
    for (const auto& fd : std::filesystem::directory_iterator(proc + "/fd", ec)) {
        std::error_code link_ec;
        const std::string target = std::filesystem::read_symlink(fd.path(), link_ec).string();
        if (!link_ec && target.rfind("socket:[", 0) == 0) inodes.insert(target.substr(8, target.size() - 9));
    }
    for (const char* table : {"/net/tcp", "/net/tcp6"}) {
        std::istringstream in(read_file(proc + table));
        std::string line;
        std::getline(in, line);  // header
        while (std::getline(in, line)) {
            // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
            std::istringstream row(line);
            std::string sl, local, remote, state, queues, timer, retransmits, uid, timeout, inode;
            row >> sl >> local >> remote >> state >> queues >> timer >> retransmits >> uid >> timeout >> inode;
            if (state != "0A" || inodes.count(inode) == 0) continue;  // 0A: LISTEN
            return std::stoi(local.substr(local.find(':') + 1), nullptr, 16);
        }
    }
    return std::nullopt;
}

bool wait_for_text(const std::string& path, const std::string& needle, std::chrono::milliseconds timeout)
{
    return wait_until([&] { return read_file(path).find(needle) != std::string::npos; }, timeout,
                      std::chrono::milliseconds(20));
}

}  // namespace portcullis::test
