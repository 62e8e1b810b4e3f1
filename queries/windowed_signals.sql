-- windowed_signals: signal records whose end time is in [$2, $3), with the start of their time bucket.
-- Input: signals; $1 bucket width in ns (BIGINT), $2/$3 window bounds (timestamps, UTC).
-- Output: every signals column plus bucket_start (UTC), the bucket's first instant: floor(end / width) * width.
SELECT *,
       arrow_cast(to_timestamp_nanos(CAST("timestamp" AS BIGINT) - CAST("timestamp" AS BIGINT) % $1),
                  'Timestamp(Nanosecond, Some("UTC"))') AS bucket_start
FROM signals
WHERE "timestamp" >= $2 AND "timestamp" < $3
