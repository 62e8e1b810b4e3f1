//! The real binary on good and bad input: every bad-input class gets a clear message naming the
//! file and a position where one exists, exit code 2 and no panic; `--keep-going` skips and
//! counts; outputs are never half-overwritten; the same input gives byte-identical output.

mod common;

use std::path::{Path, PathBuf};

use common::{fixture, gzip, sample, spanlens};
use predicates::prelude::*;
use predicates::str::contains;

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn span_json(trace: &str, span: &str, start: &str, end: &str, extra: &str) -> String {
    format!(
        r#"{{"resourceSpans":[{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"svc"}}}}]}},"scopeSpans":[{{"spans":[{{"traceId":"{trace}","spanId":"{span}","name":"GET /","kind":2,"startTimeUnixNano":"{start}","endTimeUnixNano":"{end}"{extra}}}]}}]}}]}}"#
    )
}

const T: &str = "5b8efff798038103d269b633813fc60c";
const S: &str = "eee19b7ec3c1b174";

fn good_span() -> String {
    span_json(T, S, "1700000000000000000", "1700000000100000000", "")
}

/// Run `ingest FILE --out tmp/out` and check exit code 2 and that stderr names the file and says `needle`.
fn assert_bad(file: &Path, needles: &[&str]) {
    assert_bad_with(file, &[], needles);
}

/// [`assert_bad`] with more flags.
fn assert_bad_with(file: &Path, flags: &[&str], needles: &[&str]) {
    let out = file.parent().unwrap().join("out");
    let name = file.display().to_string();
    let mut assert =
        spanlens().args(["ingest", &name, "--out"]).arg(&out).args(flags).assert().code(2).stderr(contains(&name));
    for needle in needles {
        assert = assert.stderr(contains(*needle));
    }
    assert.stderr(contains("panicked").not());
    assert!(!out.exists(), "no output after a failed run");
}

#[test]
fn bad_inputs_fail_with_clear_messages_and_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let json = std::fs::read(sample("jaegertracing__jaeger__otel_traces_01.json")).unwrap();
    let gz = gzip(&json);
    let zst = zstd::encode_all(json.as_slice(), 3).unwrap();
    let msg =
        spanlens::testing::encode_proto(&spanlens::testing::synthetic_traces(1, 20, 4, 1_700_000_000_000_000_000));

    let cases: Vec<(&str, Vec<u8>, Vec<&str>)> = vec![
        ("truncated.json.gz", gz[..gz.len() / 2].to_vec(), vec!["truncated gzip", "byte offset"]),
        ("truncated.json.zst", zst[..zst.len() - 5].to_vec(), vec!["zstd"]),
        ("truncated.binpb", msg[..msg.len() - 7].to_vec(), vec!["invalid or truncated OTLP/protobuf"]),
        (
            "truncated.framed",
            spanlens::testing::frame(std::slice::from_ref(&msg))[..msg.len() - 3].to_vec(),
            vec!["truncated frame", "byte offset 0"],
        ),
        (
            "utf8.json",
            [
                &br#"{"resourceSpans":[{"resource":{"attributes":[{"key":"a","value":{"stringValue":"#[..],
                &[b'"', 0xff, 0xfe, b'"'],
                &b"}}]}}]}"[..],
            ]
            .concat(),
            vec!["invalid JSON", "line 1, column"],
        ),
        ("shape.json", br#"{"resourceSpans":{"scopeSpans":[]}}"#.to_vec(), vec!["not OTLP/JSON", "line 1"]),
        (
            "jaeger.json",
            br#"{"data":[{"traceID":"abc","spans":[],"processes":{}}]}"#.to_vec(),
            vec!["looks like Jaeger"],
        ),
        (
            "zipkin.json",
            br#"[{"traceId":"abc","id":"def","timestamp":1,"duration":2,"localEndpoint":{"serviceName":"x"}}]"#
                .to_vec(),
            vec!["looks like Zipkin"],
        ),
        (
            "logs.json",
            b"{\"resourceLogs\":[]}\n{\"resourceMetrics\":[]}\n".to_vec(),
            vec!["no trace data", "1 logs_document", "1 metrics_document"],
        ),
        ("empty.json", Vec::new(), vec!["empty input"]),
        ("blank.json", b"  \n\n".to_vec(), vec!["only whitespace"]),
        ("garbage.bin", b"\x07hello".to_vec(), vec!["unrecognised content", "07 68"]),
        ("badid.json", span_json("xyz", S, "1", "2", "").into_bytes(), vec!["invalid 16-byte id \"xyz\""]),
        ("truncated.json", good_span().as_bytes()[..100].to_vec(), vec!["truncated JSON", "line 1"]),
        (
            "badline.jsonl",
            format!("{}\n{{\"resourceSpans\":[oops]}}\n{}\n", good_span(), good_span()).into_bytes(),
            vec!["line 2, column"],
        ),
    ];
    for (name, bytes, needles) in cases {
        let case_dir = d.join(name.replace('.', "_"));
        std::fs::create_dir(&case_dir).unwrap();
        let file = write(&case_dir, name, &bytes);
        assert_bad(&file, &needles);
    }
}

