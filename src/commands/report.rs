//! `spanlens report`: the report of one window (a week by default): the metric tables of the
//! window, the SLOs evaluated at its end, `report.html` and the tables as Parquet; the Services
//! and SLO tables printed; with `--scheduler`, the metric tables and the SLOs' records computed on
//! a Ballista cluster.

use datafusion::prelude::SessionContext;

use crate::cli::ReportArgs;
use crate::commands::pipeline::{
    SignalsRequest, compute_graph_tables, evaluation_time, inputs_and_cluster, load_signals, query_session,
    register_cluster_signals, write_tables,
};
use crate::commands::{print_timings, write_stdout};
use crate::config::ReportPlan;
use crate::error::{Error, Result};
use crate::metrics;
use crate::model::table::Table;
use crate::outcome::{PreviousWindow, ReportOutcome};
use crate::output::{Output, write_atomic};
use crate::report::run_info::slo_run_info;
use crate::report::summary;
use crate::report::text::render_services_page;
use crate::report::{content, html, markdown};
use crate::signals;
use crate::slo::{self, SloReport};
use crate::util::Phases;

/// Run `report` as the command line gives it.
pub fn run(args: &ReportArgs, command_line: String, timings: bool) -> Result<u8> {
    let plan = ReportPlan::from_args(args, command_line)?;
    let outcome = run_report(&plan)?;
    write_stdout(report_text(&outcome)?.as_bytes())?;
    summary::print_report(&outcome, plan.quiet);
    print_timings(timings, &outcome.phases);
    Ok(0)
}

/// The Services table, then the SLO table if SLOs were evaluated: what `report` prints.
pub fn report_text(outcome: &ReportOutcome) -> Result<String> {
    let mut text = render_services_page(&outcome.services_page)?;
    if let Some(slos) = &outcome.slos {
        text.push('\n');
        text.push_str(&crate::report::slo_table::render_slos(slos)?);
    }
    Ok(text)
}

/// Compute the plan's report: metrics of the window, SLOs at its end, `report.html`.
pub fn run_report(plan: &ReportPlan) -> Result<ReportOutcome> {
    let mut phases = Phases::start();
    let temp_dir = plan.metrics.spill.temp_dir.as_deref();
    let out = Output::create(&plan.out, plan.force, &plan.decode.s3, temp_dir)?;
    let (ctx, runtime) = query_session()?;
    // A span store is read in the window when it is known before the derivation.
    let known = match (plan.from, plan.to) {
        (Some(from), Some(to)) => (Some(from), Some(to)),
        (None, Some(to)) => (Some(to - plan.length_ns), Some(to)),
        _ => (None, None),
    };
    let mut slo_window = match known.1 {
        Some(to) if !plan.slos.is_empty() => Some(slo::records_window(&plan.slos, to)?),
        _ => None,
    };
    // With --compare-previous, the window before too, and the records its SLOs read.
    if let (Some(from), Some((sf, st)), true) = (known.0, slo_window, plan.compare_previous) {
        let (pf, _) = slo::records_window(&plan.slos, from)?;
        slo_window = Some((sf.min(pf), st));
    }
    let known = match (known, plan.compare_previous) {
        ((Some(f), Some(t)), true) => (Some(f - (t - f)), Some(t)),
        (known, _) => known,
    };
    let window = match (known, slo_window) {
        ((Some(f), Some(t)), Some((sf, st))) => (Some(f.min(sf)), Some(t.max(st))),
        (known, _) => known,
    };
    let (inputs, cluster) =
        inputs_and_cluster(&runtime, &plan.inputs, &plan.decode.s3, temp_dir, window, plan.scheduler.as_ref())?;
    let cluster = cluster.as_ref();
    // The service map and the data-quality section pair spans: a metrics output holds none.
    let graph = metrics::metrics_output(inputs.names()).is_none() && !plan.metrics.graph_tables.is_empty();
    let graph_calls = out.path().join(".graph_calls.parquet");
    let req = SignalsRequest {
        inputs: inputs.names(),
        memory: &plan.memory,
        decode: &plan.decode,
        quiet: plan.quiet,
        signals: &plan.metrics.signals,
        spill: &plan.metrics.spill,
        window,
        metric_queries: true,
        needs: plan.metrics.signals.records,
        origin: inputs.origin(),
        graph,
    };
    let scratch = out.path().join(format!(".{}.parquet", signals::TABLE));
    // The records a cluster derives are held on its storage until the report is written.
    let (input, graph_spool, _derived) = match cluster {
        None => {
            let (input, graph_spool) = load_signals(&ctx, &runtime, &req, &scratch, &mut phases)?;
            (input, graph_spool, None)
        }
        Some(c) => {
            let records = plan.metrics.signals.records;
            let (input, derived) = runtime.block_on(register_cluster_signals(c, &inputs, window, records))?;
            phases.mark("derive");
            (input, None, Some(derived))
        }
    };
    let to = evaluation_time(cluster.unwrap_or(&ctx), &runtime, plan.to)?;
    let from = plan.from.unwrap_or(to - plan.length_ns);
    let opts = metrics::MetricsOptions { from: Some(from), to: Some(to), ..plan.metrics.clone() };
    let (mut tables, services_page) = runtime.block_on(metric_tables(&ctx, cluster, &opts))?;
    let names = if graph { opts.graph_tables.clone() } else { Vec::new() };
    let graph_tables = compute_graph_tables(&ctx, &runtime, &opts, &names, graph_spool, &graph_calls);
    let _ = std::fs::remove_file(&graph_calls);
    tables.extend(graph_tables?);
    let services_page = services_page
        .ok_or_else(|| Error::Config("a report computes every metric table, the services page too".into()))?;
    phases.mark("query");
    let slos = runtime.block_on(evaluate_slos(&ctx, cluster, plan, to))?;
    if slos.is_some() {
        phases.mark("evaluate");
    }
    // Last, as it registers the metric and SLO tables again for the window before.
    let previous = match plan.compare_previous {
        true => Some(previous_window(&ctx, cluster, &runtime, plan, (from, to))?),
        false => None,
    };
    let _ = std::fs::remove_file(&scratch);
    if previous.is_some() {
        phases.mark("compare");
    }

    let content = content::build(&content::Page {
        window: (from, to),
        input: &input,
        tables: &tables,
        services_page: &services_page,
        slos: slos.as_ref(),
        bucket_ns: plan.metrics.bucket_ns,
        previous: previous.as_ref(),
    })?;
    write_atomic(&out.path().join(html::FILE), html::render(&content).as_bytes())?;
    write_atomic(&out.path().join(markdown::FILE), markdown::render(&content).as_bytes())?;
    let run_info = slo_run_info(&plan.command, &input, slos.as_ref(), &tables)?;
    write_tables(out.path(), tables.iter().chain(slos.iter().flat_map(|r| r.tables.iter())), run_info)?;
    let target = out.target();
    let upload = out.commit(&plan.command)?;
    phases.mark("write");
    Ok(ReportOutcome { input, window: (from, to), previous, tables, services_page, slos, out: target, upload, phases })
}

