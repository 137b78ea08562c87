-- Loyalty purchases in a window: the events whose tickets a Zendesk outage lost (eventlake replay replay/loyalty-purchases …).
-- @param from timestamp  Window start (inclusive), e.g. 2026-11-01T14:00:00Z
-- @param to timestamp  Window end (exclusive)
SELECT id, client_id, time
FROM events
WHERE event_type = 'loyaltypurchase'
  AND time >= $from AND time < $to
  AND dt BETWEEN to_char($from, '%Y-%m-%d') AND to_char($to, '%Y-%m-%d')
ORDER BY time
