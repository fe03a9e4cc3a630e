#!/usr/bin/env bash
# Benchmarks --intercept-twilio: the same authenticated API fetch (one Asset) over plain http
# and through CONNECT + TLS tunnels with keep-alive, in one run against one depot, and the cost
# of a new tunnel per request (twilio-node opens one per request) beside a new plain connection.
# Usage: bench/intercept.sh [DURATION_SECONDS] [CONNECTIONS]   (needs curl; builds release)
# Prints a markdown table; the load generator is examples/intercept_load.rs (wrk cannot tunnel).
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-5}
connections=${2:-32}
cargo build --release --quiet --bin depot --example intercept_load
target=${CARGO_TARGET_DIR:-target}

sid=ACbe0c0000000000000000000000000012
token=bench-token
auth="$sid:$token"
data=$(mktemp -d)
port=$((20000 + RANDOM % 20000))
DEPOT_ACCOUNT_SID=$sid DEPOT_AUTH_TOKEN=$token DEPOT_LOG=warn \
  "$target/release/depot" serve --listen "127.0.0.1:$port" --data-dir "$data" --intercept-twilio >/dev/null &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$data"' EXIT
api="http://127.0.0.1:$port"
for _ in $(seq 100); do curl -sf "$api/healthz" >/dev/null && break; sleep 0.1; done

json_field() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
svc=$(curl -sf -u "$auth" "$api/v1/Services" -d UniqueName=bench -d FriendlyName=bench | json_field sid)
zh=$(curl -sf -u "$auth" "$api/v1/Services/$svc/Assets" -d FriendlyName=asset | json_field sid)

echo "| case | req/s | p50 ms | p99 ms | errors |"
echo "|---|---|---|---|---|"
"$target/release/examples/intercept_load" "127.0.0.1:$port" "$data/ca.pem" \
  "$(printf '%s' "$auth" | base64 -w0)" "/v1/Services/$svc/Assets/$zh" "$duration" "$connections" |
  while read -r tag name rps p50 p99 errors; do
    [[ $tag == RESULT ]] && printf '| %s | %s | %s | %s | %s |\n' "$name" "$rps" "$p50" "$p99" "$errors"
  done
echo
echo "($connections connections, ${duration}s per case, client on one thread beside depot on $(nproc) cores)"
