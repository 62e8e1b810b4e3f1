//! `s3://` targets against a real S3-compatible server: moto (`pip install 'moto[server]'`),
//! started on 127.0.0.1 for each test; no traffic leaves the machine.

#[path = "common/moto.rs"]
mod moto;

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::time::Duration;

use moto::Moto;
use predicates::prelude::PredicateBooleanExt;
use predicates::str::contains;

/// Every object under `prefix`: key without the prefix, and bytes, sorted by key.
async fn objects(client: &aws_sdk_s3::Client, bucket: &str, prefix: &str) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut pages = client.list_objects_v2().bucket(bucket).prefix(prefix).into_paginator().send();
    while let Some(page) = pages.next().await {
        for object in page.unwrap().contents() {
            let key = object.key().unwrap().to_string();
            let body = client.get_object().bucket(bucket).key(&key).send().await.unwrap().body;
            let bytes = body.collect().await.unwrap().into_bytes().to_vec();
            out.push((key.strip_prefix(prefix).unwrap().to_string(), bytes));
        }
    }
    out.sort();
    out
}

/// Every file under `root`: relative path and bytes, sorted by path.
fn files(root: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = walkdir::WalkDir::new(root)
        .into_iter()
        .map(Result::unwrap)
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let rel = e.path().strip_prefix(root).unwrap().to_string_lossy().into_owned();
            (rel, std::fs::read(e.path()).unwrap())
        })
        .collect();
    out.sort();
    out
}

#[test]
fn gen_writes_the_exporter_layout_to_s3_as_it_writes_a_directory() {
    let moto = Moto::start();
    let client = moto.client();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(client.create_bucket().bucket("traces").send()).unwrap();
    let flags =
        ["gen", "--traces", "400", "--layout", "s3exporter", "--format", "json", "--compress", "gzip", "--quiet"];

    moto.spanlens().args(flags).args(["--out", "s3://traces/otel/"]).assert().success();
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("local");
    moto.spanlens().args(flags).arg("--out").arg(&local).assert().success();

    let uploaded = rt.block_on(objects(&client, "traces", "otel/"));
    let written = files(&local);
    assert!(written.len() > 1, "several objects: {}", written.len());
    assert!(uploaded.iter().all(|(k, _)| k.starts_with("year=") && k.ends_with(".json.gz")), "exporter keys");
    assert!(uploaded == written, "the objects are the directory's files, key for path and byte for byte");

    // An existing prefix is refused without --force, and written over with it.
    moto.spanlens()
        .args(flags)
        .args(["--out", "s3://traces/otel"])
        .assert()
        .code(2)
        .stderr(contains("s3://traces/otel/ already holds objects").and(contains("--force")));
    moto.spanlens().args(flags).args(["--out", "s3://traces/otel", "--force"]).assert().success();
    assert!(rt.block_on(objects(&client, "traces", "otel/")) == written);
}

#[test]
fn a_missing_bucket_is_an_error_naming_it() {
    let moto = Moto::start();
    moto.spanlens()
        .args(["gen", "--traces", "10", "--quiet", "--out", "s3://no-such-bucket/x"])
        .assert()
        .code(2)
        .stderr(contains("s3://no-such-bucket/x").and(contains("NoSuchBucket")));
}

/// Every `.parquet` file of a metrics output but run_info (which names the inputs), by name.
fn tables(dir: &Path) -> Vec<(String, Vec<u8>)> {
    files(dir).into_iter().filter(|(name, _)| name.ends_with(".parquet") && name != "run_info.parquet").collect()
}

/// A count of `run_info.parquet` of an output, by key, read with DataFusion.
fn run_info_count(dir: &Path, key: &str) -> u64 {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let ctx = datafusion::prelude::SessionContext::new();
        let file = dir.join("run_info.parquet").display().to_string();
        ctx.register_parquet("r", &file, Default::default()).await.unwrap();
        let sql = format!("SELECT value FROM r WHERE source = '' AND key = '{key}' AND reason IS NULL");
        let batches = ctx.sql(&sql).await.unwrap().collect().await.unwrap();
        let column = batches[0].column(0);
        let value = arrow::array::AsArray::as_primitive::<arrow::datatypes::Int64Type>(column.as_ref()).value(0);
        u64::try_from(value).unwrap()
    })
}

