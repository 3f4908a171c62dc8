// Why one file of this size: the JWS compact form, its claims and the three algorithms
// (HS256, EdDSA, ES256) are one security-critical parser and signer, kept together so
// every check a token passes can be read in one place.
#include "auth/jwt.hpp"

#include "core/log.hpp"
#include "core/random.hpp"
#include "core/text.hpp"

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <array>
#include <limits>
#include <stdexcept>

namespace portcullis::auth {

struct signing_key::state {
    jws_alg alg = jws_alg::hs256;
    std::string kid;
    std::string header;
    std::optional<hmac_key> mac;  // HS256
    EVP_PKEY* pkey = nullptr;     // EdDSA / ES256
    bool has_private = false;
    std::string jwk;

    state() = default;
    state(const state&) = delete;
    state& operator=(const state&) = delete;
    ~state() { EVP_PKEY_free(pkey); }
};

namespace {

using core::errc;

constexpr std::size_t max_header_bytes = 512;
constexpr std::size_t max_kid_length = 128;
constexpr std::size_t es256_half = 32;

boost::system::error_code invalid()
{
    return make_error_code(errc::invalid_token);
}

[[noreturn]] void openssl_failed(const char* what)
{
    ERR_clear_error();
    throw std::runtime_error(std::string("OpenSSL failure: ") + what);
}

struct bio_free {
    void operator()(BIO* b) const noexcept { BIO_free(b); }
};
using bio_ptr = std::unique_ptr<BIO, bio_free>;
struct md_ctx_free {
    void operator()(EVP_MD_CTX* c) const noexcept { EVP_MD_CTX_free(c); }
};
using md_ctx_ptr = std::unique_ptr<EVP_MD_CTX, md_ctx_free>;
struct bn_free {
    void operator()(BIGNUM* b) const noexcept { BN_free(b); }
};
using bn_ptr = std::unique_ptr<BIGNUM, bn_free>;
struct sig_free {
    void operator()(ECDSA_SIG* s) const noexcept { ECDSA_SIG_free(s); }
};
using sig_ptr = std::unique_ptr<ECDSA_SIG, sig_free>;

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

std::string header_of(jws_alg alg, std::string_view kid)
{
    std::string json = "{\"alg\":\"";
    json += to_string(alg);
    json += "\",\"kid\":\"";
    core::log::append_json_escaped(json, kid);
    json += "\",\"typ\":\"JWT\"}";
    return core::base64url_encode(json);
}

std::string_view bytes_view(const unsigned char* p, std::size_t n)
{
    return {reinterpret_cast<const char*>(p), n};
}

// The public coordinates of the key as base64url: x for Ed25519, x and y for P-256.
std::pair<std::string, std::string> public_coordinates(EVP_PKEY* pkey, jws_alg alg)
{
    if (alg == jws_alg::eddsa) {
        std::array<unsigned char, 32> raw{};
        std::size_t len = raw.size();
        if (EVP_PKEY_get_raw_public_key(pkey, raw.data(), &len) != 1 || len != raw.size()) {
            openssl_failed("EVP_PKEY_get_raw_public_key");
        }
        return {core::base64url_encode(bytes_view(raw.data(), len)), {}};
    }
    BIGNUM* x = nullptr;
    BIGNUM* y = nullptr;
    if (EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_X, &x) != 1 ||
        EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_Y, &y) != 1) {
        BN_free(x);
        openssl_failed("EVP_PKEY_get_bn_param(EC public point)");
    }
    bn_ptr bx(x);
    bn_ptr by(y);
    std::array<unsigned char, es256_half> bufx{};
    std::array<unsigned char, es256_half> bufy{};
    if (BN_bn2binpad(x, bufx.data(), es256_half) != es256_half ||
        BN_bn2binpad(y, bufy.data(), es256_half) != es256_half) {
        openssl_failed("BN_bn2binpad");
    }
    return {core::base64url_encode(bytes_view(bufx.data(), bufx.size())),
            core::base64url_encode(bytes_view(bufy.data(), bufy.size()))};
}

