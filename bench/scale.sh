#!/usr/bin/env bash
# Scale-out benchmark: the same depot binary on the embedded default (SQLite + files), on
# PostgreSQL + S3, and as two nodes over that one database and bucket, measured in one run
# with wrk, rounds interleaved so drift hits every setup alike.
#
#   bench/scale.sh target/release/depot
#
# Needs wrk, PostgreSQL at $DEPOT_TEST_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/test)
# and an S3 server: the AWS_* variables and DEPOT_TEST_S3_BUCKET, as `scripts/s3-server.sh
# start` prints them. ROUNDS (5), DURATION (3 s), CONNS (64) and THREADS (2) tune wrk.
set -euo pipefail
depot=$(realpath "${1:?usage: $0 DEPOT_BINARY}")
cd "$(dirname "$0")/.."
: "${ROUNDS:=5}" "${DURATION:=3}" "${CONNS:=64}" "${THREADS:=2}"
: "${DEPOT_TEST_POSTGRES_URL:=postgres://postgres@127.0.0.1:5432/test}"
: "${DEPOT_TEST_S3_BUCKET:?start an S3 server: eval \"\$(scripts/s3-server.sh start)\"}"

export DEPOT_ACCOUNT_SID=ACbe0c0000000000000000000000000002
export DEPOT_AUTH_TOKEN=be0c0000000000000000000000000002
auth="Authorization: Basic $(printf '%s:%s' "$DEPOT_ACCOUNT_SID" "$DEPOT_AUTH_TOKEN" | base64 -w0)"
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

schema="bench_$(date +%s)_$$"
psql "$DEPOT_TEST_POSTGRES_URL" -qc "CREATE SCHEMA $schema" >/dev/null
pg_url="$DEPOT_TEST_POSTGRES_URL?options=-c%20search_path%3D$schema"
s3_url="s3://$DEPOT_TEST_S3_BUCKET/$schema"

start() { # name port serve-args...
  local name=$1 port=$2; shift 2
  mkdir -p "$work/$name"
  DEPOT_LOG=warn "$depot" serve --listen "127.0.0.1:$port" --data-dir "$work/$name" "$@" \
    >"$work/$name.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 200); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && return; sleep 0.05; done
  echo "$name did not start: $(cat "$work/$name.log")" >&2; exit 1
}
start sqlite 18200
start pg-1 18201 --database-url "$pg_url" --blob-url "$s3_url"
start pg-2 18202 --database-url "$pg_url" --blob-url "$s3_url"

api() { curl -fsS -H "$auth" "$@"; }
sid() { python3 -c 'import json,sys; print(json.load(sys.stdin)["sid"])'; }
# One service with 50 assets and a deployed 1 KB page, per store.
load() { # port -> "SERVICE ASSET DOMAIN"
  local base="http://127.0.0.1:$1" service asset version env build domain
  service=$(api -d UniqueName=bench -d FriendlyName=bench "$base/v1/Services" | sid)
  for i in $(seq 1 50); do
    asset=$(api -d FriendlyName="asset-$i" "$base/v1/Services/$service/Assets" | sid)
  done
  head -c 1024 /dev/zero | tr '\0' 'x' >"$work/page.html"
  version=$(api -F Path=/page.html -F Visibility=public -F "Content=@$work/page.html;type=text/html" \
    "$base/v1/Services/$service/Assets/$asset/Versions" | sid)
  env=$(api -d UniqueName=bench -d DomainSuffix=bench "$base/v1/Services/$service/Environments")
  domain=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["domain_name"])' "$env")
  env=$(sid <<<"$env")
  build=$(api -d AssetVersions="$version" "$base/v1/Services/$service/Builds" | sid)
  until api "$base/v1/Services/$service/Builds/$build/Status" | grep -q completed; do sleep 0.1; done
  api -d BuildSid="$build" "$base/v1/Services/$service/Environments/$env/Deployments" >/dev/null
  echo "$service $asset $domain"
}
read -r sq_service sq_asset sq_domain < <(load 18200)
read -r pg_service pg_asset pg_domain < <(load 18201)

cat >"$work/create.lua" <<LUA
wrk.method = "POST"
wrk.body = "FriendlyName=bench-asset"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
LUA

