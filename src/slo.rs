//! SLOs with Application Signals semantics (spec §14): definitions read from the JSON shape of
//! the Application Signals API (`CreateServiceLevelObjective` input), resolved against an
//! evaluation time into the `slo_definitions` table, and evaluated over the `signals` table by
//! the `slo_*` queries of `queries/`: attainment, error budget, status, each period's datapoint
//! and burn rates.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, Int64Array, RecordBatch, StringArray, TimestampNanosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use chrono::{DateTime, Months, Utc};
use datafusion::common::ScalarValue;
use datafusion::datasource::MemTable;
use datafusion::functions_aggregate::expr_fn::max;
use datafusion::prelude::{SessionContext, col};
use serde::Deserialize;

use crate::config::parse_time;
use crate::error::{Error, Result};
use crate::metrics::{Table, run_and_register, run_query};
use crate::model::schema::timestamp_ns;
use crate::report::text::{Columns, fixed, plain};
use crate::signals;

/// The tables an SLO run writes, in this order.
pub const SLO_TABLES: [&str; 3] = ["slos", "slo_periods", "slo_burn_rates"];

const NANOS_PER_SECOND: i64 = 1_000_000_000;
const NANOS_PER_MINUTE: i64 = 60 * NANOS_PER_SECOND;
const NANOS_PER_DAY: i64 = 86_400 * NANOS_PER_SECOND;

/// How an SLO counts: good periods of its interval, or good requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum MetricType {
    #[serde(rename = "LATENCY")]
    Latency,
    #[serde(rename = "AVAILABILITY")]
    Availability,
}

impl MetricType {
    fn as_str(self) -> &'static str {
        match self {
            MetricType::Latency => "LATENCY",
            MetricType::Availability => "AVAILABILITY",
        }
    }
}

/// `ComparisonOperator`: how an SLI value or a request's latency is compared with the threshold;
/// the comparison holding means good.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Operator {
    GreaterThanOrEqualTo,
    GreaterThan,
    LessThan,
    LessThanOrEqualTo,
}

impl Operator {
    fn as_str(self) -> &'static str {
        match self {
            Operator::GreaterThanOrEqualTo => ">=",
            Operator::GreaterThan => ">",
            Operator::LessThan => "<",
            Operator::LessThanOrEqualTo => "<=",
        }
    }
}

/// `DurationUnit` of an interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum DurationUnit {
    #[serde(rename = "MINUTE")]
    Minute,
    #[serde(rename = "HOUR")]
    Hour,
    #[serde(rename = "DAY")]
    Day,
    #[serde(rename = "MONTH")]
    Month,
}

impl DurationUnit {
    fn letter(self) -> &'static str {
        match self {
            DurationUnit::Minute => "m",
            DurationUnit::Hour => "h",
            DurationUnit::Day => "d",
            DurationUnit::Month => "mo",
        }
    }
}

/// A period-based SLI datapoint statistic (CloudWatch names), for LATENCY.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Statistic {
    /// `pNN` or `pNN.N`: the exact percentile (`percentile_cont`), as a fraction.
    Percentile(f64),
    Average,
    Minimum,
    Maximum,
    Sum,
    SampleCount,
}

impl Statistic {
    fn parse(text: &str) -> std::result::Result<Statistic, String> {
        Ok(match text {
            "Average" => Statistic::Average,
            "Minimum" => Statistic::Minimum,
            "Maximum" => Statistic::Maximum,
            "Sum" => Statistic::Sum,
            "SampleCount" => Statistic::SampleCount,
            _ => {
                let p = text
                    .strip_prefix('p')
                    .and_then(|n| n.parse::<f64>().ok())
                    .filter(|p| (0.0..=100.0).contains(p) && text.len() > 1)
                    .ok_or_else(|| {
                        format!(
                            "Statistic {text:?} is not supported: use pNN (p50, p99, p99.9), Average, Minimum, \
                             Maximum, Sum or SampleCount"
                        )
                    })?;
                Statistic::Percentile(p / 100.0)
            }
        })
    }

    /// The kind and fraction columns of `slo_definitions`.
    fn columns(self) -> (&'static str, Option<f64>) {
        match self {
            Statistic::Percentile(p) => ("percentile", Some(p)),
            Statistic::Average => ("average", None),
            Statistic::Minimum => ("minimum", None),
            Statistic::Maximum => ("maximum", None),
            Statistic::Sum => ("sum", None),
            Statistic::SampleCount => ("count", None),
        }
    }
}

/// How an SLO is evaluated.
#[derive(Debug, Clone, PartialEq)]
pub enum Evaluation {
    /// Each period of `period_seconds` gives one datapoint (the statistic of the latency, or the
    /// availability), good when `value operator threshold` holds.
    Period { period_seconds: i64, statistic: Statistic, threshold: f64, operator: Operator },
    /// Each request is good or bad: for AVAILABILITY bad = fault; for LATENCY good when
    /// `latency_ms operator threshold` holds.
    Request { threshold: Option<f64>, operator: Option<Operator> },
}

/// The records an SLO reads: a service (all operations or one), or one of its dependencies.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Target {
    pub service: String,
    /// `None` matches every environment.
    pub environment: Option<String>,
    pub operation: Option<String>,
    pub dependency: Option<Dependency>,
}

/// A dependency's key attributes; each given one must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dependency {
    pub remote_service: Option<String>,
    pub remote_operation: Option<String>,
    pub remote_environment: Option<String>,
    pub remote_resource_type: Option<String>,
    pub remote_resource_identifier: Option<String>,
}

/// The SLO interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interval {
    /// The last `duration` units before the evaluation time.
    Rolling { unit: DurationUnit, duration: u32 },
    /// Back-to-back intervals of `duration` units from `start` (ns); the one holding the
    /// evaluation time is evaluated.
    Calendar { start: i64, unit: DurationUnit, duration: u32 },
}

/// One validated SLO.
#[derive(Debug, Clone, PartialEq)]
pub struct SloDefinition {
    pub name: String,
    pub metric: MetricType,
    pub evaluation: Evaluation,
    pub target: Target,
    /// Attainment goal, percent.
    pub goal: f64,
    /// Warning threshold, percent of the error budget left.
    pub warning: f64,
    pub interval: Interval,
    /// Burn-rate look-back windows, minutes.
    pub burn_rate_minutes: Vec<u32>,
    /// Exclusion windows (maintenance): their periods count as good, their requests not at all.
    pub exclusions: Vec<Exclusion>,
}

/// An exclusion window: `duration` units from `start` (ns), or from each recurrence at or
/// after `start`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exclusion {
    pub start: i64,
    pub unit: DurationUnit,
    pub duration: u32,
    pub recurrence: Option<Recurrence>,
}

/// A `RecurrenceRule`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recurrence {
    /// `rate(N unit)`: every this many ns from the start.
    Rate(i64),
    /// `cron(minutes hours day-of-month month day-of-week year)`, in UTC.
    Cron(Box<Cron>),
}

/// A parsed cron expression (EventBridge syntax: six fields, `?` in day-of-month or
/// day-of-week), each field as the set of values it matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    minutes: Vec<bool>,
    hours: Vec<bool>,
    /// `None` for `?`.
    days_of_month: Option<Vec<bool>>,
    months: Vec<bool>,
    /// 1 = Sunday … 7 = Saturday; `None` for `?`.
    days_of_week: Option<Vec<bool>>,
    years: Vec<bool>,
}

const MONTH_NAMES: [&str; 12] = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];
const DAY_NAMES: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// One cron field as a set over `min..=max`: `*`, values, `a-b` ranges, `/n` steps, lists;
/// `names` are the field's words for `min`, `min + 1`, ….
fn cron_field(text: &str, min: u32, max: u32, names: &[&str]) -> std::result::Result<Vec<bool>, String> {
    let value = |v: &str| -> std::result::Result<u32, String> {
        let n = match names.iter().position(|n| n.eq_ignore_ascii_case(v)) {
            Some(i) => min + i as u32,
            None => v.parse().map_err(|_| format!("{v:?} is not a value of this field"))?,
        };
        if (min..=max).contains(&n) { Ok(n) } else { Err(format!("{n} is outside {min}-{max}")) }
    };
    let mut set = vec![false; max as usize + 1];
    for part in text.split(',') {
        if part.contains(['L', 'W', '#']) && !names.iter().any(|n| part.eq_ignore_ascii_case(n)) {
            return Err(format!("{part:?}: L, W and # are not supported"));
        }
        let (range, step) = match part.split_once('/') {
            Some((r, n)) => (r, n.parse::<u32>().ok().filter(|n| *n > 0).ok_or(format!("bad step in {part:?}"))?),
            None => (part, 1),
        };
        let (from, to) = match range {
            "*" => (min, max),
            r => match r.split_once('-') {
                Some((a, b)) => (value(a)?, value(b)?),
                None if step > 1 => (value(r)?, max),
                None => (value(r)?, value(r)?),
            },
        };
        if from > to {
            return Err(format!("{part:?}: the range runs backwards"));
        }
        (from..=to).step_by(step as usize).for_each(|v| set[v as usize] = true);
    }
    Ok(set)
}

