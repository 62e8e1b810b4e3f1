-- dependency_groups: exact partial aggregates of dependency records per finest group, which dependency_metrics combines.
-- Input: windowed_signals (Dependency records). Output: one row per bucket_start and the nine dimensions: requests,
-- errors, faults, the sum of durations (ns), the least and greatest latency and the list of latencies (ms),
-- with the list of their adjusted counts beside it (requests, errors, faults and sums count adjusted counts).
SELECT bucket_start, environment, service, operation, remote_service, remote_operation, remote_environment,
       remote_resource_type, remote_resource_identifier,
       SUM(adjusted_count) AS requests,
       SUM(error * adjusted_count) AS errors,
       SUM(fault * adjusted_count) AS faults,
       SUM(duration_ns * adjusted_count) AS duration_ns_sum,
       MIN(latency_ms) AS latency_min_ms,
       MAX(latency_ms) AS latency_max_ms,
       array_agg(latency_ms) AS latencies,
       array_agg(adjusted_count) AS latency_weights
FROM windowed_signals
WHERE record_type = 'dependency'
GROUP BY bucket_start, environment, service, operation, remote_service, remote_operation, remote_environment,
         remote_resource_type, remote_resource_identifier
