# Shared shell functions for scripts/run.sh and scripts/test.sh: package
# installation, building, and private PostgreSQL / Redis / SMTP-sink instances
# that never touch a system instance (own data directory, own port).
# shellcheck shell=bash

PORTCULLIS_ROOT=${PORTCULLIS_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
# Empty until PostgreSQL is installed (a fresh machine): `|| true` keeps `set -e` callers alive.
PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)}
SYS_PYTHON=/usr/bin/python3   # Debian's, which has aiosmtpd (a pyenv python may not)

log() { printf '[portcullis] %s\n' "$*" >&2; }
die() { printf '[portcullis] error: %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# apt-get with the noninteractive front end, as root.
apt_get() { as_root env DEBIAN_FRONTEND=noninteractive apt-get "$@"; }

# ensure_packages NEED…: installs what is missing, by need rather than by name.
# A NEED is "package" (needed when dpkg does not have it installed) or
# "package:command" (needed only when COMMAND is not on the PATH, so a tool that
# came from elsewhere, e.g. NodeSource's node with its bundled npm, is never
# asked of apt). A NEED of ":command" has no Debian package this script may
# install: its absence stops the script with a message. The package index is
# refreshed only when something is missing (retried once); every missing package
# is tried even when one of them cannot be installed, and a failure stops the
# script at once, naming what is missing and apt's error.
ensure_packages() {
  local need pkg cmd missing=() unmet=()
  for need in "$@"; do
    pkg=${need%%:*}
    cmd=""
    [[ $need == *:* ]] && cmd=${need#*:}
    if [ -n "$cmd" ] && command -v "$cmd" >/dev/null 2>&1; then continue; fi
    if [ -z "$pkg" ]; then unmet+=("$cmd"); continue; fi
    if [ -z "$cmd" ] && dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
      continue
    fi
    missing+=("$pkg")
  done
  [ ${#unmet[@]} -eq 0 ] || die "not on the PATH and not installable from Debian here: ${unmet[*]}"
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing: ${missing[*]}"
    local out
    if ! out=$(apt_get update -qq 2>&1); then
      log "apt-get update failed, retrying once: $(printf '%s' "$out" | tail -n 3)"
      sleep 5
      out=$(apt_get update -qq 2>&1) || die "apt-get update failed: $out"
    fi
    if ! out=$(apt_get install -y -qq --no-install-recommends "${missing[@]}" 2>&1); then
      # One package apt refuses must not keep the others out: install one by one.
      local failed=() errors=""
      for pkg in "${missing[@]}"; do
        if ! out=$(apt_get install -y -qq --no-install-recommends "$pkg" 2>&1); then
          failed+=("$pkg")
          errors+=$'\n'"--- $pkg:"$'\n'"$(printf '%s' "$out" | grep -E '^(E:|W:| )' | tail -n 8)"
        fi
      done
      [ ${#failed[@]} -eq 0 ] || die "could not install ${failed[*]}; apt said:$errors"
    fi
  fi
  PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)
}

# cmake: Meson finds Debian's doctest through its CMake package file (it ships no
# pkg-config file); without cmake Meson would try to download doctest.
BUILD_PACKAGES=(g++:g++ meson:meson ninja-build:ninja pkg-config:pkg-config cmake:cmake libboost1.81-dev libboost-json1.81-dev
  libboost-url1.81-dev libssl-dev libhiredis-dev libpq-dev nlohmann-json3-dev doctest-dev libargon2-dev
  libc-ares-dev libidn2-dev libcrypt-dev)
SERVER_PACKAGES=(postgresql redis-server:redis-server)
# The OpenAPI validator needs node and its package manager. Debian's packages of
# them are asked for only when no node is on the PATH: beside another Node.js
# (NodeSource's bundles the package manager and conflicts with Debian's), never.
# Django itself (with its bcrypt and argon2 hashers and PostgreSQL driver) builds the
# source database of the import-django test; PyJWT checks the served JWKS; the
# high-availability tests run Redis Sentinel and HAProxy; the MFA tests take their TOTP codes
# from oathtool.
TEST_PACKAGES=(python3-aiosmtpd python3-jwt python3-cryptography openssl:openssl curl:curl
  clang-format:clang-format clang-tidy:clang-tidy prometheus:promtool systemd:systemd-analyze dnsmasq-base:dnsmasq
  python3-django python3-bcrypt python3-argon2 python3-psycopg2 redis-sentinel:redis-sentinel haproxy:haproxy
  oathtool:oathtool)
if command -v node >/dev/null 2>&1; then
  TEST_PACKAGES+=(:npm)
else
  TEST_PACKAGES+=(nodejs:node npm:npm)
fi

# The test build of scripts/test.sh (ASan + UBSan); scripts/lint.sh reads its compile
# database, so a CI run configures it once. UBSan's vptr check (a member call through an
# object of the wrong dynamic type) is left out: it costs about 13% of the compile time of
# the Asio-heavy files, the code has no downcasts for it to watch, and ASan still catches
# the use-after-free that is its other catch.
TEST_BUILD_DIR=${PORTCULLIS_TEST_BUILD:-build-test}
TEST_BUILD_OPTIONS=(--buildtype=debug -Db_sanitize=address,undefined -Db_lundef=false -Dcpp_args=-fno-sanitize=vptr)

# build DIR [meson options…] [-- ninja targets…]: configures once, then builds
# (everything, or only the targets after --).
build() {
  local dir=$1; shift
  local opts=() targets=()
  while [ $# -gt 0 ]; do
    if [ "$1" = "--" ]; then shift; targets=("$@"); break; fi
    opts+=("$1"); shift
  done
  cd "$PORTCULLIS_ROOT" || die "no checkout"
  if [ ! -f "$dir/build.ninja" ]; then
    meson setup "$dir" "${opts[@]}" >/dev/null || die "meson setup failed"
  fi
  ninja -C "$dir" "${targets[@]}" || die "build failed"
}

# A free TCP port on 127.0.0.1.
free_port() {
  "$SYS_PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# PostgreSQL refuses to run as root: as root, run its commands as the postgres user.
pg_run() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# pg_start DIR PORT [fast]: a private cluster in DIR listening on 127.0.0.1:PORT and a
# socket in DIR, with a superuser "portcullis" (trust auth: loopback and socket only).
pg_start() {
  local dir=$1 port=$2 fast=${3:-}
  mkdir -p "$dir"
  if [ "$(id -u)" -eq 0 ]; then
    chown postgres: "$dir"
    runuser -u postgres -- test -x "$dir" || die "the postgres user cannot reach $dir; clone the checkout somewhere it can (e.g. /srv or /opt)"
  fi
  if [ ! -f "$dir/PG_VERSION" ]; then
    pg_run "$PG_BIN/initdb" -D "$dir" -A trust -U portcullis -E UTF8 --locale=C.UTF-8 >/dev/null || die "initdb failed"
  fi
  local opts="-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir -c max_connections=200"
  if [ -n "$fast" ]; then
    # Test data is disposable: skip durability for speed.
    opts="$opts -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
  fi
  pg_run "$PG_BIN/pg_ctl" -D "$dir" -l "$dir/server.log" -o "$opts" -w -t 60 start >/dev/null || {
    tail -n 20 "$dir/server.log" >&2; die "PostgreSQL did not start"; }
}

pg_stop() {
  local dir=$1
  [ -f "$dir/postmaster.pid" ] && pg_run "$PG_BIN/pg_ctl" -D "$dir" -m fast -w stop >/dev/null 2>&1
  return 0
}

# redis_start DIR PORT: a private redis-server with the append-only file on
# (everysec), so queued jobs survive a restart.
redis_start() {
  local dir=$1 port=$2
  mkdir -p "$dir"
  redis-server --bind 127.0.0.1 --port "$port" --dir "$dir" --daemonize yes --pidfile "$dir/redis.pid" \
    --logfile "$dir/redis.log" --appendonly yes --appendfsync everysec --save "" >/dev/null || die "redis-server did not start"
  for _ in $(seq 1 100); do
    redis-cli -p "$port" ping >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  die "redis-server did not answer"
}

redis_stop() {
  local dir=$1
  if [ -f "$dir/redis.pid" ]; then
    local pid; pid=$(cat "$dir/redis.pid")
    kill "$pid" 2>/dev/null
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    rm -f "$dir/redis.pid"
  fi
  return 0
}

# smtp_start DIR PORT: the test SMTP sink, one file per message in DIR/messages.
smtp_start() {
  local dir=$1 port=$2
  mkdir -p "$dir/messages"
  rm -f "$dir/ready"
  "$SYS_PYTHON" "$PORTCULLIS_ROOT/tests/smtp_sink.py" --host 127.0.0.1 --port "$port" --dir "$dir/messages" \
    --ready-file "$dir/ready" >"$dir/smtp.log" 2>&1 &
  echo $! >"$dir/smtp.pid"
  for _ in $(seq 1 200); do
    [ -f "$dir/ready" ] && return 0
    sleep 0.05
  done
  cat "$dir/smtp.log" >&2
  die "SMTP sink did not start"
}

smtp_stop() {
  local dir=$1
  if [ -f "$dir/smtp.pid" ]; then
    kill "$(cat "$dir/smtp.pid")" 2>/dev/null
    rm -f "$dir/smtp.pid"
  fi
  return 0
}
