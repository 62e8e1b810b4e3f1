-- data_quality_spans: the data-quality checks that read spans alone, over one part of the input made of whole traces
-- (or over all of it); data_quality adds the parts up.
-- Input: spans. Output: "check", detail (NULL), unit (spans or traces), count, and examples (the five least trace ids
-- found, lowercase hex; NULL when none), one row per check, then the rows spans_total and traces_total (the part's
-- spans and traces, no examples).
-- Checks: orphan_spans (a parent id not in the input), duplicate_span_ids (copies beyond the first of a span id in
-- its trace), missing_service_name (no service.name, or an SDK's unknown_service*), traces_without_root (no span
-- without a parent), error_without_message (status ERROR, no status message), dropped_attributes (the producer
-- dropped span or resource attributes, events or links), sampled_spans (the tracestate's `ot` entry carries an
-- OpenTelemetry probability-sampling threshold `th`: each such span stands for more requests than itself; these
-- counts are of the exported spans).
WITH duplicates AS (
  SELECT trace_id, COUNT(*) - 1 AS extra FROM spans GROUP BY trace_id, span_id HAVING COUNT(*) > 1
),
roots AS (
  SELECT trace_id FROM spans GROUP BY trace_id HAVING bool_or(parent_span_id IS NULL) = false
)
SELECT 'orphan_spans' AS "check", arrow_cast(NULL, 'Utf8') AS detail, 'spans' AS unit,
       COUNT(*) AS count, example_ids(trace_id, 5) AS examples
FROM spans s
WHERE s.parent_span_id IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM spans p WHERE p.trace_id = s.trace_id AND p.span_id = s.parent_span_id)
UNION ALL
SELECT 'duplicate_span_ids', NULL, 'spans', COALESCE(SUM(extra), 0), example_ids(trace_id, 5)
FROM duplicates
UNION ALL
SELECT 'missing_service_name', NULL, 'spans', COUNT(*), example_ids(trace_id, 5)
FROM spans
WHERE service_name IS NULL OR starts_with(arrow_cast(service_name, 'Utf8'), 'unknown_service')
UNION ALL
SELECT 'traces_without_root', NULL, 'traces', COUNT(*), example_ids(trace_id, 5)
FROM roots
UNION ALL
SELECT 'error_without_message', NULL, 'spans', COUNT(*), example_ids(trace_id, 5)
FROM spans
WHERE arrow_cast(status_code, 'Utf8') = 'ERROR' AND status_message IS NULL
UNION ALL
SELECT 'dropped_attributes', NULL, 'spans', COUNT(*), example_ids(trace_id, 5)
FROM spans
WHERE dropped_attributes_count > 0 OR resource_dropped_attributes_count > 0 OR dropped_events_count > 0
   OR dropped_links_count > 0
UNION ALL
SELECT 'sampled_spans', NULL, 'spans', COUNT(*), example_ids(trace_id, 5)
FROM spans
WHERE regexp_like(arrow_cast(trace_state, 'Utf8'), '(^|,)[ \t]*ot=([^,]*;)?th:[0-9a-f]{1,14}(;|,|[ \t]*$)')
UNION ALL
SELECT 'spans_total', NULL, 'spans', COUNT(*), NULL FROM spans
UNION ALL
SELECT 'traces_total', NULL, 'traces', COUNT(DISTINCT trace_id), NULL FROM spans
