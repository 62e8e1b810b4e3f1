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
use arrow::datatypes::SchemaRef;

use datafusion::common::ScalarValue;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::datasource::MemTable;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use parquet::arrow::ArrowWriter;

use crate::error::{Error, Result};
use crate::metrics::{MetricsOptions, register, register_spans, run_and_register, run_query, window_params};
use crate::model::schema::span_schema;
use crate::model::table::Table;
use crate::queries::{self, register_functions};
use crate::spill::{SpanSpool, SpillOptions};
use crate::util::release_free_memory;

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

/// The dependency records matched to the requests of their spans, per range of trace ids, that
/// the reconciliation reads.
pub const MATCHES: &str = "service_graph_matches";

/// The graph tables `metrics` and `report` write, in order: the graph, its nodes and the
/// reconciliation (`--tables graph`), then the data-quality checks (`--tables quality`).
pub const METRICS_GRAPH_TABLES: [&str; 4] = ["service_graph", "service_graph_nodes", RECONCILIATION, "data_quality"];

/// The span attributes a virtual callee can be named by, at their positions in the
/// `candidates` of `service_graph_spans` (from 1), each with the names it is known by.
pub const PEER_ATTRIBUTES: [&[&str]; 8] = [
    &["peer.service"],
    &["db.name", "db.namespace"],
    &["db.system", "db.system.name"],
    &["messaging.destination", "messaging.destination.name"],
    &["server.address", "net.peer.name"],
    &["rpc.service"],
    &["network.peer.address", "net.sock.peer.addr"],
    &["faas.invoked_name"],
];

/// The attributes virtual callees are named by unless told otherwise, as the collector's
/// `servicegraph` connector names them (peer.service, db.name, db.system), then the queue and
/// the address: positions in [`PEER_ATTRIBUTES`].
pub const DEFAULT_PEER_ATTRIBUTES: [usize; 5] = [1, 2, 3, 4, 5];

/// `--peer-attributes`: the positions in [`PEER_ATTRIBUTES`] of the keys given, in their order
/// (the default for none); a key of no candidate is an error naming the ones there are.
pub fn peer_attributes(keys: &[String]) -> Result<Vec<usize>> {
    if keys.is_empty() {
        return Ok(DEFAULT_PEER_ATTRIBUTES.to_vec());
    }
    let mut positions = Vec::with_capacity(keys.len());
    for key in keys {
        let Some(at) = PEER_ATTRIBUTES.iter().position(|names| names.contains(&key.as_str())) else {
            let known: Vec<&str> = PEER_ATTRIBUTES.iter().flat_map(|n| n.iter().copied()).collect();
            return Err(Error::Config(format!(
                "--peer-attributes: {key:?} is not an attribute virtual callees can be named by; these are: {}",
                known.join(", ")
            )));
        };
        if !positions.contains(&(at + 1)) {
            positions.push(at + 1);
        }
    }
    Ok(positions)
}

/// The `$1` ... `$8` of `service_graph_spans`: the positions, then NULL.
fn peer_params(positions: &[usize]) -> Vec<ScalarValue> {
    (0..PEER_ATTRIBUTES.len()).map(|i| ScalarValue::Int64(positions.get(i).map(|&p| p as i64))).collect()
}

/// Which part of the input the graph covers, and how virtual callees are named.
#[derive(Debug, Clone)]
pub struct GraphOptions {
    /// Bucket width in nanoseconds.
    pub bucket_ns: i64,
    /// Half-open window on a request's time (its client span's end, else its server span's),
    /// ns since the epoch; `None` is unbounded. Pairs are made over the whole input first.
    pub from: Option<i64>,
    pub to: Option<i64>,
    /// t-digest percentiles instead of exact ones.
    pub approx: bool,
    /// The attributes a virtual callee is named by, the first present: positions in
    /// [`PEER_ATTRIBUTES`] ([`peer_attributes`]).
    pub peer: Vec<usize>,
}

impl GraphOptions {
    /// The graph of a metrics run: its bucket, window, percentiles and peer attributes.
    pub fn of(m: &MetricsOptions) -> Self {
        GraphOptions {
            bucket_ns: m.bucket_ns,
            from: m.from,
            to: m.to,
            approx: m.approx,
            peer: m.peer_attributes.clone(),
        }
    }
}

/// The view of the spans the pairing reads, one part of the input at a time.
pub const SPANS_VIEW: &str = "service_graph_spans";

