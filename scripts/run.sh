#!/usr/bin/env bash
# Installs what is missing, builds a release binary, starts a private PostgreSQL
# and Redis under .run/ (own ports, never a system instance) and runs
# `build/portcullis serve` on 127.0.0.1:8000 with e-mail printed to the console.
# Ctrl-C stops all of it.
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"
cd "$PORTCULLIS_ROOT"

ensure_packages "${BUILD_PACKAGES[@]}" "${SERVER_PACKAGES[@]}"
build build --buildtype=release -- portcullis

RUN_DIR=${PORTCULLIS_RUN_DIR:-$PORTCULLIS_ROOT/.run}
PG_PORT=${PORTCULLIS_PG_PORT:-55432}
REDIS_PORT=${PORTCULLIS_REDIS_PORT:-56379}
mkdir -p "$RUN_DIR"

server_pid=""
cleanup() {
  trap - EXIT INT TERM
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  redis_stop "$RUN_DIR/redis"
  pg_stop "$RUN_DIR/pg"
  log "stopped"
}
trap cleanup EXIT INT TERM

pg_start "$RUN_DIR/pg" "$PG_PORT"
pg_run "$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U portcullis -d postgres -tAc \
  "SELECT 1 FROM pg_database WHERE datname='portcullis'" | grep -q 1 ||
  pg_run "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U portcullis portcullis
redis_start "$RUN_DIR/redis" "$REDIS_PORT"

export PORTCULLIS_ENV=${PORTCULLIS_ENV:-development}
export LISTEN=${LISTEN:-127.0.0.1:8000}
export DATABASE_URL=${DATABASE_URL:-postgresql://portcullis@127.0.0.1:$PG_PORT/portcullis}
export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:$REDIS_PORT/0}
export EMAIL_BACKEND=${EMAIL_BACKEND:-console}
export EMAIL_FILE_PATH=${EMAIL_FILE_PATH:-$RUN_DIR/mail}
export TEMPLATES_DIR=${TEMPLATES_DIR:-$PORTCULLIS_ROOT/templates}

log "serving on http://$LISTEN (PostgreSQL :$PG_PORT, Redis :$REDIS_PORT, mail: $EMAIL_BACKEND); Ctrl-C stops"
"$PORTCULLIS_ROOT/build/portcullis" serve &
server_pid=$!
# Wait for the server; a signal to this script interrupts the wait and runs cleanup.
wait "$server_pid" || true
