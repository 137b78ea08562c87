-- One client's events in a time range, in order, with the detail fields.
-- @param client text  The client id (detail.accountNumber)
-- @param from timestamp  Start, inclusive (RFC 3339, e.g. 2026-11-01T00:00:00Z)
-- @param to timestamp  End, exclusive
SELECT time, event_type, schema_version, id,
       json_get_str(detail, 'data', 'searchTerm') AS search_term,
       json_get_int(detail, 'data', 'page') AS page,
       json_get_int(detail, 'data', 'itemSku') AS item_sku,
       detail, source_object
FROM events
WHERE client_id = $client
  AND time >= $from AND time < $to
  -- The partition filter lets only the range's days be read.
  AND dt >= to_char($from, '%Y-%m-%d') AND dt <= to_char($to, '%Y-%m-%d')
ORDER BY time, id
