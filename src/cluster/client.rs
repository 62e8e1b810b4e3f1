//! The client side of `--scheduler df://HOST:PORT`: a session whose queries are planned here
//! and run on the cluster, results streamed back over Arrow Flight.

use std::sync::Arc;
use std::time::Duration;

use ballista::prelude::SessionContextExt;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::prelude::{SessionConfig, SessionContext};

use super::{Address, Functions};
use crate::error::{Error, Result};

/// How long the scheduler has to accept a connection before it is reported missing.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A session on the cluster whose scheduler is at `scheduler`, with `config`'s options and
/// `functions` registered. The scheduler is reached first: one that is not there is a clear
/// error, not a query that fails later.
pub async fn connect(
    scheduler: &Address,
    config: SessionConfig,
    env: Arc<RuntimeEnv>,
    functions: &Functions,
) -> Result<SessionContext> {
    let missing = |why: String| {
        Error::Config(format!(
            "cannot reach the Ballista scheduler at {}: {why} (start one with `spanlens cluster scheduler`)",
            scheduler.url()
        ))
    };
    let reach = tokio::net::TcpStream::connect((scheduler.host.as_str(), scheduler.port));
    match tokio::time::timeout(CONNECT_TIMEOUT, reach).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => return Err(missing(e.to_string())),
        Err(_) => return Err(missing(format!("no answer within {} s", CONNECT_TIMEOUT.as_secs()))),
    }
    let state = SessionStateBuilder::new().with_config(config).with_runtime_env(env).with_default_features().build();
    let ctx = SessionContext::remote_with_state(&scheduler.url(), state).await?;
    // Ballista's session replaces the function lists: spanlens's are registered again.
    for f in &functions.scalar {
        ctx.register_udf(f.as_ref().clone());
    }
    for f in &functions.aggregate {
        ctx.register_udaf(f.as_ref().clone());
    }
    // Sort-merge joins fail on dictionary columns (Ballista #1837), which the signals and the
    // store's partition column are: joins are hash joins, as they are locally.
    ctx.sql("SET datafusion.optimizer.prefer_hash_join = true").await?.collect().await?;
    Ok(ctx)
}
