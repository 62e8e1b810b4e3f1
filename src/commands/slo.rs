//! `spanlens slo`: SLO definitions evaluated over the signals of the input at an evaluation
//! time; the SLO table printed, the SLO tables written when `--out` is given, and exit code 1
//! when an SLO is breached.

use crate::cli::SloArgs;
use crate::commands::pipeline::{
    SignalsRequest, Workspace, evaluation_time, inputs_and_cluster, load_signals, query_session,
    register_cluster_signals, write_tables,
};
use crate::commands::{print_timings, write_stdout};
use crate::config::SloPlan;
use crate::error::{EXIT_BREACHED, Error, Result};
use crate::outcome::SloOutcome;
use crate::report::run_info::slo_run_info;
use crate::report::summary;
use crate::report::text::{PrintFormat, render_rows};
use crate::signals;
use crate::slo;
use crate::util::Phases;

/// Run `slo` as the command line gives it.
pub fn run(args: &SloArgs, command_line: String, timings: bool) -> Result<u8> {
    let plan = SloPlan::from_args(args, command_line)?;
    let outcome = run_slo(&plan)?;
    let text = match plan.format {
        PrintFormat::Table => crate::report::slo_table::render_slos(&outcome.report)?,
        format => {
            let slos = outcome.report.tables.iter().find(|t| t.name == slo::SLO_TABLES[0]);
            render_rows(slos.ok_or_else(|| Error::Config("the SLO evaluation gave no slos table".into()))?, format)?
        }
    };
    write_stdout(text.as_bytes())?;
    summary::print_slo(&outcome, plan.quiet);
    print_timings(timings, &outcome.phases);
    Ok(if outcome.report.breached() > 0 { EXIT_BREACHED } else { 0 })
}

/// Evaluate the plan's SLOs and write the SLO tables to its output directory, if it has one.
pub fn run_slo(plan: &SloPlan) -> Result<SloOutcome> {
    let mut phases = Phases::start();
    let temp_dir = plan.spill.temp_dir.as_deref();
    let work = Workspace::create(plan.out.as_deref(), plan.force, &plan.decode.s3, temp_dir)?;
    let (ctx, runtime) = query_session()?;
    let window = match plan.at {
        Some(at) => slo::records_window(&plan.slos, at).map(|(from, to)| (Some(from), Some(to)))?,
        None => (None, None),
    };
    // On a cluster, the signals are read (or derived) there and the records each SLO reads
    // selected there.
    let (inputs, cluster) =
        inputs_and_cluster(&runtime, &plan.inputs, &plan.decode.s3, temp_dir, window, plan.scheduler.as_ref())?;
    let signals_ctx = cluster.as_ref().unwrap_or(&ctx);
    let req = SignalsRequest {
        inputs: inputs.names(),
        memory: &[],
        decode: &plan.decode,
        quiet: plan.quiet,
        signals: &plan.signals,
        spill: &plan.spill,
        window,
        metric_queries: false,
        needs: plan.signals.records,
        origin: inputs.origin(),
        graph: false,
    };
    let scratch = work.path().join(format!(".{}.parquet", signals::TABLE));
    let (input, _derived) = match &cluster {
        None => (load_signals(&ctx, &runtime, &req, &scratch, &mut phases)?.0, None),
        Some(c) => {
            let (input, derived) =
                runtime.block_on(register_cluster_signals(c, &inputs, window, plan.signals.records))?;
            phases.mark("read");
            (input, Some(derived))
        }
    };
    let at = evaluation_time(signals_ctx, &runtime, plan.at)?;
    let report = match &cluster {
        None => runtime.block_on(slo::evaluate(&ctx, &plan.slos, at, plan.no_data_bad))?,
        Some(cluster) => runtime.block_on(slo::evaluate_on_cluster(cluster, &ctx, &plan.slos, at, plan.no_data_bad))?,
    };
    let _ = std::fs::remove_file(&scratch);
    phases.mark("evaluate");

    if work.writes() {
        let run_info = slo_run_info(&plan.command, &input, Some(&report), &[])?;
        write_tables(work.path(), report.tables.iter(), run_info)?;
    }
    let (out, upload) = work.commit(&plan.command)?;
    if out.is_some() {
        phases.mark("write");
    }
    Ok(SloOutcome { input, report, out, upload, phases })
}
