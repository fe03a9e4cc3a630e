#!/bin/sh
# Installs the test-only npm dependencies of the function shim (twilio, pinned by
# package-lock.json) into runtime/test/node_modules, unless they are already there.
# Each test's temporary build links its node_modules there, as a build links its install.
set -eu
cd "$(dirname "$0")"
if [ -f node_modules/twilio/package.json ] && [ node_modules/.package-lock.json -nt package-lock.json ]; then
  exit 0
fi
npm ci --no-audit --no-fund
