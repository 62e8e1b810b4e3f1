-- signals_from_spans: the signals table derived in SQL, trace by trace, by the derive_signals aggregate (the same
-- rule code as the fast path `metrics` runs, so the same records).
-- Input: spans_for_signals. Output: the signals columns, of the signals table's types, in the fast path's order: by
-- trace id, then by each record's place among its trace's records (the ordinal derive_signals gives it). As a view
-- (in `spanlens sql`) the order is not kept: ORDER BY trace_id, span_id, record_type DESC gives it.
WITH traces AS (
  SELECT unnest(derive_signals(trace_id, span_id, parent_span_id, flags, trace_state, name, kind, end_time,
                               duration_ns, status_code, service_name, scope_name, attributes, resource_attributes)) AS r
  FROM spans_for_signals
  GROUP BY trace_id
)
SELECT record_type, telemetry_source, environment, service, operation, remote_service, remote_operation,
       remote_environment, remote_resource_type, remote_resource_identifier, latency_ms, duration_ns, error, fault,
       adjusted_count, "timestamp", trace_id, span_id
FROM (SELECT arrow_cast(r['record_type'], 'Dictionary(Int32, Utf8)') AS record_type,
             arrow_cast(r['telemetry_source'], 'Dictionary(Int32, Utf8)') AS telemetry_source,
             arrow_cast(r['environment'], 'Dictionary(Int32, Utf8)') AS environment,
             arrow_cast(r['service'], 'Dictionary(Int32, Utf8)') AS service,
             arrow_cast(r['operation'], 'Dictionary(Int32, Utf8)') AS operation,
             arrow_cast(r['remote_service'], 'Dictionary(Int32, Utf8)') AS remote_service,
             arrow_cast(r['remote_operation'], 'Dictionary(Int32, Utf8)') AS remote_operation,
             arrow_cast(r['remote_environment'], 'Dictionary(Int32, Utf8)') AS remote_environment,
             arrow_cast(r['remote_resource_type'], 'Dictionary(Int32, Utf8)') AS remote_resource_type,
             arrow_cast(r['remote_resource_identifier'], 'Dictionary(Int32, Utf8)') AS remote_resource_identifier,
             r['latency_ms'] AS latency_ms,
             r['duration_ns'] AS duration_ns,
             r['error'] AS error,
             r['fault'] AS fault,
             r['adjusted_count'] AS adjusted_count,
             r['timestamp'] AS "timestamp",
             r['trace_id'] AS trace_id,
             r['span_id'] AS span_id,
             r['ordinal'] AS ordinal
      FROM traces)
ORDER BY trace_id, ordinal
