//! `spanlens ingest`: raw OTLP inputs decoded in parallel and written, sorted, into a
//! partitioned Parquet span store (a directory, or an `s3://` prefix), with `run_info` and a
//! summary on stderr.

use std::time::Instant;

use crate::cli::IngestArgs;
use crate::commands::pipeline::write_tables;
use crate::config::IngestPlan;
use crate::error::Result;
use crate::ingest::read::decode_into;
use crate::ingest::{DecodeOptions, files};
use crate::outcome::IngestOutcome;
use crate::output::Output;
use crate::report::run_info::ingest_run_info;
use crate::report::summary;
use crate::store::SpanStoreWriter;

/// Run `ingest` as the command line gives it.
pub fn run(args: &IngestArgs, command_line: String) -> Result<u8> {
    let plan = IngestPlan::from_args(args, command_line)?;
    let outcome = ingest(&plan)?;
    summary::print_ingest(&outcome, plan.quiet);
    Ok(0)
}

/// Ingest the plan's inputs into its output directory.
pub fn ingest(plan: &IngestPlan) -> Result<IngestOutcome> {
    let started = Instant::now();
    let out = Output::create(&plan.out, plan.force, &plan.decode.s3, None)?;
    let mut store = SpanStoreWriter::new(out.path(), plan.store.clone())?;
    let (inputs, s3) = files::expand_with(&plan.inputs, &plan.decode.s3, None)?;
    // Each batch's resources are held once, not copied into every row, until the rows are
    // sorted and written.
    let decode = DecodeOptions { compact_maps: true, ..plan.decode.clone() };
    let (store_stats, sources) = decode_into(inputs, &decode, plan.quiet, move |rx| {
        for batches in rx {
            for batch in batches {
                store.write(batch)?;
            }
        }
        store.finish()
    })?;

    let run_info = ingest_run_info(&plan.command, &sources, Some(&s3), Some(&store_stats))?;
    write_tables(out.path(), std::iter::empty(), run_info)?;
    let target = out.target();
    let upload = out.commit(&plan.command)?;
    Ok(IngestOutcome { sources, s3, store: store_stats, out: target, upload, seconds: started.elapsed().as_secs_f64() })
}
