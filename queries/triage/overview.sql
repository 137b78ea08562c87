-- Events, distinct clients and bad records by event type and hour, for one UTC day.
-- Bad records have no trustworthy event type or time: they are counted by ingest hour under `(errors)`.
-- @param day date  The UTC day (YYYY-MM-DD)
SELECT event_type, hour, events, clients, bad_records
FROM (
    SELECT event_type, date_hour(time) AS hour, count(*) AS events,
           count(DISTINCT client_id) AS clients, 0 AS bad_records
    FROM events
    WHERE dt = $day
    GROUP BY event_type, date_hour(time)
    UNION ALL
    SELECT '(errors)' AS event_type, date_hour(ingested_at) AS hour, 0 AS events,
           0 AS clients, count(*) AS bad_records
    FROM errors
    WHERE dt = $day
    GROUP BY date_hour(ingested_at)
)
ORDER BY hour, event_type