/// Spans that are well-formed OTLP but cannot be analysed are skipped with a warning naming the
/// file and position and counted by reason; `--strict` makes each an error (exit 2).
#[test]
fn unanalysable_spans_are_skipped_by_default_and_errors_with_strict() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "negative.json",
            span_json(T, S, "1700000000100000000", "1700000000000000000", ""),
            "negative_duration",
            vec!["ends 100.000 ms before it starts", "line 1"],
        ),
        (
            "noids.json",
            span_json("", "", "1700000000000000000", "1700000000100000000", ""),
            "missing_trace_id",
            vec!["empty or all-zero trace id"],
        ),
        (
            "nospanid.json",
            span_json(T, "", "1700000000000000000", "1700000000100000000", ""),
            "missing_span_id",
            vec!["empty or all-zero span id"],
        ),
        (
            "nostart.json",
            span_json(T, S, "0", "1700000000100000000", ""),
            "missing_start_time",
            vec!["has no start time"],
        ),
    ];
    for (name, json, reason, needles) in cases {
        let case_dir = dir.path().join(name.replace('.', "_"));
        std::fs::create_dir(&case_dir).unwrap();
        // One good span beside the bad one, on the next line.
        let file = write(&case_dir, name, format!("{json}\n{}\n", good_span()).as_bytes());
        assert_bad_with(&file, &["--strict"], &needles);
        let out = case_dir.join("out");
        let mut assert = spanlens()
            .args(["ingest", "--quiet", "--out"])
            .arg(&out)
            .arg(&file)
            .assert()
            .success()
            .stderr(contains("spans: 2 read, 1 written, 1 skipped"))
            .stderr(contains(format!("spans skipped: {reason} 1")))
            .stderr(contains(format!("warning: {}", file.display())));
        for needle in &needles {
            assert = assert.stderr(contains(*needle));
        }
        assert!(out.join("run_info.parquet").is_file());
        // metrics skips them the same way, and says so even with --quiet.
        spanlens()
            .args(["metrics", "--quiet"])
            .arg(&file)
            .assert()
            .success()
            .stdout(contains("svc"))
            .stderr(contains(format!("spans skipped: {reason} 1")));
    }
    // A corrupt input still stops the run without --keep-going, and --strict conflicts with it.
    let bad = write(dir.path(), "corrupt.json", b"{\"resourceSpans\":[oops]}");
    assert_bad(&bad, &["invalid JSON"]);
    spanlens().args(["ingest", "--strict", "--keep-going", "--out", "x"]).arg(&bad).assert().code(2);
}

#[test]
fn decompression_bomb_is_an_error_not_an_out_of_memory() {
    let dir = tempfile::tempdir().unwrap();
    let bomb = write(dir.path(), "bomb.json.gz", &gzip(&vec![b' '; 64 << 20]));
    let out = dir.path().join("out");
    spanlens()
        .args(["ingest", "--max-decompressed-size", "1MiB", "--out"])
        .arg(&out)
        .arg(&bomb)
        .assert()
        .code(2)
        .stderr(contains("bomb.json.gz").and(contains("decompresses to more than 1.0 MiB")));
}

