#include "app/routes.hpp"

#include "net/http.hpp"

namespace portcullis::app {
namespace {

boost::asio::awaitable<net::response> async_healthz(net::request&)
{
    net::response r;
    r.body = R"({"status":"ok"})";
    co_return r;
}

}  // namespace

void add_routes(net::router& routes, thread_services& services, ops_context* ops)
{
    routes.add("GET", "/healthz", async_healthz);
    add_ops_routes(routes, ops, &services);
    services.add_routes(routes);
}

}  // namespace portcullis::app
