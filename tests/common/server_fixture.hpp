#pragma once
// Starts the real `portcullis serve` on port 0 (the port it bound is read back) against the test
// services, with its own database and Redis key prefix, and stops it at the end.

#include "process.hpp"

#include <map>
#include <memory>
#include <string>

namespace portcullis::test {

// Runs one SQL statement through libpq (blocking; tests only). Throws on error.
std::string pg_exec(const std::string& url, const std::string& sql);

// Creates database `name` on the test server; returns its URL.
std::string create_test_database(const std::string& name);
void drop_test_database(const std::string& name);

class server_fixture {
public:
    // `env` overrides the defaults (development mode, console mail, the test services).
    // Waits until /healthz answers (throws after 30 s, with the server log).
    // `prefix` runs the server under another command (e.g. prlimit).
    explicit server_fixture(std::map<std::string, std::string> env = {}, bool own_database = true,
                            std::vector<std::string> prefix = {});
    ~server_fixture();

    int port() const noexcept { return port_; }
    process& proc() { return *proc_; }
    const std::string& database_url() const noexcept { return database_url_; }
    const std::string& redis_prefix() const noexcept { return redis_prefix_; }
    const std::string& dir() const noexcept { return dir_; }

private:
    int port_ = 0;
    std::string dir_;
    std::string database_;
    std::string database_url_;
    std::string redis_prefix_;
    std::unique_ptr<process> proc_;
};

}  // namespace portcullis::test
