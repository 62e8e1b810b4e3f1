//! RED metrics: register the spans (decoded batches, or a span store read in place), derive
//! the `signals` table from them, then run the metric queries of `queries/` over it for one
//! time window, per bucket and in total.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::ScalarValue;
use datafusion::datasource::MemTable;
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use futures::StreamExt;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::file::metadata::KeyValue;

use crate::error::{Error, Result};
use crate::model::schema::span_schema;
pub use crate::model::table::Table;
use crate::output::{OUTPUT_ZSTD_LEVEL, ParallelWriter, with_key_values, writer_properties};
use crate::queries::{self, register_functions};
use crate::signals::{self, RecordKinds, SignalOptions, SignalStats, SignalsDeriver, signals_schema};
use crate::spill::{SpanSpool, SpillOptions, SpillStats};
use crate::store::{PARTITION_COLUMN, has_span_files, spans_dir};

/// The metric tables a run writes, in this order.
pub const METRIC_TABLES: [&str; 3] = ["service_metrics", "operation_metrics", "dependency_metrics"];

/// The queries that compute them, in the order they run: `dependency_groups` is the first
/// stage of `dependency_metrics`, registered for it and not written.
pub const METRIC_QUERIES: [&str; 4] =
    ["service_metrics", "operation_metrics", "dependency_groups", "dependency_metrics"];

/// The kinds of records the tables `tables` are computed from: Service records for the
/// service and operation tables, dependency records for the dependency table and the service
/// graph's reconciliation with them; both when no such table is asked for (the signals alone).
pub fn record_kinds(tables: &[&str]) -> RecordKinds {
    let service = tables.iter().any(|t| matches!(*t, "service_metrics" | "operation_metrics"));
    let dependency = tables.iter().any(|t| matches!(*t, "dependency_metrics" | "service_graph_reconciliation"));
    match service || dependency {
        true => RecordKinds { service, dependency },
        false => RecordKinds::ALL,
    }
}

/// What to compute.
#[derive(Debug, Clone)]
pub struct MetricsOptions {
    /// How records are derived; its record kinds must cover what `tables` need
    /// ([`record_kinds`]).
    pub signals: SignalOptions,
    /// The metric tables to compute: [`METRIC_TABLES`] or some of them, in that order.
    pub tables: Vec<&'static str>,
    /// The service graph tables to compute from the same spans (`graph::METRICS_GRAPH_TABLES`
    /// or some of them, in that order): none when the run writes no output.
    pub graph_tables: Vec<&'static str>,
    /// The attributes the graph names virtual callees by (`graph::peer_attributes`).
    pub peer_attributes: Vec<usize>,
    /// Bucket width in nanoseconds.
    pub bucket_ns: i64,
    /// Half-open window on record end time, ns since the epoch; `None` is unbounded.
    pub from: Option<i64>,
    pub to: Option<i64>,
    /// t-digest percentiles instead of exact ones.
    pub approx: bool,
    /// When the spans held for the derivation go to disk.
    pub spill: SpillOptions,
}

/// Everything a metrics run computes.
#[derive(Debug, Clone)]
pub struct Metrics {
    pub signals: Table,
    /// The options' metric tables, in order.
    pub tables: Vec<Table>,
    /// Computed with the service table.
    pub services_page: Option<Table>,
    pub stats: SignalStats,
    /// What the span spool wrote to disk (nothing for data within the spill threshold).
    pub spill: SpillStats,
}

/// The signals file among `inputs`: a single directory holding `signals.parquet` and
/// `run_info.parquet`, as `metrics` writes it.
pub fn metrics_output(inputs: &[String]) -> Option<PathBuf> {
    let [only] = inputs else { return None };
    let dir = Path::new(only);
    let file = dir.join(format!("{}.parquet", signals::TABLE));
    (file.is_file() && dir.join(crate::store::RUN_INFO_FILE).is_file()).then_some(file)
}

