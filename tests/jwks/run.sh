#!/usr/bin/env bash
# Installs the npm package `jose` (the version pinned in package-lock.json) into WORK_DIR
# once, then runs the JWKS end-to-end tests with it and PyJWT.
#
# usage: run.sh TEST_BINARY PACKAGE_DIR WORK_DIR [doctest options…]
set -euo pipefail
bin=$1 pkg=$2 work=$3
command -v /usr/bin/python3 >/dev/null || { echo "/usr/bin/python3 is missing"; exit 1; }
/usr/bin/python3 -c 'import jwt, cryptography.hazmat.primitives.asymmetric.ed25519' ||
  { echo "PyJWT with cryptography is missing (Debian packages python3-jwt python3-cryptography)"; exit 1; }
source "$(dirname "$0")/../common/npm_ci.sh"
npm_ci_once "$pkg" "$work" jose
# Copied under a temporary name and renamed: the other part of the test may be reading them.
for f in verify_jose.mjs verify_pyjwt.py; do
  cp "$pkg/$f" "$work/.$f.$$" && mv -f "$work/.$f.$$" "$work/$f"
done
export PORTCULLIS_JWKS_TOOLS="$work"
PORTCULLIS_NODE=$(command -v node)
export PORTCULLIS_NODE
exec "$bin" "${@:4}"
