//! The trace-stitched service graph: client and server spans paired by parent id (and a
//! consumer linked to its producer when its parent is not in the input), over the whole input
//! with no time-to-live, the unpaired halves turned into edges to and from virtual nodes as
//! the collector's `servicegraph` connector makes them, and the edges' requests, errors,
//! faults and latencies per bucket and for the window. The pairing and the tables are the SQL
//! of `queries/` (`service_graph_calls`, `service_graph`, `service_graph_nodes`) over the
//! `spans` table, with `data_quality`: what in the input keeps traces from being stitched.
//! `service_graph_reconciliation` sets the stitched edges beside Application Signals'
//! client-side dependency map, once the signals are derived. `report::graph` draws them as
//! text, DOT, Mermaid or JSON.

use std::collections::BTreeSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::RecordBatch;

use datafusion::common::ScalarValue;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::datasource::MemTable;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use parquet::arrow::ArrowWriter;

use crate::error::{Error, Result};
use crate::metrics::{register_spans, run_and_register, window_params};
use crate::model::schema::span_schema;
use crate::model::table::Table;
use crate::queries::{self, register_functions};

/// The tables of the service graph, in the order they are computed and written.
pub const GRAPH_TABLES: [&str; 3] = ["service_graph", "service_graph_nodes", "data_quality"];

/// How far a paired server span may start before its client span, or end after it, before the
/// pair counts as clock skew in `data_quality`: 1 ms, about what NTP keeps hosts within.
pub const SKEW_TOLERANCE_NS: i64 = 1_000_000;

/// The view of one row per request that the graph tables aggregate.
pub const CALLS_VIEW: &str = "service_graph_calls";

/// The table that sets the stitched edges beside Application Signals' dependency map. It reads
/// the graph tables and the dependency records of `windowed_signals`.
pub const RECONCILIATION: &str = "service_graph_reconciliation";

/// The graph tables `metrics` and `report` write, in order: the graph, its nodes and the
/// reconciliation (`--tables graph`), then the data-quality checks (`--tables quality`).
pub const METRICS_GRAPH_TABLES: [&str; 4] = ["service_graph", "service_graph_nodes", RECONCILIATION, "data_quality"];

/// Which part of the input the graph covers.
#[derive(Debug, Clone, Copy)]
pub struct GraphOptions {
    /// Bucket width in nanoseconds.
    pub bucket_ns: i64,
    /// Half-open window on a request's time (its client span's end, else its server span's),
    /// ns since the epoch; `None` is unbounded. Pairs are made over the whole input first.
    pub from: Option<i64>,
    pub to: Option<i64>,
    /// t-digest percentiles instead of exact ones.
    pub approx: bool,
}

/// The indices of the span-table columns the pairing and the data-quality checks read, as
/// `service_graph_calls` and `data_quality` scan them (planned against the span schema, so the SQL stays the one definition). Decoded spans
/// can be cut down to these.
pub async fn graph_columns() -> Result<Vec<usize>> {
    let ctx = SessionContext::new();
    ctx.register_table("spans", Arc::new(MemTable::try_new(span_schema(), vec![vec![]])?))?;
    let calls = ctx.sql(queries::get(CALLS_VIEW)?.sql).await?;
    ctx.register_table(CALLS_VIEW, calls.clone().into_view())?;
    let quality = ctx.sql(queries::get("data_quality")?.sql).await?;
    let mut names = BTreeSet::new();
    for plan in [calls.into_optimized_plan()?, quality.into_optimized_plan()?] {
        plan.apply(|node| {
            if let LogicalPlan::TableScan(scan) = node
                && scan.table_name.table() == "spans"
            {
                names.extend(scan.projected_schema.fields().iter().map(|f| f.name().clone()));
            }
            Ok(TreeNodeRecursion::Continue)
        })?;
    }
    let schema = span_schema();
    let mut columns = names.iter().map(|n| Ok(schema.index_of(n)?)).collect::<Result<Vec<usize>>>()?;
    columns.sort_unstable();
    Ok(columns)
}

/// Pair the spans of the `spans` table registered in `ctx` once, registering the calls as
/// `service_graph_calls` (read by both `service_graph` and `data_quality`), then compute the
/// graph tables from them (each also registered under its name).
pub async fn compute(ctx: &SessionContext, opts: &GraphOptions) -> Result<Vec<Table>> {
    register_functions(ctx, opts.approx);
    for name in [CALLS_VIEW].into_iter().chain(GRAPH_TABLES) {
        ctx.deregister_table(name)?;
    }
    run_and_register(ctx, CALLS_VIEW, vec![]).await?;
    let params = window_params(opts.bucket_ns, opts.from, opts.to);
    let edges = run_and_register(ctx, "service_graph", params).await?;
    let nodes = run_and_register(ctx, "service_graph_nodes", vec![]).await?;
    let quality = run_and_register(ctx, "data_quality", vec![ScalarValue::Int64(Some(SKEW_TOLERANCE_NS))]).await?;
    Ok(vec![edges, nodes, quality])
}

/// Set the graph tables beside Application Signals' dependency map: `service_graph_reconciliation`
/// over the graph tables [`compute`] registered in `ctx` and its `windowed_signals` (the same
/// window), registered under its name.
pub async fn reconcile(ctx: &SessionContext) -> Result<Table> {
    ctx.deregister_table(RECONCILIATION)?;
    run_and_register(ctx, RECONCILIATION, vec![]).await
}

/// The spans the pairing reads (the [`graph_columns`] of decoded batches), gathered while a
/// run decodes its inputs for the derivation: held in memory up to a budget, then written to a
/// Parquet scratch file, so that the decoding stays within the memory it has without the graph.
pub struct GraphSpool {
    path: PathBuf,
    budget: usize,
    held: Vec<RecordBatch>,
    held_bytes: usize,
    writer: Option<ArrowWriter<File>>,
}

impl GraphSpool {
    /// A spool that writes to `path` beyond `budget` bytes.
    pub fn new(path: &Path, budget: usize) -> Self {
        GraphSpool { path: path.to_path_buf(), budget, held: Vec::new(), held_bytes: 0, writer: None }
    }

    /// Add a batch of spans.
    pub fn push(&mut self, batch: RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        if let Some(writer) = &mut self.writer {
            return writer.write(&batch).map_err(|e| Error::output(&self.path, e));
        }
        self.held_bytes += batch.get_array_memory_size();
        self.held.push(batch);
        if self.held_bytes > self.budget {
            let file = File::create(&self.path).map_err(|e| Error::output(&self.path, e))?;
            let mut writer =
                ArrowWriter::try_new(file, self.held[0].schema(), None).map_err(|e| Error::output(&self.path, e))?;
            for b in std::mem::take(&mut self.held) {
                writer.write(&b).map_err(|e| Error::output(&self.path, e))?;
            }
            self.held_bytes = 0;
            self.writer = Some(writer);
        }
        Ok(())
    }

    /// Register the spans as `spans` in `ctx`, spread over `partitions` when held in memory.
    /// Spans written to the file are read from it; the caller removes it when done.
    pub async fn register(self, ctx: &SessionContext, partitions: usize) -> Result<()> {
        let Some(writer) = self.writer else {
            return register_spans(ctx, self.held, partitions);
        };
        writer.close().map_err(|e| Error::output(&self.path, e))?;
        ctx.register_parquet("spans", &self.path.display().to_string(), ParquetReadOptions::default()).await?;
        Ok(())
    }
}
