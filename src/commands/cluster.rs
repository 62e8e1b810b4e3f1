//! `spanlens cluster scheduler|executor`: the roles of a Ballista cluster, run with spanlens's
//! functions until the process is stopped.

use std::time::Duration;

use crate::cli::{ClusterCommand, ExecutorArgs, SchedulerArgs};
use crate::cluster::executor::{self, ExecutorOptions};
use crate::cluster::scheduler::{self, SchedulerOptions};
use crate::cluster::{Address, DEFAULT_SCHEDULER_PORT};
use crate::error::{Error, Result};
use crate::util::parse_size;
use crate::util::time::parse_bucket;

/// Run the role the command line names; it returns only when the role fails.
pub fn run(command: &ClusterCommand) -> Result<u8> {
    // Ballista's own log lines (jobs, stages, executors joining and lost), at `info` unless
    // RUST_LOG says otherwise.
    let env = env_logger::Env::default().default_filter_or("info");
    let _ = env_logger::Builder::from_env(env).format_target(false).try_init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Config(format!("cannot start the runtime: {e}")))?;
    let functions = crate::sql::functions::all();
    match command {
        ClusterCommand::Scheduler(args) => {
            let opts = scheduler_options(args)?;
            runtime.block_on(scheduler::run(&opts, functions))?;
        }
        ClusterCommand::Executor(args) => {
            let opts = executor_options(args)?;
            runtime.block_on(executor::run(&opts, functions))?;
        }
    }
    Ok(0)
}

/// A duration flag (`30s`, `2m`) as a [`Duration`] of at least a second.
fn duration_flag(flag: &str, text: &str) -> Result<Duration> {
    let ns = parse_bucket(text).map_err(|e| Error::Config(format!("{flag}: {e}")))?;
    let secs = u64::try_from(ns / 1_000_000_000).unwrap_or(0);
    if secs == 0 {
        return Err(Error::Config(format!("{flag}: {text:?} is shorter than a second")));
    }
    Ok(Duration::from_secs(secs))
}

fn scheduler_options(args: &SchedulerArgs) -> Result<SchedulerOptions> {
    Ok(SchedulerOptions {
        bind: Address::parse(&args.bind, DEFAULT_SCHEDULER_PORT, "--bind")?,
        external_host: args.external_host.clone(),
        executor_timeout: duration_flag("--executor-timeout", &args.executor_timeout)?,
        flight_proxy: args.flight_proxy,
    })
}

fn executor_options(args: &ExecutorArgs) -> Result<ExecutorOptions> {
    let memory_limit = match &args.memory_limit {
        Some(text) => Some(parse_size(text).map_err(|e| Error::Config(format!("--memory-limit: {e}")))?),
        None => None,
    };
    Ok(ExecutorOptions {
        scheduler: Address::scheduler(&args.scheduler)?,
        bind: Address::parse(&args.bind, DEFAULT_SCHEDULER_PORT + 1, "--bind")?,
        external_host: args.external_host.clone(),
        concurrent_tasks: args.concurrent_tasks,
        work_dir: args.work_dir.clone(),
        heartbeat: duration_flag("--heartbeat", &args.heartbeat)?,
        memory_limit,
        connect_timeout: duration_flag("--connect-timeout", &args.connect_timeout)?,
    })
}
