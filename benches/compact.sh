#!/usr/bin/env bash
# Builds eventlake in release mode and runs the compaction benchmark against DuckDB over several
# input shapes: eventlake's own generator (plain NDJSON; the sample's Firehose objects, records
# run together, gzip) and the shapes of benches/shapes.py, written by other code. Prints the
# ratio for each (and against Polars where it reads the input: plain NDJSON), then all of
# them together.
# usage: benches/compact.sh [--events N] [--runs N] [--threads N]   (or one input: --layout … / --shape …)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/eventlake-target}"
venv="${EVENTLAKE_VENV:-/var/tmp/eventlake-venv}"
if ! "$venv/bin/python" -c "import duckdb" 2>/dev/null || [ ! -x "$venv/bin/duckdb" ]; then
    python3 -m venv "$venv" && "$venv/bin/pip" install --quiet -r .ci/requirements.txt
fi
# Polars is the bench's second bar (plain NDJSON inputs); the tests do not need it.
"$venv/bin/python" -c "import polars" 2>/dev/null || "$venv/bin/pip" install --quiet polars==2.1.0
# EVENTLAKE_BIN: measure that build of eventlake instead of building the release binary.
if [ -n "${EVENTLAKE_BIN:-}" ]; then
    set -- --binary "$EVENTLAKE_BIN" "$@"
else
    cargo build --release --quiet
fi
source benches/per_shape.sh
per_shape benches/compact_bench.py /var/tmp/eventlake-bench "$@"
bench ndjson --layout ndjson "$@"
bench firehose-gzip --layout firehose --gzip "$@"
for shape in compact-ndjson python-spaced large-detail tiny-objects late-events; do
    bench "$shape" --shape "$shape" "$@"
done
echo "== eventlake / DuckDB, per input shape"
awk '/^== /{name=$2} /^ratio eventlake/{print name ", " $2 " " $3 " " $4 " " $5}' "$log"
