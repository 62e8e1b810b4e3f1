//! Definitions resolved against an evaluation time (their intervals, exclusion windows and
//! burn-rate windows) into the tables the `slo_*` queries read: `slo_definitions`,
//! `slo_burn_windows`, `slo_exclusions` and `slo_excluded_periods`.

use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, TimestampNanosecondArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use crate::error::{Error, Result};
use crate::model::schema::timestamp_ns;

use super::calendar::add_months;
use super::definition::*;
use super::{NANOS_PER_DAY, NANOS_PER_MINUTE, NANOS_PER_SECOND};

pub(crate) fn definitions_schema() -> SchemaRef {
    let utf8 = |name: &str, nullable: bool| Field::new(name, DataType::Utf8, nullable);
    let int = |name: &str, nullable: bool| Field::new(name, DataType::Int64, nullable);
    let float = |name: &str, nullable: bool| Field::new(name, DataType::Float64, nullable);
    let time = |name: &str| Field::new(name, timestamp_ns(), false);
    Arc::new(Schema::new(vec![
        int("slo_index", false),
        utf8("slo", false),
        utf8("evaluation", false),
        utf8("metric", false),
        utf8("record_type", false),
        utf8("service", false),
        utf8("environment", true),
        utf8("operation", true),
        utf8("remote_service", true),
        utf8("remote_operation", true),
        utf8("remote_environment", true),
        utf8("remote_resource_type", true),
        utf8("remote_resource_identifier", true),
        utf8("statistic", true),
        utf8("stat_kind", true),
        float("stat_fraction", true),
        float("threshold", true),
        utf8("operator", true),
        utf8("bad", true),
        float("request_threshold", true),
        utf8("request_operator", true),
        utf8("attainment_rule", true),
        int("period_ns", true),
        float("goal", false),
        float("budget_fraction", false),
        float("warning", false),
        utf8("goal_interval", false),
        time("interval_start"),
        time("interval_end"),
        time("evaluated_at"),
        int("interval_ns", false),
        int("window_start_ns", false),
        int("elapsed_end_ns", false),
        int("records_from_ns", false),
        int("periods_total", true),
        int("periods_elapsed", true),
        Field::new("fully_excluded", DataType::Boolean, false),
    ]))
}

pub(crate) fn burn_windows_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("slo", DataType::Utf8, false),
        Field::new("lookback_minutes", DataType::Int64, false),
        Field::new("lookback_ns", DataType::Int64, false),
    ]))
}

/// `(100 − goal) / 100`, rounded to 12 decimals so that goals like 99.9 give budgets like
/// 86.4 s a day rather than 86.39999999999509.
pub(crate) fn budget_fraction(goal: f64) -> f64 {
    ((100.0 - goal) * 1e10).round() / 1e12
}

/// A description of the interval: `7d rolling`, `1mo calendar from 2026-11-01T00:00:00Z`.
pub(crate) fn describe_interval(interval: Interval) -> String {
    match interval {
        Interval::Rolling { unit, duration } => format!("{duration}{} rolling", unit.letter()),
        Interval::Calendar { start, unit, duration } => {
            format!("{duration}{} calendar from {}", unit.letter(), crate::util::utc_text(start))
        }
    }
}

/// One row of `slo_definitions`.
pub(crate) struct DefinitionRow {
    statistic: Option<String>,
    stat_kind: Option<&'static str>,
    stat_fraction: Option<f64>,
    threshold: Option<f64>,
    operator: Option<&'static str>,
    /// The verdict on each request of a LATENCY SLO: `latency_ms request_operator request_threshold`.
    request_threshold: Option<f64>,
    request_operator: Option<&'static str>,
    /// Period-based: `good_periods` or `mean_value`.
    attainment_rule: Option<&'static str>,
    period_ns: Option<i64>,
    interval_start: i64,
    interval_end: i64,
    elapsed_end: i64,
    records_from: i64,
    periods_total: Option<i64>,
    periods_elapsed: Option<i64>,
    /// Exclusion windows within `[records_from, elapsed_end)`, merged.
    exclusions: Vec<(i64, i64)>,
    /// The elapsed interval `[interval_start, elapsed_end)` lies inside one exclusion window.
    fully_excluded: bool,
}

