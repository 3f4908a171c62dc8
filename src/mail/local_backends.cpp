#include "mail/local_backends.hpp"

#include "core/error.hpp"
#include "core/log.hpp"
#include "core/random.hpp"
#include "mail/encoding.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <stdexcept>
#include <system_error>

namespace portcullis::mail {
namespace {

// Writes all of `data` to a new file `path` and fsyncs it; false with errno set on failure.
bool write_new_file(const std::filesystem::path& path, std::string_view data)
{
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    if (fd < 0) return false;
    std::size_t off = 0;
    while (off < data.size()) {
        ssize_t n = ::write(fd, data.data() + off, data.size() - off);
        if (n < 0) {
            if (errno == EINTR) continue;
            int saved = errno;
            ::close(fd);
            errno = saved;
            return false;
        }
        off += static_cast<std::size_t>(n);
    }
    if (::fsync(fd) != 0 || ::close(fd) != 0) return false;
    return true;
}

std::string file_stamp(std::chrono::system_clock::time_point t)
{
    std::time_t tt = std::chrono::system_clock::to_time_t(t);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    char buf[32];
    int n = std::snprintf(buf, sizeof buf, "%04d%02d%02d-%02d%02d%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                          tm.tm_hour, tm.tm_min, tm.tm_sec);
    return std::string(buf, static_cast<std::size_t>(n));
}

send_result check_addresses(const message& m)
{
    if (!valid_address(m.from.address))
        return {core::make_error_code(core::errc::smtp_rejected), {}, "invalid sender address"};
    if (m.to.empty()) return {core::make_error_code(core::errc::smtp_rejected), {}, "message without recipients"};
    for (const mailbox& r : m.to) {
        if (!valid_address(r.address)) {
            return {core::make_error_code(core::errc::smtp_rejected), {}, "invalid recipient address"};
        }
    }
    return {};
}

}  // namespace

boost::asio::awaitable<send_result> console_backend::async_send(message m, core::deadline)
{
    if (send_result bad = check_addresses(m); !bad.ok()) co_return bad;
    const std::string id = make_message_id(m.from);
    std::string to;
    for (const mailbox& r : m.to) {
        if (!to.empty()) to += ", ";
        to += format_mailbox(r);
    }
    core::log::info(
        "mail_console",
        {{"message_id", id}, {"from", format_mailbox(m.from)}, {"to", to}, {"subject", m.subject}, {"text", m.text}});
    co_return send_result{{}, {}, id};
}

boost::asio::awaitable<void> console_backend::async_close(core::deadline)
{
    co_return;
}

file_backend::file_backend(std::filesystem::path dir) : dir_(std::move(dir))
{
    std::error_code ec;
    std::filesystem::create_directories(dir_, ec);
    if (ec || !std::filesystem::is_directory(dir_)) {
        throw std::runtime_error("EMAIL_FILE_PATH " + dir_.string() + " is not a usable directory" +
                                 (ec ? ": " + ec.message() : std::string()));
    }
}

boost::asio::awaitable<send_result> file_backend::async_send(message m, core::deadline)
{
    if (send_result bad = check_addresses(m); !bad.ok()) co_return bad;
    const auto now = std::chrono::system_clock::now();
    const std::string id = make_message_id(m.from);
    const std::string data = build_mime(m, now, id);
    const std::string name = file_stamp(now) + "-" + core::random_hex(6) + ".eml";
    const std::filesystem::path tmp = dir_ / ("." + name + ".tmp");
    // A small local write: short enough to do on the calling thread for a development backend.
    if (!write_new_file(tmp, data) || std::rename(tmp.c_str(), (dir_ / name).c_str()) != 0) {
        std::string why = std::generic_category().message(errno);
        ::unlink(tmp.c_str());
        co_return send_result{core::make_error_code(core::errc::smtp_unavailable),
                              {},
                              "cannot write " + (dir_ / name).string() + ": " + why};
    }
    co_return send_result{{}, {}, id};
}

boost::asio::awaitable<void> file_backend::async_close(core::deadline)
{
    co_return;
}

}  // namespace portcullis::mail
