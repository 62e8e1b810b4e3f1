-- slo_records: the metric records each SLO reads, with the index of their period and whether the request is good.
-- Input: signals, slo_definitions (one row per SLO, resolved against the evaluation time).
-- Output: one row per (SLO, record) whose end time is in [records_from_ns, elapsed_end_ns): the SLO's interval up to
-- the evaluation time, preceded by its longest burn-rate look-back where that starts earlier. end_ns is the record's
-- end time (ns since the epoch); period_index counts periods from the interval start (negative before it, NULL for
-- request-based SLOs); good is the request's verdict: not bad (AVAILABILITY; bad is a fault, an error, or either, as
-- the definition's `bad` says) or latency_ms <request_operator> request_threshold (LATENCY); excluded: the record ends inside one of the SLO's exclusion windows (slo_exclusions, merged, so at
-- most one matches); adjusted_count: the requests the record stands for (1 unless its span was sampled). A target
-- attribute that is NULL in slo_definitions matches every value.
WITH matched AS (
  SELECT d.slo,
         d.metric,
         d.bad,
         d.request_threshold AS threshold,
         d.request_operator AS operator,
         d.period_ns,
         CAST(s."timestamp" AS BIGINT) AS end_ns,
         CAST(s."timestamp" AS BIGINT) - d.window_start_ns AS since_start_ns,
         s.latency_ms,
         s.duration_ns,
         s.error,
         s.fault,
         s.adjusted_count
  FROM signals s
  JOIN slo_definitions d
    ON arrow_cast(s.record_type, 'Utf8') = d.record_type AND arrow_cast(s.service, 'Utf8') = d.service
  WHERE CAST(s."timestamp" AS BIGINT) >= d.records_from_ns
    AND CAST(s."timestamp" AS BIGINT) < d.elapsed_end_ns
    AND (d.environment IS NULL OR arrow_cast(s.environment, 'Utf8') = d.environment)
    AND (d.operation IS NULL OR arrow_cast(s.operation, 'Utf8') = d.operation)
    AND (d.remote_service IS NULL OR arrow_cast(s.remote_service, 'Utf8') = d.remote_service)
    AND (d.remote_operation IS NULL OR arrow_cast(s.remote_operation, 'Utf8') = d.remote_operation)
    AND (d.remote_environment IS NULL OR arrow_cast(s.remote_environment, 'Utf8') = d.remote_environment)
    AND (d.remote_resource_type IS NULL OR arrow_cast(s.remote_resource_type, 'Utf8') = d.remote_resource_type)
    AND (d.remote_resource_identifier IS NULL
         OR arrow_cast(s.remote_resource_identifier, 'Utf8') = d.remote_resource_identifier)
),
judged AS (
  SELECT slo,
         end_ns,
         CASE WHEN since_start_ns >= 0 THEN since_start_ns / period_ns
              ELSE (since_start_ns + 1) / period_ns - 1 END AS period_index,
         latency_ms,
         duration_ns,
         fault,
         adjusted_count,
         CASE WHEN metric = 'AVAILABILITY' AND bad = 'error' THEN error = 0
              WHEN metric = 'AVAILABILITY' AND bad = 'fault_or_error' THEN fault = 0 AND error = 0
              WHEN metric = 'AVAILABILITY' THEN fault = 0
              WHEN operator = '>=' THEN latency_ms >= threshold
              WHEN operator = '>' THEN latency_ms > threshold
              WHEN operator = '<' THEN latency_ms < threshold
              ELSE latency_ms <= threshold END AS good
  FROM matched
)
SELECT j.slo,
       j.end_ns,
       j.period_index,
       j.latency_ms,
       j.duration_ns,
       j.fault,
       j.adjusted_count,
       j.good,
       x.slo IS NOT NULL AS excluded
FROM judged j
LEFT JOIN slo_exclusions x ON x.slo = j.slo AND j.end_ns >= x.start_ns AND j.end_ns < x.end_ns
