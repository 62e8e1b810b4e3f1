-- service_graph_link_ends: the ends a span link can pair across traces, from one part of the input made of whole
-- traces (or from all of it): each link of a CONSUMER span whose parent is not in the input, and every PRODUCER span.
-- service_graph_calls pairs them over every part.
-- Input: service_graph_spans, spans. Output: role (consumer or producer), trace_id, span_id, link_trace_id and
-- link_span_id (the linked span; NULL for a producer), service, connection_type, start_time, end_time, duration_ns,
-- error, fault.
WITH consumers AS (
  SELECT v.*
  FROM service_graph_spans v
  WHERE v.kind = 'CONSUMER'
    AND NOT EXISTS (SELECT 1 FROM spans p WHERE p.trace_id = v.trace_id AND p.span_id = v.parent_span_id)
)
SELECT 'consumer' AS role, trace_id, span_id,
       get_field(link, 'trace_id') AS link_trace_id,
       get_field(link, 'span_id') AS link_span_id,
       service, connection_type, start_time, end_time, duration_ns, error, fault
FROM (SELECT *, unnest(links) AS link FROM consumers)
UNION ALL
SELECT 'producer', trace_id, span_id,
       arrow_cast(NULL, 'FixedSizeBinary(16)'),
       arrow_cast(NULL, 'FixedSizeBinary(8)'),
       service, connection_type, start_time, end_time, duration_ns, error, fault
FROM service_graph_spans
WHERE kind = 'PRODUCER'