#[test]
fn bom_prefixed_json_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "bom.json", &[&[0xef, 0xbb, 0xbf][..], good_span().as_bytes()].concat());
    spanlens()
        .args(["ingest", "--out"])
        .arg(dir.path().join("out"))
        .arg(&file)
        .assert()
        .success()
        .stderr(contains("spans: 1 read, 1 written, 0 skipped"));
}

#[test]
fn huge_attribute_values_are_truncated_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let huge = "x".repeat(3 << 20);
    let extra = format!(r#","attributes":[{{"key":"big","value":{{"stringValue":"{huge}"}}}}]"#);
    let file = write(
        dir.path(),
        "huge.json",
        span_json(T, S, "1700000000000000000", "1700000000100000000", &extra).as_bytes(),
    );
    spanlens()
        .args(["ingest", "--out"])
        .arg(dir.path().join("out"))
        .arg(&file)
        .assert()
        .success()
        .stderr(contains("values truncated to --max-value-bytes: 1"));
}

#[test]
fn keep_going_skips_and_counts_bad_files_lines_and_spans() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = dir.path().join("in");
    std::fs::create_dir(&inputs).unwrap();
    write(&inputs, "a_good.json", good_span().as_bytes());
    write(&inputs, "b_empty.json", b"");
    write(
        &inputs,
        "c_mixed.jsonl",
        format!(
            "{}\n{{broken\n{}\n",
            good_span(),
            span_json(T, "0000000000000002", "1700000000100000000", "1700000000000000000", "")
        )
        .as_bytes(),
    );
    write(&inputs, "d_truncated.json.gz", &gzip(good_span().as_bytes())[..20]);
    let out = dir.path().join("out");
    spanlens().args(["ingest", "--keep-going", "--out"]).arg(&out).arg(&inputs).assert().success().stderr(
        contains("spans: 3 read, 2 written, 1 skipped")
            .and(contains("spans skipped: negative_duration 1"))
            .and(contains("corrupt_compression 1"))
            .and(contains("empty_input 1"))
            .and(contains("invalid_json 1")),
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let ctx = common::store_context(&out).await;
        let totals = common::rows(
            &ctx,
            "SELECT key, value FROM run_info WHERE source = '' AND key IN ('spans_read','spans_written','spans_skipped') AND reason IS NULL",
        )
        .await;
        assert_eq!(totals, vec!["spans_read|3", "spans_skipped|1", "spans_written|2"]);
        let count = common::rows(&ctx, "SELECT count(*) FROM spans").await;
        assert_eq!(count, vec!["2"]);
    });
}

#[test]
fn existing_output_is_refused_without_force_and_replaced_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "a.json", good_span().as_bytes());
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("keep.txt"), "precious").unwrap();
    spanlens()
        .args(["ingest", "--out"])
        .arg(&out)
        .arg(&file)
        .assert()
        .code(2)
        .stderr(contains("already exists").and(contains("--force")));
    assert!(out.join("keep.txt").exists());
    // A failing run with --force leaves the old output untouched.
    let bad = write(dir.path(), "bad.json", b"{");
    spanlens().args(["ingest", "--force", "--out"]).arg(&out).arg(&bad).assert().code(2);
    assert!(out.join("keep.txt").exists());
    spanlens().args(["ingest", "--force", "--out"]).arg(&out).arg(&file).assert().success();
    assert!(!out.join("keep.txt").exists());
    assert!(out.join("run_info.parquet").exists());
    assert!(out.join("spans/date=2023-11-14/part-00000.parquet").exists());
}

fn tree_bytes(root: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = walkdir::WalkDir::new(root)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| (e.path().strip_prefix(root).unwrap().display().to_string(), std::fs::read(e.path()).unwrap()))
        .collect();
    files.sort();
    files
}

