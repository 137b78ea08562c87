"""Query benchmark: `eventlake query` vs the `duckdb` CLI on the same Delta table, whole commands
(process start included: that is what an analyst waits for), median of several runs.

DuckDB reads the Parquet files the Delta log lists, with hive partitioning (its delta extension
is downloaded at run time, which this environment does not allow), so it prunes by path as
eventlake prunes by the log.

usage: python benches/query_bench.py [--events N] [--runs R] [--workdir DIR]
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

from deltalake import DeltaTable

DAY = "2026-11-02"


def timed(cmd, runs):
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        result = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        times.append(time.perf_counter() - start)
        if result.returncode != 0:
            sys.exit(f"failed: {cmd[:4]}...: {result.stderr.decode()[:2000]}")
    return statistics.median(times), result.stdout


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--workdir", default="/var/tmp/eventlake-query-bench")
    parser.add_argument("--binary", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", "/var/tmp/eventlake-target"), "release", "eventlake"))
    parser.add_argument("--duckdb", default=os.path.join(os.path.dirname(sys.executable), "duckdb"))
    args = parser.parse_args()

    raw, lake = os.path.join(args.workdir, "raw"), os.path.join(args.workdir, "lake")
    if not os.path.exists(os.path.join(lake, "events", "_delta_log")):
        shutil.rmtree(args.workdir, ignore_errors=True)
        subprocess.run([args.binary, "gen", "--events", str(args.events), "--clients", "20000", "--days", "3",
                        "--gzip", "--out", raw, "--json"], check=True, stdout=subprocess.DEVNULL)
        subprocess.run([args.binary, "compact", "--source", raw, "--lake", lake, "--json"], check=True, stdout=subprocess.DEVNULL)
    events = DeltaTable(f"{lake}/events")
    rows = events.to_pyarrow_dataset().count_rows()
    errors_files = DeltaTable(f"{lake}/errors").file_uris()
    client = subprocess.run([args.binary, "query", "--lake", lake, "--format", "csv",
                             f"SELECT client_id FROM events WHERE dt = '{DAY}' GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"],
                            check=True, capture_output=True, text=True).stdout.splitlines()[1]
    print(f"lake: {rows} events in {len(events.file_uris())} files; client {client}; runs: median of {args.runs}")

    def files(uris):
        return "[" + ", ".join(f"'{u}'" for u in uris) + "]"

    preamble = (
        f"SET TimeZone = 'UTC'; CREATE VIEW events AS SELECT * FROM read_parquet({files(events.file_uris())}, hive_partitioning = true); "
        f"CREATE VIEW errors AS SELECT * FROM read_parquet({files(errors_files)}, hive_partitioning = true); "
    )
    cases = [
        ("triage/overview (one day)",
         ["triage/overview", "--param", f"day={DAY}"],
         f"""SELECT event_type, hour, events, clients, bad_records FROM (
               SELECT event_type, strftime(date_trunc('hour', time), '%Y-%m-%d %H:00') AS hour, count(*) AS events,
                      count(DISTINCT client_id) AS clients, 0 AS bad_records
               FROM events WHERE dt = '{DAY}' GROUP BY ALL
               UNION ALL
               SELECT '(errors)', strftime(date_trunc('hour', ingested_at), '%Y-%m-%d %H:00'), 0, 0, count(*)
               FROM errors WHERE dt = '{DAY}' GROUP BY ALL) ORDER BY hour, event_type"""),
        ("triage/client-timeline (one client, one day)",
         ["triage/client-timeline", "--param", f"client={client}", "--param", f"from={DAY}T00:00:00Z",
          "--param", f"to={DAY}T23:59:59Z"],
         f"""SELECT time, event_type, schema_version, id, detail->>'$.data.searchTerm' AS search_term,
                    CAST(detail->>'$.data.page' AS BIGINT) AS page, CAST(detail->>'$.data.itemSku' AS BIGINT) AS item_sku,
                    detail, source_object
             FROM events WHERE client_id = '{client}' AND time >= TIMESTAMPTZ '{DAY} 00:00:00+00'
               AND time < TIMESTAMPTZ '{DAY} 23:59:59+00' AND dt = '{DAY}' ORDER BY time, id"""),
        ("loyalty/purchases (all days)",
         ["loyalty/purchases"],
         """SELECT dt AS day, client_id, count(*) AS purchases, min(time), max(time) FROM events
            WHERE event_type = 'loyaltypurchase' GROUP BY ALL ORDER BY day, client_id"""),
    ]
    for name, eventlake_args, duck_sql in cases:
        ours, our_out = timed([args.binary, "query", "--lake", lake, "--format", "csv", *eventlake_args], args.runs)
        theirs, their_out = timed([args.duckdb, "-csv", "-c", preamble + duck_sql], args.runs)
        our_rows, their_rows = len(our_out.splitlines()) - 1, len(their_out.splitlines()) - 1
        agree = "same rows" if our_rows == their_rows else f"ROWS DIFFER ({our_rows} vs {their_rows})"
        print(f"{name:48} eventlake {ours:6.3f}s  duckdb {theirs:6.3f}s  ratio {ours / theirs:5.2f}x  ({our_rows} rows, {agree})")


if __name__ == "__main__":
    main()
