//! `spanlens sql`: tables by input kind (raw OTLP, a span store, a metrics output, --table
//! files), the counts of the sample exports, every output format read back, the views made on
//! demand equal to `metrics`'s tables, typed parameters, refusal of every statement that writes,
//! errors with their statement and position, stdin and the interactive shell (driven through a
//! pseudo-terminal), bounded memory, and every SQL example of the README and docs.

mod common;

use std::path::{Path, PathBuf};

use common::{fixture, sample, spanlens};
use predicates::prelude::*;
use predicates::str::contains;

const DEMO: &str = "ymtdzzz__otel-tui__test_data.json";

/// Run `spanlens sql ARGS` and return stdout; it must succeed.
fn sql(args: &[&str]) -> String {
    let out = spanlens().arg("sql").args(args).output().unwrap();
    assert!(out.status.success(), "spanlens sql {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

/// A span store of `files` in `dir/store`.
fn store(dir: &Path, files: &[&Path]) -> PathBuf {
    let out = dir.join("store");
    spanlens::commands::ingest::ingest(&common::plan(files, &out, false)).unwrap();
    out
}

/// CSV lines of a one-statement run, without the header.
fn csv_rows(args: &[&str]) -> Vec<String> {
    let text = sql(&[args, &["--format", "csv"]].concat());
    text.lines().skip(1).map(str::to_string).collect()
}

#[test]
fn counts_of_the_sample_exports_equal_sources_md() {
    // (file, spans, traces, services) as measured in fixtures/otlp-samples/SOURCES.md.
    let cases = [
        (DEMO, 547, 141, 8),
        ("highlight__highlight__fs.json", 218, 2, 1),
        ("highlight__highlight__traces.json", 512, 28, 0),
        ("highlight__highlight__nextjs.json", 8, 1, 1),
        ("jaegertracing__jaeger__otel_traces_01.json", 4, 2, 1),
        ("jaegertracing__jaeger__example_trace.json", 5, 1, 3),
    ];
    for (file, spans, traces, services) in cases {
        let got = csv_rows(&[
            &path(&sample(file)),
            "-e",
            "SELECT count(*), count(DISTINCT trace_id), count(DISTINCT service_name) FROM spans",
        ]);
        assert_eq!(got, [format!("{spans},{traces},{services}")], "{file}");
    }
    let kinds = csv_rows(&[&path(&sample(DEMO)), "-e", "SELECT kind, count(*) FROM spans GROUP BY 1 ORDER BY 1"]);
    assert_eq!(kinds, ["CLIENT,243", "INTERNAL,27", "SERVER,277"]);
    let statuses =
        csv_rows(&[&path(&sample(DEMO)), "-e", "SELECT status_code, count(*) FROM spans GROUP BY 1 ORDER BY 1"]);
    assert_eq!(statuses, ["ERROR,107", "UNSET,440"]);
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[test]
fn every_output_format_reads_back_with_ids_as_hex() {
    let dir = tempfile::tempdir().unwrap();
    let input = path(&sample(DEMO));
    let query =
        "SELECT trace_id, span_id, parent_span_id, name, duration_ns FROM spans ORDER BY start_time, span_id LIMIT 20";

    let csv = sql(&[&input, "-e", query, "--format", "csv"]);
    let mut reader = arrow::csv::ReaderBuilder::new(std::sync::Arc::new(arrow::datatypes::Schema::new(vec![
        arrow::datatypes::Field::new("trace_id", arrow::datatypes::DataType::Utf8, true),
        arrow::datatypes::Field::new("span_id", arrow::datatypes::DataType::Utf8, true),
        arrow::datatypes::Field::new("parent_span_id", arrow::datatypes::DataType::Utf8, true),
        arrow::datatypes::Field::new("name", arrow::datatypes::DataType::Utf8, true),
        arrow::datatypes::Field::new("duration_ns", arrow::datatypes::DataType::Int64, true),
    ])))
    .with_header(true)
    .build(csv.as_bytes())
    .unwrap();
    let batch = reader.next().unwrap().unwrap();
    assert_eq!(batch.num_rows(), 20);
    let traces: Vec<String> = csv.lines().skip(1).map(|l| l.split(',').next().unwrap().to_string()).collect();
    assert!(traces.iter().all(|t| is_hex(t, 32)), "{traces:?}");

    let tsv = sql(&[&input, "-e", query, "--format", "tsv"]);
    assert_eq!(tsv.lines().next().unwrap(), "trace_id\tspan_id\tparent_span_id\tname\tduration_ns");
    assert_eq!(tsv.lines().count(), 21);

    let json: serde_json::Value = serde_json::from_str(&sql(&[&input, "-e", query, "--format", "json"])).unwrap();
    let rows = json.as_array().unwrap();
    assert_eq!(rows.len(), 20);
    for row in rows {
        assert!(is_hex(row["trace_id"].as_str().unwrap(), 32) && is_hex(row["span_id"].as_str().unwrap(), 16));
        assert!(row["duration_ns"].is_i64());
        assert!(row.get("parent_span_id").is_some(), "nulls are written");
    }
    let ndjson = sql(&[&input, "-e", query, "--format", "ndjson"]);
    let lines: Vec<serde_json::Value> = ndjson.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines, *rows);
    assert_eq!(sql(&[&input, "-e", "SELECT 1 AS x WHERE false", "--format", "json"]), "[]\n");
    assert_eq!(sql(&[&input, "-e", "SELECT 1 AS x WHERE false", "--format", "csv"]), "x\n");

    // Parquet and Arrow keep the ids binary.
    let parquet = dir.path().join("r.parquet");
    sql(&[&input, "-e", query, "--format", "parquet", "--out", &path(&parquet)]);
    let file = std::fs::File::open(&parquet).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
    assert_eq!(reader.schema().field(0).data_type(), &arrow::datatypes::DataType::FixedSizeBinary(16));
    let n: usize = reader.build().unwrap().map(|b| b.unwrap().num_rows()).sum();
    assert_eq!(n, 20);
    let ipc = dir.path().join("r.arrow");
    sql(&[&input, "-e", query, "--format", "arrow", "--out", &path(&ipc)]);
    let reader = arrow::ipc::reader::FileReader::try_new(std::fs::File::open(&ipc).unwrap(), None).unwrap();
    assert_eq!(reader.schema().field(1).data_type(), &arrow::datatypes::DataType::FixedSizeBinary(8));
    assert_eq!(reader.map(|b| b.unwrap().num_rows()).sum::<usize>(), 20);
    // CSV to a file holds what stdout shows; an existing file needs --force.
    let out = dir.path().join("r.csv");
    sql(&[&input, "-e", query, "--out", &path(&out)]);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), csv);
    spanlens().args(["sql", &input, "-e", query, "--out", &path(&out)]).assert().code(2).stderr(contains("--force"));
    spanlens().args(["sql", &input, "-e", query, "--format", "parquet"]).assert().code(2).stderr(contains("--out"));

    // The table format: aligned, hex ids, long values cut, a row count, --max-rows.
    let table = sql(&[&input, "-e", query, "--format", "table", "--max-rows", "5"]);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("trace_id") && lines[0].contains("duration_ns"), "{table}");
    assert_eq!(lines.len(), 2 + 5 + 1, "{table}");
    assert!(is_hex(lines[2].split_whitespace().next().unwrap(), 32), "{table}");
    assert!(lines[7].contains("20 rows, the first 5 shown"), "{table}");
    let long = sql(&[&input, "-e", "SELECT repeat('x', 100) AS long_value", "--format", "table"]);
    assert!(long.contains(&format!("{}…", "x".repeat(47))), "{long}");
}

