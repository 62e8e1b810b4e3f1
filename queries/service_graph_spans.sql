-- service_graph_spans: the spans the service graph pairs, one row each: CLIENT, PRODUCER, SERVER and CONSUMER spans
-- with what the graph reads of them.
-- Input: spans. Output: trace_id, span_id, parent_span_id, kind (text), service (UnknownService without service.name
-- or with an SDK's unknown_service*), start_time, end_time, duration_ns, error and fault (Application Signals: error =
-- HTTP 4xx; fault = HTTP 5xx, or status ERROR without a 4xx code), connection_type (messaging, database, rpc, http or
-- other, from the span's kind and attributes), peer (what a virtual callee is named: the first the span carries of
-- the attributes $1 ... $8 name, each a position among c1 ... c8, NULL when unused; by default peer.service, db.name,
-- db.system, messaging.destination, server.address) and links.
-- $1 ... $8 (BIGINT): positions among c1 ... c8: 1 peer.service, 2 db.name (db.namespace), 3 db.system
-- (db.system.name), 4 messaging.destination (.name), 5 server.address (net.peer.name), 6 rpc.service,
-- 7 network.peer.address, 8 faas.invoked_name.
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
       COALESCE(
                CASE $1 WHEN 1 THEN c1 WHEN 2 THEN c2 WHEN 3 THEN c3 WHEN 4 THEN c4 WHEN 5 THEN c5 WHEN 6 THEN c6 WHEN 7 THEN c7 WHEN 8 THEN c8 END,
                CASE $2 WHEN 1 THEN c1 WHEN 2 THEN c2 WHEN 3 THEN c3 WHEN 4 THEN c4 WHEN 5 THEN c5 WHEN 6 THEN c6 WHEN 7 THEN c7 WHEN 8 THEN c8 END,
                CASE $3 WHEN 1 THEN c1 WHEN 2 THEN c2 WHEN 3 THEN c3 WHEN 4 THEN c4 WHEN 5 THEN c5 WHEN 6 THEN c6 WHEN 7 THEN c7 WHEN 8 THEN c8 END,
                CASE $4 WHEN 1 THEN c1 WHEN 2 THEN c2 WHEN 3 THEN c3 WHEN 4 THEN c4 WHEN 5 THEN c5 WHEN 6 THEN c6 WHEN 7 THEN c7 WHEN 8 THEN c8 END,
                CASE $5 WHEN 1 THEN c1 WHEN 2 THEN c2 WHEN 3 THEN c3 WHEN 4 THEN c4 WHEN 5 THEN c5 WHEN 6 THEN c6 WHEN 7 THEN c7 WHEN 8 THEN c8 END,
                CASE $6 WHEN 1 THEN c1 WHEN 2 THEN c2 WHEN 3 THEN c3 WHEN 4 THEN c4 WHEN 5 THEN c5 WHEN 6 THEN c6 WHEN 7 THEN c7 WHEN 8 THEN c8 END,
                CASE $7 WHEN 1 THEN c1 WHEN 2 THEN c2 WHEN 3 THEN c3 WHEN 4 THEN c4 WHEN 5 THEN c5 WHEN 6 THEN c6 WHEN 7 THEN c7 WHEN 8 THEN c8 END,
                CASE $8 WHEN 1 THEN c1 WHEN 2 THEN c2 WHEN 3 THEN c3 WHEN 4 THEN c4 WHEN 5 THEN c5 WHEN 6 THEN c6 WHEN 7 THEN c7 WHEN 8 THEN c8 END)
         AS peer,
       links
FROM (SELECT *,
             arrow_cast(peer_service, 'Utf8') AS c1, arrow_cast(db_name, 'Utf8') AS c2,
             arrow_cast(db_system, 'Utf8') AS c3, arrow_cast(messaging_destination, 'Utf8') AS c4,
             arrow_cast(server_address, 'Utf8') AS c5, arrow_cast(rpc_service, 'Utf8') AS c6,
             arrow_cast(network_peer_address, 'Utf8') AS c7, arrow_cast(faas_invoked_name, 'Utf8') AS c8
      FROM spans
      WHERE arrow_cast(kind, 'Utf8') IN ('CLIENT', 'PRODUCER', 'SERVER', 'CONSUMER'))
