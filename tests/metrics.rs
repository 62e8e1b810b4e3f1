//! `metrics`: Application Signals records derived from whole traces, the metric tables, and a
//! golden check on the real OpenTelemetry Demo export against an independent computation.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float64Type, Int64Type};
use common::{rows, sample, spanlens};
use datafusion::datasource::MemTable;
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use predicates::prelude::PredicateBooleanExt;
use serde_json::{Value, json};
use spanlens::config::MetricsPlan;
use spanlens::ingest::DecodeOptions;
use spanlens::metrics::{METRIC_TABLES, MetricsOptions, compute};
use spanlens::model::schema::span_schema;
use spanlens::queries::{QUERIES, percentile_of_sorted};
use spanlens::signals::SignalOptions;

fn plan(inputs: &[&Path], out: &Path, bucket_ns: i64) -> MetricsPlan {
    MetricsPlan {
        inputs: inputs.iter().map(|p| p.display().to_string()).collect(),
        out: Some(out.to_path_buf()),
        format: spanlens::report::text::PrintFormat::Table,
        force: true,
        quiet: true,
        decode: DecodeOptions::default(),
        metrics: MetricsOptions {
            signals: SignalOptions::default(),
            tables: METRIC_TABLES.to_vec(),
            graph_tables: Vec::new(),
            peer_attributes: Vec::new(),
            bucket_ns,
            from: None,
            to: None,
            approx: false,
            spill: Default::default(),
        },
        write_signals: true,
        graph_asked: false,
        scheduler: None,
        command: "spanlens metrics (test)".into(),
    }
}

async fn output_context(out: &Path) -> SessionContext {
    let ctx = SessionContext::new();
    for t in ["signals", "service_metrics", "operation_metrics", "dependency_metrics", "run_info"] {
        let path = out.join(format!("{t}.parquet")).display().to_string();
        ctx.register_parquet(t, &path, ParquetReadOptions::default()).await.expect(t);
    }
    ctx
}

const T0: u64 = 1_793_527_200_000_000_000; // 2026-11-01T10:00:00Z

fn attrs(pairs: &[(&str, Value)]) -> Value {
    let list: Vec<Value> = pairs
        .iter()
        .map(|(k, v)| {
            let value = match v {
                Value::String(s) => json!({ "stringValue": s }),
                Value::Number(n) => json!({ "intValue": n.to_string() }),
                Value::Array(a) => json!({ "arrayValue": { "values": a.iter().map(|s| json!({"stringValue": s})).collect::<Vec<_>>() } }),
                other => other.clone(),
            };
            json!({ "key": k, "value": value })
        })
        .collect();
    Value::Array(list)
}

#[allow(clippy::too_many_arguments)]
fn span(
    trace: &str,
    id: &str,
    parent: &str,
    kind: u8,
    name: &str,
    start_s: u64,
    dur_ms: u64,
    error: bool,
    a: &[(&str, Value)],
) -> Value {
    let start = T0 + start_s * 1_000_000_000;
    json!({
        "traceId": trace, "spanId": id, "parentSpanId": parent, "name": name, "kind": kind,
        "startTimeUnixNano": start.to_string(), "endTimeUnixNano": (start + dur_ms * 1_000_000).to_string(),
        "attributes": attrs(a), "status": if error { json!({"code": 2}) } else { json!({}) }
    })
}

fn resource_spans(resource: &[(&str, Value)], spans: Vec<Value>) -> Value {
    json!({ "resource": { "attributes": attrs(resource) }, "scopeSpans": [{ "scope": { "name": "test" }, "spans": spans }] })
}

/// A pet-clinic-like export: a front end calling a vets service over HTTP, PostgreSQL,
/// DynamoDB and the instance metadata service, and an ADOT-annotated billing span.
fn petclinic() -> String {
    let t1 = "0af7651916cd43dd8448eb211c80319c";
    let t2 = "1af7651916cd43dd8448eb211c80319c";
    let frontend = resource_spans(
        &[("service.name", json!("frontend")), ("deployment.environment", json!("prod"))],
        vec![
            span(
                t1,
                "00f067aa0ba902b1",
                "",
                2,
                "GET /owners/{id}",
                0,
                10,
                false,
                &[("http.request.method", json!("GET")), ("http.response.status_code", json!(200))],
            ),
            span(
                t1,
                "00f067aa0ba902b2",
                "00f067aa0ba902b1",
                3,
                "GET",
                0,
                4,
                false,
                &[
                    ("http.request.method", json!("GET")),
                    ("url.full", json!("http://vets:8080/vets/7")),
                    ("server.address", json!("vets")),
                    ("server.port", json!(8080)),
                    ("http.response.status_code", json!(404)),
                ],
            ),
            span(
                t1,
                "00f067aa0ba902b3",
                "00f067aa0ba902b1",
                3,
                "SELECT petclinic.owners",
                0,
                2,
                false,
                &[
                    ("db.system", json!("postgresql")),
                    ("db.statement", json!("select * from owners where id = ?")),
                    ("db.name", json!("petclinic")),
                    ("server.address", json!("db")),
                    ("server.port", json!(5432)),
                ],
            ),
            span(
                t1,
                "00f067aa0ba902b4",
                "00f067aa0ba902b1",
                3,
                "DynamoDb.PutItem",
                0,
                3,
                true,
                &[
                    ("rpc.system", json!("aws-api")),
                    ("rpc.service", json!("DynamoDb")),
                    ("rpc.method", json!("PutItem")),
                    ("aws.dynamodb.table_names", json!(["visits"])),
                ],
            ),
            span(
                t1,
                "00f067aa0ba902b5",
                "00f067aa0ba902b1",
                3,
                "GET",
                0,
                1,
                false,
                &[("http.request.method", json!("GET")), ("server.address", json!("169.254.169.254"))],
            ),
        ],
    );
    let vets = resource_spans(
        &[("service.name", json!("vets"))],
        vec![span(
            t1,
            "00f067aa0ba902c1",
            "00f067aa0ba902b2",
            2,
            "GET",
            0,
            3,
            false,
            &[
                ("http.request.method", json!("GET")),
                ("url.path", json!("/vets/7")),
                ("http.response.status_code", json!(500)),
            ],
        )],
    );
    let billing = resource_spans(
        &[("service.name", json!("billing"))],
        vec![
            span(
                t2,
                "00f067aa0ba902d1",
                "",
                3,
                "SQS.SendMessage",
                90,
                5,
                false,
                &[
                    ("aws.local.service", json!("billing")),
                    ("aws.span.kind", json!("LOCAL_ROOT")),
                    ("aws.local.operation", json!("InternalOperation")),
                    ("aws.local.environment", json!("eks:c/ns")),
                    ("aws.remote.service", json!("AWS::SQS")),
                    ("aws.remote.operation", json!("SendMessage")),
                ],
            ),
            // Rule 0 with aws.span.kind SERVER and CLIENT: one record each, attributes as given.
            span(
                t2,
                "00f067aa0ba902d2",
                "",
                2,
                "POST /billings",
                120,
                7,
                false,
                &[
                    ("aws.local.service", json!("billing")),
                    ("aws.span.kind", json!("SERVER")),
                    ("aws.local.operation", json!("POST /billings")),
                ],
            ),
            span(
                t2,
                "00f067aa0ba902d3",
                "00f067aa0ba902d2",
                3,
                "DynamoDB.PutItem",
                120,
                2,
                false,
                &[
                    ("aws.local.service", json!("billing")),
                    ("aws.span.kind", json!("CLIENT")),
                    ("aws.local.operation", json!("POST /billings")),
                    ("aws.remote.service", json!("AWS::DynamoDB")),
                    ("aws.remote.operation", json!("PutItem")),
                    ("aws.remote.resource.type", json!("AWS::DynamoDB::Table")),
                    ("aws.remote.target", json!("BillingInfo")),
                    ("http.status_code", json!(400)),
                ],
            ),
        ],
    );
    json!({ "resourceSpans": [frontend, vets, billing] }).to_string()
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(f)
}

