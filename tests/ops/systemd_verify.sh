#!/usr/bin/env bash
# Checks the systemd units of deploy/: `systemd-analyze verify` must print nothing (it
# only warns about unknown keys or system-call groups, so any output fails the test),
# the options operators rely on must be there, and the offline security review must
# rate the server unit's exposure at most 2.0.
#
# usage: systemd_verify.sh DEPLOY_DIR BINARY WORK_DIR
# verify needs ExecStart to exist: it runs on copies whose ExecStart names the built binary.
set -euo pipefail
deploy=$1 binary=$(realpath "$2") work=$3
command -v systemd-analyze >/dev/null || { echo "systemd-analyze is missing (Debian package systemd)"; exit 1; }
mkdir -p "$work"
status=0

require() {  # require UNIT LINE-REGEX
  if ! grep -Eq "$2" "$deploy/$1"; then
    echo "FAIL: $1 lacks a line matching /$2/"
    status=1
  fi
}

for unit in portcullis.service portcullis-worker.service; do
  [ -f "$deploy/$unit" ] || { echo "FAIL: $deploy/$unit is missing"; exit 1; }
  grep -q '^ExecStart=/usr/local/bin/portcullis ' "$deploy/$unit" || { echo "FAIL: $unit: ExecStart is not /usr/local/bin/portcullis"; status=1; }
  sed "s|^ExecStart=/usr/local/bin/portcullis |ExecStart=$binary |" "$deploy/$unit" >"$work/$unit"
  out=$(cd "$work" && systemd-analyze verify "./$unit" 2>&1) || { echo "FAIL: systemd-analyze verify $unit:"; echo "$out"; status=1; continue; }
  if [ -n "$out" ]; then
    echo "FAIL: systemd-analyze verify $unit printed warnings:"
    echo "$out"
    status=1
  else
    echo "ok: systemd-analyze verify $unit"
  fi
  for line in '^Type=notify$' '^WatchdogSec=[0-9]+' '^EnvironmentFile=' '^User=portcullis$' '^Restart=on-failure$' \
              '^NoNewPrivileges=yes$' '^CapabilityBoundingSet=$' '^ProtectSystem=strict$' '^ProtectHome=yes$' \
              '^PrivateTmp=yes$' '^RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX$' \
              '^SystemCallFilter=@system-service$' '^MemoryDenyWriteExecute=yes$' '^ExecReload=/bin/kill -HUP \$MAINPID$'; do
    require "$unit" "$line"
  done
done
grep -Eq '^ExecStart=\S+ serve$' "$deploy/portcullis.service" || { echo "FAIL: portcullis.service does not run 'serve'"; status=1; }
grep -Eq '^ExecStart=\S+ worker$' "$deploy/portcullis-worker.service" || { echo "FAIL: portcullis-worker.service does not run 'worker'"; status=1; }

# Exposure: 0 (locked down) to 10 (unrestricted); the threshold is in tenths.
if out=$(cd "$work" && systemd-analyze security --offline=yes --threshold=20 ./portcullis.service 2>&1); then
  echo "ok: $(echo "$out" | grep 'Overall exposure level')"
else
  echo "FAIL: systemd-analyze security rates portcullis.service above 2.0:"
  echo "$out" | grep -E '✗|Overall'
  status=1
fi
exit $status
