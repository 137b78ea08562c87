#!/usr/bin/env bash
# The requests the flat bench's small run makes on S3: one fresh 5,000-event object and one whole
# object delivered again, beside a day of SIZE events already compacted, for each SIZE. Starts
# moto_server and the fault proxy (at a 0% fault rate, as a request counter) on loopback; the
# small run alone goes through the proxy. Prints, per day size, the requests by method and how
# many GETs went to the lake's data files, its logs, and the raw objects.
#   benches/requests.sh ["500000 8000000"]
set -euo pipefail
cd "$(dirname "$0")/.."
sizes="${1:-500000 8000000}"
venv="${EVENTLAKE_VENV:-/var/tmp/eventlake-venv}"
bin="${EVENTLAKE_BIN:-${CARGO_TARGET_DIR:-/var/tmp/eventlake-target}/release/eventlake}"
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_REGION=us-east-1

port=$("$venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >/dev/null 2>&1 &
pids=($!)
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT
sleep 2
s3="http://127.0.0.1:$port"

for size in $sizes; do
    bucket="day-$size"
    "$venv/bin/python" -c "import urllib.request as r; r.urlopen(r.Request('$s3/$bucket', method='PUT'))"
    echo "a day of $size events into s3://$bucket …" >&2
    "$bin" --endpoint-url "$s3" generate --out "s3://$bucket/raw" --events "$size" --objects $((size / 5000)) \
        --gzip --dup-rate 0 --bad-rate 0 --start 2026-11-20 --days 1 --json >/dev/null
    "$bin" --endpoint-url "$s3" compact --source "s3://$bucket/raw" --lake "s3://$bucket/lake" --json >/dev/null
    # The small run's input: a fresh object and a copy of an old one under a new key.
    "$bin" --endpoint-url "$s3" generate --out "s3://$bucket/raw/new-run/fresh" --events 5000 --objects 1 \
        --gzip --seed 7 --dup-rate 0 --bad-rate 0 --start 2026-11-20 --days 1 --json >/dev/null
    "$venv/bin/python" - "$s3" "$bucket" <<'PY'
import sys, boto3
s3 = boto3.client("s3", endpoint_url=sys.argv[1])
bucket = sys.argv[2]
first = s3.list_objects_v2(Bucket=bucket, Prefix="raw/raw/")["Contents"][0]["Key"]
s3.copy_object(Bucket=bucket, Key="raw/new-run/again/redelivered", CopySource={"Bucket": bucket, "Key": first})
PY

    exec 3< <("$venv/bin/python" tests/python/fault_proxy.py "$s3" --rate 0)
    read -r proxy_port <&3
    proxy_pid=$!
    proxy="http://127.0.0.1:$proxy_port"
    start=$(date +%s.%N)
    metrics=$("$bin" --endpoint-url "$proxy" compact --source "s3://$bucket/raw" --lake "s3://$bucket/lake" --json)
    seconds=$(echo "$(date +%s.%N) - $start" | bc)
    "$venv/bin/python" - "$proxy" "$metrics" "$seconds" "$size" "$bucket" <<'PY'
import json, sys, urllib.request
proxy, metrics, seconds, size, bucket = sys.argv[1], json.loads(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
stats = json.load(urllib.request.urlopen(proxy + "/__proxy/stats"))
gets = stats["gets"]
def count(test):
    return sum(n for path, n in gets.items() if test(path))
print(json.dumps({
    "day_events": size, "seconds": round(seconds, 2), "records_written": metrics["records_written"],
    "duplicates": metrics["duplicates"], "requests": stats["requests"],
    "gets_events_data_files": count(lambda p: p.startswith(f"/{bucket}/lake/events/") and p.endswith(".parquet") and "_delta_log" not in p),
    "gets_delta_logs": count(lambda p: "_delta_log" in p),
    "gets_raw_objects": count(lambda p: p.startswith(f"/{bucket}/raw/")),
    "lists": count(lambda p: p in (f"/{bucket}", f"/{bucket}/")),
}))
PY
    kill "$proxy_pid" 2>/dev/null || true
done
