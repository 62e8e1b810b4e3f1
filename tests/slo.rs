//! `spanlens slo` end to end: the same SLO tables from raw OTLP, from a span store and from a
//! `metrics` output; request counts that agree with the metric tables; the burn-rate alerts
//! replayed over the generated incidents; exit codes (1 for a breached SLO, 2 for bad
//! definitions or flags); SLOs evaluated before any data.

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
    for table in ["slos", "slo_periods", "slo_burn_rates", "slo_burn_series", "slo_alerts"] {
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

/// OpenSLO objectives (fixtures/slo/petclinic-openslo.yaml) evaluated like their Application
/// Signals twins in petclinic-slos.json where the semantics coincide; a refused OpenSLO file is
/// exit 2 naming the file and the field.
#[tokio::test(flavor = "multi_thread")]
async fn openslo_objectives_evaluate_like_their_application_signals_twins() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name);
    spanlens().args(["gen", "--spans", "20000", "--quiet", "--out"]).arg(p("data")).assert().success();
    spanlens().arg("metrics").arg(p("data")).arg("--out").arg(p("m")).arg("--quiet").assert().success();
    spanlens().arg("slo").arg(p("m")).arg("--slos").arg(slos_fixture()).arg("--out").arg(p("as")).assert().code(1);
    let openslo = common::fixture("slo").join("petclinic-openslo.yaml");
    spanlens()
        .arg("slo")
        .arg(p("m"))
        .arg("--slos")
        .arg(&openslo)
        .arg("--out")
        .arg(p("os"))
        .assert()
        .code(1)
        .stdout(
            contains("frontend-client-errors/strict")
                .and(contains("requests with latency <= 300 ms >= 99 % per 300s"))
                .and(contains("requests without error")),
        )
        .stderr(contains("slos: 7 evaluated"));
    let twins = "SELECT slo, requests, bad_requests, periods_bad, attainment, status FROM t \
                 WHERE slo IN ('frontend-availability', 'payment-availability-daily') ORDER BY slo";
    let as_rows = query(&p("as").join("slos.parquet"), twins).await;
    assert_eq!(as_rows.len(), 2);
    assert_eq!(query(&p("os").join("slos.parquet"), twins).await, as_rows);
    // The error objectives count the front end's 4xx, as service_metrics does.
    let errors = query(
        &p("m").join("service_metrics.parquet"),
        "SELECT requests, errors FROM t WHERE service = 'frontend-api' AND bucket_start IS NULL",
    )
    .await;
    let objectives = query(
        &p("os").join("slos.parquet"),
        "SELECT DISTINCT requests, bad_requests FROM t WHERE slo LIKE 'frontend-client-errors/%'",
    )
    .await;
    assert_eq!(objectives, errors);
    // Each time slice's value is the share of its requests at most 300 ms.
    let slices = query(
        &p("os").join("slo_periods.parquet"),
        "SELECT COUNT(*) FROM t WHERE slo = 'billing-latency-slices' AND (value < 0 OR value > 100 OR good <> (value >= 99))",
    )
    .await;
    assert_eq!(slices, ["0"]);
    // Refused: the file, the SLO and the field named; exit 2, nothing written.
    let text = std::fs::read_to_string(&openslo)
        .unwrap()
        .replace("budgetingMethod: Occurrences", "budgetingMethod: TimeSlices");
    std::fs::write(p("refused.yaml"), text).unwrap();
    spanlens()
        .arg("slo")
        .arg(p("m"))
        .arg("--slos")
        .arg(p("refused.yaml"))
        .arg("--out")
        .arg(p("refused"))
        .assert()
        .code(2)
        .stderr(contains(
            "refused.yaml: SLO \"frontend-availability\": spec.budgetingMethod \"TimeSlices\" is unknown",
        ));
    assert!(!p("refused").exists());
}

