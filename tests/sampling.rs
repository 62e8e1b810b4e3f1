//! Sampling-aware counts: records of probability-sampled spans count their adjusted count in the
//! metric tables, exactly on a hand-made export and within statistical error of the unsampled
//! truth on generated data; `--sampling ignore` counts each record once; `run_info` and the
//! stderr summary say what was sampled and how it was counted.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::spanlens;
use predicates::prelude::PredicateBooleanExt;
use predicates::str::contains;
use serde_json::{Value, json};

const T0: u64 = 1_793_527_200_000_000_000; // 2026-11-01T10:00:00Z

/// A SERVER root span of its own trace (`n` makes both ids), `ms` long, with an HTTP status, a
/// tracestate and span attributes.
fn server(n: u64, ms: u64, status: i64, trace_state: &str, extra: &[(&str, &str)]) -> Value {
    let start = T0 + n * 1_000_000_000;
    let mut attributes = vec![
        json!({"key": "http.request.method", "value": {"stringValue": "GET"}}),
        json!({"key": "http.route", "value": {"stringValue": "/items"}}),
        json!({"key": "http.response.status_code", "value": {"intValue": status.to_string()}}),
    ];
    for (k, v) in extra {
        attributes.push(json!({"key": k, "value": {"stringValue": v}}));
    }
    json!({
        "traceId": format!("{n:032x}"), "spanId": format!("{n:016x}"), "traceState": trace_state,
        "name": "GET /items", "kind": 2,
        "startTimeUnixNano": start.to_string(), "endTimeUnixNano": (start + ms * 1_000_000).to_string(),
        "attributes": attributes
    })
}

fn resource(service: &str, extra: &[(&str, &str)], spans: Vec<Value>) -> Value {
    let mut attributes = vec![
        json!({"key": "service.name", "value": {"stringValue": service}}),
        json!({"key": "deployment.environment.name", "value": {"stringValue": "prod"}}),
    ];
    for (k, v) in extra {
        attributes.push(json!({"key": k, "value": {"stringValue": v}}));
    }
    json!({"resource": {"attributes": attributes}, "scopeSpans": [{"scope": {"name": "t"}, "spans": spans}]})
}

/// `spanlens sql INPUT -e STATEMENT` as CSV lines without the header.
fn sql(input: &Path, statement: &str) -> Vec<String> {
    let run = spanlens().arg("sql").arg(input).args(["--format", "csv", "-e", statement]).assert().success();
    String::from_utf8(run.get_output().stdout.clone()).unwrap().lines().skip(1).map(String::from).collect()
}

/// The hand-made export: `web` spans sampled by threshold (4 and 2), by the older p (8), by a
/// span SampleRate (10) and not at all (1); `api` spans under a resource SampleRate of 20, one
/// with its own SampleRate (5, the span's wins) and one with a threshold (4, tracestate wins).
fn export(dir: &Path) -> std::path::PathBuf {
    let doc = json!({"resourceSpans": [
        resource("web", &[], vec![
            server(1, 10, 200, "ot=th:c", &[]),
            server(2, 20, 500, "vendor=x,ot=th:8", &[]),
            server(3, 30, 404, "ot=p:3;r:10", &[]),
            server(4, 40, 200, "", &[("SampleRate", "10")]),
            server(5, 50, 200, "", &[]),
        ]),
        resource("api", &[("SampleRate", "20")], vec![
            server(6, 100, 200, "", &[]),
            server(7, 200, 503, "", &[("SampleRate", "5")]),
            server(8, 300, 200, "ot=th:c", &[]),
        ]),
    ]});
    let path = dir.join("sampled.json");
    std::fs::write(&path, serde_json::to_vec(&doc).unwrap()).unwrap();
    path
}

const WINDOW: &str = "SELECT service, requests, errors, faults, latency_avg_ms, latency_p50_ms, latency_p90_ms, \
                      latency_p99_ms FROM service_metrics WHERE bucket_start IS NULL ORDER BY service";

