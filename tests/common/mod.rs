//! Shared helpers for the integration tests: the binary, fixture paths, running an ingest into
//! a temp directory, and querying results with DataFusion.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;
use arrow::datatypes::DataType;
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use spanlens::config::IngestPlan;
use spanlens::ingest::DecodeOptions;
use spanlens::store::StoreOptions;

/// The `spanlens` binary of this build, with colour off.
pub fn spanlens() -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("spanlens").unwrap();
    cmd.env("NO_COLOR", "1");
    cmd
}

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(name)
}

pub fn sample(name: &str) -> PathBuf {
    fixture("otlp-samples").join(name)
}

pub fn plan(inputs: &[&Path], out: &Path, keep_going: bool) -> IngestPlan {
    IngestPlan {
        inputs: inputs.iter().map(|p| p.display().to_string()).collect(),
        out: out.to_path_buf(),
        force: true,
        quiet: true,
        decode: DecodeOptions { keep_going, ..DecodeOptions::default() },
        store: StoreOptions::default(),
        command: "spanlens ingest (test)".into(),
    }
}

/// A session with the store at `out` registered as `spans` (with the `date` partition column)
/// and its `run_info` table.
pub async fn store_context(out: &Path) -> SessionContext {
    let ctx = SessionContext::new();
    let opts = ParquetReadOptions::default().table_partition_cols(vec![("date".into(), DataType::Utf8)]);
    let spans = format!("{}/", out.join("spans").display());
    ctx.register_parquet("spans", &spans, opts).await.expect("register spans");
    let run_info = out.join("run_info.parquet").display().to_string();
    ctx.register_parquet("run_info", &run_info, ParquetReadOptions::default()).await.expect("register run_info");
    ctx
}

/// Run a query and render the result as sorted lines `a|b|c`, for easy comparison.
/// One query's rows over a Parquet file registered as `t`, as `a|b|c` lines.
pub async fn query_file(file: &Path, sql: &str) -> Vec<String> {
    let ctx = SessionContext::new();
    ctx.register_parquet("t", &file.display().to_string(), Default::default()).await.unwrap();
    rows(&ctx, sql).await
}

pub async fn rows(ctx: &SessionContext, sql: &str) -> Vec<String> {
    let batches: Vec<RecordBatch> = ctx.sql(sql).await.expect(sql).collect().await.expect(sql);
    let mut out = Vec::new();
    for batch in &batches {
        for row in 0..batch.num_rows() {
            let cells: Vec<String> = batch
                .columns()
                .iter()
                .map(|c| arrow::util::display::array_value_to_string(c, row).expect("displayable"))
                .collect();
            out.push(cells.join("|"));
        }
    }
    out.sort();
    out
}

/// Whole-input gzip, as an exporter writes it.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

/// Debian's Chromium (or SPANLENS_CHROMIUM).
pub fn chromium() -> PathBuf {
    let path = std::env::var_os("SPANLENS_CHROMIUM").map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
    assert!(path.is_file(), "{} not found: `bash .ci/setup` installs Debian's chromium", path.display());
    path
}

/// Run headless Chromium on `page` with `args` (a new profile, no network of its own).
pub fn headless(page: &Path, args: &[&str]) -> std::process::Output {
    let profile = tempfile::tempdir().unwrap();
    std::process::Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium runs")
}
