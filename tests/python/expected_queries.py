"""Independent answers to eventlake's saved queries, computed by DuckDB over the Parquet files the
Delta log lists. Prints one JSON object keyed by query name.

usage: expected_queries.py LAKE DAY CLIENT FROM TO THRESHOLD_MINUTES"""
import json
import sys

import duckdb
from deltalake import DeltaTable

lake, day, client, start, end, threshold = sys.argv[1:7]
con = duckdb.connect()
con.execute("SET TimeZone = 'UTC'")
con.register("events", con.read_parquet(DeltaTable(f"{lake}/events").file_uris(), hive_partitioning=True))
con.register("errors", con.read_parquet(DeltaTable(f"{lake}/errors").file_uris(), hive_partitioning=True))


def rows(sql, params=None):
    return con.execute(sql, params or {}).fetchall()


out = {}
out["triage/overview"] = sorted(
    [event_type, hour, events, clients, 0]
    for event_type, hour, events, clients in rows(
        "SELECT event_type, strftime(date_trunc('hour', time), '%Y-%m-%d %H:00'), count(*), count(DISTINCT client_id) "
        "FROM events WHERE CAST(dt AS VARCHAR) = $day GROUP BY ALL", {"day": day})
) + sorted(
    ["(errors)", hour, 0, 0, bad]
    for hour, bad in rows(
        "SELECT strftime(date_trunc('hour', ingested_at), '%Y-%m-%d %H:00'), count(*) FROM errors "
        "WHERE CAST(dt AS VARCHAR) = $day GROUP BY ALL", {"day": day})
)
out["triage/client-timeline"] = [
    r[0] for r in rows(
        "SELECT id FROM events WHERE client_id = $client AND time >= CAST($start AS TIMESTAMPTZ) "
        "AND time < CAST($end AS TIMESTAMPTZ) ORDER BY time, id", {"client": client, "start": start, "end": end})
]
out["triage/errors"] = sorted(
    [code, obj, n] for code, obj, n in rows("SELECT error_code, source_object, count(*) FROM errors GROUP BY ALL")
)
out["triage/late-events"] = sorted(
    r[0] for r in rows(
        "SELECT id FROM (SELECT id, time, coalesce(CAST(strptime(nullif(regexp_extract(source_object, "
        "'(\\d{4}-\\d{2}-\\d{2}-\\d{2}-\\d{2}-\\d{2})-[0-9a-f-]{36}$', 1), ''), '%Y-%m-%d-%H-%M-%S') AS TIMESTAMPTZ), "
        "ingested_at) AS arrival FROM events WHERE CAST(dt AS VARCHAR) = $day) "
        "WHERE epoch(arrival) - epoch(time) > $t * 60",
        {"day": day, "t": int(threshold)})
)
out["triage/schema-drift"] = sorted(
    [event_type, version, n] for event_type, version, n in rows(
        "SELECT event_type, schema_version, count(*) FROM events "
        "WHERE (event_type, schema_version) NOT IN (VALUES ('shopping', 1), ('searching', 1), ('paging', 2), "
        "('purchase', 2), ('loyaltypurchase', 2)) GROUP BY ALL")
)
out["loyalty/purchases"] = sorted(
    [str(d), c, n] for d, c, n in rows(
        "SELECT CAST(dt AS VARCHAR), client_id, count(*) FROM events WHERE event_type = 'loyaltypurchase' GROUP BY ALL")
)
print(json.dumps(out, default=str))
