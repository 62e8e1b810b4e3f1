//! `spanlens report`: the page renders in a real headless Chromium (Debian's `chromium`,
//! installed by `.ci/setup`) with every section and the values of the tables it was made from;
//! the page is self-contained and byte-identical across runs; `report.md` holds the same as
//! Markdown tables and a Mermaid map; its metric tables equal those of `metrics` over the same
//! window.

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
    assert!(!row("frontend-availability").contains(" bad periods of "), "request-based: no period strip");
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

    // report.md says the same as Markdown tables and a Mermaid map.
    let md = std::fs::read_to_string(p("r1").join("report.md")).unwrap();
    assert_eq!(md, std::fs::read_to_string(p("r2").join("report.md")).unwrap(), "same input, same Markdown");
    let tables = markdown_tables(&md);
    let find = |first: &str| tables.iter().find(|(h, _)| h[0] == first).unwrap_or_else(|| panic!("table {first}"));
    let (summary, values) = &tables[0];
    assert_eq!(summary[0], "services");
    assert_eq!(values[0][0], "9");
    let (header, slos) = find("SLO");
    let status = header.iter().position(|h| h == "Status").unwrap();
    for (name, expected) in [
        ("frontend-availability", "BREACHED"),
        ("billing-latency", "OK"),
        ("payment-availability-daily", "OK"),
        ("exchange-rate-api-latency", "WARNING"),
    ] {
        let row = slos.iter().find(|r| r[0] == name).unwrap();
        assert_eq!(row[status], expected, "{name}");
    }
    // Each SLO's replayed alerts: as many in the page's strip and in the Markdown as slo_alerts holds.
    let alerts_column = header.iter().position(|h| h == "Alerts").unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    for row in slos {
        let sql = format!("SELECT COUNT(*) FROM t WHERE slo = '{}'", row[0]);
        let n: usize =
            runtime.block_on(common::query_file(&p("r1").join("slo_alerts.parquet"), &sql))[0].parse().unwrap();
        let cell = &row[alerts_column];
        let listed = if cell == "none" { 0 } else { cell.split("; ").filter(|a| !a.starts_with("and ")).count() };
        let more: usize = cell
            .rsplit("; and ")
            .next()
            .filter(|_| cell.contains("; and "))
            .map_or(0, |m| m.trim_end_matches(" more").parse().unwrap());
        assert_eq!(listed + more, n, "{}: {cell}", row[0]);
        let html_row = slo_rows.split("<tr>").find(|r| r.contains(&format!("<td>{}</td>", row[0]))).unwrap();
        match n {
            0 => assert!(html_row.contains("<span class=\"muted\">none</span>"), "{html_row}"),
            n => assert!(html_row.contains(&format!("<title>{n} alert firings</title>")), "{html_row}"),
        }
    }
    let bad = header.iter().position(|h| h == "Bad periods").unwrap();
    assert!(slos.iter().find(|r| r[0] == "billing-latency").unwrap()[bad].ends_with(" of 2016"));
    let (header, services) = find("Service");
    assert_eq!(header.len(), 9);
    assert_eq!(services.len(), 9, "nine services");
    assert_eq!(services[0][0], "payment-service", "worst fault rate first");
    // The requests of the services add up to the summary's; the sparklines span the window.
    let number = |s: &str| s.replace(',', "").parse::<i64>().unwrap();
    assert_eq!(services.iter().map(|r| number(&r[2])).sum::<i64>(), number(&values[0][1]));
    assert!(services.iter().all(|r| r[7].chars().count() == 28 && r[8].chars().count() == 28), "{services:?}");
    assert!(tables.iter().any(|(h, rows)| h[0] == "Service"
        && h[2] == "Dependency"
        && rows.iter().any(|r| r[2] == "api.exchangerate.example.com:443")));
    let (_, differences) = find("Client");
    let row = differences.iter().find(|r| r[0] == "frontend-api" && r[1] == "billing-service:8080").unwrap();
    assert_eq!(row[2..5], ["client only", "remote named by address", "billing-service"]);
    let (_, quality) = find("Check");
    assert!(quality.iter().any(|r| r[0] == "unpaired client spans"), "{quality:?}");
    let mermaid = &md[md.find("```mermaid\nflowchart LR\n").unwrap()..];
    let mermaid = &mermaid[..mermaid.find("\n```\n").unwrap()];
    assert_eq!(mermaid.matches(":::service").count(), 9, "the nine services");
    assert!(mermaid.contains("(\"user\"):::virtual"), "{mermaid}");
    assert_eq!(mermaid.matches(":::aws").count(), 1, "{mermaid}");
    let id = |name: &str| {
        let line = mermaid.lines().find(|l| l.contains(&format!("[\"{name}\"]"))).unwrap();
        line.trim().split('[').next().unwrap().to_string()
    };
    let dashed = format!("{} -.->|", id("frontend-api"));
    let edge =
        mermaid.lines().find(|l| l.trim().starts_with(&dashed) && l.ends_with(&format!("| {}", id("billing-service"))));
    assert!(edge.is_some(), "frontend-api → billing-service dashed: {mermaid}");

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

