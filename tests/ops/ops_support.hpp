#pragma once
// Helpers of the operations tests: JSON requests, mail files, log lines.

#include "http_client.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <string>
#include <vector>

namespace portcullis::test {

// A JSON request on a fresh connection; `token` adds `Authorization: Bearer`.
http_response json_request(int port, const std::string& method, const std::string& target,
                           const nlohmann::json& body = nullptr, const std::string& token = {});

// Contents of the messages (*.eml) under `dir` addressed to `to`, oldest first.
std::vector<std::string> mails_to(const std::string& dir, const std::string& to);

// Waits until at least `count` messages to `to` exist under `dir`; returns the newest.
// Throws after `timeout`.
std::string wait_for_mail(const std::string& dir, const std::string& to, std::size_t count,
                          std::chrono::milliseconds timeout = std::chrono::seconds(20));

// Waits for a message to `to` under `dir` that contains `text`; returns the newest such.
std::string wait_for_mail_containing(const std::string& dir, const std::string& to, const std::string& text,
                                     std::chrono::milliseconds timeout = std::chrono::seconds(20));

// The one-time code of a verification or reset mail: a line holding only 6 digits.
std::string code_in(const std::string& mail);

// A password that passes the policy.
inline const char* strong_password()
{
    return "Correct-Horse-Battery-9";
}

}  // namespace portcullis::test
