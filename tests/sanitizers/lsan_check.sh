#!/usr/bin/env bash
# LeakSanitizer, with the options scripts/test.sh gives every test (LSAN_OPTIONS names
# tests/lsan.supp), reports a real leak with its trace: a program that leaks 4242 bytes
# must fail with the report, not with "failed to read suppressions file".
# usage: lsan_check.sh LEAKING_PROGRAM
set -uo pipefail
out=$("$1" 2>&1)
status=$?
fail() { echo "FAIL: $*"; echo "--- output (LSAN_OPTIONS=${LSAN_OPTIONS:-}):"; echo "$out"; exit 1; }
[ $status -ne 0 ] || fail "the leaking program exited 0"
grep -q "failed to read suppressions" <<<"$out" && fail "LeakSanitizer could not read its suppressions file"
grep -q "ERROR: LeakSanitizer: detected memory leaks" <<<"$out" || fail "no leak report"
grep -q "4242 byte(s)" <<<"$out" || fail "the report does not name the 4242-byte allocation"
grep -qE "#[0-9]+ .* in main .*leak.cpp" <<<"$out" || fail "the report has no trace into main"
echo "ok: LeakSanitizer reported the leak with its trace"