std::optional<jws_alg> alg_of(EVP_PKEY* pkey)
{
    if (EVP_PKEY_is_a(pkey, "ED25519") == 1) return jws_alg::eddsa;
    if (EVP_PKEY_is_a(pkey, "EC") == 1) {
        char group[64] = {};
        std::size_t len = 0;
        if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, &len) == 1 &&
            (std::string_view(group, len) == "prime256v1" || std::string_view(group, len) == "P-256")) {
            return jws_alg::es256;
        }
    }
    return std::nullopt;
}

// Takes ownership of `pkey`.
std::shared_ptr<signing_key::state> make_asymmetric(EVP_PKEY* pkey, jws_alg alg, bool has_private)
{
    auto s = std::make_shared<signing_key::state>();
    s->pkey = pkey;
    s->alg = alg;
    s->has_private = has_private;
    auto [x, y] = public_coordinates(pkey, alg);
    // RFC 7638: the required members in lexicographic order, no whitespace.
    std::string canonical = alg == jws_alg::eddsa ? R"({"crv":"Ed25519","kty":"OKP","x":")" + x + "\"}"
                                                  : R"({"crv":"P-256","kty":"EC","x":")" + x + R"(","y":")" + y + "\"}";
    s->kid = core::base64url_encode(as_string_view(sha256(canonical)));
    s->header = header_of(alg, s->kid);
    canonical.pop_back();
    s->jwk = canonical + R"(,"kid":")" + s->kid + R"(","alg":")" + std::string(to_string(alg)) + R"(","use":"sig"})";
    return s;
}

int no_password(char*, int, int, void*)
{
    return -1;
}

std::string der_to_raw(const unsigned char* der, std::size_t len)
{
    const unsigned char* p = der;
    sig_ptr sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(len)));
    if (!sig) openssl_failed("d2i_ECDSA_SIG");
    std::string out(2 * es256_half, '\0');
    auto* o = reinterpret_cast<unsigned char*>(out.data());
    if (BN_bn2binpad(ECDSA_SIG_get0_r(sig.get()), o, es256_half) != es256_half ||
        BN_bn2binpad(ECDSA_SIG_get0_s(sig.get()), o + es256_half, es256_half) != es256_half) {
        openssl_failed("BN_bn2binpad");
    }
    return out;
}