/// `SELECT *` of a table in `parquet`, as sorted `a|b|c` lines.
async fn parquet_rows(file: &Path) -> Vec<String> {
    common::query_file(file, "SELECT * FROM t").await
}

#[tokio::test]
async fn views_made_on_demand_equal_the_metrics_output() {
    let dir = tempfile::tempdir().unwrap();
    let input = path(&sample(DEMO));
    let metrics_out = dir.path().join("metrics");
    spanlens().args(["metrics", &input, "--out", &path(&metrics_out), "--bucket", "5m", "-q"]).assert().success();
    let store = store(dir.path(), &[&sample(DEMO)]);
    for (source, label) in [(input.clone(), "raw"), (path(&store), "store")] {
        for table in ["signals", "service_metrics", "operation_metrics", "dependency_metrics"] {
            let out = dir.path().join(format!("{label}-{table}.parquet"));
            let query = format!("SELECT * FROM {table}");
            sql(&[&source, "-e", &query, "--bucket", "5m", "--format", "parquet", "--out", &path(&out)]);
            let expected = parquet_rows(&metrics_out.join(format!("{table}.parquet"))).await;
            assert!(!expected.is_empty(), "{table}");
            assert_eq!(parquet_rows(&out).await, expected, "{table} from {label}");
        }
    }
    // A metrics output's tables are read as written; with another bucket they are computed from
    // its signals as `metrics` computes them.
    let hourly = dir.path().join("hourly");
    spanlens().args(["metrics", &path(&metrics_out), "--out", &path(&hourly), "-q"]).assert().success();
    let out = dir.path().join("again.parquet");
    sql(&[&path(&metrics_out), "-e", "SELECT * FROM service_metrics", "--format", "parquet", "--out", &path(&out)]);
    assert_eq!(parquet_rows(&out).await, parquet_rows(&metrics_out.join("service_metrics.parquet")).await);
    std::fs::remove_file(&out).unwrap();
    let args = [&path(&metrics_out), "-e", "SELECT * FROM service_metrics", "--bucket", "1h", "--format", "parquet"];
    sql(&[&args[..], &["--out", &path(&out)]].concat());
    assert_eq!(parquet_rows(&out).await, parquet_rows(&hourly.join("service_metrics.parquet")).await);
    // The services page and the embedded queries' views.
    let page = csv_rows(&[
        &input,
        "-e",
        "SELECT service, requests FROM services_page ORDER BY fault_rate DESC, requests DESC, service LIMIT 1",
    ]);
    assert_eq!(page, ["checkoutservice,4"]);
    let n = csv_rows(&[&input, "-e", "SELECT count(*) FROM spans_for_signals"]);
    assert_eq!(n, ["547"]);
    // SLO tables with --slos equal those of `slo`.
    let slos = fixture("slo/petclinic-slos.json");
    let slo_out = dir.path().join("slo");
    let at = "2024-10-30T00:00:00Z";
    spanlens()
        .args(["slo", &input, "--slos", &path(&slos), "--at", at, "--out", &path(&slo_out), "-q"])
        .assert()
        .code(predicate::in_iter([0, 1]));
    let out = dir.path().join("slos.parquet");
    sql(&[
        &input,
        "--slos",
        &path(&slos),
        "--at",
        at,
        "-e",
        "SELECT * FROM slos",
        "--format",
        "parquet",
        "--out",
        &path(&out),
    ]);
    assert_eq!(parquet_rows(&out).await, parquet_rows(&slo_out.join("slos.parquet")).await);
}

