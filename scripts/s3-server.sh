#!/usr/bin/env bash
# Starts a throwaway S3-compatible server on loopback for tests and prints the environment a
# depot (or the test suite) needs to use it. The server is moto's (PyPI `moto[server]`),
# installed into a venv on first use: light enough for every CI run. scripts/s3-garage.sh runs
# the same tests against Garage, the S3 store operators self-host.
#
#   eval "$(scripts/s3-server.sh start)"   # exports AWS_* and DEPOT_TEST_S3_BUCKET
#   scripts/s3-server.sh stop
set -euo pipefail

VENV="${DEPOT_S3_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/depot/moto-venv}"
PORT="${DEPOT_S3_PORT:-9599}"
BUCKET="${DEPOT_TEST_S3_BUCKET:-depot-test}"
STATE="${TMPDIR:-/tmp}/depot-s3-$PORT"

install() {
  if [[ ! -x "$VENV/bin/moto_server" ]]; then
    python3 -m venv "$VENV" >&2
    "$VENV/bin/pip" install -q 'moto[server]==5.1.22' >&2
  fi
}

start() {
  install
  mkdir -p "$STATE"
  if ! curl -fsS "http://127.0.0.1:$PORT/" >/dev/null 2>&1; then
    nohup "$VENV/bin/moto_server" -H 127.0.0.1 -p "$PORT" >"$STATE/log" 2>&1 &
    echo $! >"$STATE/pid"
    for _ in $(seq 1 100); do
      curl -fsS "http://127.0.0.1:$PORT/" >/dev/null 2>&1 && break
      sleep 0.1
    done
  fi
  # Create the bucket (moto answers 200 to a repeated create in us-east-1).
  curl -fsS -X PUT "http://127.0.0.1:$PORT/$BUCKET" >/dev/null
  cat <<ENV
export AWS_ENDPOINT_URL=http://127.0.0.1:$PORT
export AWS_ACCESS_KEY_ID=test
export AWS_SECRET_ACCESS_KEY=test
export AWS_REGION=us-east-1
export AWS_ALLOW_HTTP=true
export DEPOT_TEST_S3_BUCKET=$BUCKET
ENV
}

stop() {
  if [[ -f "$STATE/pid" ]]; then
    kill "$(cat "$STATE/pid")" 2>/dev/null || true
    rm -f "$STATE/pid"
  fi
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
