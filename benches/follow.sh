#!/usr/bin/env bash
# Freshness and flatness of `compact --follow` on a local folder and on moto S3 with SQS
# notifications, at the default commit interval and at 2s.
#   benches/follow.sh [SECONDS=300]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-300}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/eventlake-target}"
venv="${EVENTLAKE_VENV:-/var/tmp/eventlake-venv}"
cargo build --release --quiet
port=$("$venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >/dev/null 2>&1 &
trap 'kill $! 2>/dev/null || true' EXIT
sleep 2
for interval in 10 2; do
    "$venv/bin/python" benches/follow_bench.py --backend local --interval "$interval" --seconds "$seconds"
    "$venv/bin/python" benches/follow_bench.py --backend s3 --endpoint "http://127.0.0.1:$port" --interval "$interval" --seconds "$seconds"
done
