-- Loyalty purchases against Zendesk tickets: pairs by event id, then by client id within the window; unmatched on both sides.
-- @param from timestamp  First purchase time (inclusive), e.g. 2026-11-01T00:00:00Z
-- @param to timestamp  End of the purchase window (exclusive)
-- @param window_seconds int = 86400  How long after its purchase a ticket may be created

-- A ticket names its purchase by the event id in external_id, a tag or a custom field (the rule's
-- input transformer can add <aws.events.event.id>), or names the client the same way. `refs`
-- holds all those values. A value that looks like an id (a UUID, as EventBridge event ids and the
-- pipeline's client ids are) is a reference: a ticket that carries one and pairs with nothing
-- here is an orphan. eventlake reconcile pairs only tickets that carry no reference, one to one
-- in time order. If your ids are not UUIDs, change `referencing` in your copy.
--
-- eventlake reads these columns by name (an override may add others, in any order):
-- purchase_id, client_id, purchase_time, ticket_id, ticket_created_at, matched_by,
-- ticket_has_reference. A row with a purchase_id is a purchase (with one of its tickets, if any);
-- a row without one is a ticket no purchase took.
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
referencing AS (
  SELECT DISTINCT ticket_id FROM ticket_refs
  WHERE regexp_like(ref, '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$', 'i')
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
           row_number() OVER (PARTITION BY r.ticket_id ORDER BY p.time DESC, p.id) AS nearest
    FROM open_purchases p JOIN open_refs r ON r.ref = p.client_id
    WHERE to_unixtime(r.created_at) >= to_unixtime(p.time)
      AND to_unixtime(r.created_at) - to_unixtime(p.time) <= $window_seconds
  ) AS ranked
  WHERE nearest = 1
),
pairs AS (
  SELECT purchase_id, ticket_id, 'event_id' AS matched_by FROM by_event
  UNION ALL
  SELECT purchase_id, ticket_id, 'client_window' AS matched_by FROM by_client
)
SELECT p.id AS purchase_id, p.client_id, p.time AS purchase_time,
       m.ticket_id, t.created_at AS ticket_created_at, m.matched_by,
       m.ticket_id IS NOT NULL AS ticket_has_reference
FROM purchases p
LEFT JOIN pairs m ON m.purchase_id = p.id
LEFT JOIN tickets t ON t.ticket_id = m.ticket_id
UNION ALL
SELECT NULL AS purchase_id, NULL AS client_id, NULL AS purchase_time,
       t.ticket_id, t.created_at AS ticket_created_at, NULL AS matched_by,
       r.ticket_id IS NOT NULL AS ticket_has_reference
FROM tickets t
LEFT JOIN (SELECT DISTINCT ticket_id FROM pairs) m ON m.ticket_id = t.ticket_id
LEFT JOIN referencing r ON r.ticket_id = t.ticket_id
WHERE m.ticket_id IS NULL
