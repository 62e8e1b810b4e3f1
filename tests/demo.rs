//! `spanlens demo`: the generated week's report, written and printed, opened in a real headless
//! Chromium, with the tables of `report` over the same generated data; reruns replace it, other
//! directories need `--force`; `--open` hands the page to the desktop's opener.

mod common;

use std::path::Path;

use common::{fixture, headless, spanlens};
use predicates::prelude::PredicateBooleanExt;
use predicates::str::contains;

const TABLES: [&str; 6] =
    ["service_metrics", "operation_metrics", "dependency_metrics", "slos", "slo_periods", "slo_burn_rates"];

#[test]
fn demo_writes_the_weekly_report_of_the_generated_week() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name);
    let run = spanlens()
        .args(["demo", "--out"])
        .arg(p("demo"))
        .assert()
        .success()
        .stdout(
            contains("frontend-api")
                .and(contains("frontend-availability"))
                .and(contains("billing-latency"))
                .and(contains(format!("Written to {}", p("demo").display())))
                .and(contains(p("demo").join("report.html").display().to_string())),
        )
        .stderr(contains("generated").and(contains("window: ")));
    let stdout = String::from_utf8(run.get_output().stdout.clone()).unwrap();
    for name in TABLES
        .iter()
        .map(|t| format!("{t}.parquet"))
        .chain(["report.html", "report.md", "run_info.parquet"].map(String::from))
    {
        assert!(p("demo").join(&name).is_file(), "{name} written");
        assert!(stdout.contains(&p("demo").join(&name).display().to_string()), "{name} listed");
    }

    // The same week generated to files and reported on gives the same tables.
    spanlens().args(["gen", "--spans", "200000", "--quiet", "--out"]).arg(p("data")).assert().success();
    spanlens()
        .arg("report")
        .arg(p("data"))
        .arg("--slos")
        .arg(fixture("slo").join("petclinic-slos.json"))
        .args(["--quiet", "--out"])
        .arg(p("report"))
        .assert()
        .success();
    for table in TABLES {
        let a = std::fs::read(p("demo").join(format!("{table}.parquet"))).unwrap();
        let b = std::fs::read(p("report").join(format!("{table}.parquet"))).unwrap();
        assert!(a == b, "{table}.parquet of demo differs from report's over the same generated data");
    }

    // The page opens in Chromium with every section, and paints.
    let page = p("demo").join("report.html");
    let dom = headless(&page, &["--dump-dom"]);
    assert!(dom.status.success(), "chromium --dump-dom failed: {}", String::from_utf8_lossy(&dom.stderr));
    let dom = String::from_utf8(dom.stdout).unwrap();
    for id in ["summary", "slos", "services", "operations", "map", "dependencies"] {
        assert!(dom.contains(&format!("<section id=\"{id}\"")), "section {id} in the DOM");
    }
    let png = p("demo.png");
    let shot = headless(&page, &["--window-size=1280,1600", &format!("--screenshot={}", png.display())]);
    assert!(shot.status.success(), "chromium --screenshot failed: {}", String::from_utf8_lossy(&shot.stderr));
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    assert!(bytes.len() > 50_000, "a painted page, not a blank one: {} bytes", bytes.len());
    // The README's picture of the report is this screenshot (SPANLENS_UPDATE_DOCS=1 refreshes it).
    let doc_png = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/demo-report.png");
    if std::env::var_os("SPANLENS_UPDATE_DOCS").is_some() {
        std::fs::copy(&png, &doc_png).unwrap();
    }
    let committed = std::fs::read(&doc_png).expect("docs/demo-report.png exists");
    assert_eq!(&committed[..8], b"\x89PNG\r\n\x1a\n");

    // A rerun replaces the earlier demo output without --force.
    spanlens().args(["demo", "--quiet", "--out"]).arg(p("demo")).assert().success();
    assert!(p("demo").join("report.html").is_file());
}

#[test]
fn demo_refuses_a_directory_that_is_not_a_report_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("other");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("keep.txt"), "mine").unwrap();
    spanlens()
        .args(["demo", "--quiet", "--out"])
        .arg(&other)
        .assert()
        .code(2)
        .stderr(contains("does not hold an earlier report").and(contains("--force")));
    assert_eq!(std::fs::read_to_string(other.join("keep.txt")).unwrap(), "mine");
}

#[cfg(unix)]
#[test]
fn demo_open_hands_the_page_to_the_desktop_opener() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let opened = dir.path().join("opened.txt");
    let opener = bin.join("xdg-open");
    std::fs::write(&opener, format!("#!/bin/sh\nprintf '%s' \"$1\" > '{}'\n", opened.display())).unwrap();
    std::fs::set_permissions(&opener, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let out = dir.path().join("demo");
    spanlens().env("PATH", path).args(["demo", "--quiet", "--open", "--out"]).arg(&out).assert().success();
    // The opener runs in the background: wait for it a little.
    for _ in 0..100 {
        if opened.is_file() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(std::fs::read_to_string(&opened).unwrap(), out.join("report.html").display().to_string());
}
