-- operation_metrics: RED metrics per service operation (dimension set S1: Environment, Service, Operation), per bucket
-- and for the whole window.
-- Input: windowed_signals (Service records). Output: one row per (bucket_start, environment, service, operation); the
-- row with bucket_start NULL covers the whole window. Latency in milliseconds, rates and availability in percent.
-- Each record counts its adjusted_count (1 unless its span was sampled): requests,
-- errors, faults and the latency sum add them up and each latency weighs that much in the percentiles.
WITH groups AS (
  SELECT bucket_start,
         environment,
         service,
         operation,
         -- (a group has records: COALESCE only tells the planner the sum is never NULL)
         COALESCE(SUM(adjusted_count), 0) AS requests,
         SUM(error * adjusted_count) AS errors,
         SUM(fault * adjusted_count) AS faults,
         SUM(duration_ns * adjusted_count) AS duration_ns_sum,
         MIN(latency_ms) AS latency_min_ms,
         MAX(latency_ms) AS latency_max_ms,
         latency_percentiles(latency_ms, adjusted_count, 0.5, 0.9, 0.99) AS latency_percentiles
  FROM windowed_signals
  WHERE record_type = 'service' AND environment IS NOT NULL AND operation IS NOT NULL
  GROUP BY GROUPING SETS ((bucket_start, environment, service, operation), (environment, service, operation))
)
SELECT bucket_start,
       environment,
       service,
       operation,
       requests,
       errors,
       faults,
       100.0 * errors / requests AS error_rate,
       100.0 * faults / requests AS fault_rate,
       100.0 - 100.0 * faults / requests AS availability,
       duration_ns_sum / 1e6 / requests AS latency_avg_ms,
       latency_min_ms,
       latency_max_ms,
       latency_percentiles[1] AS latency_p50_ms,
       latency_percentiles[2] AS latency_p90_ms,
       latency_percentiles[3] AS latency_p99_ms
FROM groups
ORDER BY environment, service, operation, bucket_start NULLS FIRST
