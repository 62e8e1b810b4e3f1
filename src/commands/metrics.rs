//! `spanlens metrics`: signals derived from the input (or read from an earlier output), the
//! service, operation and dependency RED metric tables computed from them, the Services table
//! printed, and the tables written when `--out` is given; with `--scheduler`, the metric tables
//! computed on a Ballista cluster.

use crate::cli::MetricsArgs;
use crate::commands::pipeline::{
    Inputs, SignalsRequest, Workspace, absolute, cluster_session_with, compute_graph_tables, load_signals,
    query_session, span_store, write_tables,
};
use crate::commands::{print_timings, write_stdout};
use crate::config::MetricsPlan;
use crate::error::{Error, Result};
use crate::metrics;
use crate::outcome::{MetricsOutcome, SignalsInput};
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
    let inputs = Inputs::resolve(&plan.inputs, &plan.decode.s3, temp_dir, (m.from, m.to))?;
    let (ctx, runtime) = query_session()?;
    let cluster = cluster_session_with(&runtime, scheduler, cluster_partitions(&inputs)?)?;
    let input = runtime.block_on(register_cluster_signals(&cluster, &inputs, m))?;
    phases.mark("read");
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

/// Input bytes per task of a cluster stage: a stage that derives records holds its partition's
/// spans until it has them all, so a large store is split into more tasks than threads.
const CLUSTER_BYTES_PER_TASK: u64 = 32 << 20;

/// The tasks per stage of a cluster run: the threads here, or one per [`CLUSTER_BYTES_PER_TASK`]
/// of the input's Parquet files when that is more.
fn cluster_partitions(inputs: &Inputs) -> Result<usize> {
    fn bytes(path: &std::path::Path) -> std::io::Result<u64> {
        if path.is_file() {
            return Ok(path.metadata()?.len());
        }
        let mut total = 0;
        for entry in std::fs::read_dir(path)? {
            total += bytes(&entry?.path())?;
        }
        Ok(total)
    }
    let threads = rayon::current_num_threads().max(1);
    let data = match (metrics::metrics_output(inputs.names()), span_store(inputs.names())) {
        (Some(file), _) => file,
        (None, Some(dir)) => crate::store::spans_dir(&dir),
        (None, None) => return Ok(threads),
    };
    let size = bytes(&data).map_err(|source| Error::Input { path: data.display().to_string(), source })?;
    Ok(threads.max(size.div_ceil(CLUSTER_BYTES_PER_TASK) as usize))
}

/// Register `signals` on the cluster: a metrics output's signals file, or the records of a span
/// store's spans as `signals_from_spans` derives them; both by absolute path, which every node
/// resolves alike. Anything else is refused.
async fn register_cluster_signals(
    cluster: &datafusion::prelude::SessionContext,
    inputs: &Inputs,
    m: &crate::metrics::MetricsOptions,
) -> Result<SignalsInput> {
    let refuse = || {
        Error::Config(
            "metrics --scheduler reads one span store or metrics output on storage every node of the cluster \
             reads: ingest raw OTLP into a store first (spanlens ingest INPUTS --out STORE)"
                .into(),
        )
    };
    if inputs.origin().is_some() {
        return Err(refuse());
    }
    if let Some(file) = metrics::metrics_output(inputs.names()) {
        let held = metrics::check_signals_file(&file)?;
        if !held.covers(m.signals.records) {
            return Err(Error::Config(format!(
                "{} holds only {} records, but this run needs {} records",
                file.display(),
                held.text(),
                m.signals.records.text()
            )));
        }
        let file = absolute(&file)?;
        let read = datafusion::prelude::ParquetReadOptions::default();
        cluster.register_parquet(signals::TABLE, &file.display().to_string(), read).await?;
        return Ok(SignalsInput { signals_file: Some(file), records: held, ..SignalsInput::default() });
    }
    let dir = span_store(inputs.names()).ok_or_else(refuse)?;
    let dir = absolute(&dir)?;
    metrics::register_store(cluster, &dir, m.from, m.to).await?;
    crate::sql::tables::register_query_view(cluster, "spans_for_signals", vec![]).await?;
    let signals = cluster.sql(crate::queries::get("signals_from_spans")?.sql).await?;
    cluster.register_table(signals::TABLE, signals.into_view())?;
    Ok(SignalsInput { store: Some(dir), records: m.signals.records, ..SignalsInput::default() })
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
