//! Every shipped sample export, ingested end to end into a Parquet store and read back with
//! DataFusion: counts of spans, traces, services, kinds and statuses must equal the counts
//! measured independently in `fixtures/otlp-samples/SOURCES.md`.

mod common;

use common::{rows, sample, store_context};

struct Expect {
    file: &'static str,
    spans: u64,
    traces: u64,
    services: u64,
    kinds: &'static [&'static str],
    statuses: &'static [&'static str],
}

const EXPECTED: &[Expect] = &[
    Expect {
        file: "ymtdzzz__otel-tui__test_data.json",
        spans: 547,
        traces: 141,
        services: 8,
        kinds: &["CLIENT|243", "INTERNAL|27", "SERVER|277"],
        statuses: &["ERROR|107", "UNSET|440"],
    },
    Expect {
        file: "highlight__highlight__fs.json",
        spans: 218,
        traces: 2,
        services: 1,
        kinds: &["CLIENT|4", "INTERNAL|204", "SERVER|10"],
        statuses: &["ERROR|114", "UNSET|104"],
    },
    Expect {
        file: "highlight__highlight__traces.json",
        spans: 512,
        traces: 28,
        services: 0, // no service.name in this export
        kinds: &["INTERNAL|512"],
        statuses: &["ERROR|6", "UNSET|506"],
    },
    Expect {
        file: "highlight__highlight__nextjs.json",
        spans: 8,
        traces: 1,
        services: 1,
        kinds: &["CLIENT|3", "INTERNAL|3", "SERVER|2"],
        statuses: &["ERROR|2", "UNSET|6"],
    },
    Expect {
        file: "open-telemetry__opentelemetry-proto__trace.json",
        spans: 1,
        traces: 1,
        services: 1,
        kinds: &["SERVER|1"],
        statuses: &["UNSET|1"],
    },
    Expect {
        file: "jaegertracing__jaeger__otel_traces_01.json",
        spans: 4,
        traces: 2,
        services: 1,
        kinds: &["CLIENT|1", "CONSUMER|1", "PRODUCER|1", "SERVER|1"],
        statuses: &["ERROR|4"],
    },
    Expect {
        file: "jaegertracing__jaeger__example_trace.json",
        spans: 5,
        traces: 1,
        services: 3,
        kinds: &["CLIENT|1", "SERVER|1", "UNSPECIFIED|3"],
        statuses: &["UNSET|5"],
    },
    Expect {
        file: "jaegertracing__jaeger-ui__otlp2jaeger-multi-in.json.txt",
        spans: 4,
        traces: 1,
        services: 1,
        kinds: &["INTERNAL|4"],
        statuses: &["UNSET|4"],
    },
];

#[tokio::test]
async fn sample_exports_give_their_measured_counts() {
    for e in EXPECTED {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("store");
        let outcome = spanlens::commands::ingest::ingest(&common::plan(&[&sample(e.file)], &out, false)).unwrap();
        assert_eq!(outcome.store.rows, e.spans, "{}: rows written", e.file);
        let ctx = store_context(&out).await;
        let totals =
            rows(&ctx, "SELECT count(*), count(DISTINCT trace_id), count(DISTINCT service_name) FROM spans").await;
        assert_eq!(totals, vec![format!("{}|{}|{}", e.spans, e.traces, e.services)], "{}", e.file);
        let kinds = rows(&ctx, "SELECT kind, count(*) FROM spans GROUP BY kind").await;
        assert_eq!(kinds, e.kinds, "{}", e.file);
        let statuses = rows(&ctx, "SELECT status_code, count(*) FROM spans GROUP BY status_code").await;
        assert_eq!(statuses, e.statuses, "{}", e.file);
        let read = rows(&ctx, "SELECT value FROM run_info WHERE source = '' AND key = 'spans_read'").await;
        assert_eq!(read, vec![e.spans.to_string()], "{}", e.file);
    }
}

#[tokio::test]
async fn otel_demo_capture_details_survive_the_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("store");
    spanlens::commands::ingest::ingest(&common::plan(&[&sample("ymtdzzz__otel-tui__test_data.json")], &out, false))
        .unwrap();
    let ctx = store_context(&out).await;
    // Events and links (SOURCES.md: 139 events, 53 links).
    let nested = rows(&ctx, "SELECT sum(array_length(events)), sum(array_length(links)) FROM spans").await;
    assert_eq!(nested, vec!["139|53"]);
    // Log and metric lines are counted, not lost.
    let skipped = rows(&ctx, "SELECT reason, value FROM run_info WHERE source = '' AND key = 'records_skipped'").await;
    assert_eq!(skipped, vec!["logs_document|16", "metrics_document|40"]);
    // Services by name (SOURCES.md abbreviates them; these are the resource values).
    let services = rows(&ctx, "SELECT DISTINCT service_name FROM spans").await;
    let expected = [
        "adservice",
        "checkoutservice",
        "flagd",
        "frontend",
        "frontend-proxy",
        "loadgenerator",
        "productcatalogservice",
        "recommendationservice",
    ];
    assert_eq!(services, expected);
    // Hot columns are filled from attributes, and the attribute map stays queryable.
    let grpc = rows(&ctx, "SELECT count(*) FROM spans WHERE rpc_system = 'grpc' AND rpc_service IS NOT NULL").await;
    assert_ne!(grpc, vec!["0"]);
    let same =
        rows(&ctx, "SELECT count(*) FROM spans WHERE rpc_system IS DISTINCT FROM attributes['rpc.system']").await;
    assert_eq!(same, vec!["0"]);
    // One partition per UTC day of start_time; every row's start lies in its partition's day.
    let misplaced = rows(&ctx, "SELECT count(*) FROM spans WHERE to_char(start_time, '%Y-%m-%d') <> date").await;
    assert_eq!(misplaced, vec!["0"]);
    // Parents resolve within the capture for most child spans: ids are stored consistently.
    let joined = rows(
        &ctx,
        "SELECT count(*) FROM spans c JOIN spans p ON c.trace_id = p.trace_id AND c.parent_span_id = p.span_id",
    )
    .await;
    assert_ne!(joined, vec!["0"]);
}

