"""Sail answers eventlake's triage queries over a lake: a Spark Connect server in local-cluster mode
(a driver and two workers in this process, talking RPC), pyspark-client, and
`spark.read.format("delta").load(...)` for each table of the lake.

Prints one JSON list: for each run, its rows as objects with the columns eventlake's saved query
returns, timestamps written as eventlake's JSON output writes them (RFC 3339, UTC, `Z`).

usage: sail_reads_lake.py LAKE RUNS [DDL]
  LAKE  a local lake folder
  RUNS  JSON: [{"query": "triage/overview", "params": {"day": "2026-11-01"}}, ...]; every
        parameter is given (no defaults), with its JSON type (threshold_minutes is a number)
  DDL   `eventlake catalog ddl --engine spark`'s statements: the tables are registered in Sail's
        catalog by running them (database `eventlake`), not read with spark.read"""
import datetime
import json
import os
import sys
import time

# The queries of queries/triage/ in Spark SQL: eventlake's own functions (date_hour,
# arrival_time, json_get_*) spelled with Spark's, `first_value(x ORDER BY y)` as `min_by`, and
# `/` on integers as `div` (Spark's `/` is always floating point). The keys of detail.data come
# from `map_keys(from_json(...))`: Sail 0.7.2 runs `json_object_keys` in local mode only (in
# local-cluster mode: "ExtendedScalarUdf: no UDF found for json_object_keys").
SPARK_SQL = {
    "triage/overview": """
        SELECT event_type, hour, events, clients, bad_records
        FROM (
            SELECT event_type, date_format(date_trunc('HOUR', time), 'yyyy-MM-dd HH:mm') AS hour,
                   count(*) AS events, count(DISTINCT client_id) AS clients, 0 AS bad_records
            FROM events
            WHERE dt = :day
            GROUP BY 1, 2
            UNION ALL
            SELECT '(errors)' AS event_type,
                   date_format(date_trunc('HOUR', ingested_at), 'yyyy-MM-dd HH:mm') AS hour,
                   0 AS events, 0 AS clients, count(*) AS bad_records
            FROM errors
            WHERE dt = :day
            GROUP BY 2
        )
        ORDER BY hour, event_type""",
    "triage/client-timeline": """
        SELECT time, event_type, schema_version, id,
               get_json_object(detail, '$.data.searchTerm') AS search_term,
               try_cast(get_json_object(detail, '$.data.page') AS BIGINT) AS page,
               try_cast(get_json_object(detail, '$.data.itemSku') AS BIGINT) AS item_sku,
               detail, source_object
        FROM events
        WHERE client_id = :client
          AND time >= CAST(:from AS TIMESTAMP) AND time < CAST(:to AS TIMESTAMP)
          AND dt >= date_format(CAST(:from AS TIMESTAMP), 'yyyy-MM-dd')
          AND dt <= date_format(CAST(:to AS TIMESTAMP), 'yyyy-MM-dd')
        ORDER BY time, id""",
    "triage/errors": """
        SELECT error_code, source_object, count(*) AS records,
               min(byte_offset) AS first_offset,
               min_by(error_message, byte_offset) AS first_message,
               substr(min_by(raw_text, byte_offset), 1, 120) AS sample
        FROM errors
        WHERE dt >= :since
        GROUP BY error_code, source_object
        ORDER BY records DESC, error_code, source_object""",
    "triage/late-events": """
        SELECT id, event_type, client_id, time, arrival,
               (unix_timestamp(arrival) - unix_timestamp(time)) div 60 AS lag_minutes,
               source_object
        FROM (
            SELECT *, coalesce(
                       to_timestamp(nullif(regexp_extract(source_object,
                           '([0-9]{4}-[0-9]{2}-[0-9]{2}-[0-9]{2}-[0-9]{2}-[0-9]{2})-[0-9a-f-]{36}$', 1), ''),
                           'yyyy-MM-dd-HH-mm-ss'),
                       ingested_at) AS arrival
            FROM events
            WHERE dt = :day
        )
        WHERE unix_timestamp(arrival) - unix_timestamp(time) > :threshold_minutes * 60
        ORDER BY lag_minutes DESC, id""",
    "triage/schema-drift": """
        WITH expected (event_type, schema_version, data_keys) AS (
            VALUES ('shopping', 1, 'itemSku'), ('searching', 1, 'searchTerm'), ('paging', 2, 'page,searchTerm'),
                   ('purchase', 2, 'itemSku'), ('loyaltypurchase', 2, 'itemSku')
        ),
        seen AS (
            SELECT event_type, schema_version,
                   array_join(array_sort(map_keys(from_json(get_json_object(detail, '$.data'), 'map<string,string>'))),
                              ',') AS data_keys,
                   count(*) AS events, min(time) AS first_seen, max(time) AS last_seen, min(id) AS sample_id
            FROM events
            WHERE dt BETWEEN :from AND :to
            GROUP BY 1, 2, 3
        )
        SELECT s.event_type, s.schema_version, s.data_keys, s.events, s.first_seen, s.last_seen, s.sample_id,
               CASE WHEN known_type.event_type IS NULL THEN 'unknown event type'
                    WHEN known_version.event_type IS NULL THEN 'unexpected schemaVersion'
                    ELSE 'unexpected detail shape' END AS drift
        FROM seen s
        LEFT JOIN (SELECT DISTINCT event_type FROM expected) known_type
               ON known_type.event_type = s.event_type
        LEFT JOIN (SELECT DISTINCT event_type, schema_version FROM expected) known_version
               ON known_version.event_type = s.event_type AND known_version.schema_version = s.schema_version
        LEFT JOIN expected x
               ON x.event_type = s.event_type AND x.schema_version = s.schema_version AND x.data_keys = s.data_keys
        WHERE x.event_type IS NULL
        ORDER BY s.events DESC, s.event_type""",
}


