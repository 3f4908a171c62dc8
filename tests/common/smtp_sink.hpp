#pragma once
// tests/smtp_sink.py (Debian's python3-aiosmtpd) as a child process: one file per
// accepted message in its mail directory and a journal of the SMTP dialogue; restartable
// on the same port. Stopped (SIGTERM) on destruction.

#include "process.hpp"

#include <memory>
#include <string>
#include <vector>

namespace portcullis::test {

class smtp_sink {
public:
    // `mail_dir` defaults to <dir>/messages; `port` 0 picks a free port now (a test may hand
    // it out before the sink first starts).
    explicit smtp_sink(std::string mail_dir = {}, int port = 0);
    ~smtp_sink();
    smtp_sink(const smtp_sink&) = delete;
    smtp_sink& operator=(const smtp_sink&) = delete;

    // Starts the sink with `extra` options and waits for its ready file (throws after 20 s,
    // with its log). At the first start, a port picked here that was taken meanwhile is
    // replaced by another one unless port() was read before; otherwise the port is kept.
    void start(std::vector<std::string> extra = {});
    // SIGTERM and wait; the port refuses connections afterwards.
    void stop();
    bool running() const noexcept { return proc_ != nullptr; }

    int port() const noexcept
    {
        port_read_ = true;
        return port_;
    }
    const std::string& dir() const noexcept { return dir_; }
    const std::string& mail_dir() const noexcept { return mail_dir_; }
    std::string journal_path() const { return dir_ + "/journal.jsonl"; }
    std::string log() const;

    // The stored messages (*.eml, not the files being written), sorted by name (= time).
    std::vector<std::string> message_files() const;
    // How many messages are stored (names only: cheap to poll).
    std::size_t message_count() const;

private:
    bool start_on_port(const std::vector<std::string>& extra);  // false when the port was taken

    int port_;
    bool own_port_;
    mutable bool port_read_ = false;
    std::string dir_;
    std::string mail_dir_;
    int starts_ = 0;
    std::unique_ptr<process> proc_;
};

}  // namespace portcullis::test
