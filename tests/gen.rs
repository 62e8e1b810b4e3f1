//! `spanlens gen`: every format, compression and layout it writes is read back by `ingest`
//! with the same span count; the same seed gives the same bytes; the workload's incidents and
//! services show up in `metrics`.

mod common;

use std::path::Path;

use common::spanlens;
use predicates::str::contains;
use spanlens::util::thousands;

/// Run gen and return the span count it reports on stderr.
fn generate(out: &Path, flags: &[&str]) -> u64 {
    let run = spanlens().arg("gen").arg("--out").arg(out).args(flags).assert().success();
    let stderr = String::from_utf8(run.get_output().stderr.clone()).unwrap();
    let spans = stderr.split(" spans").next().and_then(|s| s.rsplit(", ").next()).unwrap();
    spans.replace(',', "").parse().unwrap_or_else(|_| panic!("span count in {stderr}"))
}

fn files(root: &Path) -> Vec<String> {
    let mut out: Vec<String> = walkdir::WalkDir::new(root)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| e.path().strip_prefix(root).unwrap().display().to_string())
        .collect();
    out.sort();
    out
}

#[test]
fn every_format_is_read_back_by_ingest() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [&[&str]; 6] = [
        &["--format", "json"],
        &["--format", "jsonl", "--compress", "gzip"],
        &["--format", "proto"],
        &["--format", "proto-stream", "--compress", "zstd"],
        &["--format", "json", "--compress", "gzip", "--layout", "s3exporter"],
        &["--format", "proto", "--layout", "s3exporter"],
    ];
    for (i, flags) in cases.iter().enumerate() {
        let data = dir.path().join(format!("data{i}"));
        let spans = generate(
            &data,
            &[&["--traces", "300", "--traces-per-document", "40", "--documents-per-file", "3"], *flags].concat(),
        );
        assert!(spans > 300 * 3, "{flags:?}: {spans} spans");
        let store = dir.path().join(format!("store{i}"));
        spanlens().arg("ingest").arg(&data).arg("--out").arg(&store).assert().success().stderr(contains(format!(
            "spans: {} read, {} written, 0 skipped",
            thousands(spans),
            thousands(spans)
        )));
        if flags.contains(&"s3exporter") {
            for f in files(&data) {
                let parts: Vec<&str> = f.split('/').collect();
                assert_eq!(parts.len(), 6, "{f}");
                assert!(
                    parts[0].starts_with("year=") && parts[4].starts_with("minute=") && parts[5].starts_with("traces_"),
                    "{f}"
                );
            }
        }
    }
}

#[test]
fn the_same_seed_gives_the_same_bytes_and_another_seed_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let run = |name: &str, seed: &str, threads: &str| {
        let out = dir.path().join(name);
        spanlens()
            .args(["--threads", threads, "gen", "--spans", "3000", "--seed", seed, "--compress", "zstd", "--out"])
            .arg(&out)
            .assert()
            .success();
        files(&out).into_iter().map(|f| std::fs::read(out.join(&f)).unwrap()).collect::<Vec<_>>()
    };
    let a = run("a", "7", "1");
    assert_eq!(a, run("b", "7", "2"), "thread count does not matter");
    assert_ne!(a, run("c", "8", "2"));
}

