#!/usr/bin/env bash
# Function execution: depot beside `twilio-run start` 5.0.1 (the Serverless Toolkit's local
# server), the same hello-world handler and project folder, in one run (issue 10, "Speed").
#   bench/functions.sh [path/to/release/depot]
# Steps: a release depot (temp data dir, bootstrap account) gets the project through
# `depot deploy` (first deploy installs twilio 5.0.3 from npm; then a redeploy with a changed
# function and the same dependencies, timed), the first request to each new pool is timed (cold
# start), then wrk runs against depot (with the environment's Host header) and against
# `twilio-run start --no-fork-process`, ROUNDS rounds alternating; last, one short run against
# `twilio-run start` in its default mode (a process per request).
# Prints markdown: a table per server (median req/s of the rounds, min-max, p50/p99 of the
# median round, non-2xx answers and socket errors summed over the rounds, ratio to
# --no-fork-process in the same round), then cold start, redeploy time and worker memory.
# Knobs (environment): ROUNDS=3 DURATION=10 WARMUP=2 FORK_DURATION=10 THREADS=2 CONNS=64
#   FORK_CONNS=4 (connections of the process-per-request run)
#   DEPOT_FLAGS="..." (extra `depot serve` flags), KEEP_WORK=1 (keep the scratch folder).
# Needs wrk, curl, node and npm (twilio-run is installed from bench/functions/package-lock.json
# into bench/functions/node_modules on first use; depot's build installs twilio from npm).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
depot=$(realpath "${1:-${CARGO_TARGET_DIR:-$here/../target}/release/depot}")
: "${ROUNDS:=3}" "${DURATION:=10}" "${WARMUP:=2}" "${FORK_DURATION:=10}"
: "${THREADS:=2}" "${CONNS:=64}" "${FORK_CONNS:=4}" "${DEPOT_FLAGS:=}"
depot_port=18610 norun_port=18611 fork_port=18612
work=$(mktemp -d -t depot-fnbench.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  done
  sleep 0.5
  for pid in "${pids[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
  if [ -n "${KEEP_WORK:-}" ]; then echo "scratch kept in $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

for tool in wrk curl node npm; do
  command -v $tool >/dev/null || { echo "functions.sh needs $tool on PATH" >&2; exit 1; }
done
[ -x "$depot" ] || { echo "no depot binary at $depot (cargo build --release)" >&2; exit 1; }
if [ ! -x "$here/functions/node_modules/.bin/twilio-run" ]; then
  echo "installing twilio-run (npm ci in bench/functions)" >&2
  (cd "$here/functions" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi
twilio_run="$here/functions/node_modules/.bin/twilio-run"

# The project folder both servers run: one function, twilio as the only dependency.
mkdir -p "$work/project/functions"
cat >"$work/project/functions/hello.js" <<'JS'
exports.handler = function (context, event, callback) {
  const twiml = new Twilio.twiml.MessagingResponse();
  twiml.message('Hello World');
  callback(null, twiml);
};
JS
echo '{"name":"depot-fnbench","version":"1.0.0","private":true,"dependencies":{"twilio":"5.0.3"}}' \
  >"$work/project/package.json"

now() { date +%s.%N; }
seconds() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
wait_for() { # URL [Host]: up to 60 s for a 200
  for _ in $(seq 1 600); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' ${2:+-H "Host: $2"} "$1")" = 200 ] && return 0
    sleep 0.1
  done
  echo "no 200 from $1 within 60 s" >&2
  return 1
}
# first_request URL HOST: seconds of one request (curl's total time) and its status.
first_request() { curl -s -o /dev/null -w '%{time_total} %{http_code}' -H "Host: $2" "$1"; }
# peak_rss PID: VmHWM in MiB.
peak_rss() { awk '/^VmHWM/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status" 2>/dev/null || echo "?"; }

# --- depot --------------------------------------------------------------------------------
export DEPOT_ACCOUNT_SID=ACbe0c0000000000000000000000000010 DEPOT_AUTH_TOKEN=fnbench-token
# shellcheck disable=SC2086
DEPOT_LOG=warn setsid "$depot" serve --listen 127.0.0.1:$depot_port --data-dir "$work/data" \
  $DEPOT_FLAGS >"$work/depot.log" 2>&1 &
depot_pid=$!
pids+=("$depot_pid")
wait_for "http://127.0.0.1:$depot_port/healthz"

deploy() {
  "$depot" deploy "$work/project" --url "http://127.0.0.1:$depot_port" --service fnbench \
    --environment dev >"$work/deploy.out" 2>"$work/deploy.err" || { cat "$work/deploy.err" >&2; exit 1; }
}
start=$(now); deploy; first_deploy=$(seconds "$start" "$(now)")
domain=$(awk '/^deployed / { print $4 }' "$work/deploy.out")
url="http://127.0.0.1:$depot_port/hello"
read -r cold1 status1 <<<"$(first_request "$url" "$domain")"
read -r warm1 _ <<<"$(first_request "$url" "$domain")"
body=$(curl -s -H "Host: $domain" "$url")
case "$body" in
  *"<Message>Hello World</Message>"*) ;;
  *) echo "depot answered: $body" >&2; exit 1 ;;
esac
# Same dependencies, changed function: the build reuses the install.
sed -i 's/Hello World/Hello World!/' "$work/project/functions/hello.js"
start=$(now); deploy; redeploy=$(seconds "$start" "$(now)")
sed -i 's/Hello World!/Hello World/' "$work/project/functions/hello.js"
start=$(now); deploy; redeploy2=$(seconds "$start" "$(now)")
read -r cold2 status2 <<<"$(first_request "$url" "$domain")"
build=$(awk '/^deployed / { print $2 }' "$work/deploy.out")

# --- twilio-run start ------------------------------------------------------------------------
(cd "$work/project" && exec setsid "$twilio_run" start --port $norun_port --no-fork-process \
  >"$work/twilio-run-nofork.log" 2>&1) &
norun_pid=$!
pids+=("$norun_pid")
wait_for "http://127.0.0.1:$norun_port/hello"
[ "$(curl -s "http://127.0.0.1:$norun_port/hello")" = "$body" ] \
  || { echo "twilio-run answers differently from depot" >&2; exit 1; }

# --- wrk --------------------------------------------------------------------------------------
# measure NAME SECONDS URL [wrk args]: appends "NAME rps p50_ms p99_ms non2xx socket_errors".
measure() {
  local name=$1 secs=$2 target=$3 out
  shift 3
  out=$(wrk -t"$THREADS" -c"$CONNS" -d"${secs}s" --timeout 10s --latency "$@" "$target" 2>&1) || true
  { echo "== $name: wrk -t$THREADS -c$CONNS -d${secs}s --timeout 10s --latency $* $target"; echo "$out"; } >>"$work/wrk.log"
  echo "$out" | awk -v name="$name" '
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /m$/) return v * 60000; return v * 1000 }
    /Requests\/sec:/ { rps = $2 }
    $1 == "50%" { p50 = ms($2) }
    $1 == "99%" { p99 = ms($2) }
    /Non-2xx or 3xx responses:/ { bad = $5 }
    /Socket errors:/ { gsub(",", ""); errs = $4 + $6 + $8 + $10 }
    END { printf "%s %.0f %.2f %.2f %d %d\n", name, rps, p50, p99, bad, errs }' >>"$work/results"
}
depot_args=(-H "Host: $domain")
measure warmup-depot "$WARMUP" "$url" "${depot_args[@]}" >/dev/null
measure warmup-norun "$WARMUP" "http://127.0.0.1:$norun_port/hello" >/dev/null
: >"$work/results"
for round in $(seq 1 "$ROUNDS"); do
  if [ $((round % 2)) = 1 ]; then
    measure depot "$DURATION" "$url" "${depot_args[@]}"
    measure norun "$DURATION" "http://127.0.0.1:$norun_port/hello"
  else
    measure norun "$DURATION" "http://127.0.0.1:$norun_port/hello"
    measure depot "$DURATION" "$url" "${depot_args[@]}"
  fi