// R‖S → DER for OpenSSL; empty on malformed input.
std::string raw_to_der(std::string_view raw)
{
    if (raw.size() != 2 * es256_half) return {};
    const auto* r = reinterpret_cast<const unsigned char*>(raw.data());
    sig_ptr sig(ECDSA_SIG_new());
    BIGNUM* br = BN_bin2bn(r, es256_half, nullptr);
    BIGNUM* bs = BN_bin2bn(r + es256_half, es256_half, nullptr);
    if (!sig || br == nullptr || bs == nullptr || ECDSA_SIG_set0(sig.get(), br, bs) != 1) {
        BN_free(br);
        BN_free(bs);
        return {};
    }
    unsigned char* der = nullptr;
    int len = i2d_ECDSA_SIG(sig.get(), &der);
    if (len <= 0) return {};
    std::string out(reinterpret_cast<const char*>(der), static_cast<std::size_t>(len));
    OPENSSL_free(der);
    return out;
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

std::string_view to_string(jws_alg a) noexcept
{
    switch (a) {
    case jws_alg::hs256:
        return "HS256";
    case jws_alg::eddsa:
        return "EdDSA";
    case jws_alg::es256:
        return "ES256";
    }
    return "HS256";
}

std::optional<jws_alg> parse_jws_alg(std::string_view s) noexcept
{
    if (s == "HS256") return jws_alg::hs256;
    if (s == "EdDSA") return jws_alg::eddsa;
    if (s == "ES256") return jws_alg::es256;
    return std::nullopt;
}

signing_key signing_key::hs256(std::string_view secret)
{
    auto s = std::make_shared<state>();
    s->alg = jws_alg::hs256;
    s->mac.emplace(secret);
    s->has_private = true;
    auto id = s->mac->mac("portcullis/kid");
    s->kid = "hs-" + core::base64url_encode(as_string_view(id)).substr(0, 16);
    s->header = header_of(jws_alg::hs256, s->kid);
    return signing_key(std::move(s));
}

signing_key signing_key::generate(jws_alg alg)
{
    EVP_PKEY* pkey = nullptr;
    switch (alg) {
    case jws_alg::eddsa:
        pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
        break;
    case jws_alg::es256:
        pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
        break;
    case jws_alg::hs256:
        throw std::invalid_argument("HS256 keys are not generated");
    }
    if (pkey == nullptr) openssl_failed("EVP_PKEY_Q_keygen");
    return signing_key(make_asymmetric(pkey, alg, true));
}

std::optional<signing_key> signing_key::from_pem(std::string_view pem)
{
    if (pem.empty() || pem.size() > 64 * 1024) return std::nullopt;
    bool has_private = true;
    bio_ptr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    if (!bio) return std::nullopt;
    EVP_PKEY* pkey = PEM_read_bio_PrivateKey(bio.get(), nullptr, no_password, nullptr);
    if (pkey == nullptr) {
        has_private = false;
        bio.reset(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
        if (bio) pkey = PEM_read_bio_PUBKEY(bio.get(), nullptr, no_password, nullptr);
    }
    ERR_clear_error();
    if (pkey == nullptr) return std::nullopt;
    auto alg = alg_of(pkey);
    if (!alg) {
        EVP_PKEY_free(pkey);
        return std::nullopt;
    }
    return signing_key(make_asymmetric(pkey, *alg, has_private));
}

jws_alg signing_key::alg() const noexcept
{
    return s_->alg;
}

const std::string& signing_key::kid() const noexcept
{
    return s_->kid;
}

bool signing_key::can_sign() const noexcept
{
    return s_->has_private;
}

const std::string& signing_key::header() const noexcept
{
    return s_->header;
}

std::string signing_key::public_jwk() const
{
    return s_->jwk;
}

std::string signing_key::public_pem() const
{
    if (s_->pkey == nullptr) throw std::logic_error("HS256 keys have no public part");
    bio_ptr bio(BIO_new(BIO_s_mem()));
    if (!bio || PEM_write_bio_PUBKEY(bio.get(), s_->pkey) != 1) openssl_failed("PEM_write_bio_PUBKEY");
    char* data = nullptr;
    long n = BIO_get_mem_data(bio.get(), &data);
    return {data, static_cast<std::size_t>(n)};
}

std::string signing_key::private_pem() const
{
    if (s_->pkey == nullptr || !s_->has_private) throw std::logic_error("no private key to export");
    bio_ptr bio(BIO_new(BIO_s_mem()));
    if (!bio || PEM_write_bio_PrivateKey(bio.get(), s_->pkey, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
        openssl_failed("PEM_write_bio_PrivateKey");
    }
    char* data = nullptr;
    long n = BIO_get_mem_data(bio.get(), &data);
    return {data, static_cast<std::size_t>(n)};
}

std::string signing_key::sign(std::string_view input) const
{
    if (!s_->has_private) throw std::logic_error("signing needs the private key");
    if (s_->mac) {
        auto mac = s_->mac->mac(input);
        return std::string(as_string_view(mac));
    }
    md_ctx_ptr ctx(EVP_MD_CTX_new());
    const EVP_MD* md = s_->alg == jws_alg::es256 ? EVP_sha256() : nullptr;
    if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, md, nullptr, s_->pkey) != 1)
        openssl_failed("EVP_DigestSignInit");
    std::array<unsigned char, 80> sig{};  // Ed25519: 64; ECDSA P-256 DER: at most 72
    std::size_t len = sig.size();
    const auto* in = reinterpret_cast<const unsigned char*>(input.data());
    if (EVP_DigestSign(ctx.get(), sig.data(), &len, in, input.size()) != 1) openssl_failed("EVP_DigestSign");
    if (s_->alg == jws_alg::es256) return der_to_raw(sig.data(), len);
    return std::string(bytes_view(sig.data(), len));
}

bool signing_key::verify(std::string_view input, std::string_view signature) const noexcept
{
    if (s_->mac) {
        if (signature.size() != sha256_size) return false;
        auto mac = s_->mac->mac(input);
        return constant_time_equal(signature, as_string_view(mac));
    }
    std::string der;
    if (s_->alg == jws_alg::es256) {
        der = raw_to_der(signature);
        if (der.empty()) return false;
        signature = der;
    } else if (signature.size() != 64) {
        return false;
    }
    md_ctx_ptr ctx(EVP_MD_CTX_new());
    const EVP_MD* md = s_->alg == jws_alg::es256 ? EVP_sha256() : nullptr;
    bool ok = ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, md, nullptr, s_->pkey) == 1 &&
              EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                               reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1;
    ERR_clear_error();
    return ok;
}

