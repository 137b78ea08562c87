#!/usr/bin/env bash
# What a compaction run over an already-compacted S3 prefix requests: N old objects, a few new.
# Starts moto_server and the fault proxy (at a 0% fault rate, as a request counter) on loopback.
#   benches/listing.sh [OLD_OBJECTS=100000] [NEW_OBJECTS=100]
set -euo pipefail
cd "$(dirname "$0")/.."
old="${1:-100000}"
new="${2:-100}"
venv="${EVENTLAKE_VENV:-/var/tmp/eventlake-venv}"
bin="${EVENTLAKE_BIN:-${CARGO_TARGET_DIR:-/var/tmp/eventlake-target}/release/eventlake}"
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_REGION=us-east-1

port=$("$venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >/dev/null 2>&1 &
pids=($!)
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT
sleep 2
s3="http://127.0.0.1:$port"
"$venv/bin/python" -c "import urllib.request as r; r.urlopen(r.Request('$s3/bench', method='PUT'))"

echo "generating $old objects …" >&2
"$bin" --endpoint-url "$s3" generate --out s3://bench/raw --events $((old * 2)) --objects "$old" --gzip --dup-rate 0 >&2
start=$(date +%s.%N)
"$bin" --endpoint-url "$s3" compact --source s3://bench/raw --lake s3://bench/lake --json >&2
first=$(echo "$(date +%s.%N) - $start" | bc)
"$bin" --endpoint-url "$s3" generate --out s3://bench/raw --events $((new * 2)) --objects "$new" --gzip --seed 2 --days 1 >&2

exec 3< <("$venv/bin/python" tests/python/fault_proxy.py "$s3" --rate 0)
read -r proxy_port <&3
pids+=($!)
proxy="http://127.0.0.1:$proxy_port"
start=$(date +%s.%N)
metrics=$("$bin" --endpoint-url "$proxy" compact --source s3://bench/raw --lake s3://bench/lake --json)
second=$(echo "$(date +%s.%N) - $start" | bc)
"$venv/bin/python" - "$proxy" "$metrics" "$first" "$second" <<'PY'
import json, sys, urllib.request
proxy, metrics, first, second = sys.argv[1], json.loads(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
stats = json.load(urllib.request.urlopen(proxy + "/__proxy/stats"))
raw_gets = sum(n for path, n in stats["gets"].items() if path.startswith("/bench/raw/"))
lists = sum(n for path, n in stats["gets"].items() if path == "/bench" or path == "/bench/")
print(json.dumps({
    "objects_old": metrics["objects_skipped"], "objects_new": metrics["objects"],
    "first_run_seconds": round(first, 1), "rerun_seconds": round(second, 1),
    "rerun_requests": stats["requests"], "rerun_raw_object_gets": raw_gets, "rerun_list_requests": lists,
}, indent=1))
PY
