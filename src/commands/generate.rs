//! `spanlens gen`: the deterministic pet-clinic workload written as OTLP exports, to a
//! directory or an `s3://` prefix.

use std::time::Instant;

use crate::cli::GenArgs;
use crate::config::gen_plan;
use crate::error::Result;
use crate::report::summary;

/// Run `gen` as the command line gives it.
pub fn run(args: &GenArgs) -> Result<u8> {
    let plan = gen_plan(args)?;
    let started = Instant::now();
    let stats = crate::workload::generate(&plan)?;
    if !args.quiet {
        eprint!("{}", summary::gen_summary(&stats, &plan.out, started.elapsed().as_secs_f64()));
    }
    Ok(0)
}
