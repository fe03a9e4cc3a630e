#!/usr/bin/env bash
# Makes sure PostgreSQL answers on 127.0.0.1:5432 (trust auth, database `test`), starting the
# machine's cluster if it is down, and prints the URL the tests use.
set -euo pipefail
HOST=127.0.0.1 PORT=5432
if ! pg_isready -q -h "$HOST" -p "$PORT" 2>/dev/null; then
  if command -v pg_ctlcluster >/dev/null; then
    cluster=$(pg_lsclusters -h | awk 'NR == 1 {print $1, $2}')
    # shellcheck disable=SC2086
    pg_ctlcluster $cluster start >&2 || service postgresql start >&2
  else
    service postgresql start >&2
  fi
  for _ in $(seq 1 50); do pg_isready -q -h "$HOST" -p "$PORT" && break; sleep 0.2; done
fi
pg_isready -h "$HOST" -p "$PORT" >&2
echo "postgres://postgres@$HOST:$PORT/test"