/// Generate the same pet-clinic objects into `s3://traces/<prefix>` and the local `dir`.
fn gen_both(moto: &Moto, prefix: &str, dir: &Path, flags: &[&str]) {
    moto.spanlens()
        .args(["gen", "--quiet", "--layout", "s3exporter"])
        .args(flags)
        .args(["--out", &format!("s3://traces/{prefix}")])
        .assert()
        .success();
    moto.spanlens()
        .args(["gen", "--quiet", "--layout", "s3exporter"])
        .args(flags)
        .arg("--out")
        .arg(dir)
        .assert()
        .success();
}

/// `s3://` inputs of every format and compression give the tables (and the span store) of the
/// same objects on disk, byte for byte; mixed with local inputs; `run_info` counts what was
/// listed and read.
#[test]
fn s3_inputs_give_the_tables_of_the_same_objects_on_disk() {
    let moto = Moto::start();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(moto.client().create_bucket().bucket("traces").send()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name);
    let shapes: [(&str, &[&str]); 4] = [
        ("gz", &["--format", "json", "--compress", "gzip", "--traces", "600"]),
        ("zst", &["--format", "json", "--compress", "zstd", "--traces", "300", "--seed", "2"]),
        ("plain", &["--format", "json", "--traces", "300", "--seed", "3"]),
        ("proto", &["--format", "proto", "--traces", "300", "--seed", "4"]),
    ];
    for (name, flags) in shapes {
        gen_both(&moto, &format!("otel/{name}"), &p("local").join(name), flags);
    }
    moto.spanlens().args(["metrics", "--quiet", "s3://traces/otel", "--out"]).arg(p("m-s3")).assert().success();
    moto.spanlens().args(["metrics", "--quiet"]).arg(p("local")).arg("--out").arg(p("m-local")).assert().success();
    let (from_s3, local) = (tables(&p("m-s3")), tables(&p("m-local")));
    assert_eq!(from_s3.len(), 8, "the metric, graph and signals tables");
    assert!(from_s3 == local, "the tables of s3:// inputs are those of the same objects on disk");
    let objects = files(&p("local")).len() as u64;
    assert_eq!(run_info_count(&p("m-s3"), "s3_objects_read"), objects);
    assert_eq!(run_info_count(&p("m-s3"), "s3_objects_listed"), objects);

    // ingest: the same span store; inputs mixed with local ones.
    moto.spanlens().args(["ingest", "--quiet", "s3://traces/otel", "--out"]).arg(p("store-s3")).assert().success();
    moto.spanlens().args(["ingest", "--quiet"]).arg(p("local")).arg("--out").arg(p("store-local")).assert().success();
    assert!(files(&p("store-s3").join("spans")) == files(&p("store-local").join("spans")), "the same store");
    moto.spanlens()
        .args(["metrics", "--quiet", "s3://traces/otel/gz", "s3://traces/otel/zst"])
        .arg(p("local").join("plain"))
        .arg(p("local").join("proto"))
        .arg("--out")
        .arg(p("m-mixed"))
        .assert()
        .success();
    assert!(tables(&p("m-mixed")) == local, "s3:// and local inputs mixed");

    // A trailing glob filters keys as local globs filter paths.
    moto.spanlens()
        .args(["metrics", "s3://traces/otel/**/*.json.gz", "--out"])
        .arg(p("m-glob"))
        .assert()
        .success()
        .stderr(contains("not matching the glob"));
    moto.spanlens()
        .args(["metrics", "--quiet"])
        .arg(p("local").join("gz"))
        .arg("--out")
        .arg(p("m-gz"))
        .assert()
        .success();
    assert!(tables(&p("m-glob")) == tables(&p("m-gz")), "the glob keeps the gzip JSON objects only");

    // sql: the spans and the tables made on demand of s3:// inputs are those of the objects on disk.
    let query = "SELECT service_name, kind, count(*) AS n, sum(duration_ns) AS d FROM spans GROUP BY 1, 2 ORDER BY 1, 2; \
                 SELECT * FROM service_metrics ORDER BY 1, 2, 3, 4";
    let sql = |input: &std::ffi::OsStr| {
        let out = moto.spanlens().args(["sql", "--format", "csv", "-e", query]).arg(input).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        (out.stdout, String::from_utf8(out.stderr).unwrap())
    };
    let (s3_rows, s3_err) = sql("s3://traces/otel".as_ref());
    let (local_rows, _) = sql(p("local").as_os_str());
    assert!(s3_rows.len() > 200 && s3_rows == local_rows, "sql over s3:// equals sql over the same files");
    assert!(s3_err.contains(&format!("s3: listed {objects} objects")), "{s3_err}");
}

