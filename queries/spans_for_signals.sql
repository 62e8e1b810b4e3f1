-- spans_for_signals: the span columns the Application Signals derivation reads.
-- Input: spans. Output: one row per span, in any order (the derivation groups them by trace_id itself).
SELECT trace_id, span_id, parent_span_id, flags, trace_state, name, kind, end_time, duration_ns, status_code,
       service_name, scope_name, attributes, resource_attributes
FROM spans
