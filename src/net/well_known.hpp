#pragma once
// Key discovery for services that verify access tokens themselves:
// GET /.well-known/jwks.json (the public keys) and GET /.well-known/openid-configuration
// (issuer and jwks_uri, what JWT middleware reads to find the keys).

#include "auth/signing_keys.hpp"
#include "net/router.hpp"

#include <chrono>
#include <string>

namespace portcullis::net {

struct well_known_options {
    std::string issuer;
    // Absolute URL of the JWKS; empty: the issuer's when it is an http(s) URL, else
    // built from the request's Host header.
    std::string jwks_uri;
    std::chrono::seconds max_age{300};  // Cache-Control of both documents
};

// `keys` must outlive the router.
void add_well_known_routes(router& routes, const auth::key_ring& keys, well_known_options opts);

}  // namespace portcullis::net