/// With a window, only the partitions that can hold it (with the slack) are listed and read;
/// the tables equal those of the same window over the objects on disk.
#[test]
fn a_window_reads_only_the_partitions_that_can_hold_it() {
    let moto = Moto::start();
    let client = moto.client();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(client.create_bucket().bucket("traces").send()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name);
    gen_both(
        &moto,
        "otel",
        &p("local"),
        &["--format", "json", "--compress", "gzip", "--traces", "2000", "--traces-per-document", "4"],
    );
    let window = ["--from", "2026-11-18T06:00:00Z", "--to", "2026-11-18T12:00:00Z"];
    moto.spanlens()
        .args(["metrics", "s3://traces/otel"])
        .args(window)
        .arg("--out")
        .arg(p("m-s3"))
        .assert()
        .success()
        .stderr(contains("s3: listed").and(contains("pruned by partition time")));
    moto.spanlens()
        .args(["metrics", "--quiet"])
        .arg(p("local"))
        .args(window)
        .arg("--out")
        .arg(p("m-local"))
        .assert()
        .success();
    // The metric tables of the window are the same; signals.parquet holds the records of the
    // spans read, fewer when objects are pruned.
    let metric_tables = |dir: &Path| -> Vec<(String, Vec<u8>)> {
        tables(dir).into_iter().filter(|(name, _)| name != "signals.parquet").collect()
    };
    assert_eq!(metric_tables(&p("m-s3")).len(), 7, "the metric and graph tables");
    let (pruned, all) = (metric_tables(&p("m-s3")), metric_tables(&p("m-local")));
    let differ: Vec<&str> = pruned.iter().zip(&all).filter(|(a, b)| a != b).map(|(a, _)| a.0.as_str()).collect();
    // data_quality checks the spans read, not a window: fewer when objects are pruned.
    assert_eq!(differ, ["data_quality.parquet"], "the same tables for the window but data_quality");

    // Exactly the objects whose minute partition overlaps [05:00, 13:00) are read.
    let keys = rt.block_on(objects(&client, "traces", "otel/"));
    let minute = |key: &str| -> String {
        let f: Vec<&str> = key.split('/').map(|s| s.split('=').nth(1).unwrap_or("")).collect();
        format!("{}-{}-{}T{}:{}", f[0], f[1], f[2], f[3], f[4])
    };
    let expected =
        keys.iter().filter(|(k, _)| ("2026-11-18T05:00".."2026-11-18T13:00").contains(&minute(k).as_str())).count()
            as u64;
    assert!(expected > 0 && expected < keys.len() as u64 / 4, "{expected} of {}", keys.len());
    assert_eq!(run_info_count(&p("m-s3"), "s3_objects_read"), expected);
    assert_eq!(run_info_count(&p("m-s3"), "s3_prefixes_listed"), 8, "one prefix per hour of the widened window");
}