#[test]
fn an_output_directory_gives_its_tables_and_table_files_their_names() {
    let dir = tempfile::tempdir().unwrap();
    let input = path(&sample(DEMO));
    let out = dir.path().join("metrics");
    spanlens().args(["metrics", &input, "--out", &path(&out), "-q"]).assert().success();
    let n = csv_rows(&[&path(&out), "-e", "SELECT count(*) FROM run_info WHERE key = 'spans_read'"]);
    assert_eq!(n, ["2"], "one row per source and the total");
    let csv = dir.path().join("owners.csv");
    std::fs::write(&csv, "service,team\nfrontend,web\ncartservice,store\n").unwrap();
    let joined = csv_rows(&[
        &path(&out),
        "--table",
        &format!("owners={}", path(&csv)),
        "-e",
        "SELECT o.team, s.requests FROM service_metrics s JOIN owners o ON s.service = o.service \
         WHERE s.bucket_start IS NULL ORDER BY 1",
    ]);
    assert_eq!(joined, ["web,128"]);
    spanlens()
        .args(["sql", "--table", "x=nothing.txt", "-e", "SELECT 1"])
        .assert()
        .code(2)
        .stderr(contains("nothing.txt"));
}

#[test]
fn parameters_are_typed_literals_and_never_sql() {
    let input = path(&sample(DEMO));
    let count = |extra: &[&str], query: &str| csv_rows(&[&[input.as_str(), "-e", query][..], extra].concat());
    assert_eq!(
        count(&["--param", "service=frontend"], "SELECT count(*) FROM spans WHERE service_name = $service"),
        count(&[], "SELECT count(*) FROM spans WHERE service_name = 'frontend'")
    );
    assert_eq!(
        count(&["--param", "ms=1000"], "SELECT count(*) FROM spans WHERE duration_ns > $ms * 1000000"),
        count(&[], "SELECT count(*) FROM spans WHERE duration_ns > 1000 * 1000000")
    );
    let types = count(
        &["--param", "i=42", "--param", "f=2.5", "--param", "b=true", "--param", "t=abc", "--param", "s:text=42"],
        "SELECT arrow_typeof($i), arrow_typeof($f), arrow_typeof($b), arrow_typeof($t), arrow_typeof($s), $s",
    );
    assert_eq!(types, ["Int64,Float64,Boolean,Utf8,Utf8,42"]);
    // Quotes and injection attempts stay data.
    for text in ["it's", "x' OR '1'='1", "'; DROP TABLE spans; --", "$service"] {
        let got = count(
            &["--param", &format!("v={text}")],
            "SELECT $v AS v, (SELECT count(*) FROM spans WHERE name = $v) AS n",
        );
        let quoted =
            if text.contains([',', '"']) { format!("\"{}\"", text.replace('"', "\"\"")) } else { text.to_string() };
        assert_eq!(got, [format!("{quoted},0")], "{text}");
    }
    spanlens().args(["sql", &input, "-e", "SELECT $missing"]).assert().code(2).stderr(contains("$missing"));
    spanlens().args(["sql", "--param", "1x=2", "-e", "SELECT 1"]).assert().code(2).stderr(contains("--param"));
    spanlens().args(["sql", "--param", "n:int=abc", "-e", "SELECT 1"]).assert().code(2).stderr(contains("integer"));
}

