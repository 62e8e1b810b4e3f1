-- slo_burn_series: each SLO's burn rate minute by minute over its interval, for every look-back window its alert
-- rules use: what a burn-rate alarm evaluated every minute would have seen.
-- Input: slo_definitions, slo_alert_rules, slo_records, slo_periods; $1 as for slos (a period without records is bad).
-- Output: one row per (slo, lookback_minutes, minute boundary `time` in (interval start, evaluation time]): the window
-- is [time − lookback, time). Request-based: requests and bad requests ending in it (excluded ones not counted),
-- error_rate = bad / requests. Period-based: the periods ending in it (lookback / period of them) and the failed
-- ones (plus those without records when $1), error_rate = bad / periods; with attainment_rule 'mean_value'
-- (RatioTimeslices) the mean shortfall 1 − value/100 of the periods with records (0 for an excluded one; with $1 also
-- those without records, at 1). burn_rate = error_rate / (1 − goal/100);
-- NULL without data. A window reaching before the first record the SLO reads sees only the records there are.
WITH windows AS (
  SELECT slo, long_minutes AS minutes FROM slo_alert_rules
  UNION
  SELECT slo, short_minutes AS minutes FROM slo_alert_rules
),
bounds AS (
  SELECT d.slo,
         d.slo_index,
         d.evaluation,
         d.attainment_rule,
         d.budget_fraction,
         d.period_ns,
         d.window_start_ns / 60000000000 AS first_minute,
         (d.elapsed_end_ns - 1) / 60000000000 AS last_minute,
         MAX(w.minutes) AS longest
  FROM slo_definitions d
  JOIN windows w ON w.slo = d.slo
  WHERE d.elapsed_end_ns > d.window_start_ns
  GROUP BY d.slo, d.slo_index, d.evaluation, d.attainment_rule, d.budget_fraction, d.period_ns, d.window_start_ns,
           d.elapsed_end_ns
),
grid AS (
  SELECT slo, unnest(generate_series(first_minute - longest, last_minute)) AS minute FROM bounds
),
-- What ends in each minute: requests (request-based) or periods (period-based), all and bad.
events AS (
  SELECT r.slo,
         r.end_ns / 60000000000 AS minute,
         SUM(r.adjusted_count) AS total,
         SUM(CASE WHEN r.good THEN 0 ELSE r.adjusted_count END) AS bad,
         0.0 AS shortfall
  FROM slo_records r
  JOIN slo_definitions d ON d.slo = r.slo
  WHERE d.evaluation = 'RequestBased' AND NOT r.excluded
  GROUP BY r.slo, r.end_ns / 60000000000
  UNION ALL
  SELECT p.slo,
         (d.window_start_ns + (p.period_index + 1) * d.period_ns - 1) / 60000000000 AS minute,
         COUNT(*) AS total,
         COUNT(*) FILTER (WHERE NOT p.good) AS bad,
         SUM(CASE WHEN p.excluded THEN 0.0 ELSE 1.0 - p.value / 100.0 END) AS shortfall
  FROM slo_periods p
  JOIN slo_definitions d ON d.slo = p.slo
  GROUP BY p.slo, (d.window_start_ns + (p.period_index + 1) * d.period_ns - 1) / 60000000000
),
cumulative AS (
  SELECT g.slo,
         g.minute,
         SUM(COALESCE(e.total, 0)) OVER (PARTITION BY g.slo ORDER BY g.minute ROWS UNBOUNDED PRECEDING) AS total,
         SUM(COALESCE(e.bad, 0)) OVER (PARTITION BY g.slo ORDER BY g.minute ROWS UNBOUNDED PRECEDING) AS bad,
         SUM(COALESCE(e.shortfall, 0.0)) OVER (PARTITION BY g.slo ORDER BY g.minute ROWS UNBOUNDED PRECEDING)
           AS shortfall
  FROM grid g
  LEFT JOIN events e ON e.slo = g.slo AND e.minute = g.minute
),
counts AS (
  SELECT b.slo_index,
         b.slo,
         b.evaluation,
         b.attainment_rule,
         b.budget_fraction,
         w.minutes AS lookback_minutes,
         c.minute,
         CASE WHEN b.evaluation = 'PeriodBased' THEN w.minutes * 60000000000 / b.period_ns END AS periods,
         c.total - p.total AS total,
         c.bad - p.bad AS bad,
         c.shortfall - p.shortfall AS shortfall
  FROM bounds b
  JOIN windows w ON w.slo = b.slo
  JOIN cumulative c ON c.slo = b.slo AND c.minute >= b.first_minute
  JOIN cumulative p ON p.slo = b.slo AND p.minute = c.minute - w.minutes
),
rates AS (
  SELECT *,
         CASE WHEN evaluation = 'PeriodBased' THEN bad + CASE WHEN $1 THEN periods - total ELSE 0 END END
           AS bad_periods,
         CASE WHEN attainment_rule = 'mean_value' AND total > 0 THEN
                (shortfall + CASE WHEN $1 THEN periods - total ELSE 0 END)
                / CAST(total + CASE WHEN $1 THEN periods - total ELSE 0 END AS DOUBLE)
              WHEN evaluation = 'PeriodBased' AND total > 0 AND periods > 0 THEN
                (bad + CASE WHEN $1 THEN periods - total ELSE 0 END) / CAST(periods AS DOUBLE)
              WHEN evaluation = 'RequestBased' AND total > 0 THEN bad / CAST(total AS DOUBLE) END AS error_rate
  FROM counts
)
SELECT slo,
       lookback_minutes,
       arrow_cast(to_timestamp_nanos((minute + 1) * 60000000000), 'Timestamp(Nanosecond, Some("UTC"))') AS "time",
       periods,
       bad_periods,
       CASE WHEN evaluation = 'RequestBased' THEN total END AS requests,
       CASE WHEN evaluation = 'RequestBased' THEN bad END AS bad_requests,
       error_rate,
       error_rate / budget_fraction AS burn_rate
FROM rates
ORDER BY slo_index, lookback_minutes, "time"
