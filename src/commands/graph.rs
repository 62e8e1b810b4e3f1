//! `spanlens graph`: the spans of raw OTLP (decoded with only the columns the pairing reads)
//! or of a span store, the service graph tables computed over them, the graph printed in the
//! asked format, and the tables written when `--out` is given.

use std::sync::Arc;

use crate::cli::{GraphArgs, GraphFormatArg};
use crate::commands::pipeline::{Inputs, Workspace, query_session, span_store, write_tables};
use crate::commands::{print_timings, write_stdout};
use crate::config::GraphPlan;
use crate::error::{Error, Result};
use crate::graph;
use crate::ingest::decode::DecodeOptions;
use crate::ingest::files;
use crate::ingest::read::decode_into;
use crate::metrics;
use crate::outcome::GraphOutcome;
use crate::report::graph::{edges, nodes, quality_summary, render_dot, render_json, render_mermaid, render_table};
use crate::report::run_info::graph_run_info;
use crate::report::summary;
use crate::s3::list::ListStats;
use crate::spill::SpillOptions;
use crate::util::Phases;

/// Run `graph` as the command line gives it.
pub fn run(args: &GraphArgs, command_line: String, timings: bool) -> Result<u8> {
    let plan = GraphPlan::from_args(args, command_line)?;
    let outcome = run_graph(&plan)?;
    let [edge_table, node_table, quality] = &outcome.tables[..] else {
        return Err(Error::Config("the service graph gave no tables".into()));
    };
    let (edges, nodes) = (edges(edge_table)?, nodes(node_table)?);
    let text = match plan.format {
        GraphFormatArg::Table => render_table(&edges),
        GraphFormatArg::Dot => render_dot(&nodes, &edges),
        GraphFormatArg::Mermaid => render_mermaid(&nodes, &edges),
        GraphFormatArg::Json => render_json(&nodes, &edges)?,
    };
    write_stdout(text.as_bytes())?;
    summary::print_graph(&outcome, plan.quiet);
    if !plan.quiet
        && let Some(text) = quality_summary(quality)?
    {
        eprint!("{text}");
    }
    print_timings(timings, &outcome.phases);
    Ok(0)
}

/// Compute the service graph of the plan's input, and write its tables to the plan's output
/// directory, if it has one.
pub fn run_graph(plan: &GraphPlan) -> Result<GraphOutcome> {
    let mut phases = Phases::start();
    let g = &plan.graph;
    // A span store on S3 is read from a local copy of the partitions the window needs.
    let resolved = Inputs::resolve(&plan.inputs, &plan.decode.s3, None, (g.from, g.to))?;
    let inputs = resolved.names();
    if metrics::metrics_output(inputs).is_some() {
        return Err(Error::Config(
            "the service graph pairs spans: give raw OTLP or a span store, not a metrics output".into(),
        ));
    }
    let work = Workspace::create(plan.out.as_deref(), plan.force, &plan.decode.s3, None)?;
    let (ctx, runtime) = query_session()?;
    let store = span_store(inputs);
    // The spans are held in a spool: beyond half the default spill threshold it goes to disk in
    // partitions of whole traces, which are paired one at a time.
    let mut spool = graph::spool(&SpillOptions::default());
    let (sources, s3) = match &store {
        // Spans of the day before the window are read too: a request's parent may start earlier.
        Some(dir) => {
            runtime.block_on(async {
                metrics::register_store(&ctx, dir, g.from, g.to).await?;
                graph::spool_spans(&ctx, &mut spool).await
            })?;
            (Vec::new(), ListStats::default())
        }
        None => {
            let decode = DecodeOptions {
                projection: Some(Arc::from(runtime.block_on(graph::graph_columns())?)),
                ..plan.decode.clone()
            };
            let window = g.from.zip(g.to);
            let (inputs, s3) = files::expand_with(inputs, &plan.decode.s3, window)?;
            let (filled, sources) = decode_into(inputs, &decode, plan.quiet, |rx| {
                for batch in rx.into_iter().flatten() {
                    spool.push(batch)?;
                }
                Ok(spool)
            })?;
            spool = filled;
            (sources, s3)
        }
    };
    phases.mark("read");
    // A copy of a store on S3 is named by its URL.
    let store = store.map(|dir| resolved.origin().map_or(dir, |o| std::path::PathBuf::from(&o.url)));
    let calls = work.path().join(".graph_calls.parquet");
    let tables = graph::compute_spooled(&ctx, &runtime, spool, g, &calls);
    let _ = std::fs::remove_file(&calls);
    let tables = tables?;
    phases.mark("query");
    if work.writes() {
        let run_info = graph_run_info(&plan.command, &sources, &s3, store.as_deref(), &tables)?;
        write_tables(work.path(), tables.iter(), run_info)?;
    }
    let (out, _upload) = work.commit(&plan.command)?;
    if out.is_some() {
        phases.mark("write");
    }
    Ok(GraphOutcome { sources, s3, store, tables, out, phases })
}
