#pragma once
// The HTTP surface of the contract: every route, bound to one I/O thread's services.

#include "app/services.hpp"
#include "net/router.hpp"

namespace portcullis::app {

void add_routes(net::router& routes, thread_services& services);

}  // namespace portcullis::app