/// Check that `path` holds a signals table as `metrics` writes it (every column of
/// [`signals_schema`], of its type), so that a damaged or foreign file is an error naming it
/// rather than a failed query, and return the kinds of records it holds.
pub fn check_signals_file(path: &Path) -> Result<RecordKinds> {
    let file = File::open(path).map_err(|source| Error::Input { path: path.display().to_string(), source })?;
    let shown = path.display().to_string();
    let reader = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| not_signals(&shown, e.to_string()))?;
    check_signals_metadata(&shown, reader.metadata())
}

/// [`check_signals_file`] for the file `key` in the object store `store` (`s3://bucket`) of the
/// session, from its footer alone.
pub async fn check_signals_object(ctx: &SessionContext, store: &str, key: &str) -> Result<RecordKinds> {
    use datafusion::execution::object_store::ObjectStoreUrl;
    use datafusion::object_store::ObjectStoreExt;
    use datafusion::object_store::path::Path as ObjectPath;
    use parquet::file::FOOTER_SIZE;
    use parquet::file::metadata::{FooterTail, ParquetMetaDataReader};
    let url = &format!("{store}/{key}");
    let not = |why: String| not_signals(url, why);
    let location = ObjectPath::parse(key).map_err(|e| not(e.to_string()))?;
    let store = ctx.runtime_env().object_store(ObjectStoreUrl::parse(store)?)?;
    let failed =
        |e: datafusion::object_store::Error| Error::Input { path: url.to_string(), source: std::io::Error::other(e) };
    let size = store.head(&location).await.map_err(failed)?.size;
    if size < FOOTER_SIZE as u64 {
        return Err(not(format!("{size} bytes is too short for Parquet")));
    }
    let tail = store.get_range(&location, size - FOOTER_SIZE as u64..size).await.map_err(failed)?;
    let tail: &[u8; FOOTER_SIZE] = tail.as_ref().try_into().map_err(|_| not("a short read".into()))?;
    let footer = FooterTail::try_new(tail).map_err(|e| not(e.to_string()))?;
    let length = footer.metadata_length() as u64;
    if length + FOOTER_SIZE as u64 > size {
        return Err(not(format!("its footer claims {length} bytes of metadata in a file of {size}")));
    }
    let start = size - FOOTER_SIZE as u64 - length;
    let bytes = store.get_range(&location, start..size - FOOTER_SIZE as u64).await.map_err(failed)?;
    let metadata = ParquetMetaDataReader::decode_metadata(&bytes).map_err(|e| not(e.to_string()))?;
    check_signals_metadata(url, &metadata)
}

/// The error of a file that is not a signals table.
fn not_signals(shown: &str, why: String) -> Error {
    Error::Config(format!("{shown} is not the signals table of a spanlens metrics output: {why}"))
}

/// [`check_signals_file`] on the file's Parquet metadata.
fn check_signals_metadata(shown: &str, metadata: &parquet::file::metadata::ParquetMetaData) -> Result<RecordKinds> {
    let not = |why: String| not_signals(shown, why);
    let file = metadata.file_metadata();
    let found = parquet::arrow::parquet_to_arrow_schema(file.schema_descr(), file.key_value_metadata())
        .map_err(|e| not(e.to_string()))?;
    for field in signals_schema().fields() {
        match found.field_with_name(field.name()) {
            Ok(f) if f.data_type() == field.data_type() => {}
            Ok(f) => {
                return Err(not(format!("column {} is {}, not {}", field.name(), f.data_type(), field.data_type())));
            }
            Err(_) if field.name() == signals::col::ADJUSTED_COUNT => {
                return Err(not(format!(
                    "it has no column {}: an earlier spanlens wrote it; run metrics on the spans again",
                    field.name()
                )));
            }
            Err(_) => return Err(not(format!("it has no column {}", field.name()))),
        }
    }
    let pairs = file.key_value_metadata();
    match pairs.into_iter().flatten().find(|kv| kv.key == signals::RECORDS_KEY) {
        None => Ok(RecordKinds::ALL),
        Some(kv) => kv.value.as_deref().and_then(RecordKinds::parse).ok_or_else(|| {
            not(format!("its {} metadata is {:?}, not a list of service and dependency", kv.key, kv.value))
        }),
    }
}