#[test]
fn week_over_week_puts_each_figure_beside_the_week_before() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name);
    let slos = common::fixture("slo").join("petclinic-slos.json");
    // Two weeks of traces.
    spanlens()
        .args(["gen", "--spans", "40000", "--from", "2026-11-09", "--to", "2026-11-23", "--quiet", "--out"])
        .arg(p("data"))
        .assert()
        .success();
    let run = spanlens()
        .arg("report")
        .arg(p("data"))
        .arg("--slos")
        .arg(&slos)
        .arg("--compare-previous")
        .arg("--out")
        .arg(p("r"))
        .assert()
        .success();
    let stderr = String::from_utf8(run.get_output().stderr.clone()).unwrap();
    let window = stderr.lines().find_map(|l| l.trim().strip_prefix("window: ")).unwrap();
    let (from, to) = window.split_once(" to ").unwrap();
    let to = to.split_whitespace().next().unwrap();
    let secs = |t: &str| chrono::DateTime::parse_from_rfc3339(t).unwrap().timestamp();
    let before = chrono::DateTime::from_timestamp(2 * secs(from) - secs(to), 0).unwrap().to_rfc3339();
    // Each window's service table, by metrics; the SLOs at the end of the window before, by slo.
    for (name, a, b) in [("now", from, to), ("before", before.as_str(), from)] {
        spanlens()
            .arg("metrics")
            .arg(p("data"))
            .args(["--tables", "service", "--quiet", "--from", a, "--to", b, "--out"])
            .arg(p(name))
            .assert()
            .success();
    }
    let code = spanlens()
        .arg("slo")
        .arg(p("data"))
        .arg("--slos")
        .arg(&slos)
        .args(["--at", from, "--out"])
        .arg(p("slo-before"))
        .assert();
    assert!(matches!(code.get_output().status.code(), Some(0 | 1)));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let figures = |dir: &str, service: &str| {
        let sql = format!(
            "SELECT requests, fault_rate, latency_p99_ms FROM t WHERE service = '{service}' AND bucket_start IS NULL"
        );
        runtime.block_on(common::query_file(&p(dir).join("service_metrics.parquet"), &sql)).pop()
    };
    let md = std::fs::read_to_string(p("r").join("report.md")).unwrap();
    let tables = markdown_tables(&md);
    let (header, services) =
        tables.iter().find(|(h, _)| h.get(2).map(String::as_str) == Some("Requests before")).unwrap();
    assert_eq!(header[0], "Service");
    assert_eq!(services.len(), 9, "{services:?}");
    let two = |v: &str| format!("{:.2}", v.parse::<f64>().unwrap());
    for row in services {
        for (dir, requests, fault, p99) in [("before", 2, 5, 8), ("now", 3, 6, 9)] {
            let cells = figures(dir, &row[0]).unwrap_or_else(|| panic!("{} in {dir}", row[0]));
            let cells: Vec<&str> = cells.split('|').collect();
            assert_eq!(row[requests].replace(',', ""), cells[0], "{row:?} requests in {dir}");
            assert_eq!(row[fault], two(cells[1]), "{row:?} fault rate in {dir}");
            assert_eq!(row[p99], two(cells[2]), "{row:?} p99 in {dir}");
        }
        // The change, from the exact figures.
        let fault = |dir: &str| -> f64 { figures(dir, &row[0]).unwrap().split('|').nth(1).unwrap().parse().unwrap() };
        assert_eq!(row[7], format!("{:+.2}", fault("now") - fault("before")), "{row:?}");
    }
    let (_, slos_compared) =
        tables.iter().find(|(h, _)| h.get(1).map(String::as_str) == Some("Attainment before")).unwrap();
    assert_eq!(slos_compared.len(), 4);
    for row in slos_compared {
        let sql = format!("SELECT attainment, status FROM t WHERE slo = '{}'", row[0]);
        let got = runtime.block_on(common::query_file(&p("slo-before").join("slos.parquet"), &sql)).pop().unwrap();
        let (attainment, status) = got.split_once('|').unwrap();
        assert_eq!(row[1], format!("{} %", two(attainment)), "{row:?}");
        assert_eq!(row[7], status, "{row:?}");
    }
    // The regressions, first in both renderings.
    let list: Vec<&str> = md
        .lines()
        .skip_while(|l| *l != "### Top regressions")
        .skip(2)
        .take_while(|l| l.chars().next().is_some_and(|c| c.is_ascii_digit()))
        .collect();
    // The incidents fall at fractions of the generated range: the latency regression in the
    // first week, the fault burst in the second. The burst is the top regression; billing's
    // latency recovered, so it is none.
    assert!(list[0].starts_with("1. payment-service: fault rate"), "{list:?}");
    assert!(!list.iter().any(|l| l.contains("billing-service: p99")), "{list:?}");
    let billing = services.iter().find(|r| r[0] == "billing-service").unwrap();
    assert!(billing[10].starts_with('-'), "billing's p99 fell: {billing:?}");
    let html = std::fs::read_to_string(p("r").join("report.html")).unwrap();
    let ol = &html[html.find("<ol id=\"regressions\">").unwrap()..];
    assert_eq!(ol[..ol.find("</ol>").unwrap()].matches("<li>").count(), list.len());
    assert!(html.find("<section id=\"compare\"").unwrap() < html.find("<section id=\"slos\"").unwrap());
    // The report's own tables are those of the window, as without the comparison.
    let a = std::fs::read(p("r").join("service_metrics.parquet")).unwrap();
    let b = std::fs::read(p("now").join("service_metrics.parquet")).unwrap();
    assert!(a == b, "service_metrics.parquet differs from metrics over the window");
}

