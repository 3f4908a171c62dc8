#!/usr/bin/env bash
# Every variable the configuration code reads must be documented in docs/CONFIGURATION.md
# (as `NAME` in a table row), and the documentation must not describe variables that no
# longer exist.
# usage: config_docs.sh SOURCE_ROOT
set -euo pipefail
root=$1
config="$root/src/app/config.cpp"
doc="$root/docs/CONFIGURATION.md"
read_vars=$(grep -oE '"[A-Z][A-Z0-9_]{2,}"' "$config" | tr -d '"' | sort -u)
doc_vars=$(grep -oE '^\| `[A-Z][A-Z0-9_]{2,}`' "$doc" | grep -oE '[A-Z][A-Z0-9_]+' | sort -u)
status=0
for v in $read_vars; do
  grep -qx "$v" <<<"$doc_vars" || { echo "FAIL: $v is read by src/app/config.cpp but not documented"; status=1; }
done
for v in $doc_vars; do
  grep -qx "$v" <<<"$read_vars" || { echo "FAIL: $v is documented but src/app/config.cpp does not read it"; status=1; }
done
[ $status -eq 0 ] && echo "ok: $(wc -w <<<"$read_vars") variables documented"
exit $status
