"""A Kinesis stream on the test server (moto), for `compact --follow --source kinesis://…`.

    kinesis.py create ENDPOINT STREAM SHARDS        a new stream, once it is ACTIVE
    kinesis.py put ENDPOINT STREAM SEED COUNT [clean]
                                                    COUNT EventBridge events as records (PutRecords,
                                                    500 a call); prints what the lake should hold
                                                    as JSON: {"ids": distinct ids, "bad": bad records};
                                                    clean: no bad records (the test server copies a
                                                    shard's records on a split or merge, and a bad
                                                    record read twice is two error rows); records
                                                    go to open shards, as Kinesis puts them (see
                                                    open_routes)
    kinesis.py split ENDPOINT STREAM                splits the first open shard in two
    kinesis.py merge ENDPOINT STREAM                merges the first two adjacent open shards
    kinesis.py shards ENDPOINT STREAM               prints the open shards' ids

Records are shaped as EventBridge's Kinesis target puts them (one event's JSON), with what
producers add: a few records holding two events run together or one a line, ids put twice
(a retried PutRecords), and bad records (not JSON, cut short).
"""
import hashlib
import json
import random
import sys
import time
import uuid

import boto3

command, endpoint, stream = sys.argv[1:4]
session = boto3.session.Session(aws_access_key_id="eventlake-test", aws_secret_access_key="eventlake-test-secret",
                                region_name="us-east-1")
kinesis = session.client("kinesis", endpoint_url=endpoint)

EVENT_TYPES = ["searching", "viewing", "purchase", "loyaltypurchase", "signin"]


def event(rng):
    client = f"client-{rng.randrange(200)}"
    moment = 1_796_000_000 + rng.randrange(86_400 * 3)
    detail = {"eventType": rng.choice(EVENT_TYPES), "schemaVersion": 1,
              "data": {"page": rng.randrange(50), "points": rng.randrange(1000), "note": "x" * rng.randrange(40)}}
    envelope = {"version": "0", "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "detail-type": "prod", "source": "clientevents", "account": "123456789012",
                "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(moment)), "region": "us-east-1",
                "resources": [client], "detail": detail}
    return client, envelope


def put(seed, count, clean):
    rng = random.Random(seed)
    ids, bad = set(), 0
    records = []
    sent = 0
    while sent < count:
        client, first = event(rng)
        roll = rng.random()
        is_bad = roll < 0.01 and not clean
        if is_bad:
            data = rng.choice([b"not json at all", b'{"id": "cut short", "detail": {'])
        elif roll < 0.03:
            _, second = event(rng)
            joiner = rng.choice(["", "\n"])
            data = (json.dumps(first) + joiner + json.dumps(second, separators=(",", ":"))).encode()
            ids.update([first["id"], second["id"]])
        else:
            data = json.dumps(first).encode() + rng.choice([b"", b"\n"])
            ids.add(first["id"])
        # A retried put sends the record twice: its events land once, a bad one is two errors.
        for _ in range(2 if rng.random() < 0.01 else 1):
            records.append({"Data": data, "PartitionKey": client})
            bad += is_bad
        sent += 1
        if len(records) >= 500:
            send(records)
            records = []
    if records:
        send(records)
    print(json.dumps({"ids": len(ids), "bad": bad}))


def open_routes():
    """The hash key ranges of the open shards a put reaches. Real Kinesis never puts into a
    closed shard; the test server gives a key to the first shard created that covers it, closed
    or not, so after a split or merge it keeps filling the parent, which a reader that has read
    the parent to its end never reads again. Keys go where Kinesis would send them: open shards
    no closed one created before them overlaps."""
    shards = kinesis.list_shards(StreamName=stream)["Shards"]  # in creation order
    routes, closed = [], []
    for shard in shards:
        low = int(shard["HashKeyRange"]["StartingHashKey"])
        high = int(shard["HashKeyRange"]["EndingHashKey"])
        if "EndingSequenceNumber" in shard["SequenceNumberRange"]:
            closed.append((low, high))
        elif not any(low <= other_high and other_low <= high for other_low, other_high in closed):
            routes.append((low, high))
    if not routes:
        sys.exit("no open shard the test server routes puts to")
    return routes


def route(records):
    """Gives each record whose partition key the test server would put into a closed shard an
    explicit hash key in an open one (the same for every record of that key)."""
    routes = open_routes()
    for record in records:
        key = int(hashlib.md5(record["PartitionKey"].encode()).hexdigest(), 16)
        if not any(low <= key < high for low, high in routes):
            low, high = routes[key % len(routes)]
            record["ExplicitHashKey"] = str(low + key % (high - low))
    return records


def send(records):
    records = route(records)
    for start in range(0, len(records), 500):
        chunk = records[start:start + 500]
        while chunk:
            reply = kinesis.put_records(StreamName=stream, Records=chunk)
            chunk = [record for record, result in zip(chunk, reply["Records"]) if "ErrorCode" in result]


def open_shards():
    shards = kinesis.list_shards(StreamName=stream)["Shards"]
    return [shard for shard in shards if "EndingSequenceNumber" not in shard["SequenceNumberRange"]]


if command == "create":
    kinesis.create_stream(StreamName=stream, ShardCount=int(sys.argv[4]))
    kinesis.get_waiter("stream_exists").wait(StreamName=stream)
elif command == "put":
    put(int(sys.argv[4]), int(sys.argv[5]), sys.argv[6:] == ["clean"])
elif command == "split":
    shard = open_shards()[0]
    low, high = int(shard["HashKeyRange"]["StartingHashKey"]), int(shard["HashKeyRange"]["EndingHashKey"])
    kinesis.split_shard(StreamName=stream, ShardToSplit=shard["ShardId"], NewStartingHashKey=str((low + high) // 2))
elif command == "merge":
    shards = sorted(open_shards(), key=lambda shard: int(shard["HashKeyRange"]["StartingHashKey"]))
    for left, right in zip(shards, shards[1:]):
        if int(left["HashKeyRange"]["EndingHashKey"]) + 1 == int(right["HashKeyRange"]["StartingHashKey"]):
            kinesis.merge_shards(StreamName=stream, ShardToMerge=left["ShardId"],
                                 AdjacentShardToMerge=right["ShardId"])
            break
    else:
        sys.exit("no two adjacent open shards")
elif command == "shards":
    print(" ".join(shard["ShardId"] for shard in open_shards()))
else:
    sys.exit(f"unknown command {command}")
