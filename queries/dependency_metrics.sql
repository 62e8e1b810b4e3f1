-- dependency_metrics: RED metrics of dependency calls for each dimension set D1..D13 of Application Signals, per bucket
-- and for the whole window.
-- Input: dependency_groups. Output: one row per dimension_set and group; dimensions outside the set are NULL, and a
-- record counts in a set only if it has every dimension of the set (as in EMF). D3 is the console's Dependencies
-- table (per Service, Operation, RemoteService, RemoteOperation, RemoteResourceType/Identifier); the row with
-- bucket_start NULL covers the whole window. Latency in milliseconds, rates and availability in percent.
-- The 26 grouping sets run in three aggregates, each over the groups that can have rows in its sets: a set with
-- RemoteEnvironment or RemoteResourceType only sees groups that have one, instead of building groups to drop them.
-- set_bits: 16 without Environment and Service, 8 without Operation, 4 without RemoteOperation, 2 without
-- RemoteEnvironment, 1 without RemoteResourceType and RemoteResourceIdentifier.
WITH sets AS (
  -- D4, D6, D10, D13: no RemoteEnvironment, no RemoteResourceType.
  SELECT grouping(environment) * 16 + grouping(operation) * 8 + grouping(remote_operation) * 4 + 3 AS set_bits,
         bucket_start, environment, service, operation, remote_service, remote_operation,
         arrow_cast(NULL, 'Utf8') AS remote_environment,
         arrow_cast(NULL, 'Utf8') AS remote_resource_type,
         arrow_cast(NULL, 'Utf8') AS remote_resource_identifier,
         SUM(requests) AS requests,
         SUM(errors) AS errors,
         SUM(faults) AS faults,
         SUM(duration_ns_sum) AS duration_ns_sum,
         MIN(latency_min_ms) AS latency_min_ms,
         MAX(latency_max_ms) AS latency_max_ms,
         latency_percentiles(latencies, latency_weights, 0.5, 0.9, 0.99) AS latency_percentiles
  FROM dependency_groups
  GROUP BY GROUPING SETS (
      (bucket_start, environment, service, operation, remote_service, remote_operation),
      (environment, service, operation, remote_service, remote_operation),
      (bucket_start, environment, service, remote_service),
      (environment, service, remote_service),
      (bucket_start, environment, service, remote_service, remote_operation),
      (environment, service, remote_service, remote_operation),
      (bucket_start, remote_service),
      (remote_service)
  )
  UNION ALL
  -- D3, D9, D11, D12: RemoteResourceType, no RemoteEnvironment.
  SELECT grouping(environment) * 16 + grouping(operation) * 8 + grouping(remote_operation) * 4 + 2 AS set_bits,
         bucket_start, environment, service, operation, remote_service, remote_operation,
         arrow_cast(NULL, 'Utf8') AS remote_environment,
         remote_resource_type, remote_resource_identifier,
         SUM(requests) AS requests,
         SUM(errors) AS errors,
         SUM(faults) AS faults,
         SUM(duration_ns_sum) AS duration_ns_sum,
         MIN(latency_min_ms) AS latency_min_ms,
         MAX(latency_max_ms) AS latency_max_ms,
         latency_percentiles(latencies, latency_weights, 0.5, 0.9, 0.99) AS latency_percentiles
  FROM dependency_groups
  WHERE remote_resource_type IS NOT NULL AND remote_resource_identifier IS NOT NULL
  GROUP BY GROUPING SETS (
      (bucket_start, environment, service, operation, remote_service, remote_operation, remote_resource_type, remote_resource_identifier),
      (environment, service, operation, remote_service, remote_operation, remote_resource_type, remote_resource_identifier),
      (bucket_start, environment, service, remote_service, remote_operation, remote_resource_type, remote_resource_identifier),
      (environment, service, remote_service, remote_operation, remote_resource_type, remote_resource_identifier),
      (bucket_start, environment, service, remote_service, remote_resource_type, remote_resource_identifier),
      (environment, service, remote_service, remote_resource_type, remote_resource_identifier),
      (bucket_start, remote_service, remote_resource_type, remote_resource_identifier),
      (remote_service, remote_resource_type, remote_resource_identifier)
  )
  UNION ALL
  -- D1, D2, D5, D7, D8: RemoteEnvironment.
  SELECT grouping(environment) * 16 + grouping(operation) * 8 + grouping(remote_operation) * 4
           + grouping(remote_resource_type) AS set_bits,
         bucket_start, environment, service, operation, remote_service, remote_operation, remote_environment,
         remote_resource_type, remote_resource_identifier,
         SUM(requests) AS requests,
         SUM(errors) AS errors,
         SUM(faults) AS faults,
         SUM(duration_ns_sum) AS duration_ns_sum,
         MIN(latency_min_ms) AS latency_min_ms,
         MAX(latency_max_ms) AS latency_max_ms,
         latency_percentiles(latencies, latency_weights, 0.5, 0.9, 0.99) AS latency_percentiles
  FROM dependency_groups
  WHERE remote_environment IS NOT NULL
  GROUP BY GROUPING SETS (
      (bucket_start, environment, service, operation, remote_service, remote_operation, remote_environment, remote_resource_type, remote_resource_identifier),
      (environment, service, operation, remote_service, remote_operation, remote_environment, remote_resource_type, remote_resource_identifier),
      (bucket_start, environment, service, operation, remote_service, remote_operation, remote_environment),
      (environment, service, operation, remote_service, remote_operation, remote_environment),
      (bucket_start, environment, service, remote_service, remote_environment),
      (environment, service, remote_service, remote_environment),
      (bucket_start, environment, service, remote_service, remote_operation, remote_environment, remote_resource_type, remote_resource_identifier),
      (environment, service, remote_service, remote_operation, remote_environment, remote_resource_type, remote_resource_identifier),
      (bucket_start, environment, service, remote_service, remote_operation, remote_environment),
      (environment, service, remote_service, remote_operation, remote_environment)
  )
), groups AS (
  SELECT CASE set_bits
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
         *
  FROM sets
  -- A set's RemoteEnvironment is never NULL: the third aggregate reads only groups that have one.
  WHERE NOT (((set_bits & 16) = 0 AND (environment IS NULL OR service IS NULL))
          OR ((set_bits & 8) = 0 AND operation IS NULL)
          OR remote_service IS NULL
          OR ((set_bits & 4) = 0 AND remote_operation IS NULL)
          OR ((set_bits & 1) = 0 AND (remote_resource_type IS NULL OR remote_resource_identifier IS NULL)))
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
