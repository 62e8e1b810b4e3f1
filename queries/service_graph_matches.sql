-- service_graph_matches: the dependency records of one range of trace ids matched to the stitched requests of their
-- spans, counted per name pair; service_graph_reconciliation adds the ranges up.
-- Input: windowed_signals (its dependency records), service_graph_calls; $1 and $2 the range [$1, $2) of trace ids
-- ($2 NULL: no end).
-- Output: side (client: the record's span is the request's client span; server: its server span), service,
-- remote_service, peer (the request's server on the client side, its client on the server side), to_virtual (the
-- request reached a virtual node: no server span answered), calls.
WITH records AS (
  SELECT service, remote_service, trace_id, span_id
  FROM windowed_signals
  WHERE record_type = 'dependency' AND trace_id >= $1 AND ($2 IS NULL OR trace_id < $2)
),
calls AS (
  SELECT trace_id, client_span_id, server_span_id, client, server, virtual
  FROM service_graph_calls
  WHERE trace_id >= $1 AND ($2 IS NULL OR trace_id < $2)
)
SELECT 'client' AS side, r.service, r.remote_service, c.server AS peer,
       c.virtual IS NOT DISTINCT FROM 'server' AS to_virtual, COUNT(*) AS calls
FROM records r
JOIN calls c ON c.trace_id = r.trace_id AND c.client_span_id = r.span_id
GROUP BY r.service, r.remote_service, c.server, c.virtual IS NOT DISTINCT FROM 'server'
UNION ALL
SELECT 'server', r.service, r.remote_service, c.client, false, COUNT(*)
FROM records r
JOIN calls c ON c.trace_id = r.trace_id AND c.server_span_id = r.span_id
GROUP BY r.service, r.remote_service, c.client
