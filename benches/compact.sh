#!/usr/bin/env bash
# Builds eventlake in release mode and runs the compaction benchmark against DuckDB.
# With no --layout it runs both inputs of issue 13: plain NDJSON, and the sample's Firehose
# objects (transformed records run together, gzip).
# usage: benches/compact.sh [--events N] [--layout firehose|ndjson] [--gzip] [--runs N]
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/eventlake-target}"
venv="${EVENTLAKE_VENV:-/var/tmp/eventlake-venv}"
if ! "$venv/bin/python" -c "import duckdb" 2>/dev/null; then
    python3 -m venv "$venv" && "$venv/bin/pip" install --quiet -r .ci/requirements.txt
fi
cargo build --release --quiet
if [[ " $* " == *" --layout "* ]]; then
    exec "$venv/bin/python" benches/compact_bench.py "$@"
fi
echo "== plain NDJSON"
"$venv/bin/python" benches/compact_bench.py --layout ndjson --workdir /var/tmp/eventlake-bench-ndjson "$@"
echo "== Firehose objects: transformed records run together, gzip"
"$venv/bin/python" benches/compact_bench.py --layout firehose --gzip --workdir /var/tmp/eventlake-bench-firehose "$@"
