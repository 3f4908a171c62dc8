#include "net/json_body.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

namespace portcullis::net {

core::result<boost::json::object> parse_json_object(const request& req)
{
    if (req.body.empty()) return boost::json::object{};
    boost::json::parse_options opts;
    opts.max_depth = 32;
    boost::system::error_code ec;
    boost::json::value v = boost::json::parse(req.body, ec, {}, opts);
    if (ec) return make_error_code(core::errc::malformed_json);
    if (!v.is_object()) return make_error_code(core::errc::validation_failed);
    return std::move(v.as_object());
}

response json_response(unsigned status, const boost::json::value& v)
{
    response r;
    r.status = status;
    r.body = boost::json::serialize(v);
    return r;
}

}  // namespace portcullis::net
