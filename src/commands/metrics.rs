//! `spanlens metrics`: signals derived from the input (or read from an earlier output), the
//! service, operation and dependency RED metric tables computed from them, the Services table
//! printed, and the tables written when `--out` is given; with `--scheduler`, the metric tables
//! computed on a Ballista cluster.

use crate::cli::MetricsArgs;
use crate::commands::pipeline::{
    Inputs, SignalsRequest, Workspace, cluster_partitions, cluster_session_with, compute_graph_tables, load_signals,
    query_session, register_cluster_signals, write_tables,
};
use crate::commands::{print_timings, write_stdout};
use crate::config::MetricsPlan;
use crate::error::{Error, Result};
use crate::metrics;
use crate::outcome::MetricsOutcome;
use crate::report::graph::quality_summary;
use crate::report::run_info::metrics_run_info;
use crate::report::summary;
use crate::report::text::render_services_page;
use crate::report::text::{PrintFormat, render_rows};
use crate::signals;
use crate::util::Phases;

/// Run `metrics` as the command line gives it.
pub fn run(args: &MetricsArgs, command_line: String, timings: bool) -> Result<u8> {
    let plan = MetricsPlan::from_args(args, command_line)?;
    let outcome = run_metrics(&plan)?;
    if let Some(page) = &outcome.services_page {
        let text = match plan.format {
            PrintFormat::Table => render_services_page(page)?,
            format => render_rows(page, format)?,
        };
        write_stdout(text.as_bytes())?;
    }
    summary::print_metrics(&outcome, plan.quiet);
    if !plan.quiet
        && let Some(quality) = outcome.tables.iter().find(|t| t.name == "data_quality")
        && let Some(text) = quality_summary(quality)?
    {
        eprint!("{text}");
    }
    print_timings(timings, &outcome.phases);
    Ok(0)
}

/// `metrics --scheduler`: the metric tables computed on the cluster over a span store (the
/// records derived there by `derive_signals`) or a metrics output's signals, on storage every
/// node reads, and written here as a local run writes them.
fn run_on_cluster(plan: &MetricsPlan, scheduler: &crate::cluster::Address) -> Result<MetricsOutcome> {
    let mut phases = Phases::start();
    let m = &plan.metrics;
    let temp_dir = m.spill.temp_dir.as_deref();
    let work = Workspace::create(plan.out.as_deref(), plan.force, &plan.decode.s3, temp_dir)?;
    let inputs = Inputs::for_cluster(&plan.inputs, &plan.decode.s3)?;
    let (ctx, runtime) = query_session()?;
    let cluster = cluster_session_with(&runtime, scheduler, cluster_partitions(&inputs)?, &plan.decode.s3)?;
    let (input, _derived) =
        runtime.block_on(register_cluster_signals(&cluster, &inputs, (m.from, m.to), m.signals.records))?;
    phases.mark("derive");
    let (tables, services_page) = runtime.block_on(metrics::query_metrics_on_cluster(&cluster, &ctx, m))?;
    phases.mark("query");
    if work.writes() {
        let run_info = metrics_run_info(&plan.command, &input, &tables, false)?;
        write_tables(work.path(), tables.iter(), run_info)?;
    }
    let (out, upload) = work.commit(&plan.command)?;
    if out.is_some() {
        phases.mark("write");
    }
    let graph_note = Some("the signals, service graph and data-quality tables are not computed with --scheduler");
    Ok(MetricsOutcome { input, tables, services_page, signals_written: false, graph_note, out, upload, phases })
}

/// Compute RED metrics for the plan and write them to its output directory, if it has one. The
/// input is raw OTLP, a span store, or an earlier `metrics` output, whose signals are queried
/// again (for another window, bucket or `--approx`) without deriving them, and copied to the
/// new output. Only the plan's tables are computed and written, from the records they need.
pub fn run_metrics(plan: &MetricsPlan) -> Result<MetricsOutcome> {
    if let Some(scheduler) = &plan.scheduler {
        return run_on_cluster(plan, scheduler);
    }
    let mut phases = Phases::start();
    let m = &plan.metrics;
    let temp_dir = m.spill.temp_dir.as_deref();
    let work = Workspace::create(plan.out.as_deref(), plan.force, &plan.decode.s3, temp_dir)?;
    let inputs = Inputs::resolve(&plan.inputs, &plan.decode.s3, temp_dir, (m.from, m.to))?;
    let write_signals = plan.write_signals && work.writes();
    // The graph pairs spans: a metrics output holds none.
    let from_output = metrics::metrics_output(inputs.names()).is_some();
    let graph_note = match (from_output, m.graph_tables.is_empty()) {
        (true, false) if plan.graph_asked => {
            return Err(Error::Config(
                "the service graph and data-quality tables pair spans: give raw OTLP or a span store, not a metrics output"
                    .into(),
            ));
        }
        (true, false) => {
            Some("the service graph and data-quality tables were not computed: a metrics output holds no spans")
        }
        _ => None,
    };
    let graph_tables = if from_output { Vec::new() } else { m.graph_tables.clone() };
    let graph_calls = work.path().join(".graph_calls.parquet");
    let (ctx, runtime) = query_session()?;
    let req = SignalsRequest {
        inputs: inputs.names(),
        memory: &[],
        decode: &plan.decode,
        quiet: plan.quiet,
        signals: &m.signals,
        spill: &m.spill,
        window: (m.from, m.to),
        metric_queries: true,
        // A signals file copied as it is, with no metric table, needs nothing of it.
        needs: if m.tables.is_empty() { signals::RecordKinds::NONE } else { m.signals.records },
        origin: inputs.origin(),
        graph: !graph_tables.is_empty(),
    };
    // Spilled signals are written straight to their place in the output (or to a scratch file
    // there when they are not an output).
    let signals_file = work.path().join(format!("{}.parquet", signals::TABLE));
    let scratch = work.path().join(format!(".{}.parquet", signals::TABLE));
    let spilled_to = if write_signals { &signals_file } else { &scratch };
    let (input, graph_spool) = load_signals(&ctx, &runtime, &req, spilled_to, &mut phases)?;
    let (mut tables, services_page) = runtime.block_on(metrics::query_metrics(&ctx, m))?;
    let graph = compute_graph_tables(&ctx, &runtime, m, &graph_tables, graph_spool, &graph_calls);
    let _ = std::fs::remove_file(&graph_calls);
    tables.extend(graph?);
    let _ = std::fs::remove_file(&scratch);
    phases.mark("query");

    if work.writes() {
        let signals_table = match (&input.signals_file, &input.derived) {
            _ if !write_signals => None,
            (Some(file), _) => {
                std::fs::copy(file, &signals_file).map_err(|e| Error::output(&signals_file, e))?;
                None
            }
            (None, Some(d)) if d.signals.written.is_none() => Some(&d.signals),
            _ => None,
        };
        let run_info = metrics_run_info(&plan.command, &input, &tables, write_signals)?;
        write_tables(work.path(), tables.iter().chain(signals_table), run_info)?;
    }
    let (out, upload) = work.commit(&plan.command)?;
    if out.is_some() {
        phases.mark("write");
    }
    Ok(MetricsOutcome { input, tables, services_page, signals_written: write_signals, graph_note, out, upload, phases })
}
