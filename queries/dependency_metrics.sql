-- dependency_metrics: RED metrics of dependency calls for each dimension set D1..D13 of Application Signals, per bucket
-- and for the whole window.
-- Input: windowed_signals (Dependency records). Output: one row per dimension_set and group; dimensions outside the set
-- are NULL, and a record counts in a set only if it has every dimension of the set (as in EMF). D3 is the console's
-- Dependencies table (per Service, Operation, RemoteService, RemoteOperation, RemoteResourceType/Identifier); the row
-- with bucket_start NULL covers the whole window. Latency in milliseconds, rates and availability in percent.
WITH fine AS (
  -- Exact partial aggregates per finest group, so the 26 grouping sets below combine a few rows each.
  SELECT bucket_start, environment, service, operation, remote_service, remote_operation, remote_environment,
         remote_resource_type, remote_resource_identifier,
         COUNT(*) AS requests,
         SUM(error) AS errors,
         SUM(fault) AS faults,
         SUM(duration_ns) AS duration_ns_sum,
         MIN(latency_ms) AS latency_min_ms,
         MAX(latency_ms) AS latency_max_ms,
         array_agg(latency_ms) AS latencies
  FROM windowed_signals
  WHERE record_type = 'dependency'
  GROUP BY bucket_start, environment, service, operation, remote_service, remote_operation, remote_environment,
           remote_resource_type, remote_resource_identifier
), groups AS (
  SELECT CASE grouping(environment) * 16 + grouping(operation) * 8 + grouping(remote_operation) * 4
            + grouping(remote_environment) * 2 + grouping(remote_resource_type)
           WHEN 0 THEN 'D1'
           WHEN 1 THEN 'D2'
           WHEN 2 THEN 'D3'
           WHEN 3 THEN 'D4'
           WHEN 13 THEN 'D5'
           WHEN 15 THEN 'D6'
           WHEN 8 THEN 'D7'
           WHEN 9 THEN 'D8'
           WHEN 10 THEN 'D9'
           WHEN 11 THEN 'D10'
           WHEN 14 THEN 'D11'
           WHEN 30 THEN 'D12'
           WHEN 31 THEN 'D13'
       END AS dimension_set,
         bucket_start,
         environment,
         service,
         operation,
         remote_service,
         remote_operation,
         remote_environment,
         remote_resource_type,
         remote_resource_identifier,
         SUM(requests) AS requests,
         SUM(errors) AS errors,
         SUM(faults) AS faults,
         SUM(duration_ns_sum) AS duration_ns_sum,
         MIN(latency_min_ms) AS latency_min_ms,
         MAX(latency_max_ms) AS latency_max_ms,
         latency_percentiles(latencies, 0.5, 0.9, 0.99) AS latency_percentiles
  FROM fine
  GROUP BY GROUPING SETS (
      (bucket_start, environment, service, operation, remote_service, remote_operation, remote_environment, remote_resource_type, remote_resource_identifier),
      (environment, service, operation, remote_service, remote_operation, remote_environment, remote_resource_type, remote_resource_identifier),
      (bucket_start, environment, service, operation, remote_service, remote_operation, remote_environment),
      (environment, service, operation, remote_service, remote_operation, remote_environment),
      (bucket_start, environment, service, operation, remote_service, remote_operation, remote_resource_type, remote_resource_identifier),
      (environment, service, operation, remote_service, remote_operation, remote_resource_type, remote_resource_identifier),
      (bucket_start, environment, service, operation, remote_service, remote_operation),
      (environment, service, operation, remote_service, remote_operation),
      (bucket_start, environment, service, remote_service, remote_environment),
      (environment, service, remote_service, remote_environment),
      (bucket_start, environment, service, remote_service),
      (environment, service, remote_service),
      (bucket_start, environment, service, remote_service, remote_operation, remote_environment, remote_resource_type, remote_resource_identifier),
      (environment, service, remote_service, remote_operation, remote_environment, remote_resource_type, remote_resource_identifier),
      (bucket_start, environment, service, remote_service, remote_operation, remote_environment),
      (environment, service, remote_service, remote_operation, remote_environment),
      (bucket_start, environment, service, remote_service, remote_operation, remote_resource_type, remote_resource_identifier),
      (environment, service, remote_service, remote_operation, remote_resource_type, remote_resource_identifier),
      (bucket_start, environment, service, remote_service, remote_operation),
      (environment, service, remote_service, remote_operation),
      (bucket_start, environment, service, remote_service, remote_resource_type, remote_resource_identifier),
      (environment, service, remote_service, remote_resource_type, remote_resource_identifier),
      (bucket_start, remote_service, remote_resource_type, remote_resource_identifier),
      (remote_service, remote_resource_type, remote_resource_identifier),
      (bucket_start, remote_service),
      (remote_service)
  )
  HAVING NOT ((grouping(environment) = 0 AND (environment IS NULL OR service IS NULL))
           OR (grouping(operation) = 0 AND operation IS NULL)
           OR remote_service IS NULL
           OR (grouping(remote_operation) = 0 AND remote_operation IS NULL)
           OR (grouping(remote_environment) = 0 AND remote_environment IS NULL)
           OR (grouping(remote_resource_type) = 0 AND (remote_resource_type IS NULL OR remote_resource_identifier IS NULL)))
)
SELECT dimension_set,
       bucket_start,
       environment,
       service,
       operation,
       remote_service,
       remote_operation,
       remote_environment,
       remote_resource_type,
       remote_resource_identifier,
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
ORDER BY length(dimension_set), dimension_set, environment, service, operation, remote_service, remote_operation, remote_environment,
         remote_resource_type, remote_resource_identifier, bucket_start NULLS FIRST