done

# Memory, before twilio-run's fork mode adds load: depot, its workers, twilio-run.
depot_rss=$(peak_rss "$depot_pid")
workers=$(pgrep -P "$depot_pid" -x node || true)
worker_rss=$(for w in $workers; do peak_rss "$w"; echo; done | sort -n | awk 'NF { a[n++] = $1; s += $1 }
  END { if (n) printf "%d workers, %d-%d MiB each, %d MiB together", n, a[0], a[n-1], s; else print "no workers" }')
# twilio-run renames its process ("twilio-run"), so it is found by its session (setsid above).
norun_rss=$(for p in $(pgrep -s "$norun_pid" || true); do peak_rss "$p"; echo; done \
  | awk 'NF { s += $1 } END { if (s) print s; else print "?" }')
kill -TERM -- "-$norun_pid" 2>/dev/null || true

(cd "$work/project" && exec setsid "$twilio_run" start --port $fork_port \
  >"$work/twilio-run-fork.log" 2>&1) &
fork_pid=$!
pids+=("$fork_pid")
wait_for "http://127.0.0.1:$fork_port/hello"
# A process per request at 64 connections finishes nothing within a short run on 2 cores (64
# Node start-ups of about a second each); a few connections give a figure.
CONNS=$FORK_CONNS measure fork "$FORK_DURATION" "http://127.0.0.1:$fork_port/hello"
kill -TERM -- "-$fork_pid" 2>/dev/null || true

# --- report -------------------------------------------------------------------------------------
python3 - "$work/results" "$ROUNDS" <<'PY'
import sys, statistics
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
by = {}
for name, rps, p50, p99, bad, errs in rows:
    by.setdefault(name, []).append((float(rps), float(p50), float(p99), int(bad), int(errs)))
norun = [r[0] for r in by.get("norun", [])]
labels = {"depot": "depot (release, defaults)", "norun": "twilio-run start --no-fork-process",
          "fork": "twilio-run start (default: process per request)"}
print("| server | req/s median (min-max) | p50 ms | p99 ms | non-2xx | socket errors | vs --no-fork-process, median (min-max) |")
print("|---|--:|--:|--:|--:|--:|--:|")
for name in ("depot", "norun", "fork"):
    runs = by.get(name, [])
    if not runs:
        continue
    rps = [r[0] for r in runs]
    mid = sorted(runs)[len(runs) // 2]
    if name == "fork":
        ratios = [r / statistics.median(norun) for r in rps] if norun else []
    else:
        ratios = [r / n for r, n in zip(rps, norun)] if norun else []
    ratio = (f"{statistics.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f})"
             if ratios else "-")
    if len(ratios) == 1:
        ratio = f"{ratios[0]:.3f}x"
    spread = f" ({min(rps):.0f}-{max(rps):.0f})" if len(rps) > 1 else ""
    print(f"| {labels[name]} | {statistics.median(rps):.0f}{spread} | {mid[1]:.1f} | {mid[2]:.1f} | "
          f"{sum(r[3] for r in runs)} | {sum(r[4] for r in runs)} | {ratio} |")
PY
cat <<EOF

- depot: first \`depot deploy\` (npm install of twilio 5.0.3) ${first_deploy} s; redeploys with a changed
  function and the same dependencies ${redeploy} s and ${redeploy2} s (whole command: upload, build, deploy).
- cold start of a pool (first request after a deploy, curl total): ${cold1} s (HTTP $status1) after
  the first deploy, ${cold2} s (HTTP $status2) after a redeploy ($build); the next request ${warm1} s.
- peak RSS (VmHWM): depot ${depot_rss} MiB; its Node workers: ${worker_rss};
  twilio-run --no-fork-process ${norun_rss} MiB.
- load: wrk $(wrk -v 2>&1 | head -n 1 | awk '{print $2}'), -t$THREADS -c$CONNS --timeout 10s, ${ROUNDS} rounds of ${DURATION} s per server
  (after ${WARMUP} s unrecorded each), alternating; the process-per-request mode one ${FORK_DURATION} s run at ${FORK_CONNS} connections.
  Client and servers share $(nproc) cores.
EOF
