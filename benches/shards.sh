#!/usr/bin/env bash
# Sharded compaction: 1, 2 and 4 processes (`--shard K/N`) at once on one source and one lake,
# on a local folder and on moto S3. Prints objects/s, records/s, the commit races the shards
# cost, and checks each lake is exact (every id once, every object in the ledger once).
#   benches/shards.sh [EVENTS=400000] [OBJECTS=160]
set -euo pipefail
cd "$(dirname "$0")/.."
events="${1:-400000}"
objects="${2:-160}"
venv="${EVENTLAKE_VENV:-/var/tmp/eventlake-venv}"
bin="${EVENTLAKE_BIN:-${CARGO_TARGET_DIR:-/var/tmp/eventlake-target}/release/eventlake}"
work="${WORKDIR:-/var/tmp/eventlake-shards}"
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_REGION=us-east-1

port=$("$venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >/dev/null 2>&1 &
moto=$!
trap 'kill "$moto" 2>/dev/null || true' EXIT
s3="http://127.0.0.1:$port"
for _ in $(seq 50); do "$venv/bin/python" -c "import urllib.request as r; r.urlopen('$s3/moto-api/')" 2>/dev/null && break; sleep 0.2; done
"$venv/bin/python" -c "import urllib.request as r; r.urlopen(r.Request('$s3/bench', method='PUT'))"

rm -rf "$work" && mkdir -p "$work"
gen=(generate --events "$events" --objects "$objects" --gzip --clients 5000 --days 1)
"$bin" "${gen[@]}" --out "$work/raw" >/dev/null
"$bin" --endpoint-url "$s3" "${gen[@]}" --out s3://bench/raw >/dev/null

# One shard count on one backend: N processes at once; prints a JSON line.
run() {
    local backend=$1 shards=$2 source lake
    if [ "$backend" = local ]; then
        source="$work/raw" lake="$work/lake-$shards"
    else
        source=s3://bench/raw lake="s3://bench/lake-$shards"
    fi
    local start pids=() outputs=()
    start=$(date +%s.%N)
    for ((k = 0; k < shards; k++)); do
        "$bin" --endpoint-url "$s3" compact --source "$source" --lake "$lake" --shard "$k/$shards" --json \
            >"$work/out-$backend-$shards-$k.json" &
        pids+=($!)
        outputs+=("$work/out-$backend-$shards-$k.json")
    done
    for pid in "${pids[@]}"; do wait "$pid"; done
    local seconds
    seconds=$(echo "$(date +%s.%N) - $start" | bc)
    local exact
    exact=$("$bin" --endpoint-url "$s3" query --lake "$lake" --format csv \
        "SELECT (SELECT count(*) = count(DISTINCT id) FROM events) AND (SELECT count(*) = count(DISTINCT source_object) FROM source_objects)" | tail -1)
    "$venv/bin/python" - "$backend" "$shards" "$seconds" "$exact" "${outputs[@]}" <<'PY'
import json, sys
backend, shards, seconds, exact, paths = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4], sys.argv[5:]
runs = [json.load(open(p)) for p in paths]
total = lambda key: sum(r[key] for r in runs)
print(json.dumps({"backend": backend, "shards": shards, "seconds": round(seconds, 2),
                  "objects": total("objects"), "records": total("records_in"),
                  "objects_per_s": round(total("objects") / seconds, 1), "records_per_s": round(total("records_in") / seconds),
                  "commit_races": total("commit_races"), "units": total("units"),
                  "duplicates": total("duplicates"), "written": total("records_written"),
                  "per_shard_objects": [r["objects"] for r in runs], "exact": exact}))
PY
}

for backend in local s3; do
    for shards in 1 2 4; do
        run "$backend" "$shards"
    done
done
