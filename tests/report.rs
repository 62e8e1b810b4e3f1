//! `spanlens report`: the page renders in a real headless Chromium (Debian's `chromium`,
//! installed by `.ci/setup`) with every section and the values of the tables it was made from;
//! the page is self-contained and byte-identical across runs; its metric tables equal those of
//! `metrics` over the same window.

mod common;

use common::{headless, spanlens};
use predicates::prelude::PredicateBooleanExt;
use predicates::str::contains;

#[test]
fn the_report_renders_in_chromium_with_every_section() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name);
    let slos = common::fixture("slo").join("petclinic-slos.json");
    spanlens().args(["gen", "--spans", "20000", "--quiet", "--out"]).arg(p("data")).assert().success();
    for out in ["r1", "r2"] {
        spanlens()
            .arg("report")
            .arg(p("data"))
            .arg("--slos")
            .arg(&slos)
            .arg("--out")
            .arg(p(out))
            .assert()
            .success()
            .stdout(contains("frontend-api").and(contains("frontend-availability")))
            .stderr(contains("window: 2026-11-15T23:59:00Z to 2026-11-22T23:59:00Z"));
    }
    let html = std::fs::read_to_string(p("r1").join("report.html")).unwrap();
    assert_eq!(html, std::fs::read_to_string(p("r2").join("report.html")).unwrap(), "same input, same page");
    // Self-contained: no script, no external resource.
    for needle in ["<script", "src=", "href=", "http://", "https://", "@import", "url("] {
        assert!(!html.contains(needle), "report.html contains {needle:?}");
    }

    // The DOM Chromium builds from it.
    let page = p("r1").join("report.html");
    let dom = headless(&page, &["--dump-dom"]);
    assert!(dom.status.success(), "chromium --dump-dom failed: {}", String::from_utf8_lossy(&dom.stderr));
    let dom = String::from_utf8(dom.stdout).unwrap();
    for id in ["summary", "slos", "services", "operations", "map", "dependencies", "data-quality"] {
        assert!(dom.contains(&format!("<section id=\"{id}\"")), "section {id} in the DOM");
    }
    let section = |id: &str| -> String {
        let start = dom.find(&format!("<section id=\"{id}\"")).unwrap();
        let end = start + dom[start..].find("</section>").unwrap();
        dom[start..end].to_string()
    };
    // One SLO row per definition, with its status badge.
    let slo_rows = section("slos");
    for (name, status) in [
        ("frontend-availability", "BREACHED"),
        ("billing-latency", "OK"),
        ("payment-availability-daily", "OK"),
        ("exchange-rate-api-latency", "WARNING"),
    ] {
        let row = slo_rows.split("<tr>").find(|r| r.contains(&format!("<td>{name}</td>"))).unwrap();
        assert!(row.contains(&format!("<span class=\"status {status}\">{status}</span>")), "{name}: {row}");
    }
    // Period-based SLOs show their interval's bad periods (7 days of 5 minutes; a day of minutes).
    let row =
        |name: &str| slo_rows.split("<tr>").find(|r| r.contains(&format!("<td>{name}</td>"))).unwrap().to_string();
    assert!(row("billing-latency").contains(" bad periods of 2016</title>"));
    assert!(row("payment-availability-daily").contains(" bad periods of 1440</title>"));
    assert!(!row("frontend-availability").contains("<svg"));
    // One service row per service of the Services table, each with two sparklines.
    let services = section("services");
    let rows: Vec<&str> = services.split("<tr>").skip(2).collect();
    assert_eq!(rows.len(), 9, "nine services");
    assert!(rows.iter().all(|r| r.matches("<svg class=\"spark\"").count() == 2));
    assert!(rows[0].contains("<td>payment-service</td>"), "worst fault rate first: {}", rows[0]);
    assert!(section("dependencies").contains("<td>api.exchangerate.example.com:443</td>"));
    // The service map is the trace-stitched graph: a node per service, virtual callees (an AWS
    // service when Application Signals names it so), and `user`; the edges Application Signals'
    // map names otherwise are dashed, and listed with why below the map.
    let map = section("map");
    let svg = &map[..map.find("</svg>").unwrap()];
    assert!(svg.contains("<svg id=\"service-map\""));
    assert_eq!(svg.matches("<g class=\"node service\">").count(), 9, "the nine services");
    assert_eq!(svg.matches("<g class=\"node aws\">").count(), 1, "DynamoDB, as its clients name its host");
    assert!(svg.contains("<title>user</title>"), "the callers outside the traces");
    let nodes: Vec<&str> = svg.split("<g class=\"node").skip(1).collect();
    assert!(!nodes.iter().any(|n| n.contains(":8080")), "billing-service:8080 is the service the traces show");
    let edge = svg.split("<path ").find(|p| p.contains("<title>frontend-api → billing-service: ")).unwrap();
    assert!(edge.contains("class=\"edge differs\"") && edge.contains("stroke-dasharray"), "{edge}");
    assert!(edge.contains("which names it billing-service:8080 (remote named by address)"), "{edge}");
    let differences = &map[map.find("<table id=\"map-differences\"").unwrap()..];
    let row = differences
        .split("<tr>")
        .find(|r| r.starts_with("<td>frontend-api</td><td>billing-service:8080</td>"))
        .unwrap();
    assert!(row.contains("<td>client only</td><td>remote named by address</td><td>billing-service</td>"), "{row}");
    // The data-quality checks that found something, with example traces.
    let quality = section("data-quality");
    assert!(quality.contains("<td>unpaired client spans</td>"), "{quality}");
    assert!(!quality.contains("<td>orphan spans</td>"), "the generator writes whole traces: {quality}");

    // A screenshot: Chromium lays the page out and paints it.
    let png = p("report.png");
    let shot = headless(&page, &["--window-size=1280,2000", &format!("--screenshot={}", png.display())]);
    assert!(shot.status.success(), "chromium --screenshot failed: {}", String::from_utf8_lossy(&shot.stderr));
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    assert!(bytes.len() > 50_000, "a painted page, not a blank one: {} bytes", bytes.len());

    // The metric and graph tables are those of `metrics` over the same window and bucket.
    spanlens()
        .arg("metrics")
        .arg(p("data"))
        .args(["--from", "2026-11-15T23:59:00Z", "--to", "2026-11-22T23:59:00Z", "--quiet", "--out"])
        .arg(p("m"))
        .assert()
        .success();
    for table in spanlens::metrics::METRIC_TABLES.into_iter().chain(spanlens::graph::METRICS_GRAPH_TABLES) {
        let a = std::fs::read(p("r1").join(format!("{table}.parquet"))).unwrap();
        let b = std::fs::read(p("m").join(format!("{table}.parquet"))).unwrap();
        assert!(a == b, "{table}.parquet differs from `metrics` over the same window");
    }
}

