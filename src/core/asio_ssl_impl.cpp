// The one translation unit that compiles Boost.Asio's OpenSSL layer, for the layers that
// speak TLS (mail, verify).
#include <boost/asio/ssl/impl/src.hpp>
