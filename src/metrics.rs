//! RED metrics: register the spans (decoded batches, or a span store read in place), derive
//! the `signals` table from them, then run the metric queries of `queries/` over it for one
//! time window, per bucket and in total.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, RecordBatch};
use arrow::datatypes::{DataType, SchemaRef};
use datafusion::common::ScalarValue;
use datafusion::datasource::MemTable;
use datafusion::prelude::{ParquetReadOptions, SessionContext};

use crate::error::Result;
use crate::model::schema::span_schema;
use crate::queries::{self, register_functions};
use crate::signals::{SignalOptions, SignalStats, derive_signals, signals_schema};
use crate::store::{NANOS_PER_DAY, PARTITION_COLUMN, date_of_day, spans_dir};

/// The metric tables a run writes, in this order.
pub const METRIC_TABLES: [&str; 3] = ["service_metrics", "operation_metrics", "dependency_metrics"];

/// What to compute.
#[derive(Debug, Clone)]
pub struct MetricsOptions {
    pub signals: SignalOptions,
    /// Bucket width in nanoseconds.
    pub bucket_ns: i64,
    /// Half-open window on record end time, ns since the epoch; `None` is unbounded.
    pub from: Option<i64>,
    pub to: Option<i64>,
    /// t-digest percentiles instead of exact ones.
    pub approx: bool,
}

/// One computed table.
#[derive(Debug, Clone)]
pub struct Table {
    pub name: &'static str,
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
}

impl Table {
    pub fn rows(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }
}

/// Everything a metrics run computes.
#[derive(Debug, Clone)]
pub struct Metrics {
    pub signals: Table,
    /// [`METRIC_TABLES`], in order.
    pub tables: Vec<Table>,
    pub services_page: Table,
    pub stats: SignalStats,
}

async fn run_query(ctx: &SessionContext, name: &'static str) -> Result<Table> {
    let df = ctx.sql(queries::get(name)?.sql).await?;
    let schema = Arc::new(df.schema().as_arrow().clone());
    let batches = df.collect().await?;
    Ok(Table { name, schema, batches })
}

/// Register `batches` as an in-memory table, spread round-robin over up to `partitions`.
fn register(
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

/// Register a span store written by `ingest` as `spans`: its Parquet files as a listing table
/// (`store_partitions`), read only in the date partitions that can hold records of the window
/// (from the day before it starts, for spans that start earlier and their parents).
pub async fn register_store(ctx: &SessionContext, dir: &Path, opts: &MetricsOptions) -> Result<()> {
    let read = ParquetReadOptions::default().table_partition_cols(vec![(PARTITION_COLUMN.into(), DataType::Utf8)]);
    ctx.register_parquet("store_partitions", &format!("{}/", spans_dir(dir).display()), read).await?;
    let first = opts.from.map_or("0000-01-01".into(), |f| date_of_day(f.div_euclid(NANOS_PER_DAY) - 1));
    let last = opts.to.map_or("9999-12-31".into(), |t| date_of_day((t - 1).div_euclid(NANOS_PER_DAY)));
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

/// Register the `windowed_signals` view of `signals` for the options' bucket and window.
pub async fn register_window(ctx: &SessionContext, opts: &MetricsOptions) -> Result<()> {
    let ts =
        |v: Option<i64>, default: i64| ScalarValue::TimestampNanosecond(Some(v.unwrap_or(default)), Some("UTC".into()));
    let df = ctx.sql(queries::get("windowed_signals")?.sql).await?.with_param_values(vec![
        ScalarValue::Int64(Some(opts.bucket_ns)),
        ts(opts.from, i64::MIN),
        ts(opts.to, i64::MAX),
    ])?;
    ctx.register_table("windowed_signals", df.into_view())?;
    Ok(())
}

/// Derive signals from `spans` (already registered in `ctx`) and compute the metric tables.
/// Registers `signals`, `windowed_signals` and one table per metric query in `ctx`.
pub async fn compute(ctx: &SessionContext, opts: &MetricsOptions) -> Result<Metrics> {
    register_functions(ctx, opts.approx);
    let (batches, stats) = derive_signals(ctx, &opts.signals).await?;
    register(ctx, "signals", signals_schema(), batches.clone(), 1)?;
    register_window(ctx, opts).await?;
    let mut tables = Vec::with_capacity(METRIC_TABLES.len());
    for name in METRIC_TABLES {
        let table = run_query(ctx, name).await?;
        register(ctx, name, table.schema.clone(), table.batches.clone(), 1)?;
        tables.push(table);
    }
    let services_page = run_query(ctx, "services_page").await?;
    let signals = Table { name: "signals", schema: signals_schema(), batches };
    Ok(Metrics { signals, tables, services_page, stats })
}

/// The services page as text: Service, Environment, Requests, Availability, Fault %, Error %,
/// p99, one line per service; rates with two decimals, "–" when undefined.
pub fn render_services_page(page: &Table) -> String {
    use arrow::array::AsArray;
    use arrow::compute::cast;
    let header = ["Service", "Environment", "Requests", "Availability %", "Fault %", "Error %", "p99 ms"];
    let mut rows: Vec<Vec<String>> = Vec::new();
    for batch in &page.batches {
        let text = |i: usize| -> Vec<String> {
            let Ok(col) = cast(batch.column(i), &DataType::Utf8) else { return vec![String::new(); batch.num_rows()] };
            let s = col.as_string::<i32>();
            (0..s.len()).map(|r| if s.is_valid(r) { s.value(r).to_string() } else { "–".into() }).collect()
        };
        let number = |i: usize| -> Vec<String> {
            let Ok(col) = cast(batch.column(i), &DataType::Float64) else {
                return vec![String::new(); batch.num_rows()];
            };
            let f = col.as_primitive::<arrow::datatypes::Float64Type>();
            (0..f.len()).map(|r| if f.is_valid(r) { format!("{:.2}", f.value(r)) } else { "–".into() }).collect()
        };
        let cols = [text(0), text(1), text(2), number(3), number(4), number(5), number(6)];
        for r in 0..batch.num_rows() {
            rows.push(cols.iter().map(|c| c[r].clone()).collect());
        }
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|i| rows.iter().map(|r| r[i].chars().count()).chain([header[i].len()]).max().unwrap_or(0))
        .collect();
    let line = |cells: &[String]| -> String {
        let parts: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let pad = widths[i].saturating_sub(c.chars().count());
                if i < 2 { format!("{c}{}", " ".repeat(pad)) } else { format!("{}{c}", " ".repeat(pad)) }
            })
            .collect();
        parts.join("  ").trim_end().to_string() + "\n"
    };
    let mut out = line(&header.map(String::from));
    for r in &rows {
        out.push_str(&line(r));
    }
    if rows.is_empty() {
        out.push_str("(no service records in the window)\n");
    }
    out
}
