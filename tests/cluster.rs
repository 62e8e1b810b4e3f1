//! `spanlens cluster` and `sql --scheduler`: a real Ballista cluster of one scheduler and two
//! executors, each a process of the built binary on free 127.0.0.1 ports. Statements over a span
//! store and a metrics output give byte-identical results on the cluster and locally; a job
//! whose executor is killed while it runs completes on the other with the same result; a
//! scheduler that is not there (or has no executors), raw inputs and what runs only locally are
//! refused with exit 2.
#![cfg(feature = "cluster")]

mod common;
#[path = "common/moto.rs"]
mod moto;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::spanlens;
use predicates::str::contains;

fn path(p: &Path) -> String {
    p.display().to_string()
}

/// A process of the cluster, its stderr collected for failure messages.
struct Role {
    child: Child,
    log: Arc<Mutex<String>>,
}

impl Role {
    /// Start `spanlens ARGS` with `env` set; wait for a stderr line starting with `ready` and
    /// return the role and that line.
    fn start_with(args: &[&str], ready: &str, env: &[(&str, String)]) -> (Role, String) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_spanlens"))
            .args(args)
            .env("RUST_LOG", "warn")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let ready = ready.to_string();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if line.starts_with(&ready) {
                    let _ = tx.send(line.clone());
                }
                sink.lock().unwrap().push_str(&(line + "\n"));
            }
        });
        let line = rx.recv_timeout(Duration::from_secs(60)).unwrap_or_else(|_| {
            let _ = child.kill();
            panic!("spanlens {args:?} did not start: {}", log.lock().unwrap())
        });
        (Role { child, log }, line)
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Role {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One scheduler and `executors` executors on loopback.
struct Cluster {
    scheduler: Role,
    executors: Vec<Role>,
    port: u16,
    _work: tempfile::TempDir,
}

impl Cluster {
    fn start(executors: usize) -> Cluster {
        Self::start_with(executors, &[])
    }

    /// [`Cluster::start`] with `env` set in every role (the S3 endpoint and credentials).
    fn start_with(executors: usize, env: &[(&str, String)]) -> Cluster {
        let work = tempfile::tempdir().unwrap();
        let (scheduler, line) = Role::start_with(
            &["cluster", "scheduler", "--bind", "127.0.0.1:0", "--executor-timeout", "4s"],
            "spanlens cluster scheduler listening on",
            env,
        );
        let port: u16 = line.split("127.0.0.1:").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
        let scheduler_at = format!("127.0.0.1:{port}");
        let mut cluster = Cluster { scheduler, executors: Vec::new(), port, _work: work };
        for i in 0..executors {
            let dir = path(&cluster._work.path().join(format!("executor-{i}")));
            let (executor, _) = Role::start_with(
                &[
                    "cluster",
                    "executor",
                    "--scheduler",
                    &scheduler_at,
                    "--bind",
                    "127.0.0.1:0",
                    // One task slot each: the shape under which Ballista's adaptive planner
                    // mis-typed dictionary columns.
                    "--concurrent-tasks",
                    "1",
                    "--heartbeat",
                    "1s",
                    "--work-dir",
                    &dir,
                ],
                "spanlens cluster executor:",
                env,
            );
            cluster.executors.push(executor);
        }
        cluster.wait_for_executors(executors);
        cluster
    }

    fn url(&self) -> String {
        format!("df://127.0.0.1:{}", self.port)
    }

    /// The number of executors the scheduler's `GET /readyz` says are registered.
    fn executors(&self) -> usize {
        spanlens::cluster::client::readyz_executors(&self.readyz()).unwrap_or(0)
    }

    /// The scheduler's `GET /readyz` response.
    fn readyz(&self) -> String {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else { return String::new() };
        let request = "GET /readyz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
        stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        if stream.write_all(request.as_bytes()).is_err() {
            return String::new();
        }
        let mut body = String::new();
        let _ = stream.read_to_string(&mut body);
        body
    }

    /// Wait until the scheduler lists `n` executors.
    fn wait_for_executors(&self, n: usize) {
        let started = Instant::now();
        loop {
            if self.executors() >= n {
                return;
            }
            if started.elapsed() > Duration::from_secs(60) {
                let logs: Vec<String> = self.executors.iter().map(|e| e.log.lock().unwrap().clone()).collect();
                panic!(
                    "{n} executors did not join: {}\nscheduler: {}\nexecutors: {logs:?}",
                    self.readyz(),
                    self.scheduler.log.lock().unwrap()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn logs(&self) -> String {
        let mut text = format!("scheduler:\n{}", self.scheduler.log.lock().unwrap());
        for (i, e) in self.executors.iter().enumerate() {
            text.push_str(&format!("executor {i}:\n{}", e.log.lock().unwrap()));
        }
        text
    }
}

/// `spanlens sql ARGS` (on the cluster when `scheduler` is given); stdout, which must be a
/// success.
fn sql(scheduler: Option<&Cluster>, args: &[&str]) -> Vec<u8> {
    let mut cmd = spanlens();
    cmd.arg("sql").args(args);
    if let Some(cluster) = scheduler {
        cmd.args(["--scheduler", &cluster.url()]);
    }
    let out = cmd.timeout(Duration::from_secs(300)).output().unwrap();
    let logs = scheduler.map(Cluster::logs).unwrap_or_default();
    assert!(
        out.status.success(),
        "spanlens sql {args:?} (cluster: {}) failed: {}\n{logs}",
        scheduler.is_some(),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// A span store of `spans` generated pet-clinic spans, and its `metrics` output, in `dir`.
fn store_and_metrics(dir: &Path, spans: &str) -> (PathBuf, PathBuf) {
    let (data, store, metrics) = (dir.join("data"), dir.join("store"), dir.join("metrics"));
    spanlens().args(["gen", "--spans", spans, "--out", &path(&data), "--quiet"]).assert().success();
    spanlens().args(["ingest", &path(&data), "--out", &path(&store), "--quiet"]).assert().success();
    spanlens().args(["metrics", &path(&store), "--out", &path(&metrics), "--quiet"]).assert().success();
    (store, metrics)
}

/// Statements over the store's spans that take every kind of plan a cluster splits into
/// stages: aggregates with spanlens's exact percentiles, joins, window functions, the scalar
/// functions, sorts and limits, the date partitions.
const STORE_STATEMENTS: &[&str] = &[
    "SELECT service_name, count(*) AS spans, count(DISTINCT trace_id) AS traces, \
     latency_percentiles(ns_to_ms(duration_ns), 0.5, 0.9, 0.99) AS p FROM spans GROUP BY 1 ORDER BY 1",
    "SELECT c.service_name AS client, s.service_name AS server, count(*) AS calls \
     FROM spans c JOIN spans s ON s.trace_id = c.trace_id AND s.parent_span_id = c.span_id \
     WHERE c.service_name <> s.service_name GROUP BY 1, 2 ORDER BY 1, 2",
    "SELECT id_to_hex(trace_id) AS trace, name, duration_ns, \
     rank() OVER (PARTITION BY service_name ORDER BY duration_ns DESC, span_id) AS r \
     FROM spans ORDER BY duration_ns DESC, span_id LIMIT 25",
    "SELECT date, kind, count(*) FROM store_spans GROUP BY 1, 2 ORDER BY 1, 2",
    "SELECT attr(attributes, 'http.request.method') AS method, status_code, count(*) \
     FROM spans GROUP BY 1, 2 ORDER BY 1, 2",
    "SELECT service, count(*) AS requests, sum(fault) AS faults, latency_percentiles(latency_ms, 0.5, 0.99) AS p \
     FROM signals_from_spans WHERE record_type = 'service' GROUP BY 1 ORDER BY 1",
];

#[test]
fn statements_on_the_cluster_equal_local_runs_and_errors_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    let (store, metrics) = store_and_metrics(dir.path(), "30000");
    let cluster = Cluster::start(2);

    for statement in STORE_STATEMENTS {
        let args = [path(&store), "--format".into(), "csv".into(), "-e".into(), statement.to_string()];
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let local = sql(None, &args);
        let remote = sql(Some(&cluster), &args);
        assert!(local.len() > 40, "{statement}: {}", String::from_utf8_lossy(&local));
        assert_eq!(String::from_utf8_lossy(&remote), String::from_utf8_lossy(&local), "{statement}");
    }

    // The records derive_signals gives on the cluster are those of the local derivation.
    let derived = |statement: &str, on: Option<&Cluster>| sql(on, &[&path(&store), "--format", "csv", "-e", statement]);
    let on_cluster =
        derived("SELECT * FROM signals_from_spans ORDER BY trace_id, span_id, record_type DESC", Some(&cluster));
    let local = derived("SELECT * FROM signals", None);
    assert!(local.len() > 1000);
    assert!(on_cluster == local, "signals_from_spans on the cluster differs from the local signals");

    // A metrics output's tables, and a --table file, written as Parquet: the same bytes.
    for (name, statement) in [
        ("services", "SELECT * FROM service_metrics ORDER BY environment, service, bucket_start NULLS FIRST"),
        (
            "dependencies",
            "SELECT d.*, i.requests AS service_requests FROM dependency_metrics d \
             JOIN ids i ON i.service = d.service AND i.bucket_start IS NULL AND i.environment = d.environment \
             ORDER BY dimension_set, d.environment, d.service, operation, remote_service, remote_operation, \
             remote_environment, remote_resource_type, remote_resource_identifier, d.bucket_start NULLS FIRST",
        ),
    ] {
        let ids = path(&metrics.join("service_metrics.parquet"));
        let table = format!("ids={ids}");
        let (local, remote) =
            (dir.path().join(format!("{name}-local.parquet")), dir.path().join(format!("{name}.parquet")));
        for (out, cluster) in [(&local, None), (&remote, Some(&cluster))] {
            sql(
                cluster,
                &[&path(&metrics), "--table", &table, "--format", "parquet", "--out", &path(out), "-e", statement],
            );
        }
        let (a, b) = (std::fs::read(&remote).unwrap(), std::fs::read(&local).unwrap());
        assert!(a == b, "{name}: {} differs from {}", remote.display(), local.display());
    }

    // The SLOs of the metrics output, the records each SLO reads selected on the cluster: the
    // same tables.
    let slos = path(&common::fixture("slo/petclinic-slos.json"));
    // `spanlens ARGS --out DIR/out --quiet`, on the cluster or not: exit code 0, or 1 for a
    // breached SLO.
    let run = |args: &[&str], out: &str, on: Option<&Cluster>| {
        let mut cmd = spanlens();
        cmd.args(args).arg("--out").arg(dir.path().join(out)).arg("--quiet");
        if let Some(c) = on {
            cmd.args(["--scheduler", &c.url()]);
        }
        let run = cmd.timeout(Duration::from_secs(300)).output().unwrap();
        let logs = cluster.logs();
        assert!(matches!(run.status.code(), Some(0 | 1)), "{args:?}: {}\n{logs}", String::from_utf8_lossy(&run.stderr));
        (run.status.code(), run.stdout)
    };
    let mut codes = Vec::new();
    for (out, on) in [("slo-local", None), ("slo-cluster", Some(&cluster))] {
        codes.push(run(&["slo", &path(&metrics), "--slos", &slos], out, on));
    }
    assert_eq!(codes[0], codes[1], "the SLO table printed and the exit code");
    for table in ["slos", "slo_periods", "slo_burn_rates", "slo_burn_series", "slo_alerts"] {
        let file = |out: &str| std::fs::read(dir.path().join(out).join(format!("{table}.parquet"))).unwrap();
        assert!(file("slo-local") == file("slo-cluster"), "{table}.parquet differs");
    }
    // And of the store, its records derived on the cluster.
    let mut codes = Vec::new();
    for (out, on) in [("slo-store-local", None), ("slo-store-cluster", Some(&cluster))] {
        codes.push(run(&["slo", &path(&store), "--slos", &slos], out, on));
    }
    assert_eq!(codes[0], codes[1], "the SLO table printed and the exit code, from the store");
    for table in ["slos", "slo_periods", "slo_alerts"] {
        let file = |out: &str| std::fs::read(dir.path().join(out).join(format!("{table}.parquet"))).unwrap();
        assert!(file("slo-store-local") == file("slo-store-cluster"), "{table}.parquet of the store differs");
    }

    // metrics --scheduler: the metric tables of the store (its records derived on the cluster)
    // and of the metrics output (another bucket) are those of local runs, byte for byte.
    assert_eq!(run(&["metrics", &path(&store)], "m-cluster", Some(&cluster)).0, Some(0));
    run(&["metrics", &path(&metrics), "--bucket", "5m"], "m5-local", None);
    run(&["metrics", &path(&metrics), "--bucket", "5m"], "m5-cluster", Some(&cluster));
    for table in ["service_metrics", "operation_metrics", "dependency_metrics"] {
        let file = |dir: &Path| std::fs::read(dir.join(format!("{table}.parquet"))).unwrap();
        assert!(file(&dir.path().join("m-cluster")) == file(&metrics), "{table}.parquet of the store differs");
        assert!(file(&dir.path().join("m5-cluster")) == file(&dir.path().join("m5-local")), "{table}.parquet (5m)");
    }
    assert!(!dir.path().join("m-cluster/signals.parquet").exists());
    // The records the cluster wrote once beside the store are gone with the run.
    let left: Vec<_> = std::fs::read_dir(&store).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(left.iter().all(|n| !n.to_string_lossy().starts_with(".spanlens-cluster")), "{left:?}");

    // report --scheduler: the metric and SLO tables of the store are those of a local report.
    for (out, on) in [("r-local", None), ("r-cluster", Some(&cluster))] {
        run(&["report", &path(&store), "--slos", &slos, "--compare-previous"], out, on);
    }
    for table in ["service_metrics", "operation_metrics", "dependency_metrics", "slos", "slo_periods", "slo_alerts"] {
        let file = |out: &str| std::fs::read(dir.path().join(out).join(format!("{table}.parquet"))).unwrap();
        assert!(file("r-local") == file("r-cluster"), "report {table}.parquet differs");
    }
    let html = std::fs::read_to_string(dir.path().join("r-cluster/report.html")).unwrap();
    assert!(html.contains("records derived on the cluster"));
    spanlens()
        .args(["metrics", &path(&dir.path().join("data")), "--scheduler", &cluster.url()])
        .assert()
        .code(2)
        .stderr(contains("--scheduler reads one span store or metrics output"));
    spanlens()
        .args(["metrics", &path(&store), "--scheduler", &cluster.url(), "--tables", "graph", "--out"])
        .arg(dir.path().join("m-graph"))
        .assert()
        .code(2)
        .stderr(contains("--tables graph with --scheduler"));

    // What cannot run there is refused before any work.
    let statement = "SELECT count(*) FROM signals_from_spans";
    spanlens()
        .args(["sql", &path(&store), "--scheduler", &cluster.url(), "--compat", "python", "-e", statement])
        .assert()
        .code(2)
        .stderr(contains("signals_from_spans on a cluster derives with the default flags"));
    let raw = dir.path().join("data");
    spanlens()
        .args(["sql", &path(&raw), "--scheduler", &cluster.url(), "-e", "SELECT 1"])
        .assert()
        .code(2)
        .stderr(contains("ingest raw OTLP into a store first"));
    spanlens()
        .args(["sql", &path(&store), "--scheduler", &cluster.url(), "--approx", "-e", "SELECT 1"])
        .assert()
        .code(2)
        .stderr(contains("--approx, --bucket, --from and --to with --scheduler"));
    spanlens()
        .args(["sql", &path(&store), "--scheduler", &cluster.url(), "-e", "SELECT count(*) FROM service_metrics"])
        .assert()
        .code(2)
        .stderr(contains("service_metrics"));
}

#[test]
fn a_scheduler_that_is_not_there_is_a_clear_error() {
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = free.local_addr().unwrap().port();
    drop(free);
    let url = format!("df://127.0.0.1:{port}");
    let dir = tempfile::tempdir().unwrap();
    spanlens()
        .args(["sql", &path(dir.path()), "--scheduler", &url, "-e", "SELECT 1"])
        .assert()
        .code(2)
        .stderr(contains(format!("cannot reach the Ballista scheduler at {url}")));
    spanlens()
        .args(["sql", "--scheduler", "http://x:1", "-e", "SELECT 1"])
        .assert()
        .code(2)
        .stderr(contains("the scheme is df://"));
    // A scheduler without executors: refused after waiting for one, not a job that hangs.
    let lonely = Cluster::start(0);
    spanlens()
        .args(["sql", &path(dir.path()), "--scheduler", &lonely.url(), "-e", "SELECT 1"])
        .timeout(Duration::from_secs(60))
        .assert()
        .code(2)
        .stderr(contains(format!("the Ballista scheduler at {} has no executors", lonely.url())));
    // An executor whose scheduler is not there stops with exit 2 and says which.
    spanlens()
        .args(["cluster", "executor", "--scheduler", &format!("127.0.0.1:{port}"), "--bind", "127.0.0.1:0"])
        .args(["--connect-timeout", "2s"])
        .env("RUST_LOG", "off")
        .timeout(Duration::from_secs(60))
        .assert()
        .code(2)
        .stderr(contains(format!("executor: no scheduler at df://127.0.0.1:{port} within 2 s")));
}

/// Whether `dir` holds a file, at any depth.
fn holds_a_file(dir: &Path) -> bool {
    walkdir::WalkDir::new(dir).into_iter().flatten().any(|e| e.file_type().is_file())
}

#[test]
fn a_job_survives_the_loss_of_an_executor() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = store_and_metrics(dir.path(), "200000");
    let mut cluster = Cluster::start(2);
    // A join of each service's spans of the same hour: two scan stages, a join stage and an
    // aggregate, some seconds of work.
    let statement = "SELECT a.service_name, count(*) AS pairs, sum(b.duration_ns % 1000) AS x FROM spans a \
                     JOIN spans b ON date_trunc('hour', a.start_time) = date_trunc('hour', b.start_time) \
                     AND a.service_name = b.service_name GROUP BY 1 ORDER BY 1";
    // Four partitions per stage, so that both executors take tasks.
    let args = [
        path(&store),
        "--partitions".into(),
        "4".into(),
        "--format".into(),
        "csv".into(),
        "-e".into(),
        statement.into(),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let local = sql(None, &args);

    let mut job = Command::new(env!("CARGO_BIN_EXE_spanlens"))
        .arg("sql")
        .args(&args)
        .args(["--scheduler", &cluster.url()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Kill an executor once it holds shuffle files of the job (a stage it ran, which the next
    // stage reads), while the job still runs: its tasks and the stages whose output it held
    // must run again on the other.
    let started = Instant::now();
    let victim = loop {
        let holding = (0..2).find(|i| holds_a_file(&cluster._work.path().join(format!("executor-{i}"))));
        if let Some(i) = holding {
            break i;
        }
        assert!(job.try_wait().unwrap().is_none(), "the job ended before an executor wrote shuffle files");
        assert!(started.elapsed() < Duration::from_secs(120), "no shuffle files after 120 s");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(job.try_wait().unwrap().is_none(), "the job ended before the executor could be killed");
    cluster.executors[victim].kill();
    let out = job.wait_with_output().unwrap();
    assert!(out.status.success(), "{}\n{}", String::from_utf8_lossy(&out.stderr), cluster.logs());
    assert_eq!(String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&local));
}

/// Every key under `prefix` in `bucket`.
fn keys(client: &aws_sdk_s3::Client, bucket: &str, prefix: &str) -> Vec<String> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let listed = rt.block_on(client.list_objects_v2().bucket(bucket).prefix(prefix).send()).unwrap();
    listed.contents().iter().filter_map(|o| o.key().map(str::to_string)).collect()
}

#[test]
fn a_store_and_an_output_on_s3_are_read_where_they_are() {
    let moto = moto::Moto::start();
    let client = moto.client();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(client.create_bucket().bucket("traces").send()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (store, metrics) = store_and_metrics(dir.path(), "20000");
    let data = path(&dir.path().join("data"));
    moto.spanlens().args(["ingest", &data, "--out", "s3://traces/store", "--quiet"]).assert().success();
    moto.spanlens().args(["metrics", &path(&store), "--out", "s3://traces/metrics", "--quiet"]).assert().success();
    let stored = keys(&client, "traces", "store/");
    let cluster = Cluster::start_with(2, &moto.env());

    // `spanlens ARGS --out DIR/out --quiet` against moto, on the cluster or not; its stderr.
    let run = |args: &[&str], out: &str, on: Option<&Cluster>| {
        let mut cmd = moto.spanlens();
        cmd.args(args).arg("--out").arg(dir.path().join(out)).arg("--quiet");
        if let Some(c) = on {
            cmd.args(["--scheduler", &c.url()]);
        }
        let run = cmd.timeout(Duration::from_secs(300)).output().unwrap();
        let stderr = String::from_utf8_lossy(&run.stderr).into_owned();
        assert!(matches!(run.status.code(), Some(0 | 1)), "{args:?}: {stderr}\n{}", cluster.logs());
        stderr
    };
    let file = |out: &str, table: &str| std::fs::read(dir.path().join(out).join(format!("{table}.parquet"))).unwrap();

    // metrics over the store on S3: its records derived and written once beside it on S3 by
    // the executors, the tables those of a local run over the same spans, byte for byte.
    let stderr = run(&["metrics", "s3://traces/store"], "m-s3", Some(&cluster));
    assert!(!stderr.contains("could not write the records"), "{stderr}");
    for table in ["service_metrics", "operation_metrics", "dependency_metrics"] {
        let local = std::fs::read(metrics.join(format!("{table}.parquet"))).unwrap();
        assert!(file("m-s3", table) == local, "{table}.parquet of the store on S3 differs");
    }
    // Nothing is left beside the store, and the store is as it was.
    assert_eq!(keys(&client, "traces", "store/"), stored);

    // metrics over the metrics output on S3, for another bucket.
    run(&["metrics", &path(&metrics), "--bucket", "5m"], "m5-local", None);
    run(&["metrics", "s3://traces/metrics", "--bucket", "5m"], "m5-s3", Some(&cluster));
    for table in ["service_metrics", "operation_metrics", "dependency_metrics"] {
        assert!(file("m5-s3", table) == file("m5-local", table), "{table}.parquet (5m) differs");
    }

    // slo over both.
    let slos = path(&common::fixture("slo/petclinic-slos.json"));
    run(&["slo", &path(&store), "--slos", &slos], "slo-local", None);
    run(&["slo", "s3://traces/store", "--slos", &slos], "slo-store-s3", Some(&cluster));
    run(&["slo", "s3://traces/metrics", "--slos", &slos], "slo-metrics-s3", Some(&cluster));
    for table in ["slos", "slo_periods", "slo_alerts"] {
        assert!(file("slo-store-s3", table) == file("slo-local", table), "{table}.parquet of the store on S3");
        assert!(file("slo-metrics-s3", table) == file("slo-local", table), "{table}.parquet of the output on S3");
    }

    // sql over the store and the output on S3.
    let statements = [
        ("s3://traces/store", STORE_STATEMENTS[0]),
        ("s3://traces/store", "SELECT date, kind, count(*) FROM store_spans GROUP BY 1, 2 ORDER BY 1, 2"),
        ("s3://traces/store", "SELECT count(*) > 0 AS has_rows FROM run_info"),
        ("s3://traces/metrics", "SELECT service, requests FROM service_metrics WHERE bucket_start IS NULL ORDER BY 1"),
    ];
    for (input, statement) in statements {
        let local_input = if input.ends_with("store") { path(&store) } else { path(&metrics) };
        let local = sql(None, &[&local_input, "--format", "csv", "-e", statement]);
        let mut cmd = moto.spanlens();
        cmd.args(["sql", input, "--format", "csv", "-e", statement, "--scheduler", &cluster.url()]);
        let out = cmd.timeout(Duration::from_secs(300)).output().unwrap();
        assert!(out.status.success(), "{statement}: {}\n{}", String::from_utf8_lossy(&out.stderr), cluster.logs());
        assert!(local.len() > 10, "{statement}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&local), "{statement}");
    }

    // A prefix that holds no spanlens output is raw OTLP to a cluster: refused.
    moto.spanlens()
        .args(["metrics", "s3://traces/nothing", "--scheduler", &cluster.url()])
        .assert()
        .code(2)
        .stderr(contains("ingest raw OTLP into a store first"));
}