impl DefinitionRow {
    /// The indices of the periods (from the interval start) that overlap an exclusion window,
    /// for a period-based SLO.
    pub(crate) fn excluded_periods(&self) -> Vec<i64> {
        let Some(p) = self.period_ns else { return Vec::new() };
        let mut out: Vec<i64> = Vec::new();
        for &(s, e) in &self.exclusions {
            // Rounded towards negative infinity: a look-back period before the interval is negative.
            let first = (s - self.interval_start).div_euclid(p);
            let last = (e - 1 - self.interval_start).div_euclid(p);
            // Spans are merged and in order; two may still share a period at their ends.
            let from = out.last().map_or(first, |&l| first.max(l + 1));
            out.extend(from..=last);
        }
        out
    }
}

pub(crate) fn definition_row(d: &SloDefinition, at: i64) -> Result<DefinitionRow> {
    let (start, end) = interval_at(d.interval, at)?;
    let elapsed_end = at.clamp(start, end);
    let longest_lookback = d.burn_rate_minutes.iter().map(|m| i64::from(*m) * NANOS_PER_MINUTE).max();
    let records_from = longest_lookback.map_or(start, |l| start.min(elapsed_end - l));
    let mut row = DefinitionRow {
        statistic: None,
        stat_kind: None,
        stat_fraction: None,
        threshold: None,
        operator: None,
        request_threshold: None,
        request_operator: None,
        attainment_rule: None,
        period_ns: None,
        interval_start: start,
        interval_end: end,
        elapsed_end,
        records_from,
        periods_total: None,
        periods_elapsed: None,
        exclusions: excluded_spans(&d.exclusions, records_from, elapsed_end)?,
        fully_excluded: false,
    };
    row.fully_excluded = elapsed_end > start && row.exclusions.iter().any(|&(s, e)| s <= start && e >= elapsed_end);
    match d.evaluation {
        Evaluation::Period { period_seconds, statistic, threshold, operator, request_rule, attainment } => {
            let (kind, fraction) = statistic.columns();
            let p = period_seconds * NANOS_PER_SECOND;
            // An AVAILABILITY period's datapoint is its availability (Application Signals), or the
            // share of good requests: no latency statistic applies.
            if statistic == Statistic::GoodShare {
                row.statistic = Some("good share".into());
                row.stat_kind = Some(kind);
            } else if d.metric == MetricType::Latency {
                row.statistic = Some(match statistic {
                    Statistic::Percentile(f) => format!("p{}", (f * 1e6).round() / 1e4),
                    other => format!("{other:?}"),
                });
                row.stat_kind = Some(kind);
                row.stat_fraction = fraction;
            }
            row.threshold = Some(threshold);
            row.operator = Some(operator.as_str());
            let (op, value) = request_rule.unwrap_or((operator, threshold));
            row.request_operator = Some(op.as_str());
            row.request_threshold = Some(value);
            row.attainment_rule = Some(attainment.as_str());
            row.period_ns = Some(p);
            row.periods_total = Some((end - start) / p);
            row.periods_elapsed = Some((elapsed_end - start + p - 1) / p);
        }
        Evaluation::Request { threshold, operator } => {
            row.threshold = threshold;
            row.operator = operator.map(Operator::as_str);
            row.request_threshold = threshold;
            row.request_operator = row.operator;
        }
    }
    Ok(row)
}