#[test]
fn the_workload_reaches_every_service_with_its_scripted_fault_burst() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // One day; the fault burst covers 70-72% of it, so hourly buckets around 17:00 breach.
    generate(&data, &["--traces", "20000", "--from", "2026-11-16", "--to", "2026-11-17"]);
    let out = dir.path().join("m");
    let run = spanlens()
        .arg("metrics")
        .arg(&data)
        .arg("--out")
        .arg(&out)
        .args(["--platform", "eks", "--bucket", "1h"])
        .assert()
        .success();
    let table = String::from_utf8(run.get_output().stdout.clone()).unwrap();
    for service in [
        "frontend-api",
        "customers-service",
        "vets-service",
        "visits-service",
        "insurance-service",
        "billing-service",
        "nutrition-service",
        "payment-service",
        "pet-clinic-audit",
    ] {
        assert!(table.contains(service), "{service} missing:\n{table}");
    }
    assert!(table.contains("eks:pet-clinic/pet-clinic") && table.contains("lambda:default"), "{table}");
    // payment-service's worst hour is the burst (16:48-17:16 UTC).
    let rt = tokio::runtime::Runtime::new().unwrap();
    let worst = rt.block_on(async {
        let ctx = datafusion::prelude::SessionContext::new();
        let path = out.join("service_metrics.parquet").display().to_string();
        ctx.register_parquet("s", &path, Default::default()).await.unwrap();
        common::rows(
            &ctx,
            "SELECT CAST(date_part('hour', bucket_start) AS INT), fault_rate > 10 FROM s \
             WHERE service = 'payment-service' AND bucket_start IS NOT NULL ORDER BY fault_rate DESC LIMIT 1",
        )
        .await
    });
    assert!(worst == ["16|true"] || worst == ["17|true"], "{worst:?}");
}

#[test]
fn a_window_over_a_store_reads_only_its_partitions_and_matches_the_raw_input() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    generate(&data, &["--traces", "6000", "--from", "2026-11-16", "--to", "2026-11-21"]);
    let store = dir.path().join("store");
    spanlens().arg("ingest").arg(&data).arg("--out").arg(&store).arg("-q").assert().success();
    let window = ["--from", "2026-11-18T06:00:00Z", "--to", "2026-11-19T06:00:00Z", "--bucket", "1h"];
    let raw = dir.path().join("raw");
    let pruned = dir.path().join("pruned");
    spanlens().arg("metrics").arg(&data).arg("--out").arg(&raw).args(window).assert().success();
    spanlens().arg("metrics").arg(&store).arg("--out").arg(&pruned).args(window).assert().success();
    for f in ["service_metrics", "operation_metrics", "dependency_metrics"] {
        let a = std::fs::read(raw.join(format!("{f}.parquet"))).unwrap();
        let b = std::fs::read(pruned.join(format!("{f}.parquet"))).unwrap();
        assert!(a == b, "{f}: the window's numbers do not depend on the input form");
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let spans = |out: &Path| {
        let path = out.join("run_info.parquet").display().to_string();
        rt.block_on(async {
            let ctx = datafusion::prelude::SessionContext::new();
            ctx.register_parquet("r", &path, Default::default()).await.unwrap();
            common::rows(&ctx, "SELECT value FROM r WHERE key = 'signal_spans'").await[0].parse::<u64>().unwrap()
        })
    };
    let (all, read) = (spans(&raw), spans(&pruned));
    // Days 17-19 of 16-20 are read: about 3/5 of the spans, never all of them.
    assert!(read < all * 4 / 5 && read > all / 3, "{read} of {all} spans derived from the pruned store");
}

/// Traces are derived in the order they first appear in the input; the records still come out
/// in trace-id order, so reordering the documents and files changes no byte of the tables.
#[test]
fn the_tables_do_not_depend_on_the_order_of_the_input() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    generate(
        &data,
        &["--traces", "3000", "--format", "jsonl", "--traces-per-document", "50", "--documents-per-file", "6"],
    );
    let names = files(&data);
    assert!(names.len() > 1, "{names:?}");
    // The last file's documents first, each file's documents last to first.
    let reordered = dir.path().join("reordered");
    std::fs::create_dir(&reordered).unwrap();
    for (i, name) in names.iter().rev().enumerate() {
        let text = std::fs::read_to_string(data.join(name)).unwrap();
        let mut lines: Vec<&str> = text.lines().collect();
        assert!(lines.len() > 1, "{name}");
        lines.reverse();
        std::fs::write(reordered.join(format!("{i:03}.jsonl")), lines.join("\n") + "\n").unwrap();
    }
    for (input, out) in [(&data, "as-generated"), (&reordered, "reordered-out")] {
        spanlens().arg("metrics").arg(input).arg("--out").arg(dir.path().join(out)).arg("-q").assert().success();
    }
    for f in ["service_metrics", "operation_metrics", "dependency_metrics", "signals"] {
        let file = format!("{f}.parquet");
        let a = std::fs::read(dir.path().join("as-generated").join(&file)).unwrap();
        let b = std::fs::read(dir.path().join("reordered-out").join(&file)).unwrap();
        assert!(a == b, "{f} depends on the input order");
    }
}

