"""Compaction benchmark: eventlake vs DuckDB's COPY ... (FORMAT parquet, PARTITION_BY ...).

Both compact the same raw objects, in the same run, as whole commands. Prints wall times, the
ratio, and each command's peak RSS (getrusage of the child). DuckDB does less work here: it
deduplicates with `DISTINCT ON (id)` but keeps no exactly-once bookkeeping and no error table;
it is the speed bar, not a peer. The input is clean (no bad records), so DuckDB gets its fastest
path: a typed `read_json` without `filename` or `ignore_errors`.

The input is either eventlake's own generator (`--layout`) or one of the shapes of
`benches/shapes.py` (`--shape`), written by other code: other key orders, spacing, sizes, depth
and objects per partition.

Each command runs once to warm the page cache, then `--runs` times (default 3), alternating, each
into a fresh output folder; the medians are compared.

usage: python benches/compact_bench.py [--events N] [--layout firehose|ndjson [--gzip] | --shape NAME]
                                       [--runs N] [--workdir DIR]
"""
import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def run(cmd, **kw):
    """Runs cmd in a fresh process; returns (seconds, peak RSS MiB, stdout)."""
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        if kw.get("stdout"):
            fd = os.open(kw["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            os.dup2(fd, 1)
        os.execvp(cmd[0], cmd)
    _, status, usage = os.wait4(pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"command failed: {' '.join(cmd)}")
    return seconds, usage.ru_maxrss / 1024.0


DUCKDB_SQL = """
SET threads = {threads};
COPY (
  SELECT DISTINCT ON (id) id, "detail-type" AS detail_type, source, account,
         CAST(time AS TIMESTAMPTZ) AS time, region, resources,
         COALESCE(detail->>'accountNumber', resources[1]) AS client_id,
         detail->>'eventType' AS event_type,
         TRY_CAST(detail->>'schemaVersion' AS BIGINT) AS schema_version,
         CAST(detail AS VARCHAR) AS detail, now() AS ingested_at,
         strftime(CAST(time AS TIMESTAMP), '%Y-%m-%d') AS dt
  FROM read_json('{raw}/**', format = '{format}', compression = '{compression}',
       columns = {{'version': 'VARCHAR', 'id': 'VARCHAR', 'detail-type': 'VARCHAR', 'source': 'VARCHAR',
                  'account': 'VARCHAR', 'time': 'VARCHAR', 'region': 'VARCHAR', 'resources': 'VARCHAR[]',
                  'detail': 'JSON'}})
  WHERE id IS NOT NULL AND detail IS NOT NULL
) TO '{out}' (FORMAT parquet, PARTITION_BY (event_type, dt), COMPRESSION zstd, OVERWRITE_OR_IGNORE);
"""


def make_input(args, raw, summary_path):
    """Writes the bench's raw objects into `raw`: eventlake's generator (`args.layout`,
    `args.gzip`) or a shape of shapes.py (`args.shape`). Returns the generator's summary with
    `label`, `gzip` and `run_together` set."""
    if args.shape:
        gen = [sys.executable, os.path.join(HERE, "shapes.py"), args.shape, raw, "--events", str(args.events)]
    else:
        gen = [args.binary, "generate", "--events", str(args.events), "--clients", "5000", "--days", "3",
               "--layout", args.layout, "--bad-rate", "0", "--out", raw, "--json"]
        if args.gzip:
            gen.append("--gzip")
    run(gen, stdout=summary_path)
    summary = json.load(open(summary_path))
    if args.shape:
        summary["label"] = args.shape
    else:
        summary["label"] = args.layout + (", gzip" if args.gzip else "")
        summary["gzip"], summary["run_together"] = args.gzip, args.layout != "ndjson"
    return summary


def duckdb_sql(summary, raw, out, threads):
    """DuckDB's compaction of `raw` into hive-partitioned Parquet at `out`."""
    # DuckDB reads run-together records ({..}{..}) with format 'unstructured', and picks
    # decompression by file extension, which Firehose keys have none of.
    return DUCKDB_SQL.format(threads=threads, raw=raw, out=out,
                             format="unstructured" if summary["run_together"] else "newline_delimited",
                             compression="gzip" if summary["gzip"] else "uncompressed")


def can_import(module):
    try:
        __import__(module)
        return True
    except ImportError:
        return False


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--layout", default="firehose")
    parser.add_argument("--shape", help="an input shape of benches/shapes.py instead of --layout")
    parser.add_argument("--gzip", action="store_true")
    parser.add_argument("--workdir", default="/var/tmp/eventlake-bench")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--binary", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", "/var/tmp/eventlake-target"), "release", "eventlake"))
    parser.add_argument("--duckdb", default=os.path.join(os.path.dirname(sys.executable), "duckdb"))
    args = parser.parse_args()

    shutil.rmtree(args.workdir, ignore_errors=True)
    raw, lake, duck_out = (os.path.join(args.workdir, name) for name in ("raw", "lake", "duck"))
    started = time.perf_counter()
    summary = make_input(args, raw, args.workdir + ".gen.json")
    print(f"input: {summary['events']} events, {summary['duplicates']} duplicates, "
          f"{summary['objects']} objects, {summary['bytes'] / 2**20:.0f} MiB ({summary['label']}); "
          f"gen took {time.perf_counter() - started:.2f}s")

    script = os.path.join(args.workdir, "duck.sql")
    open(script, "w").write(duckdb_sql(summary, raw, duck_out, args.threads))
    duck_cmd = [args.duckdb, "-c", f".read {script}"]

    def eventlake_once():
        shutil.rmtree(lake, ignore_errors=True)
        return run([args.binary, "compact", "--source", raw, "--lake", lake, "--json"],
                   stdout=os.path.join(args.workdir, "compact.json"))

    def duckdb_once():
        shutil.rmtree(duck_out, ignore_errors=True)
        return run(duck_cmd)

    # Polars reads plain NDJSON only (not records run together, not gzip): there it runs too.
    polars_cmd = None
    if not summary["gzip"] and not summary["run_together"] and can_import("polars"):
        polars_out = os.path.join(args.workdir, "polars")
        polars_cmd = [sys.executable, os.path.join(HERE, "polars_compact.py"), raw, polars_out, str(args.threads)]

    def polars_once():
        shutil.rmtree(polars_out, ignore_errors=True)
        return run(polars_cmd)

    eventlake_once(), duckdb_once()  # warm-up: the page cache holds the input for both
    if polars_cmd:
        polars_once()
    el_runs, duck_runs, polars_runs = [], [], []
    for _ in range(args.runs):
        el_runs.append(eventlake_once())
        duck_runs.append(duckdb_once())
        if polars_cmd:
            polars_runs.append(polars_once())
    median = lambda values: sorted(values)[len(values) // 2]
    el_seconds, el_rss = median([r[0] for r in el_runs]), max(r[1] for r in el_runs)
    duck_seconds, duck_rss = median([r[0] for r in duck_runs]), max(r[1] for r in duck_runs)
    metrics = json.load(open(os.path.join(args.workdir, "compact.json")))
    assert metrics["records_written"] == summary["events"], metrics
    import duckdb
    duck_rows = duckdb.sql(f"SELECT count(*) FROM read_parquet('{duck_out}/**/*.parquet')").fetchone()[0]
    assert duck_rows == summary["events"], (duck_rows, summary["events"])
    print(f"eventlake compact: median {el_seconds:.2f}s of {[round(r[0], 2) for r in el_runs]}, peak RSS {el_rss:.0f} MiB, "
          f"{metrics['records_written']} written, {metrics['duplicates']} duplicates, {metrics['errors']} errors, "
          f"{metrics['files_written']} files")
    gigabytes = metrics["bytes_in"] / 1e9
    stages = ", ".join(f"{name} {seconds / gigabytes:.1f}" for name, seconds in metrics["stages"].items())
    print(f"eventlake CPU s per GB of input: {stages}; process {metrics['cpu_seconds'] / gigabytes:.1f} "
          f"({metrics['cpu_seconds']:.2f} CPU s in {metrics['seconds']:.2f} s)")
    print(f"duckdb COPY:       median {duck_seconds:.2f}s of {[round(r[0], 2) for r in duck_runs]}, peak RSS {duck_rss:.0f} MiB")
    print(f"ratio eventlake/duckdb: {el_seconds / duck_seconds:.2f}x time "
          f"({'faster' if el_seconds < duck_seconds else 'slower'})")
    if polars_cmd:
        polars_seconds, polars_rss = median([r[0] for r in polars_runs]), max(r[1] for r in polars_runs)
        polars_rows = duckdb.sql(f"SELECT count(*) FROM read_parquet('{polars_out}/**/*.parquet')").fetchone()[0]
        assert polars_rows == summary["events"], (polars_rows, summary["events"])
        print(f"polars sink_parquet: median {polars_seconds:.2f}s of {[round(r[0], 2) for r in polars_runs]}, "
              f"peak RSS {polars_rss:.0f} MiB")
        print(f"ratio eventlake/polars: {el_seconds / polars_seconds:.2f}x time "
              f"({'faster' if el_seconds < polars_seconds else 'slower'})")


if __name__ == "__main__":
    main()
