#pragma once
// The HTTP surface of the contract: every route, bound to one I/O thread's services.

#include "app/ops.hpp"
#include "app/services.hpp"
#include "net/router.hpp"

namespace portcullis::app {

// /healthz, the operations endpoints (/readyz, /metrics, /openapi.json) and the /api
// routes of `services`. `ops` and `services` must outlive the router.
void add_routes(net::router& routes, thread_services& services, ops_context* ops);

}  // namespace portcullis::app