#[test]
fn a_spilled_derivation_gives_the_same_tables_as_one_in_memory() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    generate(&data, &["--traces", "3000"]);
    let store = dir.path().join("store");
    spanlens().arg("ingest").arg(&data).arg("--out").arg(&store).arg("-q").assert().success();
    let spill_dir = dir.path().join("spill");
    std::fs::create_dir(&spill_dir).unwrap();
    let run = |input: &Path, out: &str, spill: bool| {
        let mut cmd = spanlens();
        cmd.arg("metrics").arg(input).arg("--out").arg(dir.path().join(out));
        if spill {
            // Small enough that the first split into 16 partitions is split again.
            cmd.args(["--spill-threshold", "64KiB", "--temp-dir"]).arg(&spill_dir);
        }
        String::from_utf8(cmd.assert().success().get_output().stderr.clone()).unwrap()
    };
    run(&data, "memory", false);
    let stderr = run(&data, "spilled", true);
    assert!(stderr.contains("spilled: "), "{stderr}");
    run(&store, "store-spilled", true);
    for f in ["service_metrics", "operation_metrics", "dependency_metrics", "signals"] {
        let file = format!("{f}.parquet");
        let memory = std::fs::read(dir.path().join("memory").join(&file)).unwrap();
        for other in ["spilled", "store-spilled"] {
            let b = std::fs::read(dir.path().join(other).join(&file)).unwrap();
            assert!(memory == b, "{f} differs between the in-memory and the {other} run");
        }
    }
    assert_eq!(std::fs::read_dir(&spill_dir).unwrap().count(), 0, "spill files are removed");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let info = |out: &str, key: &str| {
        let path = dir.path().join(out).join("run_info.parquet").display().to_string();
        let sql = format!("SELECT value FROM r WHERE key = '{key}'");
        rt.block_on(async {
            let ctx = datafusion::prelude::SessionContext::new();
            ctx.register_parquet("r", &path, Default::default()).await.unwrap();
            common::rows(&ctx, &sql).await[0].parse::<u64>().unwrap()
        })
    };
    assert_eq!(info("memory", "spill_rows"), 0);
    assert_eq!(info("memory", "derive_partitions"), 1);
    assert!(info("spilled", "spill_rows") > info("spilled", "signal_spans"), "partitions were split again");
    assert!(info("spilled", "derive_partitions") > 16);
}

