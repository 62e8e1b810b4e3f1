-- service_graph_calls: one row per request on a trace-stitched edge of the service graph, over the whole input.
-- Input: service_graph_partial_calls (the requests of each part of the input, paired within it),
-- service_graph_link_ends (the consumers' links and the producers of every part). Output: the columns of
-- service_graph_partial_calls.
-- A CONSUMER span whose parent is not in the input, linked to a PRODUCER span of another service, is a request of
-- that producer (one per such link; its trace id the consumer's). The producer then calls no virtual node, and the
-- consumer is not called by "user".
WITH linked AS (
  SELECT c.service AS client, v.service AS server, c.connection_type, arrow_cast(NULL, 'Utf8') AS virtual,
         v.trace_id, c.span_id AS client_span_id, v.span_id AS server_span_id,
         c.trace_id AS client_trace_id,
         c.start_time AS client_start, c.end_time AS client_end, c.duration_ns AS client_duration_ns,
         c.error AS client_error, c.fault AS client_fault,
         v.start_time AS server_start, v.end_time AS server_end, v.duration_ns AS server_duration_ns,
         v.error AS server_error, v.fault AS server_fault
  FROM (SELECT * FROM service_graph_link_ends WHERE role = 'consumer') v
  JOIN (SELECT * FROM service_graph_link_ends WHERE role = 'producer') c
    ON c.trace_id = v.link_trace_id AND c.span_id = v.link_span_id
),
linked_clients AS (
  SELECT DISTINCT client_trace_id, client_span_id FROM linked
),
linked_servers AS (
  SELECT DISTINCT trace_id, server_span_id FROM linked
)
SELECT p.client, p.server, p.connection_type, p.virtual, p.trace_id, p.client_span_id, p.server_span_id, p."time",
       p.client_start, p.client_end, p.client_duration_ns, p.client_error, p.client_fault,
       p.server_start, p.server_end, p.server_duration_ns, p.server_error, p.server_fault
FROM service_graph_partial_calls p
LEFT JOIN linked_clients lc
  ON p.virtual = 'server' AND lc.client_trace_id = p.trace_id AND lc.client_span_id = p.client_span_id
LEFT JOIN linked_servers ls
  ON p.virtual = 'client' AND ls.trace_id = p.trace_id AND ls.server_span_id = p.server_span_id
WHERE lc.client_span_id IS NULL AND ls.server_span_id IS NULL
UNION ALL
SELECT client, server, connection_type, virtual, trace_id, client_span_id, server_span_id,
       client_end AS "time",
       client_start, client_end, client_duration_ns, client_error, client_fault,
       server_start, server_end, server_duration_ns, server_error, server_fault
FROM linked
WHERE client <> server
