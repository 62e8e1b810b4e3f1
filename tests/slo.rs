//! `spanlens slo` end to end: the same SLO tables from raw OTLP, from a span store and from a
//! `metrics` output; request counts that agree with the metric tables; exit codes (1 for a
//! breached SLO, 2 for bad definitions or flags); SLOs evaluated before any data.

mod common;

use common::{query_file as query, spanlens};
use predicates::prelude::PredicateBooleanExt;
use predicates::str::contains;

fn slos_fixture() -> std::path::PathBuf {
    common::fixture("slo").join("petclinic-slos.json")
}

#[tokio::test(flavor = "multi_thread")]
async fn raw_store_and_metrics_inputs_give_the_same_tables() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name);
    spanlens().args(["gen", "--spans", "20000", "--quiet", "--out"]).arg(p("data")).assert().success();
    spanlens().arg("metrics").arg(p("data")).arg("--out").arg(p("m")).arg("--quiet").assert().success();
    spanlens().arg("ingest").arg(p("data")).arg("--out").arg(p("store")).arg("--quiet").assert().success();
    for (input, out) in [("data", "s-raw"), ("store", "s-store"), ("m", "s-metrics")] {
        // frontend-availability is breached in this workload: exit code 1, outputs written.
        spanlens()
            .arg("slo")
            .arg(p(input))
            .arg("--slos")
            .arg(slos_fixture())
            .arg("--out")
            .arg(p(out))
            .assert()
            .code(1)
            .stdout(contains("frontend-availability").and(contains("BREACHED")))
            .stderr(contains("slos: 4 evaluated at 2026-11-22T23:59:00Z: 1 BREACHED, 2 OK, 1 WARNING"));
    }
    for table in ["slos", "slo_periods", "slo_burn_rates"] {
        let raw = std::fs::read(p("s-raw").join(format!("{table}.parquet"))).unwrap();
        for other in ["s-store", "s-metrics"] {
            let bytes = std::fs::read(p(other).join(format!("{table}.parquet"))).unwrap();
            assert!(raw == bytes, "{table}.parquet differs between raw input and {other}");
        }
    }
    // The request-based availability SLO counts what service_metrics counts for the service
    // (the 7-day window holds the whole generated week).
    let metrics = query(
        &p("m").join("service_metrics.parquet"),
        "SELECT requests, faults FROM t WHERE service = 'frontend-api' AND bucket_start IS NULL",
    )
    .await;
    let slo = query(
        &p("s-raw").join("slos.parquet"),
        "SELECT requests, bad_requests FROM t WHERE slo = 'frontend-availability'",
    )
    .await;
    assert_eq!(metrics, slo);
    let (requests, faults) = metrics[0].split_once('|').unwrap();
    let (requests, faults): (f64, f64) = (requests.parse().unwrap(), faults.parse().unwrap());
    let status = query(
        &p("s-raw").join("slos.parquet"),
        "SELECT attainment, budget_requests_remaining, status FROM t WHERE slo = 'frontend-availability'",
    )
    .await;
    let cells: Vec<&str> = status[0].split('|').collect();
    assert!((cells[0].parse::<f64>().unwrap() - 100.0 * (requests - faults) / requests).abs() < 1e-9);
    assert!((cells[1].parse::<f64>().unwrap() - (requests * 0.005 - faults)).abs() < 1e-9);
    assert_eq!(cells[2], "BREACHED");
    // run_info says what was evaluated.
    let info = query(
        &p("s-raw").join("run_info.parquet"),
        "SELECT key, reason, value, text FROM t WHERE key IN ('slos', 'slo_status', 'evaluated_at') ORDER BY key, reason",
    )
    .await;
    assert_eq!(
        info,
        [
            "evaluated_at|||2026-11-22T23:59:00Z",
            "slo_status|BREACHED|1|",
            "slo_status|OK|2|",
            "slo_status|WARNING|1|",
            "slos||4|",
        ]
    );
}

#[test]
fn exit_codes_and_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name);
    let input = common::sample("ymtdzzz__otel-tui__test_data.json");
    // An SLO that holds: exit 0.
    let lenient = r#"{"Name": "frontend-up", "RequestBasedSliConfig": {"RequestBasedSliMetricConfig": {
        "KeyAttributes": {"Type": "Service", "Name": "frontend"}, "MetricType": "AVAILABILITY"}},
        "Goal": {"AttainmentGoal": 50}}"#;
    std::fs::write(p("ok.json"), lenient).unwrap();
    spanlens()
        .arg("slo")
        .arg(&input)
        .arg("--slos")
        .arg(p("ok.json"))
        .arg("--out")
        .arg(p("out"))
        .assert()
        .code(0)
        .stdout(contains("frontend-up"));
    // Evaluated before the data: nothing to judge, exit 0.
    spanlens()
        .arg("slo")
        .arg(&input)
        .args(["--at", "2000-01-01", "--quiet", "--slos"])
        .arg(p("ok.json"))
        .arg("--out")
        .arg(p("early"))
        .assert()
        .code(0)
        .stdout(contains("INSUFFICIENT_DATA"));
    // A bad definition: exit 2, the file and the problem named, nothing written.
    std::fs::write(
        p("bad.json"),
        lenient.replace("\"Goal\": {\"AttainmentGoal\": 50}", "\"Goal\": {\"AttainmentGoal\": 150}"),
    )
    .unwrap();
    spanlens()
        .arg("slo")
        .arg(&input)
        .arg("--slos")
        .arg(p("bad.json"))
        .arg("--out")
        .arg(p("bad"))
        .assert()
        .code(2)
        .stderr(contains("bad.json: SLO \"frontend-up\": AttainmentGoal must be above 0 and below 100, not 150"));
    assert!(!p("bad").exists());
    let cases: [(&[&str], &str); 3] = [
        (&["--at", "soon"], "--at: \"soon\" is neither RFC 3339"),
        (&["--slos", "/nonexistent/slos.json"], "cannot read /nonexistent/slos.json"),
        (&["--no-data", "maybe"], "invalid value 'maybe'"),
    ];
    for (flags, message) in cases {
        let mut cmd = spanlens();
        cmd.arg("slo").arg(&input).arg("--out").arg(p("flags"));
        if !flags.contains(&"--slos") {
            cmd.arg("--slos").arg(p("ok.json"));
        }
        cmd.args(flags).assert().code(2).stderr(contains(message));
    }
}
