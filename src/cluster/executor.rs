//! `spanlens cluster executor`: Ballista's executor with spanlens's functions in the registry
//! it decodes plans with; it registers with a scheduler, runs tasks and serves their results
//! over Arrow Flight.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ballista_core::RuntimeProducer;
use ballista_core::registry::BallistaFunctionRegistry;
use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
use datafusion::execution::object_store::ObjectStoreRegistry;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;

use super::{Address, Functions, role_error};
use crate::error::{Error, Result};
use crate::s3::S3Options;
use crate::s3::objects::S3Stores;

/// How an executor runs.
#[derive(Debug, Clone)]
pub struct ExecutorOptions {
    /// The scheduler it registers with.
    pub scheduler: Address,
    /// Where its Arrow Flight service listens; port 0 picks a free one. Its gRPC service takes
    /// the next port (a free one when this is 0).
    pub bind: Address,
    /// The host name the scheduler, other executors and clients reach it by, when not the
    /// bound address.
    pub external_host: Option<String>,
    /// Tasks run at once; 0: one per core.
    pub concurrent_tasks: usize,
    /// Where shuffle files go; a temporary directory when `None`.
    pub work_dir: Option<PathBuf>,
    /// How often it tells the scheduler it is alive.
    pub heartbeat: Duration,
    /// The memory its tasks share before they spill, in bytes; `None`: 70 % of the machine's.
    pub memory_limit: Option<u64>,
    /// How long to wait for the scheduler to accept connections before giving up.
    pub connect_timeout: Duration,
}

/// Wait until the scheduler at `at` accepts a TCP connection, for at most `timeout`.
async fn wait_for(at: &Address, timeout: Duration) -> Result<()> {
    let started = std::time::Instant::now();
    loop {
        let error = match tokio::net::TcpStream::connect((at.host.as_str(), at.port)).await {
            Ok(_) => return Ok(()),
            Err(e) => e,
        };
        if started.elapsed() >= timeout {
            return Err(Error::Config(format!(
                "executor: no scheduler at {} within {} s: {error}",
                at.url(),
                timeout.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// A free TCP port on `host`, found by binding port 0 and letting it go.
fn free_port(host: &str) -> Result<u16> {
    let listener = std::net::TcpListener::bind((host, 0))
        .map_err(|e| Error::Config(format!("cannot find a free port on {host}: {e}")))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| Error::Config(format!("cannot find a free port on {host}: {e}")))
}

/// Run the executor until the process is stopped or the scheduler cannot be reached. One line
/// on stderr says where it listens and which scheduler it joins.
pub async fn run(opts: &ExecutorOptions, functions: Functions) -> Result<()> {
    let host = opts.bind.host.clone();
    let (port, grpc_port) = match opts.bind.port {
        0 => (free_port(&host)?, free_port(&host)?),
        p => (p, p.checked_add(1).ok_or_else(|| Error::Config("--bind: the port must be below 65535".into()))?),
    };
    let mut registry = BallistaFunctionRegistry::default();
    // Ballista's default registry has DataFusion's core functions but not the nested ones
    // (`array_element`, which `list[1]` plans to, `make_array`, ...) that the sessions have.
    for f in datafusion::functions_nested::all_default_nested_functions() {
        for name in std::iter::once(f.name()).chain(f.aliases().iter().map(String::as_str)) {
            registry.scalar_functions.entry(name.to_string()).or_insert_with(|| f.clone());
        }
    }
    for f in functions.scalar {
        registry.scalar_functions.insert(f.name().to_string(), f);
    }
    for f in functions.aggregate {
        registry.aggregate_functions.insert(f.name().to_string(), f);
    }
    // The work directory is also where tasks spill; a temporary one lives as long as this.
    let temporary;
    let work_dir = match &opts.work_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| Error::output(dir, e))?;
            dir.clone()
        }
        None => {
            temporary = tempfile::Builder::new()
                .prefix("spanlens-executor-")
                .tempdir()
                .map_err(|e| Error::Config(format!("executor: cannot create a work directory: {e}")))?;
            temporary.path().to_path_buf()
        }
    };
    // Tasks over s3:// read (and write) through object stores made from this process's AWS
    // configuration; one registry serves every task.
    let objects: Arc<dyn ObjectStoreRegistry> = Arc::new(S3Stores::new(&S3Options::default()));
    let spill = work_dir.clone();
    let runtime_producer: RuntimeProducer = Arc::new(move |_config| {
        let env = RuntimeEnvBuilder::new()
            .with_temp_file_path(spill.clone())
            .with_object_store_registry(objects.clone())
            .build()?;
        Ok(Arc::new(env))
    });
    let config = ExecutorProcessConfig {
        bind_host: host.clone(),
        external_host: opts.external_host.clone(),
        port,
        grpc_port,
        scheduler_host: opts.scheduler.host.clone(),
        scheduler_port: opts.scheduler.port,
        // Waited for above: Ballista's own wait (a timeout above 0) never ends.
        scheduler_connect_timeout_seconds: 0,
        vcores: opts.concurrent_tasks,
        work_dir: Some(work_dir.display().to_string()),
        executor_heartbeat_interval_seconds: opts.heartbeat.as_secs().max(1),
        memory_pool_size: opts.memory_limit,
        override_function_registry: Some(Arc::new(registry)),
        override_runtime_producer: Some(runtime_producer),
        ..Default::default()
    };
    wait_for(&opts.scheduler, opts.connect_timeout).await?;
    let flight = Address { host, port };
    eprintln!(
        "spanlens cluster executor: Flight on {flight}, gRPC on port {grpc_port}, joining the scheduler at {}",
        opts.scheduler
    );
    start_executor_process(Arc::new(config))
        .await
        .map_err(|e| role_error(&format!("executor (scheduler {})", opts.scheduler.url()), e))
}
