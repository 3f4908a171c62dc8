#include "ha_support.hpp"

#include "test_env.hpp"

#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <memory>
#include <stdexcept>

namespace portcullis::test {

void sh(const std::string& cmd)
{
    if (std::system(cmd.c_str()) != 0) throw std::runtime_error("command failed: " + cmd);
}

std::string capture(const std::string& cmd)
{
    std::unique_ptr<FILE, int (*)(FILE*)> p(::popen(cmd.c_str(), "r"), ::pclose);
    if (!p) return {};
    std::string out;
    std::array<char, 4096> buf{};
    while (auto n = std::fread(buf.data(), 1, buf.size(), p.get())) out.append(buf.data(), n);
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
    return out;
}

std::string as_postgres()
{
    return ::geteuid() == 0 ? "runuser -u postgres -- " : "";
}

namespace {

std::string cli(int port, const std::string& args)
{
    return "redis-cli -h 127.0.0.1 -p " + std::to_string(port) + " " + args + " 2>/dev/null";
}

}  // namespace

namespace {

std::string server_command(const std::string& d, int port)
{
    return "mkdir -p " + d + " && redis-server --bind 127.0.0.1 --port " + std::to_string(port) + " --dir " + d +
           " --daemonize yes --pidfile " + d + "/pid --logfile " + d +
           "/log --appendonly yes --appendfsync everysec --save '' --repl-diskless-sync-delay 0";
}

std::string read_pid(const std::string& pidfile)
{
    std::ifstream in(pidfile);
    std::string pid;
    in >> pid;
    return pid;
}

// Starts a daemon (`command(port)`, writing its pid to `pidfile`) on a port that was free
// a moment ago. When something else bound the port first, our daemon exits (or another
// one answers there): the one answering must report our pid, or the start is retried on
// another port.
int start_on_free_port(const std::function<std::string(int)>& command, const std::string& pidfile)
{
    for (int attempt = 1;; ++attempt) {
        const int port = free_port();
        std::remove(pidfile.c_str());
        sh(command(port));
        auto ours = [&] {
            const std::string pid = read_pid(pidfile);
            if (pid.empty()) return false;
            const std::string info = capture(cli(port, "INFO server"));
            return info.find("process_id:" + pid + "\r") != std::string::npos ||
                   info.find("process_id:" + pid + "\n") != std::string::npos;
        };
        if (wait_for(ours, std::chrono::seconds(5))) return port;
        std::system(("kill -9 $(cat " + pidfile + ") 2>/dev/null").c_str());
        if (attempt == 5) throw std::runtime_error("no free port for " + command(port) + " in 5 attempts");
    }
}

}  // namespace

redis_group::redis_group() : dir_(make_temp_dir("pc-redis-ha"))
{
    for (int i = 0; i < 3; ++i) {
        const std::string d = dir_ + "/r" + std::to_string(i);
        const int master = servers_[0];
        servers_[i] = start_on_free_port(
            [&](int port) {
                std::string cmd = server_command(d, port);
                if (i > 0) cmd += " --replicaof 127.0.0.1 " + std::to_string(master);
                return cmd;
            },
            d + "/pid");
    }
    if (!wait_for(
            [&] {
                return capture(cli(servers_[0], "INFO replication")).find("connected_slaves:2") != std::string::npos;
            },
            std::chrono::seconds(20))) {
        throw std::runtime_error("replicas did not connect");
    }
    for (int i = 0; i < 3; ++i) {
        const std::string conf = dir_ + "/s" + std::to_string(i) + ".conf";
        const std::string pidfile = dir_ + "/s" + std::to_string(i) + ".pid";
        sentinels_[i] = start_on_free_port(
            [&](int port) {
                std::ofstream f(conf);
                f << "port " << port << "\nbind 127.0.0.1\ndaemonize yes\npidfile " << pidfile << "\nlogfile " << dir_
                  << "/s" << i << ".log\ndir " << dir_ << "\n"
                  << "sentinel monitor pc 127.0.0.1 " << servers_[0] << " 2\n"
                  << "sentinel down-after-milliseconds pc 1000\nsentinel failover-timeout pc 10000\n"
                  << "sentinel parallel-syncs pc 2\n";
                f.close();
                return "redis-sentinel " + conf + " >/dev/null";
            },
            pidfile);
    }
    // Ready when every sentinel sees both replicas and the two other sentinels.
    auto ready = [&] {
        for (int p : sentinels_) {
            std::string m = capture(cli(p, "SENTINEL master pc"));
            if (m.find("num-slaves\n2") == std::string::npos || m.find("num-other-sentinels\n2") == std::string::npos)
                return false;
        }
        return true;
    };
    if (!wait_for(ready, std::chrono::seconds(30))) throw std::runtime_error("sentinels did not converge");
}

redis_group::~redis_group()
{
    for (int i = 0; i < 3; ++i) {
        std::system(("kill -9 $(cat " + dir_ + "/s" + std::to_string(i) + ".pid) 2>/dev/null").c_str());
        std::system(("kill -9 $(cat " + dir_ + "/r" + std::to_string(i) + "/pid) 2>/dev/null").c_str());
    }
    std::system(("rm -rf " + dir_).c_str());
}

int redis_group::master_port() const
{
    std::string out = capture(cli(sentinels_[0], "SENTINEL get-master-addr-by-name pc"));
    auto nl = out.find('\n');
    if (nl == std::string::npos) return 0;
    return std::atoi(out.c_str() + nl + 1);
}

void redis_group::failover() const
{
    sh(cli(sentinels_[0], "SENTINEL FAILOVER pc") + " | grep -q OK");
}

void redis_group::restart_as_replica(int port, int master_port) const
{
    for (int i = 0; i < 3; ++i) {
        if (servers_[i] == port) {
            sh(server_command(dir_ + "/r" + std::to_string(i), port) + " --replicaof 127.0.0.1 " +
               std::to_string(master_port));
        }
    }
}

void redis_group::kill(int port) const
{
    for (int i = 0; i < 3; ++i) {
        if (servers_[i] == port) sh("kill -9 $(cat " + dir_ + "/r" + std::to_string(i) + "/pid)");
    }
}

}  // namespace portcullis::test