/// More than 1,000 objects under a prefix: every page of the listing is read.
#[test]
fn listings_are_read_past_one_page() {
    let moto = Moto::start();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(moto.client().create_bucket().bucket("traces").send()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    gen_both(
        &moto,
        "many",
        &dir.path().join("local"),
        &["--format", "json", "--traces", "1100", "--traces-per-document", "1"],
    );
    let out = dir.path().join("store");
    moto.spanlens()
        .args(["ingest", "s3://traces/many/", "--out"])
        .arg(&out)
        .assert()
        .success()
        .stderr(contains("read 1,100 inputs").and(contains("s3: listed 1,100 objects")));
}

/// A missing bucket, denied access and an endpoint nobody answers are errors (exit 2) that say
/// what to check; unsigned requests reach a public bucket.
#[test]
fn s3_input_errors_say_what_to_check() {
    let moto = Moto::start();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(
        moto.client().create_bucket().bucket("traces").acl(aws_sdk_s3::types::BucketCannedAcl::PublicRead).send(),
    )
    .unwrap();
    moto.spanlens()
        .args(["metrics", "s3://no-such-bucket/otel"])
        .assert()
        .code(2)
        .stderr(contains("s3://no-such-bucket").and(contains("does not exist")).and(contains("--endpoint-url")));
    moto.spanlens()
        .args(["metrics", "s3://traces/empty/"])
        .assert()
        .code(2)
        .stderr(contains("no objects under s3://traces/empty/"));
    let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    moto.spanlens()
        .args(["metrics", "s3://traces/otel", "--endpoint-url", &format!("http://127.0.0.1:{closed}")])
        .timeout(Duration::from_secs(120))
        .assert()
        .code(2)
        .stderr(contains("listing failed").and(contains("--endpoint-url")));
    moto.spanlens().args(["gen", "--quiet", "--traces", "20", "--out", "s3://traces/public"]).assert().success();
    moto.spanlens()
        .args(["metrics", "--quiet", "--no-sign-request", "s3://traces/public"])
        .assert()
        .success()
        .stdout(contains("frontend-api"));
    moto.spanlens()
        .args(["metrics", "--s3-partition-format", "%Y/%j", "s3://traces/public"])
        .assert()
        .code(2)
        .stderr(contains("%j is not supported"));
}

/// A loopback HTTP proxy between spanlens and moto that fails requests in turn: a 500, a 503
/// SlowDown, a connection closed before any response, and a body cut short; the other six of
/// every ten go through.
struct FaultProxy {
    port: u16,
    counts: std::sync::Arc<std::sync::Mutex<[u64; 5]>>,
    /// The request line of every request, in the order they came.
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl FaultProxy {
    fn start(upstream: &str) -> Self {
        let upstream = upstream.trim_start_matches("http://").to_string();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let counts = std::sync::Arc::new(std::sync::Mutex::new([0u64; 5]));
        let next = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (shared, shared_log) = (counts.clone(), log.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let (upstream, counts, next, log) =
                    (upstream.clone(), shared.clone(), next.clone(), shared_log.clone());
                std::thread::spawn(move || {
                    let _ = FaultProxy::serve(conn, &upstream, &counts, &next, &log);
                });
            }
        });
        FaultProxy { port, counts, log }
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// One request per connection, answered with `Connection: close`.
    fn serve(
        mut conn: TcpStream,
        upstream: &str,
        counts: &std::sync::Mutex<[u64; 5]>,
        next: &std::sync::atomic::AtomicU64,
        log: &std::sync::Mutex<Vec<String>>,
    ) -> std::io::Result<()> {
        use std::io::{Read, Write};
        conn.set_read_timeout(Some(Duration::from_secs(30)))?;
        let mut request = Vec::new();
        let mut buf = [0u8; 8192];
        let head_end = loop {
            let n = conn.read(&mut buf)?;
            if n == 0 {
                return Ok(());
            }
            request.extend_from_slice(&buf[..n]);
            if let Some(at) = request.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
        };
        let head = String::from_utf8_lossy(&request[..head_end]).to_string();
        let length: usize = head
            .lines()
            .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap_or(0)))
            .unwrap_or(0);
        while request.len() < head_end + length {
            let n = conn.read(&mut buf)?;
            if n == 0 {
                break;
            }
            request.extend_from_slice(&buf[..n]);
        }
        log.lock().unwrap().push(head.lines().next().unwrap_or_default().to_string());
        let kind = (next.fetch_add(1, std::sync::atomic::Ordering::SeqCst) % 10) as usize;
        let kind = kind.min(4);
        counts.lock().unwrap()[kind] += 1;
        let error = |status: &str, code: &str| {
            let body = format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>injected</Message></Error>"
            );
            format!(
                "HTTP/1.1 {status}\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
        };
        match kind {
            0 => return conn.write_all(error("500 Internal Server Error", "InternalError").as_bytes()),
            1 => return conn.write_all(error("503 Slow Down", "SlowDown").as_bytes()),
            2 => return conn.shutdown(std::net::Shutdown::Both),
            _ => {}
        }
        // Forward with Connection: close, and read the whole answer.
        let mut forwarded: Vec<u8> = head
            .split("\r\n")
            .filter(|l| !l.to_ascii_lowercase().starts_with("connection:") && !l.is_empty())
            .flat_map(|l| [l.as_bytes(), b"\r\n"].concat())
            .collect();
        forwarded.extend_from_slice(b"Connection: close\r\n\r\n");
        forwarded.extend_from_slice(&request[head_end..]);
        let mut up = TcpStream::connect(upstream)?;
        up.write_all(&forwarded)?;
        let mut answer = Vec::new();
        up.read_to_end(&mut answer)?;
        let split = answer.windows(4).position(|w| w == b"\r\n\r\n").map_or(answer.len(), |at| at + 4);
        let (answer_head, body) = answer.split_at(split);
        let answer_head: String = String::from_utf8_lossy(answer_head)
            .split("\r\n")
            .filter(|l| !l.to_ascii_lowercase().starts_with("connection:") && !l.is_empty())
            .map(|l| format!("{l}\r\n"))
            .collect::<String>()
            + "Connection: close\r\n\r\n";
        conn.write_all(answer_head.as_bytes())?;
        if kind == 3 && body.len() > 1 {
            // The body cut short: half of it, then the connection closes.
            conn.write_all(&body[..body.len() / 2])?;
            return conn.shutdown(std::net::Shutdown::Both);
        }
        conn.write_all(body)
    }
}

