"""Polars' compaction of plain NDJSON objects, for compact_bench: `scan_ndjson`, the envelope's
typed columns and `detail` as JSON text, `unique` on id (first kept), and a zstd `sink_parquet`
partitioned by (event_type, dt). Like DuckDB's, it keeps no bookkeeping and no error table.

usage: python benches/polars_compact.py RAW_DIR OUT_DIR THREADS
"""
import glob
import os
import sys

raw, out, threads = sys.argv[1], sys.argv[2], sys.argv[3]
os.environ["POLARS_MAX_THREADS"] = threads
import polars as pl  # noqa: E402  (reads POLARS_MAX_THREADS when imported)

files = sorted(path for path in glob.glob(os.path.join(raw, "**", "*"), recursive=True) if os.path.isfile(path))
scan = pl.scan_ndjson(files, infer_schema_length=10_000)
detail_fields = {field.name for field in scan.collect_schema()["detail"].fields}
# The sample's transform takes the client from detail.accountNumber, else resources[0].
account_number = (pl.col("detail").struct.field("accountNumber") if "accountNumber" in detail_fields
                  else pl.lit(None, pl.String))
events = (
    scan
    .filter(pl.col("id").is_not_null() & pl.col("detail").is_not_null())
    .unique(subset="id", keep="first", maintain_order=True)
    .select(
        "id",
        pl.col("detail-type").alias("detail_type"),
        "source",
        "account",
        pl.col("time").str.to_datetime("%Y-%m-%dT%H:%M:%SZ", time_zone="UTC"),
        "region",
        "resources",
        pl.coalesce(account_number, pl.col("resources").list.first()).alias("client_id"),
        pl.col("detail").struct.field("eventType").alias("event_type"),
        pl.col("detail").struct.field("schemaVersion").cast(pl.Int64, strict=False).alias("schema_version"),
        pl.col("detail").struct.json_encode().alias("detail"),
        pl.col("time").str.slice(0, 10).alias("dt"),
    )
)
events.sink_parquet(pl.PartitionBy(out, key=["event_type", "dt"]), compression="zstd", mkdir=True)
