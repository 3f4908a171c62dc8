#!/usr/bin/env bash
# Installs the npm package `standardwebhooks` (the version pinned in package-lock.json)
# into WORK_DIR once, then runs the webhook end-to-end tests with a receiver built on it.
#
# usage: run.sh TEST_BINARY PACKAGE_DIR WORK_DIR [doctest options…]
set -euo pipefail
bin=$1 pkg=$2 work=$3
PORTCULLIS_OPENSSL=$(command -v openssl) || { echo "openssl is missing"; exit 1; }
export PORTCULLIS_OPENSSL
source "$(dirname "$0")/../common/npm_ci.sh"
npm_ci_once "$pkg" "$work" standardwebhooks
cp "$pkg/receiver.mjs" "$work/.receiver.mjs.$$" && mv -f "$work/.receiver.mjs.$$" "$work/receiver.mjs"
export PORTCULLIS_WEBHOOK_TOOLS="$work"
PORTCULLIS_NODE=$(command -v node)
export PORTCULLIS_NODE
exec "$bin" "${@:4}"
