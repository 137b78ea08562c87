"""Freshness and flatness of `eventlake compact --follow`.

Objects of about 1 MB (NDJSON, Firehose-style keys at the current hour) land at a steady rate;
for each, the time from its upload to its row in the lake's ledger (the ledger commits last in a
unit, so its events answer queries by then) is measured by polling the ledger. Prints p50 and
p99 against the targets (commit interval / 2 + 1 s, and commit interval + 3 s), and the follow
process's RSS and per-commit time over the run (the flatness curve).

usage: python benches/follow_bench.py --backend local|s3 [--interval 10] [--seconds 300] [--rate 1]
                                     [--prefill LAKE]
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid

from deltalake import DeltaTable


def record(event_id, now):
    return json.dumps({
        "version": "0", "id": event_id, "detail-type": "prod", "source": "clientevents",
        "account": "123456789012", "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
        "region": "us-east-1", "resources": [],
        "detail": {"eventType": "searching", "schemaVersion": 1, "data": {"searchTerm": "x" * 200},
                   "accountNumber": str(uuid.uuid4())},
    })


def object_body(now, records=2500):
    return ("\n".join(record(str(uuid.uuid4()), now) for _ in range(records)) + "\n").encode()


def key_for(now):
    stamp = time.gmtime(now)
    return (time.strftime("raw/%Y/%m/%d/%H/", stamp) + "bench-1-" + time.strftime("%Y-%m-%d-%H-%M-%S", stamp)
            + f"-{uuid.uuid4()}")


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", choices=["local", "s3"], default="local")
    parser.add_argument("--interval", type=int, default=10)
    parser.add_argument("--seconds", type=int, default=300)
    parser.add_argument("--rate", type=float, default=1.0, help="objects per second")
    parser.add_argument("--endpoint", help="the S3/SQS test server (s3 backend)")
    parser.add_argument("--prefill", help="a lake (local folder) to start from, e.g. one whose day of today "
                                          "already holds millions of events (local backend)")
    parser.add_argument("--binary", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", "/var/tmp/eventlake-target"),
                                                         "release", "eventlake"))
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix="eventlake-follow-bench-")
    env = dict(os.environ)
    command = [args.binary, "compact", "--follow", "--json", "--commit-interval", f"{args.interval}s",
               "--metrics-addr", "127.0.0.1:0"]
    metrics_port = None
    if args.backend == "local":
        source, lake = os.path.join(work, "raw"), os.path.join(work, "lake")
        os.makedirs(source)
        staging = os.path.join(work, "staging")
        os.makedirs(staging)

        def upload(key, body):
            # Objects appear whole, as on S3: written aside, then renamed into the source.
            path = os.path.join(source, key)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            temp = os.path.join(staging, uuid.uuid4().hex)
            with open(temp, "wb") as out:
                out.write(body)
            os.rename(temp, path)

        uri_of = lambda key: f"file://{os.path.join(source, key)}"
        ledger_options = None
        if args.prefill:
            shutil.copytree(args.prefill, lake, symlinks=True)
    else:
        import boto3
        env.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_REGION="us-east-1")
        session = boto3.session.Session(aws_access_key_id="bench", aws_secret_access_key="bench",
                                        region_name="us-east-1")
        s3 = session.client("s3", endpoint_url=args.endpoint)
        sqs = session.client("sqs", endpoint_url=args.endpoint)
        bucket = f"follow-{uuid.uuid4().hex[:10]}"
        s3.create_bucket(Bucket=bucket)
        queue_url = sqs.create_queue(QueueName=bucket)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={"QueueConfigurations": [
            {"QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}]})
        source, lake = f"s3://{bucket}/", f"s3://{bucket}/lake"
        command = [args.binary, "--endpoint-url", args.endpoint] + command[1:] + ["--queue", queue_url]
        # The lake is in the same bucket: its notifications must not be taken for input.
        source = f"s3://{bucket}/raw/"
        upload = lambda key, body: s3.put_object(Bucket=bucket, Key=key, Body=body)
        uri_of = lambda key: f"s3://{bucket}/{key}"
        ledger_options = {"AWS_ENDPOINT_URL": args.endpoint, "AWS_ACCESS_KEY_ID": "bench",
                          "AWS_SECRET_ACCESS_KEY": "bench", "AWS_REGION": "us-east-1", "AWS_ALLOW_HTTP": "true"}
    command += ["--source", source, "--lake", lake, "-v"]
    log = open(os.path.join(work, "follow.log"), "w")
    follow = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, env=env)
    # The metrics address is in the log once it listens.
    for _ in range(200):
        text = open(os.path.join(work, "follow.log")).read()
        if "metrics at http://" in text:
            metrics_port = int(text.split("metrics at http://")[1].split("/")[0].rsplit(":", 1)[1])
            break
        time.sleep(0.05)

    uploaded = {}
    seen = {}
    curve = []
    done = threading.Event()

    def poll_ledger():
        while not done.is_set():
            try:
                table = DeltaTable(f"{lake}/source_objects", storage_options=ledger_options)
                for uri in table.to_pyarrow_table(columns=["source_object"]).column(0).to_pylist():
                    seen.setdefault(uri, time.time())
            except Exception:
                pass
            time.sleep(0.2)

    def sample():
        started = time.time()
        while not done.is_set():
            rss = int(open(f"/proc/{follow.pid}/status").read().split("VmRSS:")[1].split()[0]) // 1024
            commits, commit_sum = 0, 0.0
            if metrics_port:
                text = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics").read().decode()
                for line in text.splitlines():
                    if line.startswith("eventlake_commit_duration_seconds_count"):
                        commits = int(float(line.split()[1]))
                    if line.startswith("eventlake_commit_duration_seconds_sum"):
                        commit_sum = float(line.split()[1])
            curve.append((round(time.time() - started), rss, commits, commit_sum))
            done.wait(10)

    threads = [threading.Thread(target=poll_ledger, daemon=True), threading.Thread(target=sample, daemon=True)]
    for thread in threads:
        thread.start()
    start = time.time()
    count = 0
    while time.time() - start < args.seconds:
        now = time.time()
        key = key_for(now)
        upload(key, object_body(now))
        uploaded[uri_of(key)] = time.time()
        count += 1
        time.sleep(max(0.0, start + count / args.rate - time.time()))
    deadline = time.time() + args.interval + 30
    while time.time() < deadline and any(uri not in seen for uri in uploaded):
        time.sleep(0.2)
    done.set()
    follow.terminate()
    totals = follow.communicate(timeout=120)[0].decode()
    lags = [seen[uri] - at for uri, at in uploaded.items() if uri in seen]
    missing = len(uploaded) - len(lags)
    p50, p99 = percentile(lags, 0.5), percentile(lags, 0.99)
    print(f"backend {args.backend}, commit interval {args.interval}s, {len(uploaded)} objects of ~1 MB over {args.seconds}s"
          f" ({missing} not seen), exit code {follow.returncode}")
    print(f"upload to queryable: p50 {p50:.2f}s (target <= {args.interval / 2 + 1:.1f}s), "
          f"p99 {p99:.2f}s (target <= {args.interval + 3:.1f}s), max {max(lags):.2f}s")
    print("curve (seconds, RSS MiB, commits, mean commit s): " + "; ".join(
        f"{t}s {rss}MiB {c} {(s / c if c else 0):.2f}" for t, rss, c, s in curve))
    print(f"totals: {totals.strip()}", flush=True)
    if os.environ.get("EVENTLAKE_BENCH_LOG"):
        # The follow process's log, kept (with RUST_LOG=eventlake=debug, each commit's steps).
        shutil.copy(os.path.join(work, "follow.log"), os.environ["EVENTLAKE_BENCH_LOG"])
    shutil.rmtree(work, ignore_errors=True)
    # deltalake with pyarrow can crash at interpreter exit, after the answer: leave at once.
    os._exit(0)


if __name__ == "__main__":
    main()
