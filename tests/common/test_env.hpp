#pragma once
// Where the integration tests find their services. scripts/test.sh starts them and
// exports these variables; a missing variable fails the test (a skipped integration
// test would be reported as passing, which CI must never do).
//
//   PORTCULLIS_TEST_DATABASE_URL  postgresql://… of a superuser on the test server
//   PORTCULLIS_TEST_PG_BIN        directory of pg_ctl/initdb/postgres (for private instances)
//   PORTCULLIS_TEST_REDIS_URL     redis://127.0.0.1:PORT/0
//   PORTCULLIS_TEST_SMTP_HOST / PORTCULLIS_TEST_SMTP_PORT  the shared SMTP sink
//   PORTCULLIS_TEST_SMTP_DIR      directory where the sink writes one file per message
//   PORTCULLIS_BINARY             path of the portcullis executable under test
//   PORTCULLIS_SOURCE_ROOT        the checkout (for scripts and fixtures)

#include <string>

namespace portcullis::test {

// Value of `name`, or throws std::runtime_error naming it.
std::string require_env(const char* name);

// Value of `name`, or `fallback` when unset or empty.
std::string env_or(const char* name, std::string fallback);

// A name unique to this process, for databases, key prefixes and temp dirs.
std::string unique_name(const std::string& prefix);

// A TCP port on 127.0.0.1 that was free a moment ago, picked at random below the
// kernel's ephemeral range (no outgoing connection is handed it meanwhile). Only for
// external daemons that cannot report the port they bound; they retry with another port
// when it was taken all the same.
int free_port();

// A port on 127.0.0.1 where nothing listens, for as long as the object lives: a socket
// bound to it without listen(), so connections are refused and no one else can take it.
class refused_port {
public:
    refused_port();
    ~refused_port();
    refused_port(const refused_port&) = delete;
    refused_port& operator=(const refused_port&) = delete;
    int port() const noexcept { return port_; }

private:
    int fd_ = -1;
    int port_ = 0;
};

// A fresh directory under $TMPDIR (or /tmp), removed by the caller or left for inspection.
std::string make_temp_dir(const std::string& prefix);

}  // namespace portcullis::test
