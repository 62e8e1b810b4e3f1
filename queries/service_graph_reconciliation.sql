-- service_graph_reconciliation: the trace-stitched service graph next to Application Signals' dependency map (Service ->
-- RemoteService, as the client spans name the callee: dimension sets D3 and D6), one row per edge of either, over
-- the whole window.
-- Input: service_graph (its rows with bucket_start NULL), service_graph_nodes, windowed_signals (its dependency
-- records), service_graph_matches (of every range of trace ids). Output: client, server (the edge's ends: the
-- stitched client and server, or Service and RemoteService), seen_by (both, trace_only, client_only), trace_requests
-- (requests on the stitched edge),
-- signals_requests (dependency records), difference (trace minus signals), unpaired_requests (stitched requests to a
-- virtual node: no server span), reason and other_name (NULL when the views agree).
-- Each dependency record is matched to the stitched request of its span (service_graph_matches), so the server a
-- RemoteService's calls reach is known. Reasons, first that applies: missing_service_name (an end is UnknownService: no service.name
-- or an SDK's unknown_service*); uninstrumented_client (the caller is `user`: the server span's parent is not in the
-- input, so there is no client span to name the call); recorded_on_server_side (the records come from the server
-- side of stitched calls, as a consumer's record of the queue it reads: other_name is their client); sampling (no server span answered any of the calls, and the
-- callee is a service of the input: its spans for these calls are missing, sampled or dropped); uninstrumented_server
-- (no server span answered, and the callee is no service of the input); remote_named_by_address (Application Signals
-- names the callee by host:port or IP address, and the traces show that service: other_name);
-- remote_named_differently (by another name, e.g. an RPC service name: other_name); then, for an edge only some of
-- whose calls went unanswered, sampling or uninstrumented_server as above; no_dependency_record (stitched calls whose
-- client spans gave no dependency record).
WITH trace_edges AS (
  SELECT client, server,
         SUM(requests) AS requests,
         SUM(CASE WHEN virtual = 'server' THEN requests ELSE 0 END) AS unpaired
  FROM service_graph
  WHERE bucket_start IS NULL
  GROUP BY client, server
),
records AS (
  SELECT service, remote_service, trace_id, span_id
  FROM windowed_signals
  WHERE record_type = 'dependency'
),
signals_edges AS (
  SELECT service AS client, remote_service AS server, COUNT(*) AS requests
  FROM records
  GROUP BY service, remote_service
),
-- Where the views name one callee differently: per name pair, how many calls, and whether they reached a server span.
renamed AS (
  SELECT service AS client, remote_service, peer AS server, SUM(calls) AS calls, bool_and(to_virtual) AS to_virtual
  FROM service_graph_matches
  WHERE side = 'client' AND peer <> remote_service
  GROUP BY service, remote_service, peer
),
-- For a RemoteService, the stitched server most of its calls reach (the least name on a tie).
resolves_to AS (
  SELECT client, remote_service, server, to_virtual
  FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY client, remote_service ORDER BY calls DESC, server) AS n
        FROM renamed)
  WHERE n = 1
),
-- For a stitched server, the RemoteService most of its calls are named by.
named_as AS (
  SELECT client, server, remote_service
  FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY client, server ORDER BY calls DESC, remote_service) AS n
        FROM renamed)
  WHERE n = 1
),
-- Dependency records of spans that are the server side of a stitched call (a consumer's record of the queue it
-- reads): per Service and RemoteService, the stitched client most of them answer.
server_side AS (
  SELECT client, remote_service, caller
  FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY client, remote_service ORDER BY calls DESC, caller) AS n
        FROM (SELECT service AS client, remote_service, peer AS caller, SUM(calls) AS calls
              FROM service_graph_matches
              WHERE side = 'server'
              GROUP BY service, remote_service, peer))
  WHERE n = 1
),
-- Clients whose dependency records were matched: their stitched calls without a record are told apart.
recorded AS (
  SELECT DISTINCT service AS client FROM records
),
services AS (
  SELECT node FROM service_graph_nodes WHERE NOT virtual
),
edges AS (
  SELECT COALESCE(t.client, s.client) AS client,
         COALESCE(t.server, s.server) AS server,
         CASE WHEN t.client IS NULL THEN 'client_only' WHEN s.client IS NULL THEN 'trace_only' ELSE 'both' END
           AS seen_by,
         COALESCE(t.requests, 0) AS trace_requests,
         COALESCE(s.requests, 0) AS signals_requests,
         COALESCE(t.unpaired, 0) AS unpaired_requests
  FROM trace_edges t
  FULL JOIN signals_edges s ON t.client = s.client AND t.server = s.server
),
explained AS (
  SELECT e.*,
         CASE WHEN e.seen_by = 'client_only' THEN COALESCE(rt.server, ss.caller) ELSE na.remote_service END
           AS other_name,
         e.seen_by = 'client_only' AND rt.server IS NULL AND ss.caller IS NOT NULL AS server_side,
         -- No server span answered: every stitched call went to a virtual node.
         CASE WHEN e.seen_by = 'client_only' THEN COALESCE(rt.to_virtual, false)
              ELSE e.trace_requests > 0 AND e.unpaired_requests = e.trace_requests END AS unanswered,
         v.node IS NOT NULL OR w.node IS NOT NULL AS server_is_service,
         d.client IS NOT NULL AS client_recorded
  FROM edges e
  LEFT JOIN resolves_to rt ON rt.client = e.client AND rt.remote_service = e.server
  LEFT JOIN named_as na ON na.client = e.client AND na.server = e.server
  LEFT JOIN server_side ss ON ss.client = e.client AND ss.remote_service = e.server
  LEFT JOIN services v ON v.node = e.server
  LEFT JOIN services w ON w.node = rt.server
  LEFT JOIN recorded d ON d.client = e.client
)
SELECT client,
       server,
       seen_by,
       trace_requests,
       signals_requests,
       trace_requests - signals_requests AS difference,
       unpaired_requests,
       CASE WHEN client = 'UnknownService' OR server = 'UnknownService' THEN 'missing_service_name'
            WHEN client = 'user' AND seen_by = 'trace_only' THEN 'uninstrumented_client'
            WHEN server_side THEN 'recorded_on_server_side'
            WHEN unanswered AND server_is_service THEN 'sampling'
            WHEN unanswered THEN 'uninstrumented_server'
            WHEN other_name IS NOT NULL
                 AND regexp_like(CASE WHEN seen_by = 'client_only' THEN server ELSE other_name END,
                                 '(^[0-9]{1,3}(\.[0-9]{1,3}){3}(:[0-9]+)?$)|(^\[?[0-9a-fA-F:]*:[0-9a-fA-F:]*\]?(:[0-9]+)?$)|(:[0-9]+$)')
              THEN 'remote_named_by_address'
            WHEN other_name IS NOT NULL THEN 'remote_named_differently'
            WHEN unpaired_requests > 0 AND server_is_service THEN 'sampling'
            WHEN unpaired_requests > 0 THEN 'uninstrumented_server'
            WHEN seen_by = 'trace_only' AND client_recorded THEN 'no_dependency_record'
       END AS reason,
       other_name
FROM explained
ORDER BY client, server