#[test]
fn adjusted_counts_weigh_requests_errors_faults_and_percentiles_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let input = export(dir.path());
    let out = dir.path().join("out");
    spanlens().arg("metrics").arg(&input).arg("--out").arg(&out).assert().success().stderr(
        contains("sampling: 7 of 8 spans (87.5 %) were probability-sampled")
            .and(contains("adjusted: the 8 records stand for 54 requests")),
    );
    // web: 4 + 2 + 8 + 10 + 1 = 25 requests; the 404 (weight 8) is an error, the 500 (2) a
    // fault; latencies 10×4, 20×2, 30×8, 40×10, 50×1: mean 770/25, p50 rank 12 → 30, p90 rank
    // 21.6 → 40, p99 rank 23.76 → 40 + 0.76 × 10.
    // api: 20 + 5 + 4 = 29; the 503 (5) a fault; 100×20, 200×5, 300×4: mean 4200/29, p50 rank
    // 14 → 100, p90 rank 25.2 → 300 (ranks 25 and 26 are both 300), p99 rank 27.72 → 300.
    let rows = sql(&out, WINDOW);
    assert_eq!(rows.len(), 2, "{rows:?}");
    let fields = |row: &str| -> Vec<f64> { row.split(',').skip(1).map(|v| v.parse().unwrap()).collect() };
    let close = |got: Vec<f64>, want: [f64; 7]| {
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-9, "{got:?} != {want:?}");
        }
    };
    assert!(rows[0].starts_with("api,"));
    close(fields(&rows[0]), [29.0, 0.0, 5.0, 4200.0 / 29.0, 100.0, 300.0, 300.0]);
    close(fields(&rows[1]), [25.0, 8.0, 2.0, 30.8, 30.0, 40.0, 47.6]);
    // Each record carries its count.
    let counts = sql(&out, "SELECT adjusted_count FROM signals ORDER BY span_id");
    assert_eq!(counts, ["4", "2", "8", "10", "1", "20", "5", "4"]);
    // run_info says how the spans were sampled and counted.
    let info = sql(
        &out,
        "SELECT key, coalesce(reason, ''), coalesce(CAST(value AS VARCHAR), text) FROM run_info \
         WHERE key IN ('sampling', 'sampled_spans', 'adjusted_records') ORDER BY 1, 2",
    );
    assert_eq!(
        info,
        [
            "adjusted_records,,54",
            "sampled_spans,,7",
            "sampled_spans,sample_rate_attribute,3",
            "sampled_spans,tracestate_p,1",
            "sampled_spans,tracestate_th,3",
            "sampling,,adjust",
        ]
    );

    // --sampling ignore: every record counts once, plain percentiles.
    let plain = dir.path().join("plain");
    spanlens()
        .arg("metrics")
        .arg(&input)
        .args(["--sampling", "ignore", "--out"])
        .arg(&plain)
        .assert()
        .success()
        .stderr(contains("not adjusted (--sampling ignore)"));
    let rows = sql(&plain, WINDOW);
    close(fields(&rows[0]), [3.0, 0.0, 1.0, 200.0, 200.0, 280.0, 298.0]);
    close(fields(&rows[1]), [5.0, 1.0, 1.0, 30.0, 30.0, 46.0, 49.6]);
    assert_eq!(sql(&plain, "SELECT DISTINCT adjusted_count FROM signals"), ["1"]);
    assert_eq!(sql(&plain, "SELECT text FROM run_info WHERE key = 'sampling'"), ["ignore"]);
    // A metrics output of an earlier spanlens, without the column, is refused with a hint.
    let old = dir.path().join("old");
    std::fs::create_dir(&old).unwrap();
    std::fs::copy(out.join("run_info.parquet"), old.join("run_info.parquet")).unwrap();
    spanlens()
        .arg("sql")
        .arg(&out)
        .args(["-e", "SELECT * EXCLUDE (adjusted_count) FROM signals", "--format", "parquet", "--out"])
        .arg(old.join("signals.parquet"))
        .assert()
        .success();
    spanlens()
        .arg("metrics")
        .arg(&old)
        .arg("--out")
        .arg(dir.path().join("from-old"))
        .assert()
        .code(2)
        .stderr(contains("no column adjusted_count: an earlier spanlens wrote it"));
    // Signals already derived cannot be counted another way.
    spanlens()
        .arg("metrics")
        .arg(&out)
        .args(["--sampling", "ignore", "--out"])
        .arg(dir.path().join("again"))
        .assert()
        .code(2)
        .stderr(contains("--sampling sets how spans are derived"));
}

