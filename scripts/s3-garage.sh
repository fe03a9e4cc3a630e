#!/usr/bin/env bash
# Runs depot's S3 tests against Garage (crates.io `garage`), the distributed S3 store operators
# self-host, on loopback: the content-store test and the multi-node tests (which also need
# PostgreSQL). Building Garage takes 15-25 minutes on 2 cores the first time, so CI uses the
# lighter scripts/s3-server.sh; run this one before a release and report it.
#
#   scripts/s3-garage.sh            # install if needed, start, run the tests, stop
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=2.5.0
ROOT="${DEPOT_GARAGE_ROOT:-${XDG_CACHE_HOME:-$HOME/.cache}/depot/garage-$VERSION}"
GARAGE="$ROOT/bin/garage"
WORK="$(mktemp -d)"
trap 'kill "$(cat "$WORK/pid" 2>/dev/null)" 2>/dev/null || true; rm -rf "$WORK"' EXIT

if [[ ! -x "$GARAGE" ]]; then
  echo "building garage $VERSION (takes a while)..." >&2
  cargo install garage --version "$VERSION" --locked --root "$ROOT"
fi

cat >"$WORK/garage.toml" <<TOML
metadata_dir = "$WORK/meta"
data_dir = "$WORK/data"
db_engine = "lmdb"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:3901"
rpc_public_addr = "127.0.0.1:3901"
rpc_secret = "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"

[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:3900"
root_domain = ".s3.garage.localhost"
TOML
g() { "$GARAGE" -c "$WORK/garage.toml" "$@"; }

g server >"$WORK/log" 2>&1 &
echo $! >"$WORK/pid"
for _ in $(seq 1 100); do g status >/dev/null 2>&1 && break; sleep 0.2; done
node="$(g node id -q | cut -d@ -f1)"
g layout assign -z dc1 -c 1G "$node" >/dev/null
g layout apply --version 1 >/dev/null
g bucket create depot-test >/dev/null
key="$(g key create depot-test-key)"
g bucket allow --read --write --owner depot-test --key depot-test-key >/dev/null

export AWS_ENDPOINT_URL=http://127.0.0.1:3900
AWS_ACCESS_KEY_ID="$(sed -n 's/^Key ID: *//p' <<<"$key" | head -1)"
AWS_SECRET_ACCESS_KEY="$(sed -n 's/^Secret key: *//p' <<<"$key" | head -1)"
export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
export AWS_REGION=garage AWS_ALLOW_HTTP=true DEPOT_TEST_S3_BUCKET=depot-test
export DEPOT_TEST_POSTGRES_URL="${DEPOT_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"

echo "garage $VERSION on $AWS_ENDPOINT_URL, key $AWS_ACCESS_KEY_ID" >&2
cargo test --locked --lib blob::tests::s3_bucket_keeps_content_like_files -- --nocapture
cargo test --locked --test nodes -- --nocapture
