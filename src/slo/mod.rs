//! SLOs with Application Signals semantics (spec §14): definitions read from the JSON shape of
//! the Application Signals API (`CreateServiceLevelObjective` input, as JSON or YAML) or from
//! OpenSLO v1 objects, resolved against an
//! evaluation time into the `slo_definitions` table, and evaluated over the `signals` table by
//! the `slo_*` queries of `queries/`: attainment, error budget, status, each period's datapoint
//! and burn rates.
//!
//! [`input`] reads a `--slos` file and tells its format apart, [`definition`] holds the validated
//! types and reads Application Signals' shape, [`openslo`] maps OpenSLO objects onto them, [`calendar`] holds the cron and interval
//! arithmetic, [`tables`] resolves definitions at an evaluation time into the tables the SLO
//! queries read; evaluation itself is here.

pub mod calendar;
pub mod definition;
pub mod input;
pub mod openslo;
pub mod tables;

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{Array, AsArray};
use datafusion::common::ScalarValue;
use datafusion::datasource::MemTable;
use datafusion::functions_aggregate::expr_fn::max;
use datafusion::prelude::{SessionContext, col};

use crate::error::Result;
use crate::metrics::{Table, run_and_register, run_query};
use crate::model::table::Columns;
use crate::signals;

pub use definition::*;
pub use input::{parse_definitions, read_definitions};
pub use tables::{DefinitionTables, definition_batches, records_window};

/// The tables an SLO run writes, in this order.
pub const SLO_TABLES: [&str; 5] = ["slos", "slo_periods", "slo_burn_rates", "slo_burn_series", "slo_alerts"];

const NANOS_PER_SECOND: i64 = 1_000_000_000;
const NANOS_PER_MINUTE: i64 = 60 * NANOS_PER_SECOND;
const NANOS_PER_DAY: i64 = 86_400 * NANOS_PER_SECOND;

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
    evaluate_in(ctx, None, defs, at, no_data_bad).await
}

/// [`evaluate`] with the records each SLO reads selected on a cluster, where `signals` is
/// registered in the session `cluster`; the rest of the evaluation (on those records, which
/// come back) runs in `ctx`.
pub async fn evaluate_on_cluster(
    cluster: &SessionContext,
    ctx: &SessionContext,
    defs: &[SloDefinition],
    at: i64,
    no_data_bad: bool,
) -> Result<SloReport> {
    evaluate_in(ctx, Some(cluster), defs, at, no_data_bad).await
}

async fn evaluate_in(
    ctx: &SessionContext,
    cluster: Option<&SessionContext>,
    defs: &[SloDefinition],
    at: i64,
    no_data_bad: bool,
) -> Result<SloReport> {
    let t = definition_batches(defs, at)?;
    let inputs = [
        ("slo_definitions", t.definitions),
        ("slo_burn_windows", t.burn_windows),
        ("slo_exclusions", t.exclusions),
        ("slo_excluded_periods", t.excluded_periods),
        ("slo_alert_rules", t.alert_rules),
    ];
    // A session can evaluate again (other SLOs, another time): the previous tables go first.
    for name in inputs.iter().map(|i| i.0).chain(["slo_records"]).chain(SLO_TABLES) {
        ctx.deregister_table(name)?;
    }
    for (name, batch) in &inputs {
        ctx.register_table(*name, Arc::new(MemTable::try_new(batch.schema(), vec![vec![batch.clone()]])?))?;
    }
    let partitions = ctx.copied_config().target_partitions();
    let records = match cluster {
        None => run_query(ctx, "slo_records", vec![]).await?,
        Some(cluster) => {
            // The query reads the definitions and exclusions beside the signals: they go to the
            // cluster as VALUES (an in-memory table cannot), the records come back in the types
            // the same query has here.
            for (name, batch) in inputs.iter().filter(|i| matches!(i.0, "slo_definitions" | "slo_exclusions")) {
                cluster.deregister_table(*name)?;
                cluster.register_table(*name, crate::metrics::values_view(batch)?)?;
            }
            let remote = run_query(cluster, "slo_records", vec![]).await?;
            if !ctx.table_exist(signals::TABLE)? {
                let empty = MemTable::try_new(crate::signals::signals_schema(), vec![vec![]])?;
                ctx.register_table(signals::TABLE, Arc::new(empty))?;
            }
            let schema = Arc::new(ctx.sql(crate::queries::get("slo_records")?.sql).await?.schema().as_arrow().clone());
            let batches = remote.batches.iter().map(|b| crate::metrics::conform(b, &schema)).collect::<Result<_>>()?;
            Table { schema, batches, ..remote }
        }
    };
    crate::metrics::register(ctx, "slo_records", records.schema, records.batches, partitions)?;
    let param = vec![ScalarValue::Boolean(Some(no_data_bad))];
    // In dependency order; each is registered for the queries after it.
    let periods = run_and_register(ctx, "slo_periods", vec![]).await?;
    let slos = run_and_register(ctx, "slos", param.clone()).await?;
    let burn_rates = run_and_register(ctx, "slo_burn_rates", param.clone()).await?;
    let burn_series = run_and_register(ctx, "slo_burn_series", param).await?;
    let alerts = run_and_register(ctx, "slo_alerts", vec![]).await?;
    let mut statuses = BTreeMap::new();
    for status in Columns::of(&slos)?.text("status").into_iter().flatten() {
        *statuses.entry(status).or_default() += 1;
    }
    let tables = vec![slos, periods, burn_rates, burn_series, alerts];
    Ok(SloReport { tables, at, statuses })
}

