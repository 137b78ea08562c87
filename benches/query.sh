#!/usr/bin/env bash
# Builds eventlake in release mode and times three whole queries against the duckdb CLI over
# DuckDB's own Parquet of the same data.
# usage: benches/query.sh [--events N] [--runs R]
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/eventlake-target}"
venv="${EVENTLAKE_VENV:-/var/tmp/eventlake-venv}"
if ! "$venv/bin/python" -c "import duckdb, deltalake" 2>/dev/null; then
    python3 -m venv "$venv" && "$venv/bin/pip" install --quiet -r .ci/requirements.txt
fi
[ -x "$venv/bin/duckdb" ] || "$venv/bin/pip" install --quiet duckdb-cli==1.5.5
cargo build --release --quiet
exec "$venv/bin/python" benches/query_bench.py "$@"
