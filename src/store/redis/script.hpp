#pragma once
// A Lua script for EVALSHA: its source and SHA-1, computed once at construction.
// Connections send EVALSHA and fall back to EVAL (which also caches the script on
// the server) when Redis answers NOSCRIPT, e.g. after a restart or SCRIPT FLUSH.

#include <string>
#include <string_view>

namespace portcullis::store::redis {

class script {
public:
    explicit script(std::string source);

    const std::string& source() const noexcept { return source_; }
    const std::string& sha1() const noexcept { return sha1_; }  // 40 lowercase hex digits

private:
    std::string source_;
    std::string sha1_;
};

// SHA-1 of `data` as 40 lowercase hex digits (the name Redis gives a script).
std::string sha1_hex(std::string_view data);

}  // namespace portcullis::store::redis