/// The queries run over each part of the input (whole traces), whose rows are gathered over
/// every part: the requests paired within the part, the ends of span links, and the
/// data-quality checks of spans alone.
pub const PART_QUERIES: [&str; 3] = ["service_graph_partial_calls", "service_graph_link_ends", "data_quality_spans"];

/// The indices of the span-table columns the pairing and the data-quality checks read, as the
/// queries of each part scan them (planned against the span schema, so the SQL stays the one
/// definition). Decoded spans can be cut down to these.
pub async fn graph_columns() -> Result<Vec<usize>> {
    let ctx = SessionContext::new();
    register_functions(&ctx, false);
    ctx.register_table("spans", Arc::new(MemTable::try_new(span_schema(), vec![vec![]])?))?;
    let view =
        ctx.sql(queries::get(SPANS_VIEW)?.sql).await?.with_param_values(peer_params(&DEFAULT_PEER_ATTRIBUTES))?;
    ctx.register_table(SPANS_VIEW, view.into_view())?;
    let mut names = BTreeSet::new();
    for name in PART_QUERIES {
        let plan = ctx.sql(queries::get(name)?.sql).await?.into_optimized_plan()?;
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

/// Compute the graph tables over the `spans` table registered in `ctx`, as one part (each
/// table also registered under its name).
pub async fn compute(ctx: &SessionContext, opts: &GraphOptions) -> Result<Vec<Table>> {
    let mut parts = Parts::new(None, None, true);
    parts.add(ctx, opts).await?;
    parts.finish(ctx, opts).await
}

/// Compute the graph tables over the spans of `spool`, one part of whole traces at a time, so
/// that the pairing's joins hold one part: all of them at once when the spool holds them in
/// memory, its partitions when it spilled them to disk. The requests are then written to
/// `scratch` (a Parquet file the caller removes), and read from it; those paired in each part
/// are written beside it first, and that file is removed here (or becomes `scratch` itself
/// when no span link pairs requests across parts).
pub fn compute_spooled(
    ctx: &SessionContext,
    runtime: &tokio::runtime::Runtime,
    spool: SpanSpool,
    opts: &GraphOptions,
    scratch: &Path,
) -> Result<Vec<Table>> {
    // The parts are paired on every worker even when the session queries a spilled signals
    // file with one partition: the joins' memory is the part's either way. The tables are then
    // aggregated with the session's partitions, which bound the percentiles' memory.
    let before = ctx.copied_config().target_partitions();
    let partitions = runtime.metrics().num_workers().max(before);
    set_target_partitions(ctx, runtime, partitions)?;
    let spilled = spool.spilled();
    let partial = scratch.with_extension("partial.parquet");
    let _partial = RemoveOnDrop(spilled.then(|| partial.clone()));
    let mut parts = Parts::new(spilled.then_some(partial.as_path()), spilled.then_some(scratch), false);
    spool.drain(|batches| {
        ctx.deregister_table("spans")?;
        register_spans(ctx, batches, partitions)?;
        runtime.block_on(parts.add(ctx, opts))
    })?;
    // What the parts' joins took is handed back before the tables are aggregated.
    ctx.deregister_table("spans")?;
    if spilled {
        release_free_memory();
    }
    set_target_partitions(ctx, runtime, before)?;
    runtime.block_on(parts.finish(ctx, opts))
}

/// A file removed when this is dropped (if it still exists).
struct RemoveOnDrop(Option<PathBuf>);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Some(path) = &self.0 {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// A spool for the spans the graph pairs: spilled beyond half the derivation's threshold (so
/// that both fit where the derivation alone did), in partitions by trace id that are split
/// again only above 64 MiB and at most two hex digits deep (256 partitions), since each
/// partition costs the graph's queries once.
pub fn spool(spill: &SpillOptions) -> SpanSpool {
    let opts = SpillOptions { threshold_bytes: spill.threshold_bytes / 2, temp_dir: spill.temp_dir.clone() };
    SpanSpool::new(opts).with_split_limits(64 << 20, 2)
}

/// Set the session's target partitions, which fixes the scans of tables registered after.
fn set_target_partitions(ctx: &SessionContext, runtime: &tokio::runtime::Runtime, n: usize) -> Result<()> {
    runtime.block_on(ctx.sql(&format!("SET datafusion.execution.target_partitions = {n}")))?;
    Ok(())
}

/// Put the graph columns of the `spans` registered in `ctx` (a span store's) in `spool`.
pub async fn spool_spans(ctx: &SessionContext, spool: &mut SpanSpool) -> Result<()> {
    let columns = graph_columns().await?;
    let schema = span_schema();
    let names: Vec<String> = columns.iter().map(|&c| format!("\"{}\"", schema.field(c).name())).collect();
    let sql = format!("SELECT {} FROM spans", names.join(", "));
    let mut stream = ctx.sql(&sql).await?.execute_stream().await?;
    while let Some(batch) = futures::StreamExt::next(&mut stream).await {
        spool.push(batch?)?;
    }
    Ok(())
}

/// The rows of the [`PART_QUERIES`] gathered over the parts of the input.
struct Parts {
    /// In [`PART_QUERIES`] order: the requests paired within each part (many, so written to a
    /// file when it has one), the ends of span links and the data-quality rows (few, held).
    sinks: [BatchSink; 3],
    /// Where the requests of [`CALLS_VIEW`] are written; `None` holds them.
    requests: Option<PathBuf>,
    /// Keep every table registered (`sql` may read any of them); otherwise the requests paired
    /// per part are dropped once the requests are gathered.
    keep: bool,
}

impl Parts {
    fn new(partial: Option<&Path>, requests: Option<&Path>, keep: bool) -> Self {
        let held = || BatchSink::new(None);
        Parts { sinks: [BatchSink::new(partial), held(), held()], requests: requests.map(Path::to_path_buf), keep }
    }

    /// Run the part queries over the `spans` now registered in `ctx`.
    async fn add(&mut self, ctx: &SessionContext, opts: &GraphOptions) -> Result<()> {
        register_functions(ctx, opts.approx);
        ctx.deregister_table(SPANS_VIEW)?;
        let view = ctx.sql(queries::get(SPANS_VIEW)?.sql).await?.with_param_values(peer_params(&opts.peer))?;
        ctx.register_table(SPANS_VIEW, view.into_view())?;
        for (name, sink) in PART_QUERIES.into_iter().zip(&mut self.sinks) {
            let table = run_query(ctx, name, vec![]).await?;
            sink.push(table.schema, table.batches)?;
        }
        Ok(())
    }

    /// Register the gathered rows under their queries' names, gather the requests of
    /// [`CALLS_VIEW`] once (every table below reads them), then compute the graph tables from
    /// them (each registered under its name). With the requests written to a file (large
    /// inputs), freed memory is handed back between the tables.
    async fn finish(self, ctx: &SessionContext, opts: &GraphOptions) -> Result<Vec<Table>> {
        register_functions(ctx, opts.approx);
        for name in PART_QUERIES.into_iter().chain([CALLS_VIEW]).chain(GRAPH_TABLES) {
            ctx.deregister_table(name)?;
        }
        let [mut partial, link_ends, quality] = self.sinks;
        link_ends.register(ctx, PART_QUERIES[1]).await?;
        quality.register(ctx, PART_QUERIES[2]).await?;
        let consumers = "SELECT 1 FROM service_graph_link_ends WHERE role = 'consumer' LIMIT 1";
        let linked = ctx.sql(consumers).await?.count().await? > 0;
        if linked {
            partial.register(ctx, PART_QUERIES[0]).await?;
            let mut requests = BatchSink::new(self.requests.as_deref());
            let df = ctx.sql(queries::get(CALLS_VIEW)?.sql).await?;
            let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
            requests.push(schema.clone(), Vec::new())?;
            let mut stream = df.execute_stream().await?;
            while let Some(batch) = futures::StreamExt::next(&mut stream).await {
                requests.push(schema.clone(), vec![batch?])?;
            }
            drop(stream);
            requests.register(ctx, CALLS_VIEW).await?;
        } else {
            // Without a consumer whose link may pair it across parts, the requests are those
            // paired within the parts, read as they are: a file of them becomes the requests'.
            if let Some(file) = &self.requests {
                partial.move_to(file)?;
            }
            partial.register(ctx, PART_QUERIES[0]).await?;
            ctx.register_table(CALLS_VIEW, ctx.table_provider(PART_QUERIES[0]).await?)?;
        }
        if !self.keep {
            ctx.deregister_table(PART_QUERIES[0])?;
        }
        let release = self.requests.is_some();
        let params = window_params(opts.bucket_ns, opts.from, opts.to);
        let edges = run_and_register(ctx, "service_graph", params).await?;
        if release {
            release_free_memory();
        }
        let nodes = run_and_register(ctx, "service_graph_nodes", vec![]).await?;
        let quality = run_and_register(ctx, "data_quality", vec![ScalarValue::Int64(Some(SKEW_TOLERANCE_NS))]).await?;
        Ok(vec![edges, nodes, quality])
    }
}

/// Set the graph tables beside Application Signals' dependency map: `service_graph_reconciliation`
/// over the graph tables [`compute`] registered in `ctx` and its `windowed_signals` (the same
/// window), registered under its name. The records are matched to the requests of their spans
/// in `ranges` ranges of trace ids (of the first byte's values) one after the other, so that the
/// joins hold one range: 1 for inputs held in memory, more for large ones.
pub async fn reconcile(ctx: &SessionContext, ranges: usize) -> Result<Table> {
    let ranges = ranges.clamp(1, 256);
    for name in [MATCHES, RECONCILIATION] {
        ctx.deregister_table(name)?;
    }
    let bound = |k: usize| (k < ranges).then(|| [vec![(k * 256 / ranges) as u8], vec![0; 15]].concat());
    let mut matches = BatchSink::new(None);
    for k in 0..ranges {
        let (lo, hi) = (bound(k).unwrap_or_default(), bound(k + 1));
        let params = vec![ScalarValue::FixedSizeBinary(16, Some(lo)), ScalarValue::FixedSizeBinary(16, hi)];
        let table = run_query(ctx, MATCHES, params).await?;
        matches.push(table.schema, table.batches)?;
    }
    matches.register(ctx, MATCHES).await?;
    run_and_register(ctx, RECONCILIATION, vec![]).await
}

/// Batches written to a Parquet file from the first rows on when it has one, else held in
/// memory.
struct BatchSink {
    path: Option<PathBuf>,
    schema: Option<SchemaRef>,
    held: Vec<RecordBatch>,
    held_bytes: usize,
    writer: Option<ArrowWriter<File>>,
}

impl BatchSink {
    /// A sink that writes to `path`; without a path it holds everything.
    fn new(path: Option<&Path>) -> Self {
        let path = path.map(Path::to_path_buf);
        BatchSink { path, schema: None, held: Vec::new(), held_bytes: 0, writer: None }
    }

    fn push(&mut self, schema: SchemaRef, batches: Vec<RecordBatch>) -> Result<()> {
        self.schema.get_or_insert(schema);
        for batch in batches.into_iter().filter(|b| b.num_rows() > 0) {
            match (&mut self.writer, &self.path) {
                (Some(writer), Some(path)) => writer.write(&batch).map_err(|e| Error::output(path, e))?,
                _ => {
                    self.held_bytes += batch.get_array_memory_size();
                    self.held.push(batch);
                }
            }
        }
        if let (None, Some(path), Some(schema)) = (&self.writer, &self.path, &self.schema)
            && self.held_bytes > 0
        {
            let file = File::create(path).map_err(|e| Error::output(path, e))?;
            let mut writer = ArrowWriter::try_new(file, schema.clone(), None).map_err(|e| Error::output(path, e))?;
            for b in std::mem::take(&mut self.held) {
                writer.write(&b).map_err(|e| Error::output(path, e))?;
            }
            self.held_bytes = 0;
            self.writer = Some(writer);
        }
        Ok(())
    }

    /// Move the file written so far, if any, to `path`, and write there from now on.
    fn move_to(&mut self, path: &Path) -> Result<()> {
        if let (Some(_), Some(from)) = (&self.writer, &self.path) {
            std::fs::rename(from, path).map_err(|e| Error::output(path, e))?;
            self.path = Some(path.to_path_buf());
        }
        Ok(())
    }

    /// Register the batches as `name`: from memory, or from the file.
    async fn register(self, ctx: &SessionContext, name: &str) -> Result<()> {
        let schema = self.schema.ok_or_else(|| Error::Config("the service graph read no part".into()))?;
        let (Some(writer), Some(path)) = (self.writer, &self.path) else {
            let partitions = ctx.copied_config().target_partitions();
            return register(ctx, name, schema, self.held, partitions);
        };
        writer.close().map_err(|e| Error::output(path, e))?;
        // Read with the schema the rows had in memory (Parquet would give Utf8View for Utf8), so
        // that the tables are the same whether the requests were written or held.
        let read = ParquetReadOptions::default().schema(&schema);
        ctx.register_parquet(name, &path.display().to_string(), read).await?;
        Ok(())
    }
}
