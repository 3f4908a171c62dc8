#!/usr/bin/env bash
# Validates the OpenAPI document with @apidevtools/swagger-parser (the version pinned in
# tests/ops/package-lock.json): the official OpenAPI 3.1 schema, and every $ref resolved.
# The validator is installed once into WORK_DIR (`npm ci`, from the npm cache when it can);
# later runs reuse it without the network until the lock file changes.
#
# usage: openapi_validate.sh DOCUMENT PACKAGE_DIR WORK_DIR
set -euo pipefail
doc=$1 pkg=$2 work=$3
source "$(dirname "$0")/../common/npm_ci.sh"
npm_ci_once "$pkg" "$work" @apidevtools/swagger-parser
cp "$pkg/validate_openapi.mjs" "$work/"
node "$work/validate_openapi.mjs" "$doc"