#[test]
fn same_input_gives_byte_identical_output() {
    let dir = tempfile::tempdir().unwrap();
    let input = sample("ymtdzzz__otel-tui__test_data.json");
    let run = |threads: &str, out: &Path| {
        // Small files: several flushes per partition.
        spanlens()
            .args(["--threads", threads, "ingest", "--quiet", "--force", "--rows-per-file", "100", "--out"])
            .arg(out)
            .arg(&input)
            .assert()
            .success();
        tree_bytes(out)
    };
    let one = run("1", &dir.path().join("out1"));
    let two = run("2", &dir.path().join("out2"));
    // run_info holds the command line, which names the output directory: compare the spans.
    let spans =
        |t: &Vec<(String, Vec<u8>)>| t.iter().filter(|(p, _)| p.starts_with("spans")).cloned().collect::<Vec<_>>();
    assert_eq!(spans(&one).len(), 6, "547 rows in files of at most 100");
    assert_eq!(spans(&one), spans(&two));
    // The same command again gives the same bytes everywhere, run_info included.
    let again = run("2", &dir.path().join("out2"));
    assert_eq!(again, two);
}

#[test]
fn stdin_is_an_input() {
    let dir = tempfile::tempdir().unwrap();
    spanlens()
        .args(["ingest", "-", "--out"])
        .arg(dir.path().join("out"))
        .write_stdin(std::fs::read(sample("highlight__highlight__nextjs.json")).unwrap())
        .assert()
        .success()
        .stderr(contains("spans: 8 read, 8 written, 0 skipped"));
}

#[test]
fn help_and_version() {
    spanlens().arg("--version").assert().success().stdout(contains(env!("CARGO_PKG_VERSION")));
    spanlens().arg("--help").assert().success().stdout(contains("ingest").and(contains("Exit codes")));
    spanlens()
        .args(["ingest", "--help"])
        .assert()
        .success()
        .stdout(contains("--keep-going").and(contains("Example:")).and(contains("--max-decompressed-size")));
    spanlens().args(["ingest"]).assert().code(2).stderr(contains("--out"));
}

#[test]
fn schema_command_prints_the_documented_schema() {
    let printed = spanlens().arg("schema").assert().success().get_output().stdout.clone();
    let printed = String::from_utf8(printed).unwrap();
    let doc = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/schema.md");
    let text = std::fs::read_to_string(&doc).unwrap();
    if !text.contains(&printed) && std::env::var_os("SPANLENS_UPDATE_DOCS").is_some() {
        // Regenerate: the table sits between the two markers.
        let (begin, end) = ("<!-- schema:begin -->\n", "<!-- schema:end -->");
        let (head, rest) = text.split_once(begin).expect("docs/schema.md has the begin marker");
        let (_, tail) = rest.split_once(end).expect("docs/schema.md has the end marker");
        std::fs::write(&doc, format!("{head}{begin}{printed}{end}{tail}")).unwrap();
        return;
    }
    assert!(
        text.contains(&printed),
        "docs/schema.md is out of date: run `SPANLENS_UPDATE_DOCS=1 cargo test --test cli schema` to regenerate it"
    );
}

#[test]
fn queries_are_listed_and_shown() {
    let list = spanlens().args(["queries", "list"]).assert().success();
    let text = String::from_utf8(list.get_output().stdout.clone()).unwrap();
    for name in ["service_metrics", "operation_metrics", "dependency_metrics", "spans_for_signals"] {
        assert!(text.lines().any(|l| l.starts_with(name)), "{name} missing from:\n{text}");
    }
    spanlens().args(["queries", "show", "service_metrics"]).assert().success().stdout(
        contains("GROUP BY GROUPING SETS")
            .and(contains("latency_percentiles(latency_ms, adjusted_count, 0.5, 0.9, 0.99)")),
    );
    spanlens()
        .args(["queries", "show", "nope"])
        .assert()
        .code(2)
        .stderr(contains("no query named \"nope\"").and(contains("service_metrics")));
}

