#!/usr/bin/env bash
# Stored events into PutEvents batches: `eventlake replay --dry-run` (select, undo the transform,
# mark, size and batch every event) over N events, and DuckDB building the same entries as JSON.
#   benches/replay.sh [EVENTS=1000000]
set -euo pipefail
cd "$(dirname "$0")/.."
events="${1:-1000000}"
venv="${EVENTLAKE_VENV:-/var/tmp/eventlake-venv}"
bin="${EVENTLAKE_BIN:-${CARGO_TARGET_DIR:-/var/tmp/eventlake-target}/release/eventlake}"
work="$(mktemp -d -t eventlake-replay-bench.XXXXXX)"
trap 'rm -rf "$work"' EXIT

"$bin" generate --out "$work/raw" --events "$events" --clients 5000 --days 3 --gzip >/dev/null
"$bin" compact --source "$work/raw" --lake "$work/lake" --json >/dev/null

runs=3
best=999999
for _ in $(seq $runs); do
    start=$(date +%s.%N)
    "$bin" replay --lake "$work/lake" --name bench --where "true" --dry-run --json >"$work/summary.json"
    took=$(echo "$(date +%s.%N) - $start" | bc)
    best=$(echo "if ($took < $best) $took else $best" | bc)
done

"$venv/bin/python" - "$work/lake" "$best" "$work/summary.json" <<'PY'
import json, sys, time
import duckdb
from deltalake import DeltaTable
lake, ours, summary = sys.argv[1], float(sys.argv[2]), json.load(open(sys.argv[3]))
files = DeltaTable(f"{lake}/events").file_uris()
con = duckdb.connect()
con.execute("SET threads = 2")
best = None
for _ in range(3):
    started = time.time()
    con.execute(f"""
        COPY (
          SELECT json_object(
            'Time', strftime(time AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%SZ'),
            'Source', source, 'DetailType', detail_type,
            'Resources', [json_extract_string(detail, '$.accountNumber')],
            'Detail', json_merge_patch(detail, json_object('accountNumber', NULL, 'replay-name', 'bench', 'replay-original-id', id))::VARCHAR
          ) AS entry
          FROM read_parquet({files!r}, hive_partitioning = true)
          ORDER BY time, id
        ) TO '{lake}/../duckdb-entries.json' (FORMAT csv, HEADER false, QUOTE '')""")
    took = time.time() - started
    best = took if best is None else min(best, took)
events = sum(c["events"] for c in summary["by_event_type"].values())
print(json.dumps({
    "events": events, "batches": summary["batches"], "bytes": summary["bytes"],
    "eventlake_seconds": round(ours, 2), "eventlake_events_per_second": round(events / ours),
    "duckdb_seconds": round(best, 2), "ratio_eventlake_over_duckdb": round(ours / best, 2),
}, indent=1))
PY