/// Through a proxy failing four requests in ten (500, 503 SlowDown, a reset before the answer,
/// a body cut short), the tables are those of the fault-free run, and nothing is left behind.
#[test]
fn faults_on_the_way_change_nothing_in_the_output() {
    let moto = Moto::start();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(moto.client().create_bucket().bucket("traces").send()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name);
    moto.spanlens()
        .args(["gen", "--quiet", "--layout", "s3exporter", "--format", "json", "--compress", "gzip", "--traces", "800"])
        .args(["--traces-per-document", "8", "--out", "s3://traces/otel"])
        .assert()
        .success();
    moto.spanlens().args(["metrics", "--quiet", "s3://traces/otel", "--out"]).arg(p("clean")).assert().success();
    let proxy = FaultProxy::start(&moto.endpoint);
    moto.spanlens()
        .args([
            "metrics",
            "--quiet",
            "s3://traces/otel",
            "--s3-concurrency",
            "8",
            "--endpoint-url",
            &proxy.endpoint(),
            "--out",
        ])
        .arg(p("faulty"))
        .timeout(Duration::from_secs(300))
        .assert()
        .success();
    assert!(tables(&p("faulty")) == tables(&p("clean")), "the same tables through the faults");
    let counts = *proxy.counts.lock().unwrap();
    let total: u64 = counts.iter().sum();
    assert!(total > 100, "{total} requests");
    for (kind, n) in ["500", "503 SlowDown", "reset", "body cut short"].iter().zip(counts) {
        assert!(n * 10 >= total - 10, "{kind}: {n} of {total}");
    }
    let left: Vec<String> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    let mut left = left;
    left.sort();
    assert_eq!(left, ["clean", "faulty"], "no staging or temporary files");
}

/// The manifest under `prefix`, parsed.
async fn manifest(client: &aws_sdk_s3::Client, bucket: &str, prefix: &str) -> serde_json::Value {
    let key = format!("{prefix}_SPANLENS_MANIFEST.json");
    let body = client.get_object().bucket(bucket).key(&key).send().await.unwrap().body;
    serde_json::from_slice(&body.collect().await.unwrap().into_bytes()).unwrap()
}