/// The footer pairs of a signals file holding records of these kinds.
pub fn signals_metadata(kinds: RecordKinds) -> Vec<KeyValue> {
    vec![KeyValue::new(signals::RECORDS_KEY.to_string(), kinds.text())]
}

/// Run the query called `name` with its `$n` parameters and collect its rows.
pub(crate) async fn run_query(ctx: &SessionContext, name: &'static str, params: Vec<ScalarValue>) -> Result<Table> {
    let mut df = ctx.sql(queries::get(name)?.sql).await?;
    if !params.is_empty() {
        df = df.with_param_values(params)?;
    }
    let schema = Arc::new(df.schema().as_arrow().clone());
    let batches = df.collect().await?;
    Ok(Table { name, schema, batches, written: None, metadata: Vec::new() })
}

/// Run the query `name` and register its rows under that name for the queries that read them.
pub(crate) async fn run_and_register(
    ctx: &SessionContext,
    name: &'static str,
    params: Vec<ScalarValue>,
) -> Result<Table> {
    let table = run_query(ctx, name, params).await?;
    register(ctx, name, table.schema.clone(), table.batches.clone(), 1)?;
    Ok(table)
}

/// Register `batches` as an in-memory table, spread round-robin over up to `partitions`.
pub(crate) fn register(
    ctx: &SessionContext,
    name: &str,
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
    partitions: usize,
) -> Result<()> {
    let parts = partitions.min(batches.len()).max(1);
    let mut split: Vec<Vec<RecordBatch>> = vec![Vec::new(); parts];
    for (i, b) in batches.into_iter().enumerate() {
        split[i % parts].push(b);
    }
    ctx.register_table(name, Arc::new(MemTable::try_new(schema, split)?))?;
    Ok(())
}

/// `batch` as a view of its rows as VALUES, under its column names: a table a Ballista cluster
/// can read (an in-memory table cannot be sent to one). A batch without rows is one row of
/// NULLs filtered out.
pub fn values_view(batch: &RecordBatch) -> Result<Arc<dyn datafusion::catalog::TableProvider>> {
    use datafusion::catalog::view::ViewTable;
    use datafusion::logical_expr::{LogicalPlanBuilder, col, lit};
    let schema = batch.schema();
    let mut rows = Vec::with_capacity(batch.num_rows().max(1));
    for row in 0..batch.num_rows() {
        let values = batch.columns().iter().map(|c| Ok(lit(ScalarValue::try_from_array(c, row)?)));
        rows.push(values.collect::<Result<Vec<_>>>()?);
    }
    let empty = rows.is_empty();
    if empty {
        let nulls = schema.fields().iter().map(|f| Ok(lit(ScalarValue::try_from(f.data_type())?)));
        rows.push(nulls.collect::<Result<Vec<_>>>()?);
    }
    // VALUES names its columns column1, column2, ... (also once decoded on the cluster, which
    // drops other names): a projection gives them theirs.
    let mut plan = LogicalPlanBuilder::values(rows)?;
    if empty {
        plan = plan.filter(lit(false))?;
    }
    let names = schema.fields().iter().enumerate().map(|(i, f)| col(format!("column{}", i + 1)).alias(f.name()));
    let plan = plan.project(names)?.build()?;
    Ok(Arc::new(ViewTable::new(plan, None)))
}