#[test]
fn petclinic_records_follow_the_rules() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("petclinic.json");
    std::fs::write(&input, petclinic()).unwrap();
    let out = dir.path().join("out");
    let plan = plan(&[&input], &out, 60_000_000_000);
    let outcome = spanlens::commands::metrics::run_metrics(&plan).unwrap();
    let stats = &outcome.input.derived.as_ref().unwrap().stats;
    assert_eq!(stats.dropped.get("imds_dependency"), Some(&1), "§9.3 IMDS dependency dropped");
    assert_eq!(stats.preannotated_spans, 3);
    block_on(check_petclinic(&out));
}

async fn check_petclinic(out: &Path) {
    let ctx = output_context(out).await;
    let got = rows(
        &ctx,
        "SELECT record_type, telemetry_source, environment, service, operation, remote_service, remote_operation, \
         remote_environment, remote_resource_type, remote_resource_identifier, error, fault, latency_ms FROM signals",
    )
    .await;
    let want = [
        // §2.2 local root SERVER: the span name is the operation.
        "service|LocalRootSpan|prod|frontend|GET /owners/{id}||||||0|0|10.0",
        // §4 propagated operation, §6.4 address fallback, §6.5 method + first path segment, §9.1 404 = error.
        "dependency|ClientSpan|prod|frontend|GET /owners/{id}|vets:8080|GET /vets||||1|0|4.0",
        // §6.1.3 database with §6.3 keyword, §7.2 DB::Connection.
        "dependency|ClientSpan|prod|frontend|GET /owners/{id}|postgresql|SELECT||DB::Connection|petclinic|db|5432|0|0|2.0",
        // §6.2 AWS SDK names, §7.1 row 1, §9.1 status ERROR without a code = fault.
        "dependency|ClientSpan|prod|frontend|GET /owners/{id}|AWS::DynamoDB|PutItem||AWS::DynamoDB::Table|visits|0|1|3.0",
        // §2.1 parent in another resource = local root; §5.1.4 invalid name "GET" → METHOD /segment; 500 = fault;
        // §11 generic:default.
        "service|LocalRootSpan|generic:default|vets|GET /vets||||||0|1|3.0",
        // Rule 0: ADOT-annotated LOCAL_ROOT CLIENT span = a Service and a Dependency record.
        "service|LocalRootSpan|eks:c/ns|billing|InternalOperation||||||0|0|5.0",
        "dependency|ClientSpan|eks:c/ns|billing|InternalOperation|AWS::SQS|SendMessage||||0|0|5.0",
        // Rule 0, SERVER: a Service record; no aws.local.environment, so §11 applies. CLIENT: a
        // Dependency record; the legacy aws.remote.target is the identifier (§7.4); 400 = error.
        "service|ServerSpan|generic:default|billing|POST /billings||||||0|0|7.0",
        "dependency|ClientSpan|generic:default|billing|POST /billings|AWS::DynamoDB|PutItem||AWS::DynamoDB::Table|BillingInfo|1|0|2.0",
    ];
    let mut want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(got, want);

    // Whole-window and 1-minute rows: billing's records end 90 s after the others.
    let services = rows(
        &ctx,
        "SELECT service, CAST(bucket_start AS VARCHAR), requests, errors, faults, availability \
         FROM service_metrics ORDER BY 1",
    )
    .await;
    assert_eq!(
        services,
        [
            "billing|2026-11-01T10:01:00Z|1|0|0|100.0",
            "billing|2026-11-01T10:02:00Z|1|0|0|100.0",
            // One whole-window row per environment (eks:c/ns and generic:default).
            "billing||1|0|0|100.0",
            "billing||1|0|0|100.0",
            "frontend|2026-11-01T10:00:00Z|1|0|0|100.0",
            "frontend||1|0|0|100.0",
            "vets|2026-11-01T10:00:00Z|1|0|1|0.0",
            "vets||1|0|1|0.0",
        ]
    );
    // D3 (the Dependencies table) needs a resource; D4 does not; D13 is per RemoteService.
    let sets = rows(
        &ctx,
        "SELECT dimension_set, remote_service, requests FROM dependency_metrics \
         WHERE bucket_start IS NULL AND dimension_set IN ('D3', 'D4', 'D13', 'D1')",
    )
    .await;
    assert_eq!(
        sets,
        [
            // D13 is per RemoteService alone: frontend's and billing's DynamoDB calls together.
            "D13|AWS::DynamoDB|2",
            "D13|AWS::SQS|1",
            "D13|postgresql|1",
            "D13|vets:8080|1",
            "D3|AWS::DynamoDB|1",
            "D3|AWS::DynamoDB|1",
            "D3|postgresql|1",
            "D4|AWS::DynamoDB|1",
            "D4|AWS::DynamoDB|1",
            "D4|AWS::SQS|1",
            "D4|postgresql|1",
            "D4|vets:8080|1",
        ],
        "no record has a RemoteEnvironment, so D1 is empty"
    );
    let dropped =
        rows(&ctx, "SELECT reason, value FROM run_info WHERE key = 'records_dropped' AND reason IS NOT NULL").await;
    assert_eq!(dropped, ["imds_dependency|1"]);
}

