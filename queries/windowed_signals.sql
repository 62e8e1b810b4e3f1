-- windowed_signals: signal records whose end time is in [$2, $3), with the start of their time bucket.
-- Input: signals; $1 bucket width in ns (BIGINT), $2/$3 window bounds (timestamps, UTC).
-- Output: the signals columns the metric queries read, dimensions as plain strings (grouping on them is
-- vectorised), the trace and span ids of the span a record comes from, plus bucket_start (UTC), the bucket's first instant: floor(end / width) * width.
SELECT record_type,
       arrow_cast(environment, 'Utf8') AS environment,
       arrow_cast(service, 'Utf8') AS service,
       arrow_cast(operation, 'Utf8') AS operation,
       arrow_cast(remote_service, 'Utf8') AS remote_service,
       arrow_cast(remote_operation, 'Utf8') AS remote_operation,
       arrow_cast(remote_environment, 'Utf8') AS remote_environment,
       arrow_cast(remote_resource_type, 'Utf8') AS remote_resource_type,
       arrow_cast(remote_resource_identifier, 'Utf8') AS remote_resource_identifier,
       latency_ms,
       duration_ns,
       error,
       fault,
       adjusted_count,
       trace_id,
       span_id,
       arrow_cast(CAST("timestamp" AS BIGINT) - CAST("timestamp" AS BIGINT) % $1,
                  'Timestamp(Nanosecond, Some("UTC"))') AS bucket_start
FROM signals
WHERE "timestamp" >= $2 AND "timestamp" < $3
