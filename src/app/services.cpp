#include "app/services.hpp"

#include "core/log.hpp"

#include <boost/asio/io_context.hpp>

namespace portcullis::app {
namespace {

class shared_impl final : public shared_services {
public:
    explicit shared_impl(const config& cfg) : cfg_(cfg) {}

    bool migrate(const config&) override { return true; }
    void start_control(boost::asio::io_context&) override {}
    void stop_workers(core::deadline) override {}

private:
    const config& cfg_;
};

class thread_impl final : public thread_services {
public:
    net::request_observer* request_observer() override { return nullptr; }
    void start() override {}
};

}  // namespace

std::unique_ptr<shared_services> make_shared_services(const config& cfg, bool)
{
    return std::make_unique<shared_impl>(cfg);
}

std::unique_ptr<thread_services> make_thread_services(const config&, shared_services&, boost::asio::io_context&,
                                                      unsigned)
{
    return std::make_unique<thread_impl>();
}

}  // namespace portcullis::app
