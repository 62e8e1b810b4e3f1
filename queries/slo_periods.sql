-- slo_periods: the datapoint of every period that has records, for each period-based SLO, and its verdict.
-- Input: slo_records, slo_definitions, slo_excluded_periods. Output: one row per (slo, period_index) with records: period_start/period_end
-- (UTC), requests, faults, value (with the statistic 'good_share', the share of the period's requests that are good,
-- in percent: an OpenSLO time slice's ratio; otherwise the period's availability in percent for AVAILABILITY; for
-- LATENCY the SLO's statistic of latency_ms: an exact percentile, p·(n−1) interpolated between closest ranks as percentile_cont,
-- or Average, Minimum, Maximum, Sum, SampleCount), excluded (the period overlaps an exclusion window:
-- slo_excluded_periods), good (value <operator> threshold, or excluded: non-breaching) and in_interval (false for a
-- look-back period before a calendar interval's start). Periods without records are not listed. Records count their
-- adjusted_count: in requests, faults and good shares, and as weights of the percentile (the latencies repeated that
-- many times: rank_end is the rank after a record's last copy).
WITH ranked AS (
  SELECT r.slo,
         r.period_index,
         r.latency_ms,
         r.duration_ns,
         r.fault,
         r.adjusted_count,
         r.good,
         d.stat_fraction * (SUM(r.adjusted_count) OVER (PARTITION BY r.slo, r.period_index) - 1) AS position,
         SUM(r.adjusted_count) OVER (PARTITION BY r.slo, r.period_index ORDER BY r.latency_ms
                                     ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS rank_end
  FROM slo_records r
  JOIN slo_definitions d ON r.slo = d.slo
  WHERE d.evaluation = 'PeriodBased'
),
groups AS (
  SELECT slo,
         period_index,
         SUM(adjusted_count) AS requests,
         SUM(fault * adjusted_count) AS faults,
         SUM(CASE WHEN good THEN adjusted_count ELSE 0 END) AS good_requests,
         SUM(duration_ns * adjusted_count) AS duration_ns_sum,
         MIN(latency_ms) AS latency_min,
         MAX(latency_ms) AS latency_max,
         SUM(latency_ms * adjusted_count) AS latency_sum,
         MAX(position) AS position,
         MAX(CASE WHEN floor(position) >= rank_end - adjusted_count AND floor(position) < rank_end
                  THEN latency_ms END) AS lower_value,
         MAX(CASE WHEN floor(position) + 1 >= rank_end - adjusted_count AND floor(position) + 1 < rank_end
                  THEN latency_ms END) AS upper_value
  FROM ranked
  GROUP BY slo, period_index
),
valued AS (
  SELECT d.slo_index,
         g.slo,
         g.period_index,
         d.window_start_ns + g.period_index * d.period_ns AS period_start_ns,
         d.period_ns,
         g.requests,
         g.faults,
         CASE WHEN d.stat_kind = 'good_share' THEN 100.0 * g.good_requests / g.requests
              WHEN d.metric = 'AVAILABILITY' THEN 100.0 - 100.0 * g.faults / g.requests
              WHEN d.stat_kind = 'percentile' THEN
                CASE WHEN g.position = floor(g.position) THEN g.lower_value
                     ELSE g.lower_value + (g.position - floor(g.position)) * (g.upper_value - g.lower_value) END
              WHEN d.stat_kind = 'average' THEN g.duration_ns_sum / 1e6 / g.requests
              WHEN d.stat_kind = 'minimum' THEN g.latency_min
              WHEN d.stat_kind = 'maximum' THEN g.latency_max
              WHEN d.stat_kind = 'sum' THEN g.latency_sum
              ELSE CAST(g.requests AS DOUBLE) END AS value,
         d.threshold,
         d.operator,
         d.periods_elapsed
  FROM groups g
  JOIN slo_definitions d ON g.slo = d.slo
)
SELECT v.slo,
       v.period_index,
       arrow_cast(to_timestamp_nanos(period_start_ns), 'Timestamp(Nanosecond, Some("UTC"))') AS period_start,
       arrow_cast(to_timestamp_nanos(period_start_ns + period_ns), 'Timestamp(Nanosecond, Some("UTC"))') AS period_end,
       requests,
       faults,
       value,
       e.slo IS NOT NULL AS excluded,
       e.slo IS NOT NULL
       OR CASE WHEN operator = '>=' THEN value >= threshold
               WHEN operator = '>' THEN value > threshold
               WHEN operator = '<' THEN value < threshold
               ELSE value <= threshold END AS good,
       v.period_index >= 0 AND v.period_index < periods_elapsed AS in_interval
FROM valued v
LEFT JOIN slo_excluded_periods e ON e.slo = v.slo AND e.period_index = v.period_index
ORDER BY slo_index, v.period_index