/// The window before `window`, as long and ending where it starts: its Services table, and the
/// SLOs evaluated at its end.
fn previous_window(
    ctx: &SessionContext,
    cluster: Option<&SessionContext>,
    runtime: &tokio::runtime::Runtime,
    plan: &ReportPlan,
    window: (i64, i64),
) -> Result<PreviousWindow> {
    let (from, to) = (window.0 - (window.1 - window.0), window.0);
    let opts = metrics::MetricsOptions {
        from: Some(from),
        to: Some(to),
        tables: vec!["service_metrics"],
        ..plan.metrics.clone()
    };
    let (_, services_page) = runtime.block_on(metric_tables(ctx, cluster, &opts))?;
    let services_page =
        services_page.ok_or_else(|| Error::Config("the service table gives the services page".into()))?;
    let slos = runtime.block_on(evaluate_slos(ctx, cluster, plan, to))?;
    Ok(PreviousWindow { window: (from, to), services_page, slos })
}

/// The metric tables and the services page over the signals of `ctx`, or of `cluster` when
/// there is one (the tables come back to `ctx`).
async fn metric_tables(
    ctx: &SessionContext,
    cluster: Option<&SessionContext>,
    opts: &metrics::MetricsOptions,
) -> Result<(Vec<Table>, Option<Table>)> {
    match cluster {
        None => metrics::query_metrics(ctx, opts).await,
        Some(cluster) => metrics::query_metrics_on_cluster(cluster, ctx, opts).await,
    }
}

/// The plan's SLOs evaluated at `at`, if it has any: the records each reads selected on the
/// cluster when there is one.
async fn evaluate_slos(
    ctx: &SessionContext,
    cluster: Option<&SessionContext>,
    plan: &ReportPlan,
    at: i64,
) -> Result<Option<SloReport>> {
    if plan.slos.is_empty() {
        return Ok(None);
    }
    Ok(Some(match cluster {
        None => slo::evaluate(ctx, &plan.slos, at, plan.no_data_bad).await?,
        Some(cluster) => slo::evaluate_on_cluster(cluster, ctx, &plan.slos, at, plan.no_data_bad).await?,
    }))
}