#[test]
fn metrics_prints_the_services_table_and_writes_parquet() {
    let dir = tempfile::tempdir().unwrap();
    let input = sample("ymtdzzz__otel-tui__test_data.json");
    let out = dir.path().join("m");
    let run = spanlens().arg("metrics").arg(&input).arg("--out").arg(&out).args(["--bucket", "5m"]).assert().success();
    let stdout = String::from_utf8(run.get_output().stdout.clone()).unwrap();
    let stderr = String::from_utf8(run.get_output().stderr.clone()).unwrap();
    let header = stdout.lines().next().unwrap();
    assert!(header.starts_with("Service") && header.ends_with("p99 ms"), "{stdout}");
    assert!(stdout.contains("frontend") && stdout.contains("generic:default"), "{stdout}");
    assert!(stderr.contains("signals: 547 spans"), "counts on stderr: {stderr}");
    for f in ["service_metrics", "operation_metrics", "dependency_metrics", "signals", "run_info"] {
        assert!(out.join(format!("{f}.parquet")).is_file(), "{f}");
    }
    // The worst fault rate comes first.
    let rates: Vec<f64> =
        stdout.lines().skip(1).map(|l| l.split_whitespace().nth(4).unwrap().parse().unwrap()).collect();
    assert!(rates.windows(2).all(|w| w[0] >= w[1]), "{rates:?}");

    // A span store written by ingest gives the same tables as the raw input.
    let store = dir.path().join("store");
    spanlens().arg("ingest").arg(&input).arg("--out").arg(&store).arg("-q").assert().success();
    let from_store = dir.path().join("m2");
    spanlens().arg("metrics").arg(&store).arg("--out").arg(&from_store).args(["--bucket", "5m"]).assert().success();
    for f in ["service_metrics", "operation_metrics", "dependency_metrics", "signals"] {
        let a = std::fs::read(out.join(format!("{f}.parquet"))).unwrap();
        let b = std::fs::read(from_store.join(format!("{f}.parquet"))).unwrap();
        assert!(a == b, "{f} differs between raw input and store");
    }

    // --timings names each phase with its wall time, on stderr, and changes no output.
    let timed = dir.path().join("m3");
    let run = spanlens()
        .arg("--timings")
        .arg("metrics")
        .arg(&store)
        .arg("--out")
        .arg(&timed)
        .args(["--bucket", "5m", "--quiet"])
        .assert()
        .success()
        .stderr(
            predicates::str::is_match(
                r"(?m)^timings: read \d+\.\d\d s, derive \d+\.\d\d s, query \d+\.\d\d s, write \d+\.\d\d s$",
            )
            .unwrap(),
        );
    assert!(!String::from_utf8_lossy(&run.get_output().stdout).contains("timings"));
    for f in ["service_metrics", "operation_metrics", "dependency_metrics", "signals"] {
        let a = std::fs::read(out.join(format!("{f}.parquet"))).unwrap();
        let b = std::fs::read(timed.join(format!("{f}.parquet"))).unwrap();
        assert!(a == b, "{f} differs with --timings");
    }
    spanlens()
        .arg("metrics")
        .arg(&timed)
        .args(["--out", dir.path().join("m4").to_str().unwrap(), "--quiet", "--timings"])
        .assert()
        .success()
        .stderr(
            predicates::str::is_match(r"(?m)^timings: read \d+\.\d\d s, query \d+\.\d\d s, write \d+\.\d\d s$")
                .unwrap(),
        );
}

#[test]
fn metrics_flags_are_validated() {
    let dir = tempfile::tempdir().unwrap();
    let input = sample("ymtdzzz__otel-tui__test_data.json");
    let cases: [(&[&str], &str); 7] = [
        (&["--bucket", "5w"], "--bucket"),
        (&["--spill-threshold", "1parsec"], "--spill-threshold"),
        (&["--spill-threshold", "1", "--temp-dir", "/nonexistent/spill"], "cannot write /nonexistent/spill"),
        (&["--from", "yesterday"], "--from"),
        (&["--from", "2026-11-02", "--to", "2026-11-01"], "--from must be before --to"),
        (&["--compat", "go"], "invalid value 'go'"),
        (&["--tables", "service,spans"], "invalid value 'spans' for '--tables <TABLE>'"),
    ];
    for (flags, needle) in cases {
        spanlens()
            .arg("metrics")
            .arg(&input)
            .arg("--out")
            .arg(dir.path().join("x"))
            .args(flags)
            .assert()
            .code(2)
            .stderr(contains(needle));
    }
}