/// One span of the OpenTelemetry Demo export, read with serde_json alone.
struct DemoSpan {
    trace: String,
    id: String,
    parent: String,
    flags: u64,
    kind: u64,
    service: String,
    duration_ns: u64,
    status_error: bool,
    http_code: Option<i64>,
}

fn demo_spans() -> Vec<DemoSpan> {
    let text = std::fs::read_to_string(sample("ymtdzzz__otel-tui__test_data.json")).unwrap();
    let mut out = Vec::new();
    let str_of = |v: &Value| v.as_str().map(str::to_string).unwrap_or_default();
    let num = |v: &Value| v.as_u64().or_else(|| v.as_str().and_then(|s| s.parse().ok()));
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let doc: Value = serde_json::from_str(line).unwrap();
        for rs in doc["resourceSpans"].as_array().into_iter().flatten() {
            let attr = |list: &Value, key: &str| -> Option<Value> {
                list.as_array()?.iter().find(|a| a["key"] == key).map(|a| a["value"].clone())
            };
            let service =
                attr(&rs["resource"]["attributes"], "service.name").map(|v| str_of(&v["stringValue"])).unwrap();
            for ss in rs["scopeSpans"].as_array().into_iter().flatten() {
                assert!(
                    !str_of(&ss["scope"]["name"]).starts_with("io.opentelemetry.aws-sdk-"),
                    "no SQS suppression here"
                );
                for s in ss["spans"].as_array().into_iter().flatten() {
                    let code = ["http.response.status_code", "http.status_code"].iter().find_map(|k| {
                        let v = attr(&s["attributes"], k)?;
                        num(&v["intValue"]).map(|n| n as i64).or_else(|| str_of(&v["stringValue"]).parse().ok())
                    });
                    out.push(DemoSpan {
                        trace: str_of(&s["traceId"]),
                        id: str_of(&s["spanId"]),
                        parent: str_of(&s["parentSpanId"]),
                        flags: num(&s["flags"]).unwrap_or(0),
                        kind: num(&s["kind"]).unwrap_or(0),
                        service: service.clone(),
                        duration_ns: num(&s["endTimeUnixNano"]).unwrap() - num(&s["startTimeUnixNano"]).unwrap(),
                        status_error: num(&s["status"]["code"]) == Some(2),
                        http_code: code,
                    });
                }
            }
        }
    }
    out
}

#[derive(Debug, Default)]
struct Expected {
    requests: i64,
    errors: i64,
    faults: i64,
    latencies: Vec<f64>,
}

/// Per-service Service records computed directly: SERVER spans and local roots (no parent,
/// remote by flags, or a parent outside the service), error = 4xx, fault = 5xx or ERROR.
fn expected_services(spans: &[DemoSpan]) -> BTreeMap<String, Expected> {
    let present: HashSet<(&str, &str, &str)> =
        spans.iter().map(|s| (s.trace.as_str(), s.id.as_str(), s.service.as_str())).collect();
    let mut out: BTreeMap<String, Expected> = BTreeMap::new();
    for s in spans {
        let local_root = s.parent.is_empty()
            || if s.flags & 0x100 != 0 {
                s.flags & 0x200 != 0
            } else {
                !present.contains(&(s.trace.as_str(), s.parent.as_str(), s.service.as_str()))
            };
        if s.kind != 2 && !local_root {
            continue;
        }
        let e = out.entry(s.service.clone()).or_default();
        e.requests += 1;
        match s.http_code {
            Some(400..=499) => e.errors += 1,
            Some(500..=599) => e.faults += 1,
            _ if s.status_error => e.faults += 1,
            _ => {}
        }
        e.latencies.push(s.duration_ns as f64 / 1e6);
    }
    out
}

