#include "auth/jwt.hpp"

#include "core/log.hpp"
#include "core/random.hpp"

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <array>
#include <limits>

namespace portcullis::auth {
namespace {

using core::errc;

// base64url('{"alg":"HS256","typ":"JWT"}'): the only header this service writes.
constexpr std::string_view signed_header = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";
constexpr std::size_t signature_b64_len = 43;  // 32 bytes, unpadded
constexpr std::size_t max_header_bytes = 512;

boost::system::error_code invalid()
{
    return make_error_code(errc::invalid_token);
}

const boost::json::string* string_member(const boost::json::object& o, std::string_view key)
{
    const boost::json::value* v = o.if_contains(key);
    return v != nullptr ? v->if_string() : nullptr;
}

// Integers only: NumericDate may be fractional per RFC 7519, but we never issue
// such tokens, so anything else is a forgery or a bug.
bool int_member(const boost::json::object& o, std::string_view key, std::int64_t& out)
{
    const boost::json::value* v = o.if_contains(key);
    if (v == nullptr || !v->is_int64()) return false;
    out = v->get_int64();
    return true;
}

}  // namespace

std::string_view to_string(token_type t) noexcept
{
    switch (t) {
    case token_type::access:
        return "access";
    case token_type::refresh:
        return "refresh";
    case token_type::reset:
        return "reset";
    }
    return "access";
}

std::optional<token_type> parse_token_type(std::string_view s) noexcept
{
    if (s == "access") return token_type::access;
    if (s == "refresh") return token_type::refresh;
    if (s == "reset") return token_type::reset;
    return std::nullopt;
}

jwt_key::jwt_key(std::string_view secret, jwt_settings settings) : mac_(secret), settings_(std::move(settings)) {}

std::string sign(const claims& c, const jwt_key& key)
{
    std::string payload;
    payload.reserve(160 + c.iss.size() + c.sub.size() + c.jti.size() + c.sid.size());
    auto str = [&payload](std::string_view name, std::string_view value) {
        payload += '"';
        payload += name;
        payload += "\":\"";
        core::log::append_json_escaped(payload, value);
        payload += "\",";
    };
    payload += '{';
    str("iss", c.iss);
    str("sub", c.sub);
    payload += "\"iat\":" + std::to_string(c.iat) + ",\"exp\":" + std::to_string(c.exp) + ',';
    str("jti", c.jti);
    str("sid", c.sid);
    payload += "\"typ\":\"";
    payload += to_string(c.typ);
    payload += "\"}";

    std::string token;
    token.reserve(signed_header.size() + payload.size() * 4 / 3 + 48);
    token += signed_header;
    token += '.';
    base64url_encode_append(token, payload);
    const auto mac = key.mac().mac(token);
    token += '.';
    base64url_encode_append(token, as_string_view(mac));
    return token;
}

namespace detail {

core::result<std::string> verify_hs256(std::string_view token, const hmac_key& key, std::size_t max_length)
{
    if (token.size() > max_length) return invalid();
    const auto dot1 = token.find('.');
    if (dot1 == std::string_view::npos) return invalid();
    const auto dot2 = token.find('.', dot1 + 1);
    if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) return invalid();
    const std::string_view header_b64 = token.substr(0, dot1);
    const std::string_view payload_b64 = token.substr(dot1 + 1, dot2 - dot1 - 1);
    const std::string_view signature_b64 = token.substr(dot2 + 1);
    if (header_b64.empty() || payload_b64.empty() || signature_b64.size() != signature_b64_len) return invalid();

    // Authenticate before parsing anything: forged input never reaches the JSON parser.
    std::array<char, sha256_size> signature{};
    if (base64url_decode(signature_b64, signature) != static_cast<std::ptrdiff_t>(signature.size())) {
        return invalid();
    }
    const auto expected = key.mac(token.substr(0, dot2));
    if (!constant_time_equal(std::string_view(signature.data(), signature.size()), as_string_view(expected))) {
        return invalid();
    }

    // Our own tokens carry one fixed header; others (test vectors, other issuers
    // sharing the key) are parsed and checked.
    if (header_b64 != signed_header) {
        std::array<char, max_header_bytes> header{};
        auto n = base64url_decode(header_b64, header);
        if (n <= 0) return invalid();
        unsigned char arena[2048];
        boost::json::monotonic_resource mr(arena, sizeof arena);
        boost::system::error_code ec;
        boost::json::value hv =
            boost::json::parse(std::string_view(header.data(), static_cast<std::size_t>(n)), ec, &mr);
        if (ec || !hv.is_object()) return invalid();
        const auto& h = hv.get_object();
        const auto* alg = string_member(h, "alg");
        if (alg == nullptr || *alg != "HS256") return invalid();
        if (const auto* typ = h.if_contains("typ");
            typ != nullptr && !(typ->is_string() && typ->get_string() == "JWT")) {
            return invalid();
        }
        // RFC 7515 §4.1.11: extensions we do not understand must make the token invalid.
        if (h.contains("crit")) return invalid();
    }

    std::string payload;
    if (!base64url_decode(payload_b64, payload)) return invalid();
    return payload;
}

}  // namespace detail

core::result<claims> verify(std::string_view token, const jwt_key& key, token_type expected,
                            std::chrono::system_clock::time_point now)
{
    const auto& settings = key.settings();
    auto payload = detail::verify_hs256(token, key.mac(), settings.max_token_length);
    if (!payload) return payload.error();

    // Claims are small: parse into a stack arena so a verify does not touch the heap
    // beyond the returned strings.
    unsigned char arena[4096];
    boost::json::monotonic_resource mr(arena, sizeof arena);
    boost::system::error_code ec;
    boost::json::value pv = boost::json::parse(*payload, ec, &mr);
    if (ec || !pv.is_object()) return invalid();
    const auto& o = pv.get_object();

    const auto* iss = string_member(o, "iss");
    const auto* sub = string_member(o, "sub");
    const auto* jti = string_member(o, "jti");
    const auto* sid = string_member(o, "sid");
    const auto* typ = string_member(o, "typ");
    claims c;
    if (iss == nullptr || sub == nullptr || jti == nullptr || sid == nullptr || typ == nullptr) return invalid();
    if (!int_member(o, "iat", c.iat) || !int_member(o, "exp", c.exp)) return invalid();
    if (*iss != settings.issuer || sub->empty() || jti->empty()) return invalid();
    auto parsed_typ = parse_token_type(*typ);
    if (!parsed_typ || *parsed_typ != expected) return invalid();
    if (sid->empty() && expected != token_type::reset) return invalid();
    if (c.iat > c.exp) return invalid();

    const std::int64_t now_s = core::to_unix(now);
    const std::int64_t leeway = settings.leeway.count();
    if (const auto* nbf = o.if_contains("nbf"); nbf != nullptr) {
        if (!nbf->is_int64() || nbf->get_int64() > now_s + leeway) return invalid();
    }
    // Saturating: a huge exp must not overflow into the past.
    const std::int64_t deadline = c.exp > std::numeric_limits<std::int64_t>::max() - leeway
                                      ? std::numeric_limits<std::int64_t>::max()
                                      : c.exp + leeway;
    if (now_s >= deadline) return make_error_code(errc::token_expired);

    c.iss.assign(iss->data(), iss->size());
    c.sub.assign(sub->data(), sub->size());
    c.jti.assign(jti->data(), jti->size());
    c.sid.assign(sid->data(), sid->size());
    c.typ = *parsed_typ;
    return c;
}

}  // namespace portcullis::auth
