-- operation_metrics: RED metrics per service operation (dimension set S1: Environment, Service, Operation), per bucket
-- and for the whole window.
-- Input: windowed_signals (Service records). Output: one row per (bucket_start, environment, service, operation); the
-- row with bucket_start NULL covers the whole window. Latency in milliseconds, rates and availability in percent.
SELECT bucket_start,
       environment,
       service,
       operation,
       COUNT(*) AS requests,
       SUM(error) AS errors,
       SUM(fault) AS faults,
       100.0 * SUM(error) / COUNT(*) AS error_rate,
       100.0 * SUM(fault) / COUNT(*) AS fault_rate,
       100.0 - 100.0 * SUM(fault) / COUNT(*) AS availability,
       SUM(duration_ns) / 1e6 / COUNT(*) AS latency_avg_ms,
       MIN(latency_ms) AS latency_min_ms,
       MAX(latency_ms) AS latency_max_ms,
       latency_percentile(latency_ms, 0.5) AS latency_p50_ms,
       latency_percentile(latency_ms, 0.9) AS latency_p90_ms,
       latency_percentile(latency_ms, 0.99) AS latency_p99_ms
FROM windowed_signals
WHERE record_type = 'service' AND environment IS NOT NULL AND operation IS NOT NULL
GROUP BY GROUPING SETS ((bucket_start, environment, service, operation), (environment, service, operation))
ORDER BY environment, service, operation, bucket_start NULLS FIRST
