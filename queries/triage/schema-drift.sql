-- Event types seen with an unexpected schemaVersion or detail shape (the keys of detail.data).
-- Expected, from the client-event sample: shopping 1 {itemSku}, searching 1 {searchTerm},
-- paging 2 {page,searchTerm}, purchase 2 {itemSku}, loyaltypurchase 2 {itemSku}.
-- @param from date = 1970-01-01  First UTC day
-- @param to date = 9999-12-31  Last UTC day
WITH expected (event_type, schema_version, data_keys) AS (
    VALUES ('shopping', 1, 'itemSku'), ('searching', 1, 'searchTerm'), ('paging', 2, 'page,searchTerm'),
           ('purchase', 2, 'itemSku'), ('loyaltypurchase', 2, 'itemSku')
),
seen AS (
    SELECT event_type, schema_version,
           array_to_string(array_sort(json_object_keys(json_get_json(detail, 'data'))), ',') AS data_keys,
           count(*) AS events, min(time) AS first_seen, max(time) AS last_seen, min(id) AS sample_id
    FROM events
    WHERE dt BETWEEN $from AND $to
    GROUP BY 1, 2, 3
)
SELECT s.event_type, s.schema_version, s.data_keys, s.events, s.first_seen, s.last_seen, s.sample_id,
       CASE WHEN known_type.event_type IS NULL THEN 'unknown event type'
            WHEN known_version.event_type IS NULL THEN 'unexpected schemaVersion'
            ELSE 'unexpected detail shape' END AS drift
FROM seen s
LEFT JOIN (SELECT DISTINCT event_type FROM expected) known_type
       ON known_type.event_type = s.event_type
LEFT JOIN (SELECT DISTINCT event_type, schema_version FROM expected) known_version
       ON known_version.event_type = s.event_type AND known_version.schema_version = s.schema_version
LEFT JOIN expected x
       ON x.event_type = s.event_type AND x.schema_version = s.schema_version AND x.data_keys = s.data_keys
WHERE x.event_type IS NULL
ORDER BY s.events DESC, s.event_type