#[test]
fn golden_otel_demo_service_metrics_match_an_independent_computation() {
    let mut expected = expected_services(&demo_spans());
    assert!(expected.len() >= 5, "the demo has many services");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let input = sample("ymtdzzz__otel-tui__test_data.json");
    let plan = plan(&[&input], &out, 3_600_000_000_000);
    spanlens::commands::metrics::run_metrics(&plan).unwrap();

    let batches: Vec<RecordBatch> = block_on(async {
        let ctx = output_context(&out).await;
        ctx.sql(
            "SELECT service, environment, requests, errors, faults, latency_p50_ms, latency_p90_ms, latency_p99_ms, \
             latency_avg_ms, latency_min_ms, latency_max_ms FROM service_metrics WHERE bucket_start IS NULL",
        )
        .await
        .unwrap()
        .collect()
        .await
        .unwrap()
    });
    let mut seen = 0;
    for b in &batches {
        let text = |i: usize| arrow::compute::cast(b.column(i), &DataType::Utf8).unwrap();
        let (service, env) = (text(0), text(1));
        let int = |i: usize| b.column(i).as_primitive::<Int64Type>().clone();
        let float = |i: usize| b.column(i).as_primitive::<Float64Type>().clone();
        for r in 0..b.num_rows() {
            let name = service.as_string::<i32>().value(r).to_string();
            assert_eq!(env.as_string::<i32>().value(r), "generic:default");
            let e = expected.get_mut(&name).unwrap_or_else(|| panic!("unexpected service {name}"));
            assert_eq!((int(2).value(r), int(3).value(r), int(4).value(r)), (e.requests, e.errors, e.faults), "{name}");
            e.latencies.sort_by(f64::total_cmp);
            for (col, p) in [(5, 0.5), (6, 0.9), (7, 0.99)] {
                let want = percentile_of_sorted(&e.latencies, p).unwrap();
                // Independent interpolation: v[k] + f·(v[k+1] − v[k]) with k = ⌊p(n−1)⌋.
                let h = p * (e.latencies.len() - 1) as f64;
                let k = h.floor() as usize;
                let plain = e.latencies[k]
                    + (h - k as f64) * (e.latencies[(k + 1).min(e.latencies.len() - 1)] - e.latencies[k]);
                assert!((want - plain).abs() <= 1e-9 * plain.abs().max(1.0));
                assert_eq!(float(col).value(r), want, "{name} p{p}");
            }
            let avg = e.latencies.iter().sum::<f64>() / e.latencies.len() as f64;
            assert!((float(8).value(r) - avg).abs() < 1e-9 * avg.max(1.0), "{name} avg");
            assert_eq!(float(9).value(r), e.latencies[0]);
            assert_eq!(float(10).value(r), *e.latencies.last().unwrap());
            seen += 1;
        }
    }
    assert_eq!(seen, expected.len(), "every service has a row");
    let total: i64 = expected.values().map(|e| e.requests).sum();
    let faults: i64 = expected.values().map(|e| e.faults).sum();
    assert!(total > 300 && faults > 0, "a meaningful golden: {total} requests, {faults} faults");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_query_plans_and_runs_against_empty_tables() {
    let ctx = SessionContext::new();
    let empty = MemTable::try_new(span_schema(), vec![vec![]]).unwrap();
    ctx.register_table("spans", Arc::new(empty)).unwrap();
    let opts = MetricsOptions {
        signals: SignalOptions::default(),
        tables: METRIC_TABLES.to_vec(),
        graph_tables: Vec::new(),
        peer_attributes: Vec::new(),
        bucket_ns: 60_000_000_000,
        from: None,
        to: None,
        approx: false,
        spill: Default::default(),
    };
    let m = compute(&ctx, &opts).await.unwrap();
    assert!(m.tables.iter().all(|t| t.rows() == 0));
    // A store's listing table: the span columns and the date partition.
    let mut fields: Vec<arrow::datatypes::Field> = span_schema().fields().iter().map(|f| f.as_ref().clone()).collect();
    fields.push(arrow::datatypes::Field::new("date", DataType::Utf8, false));
    let store = MemTable::try_new(Arc::new(arrow::datatypes::Schema::new(fields)), vec![vec![]]).unwrap();
    ctx.register_table("store_partitions", Arc::new(store)).unwrap();
    // SLOs over no records: nothing to judge.
    let defs = spanlens::slo::parse_definitions(
        r#"{"Name": "a", "SliConfig": {"SliMetricConfig": {"KeyAttributes": {"Name": "svc"}, "MetricType": "LATENCY"},
            "MetricThreshold": 100, "ComparisonOperator": "LessThan"}, "BurnRateConfigurations": [{"LookBackWindowMinutes": 60}]}"#,
    )
    .unwrap();
    let report = spanlens::slo::evaluate(&ctx, &defs, 3_600_000_000_000, false).await.unwrap();
    assert_eq!(report.statuses.get("INSUFFICIENT_DATA"), Some(&1));
    // The same session evaluates again (another time) and replaces its SLO tables.
    let again = spanlens::slo::evaluate(&ctx, &defs, 7_200_000_000_000, true).await.unwrap();
    assert_eq!(again.statuses, report.statuses);
    // The service graph over no spans: no edges, no nodes; its tables are registered.
    let opts = spanlens::graph::GraphOptions {
        bucket_ns: 60_000_000_000,
        from: None,
        to: None,
        approx: false,
        peer: spanlens::graph::DEFAULT_PEER_ATTRIBUTES.to_vec(),
    };
    let graph = spanlens::graph::compute(&ctx, &opts).await.unwrap();
    assert_eq!(spanlens::graph::reconcile(&ctx, 2).await.unwrap().rows(), 0, "no edge in either view");
    assert_eq!((graph[0].rows(), graph[1].rows()), (0, 0));
    assert_eq!(graph[2].rows(), 9, "every data-quality check but clock skew has a row, 0 when nothing is found");
    // The derivation as SQL, as `spanlens sql` registers it, over the spans_for_signals view.
    ctx.register_udaf(spanlens::signals::function::derive_signals(&Default::default()));
    let spans_for_signals = ctx.sql(spanlens::queries::get("spans_for_signals").unwrap().sql).await.unwrap();
    ctx.register_table("spans_for_signals", spans_for_signals.into_view()).unwrap();
    // Every registered query, by name, now plans against the registered (empty) tables.
    for q in QUERIES {
        let df = ctx.sql(q.sql).await;
        let df = match (q.name, df) {
            ("store_spans", Ok(df)) => df.with_param_values(vec![
                datafusion::common::ScalarValue::Utf8(Some("2026-11-01".into())),
                datafusion::common::ScalarValue::Utf8(Some("2026-11-02".into())),
            ]),
            ("windowed_signals" | "service_graph", Ok(df)) => df.with_param_values(vec![
                datafusion::common::ScalarValue::Int64(Some(1)),
                datafusion::common::ScalarValue::TimestampNanosecond(Some(0), Some("UTC".into())),
                datafusion::common::ScalarValue::TimestampNanosecond(Some(1), Some("UTC".into())),
            ]),
            ("data_quality", Ok(df)) => df.with_param_values(vec![datafusion::common::ScalarValue::Int64(Some(1))]),
            ("service_graph_spans", Ok(df)) => df.with_param_values(
                (1..=8).map(|p| datafusion::common::ScalarValue::Int64(Some(p))).collect::<Vec<_>>(),
            ),
            ("service_graph_matches", Ok(df)) => df.with_param_values(vec![
                datafusion::common::ScalarValue::FixedSizeBinary(16, Some(vec![0; 16])),
                datafusion::common::ScalarValue::FixedSizeBinary(16, None),
            ]),
            ("slos" | "slo_burn_rates" | "slo_burn_series", Ok(df)) => {
                df.with_param_values(vec![datafusion::common::ScalarValue::Boolean(Some(true))])
            }
            (_, df) => df,
        };
        let df = df.unwrap_or_else(|e| panic!("{}: {e}", q.name));
        df.create_physical_plan().await.unwrap_or_else(|e| panic!("{}: {e}", q.name));
    }
}

