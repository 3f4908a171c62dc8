// portcullis: command-line entry point.

#include "app/commands.hpp"
#include "app/config.hpp"
#include "app/import_django.hpp"
#include "app/serve.hpp"
#include "core/log.hpp"

#include <csignal>
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

namespace {

constexpr const char* usage = R"(portcullis — authentication server

Usage:
  portcullis serve [--no-migrate] [--no-workers]
                                HTTP server plus in-process job workers
  portcullis worker             job workers only
                                (SIGHUP reloads the mail templates; in serve also
                                the disposable-domain list)
  portcullis migrate            apply database migrations
  portcullis queue stats        queue depths and counters
  portcullis queue dead         dead-lettered jobs with their errors
  portcullis queue retry ID|--all
                                re-enqueue dead jobs
  portcullis queue show ID      one job's state, attempts and last error
  portcullis import-django --database-url URL [--table auth_user] [--map field=column]... [--dry-run]
                                copy users from a Django database
  portcullis keys list          the stored access-token keys and their states
  portcullis keys rotate [--now]
                                a new key, signing after JWT_KEY_PUBLISH_AHEAD (--now: at once)
  portcullis keys retire KID    stop publishing and accepting a key
  portcullis user create-admin --email E --username U
                                a verified admin (password from stdin; on a terminal,
                                a generated one is printed once)
  portcullis user list [--q PREFIX] [--status S] [--limit N]
  portcullis user show|disable|enable|logout|delete ID|EMAIL
                                accounts as operators see them; disable, logout and
                                delete end every session on every instance
  portcullis bench-hash [--seconds N]
                                password hashes per second with the configured parameters,
                                by libargon2 and by the own argon2 (and its kernel)
  portcullis --version
  portcullis --help

Configuration comes from the environment and a .env file in the working directory
(see docs/CONFIGURATION.md).
)";

// The commands besides `serve` (which has options of its own), by name.
using command_fn = int (*)(const portcullis::app::config&, const std::vector<std::string>&);
struct command_entry {
    std::string_view name;
    command_fn run;
};
const command_entry commands[] = {
    {"migrate",
     [](const portcullis::app::config& c, const std::vector<std::string>&) { return portcullis::app::run_migrate(c); }},
    {"worker",
     [](const portcullis::app::config& c, const std::vector<std::string>&) { return portcullis::app::run_worker(c); }},
    {"queue", portcullis::app::run_queue},
    {"bench-hash", portcullis::app::run_bench_hash},
    {"import-django", portcullis::app::run_import_django},
    {"keys", portcullis::app::run_keys},
    {"user", portcullis::app::run_user},
};

const command_entry* find_command(std::string_view name)
{
    for (const auto& c : commands) {
        if (c.name == name) return &c;
    }
    return nullptr;
}

}  // namespace

int main(int argc, char** argv)
{
    std::signal(SIGPIPE, SIG_IGN);
    std::vector<std::string> args(argv + 1, argv + argc);
    if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
        std::fputs(usage, args.empty() ? stderr : stdout);
        return args.empty() ? 2 : 0;
    }
    if (args[0] == "--version" || args[0] == "-V") {
        std::printf("portcullis %s\n", PORTCULLIS_VERSION);
        return 0;
    }

    const std::string& cmd = args[0];
    const command_entry* command = find_command(cmd);
    if (cmd != "serve" && command == nullptr) {
        std::fprintf(stderr, "portcullis: unknown command '%s'\n\n%s", cmd.c_str(), usage);
        return 2;
    }

    portcullis::app::config cfg;
    try {
        cfg = portcullis::app::load_config();
    } catch (const portcullis::app::config_error& e) {
        std::fprintf(stderr, "portcullis: invalid configuration:\n%s", e.what());
        return 2;
    }
    portcullis::core::log::set_level(cfg.log_level);
    if (cfg.secret_key_generated) {
        portcullis::core::log::warn("development_mode_random_secret_key",
                                    {{"note", "tokens will not survive a restart; set SECRET_KEY"}});
    }

    try {
        if (cmd == "serve") {
            portcullis::app::serve_options opts;
            for (std::size_t i = 1; i < args.size(); ++i) {
                if (args[i] == "--no-migrate")
                    opts.migrate = false;
                else if (args[i] == "--no-workers")
                    opts.workers = false;
                else if (args[i] == "--print-routes")
                    opts.print_routes = true;
                else {
                    std::fprintf(stderr, "portcullis serve: unknown option '%s'\n", args[i].c_str());
                    return 2;
                }
            }
            return portcullis::app::run_serve(cfg, opts);
        }
        std::vector<std::string> rest(args.begin() + 1, args.end());
        return command->run(cfg, rest);
    } catch (const std::exception& e) {
        portcullis::core::log::error("fatal", {{"error", e.what()}});
        return 1;
    }
}
