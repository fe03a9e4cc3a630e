#!/usr/bin/env bash
# Deploys of a 1,000-file project to one depot, three clients in the same run:
#   - `depot deploy`: first deploy, a redeploy with one changed file, a redeploy with none;
#   - the Serverless Toolkit's client (`@twilio-labs/serverless-api` deployLocalProject, through
#     tests/deploy/deploy.js): the same folder, first deploy and the redeploy with one change;
#   - bench/deploy.py: the API driven by hand, 10 requests in flight, as serverless-api does.
#   bench/deploy_cli.sh [target/release/depot] [FILES]
# Needs node/npm for the toolkit (installed into tests/deploy/node_modules on first use);
# DEPOT_SKIP_COMPAT=1 leaves that client out.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
depot=$(realpath "${1:-target/release/depot}")
files=${2:-1000}
port=18500
work=$(mktemp -d)
trap 'kill $pid 2>/dev/null; rm -rf "$work"' EXIT
export DEPOT_ACCOUNT_SID=ACbe0c0000000000000000000000000003 DEPOT_AUTH_TOKEN=bench-token
"$depot" serve --listen 127.0.0.1:$port --data-dir "$work/data" --max-build-assets 0 >/dev/null 2>&1 &
pid=$!
for _ in $(seq 1 100); do curl -fs http://127.0.0.1:$port/healthz >/dev/null && break; sleep 0.05; done

# About 1 KiB of HTML each: above the size the builder compresses, as real pages are.
mkdir -p "$work/project/assets"
python3 - "$work/project/assets" "$files" <<'PY'
import sys
folder, count = sys.argv[1], int(sys.argv[2])
for i in range(1, count + 1):
    rows = "".join(f"<li>item {j} of page {i}</li>\n" for j in range(40))
    with open(f"{folder}/page-{i}.html", "w") as f:
        f.write(f"<!doctype html><html><body><h1>page {i}</h1><ul>\n{rows}</ul></body></html>\n")
PY
echo '{"name":"bench-toolkit","version":"1.0.0","dependencies":{}}' >"$work/project/package.json"

seconds() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" "$@"; }

cli() {
  local start
  start=$(date +%s.%N)
  "$depot" deploy "$work/project" --url http://127.0.0.1:$port --service bench --environment dev \
    >/dev/null 2>"$work/err" || { cat "$work/err" >&2; exit 1; }
  seconds "$start" "$(date +%s.%N)"
}

toolkit() {
  local start
  start=$(date +%s.%N)
  PORT=$port PROJECT_DIR="$work/project" DEPLOY_ENV=tk DEPOT_DEPLOY_QUIET=1 DEPLOY_TIMEOUT_MS=600000 \
    node "$here/../tests/deploy/deploy.js" >/dev/null 2>"$work/err" || { cat "$work/err" >&2; exit 1; }
  seconds "$start" "$(date +%s.%N)"
}

cli_first=$(cli)
echo '<p>changed</p>' >"$work/project/assets/page-1.html"
cli_second=$(cli)
cli_third=$(cli)

tk_first=- tk_second=-
if [ -z "${DEPOT_SKIP_COMPAT:-}" ]; then
  if [ ! -d "$here/../tests/deploy/node_modules/@twilio-labs/serverless-api" ]; then
    (cd "$here/../tests/deploy" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  fi
  tk_first=$(toolkit)
  echo '<p>changed again</p>' >"$work/project/assets/page-1.html"
  tk_second=$(toolkit)
fi

by_hand=$(python3 "$here/deploy.py" --port $port --assets "$files" --rounds 1 | awk -F'|' '/median/ {gsub(/ /, "", $3); print $3}')

echo "| client ($files files, one server, one run) | first deploy (s) | redeploy, one file changed (s) | redeploy, nothing changed (s) |"
echo "|---|--:|--:|--:|"
echo "| depot deploy | $cli_first | $cli_second | $cli_third |"
echo "| serverless-api deployLocalProject | $tk_first | $tk_second | - |"
echo "| bench/deploy.py (API by hand, 10 in flight) | $by_hand | - | - |"