#[test]
fn approx_percentiles_and_windows() {
    let dir = tempfile::tempdir().unwrap();
    let input = sample("ymtdzzz__otel-tui__test_data.json");
    let run = |approx: bool, from: Option<i64>, to: Option<i64>, name: &str| {
        let mut p = plan(&[&input], &dir.path().join(name), 3_600_000_000_000);
        p.metrics.approx = approx;
        p.metrics.from = from;
        p.metrics.to = to;
        spanlens::commands::metrics::run_metrics(&p).unwrap()
    };
    let (exact, approx, empty) =
        (run(false, None, None, "exact"), run(true, None, None, "approx"), run(false, Some(0), Some(1), "empty"));
    let requests = |m: &spanlens::outcome::MetricsOutcome| m.tables[0].rows();
    assert_eq!(requests(&exact), requests(&approx), "approx changes percentiles only");
    assert_eq!(requests(&empty), 0, "a window before every span");
    let count: HashMap<&str, usize> = exact.tables.iter().map(|t| (t.name, t.rows())).collect();
    assert!(count["dependency_metrics"] > count["service_metrics"]);
}

#[test]
fn compat_python_reads_only_the_old_status_code_key() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("petclinic.json");
    std::fs::write(&input, petclinic()).unwrap();
    let mut p = plan(&[&input], &dir.path().join("py"), 60_000_000_000);
    p.metrics.signals.compat = spanlens::derive::Compat::Python;
    spanlens::commands::metrics::run_metrics(&p).unwrap();
    let got = block_on(async {
        let ctx = output_context(&dir.path().join("py")).await;
        rows(&ctx, "SELECT service, remote_service, operation, error, fault FROM signals WHERE service <> 'billing'")
            .await
    });
    // §9.1/§16.1: Python ignores http.response.status_code, so the 404 and the 500 are not
    // counted; §6.4: Python never reads server.address, so the vets call has no address; §5.1.4:
    // Python prefers http.target/http.url paths, and the vets span has only url.path. The IMDS
    // call is therefore not recognised (and not dropped) either.
    assert_eq!(
        got,
        [
            "frontend|AWS::DynamoDB|GET /owners/{id}|0|1",
            "frontend|UnknownRemoteService|GET /owners/{id}|0|0",
            "frontend|UnknownRemoteService|GET /owners/{id}|0|0",
            "frontend|postgresql|GET /owners/{id}|0|0",
            "frontend||GET /owners/{id}|0|0",
            "vets||GET /vets|0|0",
        ]
    );
}

/// Spans of consecutive resources share what is read from the resource only while the resource
/// is the same: same service name, different environments, instance ids and Lambda-ness.
#[test]
fn each_resource_keeps_its_own_environment_and_identity() {
    let server = |trace: &str| vec![span(trace, "00f067aa0ba902b7", "", 2, "GET /cart", 1, 10, false, &[])];
    let doc = json!({ "resourceSpans": [
        resource_spans(&[("service.name", json!("cart")), ("deployment.environment", json!("prod"))], server("01000000000000000000000000000001")),
        resource_spans(&[("service.name", json!("cart")), ("deployment.environment", json!("staging"))], server("01000000000000000000000000000002")),
        resource_spans(&[("service.name", json!("cart")), ("deployment.environment", json!("staging"))], server("01000000000000000000000000000003")),
        resource_spans(&[("service.name", json!("cart")), ("cloud.platform", json!("aws_lambda"))], server("01000000000000000000000000000004")),
        resource_spans(&[("service.name", json!("cart")), ("deployment.environment", json!("prod"))], server("01000000000000000000000000000005")),
    ]});
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("cart.json");
    std::fs::write(&input, doc.to_string()).unwrap();
    let out = dir.path().join("out");
    spanlens::commands::metrics::run_metrics(&plan(&[&input], &out, 60_000_000_000)).unwrap();
    let got = block_on(async {
        let ctx = output_context(&out).await;
        rows(&ctx, "SELECT encode(trace_id, 'hex'), environment, operation FROM signals ORDER BY trace_id").await
    });
    assert_eq!(
        got,
        [
            "01000000000000000000000000000001|prod|GET /cart",
            "01000000000000000000000000000002|staging|GET /cart",
            "01000000000000000000000000000003|staging|GET /cart",
            "01000000000000000000000000000004|lambda:default|cart/FunctionHandler",
            "01000000000000000000000000000005|prod|GET /cart",
        ]
    );
}