impl Cron {
    fn parse(fields: &str) -> std::result::Result<Cron, String> {
        let f: Vec<&str> = fields.split_whitespace().collect();
        let [minutes, hours, dom, month, dow, year] = f[..] else {
            return Err(format!("{} fields, expected 6 (minutes hours day-of-month month day-of-week year)", f.len()));
        };
        let optional = |text: &str, min, max, names: &[&str]| match text {
            "?" => Ok(None),
            t => cron_field(t, min, max, names).map(Some),
        };
        let cron = Cron {
            minutes: cron_field(minutes, 0, 59, &[])?,
            hours: cron_field(hours, 0, 23, &[])?,
            days_of_month: optional(dom, 1, 31, &[])?,
            months: cron_field(month, 1, 12, &MONTH_NAMES)?,
            days_of_week: optional(dow, 1, 7, &DAY_NAMES)?,
            years: cron_field(year, 1970, 2199, &[])?,
        };
        if cron.days_of_month.is_some() == cron.days_of_week.is_some() {
            return Err("one of day-of-month and day-of-week must be ? (and only one)".into());
        }
        Ok(cron)
    }

    /// Whether the day holding `t` (UTC) matches the date fields.
    fn matches_day(&self, t: DateTime<Utc>) -> bool {
        use chrono::Datelike;
        let year = usize::try_from(t.year()).unwrap_or(0);
        self.years.get(year).copied().unwrap_or(false)
            && self.months[t.month() as usize]
            && self.days_of_month.as_ref().is_none_or(|d| d[t.day() as usize])
            && self.days_of_week.as_ref().is_none_or(|d| d[t.weekday().number_from_sunday() as usize])
    }

    /// The matching minutes in `[from, to)`, ns, in order.
    fn occurrences(&self, from: i64, to: i64) -> Vec<i64> {
        let mut out = Vec::new();
        let mut day = from.div_euclid(NANOS_PER_DAY) * NANOS_PER_DAY;
        while day < to {
            if self.matches_day(DateTime::<Utc>::from_timestamp_nanos(day)) {
                for (h, _) in self.hours.iter().enumerate().filter(|h| *h.1) {
                    for (m, _) in self.minutes.iter().enumerate().filter(|m| *m.1) {
                        let t = day + (h as i64 * 60 + m as i64) * NANOS_PER_MINUTE;
                        if t >= from && t < to {
                            out.push(t);
                        }
                    }
                }
            }
            day += NANOS_PER_DAY;
        }
        out
    }
}

