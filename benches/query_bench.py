"""Query benchmark: whole `eventlake query` commands against the `duckdb` CLI over DuckDB's own
hive-partitioned Parquet of the same data (its `COPY ... PARTITION_BY (event_type, dt)` from
compact_bench), so each engine reads the files it wrote. Process start is included: that is what
an analyst waits for. Median of `--runs` after a warm-up; the answers are compared.

The input is eventlake's generator (`--layout`, `--gzip`) or a shape of benches/shapes.py
(`--shape`), as for compact_bench.

usage: python benches/query_bench.py [--events N] [--runs R] [--layout L [--gzip] | --shape S] [--workdir DIR]
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compact_bench import duckdb_sql, make_input  # noqa: E402


def timed(cmd, runs):
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # warm-up
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        result = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        times.append(time.perf_counter() - start)
        if result.returncode != 0:
            sys.exit(f"failed: {cmd[:4]}...: {result.stderr.decode()[:2000]}")
    return statistics.median(times), result.stdout.decode()


def query(args, lake, sql):
    """The CSV rows (header dropped) of one eventlake query."""
    out = subprocess.run([args.binary, "query", "--lake", lake, "--format", "csv", sql],
                         check=True, capture_output=True, text=True).stdout
    return out.splitlines()[1:]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--layout", default="firehose")
    parser.add_argument("--gzip", action="store_true")
    parser.add_argument("--shape", help="an input shape of benches/shapes.py instead of --layout")
    parser.add_argument("--workdir", default="/var/tmp/eventlake-query-bench")
    parser.add_argument("--binary", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", "/var/tmp/eventlake-target"), "release", "eventlake"))
    parser.add_argument("--duckdb", default=os.path.join(os.path.dirname(sys.executable), "duckdb"))
    parser.add_argument("--rebuild", action="store_true", help="compact again even if the lake exists")
    args = parser.parse_args()

    raw, lake, duck = (os.path.join(args.workdir, name) for name in ("raw", "lake", "duck"))
    if args.rebuild or not os.path.exists(os.path.join(duck, "done")):
        shutil.rmtree(args.workdir, ignore_errors=True)
        os.makedirs(args.workdir)
        summary = make_input(args, raw, os.path.join(args.workdir, "gen.json"))
        subprocess.run([args.binary, "compact", "--source", raw, "--lake", lake, "--json"], check=True,
                       stdout=subprocess.DEVNULL)
        import duckdb
        duckdb.connect().execute(duckdb_sql(summary, raw, duck, os.cpu_count() or 2))
        open(os.path.join(duck, "done"), "w").close()
    # The busiest day, its busiest client, and one event of it: found, not assumed.
    day = query(args, lake, "SELECT dt FROM events GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1")[0]
    client = query(args, lake, f"SELECT client_id FROM events WHERE dt = '{day}' "
                               "GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1")[0]
    event_id = query(args, lake, f"SELECT min(id) FROM events WHERE dt = '{day}' AND client_id = '{client}'")[0]
    label = args.shape or args.layout + (", gzip" if args.gzip else "")
    print(f"lake: {args.events} events ({label}); day {day}, client {client}; median of {args.runs} after a warm-up")

    preamble = (f"SET TimeZone = 'UTC'; CREATE VIEW events AS SELECT * FROM "
                f"read_parquet('{duck}/*/*/*.parquet', hive_partitioning = true); ")
    cases = [
        ("full scan: per event type and day, distinct clients",
         "SELECT event_type, dt, count(*) AS events, count(DISTINCT client_id) AS clients "
         "FROM events GROUP BY event_type, dt ORDER BY event_type, dt",
         None, True),
        ("one client's day",
         f"SELECT time, event_type, id, detail FROM events WHERE client_id = '{client}' AND dt = '{day}' ORDER BY time, id",
         None, False),
        ("loyalty points per client for a day (JSON)",
         f"SELECT client_id, sum(json_get_int(detail, 'data', 'itemSku')) AS points FROM events "
         f"WHERE event_type = 'loyaltypurchase' AND dt = '{day}' GROUP BY client_id ORDER BY points DESC, client_id",
         f"SELECT client_id, sum(CAST(detail->>'$.data.itemSku' AS BIGINT)) AS points FROM events "
         f"WHERE event_type = 'loyaltypurchase' AND dt = '{day}' GROUP BY client_id ORDER BY points DESC, client_id",
         True),
        ("one event by id",
         f"SELECT id, event_type, client_id, dt FROM events WHERE id = '{event_id}'",
         None, True),
    ]
    for name, sql, duck_sql, same_text in cases:
        ours, our_out = timed([args.binary, "query", "--lake", lake, "--format", "csv", sql], args.runs)
        theirs, their_out = timed([args.duckdb, "-csv", "-c", preamble + (duck_sql or sql)], args.runs)
        our_lines, their_lines = our_out.splitlines()[1:], their_out.splitlines()[1:]
        if same_text:
            agree = "same answer" if our_lines == their_lines else "ANSWERS DIFFER"
        else:
            agree = "same rows" if len(our_lines) == len(their_lines) else "ROW COUNTS DIFFER"
        print(f"{name:52} eventlake {ours:6.3f}s  duckdb {theirs:6.3f}s  ratio {ours / theirs:5.2f}x  "
              f"({len(our_lines)} rows, {agree})")
    ours, _ = timed([args.binary, "query", "--lake", lake, "--format", "csv", "SELECT 1"], args.runs)
    theirs, _ = timed([args.duckdb, "-csv", "-c", "SELECT 1"], args.runs)
    print(f"{'process start (SELECT 1)':52} eventlake {ours:6.3f}s  duckdb {theirs:6.3f}s")


if __name__ == "__main__":
    main()