/// The `slo_definitions` and `slo_burn_windows` batches for evaluation at `at`.
/// The tables an evaluation registers besides `signals`.
pub struct DefinitionTables {
    /// `slo_definitions`: one row per SLO.
    pub definitions: RecordBatch,
    /// `slo_burn_windows`: one row per SLO and look-back window.
    pub burn_windows: RecordBatch,
    /// `slo_exclusions`: one row per SLO and (merged) exclusion window.
    pub exclusions: RecordBatch,
    /// `slo_excluded_periods`: one row per period of a period-based SLO that overlaps one.
    pub excluded_periods: RecordBatch,
    /// `slo_alert_rules`: one row per SLO and burn-rate alert rule replayed over its interval.
    pub alert_rules: RecordBatch,
}

pub(crate) fn alert_rules_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("slo", DataType::Utf8, false),
        Field::new("rule_index", DataType::Int64, false),
        Field::new("rule", DataType::Utf8, false),
        Field::new("severity", DataType::Utf8, false),
        Field::new("long_minutes", DataType::Int64, false),
        Field::new("short_minutes", DataType::Int64, false),
        Field::new("factor", DataType::Float64, false),
        Field::new("operator", DataType::Utf8, false),
        Field::new("after_minutes", DataType::Int64, false),
    ]))
}

pub(crate) fn exclusions_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("slo", DataType::Utf8, false),
        Field::new("start_ns", DataType::Int64, false),
        Field::new("end_ns", DataType::Int64, false),
    ]))
}

pub(crate) fn excluded_periods_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("slo", DataType::Utf8, false),
        Field::new("period_index", DataType::Int64, false),
    ]))
}

