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
-- Each request once per side that has a span: the client side names its server, the server side its client.
ends AS (
  SELECT trace_id, client_span_id AS span_id, 'client' AS side, server AS peer,
         virtual IS NOT DISTINCT FROM 'server' AS to_virtual
  FROM service_graph_calls
  WHERE client_span_id IS NOT NULL AND trace_id >= $1 AND ($2 IS NULL OR trace_id < $2)
  UNION ALL
  SELECT trace_id, server_span_id, 'server', client, false
  FROM service_graph_calls
  WHERE server_span_id IS NOT NULL AND trace_id >= $1 AND ($2 IS NULL OR trace_id < $2)
)
SELECT e.side, r.service, r.remote_service, e.peer, e.to_virtual, COUNT(*) AS calls
FROM records r
JOIN ends e ON e.trace_id = r.trace_id AND e.span_id = r.span_id
GROUP BY e.side, r.service, r.remote_service, e.peer, e.to_virtual
