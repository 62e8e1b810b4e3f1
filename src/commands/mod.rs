//! The commands, one file each holding its whole flow, and the dispatcher that only matches a
//! parsed command line to one of them. [`pipeline`] holds the steps several commands share.

#[cfg(feature = "cluster")]
pub mod cluster;
pub mod completions;
pub mod demo;
pub mod generate;
pub mod graph;
pub mod ingest;
pub mod metrics;
pub mod pipeline;
pub mod queries;
pub mod report;
pub mod slo;
pub mod sql;

use std::io::Write;

use crate::cli::{Cli, Command};
use crate::error::{Error, Result};
use crate::util::Phases;

/// Run a parsed command line; the exit code of a successful run (0, or 1 when an SLO is
/// breached).
pub fn run(cli: Cli, command_line: String) -> Result<u8> {
    if let Some(n) = cli.threads {
        if n == 0 {
            return Err(Error::Config("--threads must be at least 1".into()));
        }
        // Only the first call can configure the global pool; later calls (tests) keep it.
        let _ = rayon::ThreadPoolBuilder::new().num_threads(n).build_global();
    }
    match &cli.command {
        Command::Demo(args) => demo::run(args, command_line, cli.timings),
        Command::Ingest(args) => ingest::run(args, command_line),
        Command::Metrics(args) => metrics::run(args, command_line, cli.timings),
        Command::Slo(args) => slo::run(args, command_line, cli.timings),
        Command::Report(args) => report::run(args, command_line, cli.timings),
        Command::Gen(args) => generate::run(args),
        Command::Sql(args) => sql::run(args, cli.timings),
        Command::Graph(args) => graph::run(args, command_line, cli.timings),
        #[cfg(feature = "cluster")]
        Command::Cluster(command) => cluster::run(command),
        Command::Queries(command) => queries::run(command),
        Command::Schema => queries::schema(),
        Command::Completions(args) => completions::completions(args),
        Command::Man(args) => completions::man(args),
    }
}

/// With `--timings`, the wall time of each phase on stderr (even with `--quiet`: it was asked for).
pub fn print_timings(timings: bool, phases: &Phases) {
    if timings {
        eprint!("{}", phases.text());
    }
}

/// Write data to stdout; a closed pipe (`spanlens schema | head`) is not an error.
pub fn write_stdout(bytes: &[u8]) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(Error::output("<stdout>", e)),
        _ => Ok(()),
    }
}
