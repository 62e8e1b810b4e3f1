//! OpenSLO v1 input: `kind: SLO` objects, their inline or referenced `SLI`s and the `DataSource`s
//! those name, mapped onto spanlens's SLO definitions.
//!
//! An indicator's `metricSource` has `type: spanlens` (itself, or through a `DataSource` of that
//! type) and a `spec` naming its records in Application Signals terms (`service`, `environment`,
//! `operation`, a `dependency`) and a `measure`: `requests`, `faults`, `errors`, `failures` or
//! `successes` for a `ratioMetric`, `latency` (ms, compared with an objective's `op`/`value`) for a
//! `thresholdMetric`. Budgeting methods: `Occurrences` (a request-based SLO), `Timeslices` (a
//! period-based one whose period is the `timeSliceWindow` and whose datapoint is the share of good
//! requests, good when at least the `timeSliceTarget`) and `RatioTimeslices` (the same periods,
//! whose mean value is the attainment). Objects are decoded strictly (an unknown
//! field is an error, as in OpenSLO's Go SDK); what spanlens cannot evaluate is refused with a
//! message naming the field, never guessed. docs/slo.md has the mapping and its choices.

use std::collections::{HashMap, HashSet};

use chrono::{NaiveDateTime, Offset, TimeZone};
use serde::Deserialize;
use serde_json::Value;

use super::definition::{
    AlertRule, BadRequests, Dependency, DurationUnit, Evaluation, Interval, MetricType, Operator, PeriodAttainment,
    SRE_ALERT_RULES, SloDefinition, Statistic, Target, check_periods,
};

type Res<T> = std::result::Result<T, String>;

