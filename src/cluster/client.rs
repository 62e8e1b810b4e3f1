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

/// The number of executors the scheduler at `at` has, from its `GET /readyz`.
async fn executors(at: &Address) -> std::io::Result<usize> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect((at.host.as_str(), at.port)).await?;
    let request = format!("GET /readyz HTTP/1.1\r\nHost: {at}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    stream.take(64 << 10).read_to_end(&mut response).await?;
    readyz_executors(&String::from_utf8_lossy(&response))
        .ok_or_else(|| std::io::Error::other("it does not answer as a Ballista scheduler (GET /readyz)"))
}

/// The executors a scheduler's `GET /readyz` response counts ("ready: N executors registered",
/// "not ready: N/M executors registered"); `None` for any other response.
pub fn readyz_executors(response: &str) -> Option<usize> {
    let count = response.lines().find_map(|l| l.split_once("ready: ")).map(|(_, rest)| rest);
    count.and_then(|c| c.split(['/', ' ']).next()).and_then(|n| n.parse().ok())
}

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
    // A job submitted to a cluster without executors waits for one: it is refused instead,
    // after waiting as long for one to join.
    let started = std::time::Instant::now();
    loop {
        let executors = match tokio::time::timeout(CONNECT_TIMEOUT, executors(scheduler)).await {
            Ok(Ok(n)) => n,
            Ok(Err(e)) => return Err(missing(e.to_string())),
            Err(_) => return Err(missing(format!("no answer within {} s", CONNECT_TIMEOUT.as_secs()))),
        };
        if executors > 0 {
            break;
        }
        if started.elapsed() >= CONNECT_TIMEOUT {
            return Err(Error::Config(format!(
                "the Ballista scheduler at {} has no executors (start some with `spanlens cluster executor \
                 --scheduler {scheduler}`)",
                scheduler.url()
            )));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
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
    // Ballista 55's adaptive planner (on by default, still called experimental) hands the
    // final aggregate plain text where the plan has dictionaries when it merges shuffle
    // partitions ("RowConverter column schema mismatch, expected Dictionary(Int32, Utf8) got
    // Utf8", with one task slot per executor): the static planner runs the same plans.
    ctx.sql("SET ballista.planner.adaptive.enabled = false").await?.collect().await?;
    Ok(ctx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readyz_responses() {
        let ok = "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nready: 2 executors registered\n";
        assert_eq!(readyz_executors(ok), Some(2));
        assert_eq!(readyz_executors("HTTP/1.1 503\r\n\r\nnot ready: 0/1 executors registered\n"), Some(0));
        assert_eq!(readyz_executors("HTTP/1.1 404 Not Found\r\n\r\n"), None);
    }
}
