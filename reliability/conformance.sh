#!/usr/bin/env bash
# Spec fuzzing: starts depot on a throwaway data dir and runs the shared schemathesis tool
# (../shared/tools/conformance.sh) over every operation of Twilio's OpenAPI file.
#   reliability/conformance.sh [--binary PATH] [--max-examples N] [--seed N]
# Defaults: target/debug/depot if built, else target/release/depot; 20 examples per operation.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tool="$root/../shared/tools/conformance.sh"
binary=""
examples=20
extra=()
while (($#)); do
  case "$1" in
    --binary) binary=$2; shift 2 ;;
    --max-examples) examples=$2; shift 2 ;;
    --seed) extra+=(--seed "$2"); shift 2 ;;
    *) echo "conformance: unknown option $1" >&2; exit 2 ;;
  esac
done
if [[ -z "$binary" ]]; then
  binary="$root/target/debug/depot"
  [[ -x "$binary" ]] || binary="$root/target/release/depot"
fi
[[ -x "$tool" ]] || { echo "conformance: $tool not found" >&2; exit 2; }

sid=ACc0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0
token=conformance-token
work=$(mktemp -d)
cleanup() {
  [[ -n "${pid:-}" ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
DEPOT_ACCOUNT_SID=$sid DEPOT_AUTH_TOKEN=$token DEPOT_MAX_BUILDS_PER_HOUR=0 \
  "$binary" serve --listen 127.0.0.1:0 --data-dir "$work/data" >"$work/out" 2>"$work/err" &
pid=$!
for _ in $(seq 100); do
  url=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$work/out" || true)
  [[ -n "$url" ]] && break
  sleep 0.1
done
[[ -n "$url" ]] || { echo "conformance: depot did not start" >&2; cat "$work/err" >&2; exit 1; }
"$tool" --url "$url" --account-sid "$sid" --auth-token "$token" --max-examples "$examples" "${extra[@]}"
