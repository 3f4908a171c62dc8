#pragma once
// `portcullis import-django`: copies the users of a Django user table (`auth_user` or a
// custom user model's table) into Portcullis. Blocking libpq: a command-line tool, not
// the server.

#include "app/config.hpp"

#include <string>
#include <vector>

namespace portcullis::app {

// `import-django --database-url URL [--table auth_user] [--map field=column]… [--dry-run]`.
// Columns are found by name (see docs/OPERATIONS.md, "Moving from Django"); --map
// overrides a guess. Users are matched by lower(e-mail); batches of rows commit
// together, so an interrupted run can be run again, and a second run of an unchanged
// source changes nothing. --dry-run reads and checks everything, prints what would
// happen, and rolls every batch back. Prints a summary on stdout and, on a terminal,
// progress on stderr. Returns 0, 1 when a database (or Redis) cannot be used, 2 on a
// usage error or a required field that no column provides.
int run_import_django(const config& cfg, const std::vector<std::string>& args);

}  // namespace portcullis::app
