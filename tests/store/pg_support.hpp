#pragma once
// Helpers of the PostgreSQL integration tests: scratch databases on the server named
// by PORTCULLIS_TEST_DATABASE_URL, and running coroutines to completion.

#include "store/pg/blocking_pool.hpp"
#include "store/pg/pool.hpp"
#include "store/pg/settings.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <exception>
#include <memory>
#include <optional>
#include <string>

namespace portcullis::test {

// `url` (URI or key=value) with its database replaced by `dbname`, as key=value conninfo.
std::string with_database(const std::string& url, const std::string& dbname);

// Runs one SQL command on a blocking libpq connection (test setup only). Throws on error.
void admin_exec(const std::string& url, const std::string& sql);
// First column of the first row of `sql` (blocking; test checks only), "" when no row.
std::string admin_value(const std::string& url, const std::string& sql);

// A database created for this test binary, dropped (WITH FORCE) on destruction.
class scratch_database {
public:
    explicit scratch_database(const std::string& prefix);
    ~scratch_database();
    scratch_database(const scratch_database&) = delete;
    scratch_database& operator=(const scratch_database&) = delete;

    const std::string& url() const { return url_; }
    const std::string& admin_url() const { return admin_; }
    const std::string& name() const { return name_; }

private:
    std::string admin_;
    std::string name_;
    std::string url_;
};

// A database with the embedded migrations applied, shared by the tests of this binary.
const scratch_database& migrated_database();

// Runs `op` on `ioc` (one thread: this one) until it completes; rethrows its exception.
template <class T>
T run(boost::asio::io_context& ioc, boost::asio::awaitable<T> op)
{
    std::optional<T> out;
    std::exception_ptr error;
    bool done = false;
    boost::asio::co_spawn(ioc, std::move(op), [&](std::exception_ptr e, T v) {
        error = e;
        if (!e) out.emplace(std::move(v));
        done = true;
    });
    while (!done) ioc.run_one();
    if (error) std::rethrow_exception(error);
    return std::move(*out);
}

inline void run(boost::asio::io_context& ioc, boost::asio::awaitable<void> op)
{
    std::exception_ptr error;
    bool done = false;
    boost::asio::co_spawn(ioc, std::move(op), [&](std::exception_ptr e) {
        error = e;
        done = true;
    });
    while (!done) ioc.run_one();
    if (error) std::rethrow_exception(error);
}

// An io_context, a blocking pool and a started pg::pool on a database.
struct pool_fixture {
    explicit pool_fixture(const std::string& url, std::size_t size = 4, void (*tune)(store::pg::settings&) = nullptr);
    ~pool_fixture();

    boost::asio::io_context ioc;
    store::pg::blocking_pool blocking{2, 64};
    store::pg::settings cfg;
    std::unique_ptr<store::pg::pool> pool;
};

}  // namespace portcullis::test
