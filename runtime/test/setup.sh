#!/bin/sh
# Installs the test-only npm dependencies of the function shim (twilio, pinned by
# package-lock.json) into runtime/test/node_modules, unless they are already there.
# The fixture build (fixture-build/) resolves `twilio` from there, as a build would
# from its own node_modules.
set -eu
cd "$(dirname "$0")"
if [ -f node_modules/twilio/package.json ] && [ node_modules/.package-lock.json -nt package-lock.json ]; then
  exit 0
fi
npm ci --no-audit --no-fund
