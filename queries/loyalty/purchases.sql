-- Loyalty purchases per day and client.
-- @param from date = 1970-01-01  First UTC day
-- @param to date = 9999-12-31  Last UTC day
SELECT dt AS day, client_id, count(*) AS purchases, min(time) AS first_purchase, max(time) AS last_purchase
FROM events
WHERE event_type = 'loyaltypurchase' AND dt BETWEEN $from AND $to
GROUP BY dt, client_id
ORDER BY day, client_id