/// A consistent probability sampler keeps each trace with probability 1/4 and marks its spans
/// `th:c`: the adjusted counts estimate the unsampled run's requests and faults of every
/// service within five standard errors, computed from the unsampled run's records per trace.
#[test]
fn adjusted_counts_of_a_sampled_run_estimate_the_unsampled_truth() {
    let dir = tempfile::tempdir().unwrap();
    let (all, some) = (dir.path().join("all"), dir.path().join("some"));
    for (out, extra) in [(&all, &[][..]), (&some, &["--sample", "0.25"][..])] {
        spanlens().arg("gen").arg("--out").arg(out).args(["--traces", "6000"]).args(extra).assert().success();
    }
    let (all_out, some_out) = (dir.path().join("all-m"), dir.path().join("some-m"));
    for (input, out) in [(&all, &all_out), (&some, &some_out)] {
        spanlens().arg("metrics").arg(input).arg("--out").arg(out).arg("--quiet").assert().success();
    }
    let totals = |out: &Path| -> BTreeMap<String, (f64, f64)> {
        sql(out, "SELECT service, requests, faults FROM service_metrics WHERE bucket_start IS NULL")
            .iter()
            .map(|r| {
                let f: Vec<&str> = r.split(',').collect();
                (f[0].to_string(), (f[1].parse().unwrap(), f[2].parse().unwrap()))
            })
            .collect()
    };
    let (truth, estimate) = (totals(&all_out), totals(&some_out));
    // Var(estimate) = Σ over traces of c² (1 − p) / p, with c a trace's requests (or faults)
    // of the service: whole traces are kept or dropped.
    let mut variance: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    let per_trace = "SELECT service, COUNT(*), SUM(fault) FROM signals WHERE record_type = 'service' \
                     GROUP BY service, trace_id";
    for r in sql(&all_out, per_trace) {
        let f: Vec<&str> = r.split(',').collect();
        let (c, faults): (f64, f64) = (f[1].parse().unwrap(), f[2].parse().unwrap());
        let v = variance.entry(f[0].to_string()).or_default();
        v.0 += c * c * 3.0;
        v.1 += faults * faults * 3.0;
    }
    assert!(truth.len() >= 5, "{truth:?}");
    for (service, (requests, faults)) in &truth {
        let (est_requests, est_faults) = estimate.get(service).copied().unwrap_or_default();
        let (var_requests, var_faults) = variance[service];
        assert!(
            (est_requests - requests).abs() <= 5.0 * var_requests.sqrt(),
            "{service}: {est_requests} requests estimated, {requests} true (sd {})",
            var_requests.sqrt()
        );
        assert!(
            (est_faults - faults).abs() <= 5.0 * var_faults.sqrt().max(1.0),
            "{service}: {est_faults} faults estimated, {faults} true (sd {})",
            var_faults.sqrt()
        );
    }
    // Counted as exported instead, the sampled run sees about a quarter of the requests.
    let exported: f64 =
        sql(&some_out, "SELECT COUNT(*) FROM signals WHERE record_type = 'service'")[0].parse().unwrap();
    let adjusted: f64 =
        sql(&some_out, "SELECT SUM(adjusted_count) FROM signals WHERE record_type = 'service'")[0].parse().unwrap();
    assert_eq!(adjusted, exported * 4.0);
}
