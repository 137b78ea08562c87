#!/usr/bin/env bash
# Builds eventlake in release mode and times four whole queries against the duckdb CLI over
# DuckDB's own Parquet of the same data, for several input shapes: eventlake's generator (the
# sample's Firehose objects, gzip) and shapes of benches/shapes.py, written by other code.
# Prints the ratios per shape, then all of them together.
# usage: benches/query.sh [--events N] [--runs R]   (or one input: --layout … / --shape …)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/eventlake-target}"
venv="${EVENTLAKE_VENV:-/var/tmp/eventlake-venv}"
if ! "$venv/bin/python" -c "import duckdb, deltalake" 2>/dev/null; then
    python3 -m venv "$venv" && "$venv/bin/pip" install --quiet -r .ci/requirements.txt
fi
[ -x "$venv/bin/duckdb" ] || "$venv/bin/pip" install --quiet duckdb-cli==1.5.5
# EVENTLAKE_BIN: measure that build of eventlake instead of building the release binary.
if [ -n "${EVENTLAKE_BIN:-}" ]; then
    set -- --binary "$EVENTLAKE_BIN" "$@"
else
    cargo build --release --quiet
fi
source benches/per_shape.sh
per_shape benches/query_bench.py /var/tmp/eventlake-query-bench "$@"
bench firehose-gzip --layout firehose --gzip "$@"
for shape in compact-ndjson python-spaced large-detail; do
    bench "$shape" --shape "$shape" "$@"
done
echo "== eventlake / DuckDB, per input shape and query"
awk '/^== /{name=$2} / ratio /{sub(/ +eventlake .* ratio +/, ": "); print name ", " $0}' "$log"