// ---- The API's JSON shape ------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct SloInput {
    name: String,
    #[serde(rename = "Description", default)]
    _description: Option<serde::de::IgnoredAny>,
    sli_config: Option<SliConfigInput>,
    request_based_sli_config: Option<RequestBasedSliConfigInput>,
    goal: Option<GoalInput>,
    #[serde(default)]
    burn_rate_configurations: Vec<BurnRateInput>,
    #[serde(default)]
    exclusion_windows: Vec<ExclusionWindowInput>,
    #[serde(rename = "Tags", default)]
    _tags: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct SliConfigInput {
    sli_metric_config: MetricConfigInput,
    metric_threshold: f64,
    comparison_operator: Operator,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct RequestBasedSliConfigInput {
    request_based_sli_metric_config: MetricConfigInput,
    metric_threshold: Option<f64>,
    comparison_operator: Option<Operator>,
}

/// `SliMetricConfig` and `RequestBasedSliMetricConfig` (the fields of both; the period-only
/// ones are refused on a request-based SLO).
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct MetricConfigInput {
    key_attributes: Option<BTreeMap<String, String>>,
    operation_name: Option<String>,
    metric_type: Option<MetricType>,
    statistic: Option<String>,
    period_seconds: Option<i64>,
    dependency_config: Option<DependencyConfigInput>,
    metric_data_queries: Option<serde_json::Value>,
    total_request_count_metric: Option<serde_json::Value>,
    monitored_request_count_metric: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct DependencyConfigInput {
    dependency_key_attributes: BTreeMap<String, String>,
    dependency_operation_name: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct GoalInput {
    interval: Option<IntervalInput>,
    attainment_goal: Option<f64>,
    warning_threshold: Option<f64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct IntervalInput {
    rolling_interval: Option<RollingInput>,
    calendar_interval: Option<CalendarInput>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct RollingInput {
    duration_unit: DurationUnit,
    duration: u32,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct CalendarInput {
    start_time: serde_json::Value,
    duration_unit: DurationUnit,
    duration: u32,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct ExclusionWindowInput {
    window: RollingInput,
    start_time: Option<serde_json::Value>,
    recurrence_rule: Option<RecurrenceInput>,
    #[serde(rename = "Reason", default)]
    _reason: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct RecurrenceInput {
    expression: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct BurnRateInput {
    look_back_window_minutes: u32,
}

/// Read and validate the SLO definitions in `path`.
pub fn read_definitions(path: &Path) -> Result<Vec<SloDefinition>> {
    let text =
        std::fs::read_to_string(path).map_err(|source| Error::Input { path: path.display().to_string(), source })?;
    parse_definitions(&text).map_err(|e| Error::Config(format!("{}: {e}", path.display())))
}

/// Parse and validate SLO definitions from JSON text (one object or an array of them).
pub fn parse_definitions(text: &str) -> std::result::Result<Vec<SloDefinition>, String> {
    let invalid =
        |e: serde_json::Error| format!("not a valid SLO definition (line {}, column {}): {e}", e.line(), e.column());
    let inputs: Vec<SloInput> = if text.trim_start().starts_with('[') {
        serde_json::from_str(text).map_err(invalid)?
    } else {
        vec![serde_json::from_str(text).map_err(invalid)?]
    };
    if inputs.is_empty() {
        return Err("no SLO is defined".into());
    }
    let mut names = HashSet::new();
    inputs
        .into_iter()
        .map(|input| {
            let name = input.name.clone();
            if !names.insert(name.clone()) {
                return Err(format!("SLO {name:?} is defined twice"));
            }
            validate(input).map_err(|e| format!("SLO {name:?}: {e}"))
        })
        .collect()
}

fn validate(input: SloInput) -> std::result::Result<SloDefinition, String> {
    if input.name.trim().is_empty() {
        return Err("Name is empty".into());
    }
    if input.exclusion_windows.len() > 10 {
        return Err("at most 10 ExclusionWindows".into());
    }
    let exclusions = input.exclusion_windows.iter().map(exclusion).collect::<std::result::Result<Vec<_>, _>>()?;
    let (config, evaluation) = match (input.sli_config, input.request_based_sli_config) {
        (Some(sli), None) => {
            let c = sli.sli_metric_config;
            if c.total_request_count_metric.is_some() || c.monitored_request_count_metric.is_some() {
                return Err("TotalRequestCountMetric and MonitoredRequestCountMetric belong to a \
                            RequestBasedSliMetricConfig"
                    .into());
            }
            let period_seconds = c.period_seconds.unwrap_or(60);
            if !(60..=900).contains(&period_seconds) {
                return Err(format!("PeriodSeconds must be 60 to 900, not {period_seconds}"));
            }
            let statistic = Statistic::parse(c.statistic.as_deref().unwrap_or("p99"))?;
            let evaluation = Evaluation::Period {
                period_seconds,
                statistic,
                threshold: sli.metric_threshold,
                operator: sli.comparison_operator,
            };
            (c, evaluation)
        }
        (None, Some(rb)) => {
            let c = rb.request_based_sli_metric_config;
            if c.statistic.is_some() || c.period_seconds.is_some() {
                return Err("Statistic and PeriodSeconds belong to a period-based SliMetricConfig".into());
            }
            if c.total_request_count_metric.is_some() || c.monitored_request_count_metric.is_some() {
                return Err("SLIs on custom CloudWatch metrics (TotalRequestCountMetric, \
                            MonitoredRequestCountMetric) cannot be evaluated from traces"
                    .into());
            }
            (c, Evaluation::Request { threshold: rb.metric_threshold, operator: rb.comparison_operator })
        }
        (Some(_), Some(_)) => return Err("give SliConfig or RequestBasedSliConfig, not both".into()),
        (None, None) => return Err("SliConfig or RequestBasedSliConfig is required".into()),
    };
    if config.metric_data_queries.is_some() {
        return Err("SLIs on custom CloudWatch metrics (MetricDataQueries) cannot be evaluated from traces".into());
    }
    let metric = config.metric_type.ok_or("MetricType (LATENCY or AVAILABILITY) is required")?;
    if let Evaluation::Request { threshold, operator } = &evaluation {
        match (metric, threshold, operator) {
            (MetricType::Latency, Some(_), Some(_)) | (MetricType::Availability, None, None) => {}
            (MetricType::Latency, _, _) => {
                return Err("a request-based LATENCY SLO needs MetricThreshold and ComparisonOperator".into());
            }
            (MetricType::Availability, _, _) => {
                return Err("a request-based AVAILABILITY SLO takes no MetricThreshold or ComparisonOperator \
                            (a request is good when it is not a fault)"
                    .into());
            }
        }
    }
    let target = target(config.key_attributes, config.operation_name, config.dependency_config)?;

    let goal = input.goal.unwrap_or(GoalInput { interval: None, attainment_goal: None, warning_threshold: None });
    let attainment = goal.attainment_goal.unwrap_or(99.0);
    if !(attainment > 0.0 && attainment < 100.0) {
        return Err(format!("AttainmentGoal must be above 0 and below 100, not {attainment}"));
    }
    let warning = goal.warning_threshold.unwrap_or(50.0);
    if !(0.0..100.0).contains(&warning) {
        return Err(format!("WarningThreshold must be at least 0 and below 100, not {warning}"));
    }
    let interval = match goal.interval {
        None => Interval::Rolling { unit: DurationUnit::Day, duration: 7 },
        Some(IntervalInput { rolling_interval: Some(r), calendar_interval: None }) => {
            Interval::Rolling { unit: r.duration_unit, duration: r.duration }
        }
        Some(IntervalInput { rolling_interval: None, calendar_interval: Some(c) }) => {
            let start = start_time(&c.start_time)?;
            Interval::Calendar { start, unit: c.duration_unit, duration: c.duration }
        }
        Some(_) => return Err("Interval needs exactly one of RollingInterval and CalendarInterval".into()),
    };
    let (unit, duration) = match interval {
        Interval::Rolling { unit, duration } | Interval::Calendar { unit, duration, .. } => (unit, duration),
    };
    if duration == 0 {
        return Err("the interval Duration must be at least 1".into());
    }
    // The shortest length the interval can have (a MONTH has at least 28 days).
    let unit_seconds = match unit {
        DurationUnit::Minute => 60,
        DurationUnit::Hour => 3600,
        DurationUnit::Day | DurationUnit::Month => 86_400,
    };
    let min_seconds = i64::from(duration) * if unit == DurationUnit::Month { 28 * 86_400 } else { unit_seconds };
    // Months differ in length: their periods must divide a day.
    let whole_periods = |p: i64| match unit {
        DurationUnit::Month => unit_seconds % p == 0,
        _ => (i64::from(duration) * unit_seconds) % p == 0,
    };
    if let Evaluation::Period { period_seconds, .. } = evaluation
        && !whole_periods(period_seconds)
    {
        return Err(format!("PeriodSeconds {period_seconds} does not divide the interval into whole periods"));
    }
    if input.burn_rate_configurations.len() > 10 {
        return Err("at most 10 BurnRateConfigurations".into());
    }
    let mut burn_rate_minutes = Vec::new();
    for b in &input.burn_rate_configurations {
        let m = b.look_back_window_minutes;
        if !(1..=10_080).contains(&m) {
            return Err(format!("LookBackWindowMinutes must be 1 to 10080, not {m}"));
        }
        if i64::from(m) * 60 >= min_seconds {
            return Err(format!("the burn-rate look-back window of {m} minutes must be shorter than the interval"));
        }
        if let Evaluation::Period { period_seconds, .. } = evaluation
            && (i64::from(m) * 60) % period_seconds != 0
        {
            return Err(format!("LookBackWindowMinutes {m} is not a multiple of PeriodSeconds {period_seconds}"));
        }
        burn_rate_minutes.push(m);
    }
    Ok(SloDefinition {
        name: input.name,
        metric,
        evaluation,
        target,
        goal: attainment,
        warning,
        interval,
        burn_rate_minutes,
        exclusions,
    })
}

/// `StartTime`: epoch seconds or an RFC 3339 time.
fn start_time(value: &serde_json::Value) -> std::result::Result<i64, String> {
    match value {
        serde_json::Value::Number(n) => {
            n.as_f64().map(|s| (s * 1e9).round() as i64).ok_or_else(|| format!("StartTime {n} is out of range"))
        }
        serde_json::Value::String(s) => parse_time(s).map_err(|e| format!("StartTime: {e}")),
        other => Err(format!("StartTime must be epoch seconds or an RFC 3339 time, not {other}")),
    }
}

/// One `ExclusionWindows` entry; a `RecurrenceRule` must be `rate(N unit)`.
fn exclusion(input: &ExclusionWindowInput) -> std::result::Result<Exclusion, String> {
    let start = start_time(input.start_time.as_ref().ok_or("an exclusion window needs a StartTime")?)?;
    if input.window.duration == 0 {
        return Err("an exclusion Window Duration must be at least 1".into());
    }
    let recurrence = input.recurrence_rule.as_ref().map(|r| recurrence(&r.expression)).transpose()?;
    Ok(Exclusion { start, unit: input.window.duration_unit, duration: input.window.duration, recurrence })
}

/// A `RecurrenceRule` expression: `rate(...)` or `cron(...)`.
fn recurrence(expression: &str) -> std::result::Result<Recurrence, String> {
    let e = expression.trim();
    match e.strip_prefix("cron(").and_then(|r| r.strip_suffix(')')) {
        Some(fields) => Cron::parse(fields)
            .map(|c| Recurrence::Cron(Box::new(c)))
            .map_err(|why| format!("RecurrenceRule {expression:?}: {why}")),
        None => rate(e).map(Recurrence::Rate),
    }
}

/// A recurrence `rate(N minute|minutes|hour|hours|day|days)`, in ns.
fn rate(expression: &str) -> std::result::Result<i64, String> {
    let unsupported = || {
        format!(
            "RecurrenceRule {expression:?}: expected rate(N minutes|hours|days) or cron(minutes hours \
             day-of-month month day-of-week year)"
        )
    };
    let inner = expression.trim().strip_prefix("rate(").and_then(|r| r.strip_suffix(')')).ok_or_else(unsupported)?;
    let (n, unit) = inner.trim().split_once(' ').ok_or_else(unsupported)?;
    let n: i64 = n.parse().ok().filter(|n| *n > 0).ok_or_else(unsupported)?;
    let step = match unit.trim() {
        "minute" | "minutes" => NANOS_PER_MINUTE,
        "hour" | "hours" => 60 * NANOS_PER_MINUTE,
        "day" | "days" => NANOS_PER_DAY,
        _ => return Err(unsupported()),
    };
    n.checked_mul(step).ok_or_else(unsupported)
}

/// The exclusion windows of `exclusions` that overlap `[from, to)`, clipped to it, merged and
/// in order.
fn excluded_spans(exclusions: &[Exclusion], from: i64, to: i64) -> Result<Vec<(i64, i64)>> {
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

fn target(
    key_attributes: Option<BTreeMap<String, String>>,
    operation: Option<String>,
    dependency: Option<DependencyConfigInput>,
) -> std::result::Result<Target, String> {
    let mut keys = key_attributes.ok_or("KeyAttributes (Type, Name, Environment) are required")?;
    match keys.remove("Type").as_deref() {
        None | Some("Service") => {}
        Some(other) => return Err(format!("KeyAttributes Type {other:?}: only Service SLOs can be evaluated")),
    }
    let service = keys.remove("Name").ok_or("KeyAttributes Name (the service) is required")?;
    let environment = keys.remove("Environment");
    if let Some(extra) = keys.keys().next() {
        return Err(format!("unknown KeyAttributes key {extra:?} (known: Type, Name, Environment)"));
    }
    let dependency = dependency
        .map(|d| {
            let mut k = d.dependency_key_attributes;
            if let Some(t) = k.remove("Type")
                && !["Service", "AWS::Service", "RemoteService", "AWS::Resource", "Resource"].contains(&t.as_str())
            {
                return Err(format!("DependencyKeyAttributes Type {t:?} is unknown"));
            }
            let dep = Dependency {
                remote_service: k.remove("Name"),
                remote_operation: d.dependency_operation_name,
                remote_environment: k.remove("Environment"),
                remote_resource_type: k.remove("ResourceType"),
                remote_resource_identifier: k.remove("Identifier"),
            };
            if let Some(extra) = k.keys().next() {
                return Err(format!(
                    "unknown DependencyKeyAttributes key {extra:?} (known: Type, Name, Environment, ResourceType, \
                     Identifier)"
                ));
            }
            if dep == Dependency::default() {
                return Err("DependencyKeyAttributes must name the dependency".into());
            }
            Ok(dep)
        })
        .transpose()?;
    Ok(Target { service, environment, operation, dependency })
}

// ---- Resolution against the evaluation time ------------------------------------------------

fn add_months(t: i64, months: i64) -> Result<i64> {
    let dt = DateTime::<Utc>::from_timestamp_nanos(t);
    let m = Months::new(u32::try_from(months.unsigned_abs()).unwrap_or(u32::MAX));
    let moved = if months >= 0 { dt.checked_add_months(m) } else { dt.checked_sub_months(m) };
    moved
        .and_then(|d| d.timestamp_nanos_opt())
        .ok_or_else(|| Error::Config(format!("an SLO interval around {dt} is out of range")))
}

/// `t` moved by `n` units (months in calendar arithmetic).
fn shift(t: i64, unit: DurationUnit, n: i64) -> Result<i64> {
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
fn interval_at(interval: Interval, at: i64) -> Result<(i64, i64)> {
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

fn definitions_schema() -> SchemaRef {
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

fn burn_windows_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("slo", DataType::Utf8, false),
        Field::new("lookback_minutes", DataType::Int64, false),
        Field::new("lookback_ns", DataType::Int64, false),
    ]))
}

/// `(100 − goal) / 100`, rounded to 12 decimals so that goals like 99.9 give budgets like
/// 86.4 s a day rather than 86.39999999999509.
fn budget_fraction(goal: f64) -> f64 {
    ((100.0 - goal) * 1e10).round() / 1e12
}

/// A description of the interval: `7d rolling`, `1mo calendar from 2026-11-01T00:00:00Z`.
fn describe_interval(interval: Interval) -> String {
    match interval {
        Interval::Rolling { unit, duration } => format!("{duration}{} rolling", unit.letter()),
        Interval::Calendar { start, unit, duration } => {
            format!("{duration}{} calendar from {}", unit.letter(), crate::util::utc_text(start))
        }
    }
}

/// One row of `slo_definitions`.
struct DefinitionRow {
    statistic: Option<String>,
    stat_kind: Option<&'static str>,
    stat_fraction: Option<f64>,
    threshold: Option<f64>,
    operator: Option<&'static str>,
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
    fn excluded_periods(&self) -> Vec<i64> {
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

fn definition_row(d: &SloDefinition, at: i64) -> Result<DefinitionRow> {
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
        Evaluation::Period { period_seconds, statistic, threshold, operator } => {
            let (kind, fraction) = statistic.columns();
            let p = period_seconds * NANOS_PER_SECOND;
            // An AVAILABILITY period's datapoint is its availability: no statistic applies.
            if d.metric == MetricType::Latency {
                row.statistic = Some(match statistic {
                    Statistic::Percentile(f) => format!("p{}", (f * 1e6).round() / 1e4),
                    other => format!("{other:?}"),
                });
                row.stat_kind = Some(kind);
                row.stat_fraction = fraction;
            }
            row.threshold = Some(threshold);
            row.operator = Some(operator.as_str());
            row.period_ns = Some(p);
            row.periods_total = Some((end - start) / p);
            row.periods_elapsed = Some((elapsed_end - start + p - 1) / p);
        }
        Evaluation::Request { threshold, operator } => {
            row.threshold = threshold;
            row.operator = operator.map(Operator::as_str);
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
}

fn exclusions_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("slo", DataType::Utf8, false),
        Field::new("start_ns", DataType::Int64, false),
        Field::new("end_ns", DataType::Int64, false),
    ]))
}

fn excluded_periods_schema() -> SchemaRef {
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
    Ok(DefinitionTables { definitions, burn_windows, exclusions, excluded_periods })
}

// ---- Evaluation ----------------------------------------------------------------------------

/// The default evaluation time: the end of the latest record in `signals`, rounded up to a
/// whole minute; `None` when there is no record.
pub async fn default_evaluation_time(ctx: &SessionContext) -> Result<Option<i64>> {
    let batches = ctx.table(signals::TABLE).await?.aggregate(vec![], vec![max(col(signals::col::TIMESTAMP))])?;
    let batches = batches.collect().await?;
    let latest = batches
        .first()
        .and_then(|b| b.column(0).as_primitive_opt::<arrow::datatypes::TimestampNanosecondType>().cloned())
        .filter(|a| a.len() == 1 && a.is_valid(0))
        .map(|a| a.value(0));
    Ok(latest.map(|t| t.div_euclid(NANOS_PER_MINUTE) * NANOS_PER_MINUTE + NANOS_PER_MINUTE))
}

/// What an SLO evaluation computed.
#[derive(Debug, Clone)]
pub struct SloReport {
    /// [`SLO_TABLES`], in order.
    pub tables: Vec<Table>,
    /// The evaluation time, ns since the epoch.
    pub at: i64,
    /// SLOs per status (`OK`, `WARNING`, `BREACHED`, `INSUFFICIENT_DATA`).
    pub statuses: BTreeMap<String, usize>,
}

impl SloReport {
    /// SLOs whose error budget is exhausted.
    pub fn breached(&self) -> usize {
        self.statuses.get("BREACHED").copied().unwrap_or(0)
    }
}

/// Evaluate `defs` at `at` over the `signals` table registered in `ctx`. With `no_data_bad`,
/// a period without records counts against a period-based SLO.
pub async fn evaluate(ctx: &SessionContext, defs: &[SloDefinition], at: i64, no_data_bad: bool) -> Result<SloReport> {
    let t = definition_batches(defs, at)?;
    let inputs = [
        ("slo_definitions", t.definitions),
        ("slo_burn_windows", t.burn_windows),
        ("slo_exclusions", t.exclusions),
        ("slo_excluded_periods", t.excluded_periods),
    ];
    // A session can evaluate again (other SLOs, another time): the previous tables go first.
    for name in inputs.iter().map(|i| i.0).chain(["slo_records"]).chain(SLO_TABLES) {
        ctx.deregister_table(name)?;
    }
    for (name, batch) in inputs {
        ctx.register_table(name, Arc::new(MemTable::try_new(batch.schema(), vec![vec![batch]])?))?;
    }
    let partitions = ctx.copied_config().target_partitions();
    let records = run_query(ctx, "slo_records", vec![]).await?;
    crate::metrics::register(ctx, "slo_records", records.schema, records.batches, partitions)?;
    let param = vec![ScalarValue::Boolean(Some(no_data_bad))];
    // In dependency order; each is registered for the queries after it.
    let periods = run_and_register(ctx, "slo_periods", vec![]).await?;
    let slos = run_and_register(ctx, "slos", param.clone()).await?;
    let burn_rates = run_and_register(ctx, "slo_burn_rates", param).await?;
    let mut statuses = BTreeMap::new();
    for status in Columns::of(&slos)?.text("status").into_iter().flatten() {
        *statuses.entry(status).or_default() += 1;
    }
    let tables = vec![slos, periods, burn_rates];
    Ok(SloReport { tables, at, statuses })
}

/// What each SLO of an `slos` table measures, in words: `p99 latency <= 300 ms per 300s`,
/// `requests without fault`.
pub fn sli_descriptions(slos: &Columns) -> Vec<String> {
    let (evaluation, metric) = (slos.text("evaluation"), slos.text("metric"));
    let (statistic, operator) = (slos.text("statistic"), slos.text("operator"));
    let (threshold, period) = (slos.number("threshold"), slos.text("period_seconds"));
    (0..slos.len())
        .map(|r| {
            let op = operator[r].as_deref().unwrap_or("–");
            let limit = plain(threshold[r]);
            let per = period[r].as_deref().unwrap_or("–");
            match (evaluation[r].as_deref(), metric[r].as_deref()) {
                (Some("PeriodBased"), Some("AVAILABILITY")) => format!("availability {op} {limit} % per {per}s"),
                (Some("PeriodBased"), _) => {
                    format!("{} latency {op} {limit} ms per {per}s", statistic[r].as_deref().unwrap_or("–"))
                }
                (_, Some("AVAILABILITY")) => "requests without fault".into(),
                _ => format!("requests with latency {op} {limit} ms"),
            }
        })
        .collect()
}

/// Each SLO's burn rates as `60m 1.49`, in window order.
pub fn burn_rates_by_slo(report: &SloReport) -> Result<BTreeMap<String, Vec<String>>> {
    let burns = Columns::of(&report.tables[2])?;
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let (slo, minutes, rate) = (burns.text("slo"), burns.int("lookback_minutes"), burns.number("burn_rate"));
    for r in 0..burns.len() {
        let window = format!("{}m {}", minutes[r].unwrap_or_default(), fixed(rate[r], ""));
        out.entry(slo[r].clone().unwrap_or_default()).or_default().push(window);
    }
    Ok(out)
}

/// The SLO table as text: SLO, SLI, goal and interval, attainment, budget left, status and
/// the burn rates; one line per SLO, "–" where a value is undefined.
pub fn render_slos(report: &SloReport) -> Result<String> {
    let slos = Columns::of(&report.tables[0])?;
    let mut burns = burn_rates_by_slo(report)?;
    let (name, goal, interval) = (slos.text("slo"), slos.number("goal"), slos.text("goal_interval"));
    let (attainment, left, status) =
        (slos.number("attainment"), slos.number("budget_remaining_pct"), slos.text("status"));
    let rows: Vec<Vec<String>> = sli_descriptions(&slos)
        .into_iter()
        .enumerate()
        .map(|(r, sli)| {
            let name = name[r].clone().unwrap_or_default();
            vec![
                name.clone(),
                sli,
                format!("{} % over {}", plain(goal[r]), interval[r].as_deref().unwrap_or("–")),
                fixed(attainment[r], " %"),
                fixed(left[r], " %"),
                status[r].clone().unwrap_or_default(),
                burns.remove(&name).map(|v| v.join(", ")).unwrap_or_default(),
            ]
        })
        .collect();
    let header = ["SLO", "SLI", "Goal", "Attainment", "Budget left", "Status", "Burn rates"];
    Ok(crate::report::text::table(&header, &rows, &[0, 1, 2, 5, 6]))
}

/// The span of record end times `[from, to)` that evaluating `defs` at `at` reads: every
/// interval and burn-rate look-back window.
pub fn records_window(defs: &[SloDefinition], at: i64) -> Result<(i64, i64)> {
    let rows = defs.iter().map(|d| definition_row(d, at)).collect::<Result<Vec<_>>>()?;
    let from = rows.iter().map(|r| r.records_from).min().unwrap_or(at);
    let to = rows.iter().map(|r| r.elapsed_end).max().unwrap_or(at);
    Ok((from, to.max(from + 1)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queries::percentile_of_sorted;
    use crate::signals::signals_schema;

    const T0: i64 = 1_763_856_000 * NANOS_PER_SECOND; // 2025-11-23T00:00:00Z, a Sunday

    /// One signal record: (record type, service, operation, remote service, end ns, latency ms,
    /// fault).
    type Rec<'a> = (&'a str, &'a str, &'a str, Option<&'a str>, i64, f64, i64);

    fn signals_batch(recs: &[Rec]) -> RecordBatch {
        let schema = signals_schema();
        let dict = |values: Vec<Option<&str>>| -> ArrayRef {
            let plain: ArrayRef = Arc::new(StringArray::from(values));
            arrow::compute::cast(&plain, &crate::model::schema::dict_utf8()).unwrap()
        };
        let n = recs.len();
        let none = || dict(vec![None; n]);
        let ids = |width: i32| -> ArrayRef {
            let values = vec![vec![0u8; width as usize]; n];
            Arc::new(arrow::array::FixedSizeBinaryArray::try_from_iter(values.into_iter()).unwrap())
        };
        let columns: Vec<ArrayRef> = vec![
            dict(recs.iter().map(|r| Some(r.0)).collect()),
            dict(vec![Some("ServerSpan"); n]),
            dict(vec![Some("eks:demo/default"); n]),
            dict(recs.iter().map(|r| Some(r.1)).collect()),
            dict(recs.iter().map(|r| Some(r.2)).collect()),
            dict(recs.iter().map(|r| r.3).collect()),
            none(),
            none(),
            none(),
            none(),
            Arc::new(Float64Array::from_iter_values(recs.iter().map(|r| r.5))),
            Arc::new(Int64Array::from_iter_values(recs.iter().map(|r| (r.5 * 1e6).round() as i64))),
            Arc::new(Int64Array::from_iter_values(recs.iter().map(|_| 0))),
            Arc::new(Int64Array::from_iter_values(recs.iter().map(|r| r.6))),
            Arc::new(TimestampNanosecondArray::from_iter_values(recs.iter().map(|r| r.4)).with_timezone("UTC")),
            ids(16),
            ids(8),
        ];
        RecordBatch::try_new(schema, columns).unwrap()
    }

    /// A service record of `svc`/`GET /` ending at `t` (ns).
    fn rec(t: i64, latency: f64, fault: i64) -> Rec<'static> {
        ("service", "svc", "GET /", None, t, latency, fault)
    }

    fn slo_json(sli: &str, goal: &str, burn: &str) -> String {
        format!(r#"{{"Name": "s", {sli}, "Goal": {goal}, "BurnRateConfigurations": [{burn}]}}"#)
    }

    fn request_availability() -> String {
        r#""RequestBasedSliConfig": {"RequestBasedSliMetricConfig": {
              "KeyAttributes": {"Type": "Service", "Name": "svc", "Environment": "eks:demo/default"},
              "MetricType": "AVAILABILITY"}}"#
            .into()
    }

    fn period_sli(metric: &str, statistic: &str, period: i64, threshold: f64, op: &str) -> String {
        format!(
            r#""SliConfig": {{"SliMetricConfig": {{"KeyAttributes": {{"Type": "Service", "Name": "svc"}},
                 "MetricType": "{metric}", "Statistic": "{statistic}", "PeriodSeconds": {period}}},
                 "MetricThreshold": {threshold}, "ComparisonOperator": "{op}"}}"#
        )
    }

    fn rolling(unit: &str, n: u32, goal: f64) -> String {
        format!(
            r#"{{"Interval": {{"RollingInterval": {{"DurationUnit": "{unit}", "Duration": {n}}}}}, "AttainmentGoal": {goal}}}"#
        )
    }

    /// Evaluate `json` over `recs` at `at`: the slos, slo_periods and slo_burn_rates rows as
    /// column → display string maps.
    fn evaluate_rows(json: &str, recs: &[Rec], at: i64, no_data_bad: bool) -> Vec<Vec<BTreeMap<String, String>>> {
        let defs = parse_definitions(json).unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
        rt.block_on(async {
            let ctx = SessionContext::new();
            let batch = signals_batch(recs);
            ctx.register_table(
                signals::TABLE,
                Arc::new(MemTable::try_new(signals_schema(), vec![vec![batch]]).unwrap()),
            )
            .unwrap();
            let report = evaluate(&ctx, &defs, at, no_data_bad).await.unwrap();
            report
                .tables
                .iter()
                .map(|t| {
                    let mut rows = Vec::new();
                    for b in &t.batches {
                        for r in 0..b.num_rows() {
                            let row = b
                                .schema()
                                .fields()
                                .iter()
                                .zip(b.columns())
                                .map(|(f, c)| {
                                    let v = if c.is_valid(r) {
                                        arrow::util::display::array_value_to_string(c, r).unwrap()
                                    } else {
                                        "NULL".into()
                                    };
                                    (f.name().clone(), v)
                                })
                                .collect();
                            rows.push(row);
                        }
                    }
                    rows
                })
                .collect()
        })
    }

    fn num(row: &BTreeMap<String, String>, key: &str) -> f64 {
        row[key].parse().unwrap_or_else(|_| panic!("{key} = {}", row[key]))
    }

    #[test]
    fn request_based_follows_the_documented_rolling_example() {
        // Application Signals' example: rolling 5 days, goal 85 %. Day 1: 10 requests, 1 bad →
        // 90 %, budget 1.5, 0.5 left. Day 6: the window (days 2-6) holds 56 requests, 9 bad →
        // 84 % (83.93), budget 8.4, -0.6 left: breached.
        let day = |d: i64| T0 + (d - 1) * NANOS_PER_DAY;
        let per_day = [(10, 1), (11, 2), (11, 2), (11, 2), (11, 2), (12, 1)];
        let mut recs = Vec::new();
        for (d, (total, bad)) in per_day.iter().enumerate() {
            for i in 0..*total {
                recs.push(rec(day(d as i64 + 1) + i64::from(i) * NANOS_PER_MINUTE, 5.0, i64::from(i < *bad)));
            }
        }
        let json = slo_json(&request_availability(), &rolling("DAY", 5, 85.0), "");
        let json = json.replace(", \"BurnRateConfigurations\": []", "");
        let cases = [
            // (evaluated at, requests, bad, attainment, budget, left, status)
            (day(2), 10, 1, 90.0, 1.5, 0.5, "WARNING"),
            (day(7), 56, 9, 100.0 * 47.0 / 56.0, 8.4, -0.6, "BREACHED"),
        ];
        for (at, requests, bad, attainment, budget, left, status) in cases {
            let rows = evaluate_rows(&json, &recs, at, false);
            let s = &rows[0][0];
            assert_eq!((num(s, "requests"), num(s, "bad_requests")), (requests as f64, bad as f64));
            assert!((num(s, "attainment") - attainment).abs() < 1e-9, "{s:?}");
            assert!((num(s, "budget_requests") - budget).abs() < 1e-9, "{s:?}");
            assert!((num(s, "budget_requests_remaining") - left).abs() < 1e-9, "{s:?}");
            assert_eq!(s["status"], status);
        }
    }

    /// A day from T0 with three failing minutes (10, 20, 30: availability 50 %) and two good
    /// ones (40, 50), and a period-based availability SLO on it: 1-minute periods at
    /// >= 99 %, rolling 1 day at 99.9 %, a 60-minute burn-rate window.
    fn five_minutes() -> (Vec<Rec<'static>>, String) {
        let mut recs = Vec::new();
        for m in [10, 20, 30] {
            recs.push(rec(T0 + m * NANOS_PER_MINUTE, 1.0, 1));
            recs.push(rec(T0 + m * NANOS_PER_MINUTE + 1, 1.0, 0));
        }
        recs.push(rec(T0 + 40 * NANOS_PER_MINUTE, 1.0, 0));
        recs.push(rec(T0 + 50 * NANOS_PER_MINUTE, 1.0, 0));
        let json = slo_json(
            &period_sli("AVAILABILITY", "Average", 60, 99.0, "GreaterThanOrEqualTo"),
            &rolling("DAY", 1, 99.9),
            r#"{"LookBackWindowMinutes": 60}"#,
        );
        (recs, json)
    }

    #[test]
    fn period_based_budgets_count_whole_bad_periods() {
        // Rolling 1 day of 1-minute periods at 99.9 %: 1,440 periods, a budget of 86.4 s.
        // Three minutes fail (availability 50 % < 99); two more minutes have good data.
        let at = T0 + NANOS_PER_DAY;
        let (recs, json) = five_minutes();
        let cases = [
            // (no data bad, bad periods, status)
            (false, 3.0, "BREACHED"),
            (true, 1440.0 - 5.0 + 3.0, "BREACHED"),
        ];
        for (no_data_bad, bad, status) in cases {
            let rows = evaluate_rows(&json, &recs, at, no_data_bad);
            let s = &rows[0][0];
            assert_eq!(num(s, "periods_total"), 1440.0);
            assert_eq!(s["statistic"], "NULL", "an availability datapoint has no statistic");
            assert_eq!(num(s, "periods_with_data"), 5.0);
            assert_eq!(num(s, "periods_bad"), bad);
            assert_eq!(num(s, "budget_seconds"), 86.4);
            assert!((num(s, "budget_seconds_remaining") - (86.4 - 60.0 * bad)).abs() < 1e-9);
            assert!((num(s, "attainment") - 100.0 * (1440.0 - bad) / 1440.0).abs() < 1e-9);
            assert_eq!(s["status"], status);
            let periods = &rows[1];
            assert_eq!(periods.len(), 5);
            assert_eq!(periods.iter().filter(|p| p["good"] == "false").count(), 3);
            assert_eq!(periods[0]["value"], "50.0");
            // The last hour holds no record: the burn rate falls back to the attainment.
            let burn = &rows[2][0];
            assert_eq!(burn["basis"], "attainment");
            let expected = (100.0 - num(s, "attainment")) / 100.0 / 0.001;
            assert!((num(burn, "burn_rate") - expected).abs() < 1e-6, "{burn:?}");
        }
        // One bad minute: 60 s of the 86.4 s budget used, 30.6 % left, which is below the 50 %
        // warning threshold.
        let one = &recs[..2];
        let rows = evaluate_rows(&json, one, at, false);
        assert_eq!(rows[0][0]["status"], "WARNING");
        assert!((num(&rows[0][0], "budget_remaining_pct") - 100.0 * 26.4 / 86.4).abs() < 1e-9);
    }

    /// `json` (an SLO object) with these exclusion windows.
    fn with_exclusions(json: &str, windows: &str) -> String {
        json.replacen("\"Goal\"", &format!("\"ExclusionWindows\": [{windows}], \"Goal\""), 1)
    }

    #[test]
    fn exclusion_windows_make_periods_good_and_drop_requests() {
        let at = T0 + NANOS_PER_DAY;
        let seconds = |t: i64| t / NANOS_PER_SECOND;
        let (recs, period) = five_minutes();
        // Minutes 20 and 21 excluded: minute 20 (failing) counts as good, minute 21 (no data) is
        // not bad even with --no-data bad.
        let two_minutes = format!(
            r#"{{"Window": {{"DurationUnit": "MINUTE", "Duration": 2}}, "StartTime": {}, "Reason": "deploy"}}"#,
            seconds(T0 + 20 * NANOS_PER_MINUTE)
        );
        let json = with_exclusions(&period, &two_minutes);
        for (no_data_bad, bad) in [(false, 2.0), (true, 2.0 + 1440.0 - 5.0 - 1.0)] {
            let rows = evaluate_rows(&json, &recs, at, no_data_bad);
            assert_eq!(num(&rows[0][0], "periods_bad"), bad, "no data bad: {no_data_bad}");
            let minute20 = rows[1].iter().find(|p| p["period_index"] == "20").unwrap();
            assert_eq!((minute20["excluded"].as_str(), minute20["good"].as_str()), ("true", "true"));
            assert_eq!(minute20["value"], "50.0", "the datapoint is still reported");
        }
        // The burn-rate window (the last hour, evaluated at T0 + 1 h) counts the same way: minutes
        // 10 and 30 failed, 60 - 5 periods had no data, of which minute 21 is excluded.
        let rows = evaluate_rows(&json, &recs, T0 + 60 * NANOS_PER_MINUTE, true);
        assert_eq!(num(&rows[2][0], "bad_periods"), 2.0 + 60.0 - 5.0 - 1.0);
        // A daily recurring hour from three days before: [T0, T0 + 1 h) is excluded, so every
        // failing minute is.
        let daily = format!(
            r#"{{"Window": {{"DurationUnit": "HOUR", "Duration": 1}}, "StartTime": {},
                "RecurrenceRule": {{"Expression": "rate(1 day)"}}}}"#,
            seconds(T0 - 3 * NANOS_PER_DAY)
        );
        let rows = evaluate_rows(&with_exclusions(&period, &daily), &recs, at, false);
        assert_eq!((num(&rows[0][0], "periods_bad"), rows[0][0]["status"].as_str()), (0.0, "OK"));
        // The same hour as a cron rule (midnight UTC, every day).
        let nightly = daily.replace("rate(1 day)", "cron(0 0 * * ? *)");
        let rows = evaluate_rows(&with_exclusions(&period, &nightly), &recs, at, false);
        assert_eq!((num(&rows[0][0], "periods_bad"), rows[0][0]["status"].as_str()), (0.0, "OK"));
        // From a start time after the failing minutes, nothing of that day is excluded.
        let later = nightly
            .replace(&seconds(T0 - 3 * NANOS_PER_DAY).to_string(), &seconds(T0 + 60 * NANOS_PER_MINUTE).to_string());
        let rows = evaluate_rows(&with_exclusions(&period, &later), &recs, at, false);
        assert_eq!(num(&rows[0][0], "periods_bad"), 3.0);

        // Request-based: the requests of an excluded window count nowhere.
        let request = slo_json(&request_availability(), &rolling("DAY", 1, 90.0), r#"{"LookBackWindowMinutes": 60}"#);
        let ten_minutes = format!(
            r#"{{"Window": {{"DurationUnit": "MINUTE", "Duration": 15}}, "StartTime": "{}"}}"#,
            DateTime::<Utc>::from_timestamp_nanos(T0 + 5 * NANOS_PER_MINUTE).to_rfc3339()
        );
        let rows = evaluate_rows(&with_exclusions(&request, &ten_minutes), &recs, at, false);
        let s = &rows[0][0];
        // Minutes 10 (2 records) are excluded: 6 requests left, 2 bad (minutes 20 and 30).
        assert_eq!((num(s, "requests"), num(s, "bad_requests")), (6.0, 2.0));
        // The whole elapsed interval excluded: attainment 100 %, OK.
        let all_day = format!(
            r#"{{"Window": {{"DurationUnit": "DAY", "Duration": 2}}, "StartTime": {}}}"#,
            seconds(T0 - NANOS_PER_DAY)
        );
        let rows = evaluate_rows(&with_exclusions(&request, &all_day), &recs, at, false);
        let s = &rows[0][0];
        assert_eq!((num(s, "requests"), num(s, "attainment"), s["status"].as_str()), (0.0, 100.0, "OK"));
    }

    #[test]
    fn exclusion_windows_expand_clip_and_merge() {
        let hour = 60 * NANOS_PER_MINUTE;
        let x = |start: i64, hours: u32, every: Option<i64>| Exclusion {
            start,
            unit: DurationUnit::Hour,
            duration: hours,
            recurrence: every.map(Recurrence::Rate),
        };
        let cases = [
            // One window, clipped to [from, to).
            (vec![x(T0 - hour, 3, None)], T0, T0 + 10 * hour, vec![(T0, T0 + 2 * hour)]),
            // Daily, from long before: only the occurrences in range.
            (
                vec![x(T0 - 30 * NANOS_PER_DAY + hour, 1, Some(NANOS_PER_DAY))],
                T0,
                T0 + 2 * NANOS_PER_DAY,
                vec![(T0 + hour, T0 + 2 * hour), (T0 + NANOS_PER_DAY + hour, T0 + NANOS_PER_DAY + 2 * hour)],
            ),
            // Overlapping and touching windows merge.
            (
                vec![x(T0, 2, None), x(T0 + hour, 2, None), x(T0 + 3 * hour, 1, None)],
                T0,
                T0 + 10 * hour,
                vec![(T0, T0 + 4 * hour)],
            ),
            // Entirely before or after the range: nothing.
            (vec![x(T0 - 5 * hour, 1, None), x(T0 + 20 * hour, 1, None)], T0, T0 + 10 * hour, vec![]),
        ];
        for (exclusions, from, to, want) in cases {
            assert_eq!(excluded_spans(&exclusions, from, to).unwrap(), want, "{exclusions:?}");
        }
        assert_eq!(rate("rate(1 day)"), Ok(NANOS_PER_DAY));
        assert_eq!(rate("rate(30 minutes)"), Ok(30 * NANOS_PER_MINUTE));
        assert!(rate("rate(0 days)").is_err() && rate("rate(1 week)").is_err() && rate("cron(* * * * ? *)").is_err());
        // cron: 02:30 on weekdays (T0 is a Sunday), and 23:00 on the 1st of each month in 2025.
        let weekdays = |from, to| match recurrence("cron(30 2 ? * MON-FRI *)").unwrap() {
            Recurrence::Cron(c) => c.occurrences(from, to),
            Recurrence::Rate(_) => unreachable!(),
        };
        let at = |day: i64, h: i64, m: i64| T0 + day * NANOS_PER_DAY + (h * 60 + m) * NANOS_PER_MINUTE;
        assert_eq!(weekdays(T0, T0 + 7 * NANOS_PER_DAY), (1..=5).map(|d| at(d, 2, 30)).collect::<Vec<_>>());
        assert_eq!(weekdays(at(1, 2, 31), at(2, 2, 30)), Vec::<i64>::new(), "half-open");
        let monthly = match recurrence("cron(0 23 1 * ? 2025)").unwrap() {
            Recurrence::Cron(c) => c.occurrences(T0 - 30 * NANOS_PER_DAY, T0 + 40 * NANOS_PER_DAY),
            Recurrence::Rate(_) => unreachable!(),
        };
        // 2025-11-01 and 2025-12-01 at 23:00; 2026-01-01 is outside the year field.
        assert_eq!(monthly, vec![at(-22, 23, 0), at(8, 23, 0)]);
        let steps = cron_field("0/15,50-52", 0, 59, &[]).unwrap();
        let on: Vec<usize> = steps.iter().enumerate().filter(|v| *v.1).map(|v| v.0).collect();
        assert_eq!(on, [0, 15, 30, 45, 50, 51, 52]);
        for (bad, why) in [
            ("cron(0 2 * * * *)", "must be ?"),
            ("cron(0 2 ? * MON#1 *)", "not supported"),
            ("cron(0 2 L * ? *)", "not supported"),
            ("cron(61 2 ? * * *)", "outside 0-59"),
            ("cron(0 2 ? * *)", "5 fields"),
            ("cron(0 5-2 ? * * *)", "backwards"),
        ] {
            let err = recurrence(bad).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }

    #[test]
    fn latency_statistics_are_exact_per_period() {
        let mut rng = crate::util::SplitMix::new(3);
        let mut recs = Vec::new();
        let mut by_period: BTreeMap<i64, Vec<f64>> = BTreeMap::new();
        for i in 0..2_000 {
            let period = i % 7;
            let t = T0 + period * 300 * NANOS_PER_SECOND + (i * 1_000_003) % (300 * NANOS_PER_SECOND);
            let latency = (rng.below(1_000_000) as f64) / 977.0;
            recs.push(rec(t, latency, 0));
            by_period.entry(period).or_default().push(latency);
        }
        // A record of another operation and one of another service: not read by an S1 SLO.
        recs.push(("service", "svc", "POST /", None, T0, 1e9, 0));
        recs.push(("service", "other", "GET /", None, T0, 1e9, 0));
        let at = T0 + 3600 * NANOS_PER_SECOND;
        for statistic in ["p99", "p50", "p99.9", "p0", "p100", "Average", "Minimum", "Maximum", "Sum", "SampleCount"] {
            let sli = period_sli("LATENCY", statistic, 300, 500.0, "LessThan")
                .replace(r#""MetricType""#, r#""OperationName": "GET /", "MetricType""#);
            let json = slo_json(&sli, &rolling("HOUR", 1, 99.0), "");
            let rows = evaluate_rows(&json, &recs, at, false);
            assert_eq!(rows[1].len(), 7, "{statistic}");
            for p in &rows[1] {
                let mut values = by_period[&(num(p, "period_index") as i64)].clone();
                values.sort_by(f64::total_cmp);
                let want = match statistic {
                    "Average" => values.iter().map(|v| (v * 1e6).round()).sum::<f64>() / 1e6 / values.len() as f64,
                    "Minimum" => values[0],
                    "Maximum" => values[values.len() - 1],
                    "Sum" => values.iter().sum(),
                    "SampleCount" => values.len() as f64,
                    s => percentile_of_sorted(&values, s[1..].parse::<f64>().unwrap() / 100.0).unwrap(),
                };
                let got = num(p, "value");
                let tolerance = if statistic == "Sum" { 1e-6 } else { 0.0 };
                assert!((got - want).abs() <= tolerance, "{statistic}: {got} != {want}");
                assert_eq!(p["good"], (want < 500.0).to_string(), "{statistic}");
            }
        }
    }

    #[test]
    fn calendar_months_dependencies_and_request_latency() {
        // A calendar month from 2025-11-01: evaluated on 2025-11-16 it is November (30 days:
        // 43,200 one-minute periods, budget at 99 % = 432 minutes), 15 days of it elapsed.
        let start = T0 - 22 * NANOS_PER_DAY;
        let at = start + 15 * NANOS_PER_DAY;
        let dep =
            |t: i64, remote: &'static str, latency: f64| ("dependency", "svc", "GET /", Some(remote), t, latency, 0);
        let recs = vec![
            dep(start + 1, "db", 10.0),
            dep(start + 2, "db", 300.0),
            dep(start + 3, "cache", 900.0),
            rec(start, 1.0, 1),
        ];
        let json = r#"{"Name": "db-latency",
            "RequestBasedSliConfig": {"RequestBasedSliMetricConfig": {
                "KeyAttributes": {"Type": "Service", "Name": "svc"},
                "MetricType": "LATENCY",
                "DependencyConfig": {"DependencyKeyAttributes": {"Type": "RemoteService", "Name": "db"}}},
              "MetricThreshold": 250, "ComparisonOperator": "LessThanOrEqualTo"},
            "Goal": {"Interval": {"CalendarInterval": {"StartTime": 1761955200, "DurationUnit": "MONTH", "Duration": 1}},
                     "AttainmentGoal": 40}}"#;
        let rows = evaluate_rows(json, &recs, at, false);
        let s = &rows[0][0];
        assert_eq!(s["interval_start"], "2025-11-01T00:00:00Z");
        assert_eq!(s["interval_end"], "2025-12-01T00:00:00Z");
        assert_eq!((num(s, "requests"), num(s, "bad_requests")), (2.0, 1.0));
        assert_eq!(num(s, "attainment"), 50.0);
        assert_eq!(s["status"], "WARNING"); // budget 1.2 requests, 0.2 left (16.7 %)
        let period = slo_json(
            &period_sli("AVAILABILITY", "Average", 60, 99.0, "GreaterThanOrEqualTo"),
            r#"{"Interval": {"CalendarInterval": {"StartTime": "2025-11-01", "DurationUnit": "MONTH", "Duration": 1}}}"#,
            "",
        );
        let rows = evaluate_rows(&period, &recs, at, false);
        let s = &rows[0][0];
        assert_eq!((num(s, "periods_total"), num(s, "periods_elapsed")), (43_200.0, 15.0 * 1440.0));
        assert_eq!(num(s, "budget_seconds"), 432.0 * 60.0);
        assert_eq!(num(s, "periods_bad"), 1.0);
    }

    #[test]
    fn intervals_resolve_against_the_evaluation_time() {
        let day = NANOS_PER_DAY;
        let hour = 3_600 * NANOS_PER_SECOND;
        let nov1 = T0 - 22 * day;
        let cases = [
            (Interval::Rolling { unit: DurationUnit::Day, duration: 7 }, T0, (T0 - 7 * day, T0)),
            (Interval::Rolling { unit: DurationUnit::Month, duration: 1 }, nov1, (nov1 - 31 * day, nov1)),
            (Interval::Calendar { start: T0, unit: DurationUnit::Hour, duration: 6 }, T0 + hour, (T0, T0 + 6 * hour)),
            // On a boundary: the interval that just ended.
            (
                Interval::Calendar { start: T0, unit: DurationUnit::Hour, duration: 6 },
                T0 + 6 * hour,
                (T0, T0 + 6 * hour),
            ),
            (
                Interval::Calendar { start: T0, unit: DurationUnit::Day, duration: 1 },
                T0 + 40 * day + 1,
                (T0 + 40 * day, T0 + 41 * day),
            ),
            (
                Interval::Calendar { start: nov1, unit: DurationUnit::Month, duration: 1 },
                T0 + 9 * day,
                (nov1 + 30 * day, nov1 + 61 * day),
            ),
            // Before the first interval: the first one, nothing elapsed.
            (Interval::Calendar { start: T0, unit: DurationUnit::Day, duration: 2 }, T0 - 1, (T0, T0 + 2 * day)),
        ];
        for (interval, at, want) in cases {
            assert_eq!(interval_at(interval, at).unwrap(), want, "{interval:?} at {at}");
        }
        assert_eq!(budget_fraction(99.9), 0.001);
        assert_eq!(budget_fraction(99.0), 0.01);
    }

    #[test]
    fn definitions_are_validated_with_clear_messages() {
        let ok = slo_json(&request_availability(), &rolling("DAY", 7, 99.0), r#"{"LookBackWindowMinutes": 60}"#);
        let one = parse_definitions(&ok).unwrap();
        assert_eq!(one[0].interval, Interval::Rolling { unit: DurationUnit::Day, duration: 7 });
        assert_eq!(one[0].target.environment.as_deref(), Some("eks:demo/default"));
        assert_eq!(parse_definitions(&format!("[{ok}]")).unwrap(), one);
        // The API's defaults: goal 99 %, warning 50 %, rolling 7 days, 60 s periods, p99.
        let bare = r#"{"Name": "x", "SliConfig": {"SliMetricConfig": {"KeyAttributes": {"Name": "svc"},
            "MetricType": "LATENCY"}, "MetricThreshold": 100, "ComparisonOperator": "LessThan"}}"#;
        let d = &parse_definitions(bare).unwrap()[0];
        assert_eq!((d.goal, d.warning), (99.0, 50.0));
        assert_eq!(d.interval, Interval::Rolling { unit: DurationUnit::Day, duration: 7 });
        let Evaluation::Period { period_seconds, statistic, .. } = d.evaluation else { panic!() };
        assert_eq!((period_seconds, statistic), (60, Statistic::Percentile(0.99)));
        let cases = [
            ("[]", "no SLO is defined"),
            ("{", "line 1"),
            (&format!("[{ok}, {ok}]"), "defined twice"),
            (&ok.replace("\"Name\": \"s\"", "\"Nmae\": \"s\""), "unknown field `Nmae`"),
            (&format!("[{ok},\n{}]", ok.replace("\"Name\": \"s\"", "\"Nmae\": \"s\"")), "unknown field `Nmae`"),
            (&format!("[{ok},\n{}]", ok.replace("\"Name\": \"s\"", "\"Nmae\": \"s\"")), "line 4"),
            (&ok.replace("AVAILABILITY", "SPEED"), "unknown variant `SPEED`"),
            (&ok.replace("\"Type\": \"Service\", ", "\"Type\": \"AWS::Resource\", "), "only Service SLOs"),
            (&ok.replace("\"AttainmentGoal\": 99", "\"AttainmentGoal\": 100"), "AttainmentGoal must be"),
            (&ok.replace("60}", "10081}"), "LookBackWindowMinutes must be 1 to 10080"),
            (
                &slo_json(&request_availability(), &rolling("HOUR", 1, 99.0), r#"{"LookBackWindowMinutes": 60}"#),
                "shorter than the interval",
            ),
            (
                &slo_json(&period_sli("LATENCY", "p99", 30, 1.0, "LessThan"), &rolling("DAY", 1, 99.0), ""),
                "PeriodSeconds must be 60 to 900",
            ),
            (
                &slo_json(&period_sli("LATENCY", "p99", 420, 1.0, "LessThan"), &rolling("HOUR", 1, 99.0), ""),
                "whole periods",
            ),
            (
                &slo_json(&period_sli("LATENCY", "p99", 420, 1.0, "LessThan"), &rolling("MONTH", 7, 99.0), ""),
                "whole periods",
            ),
            (
                &slo_json(
                    &period_sli("LATENCY", "p99", 120, 1.0, "LessThan"),
                    &rolling("DAY", 1, 99.0),
                    r#"{"LookBackWindowMinutes": 5}"#,
                ),
                "not a multiple of PeriodSeconds",
            ),
            (
                &slo_json(&period_sli("LATENCY", "tm99", 60, 1.0, "LessThan"), &rolling("DAY", 1, 99.0), ""),
                "Statistic \"tm99\" is not supported",
            ),
            (&ok.replace("\"MetricType\": \"AVAILABILITY\"", "\"MetricType\": \"LATENCY\""), "needs MetricThreshold"),
            (&ok.replace("\"Goal\"", "\"ExclusionWindows\": [{}], \"Goal\""), "missing field `Window`"),
            (
                &ok.replace(
                    "\"Goal\"",
                    r#""ExclusionWindows": [{"Window": {"DurationUnit": "HOUR", "Duration": 1}}], "Goal""#,
                ),
                "needs a StartTime",
            ),
            (
                &ok.replace(
                    "\"Goal\"",
                    r#""ExclusionWindows": [{"Window": {"DurationUnit": "HOUR", "Duration": 1}, "StartTime": 0,
                        "RecurrenceRule": {"Expression": "cron(0 2 * * * *)"}}], "Goal""#,
                ),
                "must be ? (and only one)",
            ),
            (
                &ok.replace("\"Environment\": \"eks:demo/default\"", "\"Env\": \"x\""),
                "unknown KeyAttributes key \"Env\"",
            ),
        ];
        for (json, want) in cases {
            let err = parse_definitions(json).unwrap_err();
            assert!(err.contains(want), "{json}\n→ {err}\n(wanted {want:?})");
        }
    }
}
