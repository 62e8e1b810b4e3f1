//! Derivation and metrics throughput: the signals table derived from span batches (trace by
//! trace), the whole metrics computation (signals plus every metric query, and Service records
//! with the service table alone, as `--tables service` computes them), each metric query
//! alone, and the evaluation of four SLOs over the derived signals, in spans/s.
//!
//! Run: `cargo bench --bench metrics` (set SPANLENS_BENCH_SPANS to change the data size).

use arrow::array::RecordBatch;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use datafusion::prelude::SessionContext;
use spanlens::ingest::{DecodeOptions, decode_bytes};
use spanlens::metrics::{METRIC_QUERIES, METRIC_TABLES, MetricsOptions, compute, record_kinds, register_spans};
use spanlens::signals::{SignalOptions, derive_signals};
use spanlens::testing::{encode_json, synthetic_traces};

const SPANS_PER_TRACE: usize = 6;
const TRACES_PER_DOCUMENT: usize = 500;

fn batches() -> (u64, Vec<RecordBatch>) {
    let spans: usize = std::env::var("SPANLENS_BENCH_SPANS").ok().and_then(|v| v.parse().ok()).unwrap_or(200_000);
    let documents = (spans / SPANS_PER_TRACE).div_ceil(TRACES_PER_DOCUMENT);
    let mut json = Vec::new();
    for d in 0..documents {
        let start = 1_700_000_000_000_000_000 + d as u64 * 1_000_000_000;
        json.extend(encode_json(&synthetic_traces(d as u64, TRACES_PER_DOCUMENT, SPANS_PER_TRACE, start)).into_bytes());
        json.push(b'\n');
    }
    let decoded = decode_bytes("bench", &json, &DecodeOptions::default()).expect("bench data decodes");
    (decoded.stats.spans_written, decoded.batches)
}

fn context(batches: &[RecordBatch]) -> SessionContext {
    let ctx = SessionContext::new();
    register_spans(&ctx, batches.to_vec(), rayon::current_num_threads()).unwrap();
    ctx
}

fn bench_metrics(c: &mut Criterion) {
    let (spans, batches) = batches();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let opts = MetricsOptions {
        signals: SignalOptions::default(),
        tables: METRIC_TABLES.to_vec(),
        graph_tables: Vec::new(),
        peer_attributes: Vec::new(),
        bucket_ns: 3_600_000_000_000,
        from: None,
        to: None,
        approx: false,
        spill: Default::default(),
    };
    let mut group = c.benchmark_group("metrics");
    group.sample_size(10);
    group.throughput(Throughput::Elements(spans));
    group.bench_function("derive_signals", |b| {
        b.iter(|| runtime.block_on(derive_signals(&context(&batches), &opts.signals)).unwrap())
    });
    group.bench_function("derive_and_all_queries", |b| {
        b.iter(|| runtime.block_on(compute(&context(&batches), &opts)).unwrap())
    });
    // `metrics --tables service`: Service records only, and the service table.
    let service = MetricsOptions {
        signals: SignalOptions { records: record_kinds(&["service_metrics"]), ..SignalOptions::default() },
        tables: vec!["service_metrics"],
        ..opts.clone()
    };
    group.bench_function("derive_and_service_table", |b| {
        b.iter(|| runtime.block_on(compute(&context(&batches), &service)).unwrap())
    });
    let approx = MetricsOptions { approx: true, ..opts.clone() };
    group.bench_function("derive_and_all_queries_approx", |b| {
        b.iter(|| runtime.block_on(compute(&context(&batches), &approx)).unwrap())
    });
    group.finish();

    // Each metric query alone, over signals already derived (registered by one compute run;
    // `dependency_metrics` reads the `dependency_groups` that run registered).
    let ctx = context(&batches);
    runtime.block_on(compute(&ctx, &opts)).unwrap();
    let mut queries = c.benchmark_group("metric_queries");
    queries.sample_size(10);
    queries.throughput(Throughput::Elements(spans));
    for name in METRIC_QUERIES {
        let sql = spanlens::queries::get(name).unwrap().sql;
        queries.bench_function(name, |b| {
            b.iter(|| runtime.block_on(async { ctx.sql(sql).await.unwrap().collect().await.unwrap() }))
        });
    }
    queries.finish();

    // SLO evaluation over the same signals: request- and period-based, latency and
    // availability, one of them on every record of a service, with burn-rate windows.
    let defs = spanlens::slo::parse_definitions(SLOS).unwrap();
    let at = runtime.block_on(spanlens::slo::default_evaluation_time(&ctx)).unwrap().unwrap();
    let report = runtime.block_on(spanlens::slo::evaluate(&ctx, &defs, at, false)).unwrap();
    assert!(!report.statuses.contains_key("INSUFFICIENT_DATA"), "every SLO reads records: {:?}", report.statuses);
    let mut slo = c.benchmark_group("slo");
    slo.sample_size(10);
    slo.throughput(Throughput::Elements(spans));
    slo.bench_function("evaluate_4_slos", |b| {
        b.iter(|| runtime.block_on(spanlens::slo::evaluate(&ctx, &defs, at, false)).unwrap())
    });
    slo.finish();
}

const SLOS: &str = r#"[
  {"Name": "frontend-availability",
   "RequestBasedSliConfig": {"RequestBasedSliMetricConfig": {
     "KeyAttributes": {"Name": "frontend"}, "MetricType": "AVAILABILITY"}},
   "Goal": {"Interval": {"RollingInterval": {"DurationUnit": "HOUR", "Duration": 2}}, "AttainmentGoal": 99.5},
   "BurnRateConfigurations": [{"LookBackWindowMinutes": 5}, {"LookBackWindowMinutes": 60}]},
  {"Name": "checkout-p99",
   "SliConfig": {"SliMetricConfig": {"KeyAttributes": {"Name": "checkout"}, "MetricType": "LATENCY",
     "Statistic": "p99", "PeriodSeconds": 60}, "MetricThreshold": 250, "ComparisonOperator": "LessThan"},
   "Goal": {"Interval": {"RollingInterval": {"DurationUnit": "HOUR", "Duration": 2}}},
   "BurnRateConfigurations": [{"LookBackWindowMinutes": 60}]},
  {"Name": "cart-availability",
   "SliConfig": {"SliMetricConfig": {"KeyAttributes": {"Name": "cart"}, "MetricType": "AVAILABILITY"},
     "MetricThreshold": 99, "ComparisonOperator": "GreaterThanOrEqualTo"},
   "Goal": {"Interval": {"RollingInterval": {"DurationUnit": "HOUR", "Duration": 2}}}},
  {"Name": "payment-latency",
   "RequestBasedSliConfig": {"RequestBasedSliMetricConfig": {"KeyAttributes": {"Name": "payment"},
     "MetricType": "LATENCY"}, "MetricThreshold": 100, "ComparisonOperator": "LessThanOrEqualTo"},
   "Goal": {"Interval": {"RollingInterval": {"DurationUnit": "HOUR", "Duration": 2}}}}
]"#;

criterion_group!(benches, bench_metrics);
criterion_main!(benches);
