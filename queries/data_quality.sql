-- data_quality: what in the input keeps traces from being stitched or counted right, one row per check (and per
-- client and server service for clock skew).
-- Input: spans, service_graph_calls; $1 the clock-skew tolerance in ns (BIGINT).
-- Output: "check", detail (the service pair of a clock-skew row, else NULL), unit (spans or traces), count, total (of
-- that unit in the input), share (percent of total) and up to five example trace ids (lowercase hex, the least;
-- NULL when the count is 0).
-- Checks: orphan_spans (a parent id not in the input), duplicate_span_ids (copies beyond the first of a span id in
-- its trace), missing_service_name (no service.name, or an SDK's unknown_service*), traces_without_root (no span
-- without a parent), unpaired_client_spans (a CLIENT or PRODUCER span no server span pairs: an edge to a virtual
-- node), unpaired_server_spans (a SERVER or CONSUMER span whose parent is not in the input: an edge from `user`),
-- clock_skew (a paired server span starting before its client span or ending after it, by more than $1),
-- error_without_message (status ERROR, no status message), dropped_attributes (the producer dropped span or resource
-- attributes, events or links).
WITH totals AS (
  SELECT COUNT(*) AS spans, COUNT(DISTINCT trace_id) AS traces FROM spans
),
duplicates AS (
  SELECT trace_id, COUNT(*) - 1 AS extra FROM spans GROUP BY trace_id, span_id HAVING COUNT(*) > 1
),
roots AS (
  SELECT trace_id FROM spans GROUP BY trace_id HAVING bool_or(parent_span_id IS NULL) = false
),
found AS (
  SELECT 'orphan_spans' AS "check", arrow_cast(NULL, 'Utf8') AS detail, 'spans' AS unit,
         COUNT(*) AS count, array_agg(DISTINCT encode(trace_id, 'hex')) AS examples
  FROM spans s
  WHERE s.parent_span_id IS NOT NULL
    AND NOT EXISTS (SELECT 1 FROM spans p WHERE p.trace_id = s.trace_id AND p.span_id = s.parent_span_id)
  UNION ALL
  SELECT 'duplicate_span_ids', NULL, 'spans', COALESCE(SUM(extra), 0), array_agg(DISTINCT encode(trace_id, 'hex'))
  FROM duplicates
  UNION ALL
  SELECT 'missing_service_name', NULL, 'spans', COUNT(*), array_agg(DISTINCT encode(trace_id, 'hex'))
  FROM spans
  WHERE service_name IS NULL OR starts_with(arrow_cast(service_name, 'Utf8'), 'unknown_service')
  UNION ALL
  SELECT 'traces_without_root', NULL, 'traces', COUNT(*), array_agg(DISTINCT encode(trace_id, 'hex'))
  FROM roots
  UNION ALL
  SELECT 'unpaired_client_spans', NULL, 'spans', COUNT(*), array_agg(DISTINCT encode(trace_id, 'hex'))
  FROM service_graph_calls
  WHERE virtual = 'server'
  UNION ALL
  SELECT 'unpaired_server_spans', NULL, 'spans', COUNT(*), array_agg(DISTINCT encode(trace_id, 'hex'))
  FROM service_graph_calls
  WHERE virtual = 'client'
  UNION ALL
  SELECT 'error_without_message', NULL, 'spans', COUNT(*), array_agg(DISTINCT encode(trace_id, 'hex'))
  FROM spans
  WHERE arrow_cast(status_code, 'Utf8') = 'ERROR' AND status_message IS NULL
  UNION ALL
  SELECT 'dropped_attributes', NULL, 'spans', COUNT(*), array_agg(DISTINCT encode(trace_id, 'hex'))
  FROM spans
  WHERE dropped_attributes_count > 0 OR resource_dropped_attributes_count > 0 OR dropped_events_count > 0
     OR dropped_links_count > 0
  UNION ALL
  SELECT 'clock_skew', client || ' -> ' || server, 'spans', COUNT(*), array_agg(DISTINCT encode(trace_id, 'hex'))
  FROM service_graph_calls
  WHERE virtual IS NULL
    AND (CAST(client_start AS BIGINT) - CAST(server_start AS BIGINT) > $1
         OR CAST(server_end AS BIGINT) - CAST(client_end AS BIGINT) > $1)
  GROUP BY client, server
)
SELECT "check",
       detail,
       unit,
       count,
       CASE unit WHEN 'traces' THEN totals.traces ELSE totals.spans END AS total,
       CASE WHEN (CASE unit WHEN 'traces' THEN totals.traces ELSE totals.spans END) > 0
            THEN 100.0 * count / (CASE unit WHEN 'traces' THEN totals.traces ELSE totals.spans END) END AS share,
       array_slice(array_sort(examples), 1, 5) AS example_trace_ids
FROM found CROSS JOIN totals
ORDER BY "check", detail NULLS FIRST
