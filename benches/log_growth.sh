#!/usr/bin/env bash
# What a long-lived lake costs: COMMITS units (one object each, so one commit per table each),
# then the time to open the lake for a query and to commit one more object, and the log's shape
# (checkpoints, files). `compact --follow` at a 10 s interval makes 8,640 units a day.
#   benches/log_growth.sh [COMMITS=10000] [WORKDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
commits="${1:-10000}"
work="${2:-/var/tmp/eventlake-log-growth-$commits}"
bin="${EVENTLAKE_BIN:-${CARGO_TARGET_DIR:-/var/tmp/eventlake-target}/release/eventlake}"
mkdir -p "$work"
printf '[limits]\nunit_max_objects = 1\n' > "$work/eventlake.toml"
if [ ! -e "$work/lake/source_objects/_delta_log" ]; then
    "$bin" generate --out "$work/raw" --events $((commits * 3)) --objects "$commits" --bad-rate 0 --json >/dev/null
    start=$(date +%s.%N)
    "$bin" compact --source "$work/raw" --lake "$work/lake" --config "$work/eventlake.toml" --json > "$work/first.json"
    echo "first run: $(jq -r .units "$work/first.json") units in $(echo "$(date +%s.%N) - $start" | bc) s"
fi
"$bin" generate --out "$work/raw/more-$RANDOM" --events 3 --objects 1 --bad-rate 0 --dup-rate 0 --seed $RANDOM --json >/dev/null
open_start=$(date +%s.%N)
"$bin" query --lake "$work/lake" --format csv "SELECT count(*) FROM source_objects" >/dev/null
open_seconds=$(echo "$(date +%s.%N) - $open_start" | bc)
commit_start=$(date +%s.%N)
"$bin" compact --source "$work/raw" --lake "$work/lake" --config "$work/eventlake.toml" --json > "$work/one.json"
commit_seconds=$(echo "$(date +%s.%N) - $commit_start" | bc)
for table in events errors source_objects; do
    log="$work/lake/$table/_delta_log"
    echo "$table: $(ls "$log" | grep -c '\.json$') commit files, $(ls "$log" | grep -c 'checkpoint') checkpoint files, last checkpoint $(cat "$log/_last_checkpoint" 2>/dev/null || echo none)"
done
echo "after $commits units: a query opening the lake takes ${open_seconds}s; a run committing one new object takes ${commit_seconds}s ($(jq -c '{objects, units, commit: .stages.commit}' "$work/one.json"))"
