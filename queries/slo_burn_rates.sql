-- slo_burn_rates: the burn rate of each SLO over each of its look-back windows, ending at the evaluation time.
-- Input: slo_burn_windows, slo_definitions, slo_periods, slo_records, slo_excluded_periods, slos; $1 as for slos
-- (excluded periods are good, excluded requests are not counted).
-- Output: one row per (slo, lookback_minutes). error_rate: bad periods / periods in the window (period-based; the
-- window is the last lookback/period periods of the interval grid) or bad requests / requests (request-based).
-- With attainment_rule 'mean_value' (RatioTimeslices) the error rate is the periods' mean shortfall, 1 − value/100
-- (0 for an excluded period; with $1, 1 for a period without records). burn_rate = error_rate / (1 − goal/100); a window without records falls back to the attainment,
-- (100 − attainment) / (100 − goal), with basis 'attainment' (Application Signals' rule for no data).
WITH windows AS (
  SELECT w.slo,
         w.lookback_minutes,
         d.slo_index,
         d.evaluation,
         d.attainment_rule,
         d.budget_fraction,
         d.elapsed_end_ns - w.lookback_ns AS from_ns,
         d.elapsed_end_ns AS to_ns,
         d.periods_elapsed - w.lookback_ns / d.period_ns AS first_period,
         d.periods_elapsed AS end_period,
         w.lookback_ns / d.period_ns AS periods
  FROM slo_burn_windows w
  JOIN slo_definitions d ON w.slo = d.slo
),
period_counts AS (
  SELECT w.slo,
         w.lookback_minutes,
         COUNT(p.slo) AS with_data,
         COUNT(p.slo) FILTER (WHERE NOT p.good) AS failed,
         SUM(CASE WHEN p.excluded THEN 0.0 ELSE 1.0 - p.value / 100.0 END) AS shortfall
  FROM windows w
  LEFT JOIN slo_periods p
    ON p.slo = w.slo AND p.period_index >= w.first_period AND p.period_index < w.end_period
  WHERE w.evaluation = 'PeriodBased'
  GROUP BY w.slo, w.lookback_minutes
),
idle_excluded AS (
  SELECT w.slo,
         w.lookback_minutes,
         COUNT(*) AS periods
  FROM windows w
  JOIN slo_excluded_periods e
    ON e.slo = w.slo AND e.period_index >= w.first_period AND e.period_index < w.end_period
  LEFT JOIN slo_periods p ON p.slo = e.slo AND p.period_index = e.period_index
  WHERE p.slo IS NULL
  GROUP BY w.slo, w.lookback_minutes
),
request_counts AS (
  SELECT w.slo,
         w.lookback_minutes,
         COALESCE(SUM(r.adjusted_count), 0) AS requests,
         COALESCE(SUM(CASE WHEN NOT r.good THEN r.adjusted_count END), 0) AS bad_requests
  FROM windows w
  LEFT JOIN slo_records r ON r.slo = w.slo AND r.end_ns >= w.from_ns AND NOT r.excluded
  WHERE w.evaluation = 'RequestBased'
  GROUP BY w.slo, w.lookback_minutes
),
rates AS (
  SELECT w.slo_index,
         w.slo,
         w.lookback_minutes,
         w.from_ns,
         w.to_ns,
         w.budget_fraction,
         CASE WHEN w.evaluation = 'PeriodBased' THEN w.periods END AS periods,
         CASE WHEN w.evaluation = 'PeriodBased' THEN
           pc.failed + CASE WHEN $1 THEN w.periods - pc.with_data - COALESCE(ie.periods, 0) ELSE 0 END END
           AS bad_periods,
         rc.requests,
         rc.bad_requests,
         CASE WHEN w.evaluation = 'PeriodBased' THEN pc.with_data > 0 ELSE rc.requests > 0 END AS has_data,
         CASE WHEN w.attainment_rule = 'mean_value' THEN
                (pc.shortfall + CASE WHEN $1 THEN w.periods - pc.with_data - COALESCE(ie.periods, 0) ELSE 0 END)
                / NULLIF(pc.with_data
                         + CASE WHEN $1 THEN w.periods - pc.with_data - COALESCE(ie.periods, 0) ELSE 0 END, 0)
              WHEN w.evaluation = 'PeriodBased' THEN
                (pc.failed + CASE WHEN $1 THEN w.periods - pc.with_data - COALESCE(ie.periods, 0) ELSE 0 END)
                / CAST(w.periods AS DOUBLE)
              WHEN rc.requests > 0 THEN rc.bad_requests / CAST(rc.requests AS DOUBLE) END AS error_rate
  FROM windows w
  LEFT JOIN period_counts pc ON pc.slo = w.slo AND pc.lookback_minutes = w.lookback_minutes
  LEFT JOIN request_counts rc ON rc.slo = w.slo AND rc.lookback_minutes = w.lookback_minutes
  LEFT JOIN idle_excluded ie ON ie.slo = w.slo AND ie.lookback_minutes = w.lookback_minutes
)
SELECT r.slo,
       r.lookback_minutes,
       arrow_cast(to_timestamp_nanos(r.from_ns), 'Timestamp(Nanosecond, Some("UTC"))') AS window_start,
       arrow_cast(to_timestamp_nanos(r.to_ns), 'Timestamp(Nanosecond, Some("UTC"))') AS window_end,
       r.periods,
       r.bad_periods,
       r.requests,
       r.bad_requests,
       CASE WHEN r.has_data THEN r.error_rate END AS error_rate,
       CASE WHEN r.has_data THEN r.error_rate / r.budget_fraction
            ELSE (100.0 - s.attainment) / 100.0 / r.budget_fraction END AS burn_rate,
       CASE WHEN r.has_data THEN 'window' ELSE 'attainment' END AS basis
FROM rates r
JOIN slos s ON s.slo = r.slo
ORDER BY r.slo_index, r.lookback_minutes
