-- Bad records by error code and source object, with a sample of each.
-- @param since date = 1970-01-01  Only records ingested on or after this UTC day
SELECT error_code, source_object, count(*) AS records,
       min(byte_offset) AS first_offset,
       first_value(error_message ORDER BY byte_offset) AS first_message,
       substr(first_value(raw_text ORDER BY byte_offset), 1, 120) AS sample
FROM errors
WHERE dt >= $since
GROUP BY error_code, source_object
ORDER BY records DESC, error_code, source_object