#[cfg(test)]
mod tests {
    use arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, TimestampNanosecondArray};
    use chrono::{DateTime, Utc};

    use super::calendar::*;
    use super::tables::*;
    use super::*;
    use crate::queries::percentile_of_sorted;
    use crate::signals::signals_schema;

    const T0: i64 = 1_763_856_000 * NANOS_PER_SECOND; // 2025-11-23T00:00:00Z, a Sunday

    /// One signal record: (record type, service, operation, remote service, end ns, latency ms,
    /// fault: 1 a fault, 2 an error (4xx), 0 neither).
    type Rec<'a> = (&'a str, &'a str, &'a str, Option<&'a str>, i64, f64, i64);

    fn signals_batch(recs: &[Rec]) -> RecordBatch {
        weighted_signals_batch(recs, &vec![1; recs.len()])
    }

    /// [`signals_batch`] with each record's adjusted count.
    fn weighted_signals_batch(recs: &[Rec], weights: &[i64]) -> RecordBatch {
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
            Arc::new(Int64Array::from_iter_values(recs.iter().map(|r| i64::from(r.6 == 2)))),
            Arc::new(Int64Array::from_iter_values(recs.iter().map(|r| i64::from(r.6 == 1)))),
            Arc::new(Int64Array::from(weights.to_vec())),
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
        evaluate_batch_rows(json, signals_batch(recs), at, no_data_bad)
    }

    /// [`evaluate_rows`] over a signals batch.
    fn evaluate_batch_rows(
        json: &str,
        batch: RecordBatch,
        at: i64,
        no_data_bad: bool,
    ) -> Vec<Vec<BTreeMap<String, String>>> {
        let defs = parse_definitions(json).unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
        rt.block_on(async {
            let ctx = SessionContext::new();
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

    /// An OpenSLO SLO of `svc` over the last `window`, as YAML.
    fn openslo(indicator: &str, window: &str, method: &str, objective: &str) -> String {
        format!(
            "apiVersion: openslo/v1\nkind: SLO\nmetadata: {{name: s}}\nspec:\n  service: svc\n  indicator:\n    \
             metadata: {{name: i}}\n    spec:\n{indicator}\n  timeWindow: [{{duration: {window}, isRolling: true}}]\n  \
             budgetingMethod: {method}\n  objectives: [{objective}]\n"
        )
    }

    fn ratio(bad: &str) -> String {
        format!(
            "      ratioMetric:\n        bad: {{metricSource: {{type: spanlens, spec: {{measure: {bad}}}}}}}\n        \
             total: {{metricSource: {{type: spanlens, spec: {{measure: requests}}}}}}"
        )
    }

    const THRESHOLD: &str = "      thresholdMetric: {metricSource: {type: spanlens, spec: {measure: latency}}}";

    /// The worked examples of OpenSLO's budgeting methods (docs/slo.md), computed by hand.
    #[test]
    fn openslo_budgeting_methods_match_hand_computed_results() {
        let at = T0 + NANOS_PER_DAY;
        // Occurrences, ratio: 2000 requests, 30 faults, target 0.99 → 1970/2000 = 98.5 %; the budget
        // is 20 bad requests, 30 spent: breached.
        let recs: Vec<Rec> = (0..2000).map(|i| rec(T0 + i * NANOS_PER_SECOND, 5.0, i64::from(i < 30))).collect();
        let rows = evaluate_rows(&openslo(&ratio("faults"), "1d", "Occurrences", "{target: 0.99}"), &recs, at, false);
        let slo = &rows[0][0];
        assert_eq!((num(slo, "requests"), num(slo, "bad_requests"), num(slo, "attainment")), (2000.0, 30.0, 98.5));
        assert_eq!((num(slo, "budget_requests"), num(slo, "budget_requests_remaining")), (20.0, -10.0));
        assert_eq!(slo["status"], "BREACHED");
        // The same with errors as the bad requests: 30 faults and 10 errors; `failures` counts both.
        let mut recs = recs;
        recs.extend((0..10).map(|i| rec(T0 + (3000 + i) * NANOS_PER_SECOND, 5.0, 2)));
        for (bad, expected) in [("faults", 30.0), ("errors", 10.0), ("failures", 40.0)] {
            let rows = evaluate_rows(&openslo(&ratio(bad), "1d", "Occurrences", "{target: 0.99}"), &recs, at, false);
            assert_eq!((num(&rows[0][0], "requests"), num(&rows[0][0], "bad_requests")), (2010.0, expected), "{bad}");
        }
        // Occurrences, threshold: latencies 120, 250, 310, 90, 500 ms, op lt 300 → 3 of 5 = 60 %;
        // with target 0.5 the budget is 2.5 requests, 2 spent, 20 % left: a warning.
        let recs: Vec<Rec> = [120.0, 250.0, 310.0, 90.0, 500.0]
            .iter()
            .enumerate()
            .map(|(i, l)| rec(T0 + i as i64 * NANOS_PER_MINUTE, *l, 0))
            .collect();
        let objective = "{op: lt, value: 300, target: 0.5}";
        let rows = evaluate_rows(&openslo(THRESHOLD, "1d", "Occurrences", objective), &recs, at, false);
        assert_eq!((num(&rows[0][0], "attainment"), rows[0][0]["status"].as_str()), (60.0, "WARNING"));

        // Timeslices over 4 one-minute slices (good/total): 100/100, 95/100, 0/0, 10/20 with
        // timeSliceTarget 0.95: slices 1 and 2 good (0.95 is not below 0.95), 4 bad; the empty
        // slice 3 is good (3/4 = 75 %), or bad with --missing-data bad (2/4 = 50 %).
        let mut recs = Vec::new();
        for (slice, (total, bad)) in [(100, 0), (100, 5), (0, 0), (20, 10)].into_iter().enumerate() {
            let start = T0 + slice as i64 * NANOS_PER_MINUTE;
            recs.extend((0..total).map(|i| rec(start + i64::from(i) * NANOS_PER_SECOND / 2, 5.0, i64::from(i < bad))));
        }
        let at = T0 + 4 * NANOS_PER_MINUTE;
        let objective = "{target: 0.75, timeSliceTarget: 0.95, timeSliceWindow: 1m}";
        let yaml = openslo(&ratio("faults"), "4m", "Timeslices", objective);
        let rows = evaluate_rows(&yaml, &recs, at, false);
        let values: Vec<(f64, &str)> = rows[1].iter().map(|p| (num(p, "value"), p["good"].as_str())).collect();
        assert_eq!(values, [(100.0, "true"), (95.0, "true"), (50.0, "false")]);
        let slo = &rows[0][0];
        assert_eq!((num(slo, "periods_total"), num(slo, "periods_bad"), num(slo, "attainment")), (4.0, 1.0, 75.0));
        assert_eq!(slo["status"], "WARNING", "75 % meets the 75 % goal with no budget left");
        let rows = evaluate_rows(&yaml, &recs, at, true);
        assert_eq!((num(&rows[0][0], "attainment"), rows[0][0]["status"].as_str()), (50.0, "BREACHED"));
        // Timeslices on a threshold: each slice's share of requests under 300 ms.
        let recs: Vec<Rec> = (0..4)
            .flat_map(|slice| {
                (0..10).map(move |i| {
                    rec(
                        T0 + slice * NANOS_PER_MINUTE + i * NANOS_PER_SECOND,
                        if i < slice * 3 { 400.0 } else { 100.0 },
                        0,
                    )
                })
            })
            .collect();
        let objective = "{op: lt, value: 300, target: 0.5, timeSliceTarget: 0.7, timeSliceWindow: 1m}";
        let rows = evaluate_rows(&openslo(THRESHOLD, "4m", "Timeslices", objective), &recs, at, false);
        let values: Vec<f64> = rows[1].iter().map(|p| num(p, "value")).collect();
        assert_eq!(values, [100.0, 70.0, 40.0, 10.0]);
        assert_eq!(num(&rows[0][0], "attainment"), 50.0);
    }

    /// RatioTimeslices: the mean of the slices' shares, over the worked example's slices
    /// (100/100, 95/100, 0/0, 10/20) with target 0.8: (100 + 95 + 50)/3 = 81.67 % with the empty
    /// slice skipped, met; 245/4 = 61.25 % with it counted as 0 (--no-data bad), breached. The
    /// same slices under Occurrences: 205/220 = 93.18 %.
    #[test]
    fn openslo_ratio_timeslices_average_the_slices() {
        let mut recs = Vec::new();
        for (slice, (total, bad)) in [(100, 0), (100, 5), (0, 0), (20, 10)].into_iter().enumerate() {
            let start = T0 + slice as i64 * NANOS_PER_MINUTE;
            recs.extend((0..total).map(|i| rec(start + i64::from(i) * NANOS_PER_SECOND / 2, 5.0, i64::from(i < bad))));
        }
        let at = T0 + 4 * NANOS_PER_MINUTE;
        let yaml = openslo(&ratio("faults"), "4m", "RatioTimeslices", "{target: 0.8, timeSliceWindow: 1m}");
        let rows = evaluate_rows(&yaml, &recs, at, false);
        let slo = &rows[0][0];
        assert!((num(slo, "attainment") - 245.0 / 3.0).abs() < 1e-9, "{}", slo["attainment"]);
        // Budget 240 s · 0.2 = 48 s; the shortfall costs 240 s · (100 − 81.67)/100 = 44 s.
        assert!((num(slo, "budget_seconds_remaining") - 4.0).abs() < 1e-9);
        assert_eq!((slo["attainment_rule"].as_str(), slo["status"].as_str()), ("mean_value", "WARNING"));
        // Each slice is marked good when its share reaches the goal.
        let good: Vec<&str> = rows[1].iter().map(|p| p["good"].as_str()).collect();
        assert_eq!(good, ["true", "true", "false"]);
        // The 5-minute alert window at the evaluation time holds the three slices: burn rate =
        // mean shortfall (0 + 0.05 + 0.5)/3 over the budget fraction 0.2.
        let series = &rows[3];
        let last = series.iter().rfind(|r| r["lookback_minutes"] == "5").unwrap();
        assert!((num(last, "burn_rate") - 0.55 / 3.0 / 0.2).abs() < 1e-9, "{}", last["burn_rate"]);
        let rows = evaluate_rows(&yaml, &recs, at, true);
        assert_eq!((num(&rows[0][0], "attainment"), rows[0][0]["status"].as_str()), (61.25, "BREACHED"));
        let rows = evaluate_rows(&openslo(&ratio("faults"), "4m", "Occurrences", "{target: 0.8}"), &recs, at, false);
        assert!((num(&rows[0][0], "attainment") - 100.0 * 205.0 / 220.0).abs() < 1e-9);
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

    /// Sampling-aware counts: records of adjusted count w give every table exactly what w copies
    /// of them give (requests, good and bad counts, burn rates, each latency statistic).
    #[test]
    fn weighted_records_count_as_their_copies() {
        let mut rng = crate::util::SplitMix::new(11);
        let (mut recs, mut weights, mut copies) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..600 {
            let t = T0 + (i * 5_000_000_011) % (3600 * NANOS_PER_SECOND);
            // Quarter milliseconds, so that sums of latencies are exact either way.
            let r = rec(t, rng.below(4_000) as f64 / 4.0, i64::from(rng.below(10) == 0));
            let w = [1, 1, 2, 4, 10][rng.below(5) as usize];
            recs.push(r);
            weights.push(w);
            copies.extend(std::iter::repeat_n(r, w as usize));
        }
        let at = T0 + 3600 * NANOS_PER_SECOND;
        let burn = r#"{"LookBackWindowMinutes": 5}, {"LookBackWindowMinutes": 30}"#;
        let mut slis = vec![request_availability()];
        for statistic in ["p99", "p50", "p90", "Average", "Minimum", "Maximum", "Sum", "SampleCount"] {
            slis.push(period_sli("LATENCY", statistic, 300, 500.0, "LessThan"));
        }
        slis.push(period_sli("AVAILABILITY", "Average", 300, 95.0, "GreaterThanOrEqualTo"));
        for sli in slis {
            let json = slo_json(&sli, &rolling("HOUR", 1, 99.0), burn);
            let weighted = evaluate_batch_rows(&json, weighted_signals_batch(&recs, &weights), at, false);
            let repeated = evaluate_rows(&json, &copies, at, false);
            assert_eq!(weighted, repeated, "{sli}");
            assert!(!weighted[0].is_empty());
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

    /// The burn rate over `[t - w, t)` of request-based records (end ns, bad), by brute force.
    fn brute_burn(recs: &[(i64, bool)], t: i64, minutes: i64, budget: f64) -> Option<f64> {
        let inside: Vec<bool> =
            recs.iter().filter(|r| r.0 >= t - minutes * NANOS_PER_MINUTE && r.0 < t).map(|r| r.1).collect();
        (!inside.is_empty()).then(|| inside.iter().filter(|b| **b).count() as f64 / inside.len() as f64 / budget)
    }

    /// Each rule's firings over the day from T0, minute by minute, by brute force: the condition
    /// compares both windows' burn rates with the factor; a rule fires once it has held for
    /// `after_minutes` minutes. (rule, fired at, resolved at, minutes firing), times as text.
    fn brute_alerts(plain: &[(i64, bool)], rules: &[AlertRule]) -> Vec<(String, String, String, i64)> {
        let time = |t: i64| chrono::DateTime::from_timestamp_nanos(t).format("%Y-%m-%dT%H:%M:%SZ").to_string();
        let mut out = Vec::new();
        for rule in rules {
            let mut run: Option<(i64, i64)> = None;
            let mut held = 0;
            for k in 1..=1440i64 {
                let t = T0 + k * NANOS_PER_MINUTE;
                let compare = |w| {
                    brute_burn(plain, t, w, 0.01).is_some_and(|b| match rule.operator {
                        Operator::GreaterThan => b > rule.factor,
                        Operator::GreaterThanOrEqualTo => b >= rule.factor,
                        Operator::LessThan => b < rule.factor,
                        Operator::LessThanOrEqualTo => b <= rule.factor,
                    })
                };
                let holds = compare(rule.long_minutes) && compare(rule.short_minutes);
                held = if holds { held + 1 } else { 0 };
                let firing = holds && held > rule.after_minutes;
                match (firing, run) {
                    (true, None) => run = Some((t, 1)),
                    (true, Some((start, n))) => run = Some((start, n + 1)),
                    (false, Some((start, n))) => {
                        out.push((rule.name(), time(start), time(t), n));
                        run = None;
                    }
                    (false, None) => {}
                }
            }
            if let Some((start, n)) = run {
                out.push((rule.name(), time(start), "NULL".into(), n));
            }
        }
        out
    }

    /// The `slo_alerts` rows as (rule, fired at, resolved at, minutes firing).
    fn firings(alerts: &[BTreeMap<String, String>]) -> Vec<(String, String, String, i64)> {
        alerts
            .iter()
            .map(|a| {
                (a["rule"].clone(), a["fired_at"].clone(), a["resolved_at"].clone(), num(a, "minutes_firing") as i64)
            })
            .collect()
    }

    /// A day of 10 requests a minute from T0: a 30-minute outage (every request faults) from
    /// 10:00 and a slow burn of 2 faults in 10 from 15:00 to 18:00. The records and (end, bad).
    fn incident_day() -> (Vec<Rec<'static>>, Vec<(i64, bool)>) {
        let mut recs = Vec::new();
        let mut plain = Vec::new();
        for m in 0..1440i64 {
            for i in 0..10i64 {
                let bad = (600..630).contains(&m) || ((900..1080).contains(&m) && i < 2);
                let t = T0 + m * NANOS_PER_MINUTE + 30 * NANOS_PER_SECOND + i;
                recs.push(rec(t, 5.0, i64::from(bad)));
                plain.push((t, bad));
            }
        }
        (recs, plain)
    }

    /// OpenSLO alert policies replayed over the incident day as brute force finds them: one
    /// window each, the literal `op`, and `alertAfter`.
    #[test]
    fn openslo_alert_policies_are_replayed_with_their_op_and_alert_after() {
        let (recs, plain) = incident_day();
        let yaml = "apiVersion: openslo/v1\nkind: AlertCondition\nmetadata: {name: slow-burn}\nspec:\n  severity: \
                    ticket\n  condition: {kind: burnrate, op: gte, threshold: 6, lookbackWindow: 6h}\n---\n\
                    apiVersion: openslo/v1\nkind: AlertNotificationTarget\nmetadata: {name: pager}\nspec: {target: \
                    pagerduty}\n---\napiVersion: openslo/v1\nkind: AlertPolicy\nmetadata: {name: slow}\nspec:\n  \
                    alertWhenBreaching: true\n  alertWhenResolved: true\n  conditions: [{conditionRef: slow-burn}]\n  \
                    notificationTargets: [{targetRef: pager}]\n---\n";
        let fast = "{kind: AlertPolicy, metadata: {name: fast}, spec: {alertWhenBreaching: true, conditions: [{kind: \
                    AlertCondition, metadata: {name: fast-burn}, spec: {severity: page, condition: {op: gt, threshold: \
                    14.4, lookbackWindow: 1h, alertAfter: 5m}}}], notificationTargets: [{targetRef: pager}]}}";
        let slo = openslo(&ratio("faults"), "1d", "Occurrences", "{target: 0.99}")
            .replace("  objectives:", &format!("  alertPolicies: [{fast}, {{alertPolicyRef: slow}}]\n  objectives:"));
        let defs = parse_definitions(&format!("{yaml}{slo}")).unwrap();
        let rules = &defs[0].alert_rules;
        let names: Vec<String> = rules.iter().map(AlertRule::name).collect();
        assert_eq!(names, ["fast: burn rate > 14.4 over 1h for 5m", "slow: burn rate >= 6 over 6h"]);
        let rows = evaluate_rows(&format!("{yaml}{slo}"), &recs, T0 + NANOS_PER_DAY, false);
        let want = brute_alerts(&plain, rules);
        assert_eq!(firings(&rows[4]), want);
        // The outage's 1-hour burn first passes 14.4 at 10:09 (90 bad of 600 requests: 15x); the
        // page comes 5 minutes later.
        let page = &want[0];
        assert_eq!(
            (page.0.as_str(), page.1.as_str()),
            ("fast: burn rate > 14.4 over 1h for 5m", "2025-11-23T10:14:00Z")
        );
        assert_eq!(rows[4][0]["severity"], "page");
    }

    #[test]
    fn alerts_are_replayed_minute_by_minute_as_brute_force_finds_them() {
        let (recs, plain) = incident_day();
        let at = T0 + NANOS_PER_DAY;
        let json = slo_json(&request_availability(), &rolling("DAY", 1, 99.0), r#"{"LookBackWindowMinutes": 60}"#);
        let rows = evaluate_rows(&json, &recs, at, false);
        let (series, alerts) = (&rows[3], &rows[4]);
        // The series: every rule's window at every minute boundary of the interval.
        assert_eq!(series.len(), 1440 * 7, "7 distinct windows of the four rules, 1440 minutes");
        for row in series.iter().step_by(97) {
            let minutes = num(row, "lookback_minutes") as i64;
            let t = chrono::DateTime::parse_from_rfc3339(&row["time"]).unwrap().timestamp_nanos_opt().unwrap();
            match brute_burn(&plain, t, minutes, 0.01) {
                Some(b) => assert!((num(row, "burn_rate") - b).abs() < 1e-9, "{row:?} against {b}"),
                None => assert_eq!(row["burn_rate"], "NULL", "{row:?}"),
            }
        }
        // The alerts: each rule's firing runs, found by brute force over the same minutes.
        let want = brute_alerts(&plain, &SRE_ALERT_RULES);
        assert_eq!(firings(alerts), want);
        // The outage pages within minutes of its start, at 14.4x over 1 hour and 5 minutes; the
        // slow burn (20x the budget) pages too, and the 6x rule fires as well.
        let page = want.iter().find(|w| w.0 == "14.4x over 1h and 5m").unwrap();
        assert!(page.1.as_str() >= "2025-11-23T10:00:00Z" && page.1.as_str() <= "2025-11-23T10:10:00Z", "{page:?}");
        assert!(want.iter().any(|w| w.0 == "6x over 6h and 30m"), "{want:?}");
        assert!(want.len() >= 3, "{want:?}");
    }

    #[test]
    fn period_based_burn_series_count_the_periods_ending_in_each_window() {
        // Minutes 10, 20 and 30 of the day fail, 40 and 50 pass: over the 5-minute window ending
        // at 00:11 (periods ending in (00:06, 00:11]) one of five periods failed, over the hour
        // ending at 01:00 three of sixty.
        let at = T0 + NANOS_PER_DAY;
        let (recs, json) = five_minutes();
        let minute = |m: i64| T0 + m * NANOS_PER_MINUTE;
        let time = |t: i64| chrono::DateTime::from_timestamp_nanos(t).format("%Y-%m-%dT%H:%M:%SZ").to_string();
        for no_data_bad in [false, true] {
            let rows = evaluate_rows(&json, &recs, at, no_data_bad);
            let at_time = |lookback: i64, t: i64| {
                rows[3]
                    .iter()
                    .find(|r| num(r, "lookback_minutes") as i64 == lookback && r["time"] == time(t))
                    .unwrap_or_else(|| panic!("{lookback} at {}", time(t)))
                    .clone()
            };
            let five = at_time(5, minute(11));
            assert_eq!(num(&five, "periods"), 5.0);
            let bad = if no_data_bad { 5.0 } else { 1.0 };
            assert_eq!(num(&five, "bad_periods"), bad, "{five:?}");
            assert!((num(&five, "burn_rate") - bad / 5.0 / 0.001).abs() < 1e-9, "{five:?}");
            let hour = at_time(60, minute(60));
            let bad = if no_data_bad { 60.0 - 5.0 + 3.0 } else { 3.0 };
            assert_eq!(num(&hour, "bad_periods"), bad, "{hour:?}");
            // No period with records in the window: no burn rate.
            assert_eq!(at_time(5, minute(300))["burn_rate"], "NULL");
            assert!(rows[3].iter().all(|r| r["requests"] == "NULL"));
        }
    }
}
