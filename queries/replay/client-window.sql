-- One client's events in a time window, of one type or all: a replay selection (eventlake replay replay/client-window …).
-- @param client text  The client id (resources[0] as the gateway set it)
-- @param from timestamp  Window start (inclusive), e.g. 2026-11-01T14:00:00Z
-- @param to timestamp  Window end (exclusive)
-- @param event_type text = *  One event type, or * for all
SELECT id, event_type, time
FROM events
WHERE client_id = $client
  AND time >= $from AND time < $to
  AND dt BETWEEN to_char($from, '%Y-%m-%d') AND to_char($to, '%Y-%m-%d')
  AND ($event_type = '*' OR event_type = $event_type)
ORDER BY time