/// The tables describing `defs` evaluated at `at`.
pub fn definition_batches(defs: &[SloDefinition], at: i64) -> Result<DefinitionTables> {
    let rows = defs.iter().map(|d| definition_row(d, at)).collect::<Result<Vec<_>>>()?;
    let pairs = || defs.iter().zip(&rows);
    fn text<'a>(values: impl Iterator<Item = Option<&'a str>>) -> ArrayRef {
        Arc::new(values.collect::<StringArray>())
    }
    let int = |f: &dyn Fn(&DefinitionRow) -> Option<i64>| -> ArrayRef {
        Arc::new(rows.iter().map(f).collect::<Int64Array>())
    };
    let time = |f: &dyn Fn(&DefinitionRow) -> i64| -> ArrayRef {
        Arc::new(TimestampNanosecondArray::from_iter_values(rows.iter().map(f)).with_timezone("UTC"))
    };
    let float = |values: Vec<Option<f64>>| -> ArrayRef { Arc::new(Float64Array::from(values)) };
    let target = |f: &dyn Fn(&Target) -> Option<&str>| text(defs.iter().map(|d| f(&d.target)));
    let dependency =
        |f: &dyn Fn(&Dependency) -> Option<&str>| text(defs.iter().map(|d| d.target.dependency.as_ref().and_then(f)));
    let intervals: Vec<String> = defs.iter().map(|d| describe_interval(d.interval)).collect();
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter_values(0..defs.len() as i64)),
        text(defs.iter().map(|d| Some(d.name.as_str()))),
        text(rows.iter().map(|r| Some(if r.period_ns.is_some() { "PeriodBased" } else { "RequestBased" }))),
        text(defs.iter().map(|d| Some(d.metric.as_str()))),
        text(defs.iter().map(|d| Some(if d.target.dependency.is_some() { "dependency" } else { "service" }))),
        target(&|t| Some(t.service.as_str())),
        target(&|t| t.environment.as_deref()),
        target(&|t| t.operation.as_deref()),
        dependency(&|d| d.remote_service.as_deref()),
        dependency(&|d| d.remote_operation.as_deref()),
        dependency(&|d| d.remote_environment.as_deref()),
        dependency(&|d| d.remote_resource_type.as_deref()),
        dependency(&|d| d.remote_resource_identifier.as_deref()),
        text(rows.iter().map(|r| r.statistic.as_deref())),
        text(rows.iter().map(|r| r.stat_kind)),
        float(rows.iter().map(|r| r.stat_fraction).collect()),
        float(rows.iter().map(|r| r.threshold).collect()),
        text(rows.iter().map(|r| r.operator)),
        text(defs.iter().map(|d| (d.metric == MetricType::Availability).then(|| d.bad.as_str()))),
        float(rows.iter().map(|r| r.request_threshold).collect()),
        text(rows.iter().map(|r| r.request_operator)),
        text(rows.iter().map(|r| r.attainment_rule)),
        int(&|r| r.period_ns),
        float(defs.iter().map(|d| Some(d.goal)).collect()),
        float(defs.iter().map(|d| Some(budget_fraction(d.goal))).collect()),
        float(defs.iter().map(|d| Some(d.warning)).collect()),
        text(intervals.iter().map(|s| Some(s.as_str()))),
        time(&|r| r.interval_start),
        time(&|r| r.interval_end),
        time(&|_| at),
        int(&|r| Some(r.interval_end - r.interval_start)),
        int(&|r| Some(r.interval_start)),
        int(&|r| Some(r.elapsed_end)),
        int(&|r| Some(r.records_from)),
        int(&|r| r.periods_total),
        int(&|r| r.periods_elapsed),
        Arc::new(rows.iter().map(|r| Some(r.fully_excluded)).collect::<arrow::array::BooleanArray>()),
    ];
    let definitions = RecordBatch::try_new(definitions_schema(), columns)?;
    let burns: Vec<(&str, i64)> =
        pairs().flat_map(|(d, _)| d.burn_rate_minutes.iter().map(|m| (d.name.as_str(), i64::from(*m)))).collect();
    let burn_windows = RecordBatch::try_new(
        burn_windows_schema(),
        vec![
            text(burns.iter().map(|b| Some(b.0))),
            Arc::new(Int64Array::from_iter_values(burns.iter().map(|b| b.1))),
            Arc::new(Int64Array::from_iter_values(burns.iter().map(|b| b.1 * NANOS_PER_MINUTE))),
        ],
    )?;
    let spans: Vec<(&str, (i64, i64))> =
        pairs().flat_map(|(d, r)| r.exclusions.iter().map(|x| (d.name.as_str(), *x))).collect();
    let exclusions = RecordBatch::try_new(
        exclusions_schema(),
        vec![
            text(spans.iter().map(|x| Some(x.0))),
            Arc::new(Int64Array::from_iter_values(spans.iter().map(|x| x.1.0))),
            Arc::new(Int64Array::from_iter_values(spans.iter().map(|x| x.1.1))),
        ],
    )?;
    let periods: Vec<(&str, i64)> =
        pairs().flat_map(|(d, r)| r.excluded_periods().into_iter().map(|i| (d.name.as_str(), i))).collect();
    let excluded_periods = RecordBatch::try_new(
        excluded_periods_schema(),
        vec![
            text(periods.iter().map(|x| Some(x.0))),
            Arc::new(Int64Array::from_iter_values(periods.iter().map(|x| x.1))),
        ],
    )?;
    let rules: Vec<(&str, usize, &AlertRule)> =
        defs.iter().flat_map(|d| d.alert_rules.iter().enumerate().map(|(i, r)| (d.name.as_str(), i, r))).collect();
    let names: Vec<String> = rules.iter().map(|r| r.2.name()).collect();
    let alert_rules = RecordBatch::try_new(
        alert_rules_schema(),
        vec![
            text(rules.iter().map(|r| Some(r.0))),
            Arc::new(Int64Array::from_iter_values(rules.iter().map(|r| r.1 as i64))),
            text(names.iter().map(|n| Some(n.as_str()))),
            text(rules.iter().map(|r| Some(r.2.severity.as_ref()))),
            Arc::new(Int64Array::from_iter_values(rules.iter().map(|r| r.2.long_minutes))),
            Arc::new(Int64Array::from_iter_values(rules.iter().map(|r| r.2.short_minutes))),
            Arc::new(Float64Array::from_iter_values(rules.iter().map(|r| r.2.factor))),
            text(rules.iter().map(|r| Some(r.2.operator.as_str()))),
            Arc::new(Int64Array::from_iter_values(rules.iter().map(|r| r.2.after_minutes))),
        ],
    )?;
    Ok(DefinitionTables { definitions, burn_windows, exclusions, excluded_periods, alert_rules })
}