/// A `metrics` output given to `metrics` again is re-windowed from its signals without deriving
/// them: the tables equal those of the raw input with the same window and bucket (exact
/// percentiles; a t-digest depends on its merge order), the signals file is copied as it is,
/// run_info names what was read, and the result is again an input.
#[tokio::test(flavor = "multi_thread")]
async fn a_metrics_output_is_queried_again_without_deriving() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name);
    spanlens().args(["gen", "--spans", "20000", "--quiet", "--out"]).arg(p("data")).assert().success();
    spanlens().arg("metrics").arg(p("data")).arg("--out").arg(p("all")).arg("--quiet").assert().success();
    let window = ["--from", "2026-11-20T06:00:00Z", "--to", "2026-11-21T18:00:00Z", "--bucket", "15m"];
    spanlens().arg("metrics").arg(p("data")).args(window).arg("--out").arg(p("raw")).assert().success();
    spanlens()
        .arg("metrics")
        .arg(p("all"))
        .args(window)
        .arg("--out")
        .arg(p("again"))
        .assert()
        .success()
        .stdout(predicates::str::contains("frontend-api"))
        .stderr(predicates::str::contains(format!("read signals {}", p("all").join("signals.parquet").display())));
    spanlens()
        .arg("metrics")
        .arg(p("again"))
        .args(window)
        .arg("--out")
        .arg(p("twice"))
        .arg("--quiet")
        .assert()
        .success();
    for table in ["service_metrics", "operation_metrics", "dependency_metrics", "signals"] {
        let raw = std::fs::read(p("raw").join(format!("{table}.parquet"))).unwrap();
        for other in ["again", "twice"] {
            let bytes = std::fs::read(p(other).join(format!("{table}.parquet"))).unwrap();
            assert!(raw == bytes, "{table}.parquet differs between the raw input and {other}");
        }
    }
    // The window and bucket were applied, not the first run's.
    let all = std::fs::read(p("all").join("service_metrics.parquet")).unwrap();
    assert!(all != std::fs::read(p("again").join("service_metrics.parquet")).unwrap());
    let info = common::query_file(
        &p("again").join("run_info.parquet"),
        "SELECT key, value, text FROM t WHERE key IN ('signals_input', 'signal_spans', 'spans_read') ORDER BY key",
    )
    .await;
    // Flags that change the derivation do not apply to derived signals.
    for (command, flags) in [("metrics", ["--compat", "python"]), ("slo", ["--platform", "eks"])] {
        let mut cmd = spanlens();
        cmd.arg(command).arg(p("all")).args(flags).arg("--out").arg(p("refused"));
        if command == "slo" {
            cmd.arg("--slos").arg(common::fixture("slo").join("petclinic-slos.json"));
        }
        cmd.assert().code(2).stderr(predicates::str::contains(format!(
            "{} sets how spans are derived, but {} is a metrics output",
            flags[0],
            p("all").display()
        )));
        assert!(!p("refused").exists());
    }
    // A damaged or foreign signals file is an error that names it.
    std::fs::create_dir(p("fake")).unwrap();
    std::fs::copy(p("all").join("run_info.parquet"), p("fake").join("run_info.parquet")).unwrap();
    for (content, why) in [
        (b"junk".to_vec(), "Parquet"),
        (std::fs::read(p("all").join("service_metrics.parquet")).unwrap(), "it has no column record_type"),
    ] {
        std::fs::write(p("fake").join("signals.parquet"), content).unwrap();
        spanlens().arg("metrics").arg(p("fake")).arg("--out").arg(p("refused")).assert().code(2).stderr(
            predicates::str::contains(format!(
                "{} is not the signals table of a spanlens metrics output: ",
                p("fake").join("signals.parquet").display()
            ))
            .and(predicates::str::contains(why)),
        );
    }
    // No spans were read: the signals came from the file.
    assert_eq!(
        info,
        [format!("signals_input||{}", p("all").join("signals.parquet").display()), "spans_read|0|".into()]
    );
}

/// Each dependency dimension set of the spec (D1–D13) holds exactly the dependency records that
/// have every dimension of the set, grouped by them, with the other dimensions NULL: checked on
/// the generated pet-clinic workload (Lambda invokes with a RemoteEnvironment, DynamoDB and SQS
/// resources, HTTP calls without one) against a plain `GROUP BY` over its signals.
#[test]
fn dependency_dimension_sets_hold_the_records_with_all_their_dimensions() {
    const ALL: [&str; 8] = [
        "environment",
        "service",
        "operation",
        "remote_service",
        "remote_operation",
        "remote_environment",
        "remote_resource_type",
        "remote_resource_identifier",
    ];
    let rt = ["remote_resource_type", "remote_resource_identifier"];
    let set = |named: &[&str]| -> Vec<&'static str> { ALL.iter().copied().filter(|d| named.contains(d)).collect() };
    let base = ["environment", "service", "remote_service"];
    let sets: [(&str, Vec<&str>); 13] = [
        ("D1", set(&[&base[..], &["operation", "remote_operation", "remote_environment"], &rt].concat())),
        ("D2", set(&[&base[..], &["operation", "remote_operation", "remote_environment"]].concat())),
        ("D3", set(&[&base[..], &["operation", "remote_operation"], &rt].concat())),
        ("D4", set(&[&base[..], &["operation", "remote_operation"]].concat())),
        ("D5", set(&[&base[..], &["remote_environment"]].concat())),
        ("D6", set(&base)),
        ("D7", set(&[&base[..], &["remote_operation", "remote_environment"], &rt].concat())),
        ("D8", set(&[&base[..], &["remote_operation", "remote_environment"]].concat())),
        ("D9", set(&[&base[..], &["remote_operation"], &rt].concat())),
        ("D10", set(&[&base[..], &["remote_operation"]].concat())),
        ("D11", set(&[&base[..], &rt].concat())),
        ("D12", set(&[&["remote_service"], &rt[..]].concat())),
        ("D13", set(&["remote_service"])),
    ];
    let dir = tempfile::tempdir().unwrap();
    let (data, out) = (dir.path().join("data"), dir.path().join("out"));
    spanlens().args(["gen", "--traces", "3000", "--out"]).arg(&data).assert().success();
    spanlens().arg("metrics").arg(&data).arg("--out").arg(&out).arg("--quiet").assert().success();
    block_on(async {
        let ctx = output_context(&out).await;
        let mut filled = 0;
        for (name, dims) in &sets {
            let cells = |d: &str| if dims.contains(&d) { d.to_string() } else { format!("{d} IS NULL AS {d}") };
            let got = rows(
                &ctx,
                &format!(
                    "SELECT {}, requests, errors, faults, latency_min_ms, latency_max_ms FROM dependency_metrics \
                     WHERE dimension_set = '{name}' AND bucket_start IS NULL",
                    ALL.map(cells).join(", ")
                ),
            )
            .await;
            let want = rows(
                &ctx,
                &format!(
                    "SELECT {}, count(*), sum(error), sum(fault), min(latency_ms), max(latency_ms) FROM signals \
                     WHERE record_type = 'dependency' AND {} GROUP BY {}",
                    ALL.map(|d| if dims.contains(&d) { d.to_string() } else { format!("true AS {d}") }).join(", "),
                    dims.iter().map(|d| format!("{d} IS NOT NULL")).collect::<Vec<_>>().join(" AND "),
                    dims.join(", ")
                ),
            )
            .await;
            assert_eq!(got, want, "{name}: {dims:?}");
            filled += usize::from(!got.is_empty());
        }
        // D1 and D7 need a RemoteEnvironment and a resource together, which the workload has not.
        assert_eq!(filled, 11, "every other set has records");
    });
}

