#!/usr/bin/env bash
# Throughput, freshness and flatness of `compact --follow --source kinesis://…` on moto's Kinesis:
# at --commit-interval 1s and at the default 10s.
#   benches/kinesis.sh [SECONDS=60] [EVENTS=200000]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
events="${2:-200000}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/eventlake-target}"
venv="${EVENTLAKE_VENV:-/var/tmp/eventlake-venv}"
cargo build --release --quiet
port=$("$venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >/dev/null 2>&1 &
trap 'kill $! 2>/dev/null || true' EXIT
sleep 2
for interval in 1 10; do
    "$venv/bin/python" benches/kinesis_bench.py --endpoint "http://127.0.0.1:$port" --interval "$interval" \
        --seconds "$seconds" --events "$events"
done
