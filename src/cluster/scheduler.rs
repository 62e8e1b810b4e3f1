//! `spanlens cluster scheduler`: Ballista's scheduler with spanlens's functions in every
//! session it plans, its gRPC service and its health checks (`GET /healthz`, `/readyz`: how many
//! executors joined) on one port.

use std::sync::Arc;
use std::time::Duration;

use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use ballista_scheduler::scheduler_process::{create_scheduler, start_grpc_service_with_listener};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion_proto::protobuf::{LogicalPlanNode, PhysicalPlanNode};

use super::{Address, Functions, role_error};
use crate::error::{Error, Result};
use crate::s3::S3Options;
use crate::s3::objects::S3Stores;

/// How the scheduler runs.
#[derive(Debug, Clone)]
pub struct SchedulerOptions {
    /// Where it listens; port 0 picks a free one.
    pub bind: Address,
    /// The host name executors and clients reach it by, when not the bound address (behind a
    /// Kubernetes Service, say).
    pub external_host: Option<String>,
    /// An executor without a heartbeat for this long is lost: its tasks run again elsewhere.
    pub executor_timeout: Duration,
    /// Clients fetch results through the scheduler rather than from the executors.
    pub flight_proxy: bool,
}

/// Run the scheduler until the process is stopped. Once it listens, one line on stderr says
/// where (`scheduler listening on HOST:PORT`), the port the one bound when it was 0.
pub async fn run(opts: &SchedulerOptions, functions: Functions) -> Result<()> {
    let listener = tokio::net::TcpListener::bind((opts.bind.host.as_str(), opts.bind.port))
        .await
        .map_err(|e| Error::Config(format!("cannot listen on {}: {e}", opts.bind)))?;
    let bound = listener.local_addr().map_err(|e| Error::Config(format!("cannot listen on {}: {e}", opts.bind)))?;
    let timeout = opts.executor_timeout.as_secs().max(2);
    // Plans over s3:// list and read their files here too: the object stores come from this
    // process's AWS configuration, as the executors' do.
    let env = Arc::new(
        RuntimeEnvBuilder::new()
            .with_object_store_registry(Arc::new(S3Stores::new(&S3Options::default())))
            .build()
            .map_err(|e| role_error("scheduler", e))?,
    );
    let config = SchedulerConfig {
        bind_host: bound.ip().to_string(),
        bind_port: bound.port(),
        external_host: opts.external_host.clone().unwrap_or_else(|| bound.ip().to_string()),
        executor_timeout_seconds: timeout,
        // Lost executors are looked for every few seconds; a job whose last executor is gone
        // waits for one to register for as long as an executor may go without a heartbeat.
        expire_dead_executor_interval_seconds: (timeout / 4).max(1),
        no_executors_grace_period_seconds: timeout,
        enable_embedded_flight_proxy: opts.flight_proxy,
        override_session_builder: Some(Arc::new(move |config| functions.session_state(config, Some(env.clone())))),
        ..Default::default()
    };
    let cluster = BallistaCluster::new_from_config(&config).await.map_err(|e| role_error("scheduler", e))?;
    let scheduler = create_scheduler::<LogicalPlanNode, PhysicalPlanNode>(cluster, Arc::new(config))
        .await
        .map_err(|e| role_error("scheduler", e))?;
    eprintln!("spanlens cluster scheduler listening on {bound} (clients: --scheduler df://{bound})");
    start_grpc_service_with_listener(listener, scheduler).await.map_err(|e| role_error("scheduler", e))
}
