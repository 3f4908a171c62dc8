#pragma once
// The command-line subcommands other than `serve`.

#include "app/config.hpp"

#include <string>
#include <vector>

namespace portcullis::app {

// `portcullis migrate`: applies pending migrations; 0 on success.
int run_migrate(const config& cfg);

// `portcullis worker`: the job workers, beat and purge, without HTTP, until SIGTERM/SIGINT.
int run_worker(const config& cfg);

// `portcullis queue stats|dead|retry ID|--all|show ID`.
int run_queue(const config& cfg, const std::vector<std::string>& args);

// `portcullis bench-hash [--seconds N]`: argon2id hashes/s with the configured
// parameters on HASH_THREADS threads, no HTTP.
int run_bench_hash(const config& cfg, const std::vector<std::string>& args);

// `portcullis keys list|rotate [--now]|retire KID`: the stored access-token signing keys.
int run_keys(const config& cfg, const std::vector<std::string>& args);

// `portcullis user create-admin|list|show|disable|enable|logout|delete`: accounts from
// the shell (src/app/user_command.cpp).
int run_user(const config& cfg, const std::vector<std::string>& args);

}  // namespace portcullis::app
