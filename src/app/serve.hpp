#pragma once
// `portcullis serve`: the HTTP server on IO_THREADS I/O threads plus the
// in-process job workers, until SIGTERM/SIGINT; SIGHUP reloads the mail templates.

#include "app/config.hpp"

namespace portcullis::app {

struct serve_options {
    bool migrate = true;        // apply migrations before listening (when MIGRATE_ON_START is also true)
    bool workers = true;        // run the job workers in-process
    bool print_routes = false;  // print "METHOD /template" per route and exit (the OpenAPI coverage test)
};

// Runs until a signal stops it; returns the process exit code.
int run_serve(const config& cfg, const serve_options& opts);

}  // namespace portcullis::app
