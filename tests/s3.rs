//! `s3://` targets against a real S3-compatible server: moto (`pip install 'moto[server]'`),
//! started on 127.0.0.1 for each test; no traffic leaves the machine.

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command as Process, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use predicates::prelude::PredicateBooleanExt;
use predicates::str::contains;

/// A moto S3 server on a free loopback port, stopped on drop.
struct Moto {
    child: Child,
    endpoint: String,
}

impl Moto {
    fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Process::new("python3")
            .args(["-m", "moto.server", "-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 -m moto.server (install with: python3 -m pip install 'moto[server]')");
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto did not start on port {port}");
            std::thread::sleep(Duration::from_millis(100));
        }
        Moto { child, endpoint: format!("http://127.0.0.1:{port}") }
    }

    /// A spanlens command configured for this server only (no shared AWS files, no metadata
    /// service).
    fn spanlens(&self) -> Command {
        let mut cmd = Command::cargo_bin("spanlens").unwrap();
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("AWS_ENDPOINT_URL", &self.endpoint)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", "/nonexistent")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
            .env("NO_COLOR", "1");
        cmd
    }

    fn client(&self) -> aws_sdk_s3::Client {
        let config = aws_sdk_s3::config::Builder::new()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "test"))
            .force_path_style(true)
            .build();
        aws_sdk_s3::Client::from_conf(config)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

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
