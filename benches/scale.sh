#!/usr/bin/env bash
# A run's own memory and speed at volume, and a point lookup by id:
#  - EVENTS (10M) events of plain NDJSON over 3 days in ONE `compact` run: wall time, peak RSS;
#  - 1M events, gzip, one run: wall time (medians of REPEATS), so the id index costs no speed;
#  - `SELECT … WHERE id = …` on the 1M lake: row groups the bloom filters rule out.
# With EVENTLAKE_BIN_BEFORE set (an older build), each is also run with it, in the same
# invocation, for the ratios.
#   benches/scale.sh [EVENTS=10000000] [REPEATS=3] [WORKDIR=/var/tmp/eventlake-scale]
set -euo pipefail
cd "$(dirname "$0")/.."
events="${1:-10000000}"
repeats="${2:-3}"
work="${3:-/var/tmp/eventlake-scale}"
after="${EVENTLAKE_BIN:-${CARGO_TARGET_DIR:-/var/tmp/eventlake-target}/release/eventlake}"
mkdir -p "$work"

big="$work/raw-$events"
if [ ! -e "$big/.done" ]; then
    rm -rf "$big"
    "$after" generate --out "$big" --events "$events" --objects $((events / 25000)) --days 3 \
        --start 2026-11-20 --json >/dev/null
    touch "$big/.done"
fi
small="$work/raw-1m"
if [ ! -e "$small/.done" ]; then
    rm -rf "$small"
    "$after" generate --out "$small" --events 1000000 --gzip --days 3 --start 2026-11-20 --json >/dev/null
    touch "$small/.done"
fi

measure() { # BIN SOURCE LAKE -> "seconds rss_mib"
    rm -rf "$3"
    /usr/bin/time -f "%e %M" -o "$work/time.txt" "$1" compact --source "$2" --lake "$3" --json \
        >"$work/metrics.json"
    read -r seconds kilobytes <"$work/time.txt"
    echo "$seconds $((kilobytes / 1024))"
}

for label in after before; do
    if [ "$label" = before ]; then
        bin="${EVENTLAKE_BIN_BEFORE:-}"
        [ -n "$bin" ] || continue
    else
        bin="$after"
    fi
    read -r seconds rss < <(measure "$bin" "$big" "$work/lake-big")
    units=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["units"])' "$work/metrics.json")
    echo "{\"build\": \"$label\", \"run\": \"$events events, plain NDJSON, one run\", \"seconds\": $seconds, \"peak_rss_mib\": $rss, \"units\": $units}"
    rm -rf "$work/lake-big"
    times=()
    for _ in $(seq "$repeats"); do
        read -r seconds rss < <(measure "$bin" "$small" "$work/lake-1m-$label")
        times+=("$seconds $rss")
    done
    printf '%s\n' "${times[@]}" | python3 -c "
import statistics, sys
rows = [line.split() for line in sys.stdin if line.strip()]
print('{\"build\": \"$label\", \"run\": \"1M events, gzip, one run (median of $repeats)\", \"seconds\": %s, \"peak_rss_mib\": %s}' % (
    statistics.median(float(r[0]) for r in rows), statistics.median(int(r[1]) for r in rows)))"
done

# A point lookup: how many row groups the bloom filters leave to read.
id=$("$after" query --lake "$work/lake-1m-after" --format csv "SELECT id FROM events ORDER BY id LIMIT 1 OFFSET 123456" | tail -1)
"$after" query --lake "$work/lake-1m-after" --format csv \
    "EXPLAIN ANALYZE SELECT id, event_type FROM events WHERE id = '$id'" |
    grep -o 'row_groups_pruned_bloom_filter=[^,]*\|files_ranges_pruned_statistics=[^,]*\|row_groups_pruned_statistics=[^,]*' | sort | uniq -c