#[test]
fn a_parquet_file_given_as_input_points_to_the_store_directory() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    spanlens()
        .arg("ingest")
        .arg(sample("ymtdzzz__otel-tui__test_data.json"))
        .arg("--out")
        .arg(&store)
        .arg("-q")
        .assert()
        .success();
    spanlens()
        .arg("metrics")
        .arg(store.join("spans"))
        .arg("--out")
        .arg(dir.path().join("m"))
        .assert()
        .code(2)
        .stderr(contains("a Parquet file, not an OTLP export").and(contains("spans/ and run_info.parquet")));
}

/// A store of an input whose spans were all skipped has no span file: the commands that read
/// stores give empty tables from it, not a planning error.
#[test]
fn a_store_without_spans_gives_empty_tables() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let no_ids = span_json("", "", "1700000000000000000", "1700000000100000000", "");
    let input = write(dir.path(), "no-ids.json", no_ids.as_bytes());
    spanlens().arg("ingest").arg(&input).arg("--out").arg(&store).args(["-q", "--keep-going"]).assert().success();
    spanlens()
        .arg("metrics")
        .arg(&store)
        .arg("--out")
        .arg(dir.path().join("m"))
        .assert()
        .success()
        .stdout(contains("(no service records in the window)"))
        .stderr(contains("signals: 0 spans in 0 traces"));
    spanlens()
        .arg("report")
        .arg(&store)
        .args(["--to", "2026-11-01", "--out"])
        .arg(dir.path().join("r"))
        .assert()
        .success();
}

/// Without `--out`, `metrics` and `slo` print their table and write nothing (their scratch
/// directory is removed); `--format csv|json` prints the same rows for scripts.
#[test]
fn metrics_and_slo_print_without_out_in_each_format() {
    let dir = tempfile::tempdir().unwrap();
    let scratch = dir.path().join("tmp");
    std::fs::create_dir(&scratch).unwrap();
    let input = sample("ymtdzzz__otel-tui__test_data.json");
    let metrics = |format: &str| -> String {
        let out = spanlens()
            .current_dir(dir.path())
            .args(["metrics", "--quiet", "--format", format, "--temp-dir"])
            .arg(&scratch)
            .arg(&input)
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        String::from_utf8(out).unwrap()
    };
    let table = metrics("table");
    let csv = metrics("csv");
    let json = metrics("json");
    // Nothing written, next to the run or in its temp directory.
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left, vec![std::ffi::OsString::from("tmp")]);
    assert_eq!(std::fs::read_dir(&scratch).unwrap().count(), 0, "the scratch directory is removed");

    let rows: Vec<serde_json::Value> = serde_json::from_str(&json).unwrap();
    let csv_lines: Vec<&str> = csv.lines().collect();
    assert!(!rows.is_empty());
    assert_eq!(csv_lines.len(), rows.len() + 1, "a header and one line per row");
    let header: Vec<&str> = csv_lines[0].split(',').collect();
    let keys: Vec<&String> = rows[0].as_object().unwrap().keys().collect();
    assert_eq!(header.len(), keys.len());
    for key in keys {
        assert!(header.contains(&key.as_str()), "{key} in the CSV header");
    }
    // Every service of the table, in both formats.
    for row in &rows {
        let service = row["service"].as_str().or(row["Service"].as_str()).expect("a service column");
        assert!(table.contains(service), "{service} in the table");
        assert!(csv.contains(service), "{service} in the CSV");
    }

    // slo: the SLO table's rows as JSON, nothing written.
    spanlens().args(["gen", "--spans", "5000", "--quiet", "--out"]).arg(dir.path().join("data")).assert().success();
    let slos = fixture("slo").join("petclinic-slos.json");
    let out = spanlens()
        .args(["slo", "--quiet", "--format", "json", "--slos"])
        .arg(&slos)
        .arg(dir.path().join("data"))
        .output()
        .unwrap();
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", String::from_utf8_lossy(&out.stderr));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = rows.iter().map(|r| r["slo"].as_str().or(r["name"].as_str()).unwrap()).collect();
    assert_eq!(
        names,
        ["frontend-availability", "billing-latency", "payment-availability-daily", "exchange-rate-api-latency"]
    );
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left.len(), 2, "only tmp and data: {left:?}");
    // --force without --out is refused.
    spanlens().args(["metrics", "--force"]).arg(&input).assert().code(2).stderr(contains("--out"));
}