/// Check that the manifest of the objects under `prefix` lists every other object with its
/// size and SHA-256, and nothing else.
fn check_manifest(manifest: &serde_json::Value, objects: &[(String, Vec<u8>)], command: &str) {
    use sha2::Digest;
    let listed: Vec<(String, u64, String)> = manifest["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["key"].as_str().unwrap().into(), o["size"].as_u64().unwrap(), o["sha256"].as_str().unwrap().into()))
        .collect();
    let actual: Vec<(String, u64, String)> = objects
        .iter()
        .filter(|(key, _)| key != "_SPANLENS_MANIFEST.json")
        .map(|(key, bytes)| {
            let sha: String = sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect();
            (key.clone(), bytes.len() as u64, sha)
        })
        .collect();
    assert!(!actual.is_empty());
    assert_eq!(listed, actual, "the manifest lists every object, its size and SHA-256");
    assert!(manifest["command"].as_str().unwrap().contains(command), "{}", manifest["command"]);
    assert_eq!(manifest["spanlens_version"], env!("CARGO_PKG_VERSION"));
}

/// `objects` without the manifest and run_info.parquet (which names the command line).
fn without_run_info(objects: Vec<(String, Vec<u8>)>) -> Vec<(String, Vec<u8>)> {
    objects.into_iter().filter(|(k, _)| k != "_SPANLENS_MANIFEST.json" && k != "run_info.parquet").collect()
}

/// `ingest` and `metrics` with `--out s3://` write the files of a local output, byte for byte,
/// and the manifest listing them; the store and the metrics output on S3 read back as their
/// local twins do (`metrics`, `slo`, `sql`).
#[test]
fn outputs_on_s3_are_the_local_outputs_with_a_manifest() {
    let moto = Moto::start();
    let client = moto.client();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(client.create_bucket().bucket("traces").send()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name);
    gen_both(&moto, "otel", &p("local"), &["--format", "json", "--compress", "gzip", "--traces", "600"]);

    // ingest: the store's objects are the local store's files.
    moto.spanlens()
        .args(["ingest", "s3://traces/otel", "--out", "s3://traces/out/store"])
        .assert()
        .success()
        .stderr(contains("wrote s3://traces/out/store/").and(contains("_SPANLENS_MANIFEST.json last")));
    moto.spanlens().args(["ingest", "--quiet"]).arg(p("local")).arg("--out").arg(p("store")).assert().success();
    let store = rt.block_on(objects(&client, "traces", "out/store/"));
    check_manifest(&rt.block_on(manifest(&client, "traces", "out/store/")), &store, "--out s3://traces/out/store");
    assert!(store.iter().any(|(k, _)| k == "run_info.parquet"));
    assert!(store.iter().filter(|(k, _)| k.starts_with("spans/date=")).count() >= 7);
    assert!(without_run_info(store) == without_run_info(files(&p("store"))), "the local store, byte for byte");

    // metrics of the store on S3: the tables of the local store.
    moto.spanlens()
        .args(["metrics", "s3://traces/out/store", "--out"])
        .arg(p("m-from-s3"))
        .assert()
        .success()
        .stderr(contains("read span store s3://traces/out/store/"));
    moto.spanlens().args(["metrics", "--quiet"]).arg(p("store")).arg("--out").arg(p("m-local")).assert().success();
    assert_eq!(tables(&p("m-local")).len(), 8);
    assert!(tables(&p("m-from-s3")) == tables(&p("m-local")), "a store on S3 reads as the local store");
    // graph of the store on S3: the local store's graph.
    let graph = |input: &std::ffi::OsStr| {
        let out = moto.spanlens().args(["graph", "--format", "json"]).arg(input).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        (out.stdout, String::from_utf8(out.stderr).unwrap())
    };
    let (from_s3, said) = graph("s3://traces/out/store".as_ref());
    assert!(from_s3.len() > 100 && from_s3 == graph(p("store").as_os_str()).0, "graph of a store on S3");
    assert!(said.contains("read span store s3://traces/out/store"), "{said}");
    // With a window, only the date partitions that can hold it are fetched; the tables are the same.
    let window = ["--from", "2026-11-18", "--to", "2026-11-19"];
    moto.spanlens()
        .args(["metrics", "--quiet", "s3://traces/out/store"])
        .args(window)
        .arg("--out")
        .arg(p("w-s3"))
        .assert()
        .success();
    moto.spanlens()
        .args(["metrics", "--quiet"])
        .arg(p("store"))
        .args(window)
        .arg("--out")
        .arg(p("w-local"))
        .assert()
        .success();
    let metric_tables = |dir: &Path| -> Vec<(String, Vec<u8>)> {
        tables(dir).into_iter().filter(|(name, _)| name != "signals.parquet").collect()
    };
    assert!(metric_tables(&p("w-s3")) == metric_tables(&p("w-local")), "the window's tables");

    // metrics --out s3://: the objects are the local output's files; read back for another
    // bucket, its signals give the local output's tables.
    moto.spanlens()
        .args(["metrics", "--quiet"])
        .arg(p("store"))
        .args(["--out", "s3://traces/out/metrics"])
        .assert()
        .success();
    let metrics = rt.block_on(objects(&client, "traces", "out/metrics/"));
    check_manifest(&rt.block_on(manifest(&client, "traces", "out/metrics/")), &metrics, "s3://traces/out/metrics");
    assert!(without_run_info(metrics) == without_run_info(files(&p("m-local"))), "the local output, byte for byte");
    moto.spanlens()
        .args(["metrics", "s3://traces/out/metrics", "--bucket", "1h", "--out"])
        .arg(p("again-s3"))
        .assert()
        .success()
        .stderr(contains("read signals s3://traces/out/metrics/signals.parquet"));
    moto.spanlens()
        .args(["metrics", "--quiet"])
        .arg(p("m-local"))
        .args(["--bucket", "1h", "--out"])
        .arg(p("again-local"))
        .assert()
        .success();
    assert!(tables(&p("again-s3")) == tables(&p("again-local")), "a metrics output on S3 reads as the local one");

    // slo and sql over the store on S3 print what they print over the local store.
    let slo = |input: &std::ffi::OsStr| {
        let out = moto
            .spanlens()
            .args([
                "slo",
                "--quiet",
                "--format",
                "csv",
                "--at",
                "2026-11-23",
                "--slos",
                "fixtures/slo/petclinic-slos.json",
            ])
            .arg(input)
            .output()
            .unwrap();
        assert!(matches!(out.status.code(), Some(0 | 1)), "{}", String::from_utf8_lossy(&out.stderr));
        out.stdout
    };
    let slos = slo(p("store").as_os_str());
    assert!(slos.len() > 100 && slo("s3://traces/out/store".as_ref()) == slos, "slo over the store on S3");
    let query = "SELECT service_name, count(*) AS n, sum(duration_ns) AS d FROM spans GROUP BY 1 ORDER BY 1; \
                 SELECT count(*) > 0 FROM run_info";
    let sql = |input: &std::ffi::OsStr| {
        let out = moto.spanlens().args(["sql", "--format", "csv", "-e", query]).arg(input).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        out.stdout
    };
    let rows = sql(p("store").as_os_str());
    assert!(rows.len() > 200 && sql("s3://traces/out/store".as_ref()) == rows, "sql over the store on S3");
}

/// An existing output needs --force and is replaced with it, keys it no longer has deleted; a
/// prefix holding Parquet but no manifest is an incomplete output, refused (exit 2).
#[test]
fn s3_outputs_are_replaced_with_force_and_incomplete_ones_refused() {
    let moto = Moto::start();
    let client = moto.client();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(client.create_bucket().bucket("traces").send()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name);
    moto.spanlens().args(["gen", "--quiet", "--traces", "300", "--out"]).arg(p("data")).assert().success();
    let metrics = |flags: &[&str], out: &str| {
        moto.spanlens().args(["metrics", "--quiet"]).arg(p("data")).args(flags).args(["--out", out]).assert()
    };
    metrics(&[], "s3://traces/m").success();
    let all = rt.block_on(objects(&client, "traces", "m/"));
    assert_eq!(all.len(), 10, "8 tables, run_info and the manifest");

    metrics(&["--tables", "service"], "s3://traces/m")
        .code(2)
        .stderr(contains("output s3://traces/m/ already holds objects").and(contains("--force")));
    assert!(rt.block_on(objects(&client, "traces", "m/")) == all, "nothing changed");

    metrics(&["--tables", "service", "--force"], "s3://traces/m").success();
    metrics(&["--tables", "service"], &p("m-local").display().to_string()).success();
    let replaced = rt.block_on(objects(&client, "traces", "m/"));
    let keys: Vec<&str> = replaced.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["_SPANLENS_MANIFEST.json", "run_info.parquet", "service_metrics.parquet"], "stale keys deleted");
    check_manifest(&rt.block_on(manifest(&client, "traces", "m/")), &replaced, "--tables service");
    assert!(without_run_info(replaced) == without_run_info(files(&p("m-local"))));

    // The same output without its manifest reads as incomplete, and is not taken for raw OTLP.
    rt.block_on(client.delete_object().bucket("traces").key("m/_SPANLENS_MANIFEST.json").send()).unwrap();
    for command in ["metrics", "sql"] {
        moto.spanlens()
            .args([command, "s3://traces/m"])
            .args(if command == "sql" { &["-e", "SELECT 1"][..] } else { &[][..] })
            .assert()
            .code(2)
            .stderr(contains("s3://traces/m/ is an incomplete output: no manifest"));
    }
}

