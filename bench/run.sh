#!/usr/bin/env bash
# The project's own benchmarks, without the cross-server harness: API, uploads, deploys and
# the asset host. Prints markdown tables. Needs wrk and curl.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
echo "## API (bench/api.sh)"; bench/api.sh 5; echo
echo "## API through --intercept-twilio tunnels (bench/intercept.sh)"; bench/intercept.sh 5; echo
echo "## Uploads (bench/upload.py)"; python3 bench/upload.py; echo
echo "## Deploy (bench/deploy.py)"; python3 bench/deploy.py; echo
echo "## Asset host (bench/host.py)"; python3 bench/host.py
