#!/usr/bin/env bash
# Installs the npm package `jose` (the version pinned in package-lock.json) into WORK_DIR
# once, then runs the JWKS end-to-end tests with it and PyJWT.
#
# usage: run.sh TEST_BINARY PACKAGE_DIR WORK_DIR
set -euo pipefail
bin=$1 pkg=$2 work=$3
for tool in node npm /usr/bin/python3; do
  command -v "$tool" >/dev/null || { echo "$tool is missing"; exit 1; }
done
/usr/bin/python3 -c 'import jwt, cryptography.hazmat.primitives.asymmetric.ed25519' ||
  { echo "PyJWT with cryptography is missing (Debian packages python3-jwt python3-cryptography)"; exit 1; }
mkdir -p "$work"
if ! cmp -s "$pkg/package-lock.json" "$work/package-lock.json" || [ ! -d "$work/node_modules/jose" ]; then
  rm -rf "$work/node_modules"
  cp "$pkg/package.json" "$pkg/package-lock.json" "$work/"
  (cd "$work" && npm ci --prefer-offline --no-audit --no-fund --loglevel=error 2>&1 | grep -v '^npm warn Unknown' || true)
  if [ ! -d "$work/node_modules/jose" ]; then
    rm -f "$work/package-lock.json"
    echo "npm ci failed: jose could not be installed"
    exit 1
  fi
fi
cp "$pkg/verify_jose.mjs" "$pkg/verify_pyjwt.py" "$work/"
export PORTCULLIS_JWKS_TOOLS="$work"
PORTCULLIS_NODE=$(command -v node)
export PORTCULLIS_NODE
exec "$bin"