jwt_key::jwt_key(std::string_view secret, jwt_settings settings)
    : key_(signing_key::hs256(secret)), settings_(std::move(settings))
{
}

const signing_key* jwt_key::find(std::string_view kid) const noexcept
{
    return kid.empty() || kid == key_.kid() ? &key_ : nullptr;
}

std::string sign(const claims& c, const signing_key& key, std::string_view audience)
{
    std::string payload;
    payload.reserve(160 + c.iss.size() + c.sub.size() + c.jti.size() + c.sid.size() + audience.size());
    auto str = [&payload](std::string_view name, std::string_view value) {
        payload += '"';
        payload += name;
        payload += "\":\"";
        core::log::append_json_escaped(payload, value);
        payload += "\",";
    };
    payload += '{';
    str("iss", c.iss);
    if (!audience.empty()) str("aud", audience);
    str("sub", c.sub);
    payload += "\"iat\":" + std::to_string(c.iat) + ",\"exp\":" + std::to_string(c.exp) + ',';
    str("jti", c.jti);
    str("sid", c.sid);
    if (c.typ != token_type::reset) payload += c.otp ? R"("amr":["pwd","otp"],)" : R"("amr":["pwd"],)";
    if (c.typ != token_type::reset) payload += c.admin ? R"("role":"admin",)" : R"("role":"user",)";
    if (c.ctr >= 0) payload += "\"ctr\":" + std::to_string(c.ctr) + ',';
    payload += "\"typ\":\"";
    payload += to_string(c.typ);
    payload += "\"}";

    const std::string& header = key.header();
    std::string token;
    token.reserve(header.size() + payload.size() * 4 / 3 + 96);
    token += header;
    token += '.';
    core::base64url_encode_append(token, payload);
    const std::string signature = key.sign(token);
    token += '.';
    core::base64url_encode_append(token, signature);
    return token;
}

namespace detail {

core::result<std::string> verify_jws(std::string_view token, const key_lookup& keys, std::size_t max_length,
                                     const signing_key** used)
{
    if (token.size() > max_length) return invalid();
    const auto dot1 = token.find('.');
    if (dot1 == std::string_view::npos) return invalid();
    const auto dot2 = token.find('.', dot1 + 1);
    if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) return invalid();
    const std::string_view header_b64 = token.substr(0, dot1);
    const std::string_view payload_b64 = token.substr(dot1 + 1, dot2 - dot1 - 1);
    const std::string_view signature_b64 = token.substr(dot2 + 1);
    if (header_b64.empty() || payload_b64.empty() || signature_b64.empty() || signature_b64.size() > 128) {
        return invalid();
    }

