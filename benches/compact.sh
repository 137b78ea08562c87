#!/usr/bin/env bash
# Builds eventlake in release mode and runs the compaction benchmark against DuckDB.
# usage: benches/compact.sh [--events N] [--layout firehose|ndjson] [--gzip] [--runs N]
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/eventlake-target}"
venv="${EVENTLAKE_VENV:-/var/tmp/eventlake-venv}"
if ! "$venv/bin/python" -c "import duckdb" 2>/dev/null; then
    python3 -m venv "$venv" && "$venv/bin/pip" install --quiet -r .ci/requirements.txt
fi
cargo build --release --quiet
exec "$venv/bin/python" benches/compact_bench.py "$@"
