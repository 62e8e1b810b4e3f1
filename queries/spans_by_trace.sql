-- spans_by_trace: the span columns the Application Signals derivation reads, trace after trace.
-- Input: spans. Output: one row per span, ordered by trace_id (then span_id, for a stable order).
SELECT trace_id, span_id, parent_span_id, flags, name, kind, end_time, duration_ns, status_code,
       service_name, scope_name, attributes, resource_attributes
FROM spans
ORDER BY trace_id, span_id