    // The header is read first (bounded, on the stack) because it names the key; the
    // payload is not parsed until the signature has been checked.
    std::array<char, max_header_bytes> header{};
    auto n = core::base64url_decode(header_b64, header);
    if (n <= 0) return invalid();
    unsigned char arena[2048];
    boost::json::monotonic_resource mr(arena, sizeof arena);
    boost::system::error_code ec;
    boost::json::value hv = boost::json::parse(std::string_view(header.data(), static_cast<std::size_t>(n)), ec, &mr);
    if (ec || !hv.is_object()) return invalid();
    const auto& h = hv.get_object();
    // Only the members this service writes. Everything else is refused: `crit`
    // (RFC 7515 §4.1.11), and headers that would let the token choose its own key
    // (`jwk`, `jku`, `x5u`, `x5c`).
    for (const auto& member : h) {
        const auto k = member.key();
        if (k != "alg" && k != "kid" && k != "typ") return invalid();
    }
    const auto* alg_text = string_member(h, "alg");
    if (alg_text == nullptr) return invalid();
    const auto alg = parse_jws_alg(*alg_text);
    if (!alg) return invalid();
    if (const auto* typ = h.if_contains("typ"); typ != nullptr && !(typ->is_string() && typ->get_string() == "JWT")) {
        return invalid();
    }
    std::string_view kid;
    if (const auto* k = h.if_contains("kid"); k != nullptr) {
        if (!k->is_string() || k->get_string().empty() || k->get_string().size() > max_kid_length) return invalid();
        kid = k->get_string();
    }
    const signing_key* key = keys.find(kid);
    // The algorithm is the key's, never the token's choice.
    if (key == nullptr || key->alg() != *alg) return invalid();

    std::array<char, 96> signature{};
    auto sig_len = core::base64url_decode(signature_b64, signature);
    if (sig_len <= 0) return invalid();
    if (!key->verify(token.substr(0, dot2), std::string_view(signature.data(), static_cast<std::size_t>(sig_len)))) {
        return invalid();
    }

    std::string payload;
    if (!core::base64url_decode(payload_b64, payload)) return invalid();
    if (used != nullptr) *used = key;
    return payload;
}

}  // namespace detail

core::result<claims> verify(std::string_view token, const key_lookup& keys, const jwt_settings& settings,
                            token_type expected, std::chrono::system_clock::time_point now)
{
    auto payload = detail::verify_jws(token, keys, settings.max_token_length);
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
    if (!settings.audience.empty()) {
        // RFC 7519 §4.1.3: a string or an array of strings, one of which must be ours.
        const auto* aud = o.if_contains("aud");
        bool ours = false;
        if (aud != nullptr && aud->is_string()) {
            ours = aud->get_string() == settings.audience;
        } else if (aud != nullptr && aud->is_array()) {
            for (const auto& a : aud->get_array())
                ours = ours || (a.is_string() && a.get_string() == settings.audience);
        }
        if (!ours) return invalid();
    }
    auto parsed_typ = parse_token_type(*typ);
    if (!parsed_typ || *parsed_typ != expected) return invalid();
    if (sid->empty() && expected != token_type::reset) return invalid();
    if (c.iat > c.exp) return invalid();
    if (const auto* amr = o.if_contains("amr"); amr != nullptr) {
        if (!amr->is_array()) return invalid();
        for (const auto& m : amr->get_array()) {
            if (!m.is_string()) return invalid();
            c.otp = c.otp || m.get_string() == "otp";
        }
    }
    if (const auto* role = o.if_contains("role"); role != nullptr) {
        if (!role->is_string()) return invalid();
        c.admin = role->get_string() == "admin";
    }

    if (o.if_contains("ctr") != nullptr && (!int_member(o, "ctr", c.ctr) || c.ctr < 0)) return invalid();

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
