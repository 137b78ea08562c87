-- Events whose ingest time lags their event time beyond a threshold, latest first.
-- @param day date  The UTC day of the events (YYYY-MM-DD)
-- @param threshold_minutes int = 60  A lag over this many minutes is late
SELECT id, event_type, client_id, time, ingested_at,
       (to_unixtime(ingested_at) - to_unixtime(time)) / 60 AS lag_minutes,
       source_object
FROM events
WHERE dt = $day
  AND to_unixtime(ingested_at) - to_unixtime(time) > $threshold_minutes * 60
ORDER BY lag_minutes DESC, id
