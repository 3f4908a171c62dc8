#pragma once
// Child processes for tests: the server binary, private service instances.

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace portcullis::test {

class process {
public:
    // Starts `argv` with the current environment plus `env` (which overrides), stdout
    // and stderr appended to `log_path`, no other descriptor of the test inherited.
    // Throws std::runtime_error on failure.
    process(std::vector<std::string> argv, const std::map<std::string, std::string>& env, std::string log_path);
    ~process();  // SIGKILL if still running
    process(const process&) = delete;
    process& operator=(const process&) = delete;

    int pid() const noexcept { return pid_; }
    void signal(int signo) const;
    // Waits for exit; returns the exit status (128+signal when killed) or nullopt on timeout.
    std::optional<int> wait(std::chrono::milliseconds timeout);
    bool running();
    // SIGTERM, then SIGKILL when it has not exited within `grace`; waits for the exit.
    void stop(std::chrono::milliseconds grace = std::chrono::seconds(10));
    const std::string& log_path() const noexcept { return log_path_; }
    std::string log() const;

private:
    int pid_ = -1;
    std::optional<int> status_;
    std::string log_path_;
};

// Runs a command to completion (shell-free), returning its exit status; output to `log_path`.
int run_command(std::vector<std::string> argv, const std::map<std::string, std::string>& env,
                const std::string& log_path, std::chrono::milliseconds timeout);

std::string read_file(const std::string& path);

// A bound AF_UNIX datagram socket at `path` (a NOTIFY_SOCKET for systemd's protocol) whose
// reads give up after `receive_timeout`. Returns the fd; throws std::runtime_error on failure.
int bind_notify_socket(const std::string& path, std::chrono::milliseconds receive_timeout);

// The TCP port process `pid` listens on (from /proc: its socket fds matched against the
// LISTEN entries of /proc/<pid>/net/tcp and tcp6), nullopt while it listens on none.
std::optional<int> listening_port(int pid);

// Waits until the file at `path` contains `needle` (a log line, say); false after `timeout`.
bool wait_for_text(const std::string& path, const std::string& needle,
                   std::chrono::milliseconds timeout = std::chrono::seconds(15));

}  // namespace portcullis::test
