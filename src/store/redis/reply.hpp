#pragma once
// A Redis reply as a plain value, and the RESP reader that builds it (hiredis's
// reader with our own object functions, so replies are built once, no copy).

#include "core/error.hpp"

#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace portcullis::store::redis {

enum class reply_kind : std::uint8_t { nil, integer, string, status, error, array };

struct reply {
    reply_kind kind = reply_kind::nil;
    std::int64_t integer = 0;
    std::string str;              // string, status and error payloads (binary safe)
    std::vector<reply> elements;  // array members

    bool is_nil() const noexcept { return kind == reply_kind::nil; }
    bool is_error() const noexcept { return kind == reply_kind::error; }
    bool is_array() const noexcept { return kind == reply_kind::array; }
    bool is_integer() const noexcept { return kind == reply_kind::integer; }
    // True for a bulk string or a status line.
    bool is_text() const noexcept { return kind == reply_kind::string || kind == reply_kind::status; }

    static reply make_integer(std::int64_t v);
    static reply make_string(std::string v);
    static reply make_status(std::string v);
    static reply make_error(std::string v);
    static reply make_array(std::vector<reply> v);
};

// Debug form of a reply (tests, logs of unexpected replies).
std::ostream& operator<<(std::ostream& os, const reply& r);

// Typed views of a reply. A Redis error reply or an unexpected type gives errc::internal
// (a bug in the caller's command), except transient server states (LOADING, BUSY,
// MASTERDOWN, TRYAGAIN, and READONLY or UNBLOCKED from a master turned replica), which give
// errc::redis_unavailable.
core::result<std::int64_t> as_integer(const reply& r);
core::result<std::string> as_string(const reply& r);                          // string or status
core::result<std::optional<std::string>> as_optional_string(const reply& r);  // nil → nullopt
core::result<void> as_ok(const reply& r);                                     // anything but an error

// True when an error reply is a transient server state (see above).
bool is_transient_error(const reply& r) noexcept;

// Incremental RESP2 parser: feed bytes, take complete replies in order.
class reply_reader {
public:
    reply_reader();
    ~reply_reader();
    reply_reader(const reply_reader&) = delete;
    reply_reader& operator=(const reply_reader&) = delete;

    // Appends received bytes. False on a protocol error (the stream is unusable).
    bool feed(const char* data, std::size_t n);
    // Next complete reply, nullopt when more bytes are needed; sets `failed` on a protocol error.
    std::optional<reply> next(bool& failed);
    // Drops buffered bytes and any partial reply (after a reconnect).
    void reset();

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace portcullis::store::redis
