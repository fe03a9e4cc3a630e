#!/usr/bin/env bash
# depot deploy of a 1,000-file project: first deploy, then a redeploy with one changed file.
#   bench/deploy_cli.sh [target/release/depot] [FILES]
set -euo pipefail
depot=$(realpath "${1:-target/release/depot}")
files=${2:-1000}
work=$(mktemp -d)
trap 'kill $pid 2>/dev/null; rm -rf "$work"' EXIT
export DEPOT_ACCOUNT_SID=ACbe0c0000000000000000000000000003 DEPOT_AUTH_TOKEN=bench-token
"$depot" serve --listen 127.0.0.1:18500 --data-dir "$work/data" --max-build-assets 0 >/dev/null 2>&1 &
pid=$!
for _ in $(seq 1 100); do curl -fs http://127.0.0.1:18500/healthz >/dev/null && break; sleep 0.05; done
mkdir -p "$work/project/assets"
for i in $(seq 1 "$files"); do
  printf '<p>file %d</p>\n' "$i" >"$work/project/assets/page-$i.html"
done
run() {
  local start end
  start=$(date +%s.%N)
  "$depot" deploy "$work/project" --url http://127.0.0.1:18500 --service bench --environment dev \
    >/dev/null 2>"$work/err" || { cat "$work/err"; exit 1; }
  end=$(date +%s.%N)
  python3 -c "print(f'{$end - $start:.2f}')"
}
first=$(run)
echo '<p>changed</p>' >"$work/project/assets/page-1.html"
second=$(run)
third=$(run)
echo "| files | first deploy (s) | redeploy, one file changed (s) | redeploy, nothing changed (s) |"
echo "|--:|--:|--:|--:|"
echo "| $files | $first | $second | $third |"
