//! SLO definitions: the validated types spanlens evaluates, and the parsing and validation of
//! the JSON shape of the Application Signals API (`CreateServiceLevelObjective` input), with a
//! message naming the field for anything refused.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};

use serde::Deserialize;

use crate::util::time::parse_time;

use super::calendar::Cron;
use super::{NANOS_PER_DAY, NANOS_PER_MINUTE};

/// How an SLO counts: good periods of its interval, or good requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum MetricType {
    #[serde(rename = "LATENCY")]
    Latency,
    #[serde(rename = "AVAILABILITY")]
    Availability,
}

impl MetricType {
    pub(crate) fn as_str(self) -> &'static str {
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
    pub(crate) fn as_str(self) -> &'static str {
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
    pub(crate) fn letter(self) -> &'static str {
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
    /// The share of the period's requests that are good (the request verdict), in percent: an
    /// OpenSLO time slice's ratio.
    GoodShare,
}

impl Statistic {
    pub(crate) fn parse(text: &str) -> std::result::Result<Statistic, String> {
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
    pub(crate) fn columns(self) -> (&'static str, Option<f64>) {
        match self {
            Statistic::Percentile(p) => ("percentile", Some(p)),
            Statistic::Average => ("average", None),
            Statistic::Minimum => ("minimum", None),
            Statistic::Maximum => ("maximum", None),
            Statistic::Sum => ("sum", None),
            Statistic::SampleCount => ("count", None),
            Statistic::GoodShare => ("good_share", None),
        }
    }
}

/// How an SLO is evaluated.
#[derive(Debug, Clone, PartialEq)]
pub enum Evaluation {
    /// Each period of `period_seconds` gives one datapoint (the statistic of the latency, or the
    /// availability), good when `value operator threshold` holds. `request_rule` judges each
    /// request of a LATENCY SLO whose statistic is [`Statistic::GoodShare`]: good when
    /// `latency_ms operator value`.
    Period {
        period_seconds: i64,
        statistic: Statistic,
        threshold: f64,
        operator: Operator,
        request_rule: Option<(Operator, f64)>,
        attainment: PeriodAttainment,
    },
    /// Each request is good or bad: for AVAILABILITY bad = fault; for LATENCY good when
    /// `latency_ms operator threshold` holds.
    Request { threshold: Option<f64>, operator: Option<Operator> },
}

/// How a period-based SLO's attainment is made of its periods.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PeriodAttainment {
    /// The share of good periods (Application Signals; OpenSLO's Timeslices).
    #[default]
    GoodPeriods,
    /// The mean of the periods' values, in percent (OpenSLO's RatioTimeslices, whose periods'
    /// values are their shares of good requests).
    MeanValue,
}

impl PeriodAttainment {
    /// The `attainment_rule` column of `slo_definitions` and `slos`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            PeriodAttainment::GoodPeriods => "good_periods",
            PeriodAttainment::MeanValue => "mean_value",
        }
    }
}

/// Which requests an AVAILABILITY SLO counts as bad.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum BadRequests {
    /// A fault (5xx or status ERROR): Application Signals' availability.
    #[default]
    Faults,
    /// An error (4xx).
    Errors,
    /// A fault or an error.
    Failures,
}

impl BadRequests {
    /// The `bad` column of `slo_definitions`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            BadRequests::Faults => "fault",
            BadRequests::Errors => "error",
            BadRequests::Failures => "fault_or_error",
        }
    }
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
    /// For AVAILABILITY, the bad requests (Application Signals: faults).
    pub bad: BadRequests,
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
    /// The burn-rate alert rules replayed over the interval (`slo_alerts`).
    pub alert_rules: Vec<AlertRule>,
}

/// A burn-rate alert rule: it fires once the burn rates over its long window and over its short
/// window have both compared with `factor` by `operator` for `after_minutes` minutes.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRule {
    /// The OpenSLO AlertPolicy the rule comes from; none for the SRE workbook's rules.
    pub policy: Option<String>,
    pub severity: Cow<'static, str>,
    pub long_minutes: i64,
    pub short_minutes: i64,
    pub factor: f64,
    pub operator: Operator,
    pub after_minutes: i64,
}

