#!/usr/bin/env bash
# Benchmarks depot's API on this machine: asset fetch, list (50 per page) and create.
# Usage: bench/api.sh [DURATION_SECONDS]   (needs wrk and curl; builds the release binary)
# Prints a markdown table of req/s and latency per case. For figures beside nginx and a mock,
# use ../shared/bench/api.sh with DEPOT_CMD (see README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-5}
command -v wrk >/dev/null || { echo "bench/api.sh: wrk not found (apt-get install wrk)" >&2; exit 1; }
cargo build --release --quiet

sid=ACbe0c0000000000000000000000000002
token=bench-token
auth="$sid:$token"
data=$(mktemp -d)
port=$((20000 + RANDOM % 20000))
DEPOT_ACCOUNT_SID=$sid DEPOT_AUTH_TOKEN=$token DEPOT_LOG=warn \
  target/release/depot serve --listen "127.0.0.1:$port" --data-dir "$data" >/dev/null &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$data" "$lua"' EXIT
api="http://127.0.0.1:$port"
for _ in $(seq 100); do curl -sf "$api/healthz" >/dev/null && break; sleep 0.1; done

json_field() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
svc=$(curl -sf -u "$auth" "$api/v1/Services" -d UniqueName=bench -d FriendlyName=bench | json_field sid)
first=""
for i in $(seq 50); do
  zh=$(curl -sf -u "$auth" "$api/v1/Services/$svc/Assets" -d "FriendlyName=asset-$i" | json_field sid)
  first=${first:-$zh}
done

lua=$(mktemp --suffix=.lua)
basic=$(printf '%s' "$auth" | base64 -w0)
cat >"$lua" <<LUA
wrk.headers["Authorization"] = "Basic $basic"
local m = os.getenv("BENCH_METHOD")
if m == "POST" then
  wrk.method = "POST"
  wrk.body = "FriendlyName=bench-asset"
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
end
done = function(summary, latency, requests)
  local errors = summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format("RESULT %.0f %.2f %.2f %d\n", summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, errors))
end
LUA

run() {
  local name=$1 method=$2 path=$3
  local out
  out=$(BENCH_METHOD=$method wrk -t2 -c64 -d"${duration}s" -s "$lua" "$api$path" | grep '^RESULT')
  read -r _ rps p50 p99 errors <<<"$out"
  printf '| %s | %s | %s | %s | %s |\n' "$name" "$rps" "$p50" "$p99" "$errors"
}

echo "| case | req/s | p50 ms | p99 ms | errors |"
echo "|---|---|---|---|---|"
run fetch GET "/v1/Services/$svc/Assets/$first"
run list GET "/v1/Services/$svc/Assets"
run create POST "/v1/Services/$svc/Assets"
