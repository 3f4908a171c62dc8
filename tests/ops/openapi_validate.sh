#!/usr/bin/env bash
# Validates the OpenAPI document with @apidevtools/swagger-parser (the version pinned in
# tests/ops/package-lock.json): the official OpenAPI 3.1 schema, and every $ref resolved.
# The validator is installed once into WORK_DIR (`npm ci`, from the npm cache when it can);
# later runs reuse it without the network until the lock file changes.
#
# usage: openapi_validate.sh DOCUMENT PACKAGE_DIR WORK_DIR
set -euo pipefail
doc=$1 pkg=$2 work=$3
for tool in node npm; do
  command -v "$tool" >/dev/null || { echo "$tool is missing (Debian packages nodejs and npm)"; exit 1; }
done
mkdir -p "$work"
if ! cmp -s "$pkg/package-lock.json" "$work/package-lock.json" || [ ! -d "$work/node_modules/@apidevtools/swagger-parser" ]; then
  rm -rf "$work/node_modules"
  cp "$pkg/package.json" "$pkg/package-lock.json" "$work/"
  (cd "$work" && npm ci --prefer-offline --no-audit --no-fund --loglevel=error 2>&1 | grep -v '^npm warn Unknown' || true)
  if [ ! -d "$work/node_modules/@apidevtools/swagger-parser" ]; then
    rm -f "$work/package-lock.json"
    echo "npm ci failed: the validator could not be installed"
    exit 1
  fi
fi
cp "$pkg/validate_openapi.mjs" "$work/"
node "$work/validate_openapi.mjs" "$doc"
