#!/usr/bin/env bash
# The layer check (scripts/check-layers.py), a format check (clang-format, .clang-format)
# and clang-tidy with the small set of checks in .clang-tidy, over the project's own C++ sources.
#   scripts/lint.sh          check
#   scripts/lint.sh --fix    rewrite files in place with clang-format
set -uo pipefail
source "$(dirname "$0")/lib/common.sh"
cd "$PORTCULLIS_ROOT"
# clang-tidy needs a configured build (meson and every library it finds).
ensure_packages "${BUILD_PACKAGES[@]}" clang-format:clang-format clang-tidy:clang-tidy

mapfile -t files < <(git ls-files 'src/*.cpp' 'src/*.hpp' 'tests/*.cpp' 'tests/*.hpp')
status=0
if [ "${1:-}" = "--fix" ]; then
  clang-format -i "${files[@]}"
  exit 0
fi
# The layer table of docs/ARCHITECTURE.md: every #include in src/ goes the right way.
if ! "$SYS_PYTHON" scripts/check-layers.py; then
  log "check-layers: an include breaks the layer table (docs/ARCHITECTURE.md, \"Layers, enforced\")"
  status=1
fi
if ! clang-format --dry-run -Werror "${files[@]}" 2>/tmp/portcullis-format.log; then
  grep -E '^[^ ].*: (error|warning):' /tmp/portcullis-format.log | head -n 20 >&2
  log "clang-format: files differ from .clang-format (run scripts/lint.sh --fix)"
  status=1
fi

# clang-tidy needs only a compile database: that of the test build, configured here when
# it is not yet (scripts/test.sh then builds it without configuring again), not built.
db=$TEST_BUILD_DIR
if [ ! -f "$db/compile_commands.json" ]; then
  meson setup "$db" "${TEST_BUILD_OPTIONS[@]}" >/dev/null || die "meson setup failed"
fi
mapfile -t tidy_files < <(git ls-files 'src/*.cpp' | grep -v '_test.cpp$' | grep -v '_impl.cpp$')
# The compile flags are g++'s; clang must not fail on the warning options it lacks.
printf '%s\n' "${tidy_files[@]}" |
  xargs -P "$(nproc)" -n 4 clang-tidy -p "$db" --quiet --extra-arg=-Wno-unknown-warning-option \
    >/tmp/portcullis-tidy.log 2>&1
tidy_status=$?
if [ $tidy_status -ne 0 ] || grep -qE '(warning|error):' /tmp/portcullis-tidy.log; then
  grep -E 'warning:|error:' /tmp/portcullis-tidy.log | grep -v '^/usr/' | sort -u | head -n 40 >&2
  log "clang-tidy reported problems"
  status=1
fi
[ $status -eq 0 ] && log "lint clean"
exit $status
