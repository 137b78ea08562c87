#!/usr/bin/env bash
# Flat at any scale: what a small `compact` run costs beside a day that already holds DAY events.
# The day is built once per size (one dated day, Firehose layout, gzip, no duplicates); the run
# adds one fresh 5,000-event object of that day and one of the day's objects delivered again
# under another name, so it deduplicates against the day's partitions. Each run is on a fresh
# copy of the lake; wall time and peak RSS are medians of REPEATS whole processes.
#
# With EVENTLAKE_BIN_BEFORE set (an older build), the same runs are made with it on a day it
# built itself, in the same invocation: the anchor the ratios are read against.
#   benches/flat.sh [DAY_SIZES="500000 8000000"] [REPEATS=3] [WORKDIR=/var/tmp/eventlake-flat]
set -euo pipefail
cd "$(dirname "$0")/.."
sizes="${1:-500000 8000000}"
repeats="${2:-3}"
work="${3:-/var/tmp/eventlake-flat}"
after="${EVENTLAKE_BIN:-${CARGO_TARGET_DIR:-/var/tmp/eventlake-target}/release/eventlake}"
mkdir -p "$work"

# day_lake BIN LABEL SIZE: builds (once) the raw day and its lake; prints the lake's folder.
day_lake() {
    local bin="$1" label="$2" size="$3"
    local raw="$work/raw-$size" lake="$work/lake-$label-$size"
    if [ ! -e "$raw/.done" ]; then
        rm -rf "$raw"
        # ~5,000 events an object, as a busy Firehose stream's 1–5 MB objects hold.
        "$bin" generate --out "$raw" --events "$size" --objects $((size / 5000)) --gzip \
            --dup-rate 0 --bad-rate 0 --start 2026-11-20 --days 1 --json >/dev/null
        touch "$raw/.done"
    fi
    if [ ! -e "$lake/.done" ]; then
        rm -rf "$lake"
        "$bin" compact --source "$raw" --lake "$lake" --json >/dev/null
        touch "$lake/.done"
    fi
    echo "$lake"
}

# small_run BIN LAKE SIZE: the run, REPEATS times on fresh copies; prints "seconds rss_mib".
small_run() {
    local bin="$1" lake="$2" size="$3"
    local raw="$work/raw-$size"
    # The new objects sit in the day's own source (the ledger holds every other object).
    local extra="$raw/new-run"
    rm -rf "$extra"
    local first
    first=$(find "$raw" -type f ! -name .done | sort | sed -n 1p)
    mkdir -p "$extra/again"
    cp "$first" "$extra/again/redelivered-$(basename "$first")"
    "$bin" generate --out "$extra/fresh" --events 5000 --objects 1 --gzip --seed 7 \
        --dup-rate 0 --bad-rate 0 --start 2026-11-20 --days 1 --json >/dev/null
    local results=()
    for _ in $(seq "$repeats"); do
        rm -rf "$work/run-lake"
        cp -r "$lake" "$work/run-lake"
        /usr/bin/time -f "%e %M" -o "$work/time.txt" "$bin" compact --source "$raw" \
            --lake "$work/run-lake" --json >"$work/metrics.json" 2>"$work/stderr.txt" || {
            cat "$work/stderr.txt" >&2
            rm -rf "$extra"
            exit 1
        }
        results+=("$(cat "$work/time.txt")")
    done
    rm -rf "$extra"
    printf '%s\n' "${results[@]}" | python3 -c '
import statistics, sys
rows = [line.split() for line in sys.stdin if line.strip()]
print(statistics.median(float(r[0]) for r in rows), round(statistics.median(int(r[1]) for r in rows) / 1024))'
}

for label in after before; do
    if [ "$label" = before ]; then
        bin="${EVENTLAKE_BIN_BEFORE:-}"
        [ -n "$bin" ] || continue
    else
        bin="$after"
    fi
    base_seconds="" base_rss=""
    for size in $sizes; do
        lake=$(day_lake "$bin" "$label" "$size")
        read -r seconds rss < <(small_run "$bin" "$lake" "$size")
        if [ -z "$base_seconds" ]; then
            base_seconds=$seconds base_rss=$rss
        fi
        python3 - "$label" "$size" "$seconds" "$rss" "$base_seconds" "$base_rss" "$work/metrics.json" <<'PY'
import json, sys
label, size, seconds, rss, base_seconds, base_rss, metrics = sys.argv[1:]
m = json.load(open(metrics))
print(json.dumps({"build": label, "day_events": int(size), "seconds": float(seconds), "peak_rss_mib": int(rss),
                  "time_vs_smallest_day": round(float(seconds) / float(base_seconds), 2),
                  "rss_vs_smallest_day": round(int(rss) / int(base_rss), 2),
                  "records_written": m["records_written"], "duplicates": m["duplicates"],
                  "objects": m["objects"], "objects_skipped": m["objects_skipped"]}))
PY
    done
done
rm -rf "$work/run-lake"

# --follow beside a day that already holds FOLLOW_DAY events (default 8M) of today, if asked:
#   FOLLOW_SECONDS=300 benches/flat.sh
if [ -n "${FOLLOW_SECONDS:-}" ]; then
    follow_day="${FOLLOW_DAY:-8000000}"
    today=$(date -u +%F)
    raw="$work/raw-today-$follow_day" lake="$work/lake-today-$follow_day"
    if [ ! -e "$lake/.done" ]; then
        rm -rf "$raw" "$lake"
        "$after" generate --out "$raw" --events "$follow_day" --objects $((follow_day / 5000)) --gzip \
            --dup-rate 0 --bad-rate 0 --start "$today" --days 1 --json >/dev/null
        "$after" compact --source "$raw" --lake "$lake" --json >/dev/null
        touch "$lake/.done"
    fi
    venv="${EVENTLAKE_VENV:-/var/tmp/eventlake-venv}"
    for label in after before; do
        bin="$after"
        if [ "$label" = before ]; then
            bin="${EVENTLAKE_BIN_BEFORE:-}"
            [ -n "$bin" ] || continue
        fi
        echo "follow ($label), a day of $follow_day events already in the lake:"
        "$venv/bin/python" benches/follow_bench.py --backend local --interval 2 \
            --seconds "$FOLLOW_SECONDS" --prefill "$lake" --binary "$bin"
    done
fi