/// `2026-11-16` plus a fraction of the generated week, as `YYYY-MM-DDTHH:MM:SSZ`.
fn week_at(fraction: f64) -> String {
    let start = chrono::DateTime::parse_from_rfc3339("2026-11-16T00:00:00Z").unwrap().timestamp();
    let t = start + (fraction * 7.0 * 86_400.0).round() as i64;
    chrono::DateTime::from_timestamp(t, 0).unwrap().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn burn_rate_alerts_fire_on_the_generated_incidents() {
    // The generator's scripted incidents (docs/gen.md): payment-service answers 503 to 40 % of
    // requests from 70 % to 72 % of the week, billing-service's database calls are 8x slower from
    // 40 % to 45 %.
    let (burst, burst_end) = (week_at(0.70), week_at(0.72));
    let (slow, slow_end) = (week_at(0.40), week_at(0.45));
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name);
    spanlens().args(["gen", "--spans", "200000", "--quiet", "--out"]).arg(p("data")).assert().success();
    let payment = r#"[{"Name": "payment-availability",
        "RequestBasedSliConfig": {"RequestBasedSliMetricConfig": {
          "KeyAttributes": {"Type": "Service", "Name": "payment-service", "Environment": "eks:pet-clinic/pet-clinic"},
          "MetricType": "AVAILABILITY"}},
        "Goal": {"Interval": {"RollingInterval": {"DurationUnit": "DAY", "Duration": 7}}, "AttainmentGoal": 99.9}}]"#;
    std::fs::write(p("payment.json"), payment).unwrap();
    let openslo = common::fixture("slo").join("petclinic-openslo.yaml");
    for (slos, out) in [(p("payment.json"), "payment"), (slos_fixture(), "fixture"), (openslo, "openslo")] {
        // Exit code 1: billing-latency is breached.
        let code = spanlens().arg("slo").arg(p("data")).arg("--slos").arg(slos).arg("--out").arg(p(out)).assert();
        assert!(matches!(code.get_output().status.code(), Some(0 | 1)), "{code:?}");
    }
    let alerts = |dir: &str, slo: &str, rule: &str| {
        let sql = format!(
            "SELECT fired_at, COALESCE(CAST(resolved_at AS VARCHAR), 'open') FROM t \
             WHERE slo = '{slo}' AND rule = '{rule}' ORDER BY fired_at"
        );
        let file = p(dir).join("slo_alerts.parquet");
        async move {
            query(&file, &sql)
                .await
                .into_iter()
                .map(|r| {
                    let (a, b) = r.split_once('|').unwrap();
                    (a.to_string(), b.to_string())
                })
                .collect::<Vec<_>>()
        }
    };
    // The fault burst (400x the budget) pages at 14.4x over 1 hour and 5 minutes within half an
    // hour of its start (payment-service has a request every few minutes, so the 5-minute window
    // fires and clears as requests come), and almost every paging minute lies in the burst: a
    // quiet 5-minute window with one random fault can page too, as the SRE workbook warns for
    // low-traffic services.
    let pages = alerts("payment", "payment-availability", "14.4x over 1h and 5m").await;
    let minutes = |(fired, resolved): &(String, String)| {
        let t = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap().timestamp() / 60;
        t(resolved) - t(fired)
    };
    let in_burst =
        |(fired, _): &&(String, String)| fired.as_str() >= burst.as_str() && fired.as_str() < burst_end.as_str();
    let first =
        pages.iter().find(in_burst).unwrap_or_else(|| panic!("no page in the burst ({burst}..{burst_end}): {pages:?}"));
    assert!(first.0.as_str() <= week_at(0.70 + 0.003).as_str(), "paged late: {first:?}");
    let inside: i64 = pages.iter().filter(in_burst).map(minutes).sum();
    let all: i64 = pages.iter().map(minutes).sum();
    assert!(inside * 10 >= all * 8, "{inside} of {all} paging minutes in the burst: {pages:?}");
    assert!(pages.iter().filter(in_burst).all(|(_, r)| r.as_str() <= week_at(0.72 + 0.002).as_str()), "{pages:?}");
    // The latency regression fails billing-latency's 5-minute periods for hours: the slower
    // 6x over 6 hours and 30 minutes fires while it lasts.
    let slower = alerts("fixture", "billing-latency", "6x over 6h and 30m").await;
    let from = week_at(0.40 - 0.002);
    let during = |(fired, _): &(String, String)| fired.as_str() >= from.as_str() && fired.as_str() < slow_end.as_str();
    assert!(slower.iter().any(during), "regression {slow}..{slow_end}: {slower:?}");
    // The series holds every minute of the interval for each window the rules use.
    let series = query(&p("payment").join("slo_burn_series.parquet"), "SELECT COUNT(*) FROM t").await;
    assert_eq!(series, vec![(7 * 1440 * 7).to_string()]);
    // The same SLO in OpenSLO with its own policies: one 1-hour window above 14.4 for 5 minutes
    // pages in the burst too, but later than the workbook's rule, whose 5-minute window reacts
    // at once; the 6-hour ticket opens in the burst.
    let policy = alerts("openslo", "payment-availability", "fast-burn-page: burn rate > 14.4 over 1h for 5m").await;
    let late = policy.iter().find(in_burst).unwrap_or_else(|| panic!("no policy page in the burst: {policy:?}"));
    assert!(late.0 > first.0, "the single-window page ({late:?}) comes after the multiwindow one ({first:?})");
    let tickets = alerts("openslo", "payment-availability", "slow-burn-ticket: burn rate >= 6 over 6h").await;
    assert!(tickets.iter().any(|t| in_burst(&t)), "{tickets:?}");
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
