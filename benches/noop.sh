#!/usr/bin/env bash
# A no-op run over a lake whose ledger holds OBJECTS committed objects (one event each): every
# listed object is already committed, so the run reads the listing a page at a time, checks each
# page against the ledger files whose key ranges hold it, and commits nothing. Prints its time and
# peak RSS (the flat-scale target: at most 256 MiB at 1M objects).
#   benches/noop.sh [OBJECTS=1000000] [WORKDIR=/var/tmp/eventlake-noop]
set -euo pipefail
cd "$(dirname "$0")/.."
objects="${1:-1000000}"
work="${2:-/var/tmp/eventlake-noop}"
bin="${EVENTLAKE_BIN:-${CARGO_TARGET_DIR:-/var/tmp/eventlake-target}/release/eventlake}"
mkdir -p "$work"
raw="$work/raw-$objects" lake="$work/lake-$objects"
if [ ! -e "$lake/.done" ]; then
    rm -rf "$raw" "$lake"
    echo "generating $objects objects …" >&2
    "$bin" generate --out "$raw" --events "$objects" --objects "$objects" --dup-rate 0 --bad-rate 0 \
        --days 30 --json >/dev/null
    echo "compacting them …" >&2
    /usr/bin/time -f "%e %M" -o "$work/first.txt" "$bin" compact --source "$raw" --lake "$lake" --json \
        >"$work/first.json"
    touch "$lake/.done"
fi
/usr/bin/time -f "%e %M" -o "$work/time.txt" "$bin" compact --source "$raw" --lake "$lake" --json >"$work/noop.json"
read -r seconds kilobytes <"$work/time.txt"
python3 - "$work/noop.json" "$seconds" "$kilobytes" "$objects" <<'PY'
import json, sys
metrics, seconds, kilobytes, objects = json.load(open(sys.argv[1])), float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
print(json.dumps({"committed_objects": objects, "objects_skipped": metrics["objects_skipped"],
                  "objects_compacted": metrics["objects"], "seconds": seconds,
                  "peak_rss_mib": kilobytes // 1024}))
PY
