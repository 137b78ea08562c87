-- Loyalty purchases against Zendesk tickets: pairs by event id, then by client id within the window; unmatched on both sides.
-- @param from timestamp  First purchase time (inclusive), e.g. 2026-11-01T00:00:00Z
-- @param to timestamp  End of the purchase window (exclusive)
-- @param window_seconds int = 86400  How long after its purchase a ticket may be created
--
-- A ticket names its purchase by the event id in external_id, a tag or a custom field (the rule's
-- input transformer can add <aws.events.event.id>), or names the client the same way. `refs`
-- holds all those values. eventlake reconcile pairs what is left over, one to one in time order.
WITH purchases AS (
  SELECT id, client_id, time
  FROM events
  WHERE event_type = 'loyaltypurchase' AND time >= $from AND time < $to
    AND dt BETWEEN to_char($from, '%Y-%m-%d') AND to_char($to, '%Y-%m-%d')
),
tickets AS (
  SELECT id AS ticket_id, created_at, refs
  FROM zendesk_tickets
  WHERE to_unixtime(created_at) >= to_unixtime($from)
    AND to_unixtime(created_at) < to_unixtime($to) + $window_seconds
),
ticket_refs AS (
  SELECT ticket_id, created_at, unnest(refs) AS ref FROM tickets
),
by_event AS (
  SELECT DISTINCT p.id AS purchase_id, r.ticket_id
  FROM purchases p JOIN ticket_refs r ON r.ref = p.id
),
open_purchases AS (
  SELECT p.* FROM purchases p LEFT JOIN (SELECT DISTINCT purchase_id FROM by_event) e ON e.purchase_id = p.id
  WHERE e.purchase_id IS NULL
),
open_refs AS (
  SELECT r.* FROM ticket_refs r LEFT JOIN (SELECT DISTINCT ticket_id FROM by_event) e ON e.ticket_id = r.ticket_id
  WHERE e.ticket_id IS NULL
),
by_client AS (
  -- A ticket goes to the latest purchase of its client before it, within the window.
  SELECT purchase_id, ticket_id FROM (
    SELECT p.id AS purchase_id, r.ticket_id,
           row_number() OVER (PARTITION BY r.ticket_id ORDER BY p.time DESC) AS nearest
    FROM open_purchases p JOIN open_refs r ON r.ref = p.client_id
    WHERE to_unixtime(r.created_at) >= to_unixtime(p.time)
      AND to_unixtime(r.created_at) - to_unixtime(p.time) <= $window_seconds
  ) AS ranked
  WHERE nearest = 1
),
pairs AS (
  SELECT purchase_id, ticket_id, 'event_id' AS match_mode FROM by_event
  UNION ALL
  SELECT purchase_id, ticket_id, 'client_window' AS match_mode FROM by_client
)
SELECT p.id AS purchase_id, p.client_id, p.time AS purchase_time,
       m.ticket_id, t.created_at AS ticket_created_at, m.match_mode
FROM purchases p
LEFT JOIN pairs m ON m.purchase_id = p.id
LEFT JOIN tickets t ON t.ticket_id = m.ticket_id
UNION ALL
SELECT NULL AS purchase_id, NULL AS client_id, NULL AS purchase_time,
       t.ticket_id, t.created_at AS ticket_created_at, NULL AS match_mode
FROM tickets t LEFT JOIN (SELECT DISTINCT ticket_id FROM pairs) m ON m.ticket_id = t.ticket_id
WHERE m.ticket_id IS NULL