/// Outputs written to S3 through the faulty proxy (files large enough to go in parts among
/// them) are the objects of a fault-free run; every object is uploaded before the manifest;
/// nothing is left: no staging directory, no unfinished multipart upload.
#[test]
fn faults_on_the_way_change_nothing_in_an_s3_output() {
    let moto = Moto::start();
    let client = moto.client();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(client.create_bucket().bucket("traces").send()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name);
    moto.spanlens()
        .args(["gen", "--quiet", "--spans", "130000", "--from", "2026-11-18", "--to", "2026-11-19", "--out"])
        .arg(p("data"))
        .assert()
        .success();
    let proxy = FaultProxy::start(&moto.endpoint);
    let flags = ["--quiet", "--s3-part-size", "5MiB", "--s3-concurrency", "4"];
    for (command, faulty) in [("ingest", false), ("ingest", true), ("metrics", false), ("metrics", true)] {
        let out = format!("s3://traces/{command}-{}", if faulty { "faulty" } else { "clean" });
        let mut cmd = moto.spanlens();
        cmd.env("TMPDIR", tmp.path()).arg(command).args(flags).arg(p("data")).args(["--out", &out]);
        if faulty {
            cmd.args(["--endpoint-url", &proxy.endpoint()]);
        }
        cmd.timeout(Duration::from_secs(300)).assert().success();
    }
    for command in ["ingest", "metrics"] {
        let clean = rt.block_on(objects(&client, "traces", &format!("{command}-clean/")));
        let faulty = rt.block_on(objects(&client, "traces", &format!("{command}-faulty/")));
        check_manifest(&rt.block_on(manifest(&client, "traces", &format!("{command}-faulty/"))), &faulty, command);
        assert!(without_run_info(faulty) == without_run_info(clean), "{command}: the objects of the fault-free run");
    }
    // One day of 130,000 spans: a store file of more than one part.
    let largest = rt.block_on(objects(&client, "traces", "ingest-clean/")).into_iter().map(|(_, b)| b.len()).max();
    assert!(largest.unwrap() > 5 << 20, "a file in parts: {largest:?} bytes");

    // Every upload of an output came before its manifest's.
    let log = proxy.log.lock().unwrap().clone();
    for command in ["ingest", "metrics"] {
        let prefix = format!("/traces/{command}-faulty/");
        let puts: Vec<&String> = log.iter().filter(|l| l.starts_with("PUT ") && l.contains(&prefix)).collect();
        let first_manifest = puts.iter().position(|l| l.contains("_SPANLENS_MANIFEST.json")).unwrap();
        assert!(
            puts.len() > 3 && puts[first_manifest..].iter().all(|l| l.contains("_SPANLENS_MANIFEST.json")),
            "{puts:#?}"
        );
    }
    assert!(log.iter().any(|l| l.contains("uploadId=")), "multipart uploads went through the proxy");
    let counts = *proxy.counts.lock().unwrap();
    assert!(counts[..4].iter().all(|n| *n > 0), "every fault happened: {counts:?}");
    let pending = rt.block_on(client.list_multipart_uploads().bucket("traces").send()).unwrap();
    assert!(pending.uploads().is_empty(), "no unfinished multipart upload");
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0, "no staging directory left");

    // An upload that fails (a missing bucket) names the URL, leaves no manifest and no staging.
    moto.spanlens()
        .env("TMPDIR", tmp.path())
        .args(["metrics", "--quiet"])
        .arg(p("data"))
        .args(["--out", "s3://no-such-bucket/m"])
        .assert()
        .code(2)
        .stderr(contains("s3://no-such-bucket/m"));
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0, "no staging directory left");
}
