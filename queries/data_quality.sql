-- data_quality: what in the input keeps traces from being stitched or counted right, one row per check (and per
-- client and server service for clock skew).
-- Input: data_quality_spans (the checks of spans alone, per part of the input), service_graph_calls; $1 the
-- clock-skew tolerance in ns (BIGINT).
-- Output: "check", detail (the service pair of a clock-skew row, else NULL), unit (spans or traces), count, total (of
-- that unit in the input), share (percent of total) and up to five example trace ids (lowercase hex, the least;
-- NULL when the count is 0).
-- Checks: orphan_spans (a parent id not in the input), duplicate_span_ids (copies beyond the first of a span id in
-- its trace), missing_service_name (no service.name, or an SDK's unknown_service*), traces_without_root (no span
-- without a parent), unpaired_client_spans (a CLIENT or PRODUCER span no server span pairs: an edge to a virtual
-- node), unpaired_server_spans (a SERVER or CONSUMER span whose parent is not in the input: an edge from `user`),
-- clock_skew (a paired server span starting before its client span or ending after it, by more than $1),
-- error_without_message (status ERROR, no status message), dropped_attributes (the producer dropped span or resource
-- attributes, events or links), sampled_spans (spans carrying an OpenTelemetry sampling threshold `th`: the metric
-- tables and SLOs count their adjusted counts unless --sampling ignore; the graph and these checks count exported
-- spans).
WITH totals AS (
  SELECT COALESCE(SUM(CASE WHEN "check" = 'spans_total' THEN count ELSE 0 END), 0) AS spans,
         COALESCE(SUM(CASE WHEN "check" = 'traces_total' THEN count ELSE 0 END), 0) AS traces
  FROM data_quality_spans
),
-- The checks of the requests: one row per request found, with its trace.
calls_checks AS (
  SELECT CASE virtual WHEN 'server' THEN 'unpaired_client_spans' ELSE 'unpaired_server_spans' END AS "check",
         arrow_cast(NULL, 'Utf8') AS detail, trace_id
  FROM service_graph_calls
  WHERE virtual IS NOT NULL
  UNION ALL
  SELECT 'clock_skew', client || ' -> ' || server, trace_id
  FROM service_graph_calls
  WHERE virtual IS NULL
    AND (CAST(client_start AS BIGINT) - CAST(server_start AS BIGINT) > $1
         OR CAST(server_end AS BIGINT) - CAST(client_end AS BIGINT) > $1)
),
calls_found AS (
  SELECT "check", detail, 'spans' AS unit, COUNT(*) AS count, example_ids(trace_id, 5) AS examples
  FROM calls_checks
  GROUP BY "check", detail
  UNION ALL
  -- The unpaired checks have a row when nothing is found.
  SELECT c, NULL, 'spans', 0, arrow_cast(NULL, 'List(Utf8)')
  FROM (VALUES ('unpaired_client_spans'), ('unpaired_server_spans')) AS t(c)
  WHERE NOT EXISTS (SELECT 1 FROM calls_checks k WHERE k."check" = t.c)
),
found AS (
  SELECT "check", detail, unit, COALESCE(SUM(count), 0) AS count,
         flatten(array_agg(examples) FILTER (WHERE examples IS NOT NULL)) AS examples
  FROM data_quality_spans
  WHERE "check" NOT IN ('spans_total', 'traces_total')
  GROUP BY "check", detail, unit
  UNION ALL
  SELECT "check", detail, unit, count, examples FROM calls_found
)
SELECT "check",
       detail,
       unit,
       count,
       CASE unit WHEN 'traces' THEN totals.traces ELSE totals.spans END AS total,
       CASE WHEN (CASE unit WHEN 'traces' THEN totals.traces ELSE totals.spans END) > 0
            THEN 100.0 * count / (CASE unit WHEN 'traces' THEN totals.traces ELSE totals.spans END) END AS share,
       array_slice(array_sort(array_distinct(examples)), 1, 5) AS example_trace_ids
FROM found CROSS JOIN totals
ORDER BY "check", detail NULLS FIRST