#[test]
fn statements_that_write_are_refused_without_allow_write() {
    let dir = tempfile::tempdir().unwrap();
    let input = path(&sample("jaegertracing__jaeger__otel_traces_01.json"));
    let target = dir.path().join("copied.csv");
    let statements = [
        format!("CREATE EXTERNAL TABLE t STORED AS CSV LOCATION '{}'", path(&target)),
        "CREATE TABLE t AS SELECT 1 AS x".to_string(),
        "CREATE VIEW v AS SELECT name FROM spans".to_string(),
        "DROP TABLE spans".to_string(),
        "DROP VIEW IF EXISTS spans".to_string(),
        format!("COPY (SELECT name FROM spans) TO '{}' STORED AS CSV", path(&target)),
        format!("COPY spans TO '{}' STORED AS PARQUET", path(&target)),
        "INSERT INTO spans SELECT * FROM spans".to_string(),
        "SET datafusion.execution.batch_size = 10".to_string(),
        format!("EXPLAIN ANALYZE COPY (SELECT 1) TO '{}' STORED AS CSV", path(&target)),
        "CREATE SCHEMA s".to_string(),
        "CREATE DATABASE d".to_string(),
    ];
    for statement in &statements {
        spanlens()
            .args(["sql", &input, "-e", "SELECT 1 AS before", "-e", statement])
            .assert()
            .code(2)
            .stderr(contains("refused").and(contains("--allow-write")).and(contains("-e #2, statement 1")))
            .stderr(contains("panicked").not());
        assert!(!target.exists(), "{statement} wrote {}", target.display());
    }
    // With --allow-write they run.
    let copy = format!("COPY (SELECT name FROM spans ORDER BY name) TO '{}' STORED AS CSV", path(&target));
    sql(&[&input, "--allow-write", "-e", &copy]);
    assert!(std::fs::read_to_string(&target).unwrap().starts_with("name\n"));
    let view =
        sql(&[&input, "--allow-write", "-e", "CREATE VIEW v AS SELECT name FROM spans; SELECT count(*) AS n FROM v"]);
    assert_eq!(view, "n\n4\n");
}

