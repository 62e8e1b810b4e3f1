//! spanlens on a DataFusion Ballista cluster: the scheduler and executor roles run from the
//! spanlens binary ([`scheduler`], [`executor`]), and the client session that plans a command's
//! queries and runs them on the cluster ([`client`]).
//!
//! Ballista resolves functions by name in three places: the client plans the SQL, the scheduler
//! decodes the logical plan with its own session, each executor decodes the physical plan with
//! its own registry. There is no plugin loading, so every role links spanlens's functions and
//! registers the same [`Functions`].

#[cfg(feature = "cluster")]
pub mod client;
#[cfg(feature = "cluster")]
pub mod executor;
#[cfg(feature = "cluster")]
pub mod scheduler;

use std::sync::Arc;

use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::execution::session_state::SessionState;
use datafusion::execution::{FunctionRegistry, SessionStateBuilder};
use datafusion::logical_expr::{AggregateUDF, ScalarUDF};
use datafusion::prelude::SessionConfig;

use crate::error::{Error, Result};

/// The scheduler's port when an address names none (Ballista's default).
pub const DEFAULT_SCHEDULER_PORT: u16 = 50050;

/// The functions every role registers: spanlens's scalar functions and aggregates.
#[derive(Debug, Clone, Default)]
pub struct Functions {
    pub scalar: Vec<Arc<ScalarUDF>>,
    pub aggregate: Vec<Arc<AggregateUDF>>,
}

impl Functions {
    /// A session state with DataFusion's functions and these (the scheduler's sessions), on
    /// `env` (its object stores) when given.
    pub fn session_state(
        &self,
        config: SessionConfig,
        env: Option<Arc<RuntimeEnv>>,
    ) -> datafusion::common::Result<SessionState> {
        // Registered one by one: `with_aggregate_functions` after `with_default_features`
        // would replace the built-ins.
        let mut builder = SessionStateBuilder::new().with_config(config);
        if let Some(env) = env {
            builder = builder.with_runtime_env(env);
        }
        let mut state = builder.with_default_features().build();
        for f in &self.scalar {
            state.register_udf(f.clone())?;
        }
        for f in &self.aggregate {
            state.register_udaf(f.clone())?;
        }
        Ok(state)
    }
}

/// A host and port, as `--scheduler` and `--bind` take them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    pub host: String,
    pub port: u16,
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.host.contains(':') {
            true => write!(f, "[{}]:{}", self.host, self.port),
            false => write!(f, "{}:{}", self.host, self.port),
        }
    }
}

impl Address {
    /// `HOST:PORT`, `HOST` (then `default_port`) or `[V6]:PORT`, with an optional `df://`
    /// scheme; `what` names the option in messages.
    pub fn parse(text: &str, default_port: u16, what: &str) -> Result<Address> {
        let bad =
            |why: &str| Error::Config(format!("{what} {text:?}: {why} (HOST:PORT, for example df://10.0.0.5:50050)"));
        let rest = match text.split_once("://") {
            Some(("df", rest)) => rest,
            Some((scheme, _)) => return Err(bad(&format!("the scheme is df://, not {scheme}://"))),
            None => text,
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
            let (host, after) = v6.split_once(']').ok_or_else(|| bad("an IPv6 address without its closing ]"))?;
            match after.strip_prefix(':') {
                Some(port) => (host, Some(port)),
                None if after.is_empty() => (host, None),
                None => return Err(bad("text after the IPv6 address")),
            }
        } else {
            match rest.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (rest, None),
            }
        };
        if host.is_empty() || host.contains(['/', ' ', '?', '#', '@']) {
            return Err(bad("no host name"));
        }
        let port = match port {
            Some(p) => p.parse::<u16>().map_err(|_| bad("the port is not a number from 0 to 65535"))?,
            None => default_port,
        };
        Ok(Address { host: host.to_string(), port })
    }

    /// A scheduler's address as `--scheduler` takes it (`df://HOST:PORT`, `HOST:PORT`, `HOST`).
    pub fn scheduler(text: &str) -> Result<Address> {
        Address::parse(text, DEFAULT_SCHEDULER_PORT, "--scheduler")
    }

    /// The address as a `df://` URL.
    pub fn url(&self) -> String {
        format!("df://{self}")
    }
}

#[cfg(feature = "cluster")]
/// The error of a role that could not start or stopped: what, and Ballista's reason.
fn role_error(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Config(format!("{what}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        let a = Address::scheduler;
        assert_eq!(a("df://10.0.0.5:50051").unwrap(), Address { host: "10.0.0.5".into(), port: 50051 });
        assert_eq!(a("sched").unwrap(), Address { host: "sched".into(), port: 50050 });
        assert_eq!(a("df://sched/").unwrap().url(), "df://sched:50050");
        assert_eq!(a("[::1]:7").unwrap(), Address { host: "::1".into(), port: 7 });
        assert_eq!(a("[::1]:7").unwrap().to_string(), "[::1]:7");
        assert_eq!(a("127.0.0.1:0").unwrap().port, 0);
        for bad in ["http://x:1", "x:99999", "x:", ":5", "df://", "[::1", "a b:1"] {
            let e = a(bad).unwrap_err().to_string();
            assert!(e.starts_with("--scheduler"), "{bad}: {e}");
        }
    }
}
