#pragma once
// `portcullis import-django`: copies the users of a Django `auth_user` table (or a custom
// user table with the same columns) into Portcullis. Blocking libpq: a command-line tool,
// not the server.

#include "app/config.hpp"

#include <string>
#include <vector>

namespace portcullis::app {

// `import-django --database-url URL [--table auth_user]`. Idempotent: users are matched
// by lower(email); a second run of an unchanged source changes nothing. Prints
// "N created, N updated, N unchanged, N skipped"; returns 0, 1 when a database cannot be
// used, 2 on a usage error.
int run_import_django(const config& cfg, const std::vector<std::string>& args);

}  // namespace portcullis::app
