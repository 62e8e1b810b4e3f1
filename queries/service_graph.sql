-- service_graph: the trace-stitched service graph, one row per edge (client, server, connection_type, virtual) per
-- bucket and for the whole window.
-- Input: service_graph_calls; $1 bucket width in ns (BIGINT), $2/$3 window bounds (timestamps, UTC) on "time".
-- Output: requests, each side's spans, errors and faults (a virtual side has none), each side's latency (ms: avg, p50,
-- p90, p99, exact), the network and queueing time of paired requests (client minus server duration, ms: avg, p50,
-- p99; negative under clock skew) and its share of the client latency (percent), the first start and last end seen.
-- The row with bucket_start NULL covers the whole window.
WITH calls AS (
  SELECT *,
         arrow_cast(CAST("time" AS BIGINT) - CAST("time" AS BIGINT) % $1, 'Timestamp(Nanosecond, Some("UTC"))')
           AS bucket_start,
         client_duration_ns / 1e6 AS client_ms,
         server_duration_ns / 1e6 AS server_ms,
         (client_duration_ns - server_duration_ns) / 1e6 AS network_ms
  FROM service_graph_calls
  WHERE "time" >= $2 AND "time" < $3
),
groups AS (
  SELECT bucket_start, client, server, connection_type, virtual,
         COUNT(*) AS requests,
         COUNT(client_duration_ns) AS client_spans,
         SUM(client_error) AS client_errors,
         SUM(client_fault) AS client_faults,
         COUNT(server_duration_ns) AS server_spans,
         SUM(server_error) AS server_errors,
         SUM(server_fault) AS server_faults,
         SUM(client_duration_ns) AS client_ns_sum,
         SUM(server_duration_ns) AS server_ns_sum,
         COUNT(network_ms) AS paired,
         SUM(client_duration_ns - server_duration_ns) AS network_ns_sum,
         SUM(CASE WHEN network_ms IS NOT NULL THEN client_duration_ns END) AS paired_client_ns_sum,
         latency_percentiles(client_ms, 0.5, 0.9, 0.99) AS client_percentiles,
         latency_percentiles(server_ms, 0.5, 0.9, 0.99) AS server_percentiles,
         latency_percentiles(network_ms, 0.5, 0.99) AS network_percentiles,
         MIN(COALESCE(client_start, server_start)) AS first_start,
         MAX(COALESCE(client_end, server_end)) AS last_end,
         -- 1 on the window's rows. Ordered by this first: where the requests' times are one
         -- instant, DataFusion takes bucket_start for a constant (from the file statistics of
         -- requests written to disk) and drops it from the ORDER BY.
         GROUPING(bucket_start) AS whole_window
  FROM calls
  GROUP BY GROUPING SETS ((bucket_start, client, server, connection_type, virtual),
                          (client, server, connection_type, virtual))
)
SELECT bucket_start,
       client,
       server,
       connection_type,
       virtual,
       requests,
       client_spans,
       client_errors,
       client_faults,
       server_spans,
       server_errors,
       server_faults,
       CASE WHEN client_spans > 0 THEN client_ns_sum / 1e6 / client_spans END AS client_latency_avg_ms,
       client_percentiles[1] AS client_latency_p50_ms,
       client_percentiles[2] AS client_latency_p90_ms,
       client_percentiles[3] AS client_latency_p99_ms,
       CASE WHEN server_spans > 0 THEN server_ns_sum / 1e6 / server_spans END AS server_latency_avg_ms,
       server_percentiles[1] AS server_latency_p50_ms,
       server_percentiles[2] AS server_latency_p90_ms,
       server_percentiles[3] AS server_latency_p99_ms,
       CASE WHEN paired > 0 THEN network_ns_sum / 1e6 / paired END AS network_avg_ms,
       network_percentiles[1] AS network_p50_ms,
       network_percentiles[2] AS network_p99_ms,
       CASE WHEN paired_client_ns_sum > 0 THEN 100.0 * network_ns_sum / paired_client_ns_sum END AS network_share,
       first_start,
       last_end
FROM groups
ORDER BY client, server, connection_type, virtual NULLS FIRST, whole_window DESC, bucket_start NULLS FIRST
