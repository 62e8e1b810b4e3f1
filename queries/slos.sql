-- slos: attainment, error budget and status of each SLO at its evaluation time (Application Signals §14).
-- Input: slo_definitions, slo_records, slo_periods, slo_excluded_periods; $1 TRUE when a period without records
-- counts as bad (unless it is excluded). Exclusion windows: their periods are good, their requests are not counted
-- by a request-based SLO; an elapsed interval wholly excluded has attainment 100 and status OK. Requests count
-- their records' adjusted counts.
-- Output: one row per SLO, in definition order. Period-based: periods_total = interval / period, periods_bad =
-- failed periods (+ elapsed periods without records when $1), attainment = 100·(total − bad)/total, budget in
-- seconds = interval·(100 − goal)/100, remaining = budget − bad·period, BREACHED when remaining < 0.
-- Request-based: attainment = 100·good/requests, budget in requests = requests·(100 − goal)/100, remaining =
-- budget − bad, BREACHED when bad ≥ budget. Period-based with attainment_rule 'mean_value' (OpenSLO's
-- RatioTimeslices): attainment = the mean value of the elapsed periods with records (an excluded one counts 100; with
-- $1, one without records and not excluded counts 0), remaining = budget − interval·(100 − attainment)/100 seconds.
-- INSUFFICIENT_DATA without records in the elapsed interval; WARNING when
-- the budget left is at most warning_threshold percent of it; otherwise OK.
WITH periods AS (
  SELECT slo,
         COUNT(*) FILTER (WHERE in_interval) AS periods_with_data,
         COUNT(*) FILTER (WHERE in_interval AND NOT good) AS periods_failed,
         SUM(CASE WHEN excluded THEN 100.0 ELSE value END) FILTER (WHERE in_interval) AS value_sum
  FROM slo_periods
  GROUP BY slo
),
requests AS (
  SELECT r.slo,
         SUM(r.adjusted_count) AS requests,
         SUM(r.fault * r.adjusted_count) AS faults,
         SUM(CASE WHEN r.good THEN 0 ELSE r.adjusted_count END) AS bad_requests
  FROM slo_records r
  JOIN slo_definitions d ON r.slo = d.slo
  WHERE r.end_ns >= d.window_start_ns AND (d.evaluation = 'PeriodBased' OR NOT r.excluded)
  GROUP BY r.slo
),
idle_excluded AS (
  -- Excluded elapsed periods without records: never bad, even with $1.
  SELECT e.slo, COUNT(*) AS periods
  FROM slo_excluded_periods e
  JOIN slo_definitions d ON e.slo = d.slo
  LEFT JOIN slo_periods p ON p.slo = e.slo AND p.period_index = e.period_index
  WHERE e.period_index >= 0 AND e.period_index < d.periods_elapsed AND p.slo IS NULL
  GROUP BY e.slo
),
counted AS (
  SELECT d.*,
         COALESCE(q.requests, 0) AS requests,
         COALESCE(q.faults, 0) AS faults,
         CASE WHEN d.evaluation = 'RequestBased' THEN COALESCE(q.bad_requests, 0) END AS bad_requests,
         CASE WHEN d.evaluation = 'PeriodBased' THEN COALESCE(p.periods_with_data, 0) END AS periods_with_data,
         CASE WHEN d.evaluation = 'PeriodBased' THEN
           COALESCE(p.periods_failed, 0)
           + CASE WHEN $1 THEN d.periods_elapsed - COALESCE(p.periods_with_data, 0) - COALESCE(i.periods, 0)
                  ELSE 0 END END AS periods_bad,
         CASE WHEN d.attainment_rule = 'mean_value' THEN
           p.value_sum / NULLIF(p.periods_with_data
                                + CASE WHEN $1 THEN d.periods_elapsed - p.periods_with_data - COALESCE(i.periods, 0)
                                       ELSE 0 END, 0) END AS mean_value
  FROM slo_definitions d
  LEFT JOIN requests q ON q.slo = d.slo
  LEFT JOIN periods p ON p.slo = d.slo
  LEFT JOIN idle_excluded i ON i.slo = d.slo
),
budgeted AS (
  SELECT *,
         CASE WHEN attainment_rule = 'mean_value' THEN mean_value
              WHEN evaluation = 'PeriodBased' THEN 100.0 * (periods_total - periods_bad) / periods_total
              WHEN requests > 0 THEN 100.0 * (requests - bad_requests) / requests
              WHEN fully_excluded THEN 100.0 END AS attainment,
         CASE WHEN evaluation = 'PeriodBased' THEN interval_ns / 1e9 * budget_fraction END AS budget_seconds,
         CASE WHEN attainment_rule = 'mean_value' THEN
                interval_ns / 1e9 * budget_fraction - interval_ns / 1e9 * (100.0 - mean_value) / 100.0
              WHEN evaluation = 'PeriodBased' THEN
                interval_ns / 1e9 * budget_fraction - periods_bad * (period_ns / 1e9) END AS budget_seconds_remaining,
         CASE WHEN evaluation = 'RequestBased' THEN requests * budget_fraction END AS budget_requests,
         CASE WHEN evaluation = 'RequestBased' THEN
           requests * budget_fraction - bad_requests END AS budget_requests_remaining
  FROM counted
),
rated AS (
  SELECT *,
         CASE WHEN COALESCE(budget_seconds, budget_requests) > 0 THEN
           100.0 * COALESCE(budget_seconds_remaining, budget_requests_remaining)
                 / COALESCE(budget_seconds, budget_requests) END AS budget_remaining_pct
  FROM budgeted
)
SELECT slo,
       evaluation,
       metric,
       record_type,
       service,
       environment,
       operation,
       remote_service,
       remote_operation,
       remote_environment,
       remote_resource_type,
       remote_resource_identifier,
       statistic,
       operator,
       threshold,
       bad,
       request_operator,
       request_threshold,
       attainment_rule,
       goal,
       warning AS warning_threshold,
       goal_interval,
       interval_start,
       interval_end,
       evaluated_at,
       period_ns / 1000000000 AS period_seconds,
       periods_total,
       periods_elapsed,
       periods_with_data,
       periods_bad,
       requests,
       faults,
       bad_requests,
       attainment,
       budget_seconds,
       budget_seconds_remaining,
       budget_requests,
       budget_requests_remaining,
       budget_remaining_pct,
       CASE WHEN requests = 0 AND fully_excluded THEN 'OK'
            WHEN requests = 0 THEN 'INSUFFICIENT_DATA'
            WHEN evaluation = 'PeriodBased' AND budget_seconds_remaining < 0 THEN 'BREACHED'
            WHEN evaluation = 'RequestBased' AND bad_requests >= budget_requests THEN 'BREACHED'
            WHEN budget_remaining_pct <= warning THEN 'WARNING'
            ELSE 'OK' END AS status
FROM rated
ORDER BY slo_index