#[test]
fn errors_name_the_statement_and_position_and_stop_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let input = path(&sample("jaegertracing__jaeger__otel_traces_01.json"));
    let file = dir.path().join("q.sql");
    std::fs::write(&file, "SELECT 1 AS one;\n\nSELECT nme\nFROM spans;\nSELECT 3 AS three;\n").unwrap();
    let out = spanlens().args(["sql", &input, "-f", &path(&file)]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains(&format!("{}, statement 2 (line 3, column 1) at line 3, column 8", path(&file))),
        "{stderr}"
    );
    assert!(stderr.contains("nme"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one message: {stderr}");
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "one\n1\n", "the first statement ran, the third did not");

    let cases: [(&str, &[&str]); 5] = [
        ("SELEC 1", &["-e, statement 1 (line 1, column 1)", "SELEC"]),
        ("SELECT * FROM nothing_here", &["-e, statement 1", "nothing_here"]),
        ("SELECT 'a' + 1", &["-e, statement 1"]),
        ("SELECT 1;\n  SELECT (", &["-e, statement 2 (line 2, column 3)", "line 2"]),
        ("SELECT 'open", &["-e (line 1, column 8)", "Unterminated"]),
    ];
    for (statement, needles) in cases {
        let mut assert = spanlens().args(["sql", &input, "-e", statement]).assert().code(2);
        for needle in needles {
            assert = assert.stderr(contains(*needle));
        }
        assert.stderr(contains("panicked").not());
    }
}

#[test]
fn sql_is_read_from_stdin_when_it_is_not_a_terminal() {
    let input = path(&sample("jaegertracing__jaeger__otel_traces_01.json"));
    spanlens()
        .args(["sql", &input, "--format", "csv"])
        .write_stdin("SELECT count(*) AS n\nFROM spans;\n-- the second\nSELECT 'a;b' AS s;")
        .assert()
        .success()
        .stdout("n\n4\n\ns\na;b\n");
    spanlens().args(["sql", "-"]).write_stdin("{}").assert().code(2).stderr(contains("-e or -f"));
}

#[test]
fn functions_for_span_sql() {
    let input = path(&sample(DEMO));
    let got = csv_rows(&[
        &input,
        "-e",
        "SELECT id_to_hex(trace_id) = encode(trace_id, 'hex'), ns_to_ms(duration_ns) = duration_ns / 1e6, \
         count(*) FROM spans GROUP BY 1, 2",
    ]);
    assert_eq!(got, ["true,true,547"]);
    let id = &csv_rows(&[&input, "-e", "SELECT id_to_hex(trace_id) FROM spans ORDER BY start_time LIMIT 1"])[0];
    let by_id = csv_rows(&[
        &input,
        "-e",
        &format!("SELECT count(*) FROM spans WHERE trace_id = id_from_hex('{}')", id.to_uppercase()),
    ]);
    let by_encode =
        csv_rows(&[&input, "-e", &format!("SELECT count(*) FROM spans WHERE encode(trace_id, 'hex') = '{id}'")]);
    assert_eq!(by_id, by_encode);
    assert_ne!(by_id, ["0"]);
    // attr tries the current key, then the older one: the same as the typed column.
    let codes = csv_rows(&[
        &input,
        "-e",
        "SELECT count(*) FILTER (WHERE attr(attributes, 'http.status_code') IS NOT DISTINCT FROM CAST(http_status_code AS TEXT)), \
         count(*) FILTER (WHERE attr(attributes, 'http.response.status_code') IS NOT NULL), count(*) FROM spans",
    ]);
    let fields: Vec<&str> = codes[0].split(',').collect();
    assert_eq!(fields[0], fields[2], "{codes:?}");
    assert_ne!(fields[1], "0");
    spanlens().args(["sql", &input, "-e", "SELECT id_from_hex('xyz')"]).assert().code(2).stderr(contains("xyz"));
}

