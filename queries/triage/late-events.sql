-- Events that reached S3 long after they happened, latest first: the lag is Firehose's arrival
-- time (from the object's name, else the ingest time) minus the event's own time.
-- @param day date  The UTC day of the events (YYYY-MM-DD)
-- @param threshold_minutes int = 60  A lag over this many minutes is late
SELECT id, event_type, client_id, time, arrival,
       (to_unixtime(arrival) - to_unixtime(time)) / 60 AS lag_minutes,
       source_object
FROM (
    SELECT *, coalesce(arrival_time(source_object), ingested_at) AS arrival
    FROM events
    WHERE dt = $day
)
WHERE to_unixtime(arrival) - to_unixtime(time) > $threshold_minutes * 60
ORDER BY lag_minutes DESC, id
