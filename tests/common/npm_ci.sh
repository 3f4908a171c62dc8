# shellcheck shell=bash
# npm_ci_once PACKAGE_DIR WORK_DIR MODULE: installs the packages pinned in
# PACKAGE_DIR/package-lock.json into WORK_DIR with `npm ci` (from the npm cache when it
# can), once: later runs reuse WORK_DIR/node_modules without the network until the lock
# file changes. MODULE (a path under node_modules) proves the install; without it the
# caller exits with a message.
npm_ci_once() {
  local pkg=$1 work=$2 module=$3
  command -v node >/dev/null || { echo "node is missing"; exit 1; }
  command -v npm >/dev/null || { echo "npm is missing"; exit 1; }
  mkdir -p "$work"
  # Tests that share WORK_DIR may run at once: one installs, the others wait for it.
  local lock
  exec {lock}>"$work/.npm-ci.lock"
  flock "$lock"
  if ! cmp -s "$pkg/package-lock.json" "$work/package-lock.json" || [ ! -d "$work/node_modules/$module" ]; then
    rm -rf "$work/node_modules"
    cp "$pkg/package.json" "$pkg/package-lock.json" "$work/"
    (cd "$work" && npm ci --prefer-offline --no-audit --no-fund --loglevel=error 2>&1 | grep -v '^npm warn Unknown' || true)
    if [ ! -d "$work/node_modules/$module" ]; then
      rm -f "$work/package-lock.json"
      echo "npm ci failed: $module could not be installed"
      exit 1
    fi
  fi
  flock -u "$lock"
  exec {lock}>&-
}
