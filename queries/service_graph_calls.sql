-- service_graph_calls: one row per request on a trace-stitched edge of the service graph, over the whole input.
-- Input: spans. Output: client, server, connection_type, virtual, then each side's span (NULL on a virtual side): its
-- start and end, duration (ns), error and fault (Application Signals: error = HTTP 4xx; fault = HTTP 5xx, or status
-- ERROR without a 4xx code), and "time", the instant the request is bucketed by (the client span's end, else the
-- server span's end), with the trace id and each side's span id (NULL on a virtual side).
-- Pairs: a SERVER or CONSUMER span whose parent is a CLIENT or PRODUCER span of another service; a CONSUMER whose
-- parent is not in the input, linked to a PRODUCER span of another service (one request per such link).
-- Virtual nodes: a CLIENT or PRODUCER span with no SERVER or CONSUMER child and no consumer linked to it calls a node
-- named by the first of peer.service, db.name, db.system, messaging.destination, server.address it carries, else
-- "unknown" (virtual = 'server'); a SERVER or CONSUMER span whose parent is not in the input and that no link pairs is
-- called by the node "user" (virtual = 'client'). Spans without service.name, or with the SDK's unknown_service*,
-- belong to UnknownService. A pair within one service is not an edge.
WITH s AS (
  SELECT trace_id,
         span_id,
         parent_span_id,
         arrow_cast(kind, 'Utf8') AS kind,
         CASE WHEN service_name IS NULL OR starts_with(arrow_cast(service_name, 'Utf8'), 'unknown_service')
              THEN 'UnknownService' ELSE arrow_cast(service_name, 'Utf8') END AS service,
         start_time,
         end_time,
         duration_ns,
         CASE WHEN http_status_code BETWEEN 400 AND 499 THEN 1 ELSE 0 END AS error,
         CASE WHEN http_status_code BETWEEN 500 AND 599 THEN 1
              WHEN http_status_code BETWEEN 400 AND 499 THEN 0
              WHEN arrow_cast(status_code, 'Utf8') = 'ERROR' THEN 1
              ELSE 0 END AS fault,
         CASE WHEN arrow_cast(kind, 'Utf8') IN ('PRODUCER', 'CONSUMER') OR messaging_system IS NOT NULL THEN 'messaging'
              WHEN db_system IS NOT NULL THEN 'database'
              WHEN rpc_system IS NOT NULL THEN 'rpc'
              WHEN http_method IS NOT NULL OR http_status_code IS NOT NULL OR url_full IS NOT NULL THEN 'http'
              ELSE 'other' END AS connection_type,
         arrow_cast(COALESCE(peer_service, db_name, db_system, messaging_destination, server_address), 'Utf8') AS peer,
         links
  FROM spans
  WHERE arrow_cast(kind, 'Utf8') IN ('CLIENT', 'PRODUCER', 'SERVER', 'CONSUMER')
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
-- Orphan consumers with each of their links to a producer span of the input.
linked AS (
  SELECT o.trace_id AS server_trace_id, o.span_id AS server_span_id, c.trace_id AS client_trace_id,
         c.span_id AS client_span_id
  FROM (SELECT trace_id, span_id, unnest(links) AS link FROM orphans WHERE kind = 'CONSUMER') o
  JOIN clients c ON c.trace_id = get_field(o.link, 'trace_id') AND c.span_id = get_field(o.link, 'span_id')
  WHERE c.kind = 'PRODUCER'
),
pairs AS (
  SELECT c.service AS client, v.service AS server, c.connection_type, arrow_cast(NULL, 'Utf8') AS virtual,
         c.trace_id, c.span_id AS client_span_id, v.span_id AS server_span_id,
         c.start_time AS client_start, c.end_time AS client_end, c.duration_ns AS client_duration_ns,
         c.error AS client_error, c.fault AS client_fault,
         v.start_time AS server_start, v.end_time AS server_end, v.duration_ns AS server_duration_ns,
         v.error AS server_error, v.fault AS server_fault
  FROM servers v
  JOIN clients c ON v.trace_id = c.trace_id AND v.parent_span_id = c.span_id
  WHERE c.service <> v.service
  UNION ALL
  SELECT c.service, v.service, c.connection_type, arrow_cast(NULL, 'Utf8'),
         v.trace_id, c.span_id, v.span_id, c.start_time, c.end_time, c.duration_ns, c.error, c.fault,
         v.start_time, v.end_time, v.duration_ns, v.error, v.fault
  FROM linked l
  JOIN clients c ON c.trace_id = l.client_trace_id AND c.span_id = l.client_span_id
  JOIN servers v ON v.trace_id = l.server_trace_id AND v.span_id = l.server_span_id
  WHERE c.service <> v.service
),
to_virtual AS (
  SELECT c.service AS client, COALESCE(c.peer, 'unknown') AS server, c.connection_type, 'server' AS virtual,
         c.trace_id, c.span_id AS client_span_id, arrow_cast(NULL, 'FixedSizeBinary(8)') AS server_span_id,
         c.start_time AS client_start, c.end_time AS client_end, c.duration_ns AS client_duration_ns,
         c.error AS client_error, c.fault AS client_fault,
         arrow_cast(NULL, 'Timestamp(Nanosecond, Some("UTC"))') AS server_start,
         arrow_cast(NULL, 'Timestamp(Nanosecond, Some("UTC"))') AS server_end,
         arrow_cast(NULL, 'Int64') AS server_duration_ns,
         arrow_cast(NULL, 'Int64') AS server_error,
         arrow_cast(NULL, 'Int64') AS server_fault
  FROM clients c
  WHERE NOT EXISTS (SELECT 1 FROM servers v WHERE v.trace_id = c.trace_id AND v.parent_span_id = c.span_id)
    AND NOT EXISTS (SELECT 1 FROM linked l WHERE l.client_trace_id = c.trace_id AND l.client_span_id = c.span_id)
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
  WHERE NOT EXISTS (SELECT 1 FROM linked l WHERE l.server_trace_id = o.trace_id AND l.server_span_id = o.span_id)
),
calls AS (
  SELECT * FROM pairs
  UNION ALL
  SELECT * FROM to_virtual
  UNION ALL
  SELECT * FROM from_user
)
SELECT client, server, connection_type, virtual, trace_id, client_span_id, server_span_id,
       COALESCE(client_end, server_end) AS "time",
       client_start, client_end, client_duration_ns, client_error, client_fault,
       server_start, server_end, server_duration_ns, server_error, server_fault
FROM calls
