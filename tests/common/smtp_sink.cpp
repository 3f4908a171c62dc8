#include "smtp_sink.hpp"

#include "test_env.hpp"
#include "wait.hpp"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <stdexcept>

namespace portcullis::test {

namespace fs = std::filesystem;
using std::chrono::seconds;

namespace {
bool port_taken(std::string log)
{
    std::transform(log.begin(), log.end(), log.begin(), [](unsigned char c) { return std::tolower(c); });
    return log.find("address already in use") != std::string::npos;
}
}  // namespace

smtp_sink::smtp_sink(std::string mail_dir, int port)
    : port_(port != 0 ? port : free_port()),
      own_port_(port == 0),
      dir_(make_temp_dir("portcullis-sink")),
      mail_dir_(std::move(mail_dir))
{
    if (mail_dir_.empty()) mail_dir_ = dir_ + "/messages";
    fs::create_directories(mail_dir_);
}

smtp_sink::~smtp_sink()
{
    stop();
}

bool smtp_sink::start_on_port(const std::vector<std::string>& extra)
{
    ++starts_;
    const std::string ready = dir_ + "/ready-" + std::to_string(starts_);
    std::vector<std::string> argv = {"/usr/bin/python3",
                                     require_env("PORTCULLIS_SOURCE_ROOT") + "/tests/smtp_sink.py",
                                     "--host",
                                     "127.0.0.1",
                                     "--port",
                                     std::to_string(port_),
                                     "--dir",
                                     mail_dir_,
                                     "--journal",
                                     journal_path(),
                                     "--ready-file",
                                     ready,
                                     "--quiet"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    const std::string log_path = dir_ + "/sink-" + std::to_string(starts_) + ".log";
    proc_ = std::make_unique<process>(argv, std::map<std::string, std::string>{}, log_path);
    wait_until([&] { return fs::exists(ready) || !proc_->running(); }, seconds(20));
    if (fs::exists(ready) && proc_->running()) return true;
    const std::string out = proc_->log();
    proc_.reset();
    if (port_taken(out)) return false;
    throw std::runtime_error("SMTP sink did not start:\n" + out);
}

void smtp_sink::start(std::vector<std::string> extra)
{
    stop();
    if (!own_port_ || port_read_ || starts_ > 0) {
        if (!start_on_port(extra)) throw std::runtime_error("SMTP sink: port " + std::to_string(port_) + " was taken");
        return;
    }
    // The free port may be taken by another test before the sink binds it.
    for (int attempt = 0; attempt < 5; ++attempt) {
        if (start_on_port(extra)) return;
        port_ = free_port();
    }
    throw std::runtime_error("SMTP sink found no free port in 5 attempts");
}

void smtp_sink::stop()
{
    if (!proc_) return;
    proc_->stop();
    proc_.reset();
}

std::string smtp_sink::log() const
{
    std::string out;
    for (int i = 1; i <= starts_; ++i) out += read_file(dir_ + "/sink-" + std::to_string(i) + ".log");
    return out;
}

std::vector<std::string> smtp_sink::message_files() const
{
    std::vector<std::string> out;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(mail_dir_, ec)) {
        const std::string name = entry.path().filename().string();
        if (!name.empty() && name[0] != '.' && entry.path().extension() == ".eml") out.push_back(entry.path().string());
    }
    std::sort(out.begin(), out.end());
    return out;
}

std::size_t smtp_sink::message_count() const
{
    return message_files().size();
}

}  // namespace portcullis::test
