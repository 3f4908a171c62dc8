#include "ops_support.hpp"

#include "process.hpp"
#include "wait.hpp"

#include <algorithm>
#include <filesystem>
#include <stdexcept>
#include <thread>

namespace portcullis::test {

http_response json_request(int port, const std::string& method, const std::string& target, const nlohmann::json& body,
                           const std::string& token)
{
    std::vector<std::pair<std::string, std::string>> headers;
    std::string text;
    if (!body.is_null()) {
        text = body.dump();
        headers.emplace_back("Content-Type", "application/json");
    }
    if (!token.empty()) headers.emplace_back("Authorization", "Bearer " + token);
    return http_request(port, method, target, text, headers);
}

std::vector<std::string> mails_to(const std::string& dir, const std::string& to)
{
    std::vector<std::filesystem::path> files;
    std::error_code ec;
    for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        const auto& p = it->path();
        if (p.extension() == ".eml" && p.filename().string()[0] != '.') files.push_back(p);
    }
    std::sort(files.begin(), files.end());
    std::vector<std::string> out;
    for (const auto& f : files) {
        std::string text = read_file(f.string());
        auto header_end = text.find("\r\n\r\n");
        if (header_end == std::string::npos) header_end = text.find("\n\n");
        std::string headers = text.substr(0, header_end);
        if (headers.find(to) != std::string::npos) out.push_back(text);
    }
    return out;
}

std::string wait_for_mail(const std::string& dir, const std::string& to, std::size_t count,
                          std::chrono::milliseconds timeout)
{
    std::vector<std::string> mails;
    wait_for([&] { return (mails = mails_to(dir, to)).size() >= count; }, timeout,
             "mail #" + std::to_string(count) + " to " + to + " in " + dir, std::chrono::milliseconds(50));
    return mails.back();
}

std::string wait_for_mail_containing(const std::string& dir, const std::string& to, const std::string& text,
                                     std::chrono::milliseconds timeout)
{
    std::string found;
    wait_for(
        [&] {
            auto mails = mails_to(dir, to);
            auto it = std::find_if(mails.rbegin(), mails.rend(),
                                   [&](const std::string& m) { return m.find(text) != std::string::npos; });
            if (it != mails.rend()) found = *it;
            return it != mails.rend();
        },
        timeout, "a mail to " + to + " containing '" + text + "' in " + dir, std::chrono::milliseconds(50));
    return found;
}

std::string code_in(const std::string& mail)
{
    std::size_t pos = 0;
    while (pos < mail.size()) {
        auto nl = mail.find('\n', pos);
        std::string line = mail.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
        pos = nl == std::string::npos ? mail.size() : nl + 1;
        auto b = line.find_first_not_of(" \t\r");
        auto e = line.find_last_not_of(" \t\r");
        if (b == std::string::npos) continue;
        std::string t = line.substr(b, e - b + 1);
        if (t.size() == 6 && std::all_of(t.begin(), t.end(), [](char c) { return c >= '0' && c <= '9'; })) return t;
    }
    throw std::runtime_error("no code in mail:\n" + mail);
}

}  // namespace portcullis::test