/// `--tables` writes only the tables asked for, each the same as a full run's, derived from only
/// the records they need: a signals file written with fewer kinds of records holds exactly the
/// full run's records of those kinds and names them, and a later run that needs another kind is
/// refused instead of writing empty tables. Spilled signals that are not an output leave no file.
#[tokio::test(flavor = "multi_thread")]
async fn tables_flag_computes_only_the_tables_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name);
    spanlens().args(["gen", "--traces", "2000", "--quiet", "--out"]).arg(p("data")).assert().success();
    let full = spanlens().arg("metrics").arg(p("data")).arg("--out").arg(p("all")).assert().success();
    let full_stdout = full.get_output().stdout.clone();
    assert!(!full_stdout.is_empty());
    let names = |dir: &Path| -> Vec<String> {
        let mut names: Vec<String> =
            std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        names
    };
    let signals_records = |out: &Path| {
        let info = out.join("run_info.parquet");
        async move { common::query_file(&info, "SELECT text FROM t WHERE key = 'signals_records'").await }
    };
    assert_eq!(signals_records(&p("all")).await, ["service,dependency"]);

    // (flag, the tables written besides run_info, in order; kinds of records derived; extra flags)
    let cases: [(&str, &[&str], &str, &[&str]); 6] = [
        ("service", &["service_metrics"], "service", &[]),
        ("operation,signals", &["operation_metrics", "signals"], "service", &[]),
        ("dependency", &["dependency_metrics"], "dependency", &[]),
        ("signals", &["signals"], "service,dependency", &[]),
        ("dependency,service", &["service_metrics", "dependency_metrics"], "service,dependency", &[]),
        ("service", &["service_metrics"], "service", &["--spill-threshold", "64KiB"]),
    ];
    for (flag, tables, records, extra) in cases {
        let out = p(&format!("t-{}-{}", flag.replace(',', "+"), extra.len()));
        let run = spanlens()
            .arg("metrics")
            .arg(p("data"))
            .args(["--tables", flag])
            .args(extra)
            .arg("--out")
            .arg(&out)
            .assert()
            .success();
        let mut expected: Vec<String> = tables.iter().map(|t| format!("{t}.parquet")).collect();
        expected.push("run_info.parquet".into());
        expected.sort();
        assert_eq!(names(&out), expected, "--tables {flag} {extra:?}");
        assert_eq!(signals_records(&out).await, [records], "--tables {flag}");
        let stdout = &run.get_output().stdout;
        match tables.contains(&"service_metrics") {
            true => assert_eq!(stdout, &full_stdout, "the services page of --tables {flag}"),
            false => assert!(stdout.is_empty(), "no services page without the service table: {flag}"),
        }
        let stderr = String::from_utf8_lossy(&run.get_output().stderr);
        // The summary names what was written, with its rows.
        let wrote = stderr.lines().find(|l| l.starts_with("wrote ")).unwrap_or_default();
        let inside = wrote.split_once('(').and_then(|(_, rest)| rest.split_once(')')).unwrap_or_default().0;
        let named: Vec<&str> = inside.split(", ").filter_map(|t| t.split_whitespace().next()).collect();
        assert_eq!(named, tables, "{wrote}");
        if !records.contains("dependency") {
            assert!(stderr.contains("and no dependency (not asked for) records"), "{stderr}");
        }
        for table in tables {
            let file = format!("{table}.parquet");
            let (a, b) = (p("all").join(&file), out.join(&file));
            if *table != "signals" || records == "service,dependency" {
                assert!(std::fs::read(&a).unwrap() == std::fs::read(&b).unwrap(), "{file} of --tables {flag}");
                continue;
            }
            // The full run's records of the kinds derived, and nothing else.
            let ctx = SessionContext::new();
            ctx.register_parquet("a", &a.display().to_string(), Default::default()).await.unwrap();
            ctx.register_parquet("b", &b.display().to_string(), Default::default()).await.unwrap();
            let kept = format!("SELECT * FROM a WHERE record_type = '{records}'");
            for sql in [format!("{kept} EXCEPT ALL SELECT * FROM b"), format!("SELECT * FROM b EXCEPT ALL {kept}")] {
                assert_eq!(rows(&ctx, &format!("SELECT count(*) FROM ({sql})")).await, ["0"], "{sql}");
            }
            let n = rows(&ctx, &format!("SELECT count(*) FROM ({kept})")).await;
            assert!(n[0].parse::<u64>().unwrap() > 1000, "{n:?}");
        }
    }

    // The service-only signals answer the tables of service records, as the full run did...
    let service_only = p("t-operation+signals-0");
    spanlens()
        .arg("metrics")
        .arg(&service_only)
        .args(["--tables", "operation,service", "--out"])
        .arg(p("again"))
        .assert()
        .success()
        .stdout(predicates::ord::eq(full_stdout.clone()));
    for table in ["service_metrics", "operation_metrics"] {
        let file = format!("{table}.parquet");
        assert!(std::fs::read(p("all").join(&file)).unwrap() == std::fs::read(p("again").join(&file)).unwrap());
    }
    // ...are copied as they are without a metric table...
    spanlens()
        .arg("metrics")
        .arg(&service_only)
        .args(["--tables", "signals", "--out"])
        .arg(p("copied"))
        .assert()
        .success()
        .stderr(predicates::str::contains("(signals.parquet copied)"));
    let copied = std::fs::read(p("copied").join("signals.parquet")).unwrap();
    assert!(copied == std::fs::read(service_only.join("signals.parquet")).unwrap());
    assert_eq!(
        common::query_file(&p("copied").join("run_info.parquet"), "SELECT text FROM t WHERE key = 'signals_records'")
            .await,
        ["service"]
    );
    // ...and refuse a table of dependency records.
    for flags in [&[][..], &["--tables", "dependency"][..]] {
        spanlens()
            .arg("metrics")
            .arg(&service_only)
            .args(flags)
            .arg("--out")
            .arg(p("refused"))
            .assert()
            .code(2)
            .stderr(predicates::str::contains(format!(
                "{} holds only service records (it was written for fewer tables), but this run needs",
                service_only.join("signals.parquet").display()
            )));
        assert!(!p("refused").exists());
    }
    // `slo` and `report` read both kinds.
    for command in ["slo", "report"] {
        let mut cmd = spanlens();
        cmd.arg(command).arg(&service_only).arg("--out").arg(p("refused"));
        if command == "slo" {
            cmd.arg("--slos").arg(common::fixture("slo").join("petclinic-slos.json"));
        }
        cmd.assert().code(2).stderr(predicates::str::contains("holds only service records"));
        assert!(!p("refused").exists());
    }
}