/// The span of record end times `[from, to)` that evaluating `defs` at `at` reads: every
/// interval and burn-rate look-back window.
pub fn records_window(defs: &[SloDefinition], at: i64) -> Result<(i64, i64)> {
    let rows = defs.iter().map(|d| definition_row(d, at)).collect::<Result<Vec<_>>>()?;
    let from = rows.iter().map(|r| r.records_from).min().unwrap_or(at);
    let to = rows.iter().map(|r| r.elapsed_end).max().unwrap_or(at);
    Ok((from, to.max(from + 1)))
}

/// The exclusion windows of `exclusions` that overlap `[from, to)`, clipped to it, merged and
/// in order.
pub(crate) fn excluded_spans(exclusions: &[Exclusion], from: i64, to: i64) -> Result<Vec<(i64, i64)>> {
    let mut spans = Vec::new();
    for x in exclusions {
        // The longest a window can be (months are at most 31 days): occurrences that start this
        // long before `from` may still reach it.
        let reach = match x.unit {
            DurationUnit::Month => 31 * NANOS_PER_DAY * i64::from(x.duration),
            unit => shift(0, unit, i64::from(x.duration))?,
        };
        let starts: Vec<i64> = match &x.recurrence {
            None => vec![x.start],
            Some(Recurrence::Rate(every)) => {
                let first = ((from - reach - x.start) / every).max(0);
                let last = (to - x.start).div_euclid(*every);
                (first..=last).map(|k| x.start + k * every).collect()
            }
            Some(Recurrence::Cron(cron)) => cron.occurrences(x.start.max(from - reach), to),
        };
        for s in starts.into_iter().filter(|s| *s < to) {
            let e = shift(s, x.unit, i64::from(x.duration))?;
            if e > from {
                spans.push((s.max(from), e.min(to)));
            }
        }
    }
    spans.sort_unstable();
    let mut merged: Vec<(i64, i64)> = Vec::with_capacity(spans.len());
    for (s, e) in spans {
        match merged.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => merged.push((s, e)),
        }
    }
    Ok(merged)
}

/// `t` moved by `n` units (months in calendar arithmetic).
pub(crate) fn shift(t: i64, unit: DurationUnit, n: i64) -> Result<i64> {
    let step = match unit {
        DurationUnit::Minute => NANOS_PER_MINUTE,
        DurationUnit::Hour => 60 * NANOS_PER_MINUTE,
        DurationUnit::Day => NANOS_PER_DAY,
        DurationUnit::Month => return add_months(t, n),
    };
    n.checked_mul(step)
        .and_then(|d| t.checked_add(d))
        .ok_or_else(|| Error::Config("an SLO interval is out of range".into()))
}

/// The interval evaluated at `at`: `[start, end)`, with the part that has elapsed ending at
/// `min(at, end)`.
pub(crate) fn interval_at(interval: Interval, at: i64) -> Result<(i64, i64)> {
    match interval {
        Interval::Rolling { unit, duration } => Ok((shift(at, unit, -i64::from(duration))?, at)),
        Interval::Calendar { start, unit, duration } => {
            let n = i64::from(duration);
            if at <= start {
                return Ok((start, shift(start, unit, n)?));
            }
            // The interval with start < at <= end (so `at` on a boundary evaluates the interval
            // that just ended). Start from an estimate and step to it.
            let nominal = match unit {
                DurationUnit::Month => 28 * NANOS_PER_DAY,
                _ => shift(0, unit, 1)?,
            } * n;
            let mut k = ((at - 1 - start) / nominal).max(0);
            loop {
                let s = shift(start, unit, k * n)?;
                let e = shift(start, unit, (k + 1) * n)?;
                if at <= s {
                    k -= 1;
                } else if at > e {
                    k += 1;
                } else {
                    return Ok((s, e));
                }
            }
        }
    }
}
