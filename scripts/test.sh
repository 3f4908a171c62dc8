#!/usr/bin/env bash
# Installs what is missing, builds the test build (ASan + UBSan), starts private
# PostgreSQL, Redis and SMTP-sink instances under .test-run/, runs every test
# (unit and integration), stops what it started, and ends with the line
# "N passed, M failed" counting the test cases run.
#
#   scripts/test.sh                 everything
#   scripts/test.sh --suite unit    only one meson suite (unit | integration)
#   scripts/test.sh NAME…           only the named meson tests
set -uo pipefail
source "$(dirname "$0")/lib/common.sh"
cd "$PORTCULLIS_ROOT"

ensure_packages "${BUILD_PACKAGES[@]}" "${SERVER_PACKAGES[@]}" "${TEST_PACKAGES[@]}"
BUILD_DIR=$TEST_BUILD_DIR
build "$BUILD_DIR" "${TEST_BUILD_OPTIONS[@]}"

RUN_DIR=$PORTCULLIS_ROOT/.test-run
cleanup() {
  smtp_stop "$RUN_DIR/smtp"
  redis_stop "$RUN_DIR/redis"
  pg_stop "$RUN_DIR/pg"
}
trap cleanup EXIT INT TERM
# Leftovers of an interrupted run are stopped and wiped first.
cleanup
rm -rf "$RUN_DIR"
mkdir -p "$RUN_DIR"

PG_PORT=$(free_port)
REDIS_PORT=$(free_port)
SMTP_PORT=$(free_port)
pg_start "$RUN_DIR/pg" "$PG_PORT" fast
redis_start "$RUN_DIR/redis" "$REDIS_PORT"
smtp_start "$RUN_DIR/smtp" "$SMTP_PORT"

export PORTCULLIS_TEST_DATABASE_URL="postgresql://portcullis@127.0.0.1:$PG_PORT/postgres"
export PORTCULLIS_TEST_PG_BIN="$PG_BIN"
export PORTCULLIS_TEST_REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
export PORTCULLIS_TEST_SMTP_HOST=127.0.0.1
export PORTCULLIS_TEST_SMTP_PORT=$SMTP_PORT
export PORTCULLIS_TEST_SMTP_DIR="$RUN_DIR/smtp/messages"
export PORTCULLIS_SOURCE_ROOT="$PORTCULLIS_ROOT"
export PORTCULLIS_BINARY="$PORTCULLIS_ROOT/$BUILD_DIR/portcullis"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PORTCULLIS_ROOT/tests/lsan.supp}

args=()
if [ $# -gt 0 ]; then args=("$@"); fi
meson test -C "$BUILD_DIR" --print-errorlogs --num-processes 2 --timeout-multiplier 2 "${args[@]}"
status=$?

# Count doctest cases from each test's output; a test that died without a summary counts as one failure.
"$SYS_PYTHON" - "$BUILD_DIR/meson-logs/testlog.json" "${PORTCULLIS_LINT_STATUS:-}" <<'PY'
import json, re, sys
passed = failed = 0
# .ci/run passes the lint result in; it counts as one case.
if len(sys.argv) > 2 and sys.argv[2] != "":
    if sys.argv[2] == "0": passed += 1
    else:
        failed += 1
        print("FAILED: lint (scripts/lint.sh)")
summary = re.compile(r"\[doctest\] test cases:\s*(\d+)\s*\|\s*(\d+) passed\s*\|\s*(\d+) failed")
try:
    lines = open(sys.argv[1]).read().splitlines()
except OSError:
    lines = []
for line in lines:
    t = json.loads(line)
    out = (t.get("stdout") or "") + (t.get("stderr") or "")
    m = summary.findall(out)
    ok = t.get("result") in ("OK", "EXPECTEDFAIL")
    if m:
        p, f = int(m[-1][1]), int(m[-1][2])
        passed += p
        failed += f
        if not ok and f == 0:
            failed += 1
    else:
        if ok: passed += 1
        else: failed += 1
    if not ok:
        print(f"FAILED: {t.get('name')} ({t.get('result')})")
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
PY
counted=$?
[ $status -eq 0 ] && [ $counted -eq 0 ]