#[tokio::test]
async fn spec_example_with_empty_ids_is_skipped_and_counted_with_keep_going() {
    let file = sample("open-telemetry__opentelemetry-specification__file-exporter-traces-example.jsonl");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("store");
    let err = spanlens::commands::ingest::ingest(&common::plan(&[&file], &out, false)).unwrap_err();
    assert!(err.to_string().contains("empty or all-zero trace id"), "{err}");
    assert!(!out.exists(), "a failed run leaves no output");

    let outcome = spanlens::commands::ingest::ingest(&common::plan(&[&file], &out, true)).unwrap();
    let s = &outcome.sources[0];
    assert_eq!((s.spans_read, s.spans_written), (8, 0));
    assert_eq!(s.spans_skipped.get("missing_trace_id"), Some(&8));
}

#[tokio::test]
async fn ids_read_back_as_hex_and_filter_by_decoded_hex() {
    // The canonical spec example writes ids in uppercase hex.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("store");
    spanlens::commands::ingest::ingest(&common::plan(
        &[&sample("open-telemetry__opentelemetry-proto__trace.json")],
        &out,
        false,
    ))
    .unwrap();
    let ctx = store_context(&out).await;
    let ids = rows(&ctx, "SELECT encode(trace_id, 'hex'), encode(span_id, 'hex') FROM spans").await;
    assert_eq!(ids, vec!["5b8efff798038103d269b633813fc60c|eee19b7ec3c1b174"]);
    let hit =
        rows(&ctx, "SELECT count(*) FROM spans WHERE trace_id = decode('5B8EFFF798038103D269B633813FC60C', 'hex')")
            .await;
    assert_eq!(hit, vec!["1"]);
}

#[tokio::test]
async fn readme_caller_callee_query_runs_on_the_demo_capture() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("store");
    spanlens::commands::ingest::ingest(&common::plan(&[&sample("ymtdzzz__otel-tui__test_data.json")], &out, false))
        .unwrap();
    let ctx = store_context(&out).await;
    let edges = rows(
        &ctx,
        "SELECT p.service_name AS caller, c.service_name AS callee, count(*) AS calls \
         FROM spans c JOIN spans p ON c.trace_id = p.trace_id AND c.parent_span_id = p.span_id \
         WHERE c.service_name <> p.service_name GROUP BY 1, 2",
    )
    .await;
    // Independent check: the same edges counted with a plain loop over the decoded rows.
    let all = rows(
        &ctx,
        "SELECT encode(trace_id, 'hex'), encode(span_id, 'hex'), coalesce(encode(parent_span_id, 'hex'), ''), \
         service_name FROM spans",
    )
    .await;
    let mut by_id = std::collections::HashMap::new();
    for line in &all {
        let f: Vec<&str> = line.split('|').collect();
        by_id.insert((f[0].to_string(), f[1].to_string()), f[3].to_string());
    }
    let mut counts: std::collections::BTreeMap<(String, String), u64> = Default::default();
    for line in &all {
        let f: Vec<&str> = line.split('|').collect();
        if let Some(parent) = by_id.get(&(f[0].to_string(), f[2].to_string()))
            && parent != f[3]
        {
            *counts.entry((parent.clone(), f[3].to_string())).or_default() += 1;
        }
    }
    let mut expected: Vec<String> = counts.iter().map(|((p, c), n)| format!("{p}|{c}|{n}")).collect();
    expected.sort();
    assert!(!expected.is_empty());
    assert_eq!(edges, expected);

    // The README's DDL for datafusion-cli reads the same store.
    let ddl = format!(
        "CREATE EXTERNAL TABLE readme_spans STORED AS PARQUET PARTITIONED BY (date) LOCATION '{}/'",
        out.join("spans").display()
    );
    ctx.sql(&ddl).await.unwrap().collect().await.unwrap();
    let n = rows(&ctx, "SELECT count(*), count(DISTINCT date) FROM readme_spans").await;
    assert_eq!(n, vec!["547|1"]);
}