#[test]
fn many_small_objects_are_held_at_their_size_and_give_the_output_of_one_file() {
    let dir = tempfile::tempdir().unwrap();
    let small = dir.path().join("small");
    generate(&small, &["--traces", "400", "--traces-per-document", "1", "--documents-per-file", "1"]);
    let names = files(&small);
    assert_eq!(names.len(), 400);
    // The same documents in the same order, as one JSON Lines file.
    let one = dir.path().join("one");
    std::fs::create_dir(&one).unwrap();
    let all: Vec<u8> = names.iter().flat_map(|n| std::fs::read(small.join(n)).unwrap()).collect();
    std::fs::write(one.join("all.jsonl"), all).unwrap();

    // About 2,000 spans take under 4 MiB as one batch. As 400 batches of one trace each they
    // counted over 32 MiB (every batch with its builders' spare capacity) and were spilled.
    let metrics = |input: &Path, out: &str| {
        let run = spanlens()
            .arg("metrics")
            .arg(input)
            .arg("--out")
            .arg(dir.path().join(out))
            .args(["--spill-threshold", "4MiB"])
            .assert()
            .success();
        String::from_utf8(run.get_output().stderr.clone()).unwrap()
    };
    for (input, out) in [(&small, "m-small"), (&one, "m-one")] {
        let stderr = metrics(input, out);
        assert!(stderr.contains("read ") && !stderr.contains("spilled"), "{out}: {stderr}");
    }
    for f in ["service_metrics", "operation_metrics", "dependency_metrics", "signals"] {
        let a = std::fs::read(dir.path().join("m-small").join(format!("{f}.parquet"))).unwrap();
        let b = std::fs::read(dir.path().join("m-one").join(format!("{f}.parquet"))).unwrap();
        assert!(a == b, "{f}: 400 objects and one file give different tables");
    }

    for (input, out) in [(&small, "s-small"), (&one, "s-one")] {
        spanlens().arg("ingest").arg(input).arg("--out").arg(dir.path().join(out)).arg("-q").assert().success();
    }
    let (a, b) = (dir.path().join("s-small/spans"), dir.path().join("s-one/spans"));
    assert_eq!(files(&a), files(&b));
    for f in files(&a) {
        assert!(std::fs::read(a.join(&f)).unwrap() == std::fs::read(b.join(&f)).unwrap(), "store file {f} differs");
    }
}

/// `--sample` keeps whole traces with the given probability, as a subset of the unsampled run
/// (the same spans but for their tracestate), writes the threshold on every kept span, and
/// data_quality counts those spans as sampled.
#[test]
fn sampling_keeps_a_subset_of_whole_traces_with_their_threshold() {
    let dir = tempfile::tempdir().unwrap();
    let (all, some) = (dir.path().join("all"), dir.path().join("some"));
    generate(&all, &["--traces", "4000"]);
    spanlens()
        .arg("gen")
        .arg("--out")
        .arg(&some)
        .args(["--traces", "4000", "--sample", "0.25"])
        .assert()
        .success()
        .stderr(contains("more left out by --sample"));
    let sql = |input: &Path, statement: &str| -> Vec<String> {
        let run = spanlens().arg("sql").arg(input).args(["--format", "csv", "-e", statement]).assert().success();
        String::from_utf8(run.get_output().stdout.clone()).unwrap().lines().skip(1).map(String::from).collect()
    };
    let per_trace = "SELECT id_to_hex(trace_id), COUNT(*), SUM(CAST(end_time AS BIGINT) - CAST(start_time AS BIGINT)) \
                     FROM spans GROUP BY 1 ORDER BY 1";
    let (full, sampled) = (sql(&all, per_trace), sql(&some, per_trace));
    // Binomial(4000, 0.25): 1000 traces kept on average, standard deviation 27.4; within 5.
    assert!((sampled.len() as f64 - 1000.0).abs() < 137.0, "{} traces kept", sampled.len());
    let full: std::collections::BTreeSet<&String> = full.iter().collect();
    assert!(sampled.iter().all(|t| full.contains(t)), "the kept traces are the unsampled run's, span for span");
    let states = sql(&some, "SELECT COUNT(*) FILTER (WHERE trace_state = 'ot=th:c'), COUNT(*) FROM spans");
    let (with_th, spans) = states[0].split_once(',').unwrap();
    assert_eq!(with_th, spans);
    let quality = sql(&some, "SELECT count, total FROM data_quality WHERE \"check\" = 'sampled_spans'");
    assert_eq!(quality, [format!("{spans},{spans}")]);
    assert_eq!(sql(&all, "SELECT count FROM data_quality WHERE \"check\" = 'sampled_spans'"), ["0"]);
}