/// `batch` in `schema`: its columns cast to the schema's types (a cluster returns text as
/// Utf8 where a local plan has Utf8View, say) and its fields' nullability.
pub fn conform(batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch> {
    let columns = batch.columns().iter().zip(schema.fields()).map(|(c, f)| match c.data_type() == f.data_type() {
        true => Ok(c.clone()),
        false => arrow::compute::cast(c, f.data_type()),
    });
    let columns = columns.collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

/// Register a span store written by `ingest` as `spans`: its Parquet files as a listing table
/// (`store_partitions`), read only in the date partitions that can hold records of the window
/// (from the day before it starts, for spans that start earlier and their parents).
pub async fn register_store(ctx: &SessionContext, dir: &Path, from: Option<i64>, to: Option<i64>) -> Result<()> {
    let spans = has_span_files(dir)?.then(|| format!("{}/", spans_dir(dir).display()));
    register_store_at(ctx, spans.as_deref(), from, to).await
}

/// [`register_store`] for a store anywhere the session's object stores reach: `spans` is the
/// location of its span files (`s3://bucket/store/spans/`), `None` when it has none.
pub async fn register_store_at(
    ctx: &SessionContext,
    spans: Option<&str>,
    from: Option<i64>,
    to: Option<i64>,
) -> Result<()> {
    if let Some(spans) = spans {
        let read = ParquetReadOptions::default().table_partition_cols(vec![(PARTITION_COLUMN.into(), DataType::Utf8)]);
        ctx.register_parquet("store_partitions", spans, read).await?;
    } else {
        // A store of inputs without a valid span: the same columns, no rows.
        let mut fields: Vec<Field> = span_schema().fields().iter().map(|f| f.as_ref().clone()).collect();
        fields.push(Field::new(PARTITION_COLUMN, DataType::Utf8, false));
        let empty = MemTable::try_new(Arc::new(Schema::new(fields)), vec![vec![]])?;
        ctx.register_table("store_partitions", Arc::new(empty))?;
    }
    let (first, last) = crate::store::window_dates(from, to);
    let utf8 = |s: String| ScalarValue::Utf8(Some(s));
    let df = ctx.sql(queries::get("store_spans")?.sql).await?.with_param_values(vec![utf8(first), utf8(last)])?;
    ctx.register_table("spans", df.into_view())?;
    Ok(())
}

/// The indices of the span-table columns the derivation reads, as the `spans_for_signals`
/// query selects them (planned against the span schema, so the SQL stays the one definition).
/// Decoded spans can be cut down to these before they are held in memory.
pub async fn derivation_columns() -> Result<Vec<usize>> {
    let ctx = SessionContext::new();
    ctx.register_table("spans", Arc::new(MemTable::try_new(span_schema(), vec![vec![]])?))?;
    let df = ctx.sql(queries::get("spans_for_signals")?.sql).await?;
    let schema = span_schema();
    df.schema().fields().iter().map(|f| Ok(schema.index_of(f.name())?)).collect()
}

/// Register span batches (all of the span schema, or the same projection of it) as `spans`,
/// spread over `partitions` for parallel scans.
pub fn register_spans(ctx: &SessionContext, batches: Vec<RecordBatch>, partitions: usize) -> Result<()> {
    let schema = batches.first().map_or_else(span_schema, RecordBatch::schema);
    register(ctx, "spans", schema, batches, partitions)
}

/// The `$1` bucket width and `$2`/`$3` window bounds of the windowed queries
/// (`windowed_signals`, `service_graph`): an open end is the earliest or latest instant.
pub(crate) fn window_params(bucket_ns: i64, from: Option<i64>, to: Option<i64>) -> Vec<ScalarValue> {
    let ts =
        |v: Option<i64>, default: i64| ScalarValue::TimestampNanosecond(Some(v.unwrap_or(default)), Some("UTC".into()));
    vec![ScalarValue::Int64(Some(bucket_ns)), ts(from, i64::MIN), ts(to, i64::MAX)]
}

/// Register the `windowed_signals` view of `signals` for the options' bucket and window.
pub async fn register_window(ctx: &SessionContext, opts: &MetricsOptions) -> Result<()> {
    let df = ctx.sql(queries::get("windowed_signals")?.sql).await?.with_param_values(window_params(
        opts.bucket_ns,
        opts.from,
        opts.to,
    ))?;
    ctx.register_table("windowed_signals", df.into_view())?;
    Ok(())
}

/// Stream the span columns the derivation reads (`spans_for_signals` over the `spans` table
/// registered in `ctx`), their attribute maps cut to the keys the rules for `kinds` read and
/// each batch's resources held once, into `spool`.
pub async fn spool_spans(ctx: &SessionContext, spool: &mut SpanSpool, kinds: RecordKinds) -> Result<()> {
    let mut stream = ctx.sql(queries::get("spans_for_signals")?.sql).await?.execute_stream().await?;
    while let Some(batch) = stream.next().await {
        spool.push(signals::compact_maps(&batch?, kinds)?)?;
    }
    Ok(())
}

/// Read the span columns the derivation reads (`columns`, as [`derivation_columns`] gives them)
/// from the span store at `dir`, in the date partitions that can hold records of `[from, to)`,
/// into `spool`, with the attribute maps cut to the keys the rules for `kinds` read and each
/// batch's resources held once ([`signals::compact_maps`]): the spans `spans_for_signals`
/// selects from the store's `spans`, in the form decoding raw inputs gives.
pub fn spool_store(
    dir: &Path,
    window: (Option<i64>, Option<i64>),
    columns: &[usize],
    spool: &mut SpanSpool,
    kinds: RecordKinds,
) -> Result<()> {
    let files = crate::store::read::span_files(dir, window.0, window.1)?;
    let schema = span_schema();
    let names: Vec<&str> = columns.iter().map(|&c| schema.field(c).name().as_str()).collect();
    crate::store::read::read_spans(&files, &names, |b| signals::compact_maps(&b, kinds), |b| spool.push(b))
}

/// Derive signals from `spans` (already registered in `ctx`) and compute the metric tables.
/// Registers `signals`, `windowed_signals` and one table per metric query in `ctx`.
pub async fn compute(ctx: &SessionContext, opts: &MetricsOptions) -> Result<Metrics> {
    let mut spool = SpanSpool::new(opts.spill.clone());
    spool_spans(ctx, &mut spool, opts.signals.records).await?;
    let Derived { signals, stats, spill } = derive_signals(ctx, &opts.signals, spool, None).await?;
    let (tables, services_page) = query_metrics(ctx, opts).await?;
    Ok(Metrics { signals, tables, services_page, stats, spill })
}

/// The `signals` table of a run and how it was derived.
#[derive(Debug, Clone)]
pub struct Derived {
    pub signals: Table,
    pub stats: SignalStats,
    /// What the span spool wrote to disk (nothing for data within the spill threshold).
    pub spill: SpillStats,
}

/// Derive signals from the spans in `spool` and register them as `signals` in `ctx`.
///
/// When the spans were spilled and `signals_file` is given, the signals are written to that
/// Parquet file as they are derived and queried from it with one partition, so that memory
/// stays bounded: exact percentiles then hold each latency once (merged grouping sets share
/// it), instead of once per partial aggregate.
pub async fn derive_signals(
    ctx: &SessionContext,
    opts: &SignalOptions,
    spool: SpanSpool,
    signals_file: Option<&Path>,
) -> Result<Derived> {
    let mut writer = match signals_file.filter(|_| spool.spilled()) {
        Some(path) => {
            let file = File::create(path).map_err(|e| Error::output(path, e))?;
            let props =
                with_key_values(writer_properties(OUTPUT_ZSTD_LEVEL, None, &[]), &signals_metadata(opts.records));
            let writer = ParallelWriter::try_new(file, signals_schema(), props).map_err(|e| Error::output(path, e))?;
            Some((writer, path))
        }
        None => None,
    };
    let mut batches = Vec::new();
    let mut rows = 0;
    let mut emit = |b: RecordBatch| -> Result<()> {
        rows += b.num_rows();
        match &mut writer {
            Some((w, path)) => w.write(&b).map_err(|e| Error::output(*path, e)),
            None => {
                batches.push(b);
                Ok(())
            }
        }
    };
    let mut deriver = SignalsDeriver::new(opts);
    // Between the parts of spilled spans, what a part took is handed back before the next is
    // read. Spans held in memory are one part: the queries after it need less than it took, and
    // handing it back would only cost time (25-30 ms at 1 M spans).
    let spilled = spool.spilled();
    let spill = spool.drain(|part| {
        deriver.derive(&part, &mut emit)?;
        drop(part);
        if spilled {
            crate::util::release_free_memory();
        }
        Ok(())
    })?;
    let stats = deriver.finish(&mut emit)?;
    let written = match writer {
        Some((w, path)) => {
            w.close().map_err(|e| Error::output(path, e))?;
            register_signals_file(ctx, path).await?;
            Some((path.to_path_buf(), rows))
        }
        None => {
            register(ctx, signals::TABLE, signals_schema(), batches.clone(), 1)?;
            None
        }
    };
    let metadata = signals_metadata(opts.records);
    let signals = Table { name: signals::TABLE, schema: signals_schema(), batches, written, metadata };
    Ok(Derived { signals, stats, spill })
}

/// Register a signals Parquet file (spilled signals, or a `metrics` output's) as `signals`, to
/// be queried with one partition: exact percentiles then hold each latency once instead of once
/// per partial aggregate, which bounds memory on files of any size.
pub async fn register_signals_file(ctx: &SessionContext, path: &Path) -> Result<()> {
    // Set before the table is registered, which fixes its scan.
    ctx.sql("SET datafusion.execution.target_partitions = 1").await?;
    let read = ParquetReadOptions::default();
    ctx.register_parquet(signals::TABLE, &path.display().to_string(), read).await?;
    Ok(())
}

/// Run the metric queries over the `signals` table registered in `ctx`, for the options'
/// window and bucket: the options' tables in order (each also registered under its name, as is
/// `dependency_groups`, the first stage of `dependency_metrics`), and the services page when the
/// service table is among them. A session can compute them again for another window: the tables
/// of the previous run are replaced.
pub async fn query_metrics(ctx: &SessionContext, opts: &MetricsOptions) -> Result<(Vec<Table>, Option<Table>)> {
    register_functions(ctx, opts.approx);
    register_window_again(ctx, opts).await?;
    let mut tables = Vec::with_capacity(opts.tables.len());
    for name in metric_queries(opts) {
        let mut table = run_and_register(ctx, name, vec![]).await?;
        if METRIC_TABLES.contains(&name) {
            table.batches = rechunk(&table.schema, &table.batches, ctx.copied_config().batch_size())?;
            tables.push(table);
        }
    }
    Ok((tables, services_page(ctx, opts).await?))
}

/// Drop the window and the metric tables of an earlier run of `ctx`, and register the window
/// of `opts`.
async fn register_window_again(ctx: &SessionContext, opts: &MetricsOptions) -> Result<()> {
    for name in std::iter::once("windowed_signals").chain(METRIC_QUERIES) {
        ctx.deregister_table(name)?;
    }
    register_window(ctx, opts).await
}

/// The [`METRIC_QUERIES`] the options' tables need, in order.
fn metric_queries(opts: &MetricsOptions) -> impl Iterator<Item = &'static str> + '_ {
    METRIC_QUERIES.into_iter().filter(|name| match *name {
        "dependency_groups" => opts.tables.contains(&"dependency_metrics"),
        name => opts.tables.contains(&name),
    })
}

/// The services page, when the service table (registered in `ctx`) is among the options'.
async fn services_page(ctx: &SessionContext, opts: &MetricsOptions) -> Result<Option<Table>> {
    match opts.tables.contains(&"service_metrics") {
        true => Ok(Some(run_query(ctx, "services_page", vec![]).await?)),
        false => Ok(None),
    }
}

/// [`query_metrics`] on a Ballista cluster over the `signals` registered in `cluster` (a view
/// deriving them from a store's spans, or a metrics output's signals file): each query runs
/// there, the first stage of `dependency_metrics` as a view inlined into the second (an
/// in-memory table cannot go to the cluster), and the tables come back here in the types a local
/// run gives them, planned in `local` against the signals schema. The services page is computed
/// here from the service table.
pub async fn query_metrics_on_cluster(
    cluster: &SessionContext,
    local: &SessionContext,
    opts: &MetricsOptions,
) -> Result<(Vec<Table>, Option<Table>)> {
    register_functions(local, opts.approx);
    if !local.table_exist(signals::TABLE)? {
        register(local, signals::TABLE, signals_schema(), Vec::new(), 1)?;
    }
    for ctx in [cluster, local] {
        register_window_again(ctx, opts).await?;
    }
    let mut tables = Vec::with_capacity(opts.tables.len());
    for name in metric_queries(opts) {
        let remote = cluster.sql(queries::get(name)?.sql).await?;
        let here = local.sql(queries::get(name)?.sql).await?;
        let schema: SchemaRef = Arc::new(here.schema().as_arrow().clone());
        cluster.register_table(name, remote.clone().into_view())?;
        if !METRIC_TABLES.contains(&name) {
            local.register_table(name, here.into_view())?;
            continue;
        }
        let batches = remote.collect().await?.iter().map(|b| conform(b, &schema)).collect::<Result<Vec<_>>>()?;
        let batches = rechunk(&schema, &batches, local.copied_config().batch_size())?;
        register(local, name, schema.clone(), batches.clone(), 1)?;
        tables.push(Table { name, schema, batches, written: None, metadata: Vec::new() });
    }
    Ok((tables, services_page(local, opts).await?))
}

/// `batches`' rows copied into one set of arrays and cut into batches of `size` rows (the last
/// one shorter): the form a metric table is written in, whatever the batches a plan gave (the
/// Parquet pages follow the batches and the arrays' buffers, so a table computed on a cluster
/// is then written as the same bytes as one computed here).
fn rechunk(schema: &SchemaRef, batches: &[RecordBatch], size: usize) -> Result<Vec<RecordBatch>> {
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    let all = arrow::compute::concat_batches(schema, batches)?;
    Ok((0..rows).step_by(size.max(1)).map(|at| all.slice(at, size.min(rows - at))).collect())
}

#[cfg(test)]
mod tests {
    use arrow::array::{ArrayRef, Float64Array, Int64Array, StringArray, TimestampNanosecondArray};

    use super::*;

    #[tokio::test]
    async fn values_views_read_back_as_their_batches() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("slo", DataType::Utf8, false),
            Field::new("n", DataType::Int64, true),
            Field::new("goal", DataType::Float64, false),
            Field::new("at", DataType::Timestamp(arrow::datatypes::TimeUnit::Nanosecond, Some("UTC".into())), false),
        ]));
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(vec!["a", "b'c"])),
            Arc::new(Int64Array::from(vec![Some(1), None])),
            Arc::new(Float64Array::from(vec![99.9, 0.1])),
            Arc::new(TimestampNanosecondArray::from(vec![1, 2]).with_timezone("UTC")),
        ];
        let batch = RecordBatch::try_new(schema.clone(), columns).unwrap();
        let ctx = SessionContext::new();
        for batch in [batch.clone(), batch.slice(0, 0)] {
            ctx.deregister_table("t").unwrap();
            ctx.register_table("t", values_view(&batch).unwrap()).unwrap();
            let back = ctx.sql("SELECT * FROM t").await.unwrap().collect().await.unwrap();
            let rows: usize = back.iter().map(RecordBatch::num_rows).sum();
            assert_eq!(rows, batch.num_rows());
            for b in &back {
                let b = conform(b, &schema).unwrap();
                assert_eq!(b, batch.slice(0, b.num_rows()));
            }
        }
    }
}
