-- slo_alerts: when each SLO's burn-rate alert rules would have fired and resolved, replayed minute by minute.
-- Input: slo_burn_series, slo_alert_rules, slo_definitions. A rule's condition holds at a minute when the burn rate
-- over its long window and over its short window both compare with its factor by its operator (the SRE workbook's
-- multiwindow, multi-burn-rate alerts: both at least the factor; an OpenSLO AlertCondition: one window, long = short);
-- the rule fires at the minute the condition has held for after_minutes minutes without a break (at once when 0), and
-- resolves at the first minute after that when the condition does not hold (a window without data never holds).
-- Output: one row per (slo, rule, firing): fired_at, resolved_at (NULL while still firing at the evaluation time),
-- minutes firing, and the highest long-window and short-window burn rates while it fired.
WITH compared AS (
  SELECT r.slo,
         d.slo_index,
         r.rule_index,
         r.rule,
         r.severity,
         r.long_minutes,
         r.short_minutes,
         r.factor,
         r.after_minutes,
         l."time",
         l.burn_rate AS long_burn,
         s.burn_rate AS short_burn,
         COALESCE(CASE WHEN r.operator = '>' THEN l.burn_rate > r.factor AND s.burn_rate > r.factor
                       WHEN r.operator = '<' THEN l.burn_rate < r.factor AND s.burn_rate < r.factor
                       WHEN r.operator = '<=' THEN l.burn_rate <= r.factor AND s.burn_rate <= r.factor
                       ELSE l.burn_rate >= r.factor AND s.burn_rate >= r.factor END, false) AS holds
  FROM slo_alert_rules r
  JOIN slo_definitions d ON d.slo = r.slo
  JOIN slo_burn_series l ON l.slo = r.slo AND l.lookback_minutes = r.long_minutes
  JOIN slo_burn_series s ON s.slo = r.slo AND s.lookback_minutes = r.short_minutes AND s."time" = l."time"
),
-- Each stretch of minutes since the condition last failed (the failing minute first, except before the first failure).
stretches AS (
  SELECT *,
         SUM(CASE WHEN holds THEN 0 ELSE 1 END)
           OVER (PARTITION BY slo, rule_index ORDER BY "time" ROWS UNBOUNDED PRECEDING) AS stretch
  FROM compared
),
checked AS (
  SELECT *,
         holds
         AND ROW_NUMBER() OVER (PARTITION BY slo, rule_index, stretch ORDER BY "time")
             - CASE WHEN stretch > 0 THEN 2 ELSE 1 END >= after_minutes AS firing
  FROM stretches
),
edges AS (
  SELECT *,
         CASE WHEN firing AND NOT COALESCE(LAG(firing) OVER (PARTITION BY slo, rule_index ORDER BY "time"), false)
              THEN 1 ELSE 0 END AS starts,
         LEAD("time") OVER (PARTITION BY slo, rule_index ORDER BY "time") AS next_time
  FROM checked
),
runs AS (
  SELECT *, SUM(starts) OVER (PARTITION BY slo, rule_index ORDER BY "time" ROWS UNBOUNDED PRECEDING) AS run
  FROM edges
)
SELECT slo,
       rule,
       severity,
       long_minutes,
       short_minutes,
       factor,
       MIN("time") AS fired_at,
       -- The minute after the last firing one, unless the series ends while firing.
       CASE WHEN COUNT(next_time) = COUNT(*) THEN MAX(next_time) END AS resolved_at,
       COUNT(*) AS minutes_firing,
       MAX(long_burn) AS max_long_burn_rate,
       MAX(short_burn) AS max_short_burn_rate
FROM runs
WHERE firing
GROUP BY slo, slo_index, rule_index, rule, severity, long_minutes, short_minutes, factor, run
ORDER BY slo_index, rule_index, fired_at