/// A derivation of Service records alone keeps only the attribute keys they read
/// (`derive::SERVICE_KEYS`) and gives exactly the full derivation's Service records: on the
/// hand-written pet-clinic export (ADOT-annotated spans, Lambda, IMDS), the generated workload
/// and every real sample, from raw input and from a span store (whose maps are cut after
/// reading; one sample has no valid span, so its store has no span file). In debug builds, as
/// here, a rule that reads a key the derivation did not keep fails an assertion.
#[test]
fn service_records_alone_need_only_the_service_keys() {
    let dir = tempfile::tempdir().unwrap();
    let petclinic_file = dir.path().join("petclinic.json");
    std::fs::write(&petclinic_file, petclinic()).unwrap();
    let mut inputs = vec![petclinic_file];
    for entry in std::fs::read_dir(common::fixture("otlp-samples")).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().is_some_and(|n| n != "SOURCES.md") {
            inputs.push(path);
        }
    }
    inputs.sort();
    let generated = dir.path().join("generated");
    spanlens().args(["gen", "--traces", "300", "--quiet", "--out"]).arg(&generated).assert().success();
    inputs.push(generated);
    let mut compared = 0;
    for (n, input) in inputs.iter().enumerate() {
        let store = dir.path().join(format!("store-{n}"));
        // One sample has a span without ids, skipped.
        spanlens().arg("ingest").arg(input).arg("--out").arg(&store).args(["-q", "--keep-going"]).assert().success();
        for (k, source) in [input.as_path(), store.as_path()].into_iter().enumerate() {
            let full = dir.path().join(format!("full-{n}-{k}"));
            let mut all = plan(&[source], &full, 60_000_000_000);
            all.decode.keep_going = true;
            spanlens::commands::metrics::run_metrics(&all).unwrap();
            let service = dir.path().join(format!("service-{n}-{k}"));
            let mut only = plan(&[source], &service, 60_000_000_000);
            only.decode.keep_going = true;
            only.metrics.tables = vec!["service_metrics", "operation_metrics"];
            only.metrics.signals.records = spanlens::metrics::record_kinds(&only.metrics.tables);
            assert!(!only.metrics.signals.records.dependency);
            let outcome = spanlens::commands::metrics::run_metrics(&only).unwrap();
            assert_eq!(outcome.input.derived.as_ref().unwrap().stats.dependency_records, 0);
            for table in ["service_metrics", "operation_metrics"] {
                let file = format!("{table}.parquet");
                let same = std::fs::read(full.join(&file)).unwrap() == std::fs::read(service.join(&file)).unwrap();
                assert!(same, "{file} of {} (input {k})", input.display());
            }
            compared += block_on(async {
                let ctx = SessionContext::new();
                for (name, out) in [("a", &full), ("b", &service)] {
                    let path = out.join("signals.parquet").display().to_string();
                    ctx.register_parquet(name, &path, Default::default()).await.unwrap();
                }
                let kept = "SELECT * FROM a WHERE record_type = 'service'";
                for sql in [format!("{kept} EXCEPT ALL SELECT * FROM b"), format!("SELECT * FROM b EXCEPT ALL {kept}")]
                {
                    let count = rows(&ctx, &format!("SELECT count(*) FROM ({sql})")).await;
                    assert_eq!(count, ["0"], "{}", input.display());
                }
                rows(&ctx, "SELECT count(*) FROM b").await[0].parse::<usize>().unwrap()
            });
        }
    }
    assert!(compared > 2000, "{compared} service records compared");
}