def as_eventlake_writes(value):
    """A timestamp as Arrow's JSON writer spells it: `2026-11-01T06:00:39Z`, `….021Z`, `….021543Z`."""
    if not isinstance(value, datetime.datetime):
        return value
    text = value.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond % 1000:
        text += f".{value.microsecond:06d}"
    elif value.microsecond:
        text += f".{value.microsecond // 1000:03d}"
    return text + "Z"


def main(lake, runs, ddl=None):
    # Sail reads its configuration from the environment when the server is made. All tasks of a
    # pipelined region must have slots at once: with 8 a worker (the default) the schema-drift
    # plan fails ("task region requires 17 worker task slots, but the configured maximum is 16").
    os.environ.update(
        SAIL_MODE="local-cluster",
        SAIL_CLUSTER__WORKER_INITIAL_COUNT="2",
        SAIL_CLUSTER__WORKER_MAX_COUNT="2",
        SAIL_CLUSTER__WORKER_TASK_SLOTS="64",
    )
    from pysail.spark import SparkConnectServer
    from pyspark.sql import SparkSession

    started = time.monotonic()
    server = SparkConnectServer("127.0.0.1", 0)
    server.start(background=True)
    spark = None
    try:
        _, port = server.listening_address
        spark = SparkSession.builder.remote(f"sc://127.0.0.1:{port}").getOrCreate()
        spark.conf.set("spark.sql.session.timeZone", "UTC")
        tables = sorted(
            name for name in os.listdir(lake) if os.path.isdir(os.path.join(lake, name, "_delta_log"))
        )
        if "events" not in tables:
            raise RuntimeError(f"{lake} holds no events table (tables: {tables})")
        if ddl is not None:
            spark.sql("CREATE DATABASE IF NOT EXISTS eventlake")
            for statement in open(ddl).read().split(";"):
                lines = [line for line in statement.splitlines() if not line.startswith("--")]
                if "".join(lines).strip():
                    spark.sql("\n".join(lines))
            spark.catalog.setCurrentDatabase("eventlake")
        else:
            for name in tables:
                spark.read.format("delta").load(os.path.join(lake, name)).createOrReplaceTempView(name)
        results = []
        for run in runs:
            query = run["query"]
            try:
                rows = spark.sql(SPARK_SQL[query], args=run["params"]).toArrow().to_pylist()
            except Exception as error:
                raise RuntimeError(f"{query} {run['params']}: {error}") from error
            results.append([{k: as_eventlake_writes(v) for k, v in row.items()} for row in rows])
        print(json.dumps(results), flush=True)
        print(f"sail_reads_lake: {len(runs)} queries in {time.monotonic() - started:.1f}s", file=sys.stderr)
    finally:
        if spark is not None:
            spark.stop()
        server.stop()


if __name__ == "__main__":
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    try:
        main(os.path.abspath(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3] if len(sys.argv) == 4 else None)
    except Exception as error:
        sys.exit(f"sail_reads_lake: {type(error).__name__}: {error}")
