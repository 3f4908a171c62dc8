#pragma once
// The contract's /api routes, bound to one I/O thread's auth service.

#include "auth/service.hpp"
#include "net/router.hpp"

namespace portcullis::net {

struct api_options {
    bool cookie_secure = true;  // the Secure attribute on session cookies (COOKIE_SECURE)
    // COOKIE_NAME_PREFIX: __Host-access, __Secure-refresh, __Host-csrf_token instead of
    // access, refresh, csrf_token (a sibling subdomain cannot set or shadow them).
    bool cookie_prefix = false;
};

// Registers every /api route of the contract on `routes`. `svc` must outlive the router.
void add_api_routes(router& routes, auth::service& svc, const api_options& opts);

}  // namespace portcullis::net
