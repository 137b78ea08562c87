"""Reads an eventlake lake with engines other than eventlake's: delta-rs (Python) and DuckDB.

Prints one JSON object of counts and samples for the Rust test to compare.
DuckDB reads the Parquet files the Delta log lists (its delta extension would be downloaded at
run time, which this environment does not allow). On S3 (AWS_ENDPOINT etc. in the environment)
DuckDB scans the table through pyarrow, as its httpfs extension is a download too."""
import json
import os
import sys

import duckdb
from deltalake import DeltaTable

lake = sys.argv[1].rstrip("/")
storage = {
    key: os.environ[key]
    for key in ("AWS_ENDPOINT", "AWS_ALLOW_HTTP", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION")
    if key in os.environ
}
if "AWS_ENDPOINT" in storage:
    storage["AWS_ENDPOINT_URL"] = storage.pop("AWS_ENDPOINT")
events = DeltaTable(f"{lake}/events", storage_options=storage)
table = events.to_pyarrow_table()
ids = table.column("id").to_pylist()
out = {
    "deltalake_rows": table.num_rows,
    "deltalake_distinct_ids": len(set(ids)),
    "partition_columns": events.metadata().partition_columns,
    "errors_rows": DeltaTable(f"{lake}/errors", storage_options=storage).to_pyarrow_table().num_rows,
}
if lake.startswith("s3://"):
    arrow_table = table  # DuckDB scans Arrow memory in place
    relation = duckdb.sql("SELECT * FROM arrow_table")
else:
    relation = duckdb.read_parquet(events.file_uris(), hive_partitioning=True)
rows = duckdb.sql("SELECT count(*), count(DISTINCT id) FROM relation").fetchall()[0]
out["duckdb_rows"], out["duckdb_distinct_ids"] = rows
out["duckdb_partitions"] = [
    [event_type, str(dt), count]
    for event_type, dt, count in duckdb.sql(
        "SELECT event_type, CAST(dt AS VARCHAR), count(*) FROM relation GROUP BY ALL ORDER BY ALL"
    ).fetchall()
]
first = min(ids)
sample = duckdb.sql(
    "SELECT id, client_id, event_type, schema_version, strftime(time AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S'), "
    "json_extract_string(detail, '$.accountNumber') FROM relation WHERE id = $id",
    params={"id": first},
).fetchall()[0]
out["sample"] = [None if v is None else str(v) for v in sample]
print(json.dumps(out), flush=True)
# deltalake 1.6 with pyarrow aborts at interpreter exit about half the time ("terminate called
# without an active exception") after its work is done: leave without that teardown.
os._exit(0)
