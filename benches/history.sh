#!/usr/bin/env bash
# Memory and time of a compaction run over a lake with a long history: OLD objects already
# committed (over the 30 days before), NEW ones to add (a day of their own, as in a real bucket,
# so the run dedups against that day's partitions, not the whole history). Local folders, so it
# measures eventlake, not the network.
# Prints the rerun's wall time and peak RSS; run it with two OLD values to see it stay flat.
#   benches/history.sh [OLD_OBJECTS=100000] [NEW_OBJECTS=100] [WORKDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
old="${1:-100000}"
new="${2:-100}"
work="${3:-/var/tmp/eventlake-history-30d-$old}"
bin="${EVENTLAKE_BIN:-${CARGO_TARGET_DIR:-/var/tmp/eventlake-target}/release/eventlake}"

if [ ! -e "$work/lake/source_objects/_delta_log" ]; then
    rm -rf "$work"
    echo "generating and compacting $old objects …" >&2
    "$bin" generate --out "$work/raw" --events $((old * 2)) --objects "$old" --gzip --dup-rate 0 --start 2026-10-01 --days 30 --json >/dev/null
    "$bin" compact --source "$work/raw" --lake "$work/lake" --json >/dev/null
fi

cp -r "$work/lake" "$work/rerun-lake"
trap 'rm -rf "$work/rerun-lake" "$work/raw/new"' EXIT
"$bin" generate --out "$work/raw/new" --events $((new * 2)) --objects "$new" --gzip --seed 2 --start 2026-11-01 --days 1 --json >/dev/null
/usr/bin/time -f "%e %M" -o "$work/time.txt" "$bin" compact --source "$work/raw" --lake "$work/rerun-lake" --json >"$work/metrics.json"
rm -rf "$work/raw/new"
read -r seconds kilobytes <"$work/time.txt"
python3 - "$work/metrics.json" "$seconds" "$kilobytes" <<'PY'
import json, sys
metrics, seconds, kilobytes = json.load(open(sys.argv[1])), float(sys.argv[2]), int(sys.argv[3])
print(json.dumps({"objects_committed_before": metrics["objects_skipped"], "objects_new": metrics["objects"],
                  "rerun_seconds": seconds, "rerun_peak_rss_mib": round(kilobytes / 1024)}))
PY
