"""Input shapes for the benchmarks that eventlake's own generator does not make: other key
orders, spacing, record sizes, detail depth, objects per partition, late events and empty
texts. Written here, in Python,
so that no shape is tuned by the code it measures. Each shape holds the same envelope
(EventBridge's fields, `detail.eventType`, `detail.schemaVersion`), 1% of its events again in a
later object (same id), and no bad records (DuckDB's fastest path needs clean input).

usage: python benches/shapes.py SHAPE OUT_DIR [--events N] [--seed S]
"""
import argparse
import gzip
import json
import os
import random
import time as clock
import uuid

EVENT_TYPES = [("searching", 1, 40), ("shopping", 1, 25), ("paging", 2, 20), ("purchase", 2, 10),
               ("loyaltypurchase", 2, 5)]
START = 1_794_268_800  # 2026-11-10T00:00:00Z


def pick_type(rng):
    pick = rng.randrange(100)
    for name, version, weight in EVENT_TYPES:
        if pick < weight:
            return name, version
        pick -= weight
    return EVENT_TYPES[0][:2]


def deep_value(rng, depth):
    """A nested detail payload (objects and arrays, several levels), about 1.5 KB at depth 4."""
    if depth == 0:
        return rng.choice([rng.randrange(10**6), "v" * rng.randrange(4, 40), rng.random() < 0.5, None])
    return {
        "level": depth,
        "tags": [f"t{rng.randrange(1000)}" for _ in range(rng.randrange(2, 6))],
        "items": [deep_value(rng, depth - 1) for _ in range(2)],
        "note": "n" * rng.randrange(10, 60),
    }


def event(rng, shape, seconds, client):
    event_type, version = pick_type(rng)
    data = {"searchTerm": rng.choice(["games", "shoes", "tv", "phone case"])}
    if event_type in ("shopping", "purchase", "loyaltypurchase"):
        data = {"itemSku": rng.randrange(100, 100_000)}
    if shape == "large-detail":
        data["context"] = deep_value(rng, 4)
    detail = {"eventType": event_type, "schemaVersion": version, "data": data}
    envelope = {
        "version": "0", "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "detail-type": "prod", "source": "clientevents", "account": "123456789012",
        "time": clock.strftime("%Y-%m-%dT%H:%M:%SZ", clock.gmtime(seconds)),
        "region": "eu-west-1", "resources": [client], "detail": detail,
    }
    if shape == "late-events":
        # A fifth of the events come hours to a month late (clients that were offline), from
        # an app build that sends empty `region` and `source`: many small partitions a day.
        if rng.random() < 0.2:
            seconds -= rng.randrange(3600, 30 * 86_400)
            envelope["time"] = clock.strftime("%Y-%m-%dT%H:%M:%SZ", clock.gmtime(seconds))
            envelope["region"] = ""
            envelope["source"] = ""
    if shape == "python-spaced":
        # After the sample's transform (accountNumber from resources), keys in another order.
        detail["accountNumber"] = client
        envelope["resources"] = []
        keys = list(envelope)
        rng.shuffle(keys)
        envelope = {key: envelope[key] for key in keys}
    return envelope


SHAPES = {
    # name: (events an object, serialise, run together, gzip)
    "compact-ndjson": (5000, lambda e: json.dumps(e, separators=(",", ":")), False, False),
    "python-spaced": (4000, json.dumps, True, True),
    "large-detail": (1000, lambda e: json.dumps(e, separators=(",", ":")), False, False),
    "tiny-objects": (200, lambda e: json.dumps(e, separators=(",", ":")), False, False),
    "late-events": (5000, lambda e: json.dumps(e, separators=(",", ":")), False, False),
}


def write(shape, out, events, seed):
    per_object, serialise, run_together, compress = SHAPES[shape]
    rng = random.Random(seed)
    clients = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(5000)]
    written, duplicates, objects, size = 0, 0, 0, 0
    earlier = []
    while written < events:
        body = []
        hour = START + (written * 86_400 * 2 // events)  # two days, in order
        for _ in range(min(per_object, events - written)):
            if earlier and rng.random() < 0.01:
                record = earlier[rng.randrange(len(earlier))]
                duplicates += 1
            else:
                record = serialise(event(rng, shape, hour + rng.randrange(3600), rng.choice(clients)))
                if len(earlier) < 10_000:
                    earlier.append(record)
                elif rng.random() < 0.01:
                    earlier[rng.randrange(len(earlier))] = record
            body.append(record)
            written += 1
        data = ("".join(body) if run_together else "\n".join(body) + "\n").encode()
        if compress:
            data = gzip.compress(data, compresslevel=6)
        stamp = clock.strftime("%Y/%m/%d/%H", clock.gmtime(hour))
        path = os.path.join(out, stamp, f"stream-1-{objects:06d}-{uuid.UUID(int=rng.getrandbits(128))}")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as file:
            file.write(data)
        objects += 1
        size += len(data)
    return {"events": written - duplicates, "records": written, "duplicates": duplicates,
            "objects": objects, "bytes": size, "gzip": compress, "run_together": run_together}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("shape", choices=sorted(SHAPES))
    parser.add_argument("out")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    print(json.dumps(write(args.shape, args.out, args.events, args.seed)))


if __name__ == "__main__":
    main()