impl AlertRule {
    /// `14.4x over 1h and 5m`; one window: `fast-burn: burn rate > 14.4 over 1h for 5m`.
    pub fn name(&self) -> String {
        let span = |m: i64| match m {
            m if m % 1440 == 0 => format!("{}d", m / 1440),
            m if m % 60 == 0 => format!("{}h", m / 60),
            m => format!("{m}m"),
        };
        if self.long_minutes == self.short_minutes {
            let policy = self.policy.as_deref().map(|p| format!("{p}: ")).unwrap_or_default();
            let after =
                if self.after_minutes > 0 { format!(" for {}", span(self.after_minutes)) } else { String::new() };
            return format!(
                "{policy}burn rate {} {} over {}{after}",
                self.operator.as_str(),
                self.factor,
                span(self.long_minutes)
            );
        }
        format!("{}x over {} and {}", self.factor, span(self.long_minutes), span(self.short_minutes))
    }
}

const fn sre_rule(severity: &'static str, long_minutes: i64, short_minutes: i64, factor: f64) -> AlertRule {
    AlertRule {
        policy: None,
        severity: Cow::Borrowed(severity),
        long_minutes,
        short_minutes,
        factor,
        operator: Operator::GreaterThanOrEqualTo,
        after_minutes: 0,
    }
}

/// The multiwindow, multi-burn-rate alerts of Google's SRE workbook ("Alerting on SLOs", table
/// 5-8): page at 14.4x over 1 hour and 5 minutes (2 % of a 30-day budget) or 6x over 6 hours and
/// 30 minutes (5 %); ticket at 3x over a day and 2 hours (10 %) or 1x over 3 days and 6 hours.
pub const SRE_ALERT_RULES: [AlertRule; 4] = [
    sre_rule("page", 60, 5, 14.4),
    sre_rule("page", 360, 30, 6.0),
    sre_rule("ticket", 1440, 120, 3.0),
    sre_rule("ticket", 4320, 360, 1.0),
];

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

