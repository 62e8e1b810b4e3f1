-- service_graph_partial_calls: the requests of one part of the input made of whole traces (or of all of it), paired
-- within it: one row per request on a trace-stitched edge, before consumers are paired with the producers they link
-- to (service_graph_calls does that over every part).
-- Input: service_graph_spans, spans. Output: client, server, connection_type, virtual, the trace id and each side's span id (NULL on a
-- virtual side), "time" (the instant the request is bucketed by: the client span's end, else the server span's), then
-- each side's start and end, duration (ns), error and fault (Application Signals: error = HTTP 4xx; fault = HTTP 5xx,
-- or status ERROR without a 4xx code).
-- Pairs: a SERVER or CONSUMER span whose parent is a CLIENT or PRODUCER span of another service (a pair within one
-- service is not an edge).
-- Virtual nodes: a CLIENT or PRODUCER span with no SERVER or CONSUMER child calls a node named by its peer (virtual =
-- 'server'); a SERVER or CONSUMER span whose parent is not in the input is called by the node "user" (virtual =
-- 'client').
WITH s AS (
  SELECT * FROM service_graph_spans
),
clients AS (
  SELECT * FROM s WHERE kind IN ('CLIENT', 'PRODUCER')
),
servers AS (
  SELECT * FROM s WHERE kind IN ('SERVER', 'CONSUMER')
),
-- Server spans whose parent span is not in the input (roots included).
orphans AS (
  SELECT v.*
  FROM servers v
  WHERE NOT EXISTS (SELECT 1 FROM spans p WHERE p.trace_id = v.trace_id AND p.span_id = v.parent_span_id)
),
-- Each client span with the server spans it is the parent of: a pair with each of another service (a pair within
-- one service is not an edge), the virtual node its peer names when it has none.
pairs AS (
  SELECT c.service AS client,
         CASE WHEN v.trace_id IS NULL THEN COALESCE(c.peer, 'unknown') ELSE v.service END AS server,
         c.connection_type,
         CASE WHEN v.trace_id IS NULL THEN 'server' END AS virtual,
         c.trace_id, c.span_id AS client_span_id, v.span_id AS server_span_id,
         c.start_time AS client_start, c.end_time AS client_end, c.duration_ns AS client_duration_ns,
         c.error AS client_error, c.fault AS client_fault,
         v.start_time AS server_start, v.end_time AS server_end, v.duration_ns AS server_duration_ns,
         v.error AS server_error, v.fault AS server_fault
  FROM clients c
  LEFT JOIN servers v ON v.trace_id = c.trace_id AND v.parent_span_id = c.span_id
  WHERE v.trace_id IS NULL OR c.service <> v.service
),
from_user AS (
  SELECT 'user' AS client, o.service AS server, o.connection_type, 'client' AS virtual,
         o.trace_id, arrow_cast(NULL, 'FixedSizeBinary(8)') AS client_span_id, o.span_id AS server_span_id,
         arrow_cast(NULL, 'Timestamp(Nanosecond, Some("UTC"))') AS client_start,
         arrow_cast(NULL, 'Timestamp(Nanosecond, Some("UTC"))') AS client_end,
         arrow_cast(NULL, 'Int64') AS client_duration_ns,
         arrow_cast(NULL, 'Int64') AS client_error,
         arrow_cast(NULL, 'Int64') AS client_fault,
         o.start_time, o.end_time, o.duration_ns, o.error, o.fault
  FROM orphans o
),
calls AS (
  SELECT * FROM pairs
  UNION ALL
  SELECT * FROM from_user
)
SELECT client, server, connection_type, virtual, trace_id, client_span_id, server_span_id,
       COALESCE(client_end, server_end) AS "time",
       client_start, client_end, client_duration_ns, client_error, client_fault,
       server_start, server_end, server_duration_ns, server_error, server_fault
FROM calls