# wrk on one or two nodes at once; prints the total req/s.
measure() { # conns extra-wrk-args... -- url [url2]
  local conns=$1; shift
  local args=() urls=()
  while [[ $1 != -- ]]; do args+=("$1"); shift; done; shift
  urls=("$@")
  local per=$((conns / ${#urls[@]})) outs=() i=0
  for url in "${urls[@]}"; do
    wrk -t "$THREADS" -c "$per" -d 1 "${args[@]}" "$url" >/dev/null 2>&1 &
  done; wait
  for url in "${urls[@]}"; do
    wrk -t "$THREADS" -c "$per" -d "$DURATION" "${args[@]}" "$url" >"$work/wrk.$i" 2>&1 &
    outs+=("$work/wrk.$i"); i=$((i + 1))
  done; wait
  cat "${outs[@]}" | awk '/Requests\/sec/ {sum += $2} /Non-2xx/ {bad += $NF} END {printf "%d %d\n", sum, bad}'
}

declare -A results
cases=(
  "fetch-sqlite|$CONNS -H|$auth|--|http://127.0.0.1:18200/v1/Services/$sq_service/Assets/$sq_asset"
  "fetch-pg|$CONNS -H|$auth|--|http://127.0.0.1:18201/v1/Services/$pg_service/Assets/$pg_asset"
  "fetch-pg-2nodes|$CONNS -H|$auth|--|http://127.0.0.1:18201/v1/Services/$pg_service/Assets/$pg_asset|http://127.0.0.1:18202/v1/Services/$pg_service/Assets/$pg_asset"
  "create-sqlite|$CONNS -H|$auth|-s|$work/create.lua|--|http://127.0.0.1:18200/v1/Services/$sq_service/Assets"
  "create-pg|$CONNS -H|$auth|-s|$work/create.lua|--|http://127.0.0.1:18201/v1/Services/$pg_service/Assets"
  "create-pg-2nodes|$CONNS -H|$auth|-s|$work/create.lua|--|http://127.0.0.1:18201/v1/Services/$pg_service/Assets|http://127.0.0.1:18202/v1/Services/$pg_service/Assets"
  "host-1k-sqlite|$CONNS -H|Host: $sq_domain|--|http://127.0.0.1:18200/page.html"
  "host-1k-pg|$CONNS -H|Host: $pg_domain|--|http://127.0.0.1:18201/page.html"
  "host-1k-pg-2nodes|$CONNS -H|Host: $pg_domain|--|http://127.0.0.1:18201/page.html|http://127.0.0.1:18202/page.html"
)
for round in $(seq 1 "$ROUNDS"); do
  for spec in "${cases[@]}"; do
    IFS='|' read -r -a parts <<<"$spec"
    name=${parts[0]}
    read -r conns first <<<"${parts[1]}"
    out=$(measure "$conns" "$first" "${parts[@]:2}")
    results[$name]+="${out%% *} "
    [[ ${out##* } == 0 ]] || echo "warning: $name round $round had ${out##* } non-2xx answers" >&2
  done
done

python3 - "$ROUNDS" <<PY
import statistics, sys
rows = {$(for k in "${!results[@]}"; do printf '"%s": [%s], ' "$k" "$(tr ' ' ',' <<<"${results[$k]}")"; done)}
def med(name): return statistics.median(rows[name])
print(f"| case | embedded req/s | PostgreSQL + S3 req/s | PG/embedded (median, min-max) | two PG nodes req/s | 2 nodes / 1 node |")
print("|---|--:|--:|--:|--:|--:|")
for case in ["fetch", "create", "host-1k"]:
    s, p, two = rows[f"{case}-sqlite"], rows[f"{case}-pg"], rows[f"{case}-pg-2nodes"]
    ratios = [b / a for a, b in zip(s, p) if a]
    nodes = [b / a for a, b in zip(p, two) if a]
    print(f"| {case} | {med(f'{case}-sqlite'):,.0f} | {med(f'{case}-pg'):,.0f} | "
          f"{statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f}) | "
          f"{med(f'{case}-pg-2nodes'):,.0f} | {statistics.median(nodes):.2f} ({min(nodes):.2f}-{max(nodes):.2f}) |")
PY
psql "$DEPOT_TEST_POSTGRES_URL" -qc "SET client_min_messages = warning; DROP SCHEMA $schema CASCADE" >/dev/null