#[test]
fn group_by_and_sort_spill_within_the_memory_limit() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    spanlens().args(["gen", "--spans", "30000", "--out", &path(&data), "--quiet"]).assert().success();
    let store = store(dir.path(), &[&data]);
    // A hash aggregate over every trace and a sort of every span with its attributes (more than
    // the limit): both spill, and give what they give with room.
    let query = "SELECT id_to_hex(trace_id) AS t, count(*) AS n, sum(duration_ns) AS d FROM spans GROUP BY trace_id \
                 ORDER BY d DESC, t LIMIT 3; \
                 SELECT id_to_hex(span_id), duration_ns, attributes FROM spans ORDER BY duration_ns, span_id";
    let roomy = sql(&[&path(&store), "-e", query]);
    assert!(roomy.lines().count() > 20_000);
    let spill = dir.path().join("spill");
    std::fs::create_dir(&spill).unwrap();
    let tight_flags = ["--memory-limit", "16MiB", "--temp-dir", &path(&spill), "--threads", "1"];
    let tight = sql(&[&[path(&store).as_str(), "-e", query][..], &tight_flags].concat());
    assert!(tight == roomy, "the results differ with --memory-limit 16MiB");
    assert_eq!(std::fs::read_dir(&spill).unwrap().count(), 0, "spill files are removed");
    // The sort did spill.
    let analyze =
        "EXPLAIN ANALYZE SELECT id_to_hex(span_id), duration_ns, attributes FROM spans ORDER BY duration_ns, span_id";
    let plan = sql(&[&[path(&store).as_str(), "-e", analyze, "--format", "tsv"][..], &tight_flags].concat());
    let spills: Vec<u64> = plan
        .match_indices("spill_count=")
        .map(|(at, m)| {
            plan[at + m.len()..].chars().take_while(char::is_ascii_digit).collect::<String>().parse().unwrap()
        })
        .collect();
    assert!(spills.iter().any(|n| *n > 0), "no operator spilled: {plan}");
}

/// The SQL examples of the README and docs: every ```sql block runs through `spanlens sql` on
/// a span store of the OpenTelemetry Demo capture (the metric and SLO tables made on demand)
/// and returns rows. Blocks for other engines are marked ```sql duckdb or ```sql datafusion-cli.
#[test]
fn every_sql_example_of_the_docs_runs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut pages = vec![root.join("README.md")];
    pages.extend(
        std::fs::read_dir(root.join("docs"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "md")),
    );
    let mut blocks: Vec<(String, String)> = Vec::new();
    for page in &pages {
        let text = std::fs::read_to_string(page).unwrap();
        let mut current: Option<String> = None;
        for line in text.lines() {
            match (&mut current, line.trim_start()) {
                (None, "```sql") => current = Some(String::new()),
                (Some(block), "```") => {
                    blocks.push((page.display().to_string(), std::mem::take(block)));
                    current = None;
                }
                (Some(block), _) => {
                    block.push_str(line);
                    block.push('\n');
                }
                _ => {}
            }
        }
    }
    assert!(blocks.len() >= 4, "found {} sql blocks", blocks.len());
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path(), &[&sample(DEMO)]);
    let slos = fixture("slo/petclinic-slos.json");
    for (page, block) in &blocks {
        let out = spanlens()
            .args(["sql", &path(&store), "--slos", &path(&slos), "--format", "json"])
            .write_stdin(block.as_str())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{page}: {block}\n{stderr}");
        let stdout = String::from_utf8(out.stdout).unwrap();
        for result in stdout.lines() {
            let rows: serde_json::Value = serde_json::from_str(result).unwrap();
            assert!(!rows.as_array().unwrap().is_empty(), "{page}: a statement returned no rows: {block}");
        }
    }
}

