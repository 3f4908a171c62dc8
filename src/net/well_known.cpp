#include "net/well_known.hpp"

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <memory>

namespace portcullis::net {
namespace {

struct well_known {
    const auth::key_ring* keys;
    well_known_options opts;
    std::string cache_control;
};

boost::asio::awaitable<response> async_jwks(std::shared_ptr<const well_known> w, request&)
{
    response r;
    r.body = w->keys->jwks(std::chrono::system_clock::now());
    r.add_header("Cache-Control", w->cache_control);
    co_return r;
}

// Host header values that may be put in a URL: host names, IPv4, [IPv6], with a port.
bool plain_host(std::string_view h)
{
    if (h.empty() || h.size() > 255) return false;
    for (char ch : h) {
        const bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' ||
                        ch == '-' || ch == ':' || ch == '[' || ch == ']';
        if (!ok) return false;
    }
    return true;
}

boost::asio::awaitable<response> async_discovery(std::shared_ptr<const well_known> w, request& req)
{
    std::string jwks_uri = w->opts.jwks_uri;
    if (jwks_uri.empty()) {
        const std::string& iss = w->opts.issuer;
        if (iss.starts_with("https://") || iss.starts_with("http://")) {
            jwks_uri = iss;
            if (jwks_uri.ends_with('/')) jwks_uri.pop_back();
        } else {
            std::string_view host = req.header("Host");
            jwks_uri = "http://" + std::string(plain_host(host) ? host : "localhost");
        }
        jwks_uri += "/.well-known/jwks.json";
    }
    // Only what a resource server needs to find the keys: this service issues access
    // tokens, not OpenID Connect ID tokens.
    boost::json::object o;
    o["issuer"] = w->opts.issuer;
    o["jwks_uri"] = jwks_uri;
    response r;
    r.body = boost::json::serialize(o);
    r.add_header("Cache-Control", w->cache_control);
    co_return r;
}

}  // namespace

void add_well_known_routes(router& routes, const auth::key_ring& keys, well_known_options opts)
{
    auto w = std::make_shared<well_known>();
    w->keys = &keys;
    w->cache_control = "public, max-age=" + std::to_string(opts.max_age.count());
    w->opts = std::move(opts);
    std::shared_ptr<const well_known> shared = w;
    routes.add("GET", "/.well-known/jwks.json", [shared](request& r) { return async_jwks(shared, r); });
    routes.add("GET", "/.well-known/openid-configuration", [shared](request& r) { return async_discovery(shared, r); });
}

}  // namespace portcullis::net
