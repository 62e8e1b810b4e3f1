-- service_graph_nodes: the nodes of the trace-stitched service graph over the whole window.
-- Input: service_graph (its rows with bucket_start NULL). Output: one row per node: virtual (true when the node is only
-- ever a virtual side: the `user` caller, or a callee named from its clients' spans), the requests it received and
-- sent, the faults of its server spans, the faults its callers' client spans saw, and how many distinct services
-- call it and it calls.
WITH ends AS (
  SELECT server AS node, client AS peer, 'server' AS role, virtual IS NOT DISTINCT FROM 'server' AS is_virtual,
         requests, COALESCE(server_faults, 0) AS server_faults, COALESCE(client_faults, 0) AS client_seen_faults
  FROM service_graph
  WHERE bucket_start IS NULL
  UNION ALL
  SELECT client, server, 'client', virtual IS NOT DISTINCT FROM 'client', requests, 0, 0
  FROM service_graph
  WHERE bucket_start IS NULL
)
SELECT node,
       bool_and(is_virtual) AS virtual,
       COALESCE(SUM(requests) FILTER (WHERE role = 'server'), 0) AS requests_received,
       COALESCE(SUM(requests) FILTER (WHERE role = 'client'), 0) AS requests_sent,
       SUM(server_faults) AS server_faults,
       SUM(client_seen_faults) AS client_seen_faults,
       COUNT(DISTINCT peer) FILTER (WHERE role = 'server') AS callers,
       COUNT(DISTINCT peer) FILTER (WHERE role = 'client') AS callees
FROM ends
GROUP BY node
ORDER BY node