// ---- The API's JSON shape ------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct SloInput {
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
pub(crate) struct SliConfigInput {
    sli_metric_config: MetricConfigInput,
    metric_threshold: f64,
    comparison_operator: Operator,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct RequestBasedSliConfigInput {
    request_based_sli_metric_config: MetricConfigInput,
    metric_threshold: Option<f64>,
    comparison_operator: Option<Operator>,
}

/// `SliMetricConfig` and `RequestBasedSliMetricConfig` (the fields of both; the period-only
/// ones are refused on a request-based SLO).
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct MetricConfigInput {
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
pub(crate) struct DependencyConfigInput {
    dependency_key_attributes: BTreeMap<String, String>,
    dependency_operation_name: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct GoalInput {
    interval: Option<IntervalInput>,
    attainment_goal: Option<f64>,
    warning_threshold: Option<f64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct IntervalInput {
    rolling_interval: Option<RollingInput>,
    calendar_interval: Option<CalendarInput>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct RollingInput {
    duration_unit: DurationUnit,
    duration: u32,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct CalendarInput {
    start_time: serde_json::Value,
    duration_unit: DurationUnit,
    duration: u32,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct ExclusionWindowInput {
    window: RollingInput,
    start_time: Option<serde_json::Value>,
    recurrence_rule: Option<RecurrenceInput>,
    #[serde(rename = "Reason", default)]
    _reason: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct RecurrenceInput {
    expression: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct BurnRateInput {
    look_back_window_minutes: u32,
}

/// Parse and validate Application Signals SLO definitions from JSON text (one object or an array
/// of them); errors give the line and column.
pub(crate) fn parse_application_signals(text: &str) -> std::result::Result<Vec<SloDefinition>, String> {
    let invalid =
        |e: serde_json::Error| format!("not a valid SLO definition (line {}, column {}): {e}", e.line(), e.column());
    let inputs: Vec<SloInput> = if text.trim_start().starts_with('[') {
        serde_json::from_str(text).map_err(invalid)?
    } else {
        vec![serde_json::from_str(text).map_err(invalid)?]
    };
    validate_all(inputs)
}

/// Application Signals SLO definitions already parsed into values (from YAML), one per SLO.
pub(crate) fn application_signals_values(
    values: Vec<serde_json::Value>,
) -> std::result::Result<Vec<SloDefinition>, String> {
    let inputs = values
        .into_iter()
        .enumerate()
        .map(|(i, v)| serde_json::from_value(v).map_err(|e| format!("not a valid SLO definition (SLO {}): {e}", i + 1)))
        .collect::<std::result::Result<Vec<SloInput>, String>>()?;
    validate_all(inputs)
}

fn validate_all(inputs: Vec<SloInput>) -> std::result::Result<Vec<SloDefinition>, String> {
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

pub(crate) fn validate(input: SloInput) -> std::result::Result<SloDefinition, String> {
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
                request_rule: None,
                attainment: PeriodAttainment::GoodPeriods,
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
    let period = match evaluation {
        Evaluation::Period { period_seconds, .. } => format!("PeriodSeconds {period_seconds}"),
        Evaluation::Request { .. } => String::new(),
    };
    let min_seconds = check_periods(interval, &evaluation, &period)?;
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
        bad: BadRequests::Faults,
        evaluation,
        target,
        goal: attainment,
        warning,
        interval,
        burn_rate_minutes,
        exclusions,
        alert_rules: SRE_ALERT_RULES.to_vec(),
    })
}

/// Check that `interval` has a duration and that a period-based `evaluation`'s periods divide it
/// into whole periods (`what` names the period in messages). Returns the shortest length
/// the interval can have, in seconds (a month has at least 28 days).
pub(crate) fn check_periods(
    interval: Interval,
    evaluation: &Evaluation,
    what: &str,
) -> std::result::Result<i64, String> {
    let (unit, duration) = match interval {
        Interval::Rolling { unit, duration } | Interval::Calendar { unit, duration, .. } => (unit, duration),
    };
    if duration == 0 {
        return Err("the interval Duration must be at least 1".into());
    }
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
    if let Evaluation::Period { period_seconds, .. } = *evaluation
        && !whole_periods(period_seconds)
    {
        return Err(format!("{what} does not divide the interval into whole periods"));
    }
    Ok(min_seconds)
}

/// `StartTime`: epoch seconds or an RFC 3339 time.
pub(crate) fn start_time(value: &serde_json::Value) -> std::result::Result<i64, String> {
    match value {
        serde_json::Value::Number(n) => {
            n.as_f64().map(|s| (s * 1e9).round() as i64).ok_or_else(|| format!("StartTime {n} is out of range"))
        }
        serde_json::Value::String(s) => parse_time(s).map_err(|e| format!("StartTime: {e}")),
        other => Err(format!("StartTime must be epoch seconds or an RFC 3339 time, not {other}")),
    }
}

/// One `ExclusionWindows` entry; a `RecurrenceRule` must be `rate(N unit)`.
pub(crate) fn exclusion(input: &ExclusionWindowInput) -> std::result::Result<Exclusion, String> {
    let start = start_time(input.start_time.as_ref().ok_or("an exclusion window needs a StartTime")?)?;
    if input.window.duration == 0 {
        return Err("an exclusion Window Duration must be at least 1".into());
    }
    let recurrence = input.recurrence_rule.as_ref().map(|r| recurrence(&r.expression)).transpose()?;
    Ok(Exclusion { start, unit: input.window.duration_unit, duration: input.window.duration, recurrence })
}

/// A `RecurrenceRule` expression: `rate(...)` or `cron(...)`.
pub(crate) fn recurrence(expression: &str) -> std::result::Result<Recurrence, String> {
    let e = expression.trim();
    match e.strip_prefix("cron(").and_then(|r| r.strip_suffix(')')) {
        Some(fields) => Cron::parse(fields)
            .map(|c| Recurrence::Cron(Box::new(c)))
            .map_err(|why| format!("RecurrenceRule {expression:?}: {why}")),
        None => rate(e).map(Recurrence::Rate),
    }
}

/// A recurrence `rate(N minute|minutes|hour|hours|day|days)`, in ns.
pub(crate) fn rate(expression: &str) -> std::result::Result<i64, String> {
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

pub(crate) fn target(
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