const API_VERSION: &str = "openslo/v1";
/// The `metricSource` type whose `spec` spanlens reads.
const SOURCE_TYPE: &str = "spanlens";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Object {
    api_version: String,
    kind: String,
    metadata: Metadata,
    #[serde(default)]
    spec: Value,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Metadata {
    name: String,
    #[serde(rename = "displayName", default)]
    _display_name: Option<serde::de::IgnoredAny>,
    #[serde(rename = "labels", default)]
    _labels: Option<serde::de::IgnoredAny>,
    #[serde(rename = "annotations", default)]
    _annotations: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SloSpec {
    #[serde(rename = "description", default)]
    _description: Option<serde::de::IgnoredAny>,
    service: String,
    indicator: Option<InlineSli>,
    indicator_ref: Option<String>,
    time_window: Option<Vec<TimeWindow>>,
    budgeting_method: String,
    objectives: Vec<Objective>,
    alert_policies: Option<Vec<Value>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InlineSli {
    metadata: Metadata,
    spec: SliSpec,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SliSpec {
    #[serde(rename = "description", default)]
    _description: Option<serde::de::IgnoredAny>,
    threshold_metric: Option<Source>,
    ratio_metric: Option<RatioMetric>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RatioMetric {
    #[serde(default)]
    counter: Option<bool>,
    good: Option<Source>,
    bad: Option<Source>,
    total: Option<Source>,
    raw: Option<Source>,
    raw_type: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Source {
    metric_source: MetricSource,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct MetricSource {
    metric_source_ref: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    spec: Option<Value>,
}

/// The `spec` of a `type: spanlens` metric source.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SpanlensSpec {
    service: Option<String>,
    environment: Option<String>,
    operation: Option<String>,
    dependency: Option<DependencySpec>,
    measure: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DependencySpec {
    service: Option<String>,
    operation: Option<String>,
    environment: Option<String>,
    resource_type: Option<String>,
    resource_identifier: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DataSourceSpec {
    #[serde(rename = "description", default)]
    _description: Option<serde::de::IgnoredAny>,
    #[serde(rename = "type")]
    kind: String,
    #[serde(rename = "connectionDetails", default)]
    _connection_details: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TimeWindow {
    duration: String,
    is_rolling: Option<bool>,
    calendar: Option<Calendar>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Calendar {
    start_time: String,
    time_zone: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Objective {
    display_name: Option<String>,
    op: Option<String>,
    value: Option<f64>,
    target: Option<f64>,
    target_percent: Option<f64>,
    time_slice_target: Option<f64>,
    time_slice_window: Option<Value>,
    indicator: Option<Value>,
    indicator_ref: Option<String>,
    composite_weight: Option<f64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AlertPolicySpec {
    #[serde(rename = "description", default)]
    _description: Option<serde::de::IgnoredAny>,
    alert_when_no_data: Option<bool>,
    #[serde(rename = "alertWhenResolved", default)]
    _alert_when_resolved: Option<bool>,
    alert_when_breaching: Option<bool>,
    conditions: Vec<Value>,
    notification_targets: Vec<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AlertConditionSpec {
    #[serde(rename = "description", default)]
    _description: Option<serde::de::IgnoredAny>,
    severity: String,
    condition: BurnRateCondition,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct BurnRateCondition {
    kind: Option<String>,
    op: String,
    threshold: f64,
    lookback_window: String,
    alert_after: Option<String>,
}

/// An inline object inside another (`kind`, `metadata`, `spec`, no `apiVersion`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Inline {
    kind: String,
    metadata: Metadata,
    #[serde(default)]
    spec: Value,
}

/// The objects of a file that SLOs refer to, by name.
#[derive(Default)]
struct Objects {
    slis: HashMap<String, SliSpec>,
    sources: HashMap<String, DataSourceSpec>,
    policies: HashMap<String, Value>,
    conditions: HashMap<String, Value>,
    targets: HashSet<String>,
}

/// What an indicator measures, resolved against spanlens's records.
#[derive(Debug, Clone, PartialEq)]
enum Indicator {
    /// Requests judged good or bad: bad are `bad`.
    Ratio { target: Target, bad: BadRequests },
    /// Each request's latency compared with the objective's `op` and `value`.
    Threshold { target: Target },
}

/// True when `value` is an object carrying `apiVersion`, as every OpenSLO object does.
pub fn is_openslo(value: &Value) -> bool {
    value.get("apiVersion").is_some()
}

/// The SLO definitions of OpenSLO objects (the documents of a file, sequences flattened), in the
/// order of their `SLO` objects and, within one, of its objectives.
pub fn definitions(values: Vec<Value>) -> Res<Vec<SloDefinition>> {
    let mut objects = Objects::default();
    let mut slos: Vec<(Metadata, SloSpec)> = Vec::new();
    let mut seen: HashSet<(String, String)> = HashSet::new();
    for (i, value) in values.into_iter().enumerate() {
        let at = format!("object {}", i + 1);
        if !is_openslo(&value) {
            return Err(format!(
                "{at}: no apiVersion (OpenSLO objects and Application Signals definitions cannot be mixed)"
            ));
        }
        let object: Object = serde_json::from_value(value).map_err(|e| format!("{at}: {e}"))?;
        if object.api_version != API_VERSION {
            return Err(format!("{at}: apiVersion {:?} is not read: only {API_VERSION}", object.api_version));
        }
        let name = object.metadata.name.clone();
        let at = format!("{} {name:?}", object.kind);
        check_name(&name).map_err(|e| format!("{at}: metadata.name {e}"))?;
        if !seen.insert((object.kind.clone(), name.clone())) {
            return Err(format!("{at} is defined twice"));
        }
        let spec = object.spec;
        match object.kind.as_str() {
            "SLO" => {
                slos.push((object.metadata, serde_json::from_value(spec).map_err(|e| format!("{at}: spec: {e}"))?))
            }
            "SLI" => {
                objects.slis.insert(name, serde_json::from_value(spec).map_err(|e| format!("{at}: spec: {e}"))?);
            }
            "DataSource" => {
                objects.sources.insert(name, serde_json::from_value(spec).map_err(|e| format!("{at}: spec: {e}"))?);
            }
            // Checked where an SLO uses them.
            "AlertPolicy" => {
                objects.policies.insert(name, spec);
            }
            "AlertCondition" => {
                objects.conditions.insert(name, spec);
            }
            "AlertNotificationTarget" => {
                objects.targets.insert(name);
            }
            // Read as an object of the file, used by nothing spanlens evaluates.
            "Service" => {}
            other => {
                return Err(format!(
                    "object {}: kind {other:?} is unknown (known: SLO, SLI, DataSource, Service, AlertPolicy, \
                     AlertCondition, AlertNotificationTarget)",
                    i + 1
                ));
            }
        }
    }
    if slos.is_empty() {
        return Err("no SLO is defined (no object of kind SLO)".into());
    }
    let mut out = Vec::new();
    let mut names = HashSet::new();
    for (metadata, spec) in slos {
        let at = format!("SLO {:?}", metadata.name);
        for def in slo(&metadata, spec, &objects).map_err(|e| format!("{at}: {e}"))? {
            if !names.insert(def.name.clone()) {
                return Err(format!("{at}: the SLO name {:?} is defined twice", def.name));
            }
            out.push(def);
        }
    }
    Ok(out)
}

/// RFC 1123 label, as OpenSLO requires of `metadata.name`.
fn check_name(name: &str) -> Res<()> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not an RFC 1123 label (at most 63 lowercase letters, digits and '-', starting and ending \
             with a letter or digit)"
        ))
    }
}

fn slo(metadata: &Metadata, spec: SloSpec, objects: &Objects) -> Res<Vec<SloDefinition>> {
    let (slis, sources) = (&objects.slis, &objects.sources);
    let alert_rules = match spec.alert_policies.as_deref() {
        None | Some([]) => SRE_ALERT_RULES.to_vec(),
        Some(policies) => policies
            .iter()
            .enumerate()
            .map(|(i, p)| alert_rule(p, objects).map_err(|e| format!("spec.alertPolicies[{i}]: {e}")))
            .collect::<Res<Vec<_>>>()?,
    };
    if spec
        .objectives
        .iter()
        .any(|o| o.indicator.is_some() || o.indicator_ref.is_some() || o.composite_weight.is_some())
    {
        return Err(
            "spec.objectives[*].indicator, indicatorRef, compositeWeight: composite SLOs are not supported".into()
        );
    }
    let indicator = match (&spec.indicator, &spec.indicator_ref) {
        (Some(inline), None) => indicator(&inline.spec, &spec.service, sources)
            .map_err(|e| format!("spec.indicator ({:?}): {e}", inline.metadata.name))?,
        (None, Some(name)) => {
            let sli = slis.get(name).ok_or_else(|| format!("spec.indicatorRef: no SLI named {name:?} in the file"))?;
            indicator(sli, &spec.service, sources).map_err(|e| format!("SLI {name:?}: {e}"))?
        }
        (Some(_), Some(_)) => return Err("spec: give indicator or indicatorRef, not both".into()),
        (None, None) => return Err("spec: indicator or indicatorRef is required".into()),
    };
    let interval = match spec.time_window.as_deref() {
        Some([window]) => time_window(window).map_err(|e| format!("spec.timeWindow[0]: {e}"))?,
        Some(_) => return Err("spec.timeWindow must hold exactly one item".into()),
        None => return Err("spec.timeWindow is required".into()),
    };
    let method = spec.budgeting_method.as_str();
    match method {
        "Occurrences" | "Timeslices" | "RatioTimeslices" => {}
        other => {
            return Err(format!(
                "spec.budgetingMethod {other:?} is unknown (Occurrences, Timeslices or RatioTimeslices)"
            ));
        }
    }
    if spec.objectives.is_empty() {
        return Err("spec.objectives must hold at least one objective".into());
    }
    if matches!(indicator, Indicator::Threshold { .. }) && spec.objectives.len() > 1 {
        return Err("spec.objectives: a thresholdMetric SLO has exactly one objective".into());
    }
    let several = spec.objectives.len() > 1;
    spec.objectives
        .iter()
        .enumerate()
        .map(|(i, o)| {
            let name = match (several, &o.display_name) {
                (false, _) => metadata.name.clone(),
                (true, Some(d)) => format!("{}/{d}", metadata.name),
                (true, None) => format!("{}/{}", metadata.name, i + 1),
            };
            let mut def =
                objective(name, o, &indicator, method, interval).map_err(|e| format!("spec.objectives[{i}]: {e}"))?;
            if let Evaluation::Period { period_seconds, .. } = def.evaluation
                && let Some(rule) = alert_rules.iter().find(|r| (r.long_minutes * 60) % period_seconds != 0)
            {
                return Err(format!(
                    "spec.alertPolicies: the lookbackWindow of {} minutes is not a multiple of the \
                     timeSliceWindow ({period_seconds} s)",
                    rule.long_minutes
                ));
            }
            def.alert_rules = alert_rules.clone();
            Ok(def)
        })
        .collect()
}

fn indicator(spec: &SliSpec, service: &str, sources: &HashMap<String, DataSourceSpec>) -> Res<Indicator> {
    match (&spec.threshold_metric, &spec.ratio_metric) {
        (Some(source), None) => {
            let (target, measure) =
                source_target(source, service, sources).map_err(|e| format!("thresholdMetric.{e}"))?;
            if measure != "latency" {
                return Err(format!(
                    "thresholdMetric.metricSource.spec.measure {measure:?}: a thresholdMetric measures latency \
                     (measure: latency); counts are a ratioMetric"
                ));
            }
            Ok(Indicator::Threshold { target })
        }
        (None, Some(ratio)) => {
            if ratio.raw.is_some() || ratio.raw_type.is_some() {
                return Err("ratioMetric.raw: a precomputed ratio cannot be evaluated from traces; give good or bad \
                            and total"
                    .into());
            }
            let _ = ratio.counter; // Counts summed over a window: counter has no effect.
            let total = ratio.total.as_ref().ok_or("ratioMetric.total is required")?;
            let (total_target, measure) =
                source_target(total, service, sources).map_err(|e| format!("ratioMetric.total.{e}"))?;
            if measure != "requests" {
                return Err(format!("ratioMetric.total.metricSource.spec.measure {measure:?}: the total is requests"));
            }
            let (side, source) = match (&ratio.good, &ratio.bad) {
                (Some(good), None) => ("good", good),
                (None, Some(bad)) => ("bad", bad),
                (Some(_), Some(_)) => return Err("ratioMetric: give good or bad, not both".into()),
                (None, None) => return Err("ratioMetric: good or bad is required".into()),
            };
            let (target, measure) =
                source_target(source, service, sources).map_err(|e| format!("ratioMetric.{side}.{e}"))?;
            let bad = match (side, measure.as_str()) {
                ("bad", "faults") | ("good", "successes") => BadRequests::Faults,
                ("bad", "errors") => BadRequests::Errors,
                ("bad", "failures") => BadRequests::Failures,
                ("bad", m) => {
                    return Err(format!(
                        "ratioMetric.bad.metricSource.spec.measure {m:?}: bad counts faults, errors or failures"
                    ));
                }
                (_, m) => {
                    return Err(format!(
                        "ratioMetric.good.metricSource.spec.measure {m:?}: good counts successes (requests without \
                         fault); for latency use a thresholdMetric"
                    ));
                }
            };
            if target != total_target {
                return Err(format!("ratioMetric.{side} and ratioMetric.total must select the same records"));
            }
            Ok(Indicator::Ratio { target, bad })
        }
        (Some(_), Some(_)) => Err("give thresholdMetric or ratioMetric, not both".into()),
        (None, None) => Err("thresholdMetric or ratioMetric is required".into()),
    }
}

/// The records and the measure a metric source names. Errors start with the field path below
/// the metric (`metricSource.…`).
fn source_target(source: &Source, service: &str, sources: &HashMap<String, DataSourceSpec>) -> Res<(Target, String)> {
    let ms = &source.metric_source;
    let kind = match (&ms.metric_source_ref, &ms.kind) {
        (Some(name), kind) => {
            let ds = sources
                .get(name)
                .ok_or_else(|| format!("metricSource.metricSourceRef: no DataSource named {name:?} in the file"))?;
            if let Some(kind) = kind
                && !kind.eq_ignore_ascii_case(&ds.kind)
            {
                return Err(format!("metricSource.type {kind:?} differs from DataSource {name:?}'s {:?}", ds.kind));
            }
            ds.kind.clone()
        }
        (None, Some(kind)) => kind.clone(),
        (None, None) => return Err("metricSource: type (or metricSourceRef) is required".into()),
    };
    if !kind.eq_ignore_ascii_case(SOURCE_TYPE) {
        return Err(format!(
            "metricSource.type {kind:?}: spanlens reads metric sources of type {SOURCE_TYPE:?}, whose spec names \
             the records (service, operation, dependency) and the measure"
        ));
    }
    let spec = ms.spec.clone().ok_or("metricSource.spec is required")?;
    let spec: SpanlensSpec = serde_json::from_value(spec).map_err(|e| format!("metricSource.spec: {e}"))?;
    let dependency = spec.dependency.map(|d| Dependency {
        remote_service: d.service,
        remote_operation: d.operation,
        remote_environment: d.environment,
        remote_resource_type: d.resource_type,
        remote_resource_identifier: d.resource_identifier,
    });
    if dependency.as_ref().is_some_and(|d| *d == Dependency::default()) {
        return Err("metricSource.spec.dependency must name the dependency".into());
    }
    let target = Target {
        service: spec.service.unwrap_or_else(|| service.to_string()),
        environment: spec.environment,
        operation: spec.operation,
        dependency,
    };
    if target.service.trim().is_empty() {
        return Err("metricSource.spec.service (or the SLO's spec.service) is empty".into());
    }
    Ok((target, spec.measure))
}

fn objective(
    name: String,
    o: &Objective,
    indicator: &Indicator,
    method: &str,
    interval: Interval,
) -> Res<SloDefinition> {
    let goal = match (o.target, o.target_percent) {
        (Some(t), None) => percent(t * 100.0),
        (None, Some(p)) => p,
        (Some(_), Some(_)) => return Err("give target or targetPercent, not both".into()),
        (None, None) => return Err("target or targetPercent is required".into()),
    };
    if !(goal > 0.0 && goal < 100.0) {
        return Err(format!(
            "the target must be above 0 and below 1 (targetPercent above 0 and below 100), not {goal} %"
        ));
    }
    let rule = match (indicator, &o.op, o.value) {
        (Indicator::Threshold { .. }, Some(op), Some(value)) => Some((operator(op)?, value)),
        (Indicator::Threshold { .. }, _, _) => return Err("a thresholdMetric objective needs op and value".into()),
        (Indicator::Ratio { .. }, None, None) => None,
        (Indicator::Ratio { .. }, _, _) => {
            return Err("op and value belong to a thresholdMetric objective, not a ratioMetric one".into());
        }
    };
    let (metric, bad, target) = match indicator {
        Indicator::Ratio { target, bad } => (MetricType::Availability, *bad, target.clone()),
        Indicator::Threshold { target } => (MetricType::Latency, BadRequests::Faults, target.clone()),
    };
    let evaluation = match method {
        "Timeslices" | "RatioTimeslices" => {
            let window =
                o.time_slice_window.as_ref().ok_or_else(|| format!("timeSliceWindow is required with {method}"))?;
            let period_seconds = slice_seconds(window)?;
            let (threshold, attainment) = if method == "Timeslices" {
                let slice_target = o.time_slice_target.ok_or("timeSliceTarget is required with Timeslices")?;
                if !(slice_target > 0.0 && slice_target <= 1.0) {
                    return Err(format!("timeSliceTarget must be above 0 and at most 1, not {slice_target}"));
                }
                (percent(slice_target * 100.0), PeriodAttainment::GoodPeriods)
            } else {
                if o.time_slice_target.is_some() {
                    return Err("timeSliceTarget belongs to Timeslices: RatioTimeslices averages the slices".into());
                }
                // No slice target: a slice is marked good when its share reaches the goal.
                (goal, PeriodAttainment::MeanValue)
            };
            let evaluation = Evaluation::Period {
                period_seconds,
                statistic: Statistic::GoodShare,
                threshold,
                operator: Operator::GreaterThanOrEqualTo,
                request_rule: rule,
                attainment,
            };
            check_periods(interval, &evaluation, &format!("timeSliceWindow ({period_seconds} s)"))?;
            evaluation
        }
        _ => {
            if o.time_slice_target.is_some() || o.time_slice_window.is_some() {
                return Err("timeSliceTarget and timeSliceWindow belong to Timeslices and RatioTimeslices".into());
            }
            let evaluation = Evaluation::Request { threshold: rule.map(|r| r.1), operator: rule.map(|r| r.0) };
            check_periods(interval, &evaluation, "")?;
            evaluation
        }
    };
    Ok(SloDefinition {
        name,
        metric,
        bad,
        evaluation,
        target,
        goal,
        warning: 50.0,
        interval,
        burn_rate_minutes: Vec::new(),
        exclusions: Vec::new(),
        alert_rules: SRE_ALERT_RULES.to_vec(),
    })
}

/// A reference (`{refKey: name}`, resolved in `named`) or an inline object of `kind`: its name
/// and spec.
fn resolve(item: &Value, ref_key: &str, kind: &str, named: &HashMap<String, Value>) -> Res<(String, Value)> {
    if let Some(name) = item.get(ref_key) {
        let name = name.as_str().ok_or_else(|| format!("{ref_key} must be a name"))?;
        if item.as_object().is_some_and(|o| o.len() > 1) {
            return Err(format!("give {ref_key} or an inline {kind}, not both"));
        }
        let spec = named.get(name).ok_or_else(|| format!("{ref_key}: no {kind} named {name:?} in the file"))?;
        return Ok((name.to_string(), spec.clone()));
    }
    let inline: Inline = serde_json::from_value(item.clone()).map_err(|e| format!("inline {kind}: {e}"))?;
    if inline.kind != kind {
        return Err(format!("kind {:?}: expected {kind} (or {ref_key})", inline.kind));
    }
    check_name(&inline.metadata.name).map_err(|e| format!("metadata.name {e}"))?;
    Ok((inline.metadata.name, inline.spec))
}

/// The burn-rate alert rule of an SLO's `alertPolicies` item: its one burn-rate condition over
/// one window, compared by `op` with `threshold`, alerting once it has held for `alertAfter`.
fn alert_rule(item: &Value, objects: &Objects) -> Res<AlertRule> {
    let (name, spec) = resolve(item, "alertPolicyRef", "AlertPolicy", &objects.policies)?;
    let at = format!("AlertPolicy {name:?}");
    let policy: AlertPolicySpec = serde_json::from_value(spec).map_err(|e| format!("{at}: spec: {e}"))?;
    if policy.alert_when_no_data == Some(true) {
        return Err(format!("{at}: alertWhenNoData: alerts on missing data are not replayed"));
    }
    if policy.alert_when_breaching != Some(true) {
        return Err(format!(
            "{at}: alertWhenBreaching must be true (the replay records when a breaching condition alerts)"
        ));
    }
    if policy.notification_targets.is_empty() {
        return Err(format!("{at}: notificationTargets needs at least one target"));
    }
    for (i, target) in policy.notification_targets.iter().enumerate() {
        match target.get("targetRef") {
            Some(Value::String(name)) if objects.targets.contains(name) => {}
            Some(_) => {
                return Err(format!(
                    "{at}: notificationTargets[{i}].targetRef: no AlertNotificationTarget of that name in the file"
                ));
            }
            None => {
                resolve(target, "targetRef", "AlertNotificationTarget", &HashMap::new())
                    .map_err(|e| format!("{at}: notificationTargets[{i}]: {e}"))?;
            }
        }
    }
    let [condition] = policy.conditions.as_slice() else {
        return Err(format!("{at}: conditions must hold exactly one condition"));
    };
    let (condition_name, spec) = resolve(condition, "conditionRef", "AlertCondition", &objects.conditions)
        .map_err(|e| format!("{at}: conditions[0]: {e}"))?;
    let cat = format!("{at}: AlertCondition {condition_name:?}");
    let spec: AlertConditionSpec = serde_json::from_value(spec).map_err(|e| format!("{cat}: spec: {e}"))?;
    let c = spec.condition;
    if let Some(kind) = c.kind.as_deref().filter(|k| *k != "burnrate") {
        return Err(format!("{cat}: condition.kind {kind:?}: only burnrate conditions exist"));
    }
    let minutes = |text: &str, field: &str| -> Res<i64> {
        let (n, unit) = shorthand(text).map_err(|e| format!("{cat}: condition.{field}: {e}"))?;
        fixed_minutes(n, unit)
            .ok_or_else(|| format!("{cat}: condition.{field} {text:?}: give minutes, hours, days or weeks"))
    };
    let lookback = minutes(&c.lookback_window, "lookbackWindow")?;
    let after = match c.alert_after.as_deref() {
        None | Some("0m") => 0,
        Some(text) => minutes(text, "alertAfter")?,
    };
    if !c.threshold.is_finite() {
        return Err(format!("{cat}: condition.threshold must be a number"));
    }
    Ok(AlertRule {
        policy: Some(name),
        severity: std::borrow::Cow::Owned(spec.severity),
        long_minutes: lookback,
        short_minutes: lookback,
        factor: c.threshold,
        operator: operator(&c.op).map_err(|e| format!("{cat}: condition.{e}"))?,
        after_minutes: after,
    })
}

/// A percentage rounded to 10 decimals, so that a target of 0.999 is a goal of 99.9, not
/// 99.89999999999999.
fn percent(p: f64) -> f64 {
    (p * 1e10).round() / 1e10
}

/// `op`: `lt`, `lte`, `gt`, `gte`.
fn operator(op: &str) -> Res<Operator> {
    Ok(match op {
        "lt" => Operator::LessThan,
        "lte" => Operator::LessThanOrEqualTo,
        "gt" => Operator::GreaterThan,
        "gte" => Operator::GreaterThanOrEqualTo,
        other => return Err(format!("op {other:?} is unknown (lt, lte, gt or gte)")),
    })
}

/// A duration shorthand: a positive integer and one of `m h d w M Q Y`.
fn shorthand(text: &str) -> Res<(u32, char)> {
    let bad = || format!("duration {text:?} is not a duration shorthand (a positive integer and one of m h d w M Q Y)");
    let unit = text.chars().last().filter(|c| "mhdwMQY".contains(*c)).ok_or_else(bad)?;
    let digits = &text[..text.len() - 1];
    if digits.is_empty() || digits.starts_with('0') || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    Ok((digits.parse().map_err(|_| bad())?, unit))
}

/// A duration shorthand of fixed length (`m h d w`) in minutes; `None` for the calendar units
/// (`M Q Y`).
fn fixed_minutes(n: u32, unit: char) -> Option<i64> {
    let per = match unit {
        'm' => 1,
        'h' => 60,
        'd' => 1440,
        'w' => 7 * 1440,
        _ => return None,
    };
    Some(i64::from(n) * per)
}

/// A `timeSliceWindow` in seconds: a duration shorthand in minutes, hours or days, or a number
/// of minutes.
fn slice_seconds(window: &Value) -> Res<i64> {
    let seconds = match window {
        Value::Number(n) => match n.as_u64() {
            Some(m) if m > 0 => m as i64 * 60,
            _ => return Err(format!("timeSliceWindow {n}: a number is whole minutes, at least 1")),
        },
        Value::String(s) => {
            let (n, unit) = shorthand(s).map_err(|e| format!("timeSliceWindow: {e}"))?;
            60 * fixed_minutes(n, unit)
                .ok_or_else(|| format!("timeSliceWindow {s:?}: a time slice is minutes, hours, days or weeks"))?
        }
        other => return Err(format!("timeSliceWindow {other}: a duration shorthand such as 1m or 5m")),
    };
    Ok(seconds)
}

/// The SLO interval of a `timeWindow` item.
fn time_window(window: &TimeWindow) -> Res<Interval> {
    let (n, unit) = shorthand(&window.duration)?;
    let (unit, duration) = match unit {
        'm' => (DurationUnit::Minute, n),
        'h' => (DurationUnit::Hour, n),
        'd' => (DurationUnit::Day, n),
        'w' => (DurationUnit::Day, n.checked_mul(7).ok_or("duration is too long")?),
        'M' => (DurationUnit::Month, n),
        'Q' => (DurationUnit::Month, n.checked_mul(3).ok_or("duration is too long")?),
        _ => (DurationUnit::Month, n.checked_mul(12).ok_or("duration is too long")?),
    };
    match (window.is_rolling, &window.calendar) {
        (Some(true), None) => Ok(Interval::Rolling { unit, duration }),
        (Some(true), Some(_)) => Err("a rolling window (isRolling: true) has no calendar".into()),
        (_, Some(calendar)) => Ok(Interval::Calendar { start: calendar_start(calendar)?, unit, duration }),
        (_, None) => Err("isRolling: true, or a calendar (with isRolling false or omitted), is required".into()),
    }
}

/// The instant (ns) of a calendar's `startTime` (`YYYY-MM-DD HH:MM:SS`) in its `timeZone`.
/// Windows then follow in fixed units from that instant, so a zone whose offset from UTC
/// changes (daylight saving time) is refused rather than shifting its boundaries by an hour.
fn calendar_start(calendar: &Calendar) -> Res<i64> {
    let local = NaiveDateTime::parse_from_str(&calendar.start_time, "%Y-%m-%d %H:%M:%S")
        .map_err(|_| format!("calendar.startTime {:?} is not a local time YYYY-MM-DD HH:MM:SS", calendar.start_time))?;
    let tz: chrono_tz::Tz = calendar
        .time_zone
        .parse()
        .map_err(|_| format!("calendar.timeZone {:?} is not an IANA time zone name", calendar.time_zone))?;
    let start = tz
        .from_local_datetime(&local)
        .single()
        .ok_or_else(|| format!("calendar.startTime {:?} does not exist in {tz}", calendar.start_time))?;
    let offset = |t: chrono::DateTime<chrono::Utc>| tz.offset_from_utc_datetime(&t.naive_utc()).fix();
    let utc = start.with_timezone(&chrono::Utc);
    let first = offset(utc);
    let changes = (1..=366).any(|day| offset(utc + chrono::Duration::days(day)) != first);
    if changes {
        return Err(format!(
            "calendar.timeZone {tz}: its offset from UTC changes (daylight saving time), which would move the \
             windows' boundaries; use a zone with a fixed offset (UTC, Etc/GMT-2) for the same local start"
        ));
    }
    utc.timestamp_nanos_opt().ok_or_else(|| format!("calendar.startTime {:?} is out of range", calendar.start_time))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// OpenSLO YAML, parsed as `--slos` parses it.
    fn parse(yaml: &str) -> Res<Vec<SloDefinition>> {
        let docs: Vec<Value> = serde_saphyr::from_multiple(yaml).map_err(|e| e.to_string())?;
        definitions(docs)
    }

    fn slo_yaml(sli: &str, method: &str, objectives: &str) -> String {
        format!(
            "apiVersion: openslo/v1\nkind: SLO\nmetadata:\n  name: frontend\nspec:\n  service: frontend-api\n  \
             {sli}\n  timeWindow:\n    - duration: 7d\n      isRolling: true\n  budgetingMethod: {method}\n  \
             objectives:\n{objectives}"
        )
    }

    const RATIO: &str = "indicator:\n    metadata: {name: avail}\n    spec:\n      ratioMetric:\n        counter: \
                         true\n        bad: {metricSource: {type: spanlens, spec: {measure: faults}}}\n        total: \
                         {metricSource: {type: spanlens, spec: {measure: requests}}}";
    const LATENCY: &str = "indicator:\n    metadata: {name: lat}\n    spec:\n      thresholdMetric:\n        \
                           metricSource: {type: spanlens, spec: {operation: GET /api, measure: latency}}";

    #[test]
    fn maps_each_budgeting_method_and_indicator() {
        let d = &parse(&slo_yaml(RATIO, "Occurrences", "    - target: 0.999\n")).unwrap()[0];
        assert_eq!(d.name, "frontend");
        assert_eq!((d.metric, d.bad, d.goal), (MetricType::Availability, BadRequests::Faults, 99.9));
        assert_eq!(d.evaluation, Evaluation::Request { threshold: None, operator: None });
        assert_eq!(d.interval, Interval::Rolling { unit: DurationUnit::Day, duration: 7 });
        assert_eq!(d.target.service, "frontend-api");

        let d =
            &parse(&slo_yaml(LATENCY, "Occurrences", "    - {op: lt, value: 300, targetPercent: 95}\n")).unwrap()[0];
        assert_eq!((d.metric, d.goal), (MetricType::Latency, 95.0));
        assert_eq!(d.evaluation, Evaluation::Request { threshold: Some(300.0), operator: Some(Operator::LessThan) });
        assert_eq!(d.target.operation.as_deref(), Some("GET /api"));

        let objective = "    - {op: lte, value: 250, target: 0.75, timeSliceTarget: 0.95, timeSliceWindow: 5m}\n";
        let d = &parse(&slo_yaml(LATENCY, "Timeslices", objective)).unwrap()[0];
        assert_eq!(
            d.evaluation,
            Evaluation::Period {
                period_seconds: 300,
                statistic: Statistic::GoodShare,
                threshold: 95.0,
                operator: Operator::GreaterThanOrEqualTo,
                request_rule: Some((Operator::LessThanOrEqualTo, 250.0)),
                attainment: PeriodAttainment::GoodPeriods,
            }
        );
        let objective = "    - {target: 0.8, timeSliceWindow: 1h}\n";
        let d = &parse(&slo_yaml(RATIO, "RatioTimeslices", objective)).unwrap()[0];
        assert_eq!(
            d.evaluation,
            Evaluation::Period {
                period_seconds: 3600,
                statistic: Statistic::GoodShare,
                threshold: 80.0,
                operator: Operator::GreaterThanOrEqualTo,
                request_rule: None,
                attainment: PeriodAttainment::MeanValue,
            }
        );
        let two = "    - {displayName: tight, target: 0.99}\n    - {target: 0.9}\n";
        let names: Vec<String> =
            parse(&slo_yaml(RATIO, "Occurrences", two)).unwrap().into_iter().map(|d| d.name).collect();
        assert_eq!(names, ["frontend/tight", "frontend/2"]);
    }

    #[test]
    fn resolves_references_and_measures() {
        let yaml = "apiVersion: openslo/v1\nkind: DataSource\nmetadata: {name: traces}\nspec: {type: spanlens, \
                    connectionDetails: {}}\n---\napiVersion: openslo/v1\nkind: SLI\nmetadata: {name: errs}\nspec:\n  \
                    ratioMetric:\n    bad: {metricSource: {metricSourceRef: traces, spec: {service: billing, \
                    measure: errors, dependency: {service: payments}}}}\n    total: {metricSource: {metricSourceRef: \
                    traces, spec: {service: billing, measure: requests, dependency: {service: payments}}}}\n---\n\
                    apiVersion: openslo/v1\nkind: SLO\nmetadata: {name: billing}\nspec:\n  service: shop\n  \
                    indicatorRef: errs\n  timeWindow: [{duration: 1M, calendar: {startTime: '2026-11-01 00:00:00', \
                    timeZone: Etc/GMT-2}}]\n  budgetingMethod: Occurrences\n  objectives: [{target: 0.99}]\n";
        let d = &parse(yaml).unwrap()[0];
        assert_eq!(d.bad, BadRequests::Errors);
        assert_eq!(d.target.service, "billing");
        assert_eq!(d.target.dependency.as_ref().and_then(|d| d.remote_service.as_deref()), Some("payments"));
        // Etc/GMT-2 is two hours ahead of UTC.
        let start = crate::util::time::parse_time("2026-10-31T22:00:00Z").unwrap();
        assert_eq!(d.interval, Interval::Calendar { start, unit: DurationUnit::Month, duration: 1 });
    }

    /// An inline burn-rate condition for [`with_policy`].
    const CONDITION: &str = "{kind: AlertCondition, metadata: {name: c}, spec: {severity: page, condition: {op: gt, \
                             threshold: 2, lookbackWindow: 1h}}}";

    /// The ratio SLO with one inline alert policy: its flags and its conditions.
    fn with_policy(flags: &str, conditions: &str) -> String {
        let policy = format!(
            "{{kind: AlertPolicy, metadata: {{name: p}}, spec: {{{flags}, conditions: [{conditions}], \
             notificationTargets: [{{targetRef: pager}}]}}}}"
        );
        let target = "apiVersion: openslo/v1\nkind: AlertNotificationTarget\nmetadata: {name: pager}\nspec: {target: \
                      email}\n---\n";
        format!(
            "{target}{}",
            slo_yaml(RATIO, "Occurrences", &format!("    - target: 0.9\n  alertPolicies: [{policy}]\n"))
        )
    }

    /// Every refusal names the field at fault.
    #[test]
    fn refuses_what_it_cannot_evaluate() {
        let occurrences = |sli: &str, objectives: &str| slo_yaml(sli, "Occurrences", objectives);
        let ratio_with = |bad: &str| RATIO.replace("measure: faults", bad);
        let cases: Vec<(String, &str)> = vec![
            (occurrences(RATIO, "    - target: 0.99\n").replace("openslo/v1", "openslo/v1alpha"), "apiVersion"),
            (occurrences(RATIO, "    - target: 0.99\n").replace("kind: SLO", "kind: Slo"), "kind \"Slo\""),
            (occurrences(RATIO, "    - target: 0.99\n").replace("name: frontend", "name: Frontend"), "metadata.name"),
            (
                occurrences(RATIO, "    - target: 0.99\n").replace("service: frontend-api", "service: x\n  foo: 1"),
                "foo",
            ),
            (
                slo_yaml(RATIO, "RatioTimeslices", "    - {target: 0.9, timeSliceTarget: 0.9, timeSliceWindow: 1m}\n"),
                "timeSliceTarget belongs",
            ),
            (
                slo_yaml(RATIO, "RatioTimeslices", "    - target: 0.9\n"),
                "timeSliceWindow is required with RatioTimeslices",
            ),
            (slo_yaml(RATIO, "TimeSlices", "    - target: 0.9\n"), "budgetingMethod \"TimeSlices\""),
            (slo_yaml(RATIO, "Timeslices", "    - {target: 0.9, timeSliceWindow: 1m}\n"), "timeSliceTarget"),
            (slo_yaml(RATIO, "Timeslices", "    - {target: 0.9, timeSliceTarget: 0.9}\n"), "timeSliceWindow"),
            (
                slo_yaml(RATIO, "Timeslices", "    - {target: 0.9, timeSliceTarget: 0.9, timeSliceWindow: 11m}\n"),
                "660 s",
            ),
            (slo_yaml(RATIO, "Timeslices", "    - {target: 0.9, timeSliceTarget: 1.5, timeSliceWindow: 1m}\n"), "1.5"),
            (occurrences(RATIO, "    - {target: 0.9, timeSliceWindow: 1m}\n"), "timeSliceWindow"),
            (occurrences(RATIO, "    - target: 1\n"), "target"),
            (occurrences(RATIO, "    - {target: 0.9, targetPercent: 90}\n"), "targetPercent"),
            (occurrences(RATIO, "    - {op: lt, value: 3, target: 0.9}\n"), "op and value"),
            (occurrences(LATENCY, "    - target: 0.9\n"), "op and value"),
            (occurrences(LATENCY, "    - {op: under, value: 3, target: 0.9}\n"), "op \"under\""),
            (
                occurrences(LATENCY, "    - {op: lt, value: 3, target: 0.9}\n    - {op: lt, value: 5, target: 0.5}\n"),
                "exactly one",
            ),
            (
                occurrences(LATENCY.replace("measure: latency", "measure: faults").as_str(), "    - target: 0.9\n"),
                "measure \"faults\"",
            ),
            (occurrences(&ratio_with("measure: latency"), "    - target: 0.9\n"), "measure \"latency\""),
            (occurrences(&ratio_with("measure: faults, operation: x"), "    - target: 0.9\n"), "same records"),
            (
                occurrences(
                    &RATIO.replace("type: spanlens, spec: {measure: faults}", "type: Prometheus, spec: {query: up}"),
                    "    - target: 0.9\n",
                ),
                "Prometheus",
            ),
            (
                occurrences(
                    &RATIO.replace("spec: {measure: faults}", "spec: {measure: faults, label: x}"),
                    "    - target: 0.9\n",
                ),
                "label",
            ),
            (occurrences(&RATIO.replace("total:", "raw:"), "    - target: 0.9\n"), "ratioMetric.raw"),
            (occurrences(RATIO, "    - {target: 0.9, indicatorRef: x}\n"), "composite"),
            (
                occurrences(RATIO, "    - target: 0.9\n  alertPolicies: [{alertPolicyRef: pager}]\n"),
                "no AlertPolicy named \"pager\"",
            ),
            (with_policy("alertWhenBreaching: true, alertWhenNoData: true", CONDITION), "alertWhenNoData"),
            (with_policy("alertWhenResolved: true", CONDITION), "alertWhenBreaching must be true"),
            (with_policy("alertWhenBreaching: true", &format!("{CONDITION}, {CONDITION}")), "exactly one condition"),
            (
                with_policy("alertWhenBreaching: true", &CONDITION.replace("op: gt", "kind: budget, op: gt")),
                "only burnrate",
            ),
            (with_policy("alertWhenBreaching: true", &CONDITION.replace("1h", "1M")), "lookbackWindow \"1M\""),
            (with_policy("alertWhenBreaching: true", &CONDITION.replace("op: gt", "op: above")), "op \"above\""),
            (
                with_policy("alertWhenBreaching: true", CONDITION).replace("targetRef: pager", "targetRef: mail"),
                "targetRef",
            ),
            (
                with_policy("alertWhenBreaching: true", &CONDITION.replace("1h", "7m"))
                    .replace("Occurrences", "Timeslices")
                    .replace("- target: 0.9", "- {target: 0.9, timeSliceTarget: 0.9, timeSliceWindow: 5m}"),
                "not a multiple",
            ),
            (occurrences(&RATIO.replace("indicator:", "indicatorRef: nope\n  x:"), "    - target: 0.9\n"), "x"),
            (occurrences("indicatorRef: nope", "    - target: 0.9\n"), "no SLI named \"nope\""),
            (occurrences(RATIO, "    - target: 0.9\n").replace("isRolling: true", "isRolling: false"), "isRolling"),
            (occurrences(RATIO, "    - target: 0.9\n").replace("duration: 7d", "duration: 07d"), "07d"),
            (
                occurrences(RATIO, "    - target: 0.9\n").replace(
                    "      isRolling: true",
                    "      calendar: {startTime: '2026-03-01 00:00:00', timeZone: Europe/Berlin}",
                ),
                "daylight saving",
            ),
            (
                occurrences(RATIO, "    - target: 0.9\n")
                    .replace("      isRolling: true", "      calendar: {startTime: '2026-03-01', timeZone: UTC}"),
                "startTime",
            ),
            (
                occurrences(RATIO, "    - target: 0.9\n").replace(
                    "      isRolling: true",
                    "      calendar: {startTime: '2026-03-01 00:00:00', timeZone: Mars/Base}",
                ),
                "timeZone",
            ),
            (
                format!(
                    "{}\n---\n{}",
                    occurrences(RATIO, "    - target: 0.9\n"),
                    occurrences(RATIO, "    - target: 0.9\n")
                ),
                "defined twice",
            ),
            ("apiVersion: openslo/v1\nkind: Service\nmetadata: {name: shop}\nspec: {}\n".into(), "no SLO"),
        ];
        let rules =
            &parse(&with_policy("alertWhenBreaching: true", CONDITION)).expect("the control is valid")[0].alert_rules;
        assert_eq!(rules.iter().map(AlertRule::name).collect::<Vec<_>>(), ["p: burn rate > 2 over 1h"]);
        for (yaml, expected) in cases {
            let err = parse(&yaml).expect_err(expected);
            assert!(err.contains(expected), "expected {expected:?} in {err:?}");
        }
    }
}
