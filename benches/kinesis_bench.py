"""Throughput, freshness and flatness of `eventlake compact --follow --source kinesis://…` on the
test server's Kinesis (moto), into a local lake.

1. Throughput: EVENTS events are put into a stream of SHARDS shards first; then one process reads
   them all from the trim horizon. Prints events a second from its start to the last commit,
   beside how fast the test server alone hands the records out (the same GetRecords loop in
   Python, no lake), which bounds it.
2. Freshness: with the same process running at --commit-interval INTERVAL, one event is put every
   1/RATE seconds; the time from each PutRecords to its id in a committed file of `events`
   (polled every 50 ms) gives p50 and p99 against the targets (p50 <= 1.5 s, p99 <= 3 s at 1 s).
   The process's RSS is sampled every 10 s over the run (the flatness curve).

usage: python benches/kinesis_bench.py --endpoint http://127.0.0.1:PORT [--events 200000] [--shards 4]
                                       [--interval 1] [--seconds 60] [--rate 200]
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
import uuid

import boto3
import pyarrow.parquet as pq
from deltalake import DeltaTable


def event(event_id, now, pad=200):
    return json.dumps({
        "version": "0", "id": event_id, "detail-type": "prod", "source": "clientevents",
        "account": "123456789012", "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
        "region": "us-east-1", "resources": [f"client-{event_id[:4]}"],
        "detail": {"eventType": "searching", "schemaVersion": 1, "data": {"searchTerm": "x" * pad}},
    }).encode()


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def committed_ids(lake, known_files, seen, now):
    """Adds the ids of `events` files committed since the last look to `seen`."""
    try:
        table = DeltaTable(os.path.join(lake, "events"))
    except Exception:
        return
    for path in table.file_uris():
        if path in known_files:
            continue
        known_files.add(path)
        for event_id in pq.read_table(path.replace("file://", ""), columns=["id"]).column(0).to_pylist():
            seen.setdefault(event_id, now)


def events_committed(lake):
    try:
        actions = DeltaTable(os.path.join(lake, "events")).get_add_actions(flatten=True)
        return sum(actions.column("num_records").to_pylist())
    except Exception:
        return 0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--rate", type=float, default=200.0, help="events a second in the freshness phase")
    parser.add_argument("--binary", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", "/var/tmp/eventlake-target"),
                                                         "release", "eventlake"))
    args = parser.parse_args()
    session = boto3.session.Session(aws_access_key_id="bench", aws_secret_access_key="bench", region_name="us-east-1")
    kinesis = session.client("kinesis", endpoint_url=args.endpoint)
    stream = f"bench-{uuid.uuid4().hex[:10]}"
    kinesis.create_stream(StreamName=stream, ShardCount=args.shards)
    kinesis.get_waiter("stream_exists").wait(StreamName=stream)

    def put(records):
        while records:
            reply = kinesis.put_records(StreamName=stream, Records=records)
            records = [r for r, result in zip(records, reply["Records"]) if "ErrorCode" in result]

    started = time.time()
    batch = []
    for n in range(args.events):
        event_id = str(uuid.uuid4())
        batch.append({"Data": event(event_id, started), "PartitionKey": event_id})
        if len(batch) == 500:
            put(batch)
            batch = []
    if batch:
        put(batch)
    print(f"put {args.events} events into {args.shards} shards in {time.time() - started:.1f}s")

    # The test server's own pace: every shard read to its end by GetRecords, nothing else.
    started = time.time()
    served = 0
    for shard in kinesis.list_shards(StreamName=stream)["Shards"]:
        iterator = kinesis.get_shard_iterator(StreamName=stream, ShardId=shard["ShardId"],
                                              ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        while True:
            page = kinesis.get_records(ShardIterator=iterator, Limit=10000)
            served += len(page["Records"])
            iterator = page["NextShardIterator"]
            if not page["Records"]:
                break
    server_rate = served / (time.time() - started)

    work = tempfile.mkdtemp(prefix="eventlake-kinesis-bench-")
    lake = os.path.join(work, "lake")
    env = dict(os.environ, AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_REGION="us-east-1")
    command = [args.binary, "--endpoint-url", args.endpoint, "compact", "--follow", "--json",
               "--commit-interval", f"{args.interval:g}s", "--source", f"kinesis://{stream}", "--lake", lake]
    log = open(os.path.join(work, "follow.log"), "w")
    started = time.time()
    follow = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, env=env)
    while events_committed(lake) < args.events:
        if follow.poll() is not None:
            raise SystemExit(f"follow exited with {follow.returncode}: {open(log.name).read()[-2000:]}")
        time.sleep(0.1)
    took = time.time() - started
    print(f"throughput: {args.events / took:,.0f} events/s ({args.events} events in {took:.2f}s, process start "
          f"included); the test server alone hands out {server_rate:,.0f} records/s, target >= 50,000/s")

    known_files, seen, put_at = set(), {}, {}
    committed_ids(lake, known_files, {}, 0)
    done = threading.Event()
    curve = []

    def poll():
        while not done.is_set():
            committed_ids(lake, known_files, seen, time.time())
            time.sleep(0.05)

    def sample():
        began = time.time()
        while not done.is_set():
            rss = int(open(f"/proc/{follow.pid}/status").read().split("VmRSS:")[1].split()[0]) // 1024
            curve.append((round(time.time() - began), rss))
            done.wait(10)

    threads = [threading.Thread(target=poll, daemon=True), threading.Thread(target=sample, daemon=True)]
    for thread in threads:
        thread.start()
    began = time.time()
    count = 0
    while time.time() - began < args.seconds:
        event_id = str(uuid.uuid4())
        now = time.time()
        put([{"Data": event(event_id, now), "PartitionKey": event_id}])
        put_at[event_id] = now
        count += 1
        time.sleep(max(0.0, began + count / args.rate - time.time()))
    deadline = time.time() + args.interval + 30
    while time.time() < deadline and any(event_id not in seen for event_id in put_at):
        time.sleep(0.1)
    done.set()
    follow.terminate()
    follow.communicate(timeout=120)
    lags = [seen[event_id] - at for event_id, at in put_at.items() if event_id in seen]
    print(f"freshness at --commit-interval {args.interval:g}s, {len(put_at)} events over {args.seconds}s "
          f"({len(put_at) - len(lags)} not seen): PutRecords to queryable p50 {percentile(lags, 0.5):.2f}s "
          f"(target <= {args.interval / 2 + 1:.1f}s), p99 {percentile(lags, 0.99):.2f}s, "
          f"mean {statistics.mean(lags):.2f}s; exit code {follow.returncode}")
    print("RSS curve (seconds, MiB): " + "; ".join(f"{t}s {rss}" for t, rss in curve), flush=True)
    shutil.rmtree(work, ignore_errors=True)
    os._exit(0)


if __name__ == "__main__":
    main()