/// What a run killed with `kill -9` left behind (a staging directory beside the output, spill
/// directories in the temp directory) is removed by the next run that writes there, when the
/// process that made it no longer exists; the leftovers of a live process stay.
#[test]
fn leftovers_of_dead_processes_are_removed_by_the_next_run() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    let live = std::process::id();
    let tmp = dir.path().join("tmp");
    let leftovers = [
        dir.path().join(format!(".m.spanlens-staging-{dead}")),
        dir.path().join(format!(".other.spanlens-staging-{dead}")),
        tmp.join(format!("spanlens-spill-{dead}-abc123")),
        tmp.join(format!(".spanlens-scratch-{dead}-abc123")),
    ];
    let kept = [dir.path().join(format!(".m.spanlens-staging-{live}")), tmp.join(format!("spanlens-spill-{live}-x"))];
    for d in leftovers.iter().chain(&kept) {
        std::fs::create_dir_all(d).unwrap();
        std::fs::write(d.join("part.arrow"), "x").unwrap();
    }
    spanlens()
        .args(["metrics", "--quiet", "--temp-dir"])
        .arg(&tmp)
        .arg(sample("ymtdzzz__otel-tui__test_data.json"))
        .arg("--out")
        .arg(dir.path().join("m"))
        .assert()
        .success();
    for d in &leftovers {
        assert!(!d.exists(), "{} is removed", d.display());
    }
    for d in &kept {
        assert!(d.exists(), "{} of a live process stays", d.display());
    }
}

/// Completion scripts for each shell and the man pages come from the CLI's own definitions.
#[test]
fn completions_and_man_pages_are_generated() {
    for (shell, needle) in [
        ("bash", "_spanlens()"),
        ("zsh", "#compdef spanlens"),
        ("fish", "complete -c spanlens"),
        ("elvish", "spanlens"),
        ("powershell", "spanlens"),
    ] {
        let out = spanlens().args(["completions", shell]).assert().success().get_output().stdout.clone();
        let script = String::from_utf8(out).unwrap();
        assert!(script.contains(needle), "{shell}: {needle}");
        for word in ["metrics", "demo", "keep-going"] {
            assert!(script.contains(word), "{shell} completes {word}");
        }
    }
    spanlens().args(["completions", "tcsh"]).assert().code(2);
    spanlens().arg("man").assert().success().stdout(contains(".TH spanlens 1").and(contains("demo")));
    let dir = tempfile::tempdir().unwrap();
    spanlens().args(["man", "--out"]).arg(dir.path()).assert().success();
    for page in ["spanlens", "spanlens-demo", "spanlens-metrics", "spanlens-slo", "spanlens-ingest", "spanlens-man"] {
        let text = std::fs::read_to_string(dir.path().join(format!("{page}.1"))).unwrap();
        assert!(text.starts_with(".ie") || text.contains(".TH"), "{page}.1 is a man page");
    }
    let metrics = std::fs::read_to_string(dir.path().join("spanlens-metrics.1")).unwrap();
    assert!(metrics.contains("spanlens\\-metrics") && metrics.contains("bucket"), "the metrics page has its flags");
}