/// The GitHub-flavoured Markdown tables of `md`: each one's header cells and rows of cells, every
/// row as wide as the header and the alignment row well formed.
fn markdown_tables(md: &str) -> Vec<(Vec<String>, Vec<Vec<String>>)> {
    // Cells between unescaped pipes, unescaped.
    let cells = |line: &str| -> Vec<String> {
        let inner = line.strip_prefix("| ").and_then(|l| l.strip_suffix(" |")).unwrap_or_else(|| panic!("{line}"));
        let mut out = vec![String::new()];
        let mut chars = inner.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\\' => out.last_mut().unwrap().extend(chars.next()),
                '|' => {
                    let last = out.last_mut().unwrap();
                    *last = last.trim_end().to_string();
                    out.push(String::new());
                    while chars.peek() == Some(&' ') {
                        chars.next();
                    }
                }
                c => out.last_mut().unwrap().push(c),
            }
        }
        out
    };
    let mut tables = Vec::new();
    let lines: Vec<&str> = md.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        if !lines[i].starts_with('|') {
            i += 1;
            continue;
        }
        let header = cells(lines[i]);
        let align = cells(lines[i + 1]);
        assert_eq!(align.len(), header.len(), "{}", lines[i + 1]);
        assert!(align.iter().all(|a| a == "---" || a == "---:"), "{}", lines[i + 1]);
        let mut rows = Vec::new();
        i += 2;
        while i < lines.len() && lines[i].starts_with('|') {
            let row = cells(lines[i]);
            assert_eq!(row.len(), header.len(), "{}", lines[i]);
            rows.push(row);
            i += 1;
        }
        tables.push((header, rows));
    }
    tables
}