#[test]
fn report_windows_and_flags() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name);
    let input = common::sample("ymtdzzz__otel-tui__test_data.json");
    // Without SLOs: no SLO section; --from/--to set the window.
    spanlens()
        .arg("report")
        .arg(&input)
        .args(["--from", "2024-01-01", "--to", "2030-01-01", "--bucket", "1d", "--quiet", "--out"])
        .arg(p("plain"))
        .assert()
        .success()
        .stdout(contains("frontend"));
    let html = std::fs::read_to_string(p("plain").join("report.html")).unwrap();
    assert!(!html.contains("<section id=\"slos\""));
    assert!(html.contains("2024-01-01 00:00 – 2030-01-01 00:00 UTC (1 d buckets)"));
    assert!(!p("plain").join("slos.parquet").exists());
    let cases: [(&[&str], &str); 3] = [
        (&["--days", "0"], "--days must be at least 1"),
        (&["--from", "2026-01-02", "--to", "2026-01-01"], "--from must be before --to"),
        (&["--days", "3", "--from", "2026-01-01"], "cannot be used with"),
    ];
    for (flags, message) in cases {
        spanlens()
            .arg("report")
            .arg(&input)
            .arg("--out")
            .arg(p("bad"))
            .args(flags)
            .assert()
            .code(2)
            .stderr(contains(message));
    }
}