/// The shell through a pseudo-terminal: a statement over several lines, `\d`, `\d NAME`,
/// `\df`, a query cancelled with Ctrl-C (the shell stays), `\q`; the history is kept.
#[test]
fn the_shell_reads_statements_lists_tables_and_cancels() {
    let dir = tempfile::tempdir().unwrap();
    let history = dir.path().join("history");
    let bin = assert_cmd::cargo::cargo_bin("spanlens");
    let mut cmd = std::process::Command::new(bin);
    cmd.args(["sql", &path(&sample(DEMO))]).env("SPANLENS_HISTORY", &history).env("NO_COLOR", "1");
    let mut p = rexpect::session::spawn_command(cmd, Some(60_000)).unwrap();
    p.exp_string("spanlens> ").unwrap();
    p.send_line("SELECT count(*) AS n").unwrap();
    p.exp_string("-> ").unwrap();
    p.send_line("FROM spans;").unwrap();
    p.exp_string("547").unwrap();
    p.exp_string("(1 row)").unwrap();
    p.exp_string("spanlens> ").unwrap();
    p.send_line("\\d").unwrap();
    p.exp_string("spans").unwrap();
    p.exp_string("service_metrics").unwrap();
    p.exp_string("spanlens> ").unwrap();
    p.send_line("\\d spans").unwrap();
    p.exp_string("trace_id").unwrap();
    p.exp_string("FixedSizeBinary(16)").unwrap();
    p.exp_string("spanlens> ").unwrap();
    p.send_line("\\df").unwrap();
    p.exp_string("id_from_hex").unwrap();
    p.exp_string("spanlens> ").unwrap();
    // A long query, cancelled.
    p.send_line("SELECT count(*) FROM spans a, spans b, spans c, spans d WHERE a.name <> d.name;").unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    p.send_control('c').unwrap();
    p.exp_string("cancelled").unwrap();
    p.exp_string("spanlens> ").unwrap();
    p.send_line("SELECT nme FROM spans;").unwrap();
    p.exp_string("error").unwrap();
    p.exp_string("spanlens> ").unwrap();
    p.send_line("SELECT 'still here' AS s;").unwrap();
    p.exp_string("still here").unwrap();
    // Typed only at the prompt: input sent before the line editor takes the terminal may be
    // flushed with the mode change.
    p.exp_string("spanlens> ").unwrap();
    p.send_line("\\q").unwrap();
    p.exp_eof().unwrap();
    let kept = std::fs::read_to_string(&history).unwrap();
    assert!(kept.contains("FROM spans;") && kept.contains("still here"), "{kept}");
}

#[test]
fn the_store_prunes_a_trace_by_id_to_its_row_groups() {
    // Planning check of the benchmark's first query: the id literal keeps the column's type, so
    // the Parquet scan gets a predicate on trace_id itself (bloom filters and statistics).
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path(), &[&sample(DEMO)]);
    let plan = sql(&[
        &path(&store),
        "-e",
        "EXPLAIN SELECT name FROM spans WHERE trace_id = id_from_hex('00000000000000000000000000000001')",
        "--format",
        "csv",
    ]);
    assert!(plan.contains("pruning_predicate=") && plan.contains("required_guarantees=[trace_id in ("), "{plan}");
}
