#pragma once
// JSON in and out of handlers, through Boost.JSON.

#include "core/error.hpp"
#include "net/http.hpp"

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

namespace portcullis::net {

// Parses the request body as a JSON object; an empty body is an empty object.
// Errors: malformed_json (not JSON, or nesting deeper than 32), validation_failed
// (valid JSON but not an object).
core::result<boost::json::object> parse_json_object(const request& req);

// A response whose body is `v` serialized.
response json_response(unsigned status, const boost::json::value& v);

}  // namespace portcullis::net
