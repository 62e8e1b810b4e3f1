//! The Parquet span store: `<out>/spans/date=YYYY-MM-DD/part-NNNNN.parquet`, Hive-partitioned by
//! the UTC date of `start_time`, each file sorted by (service, name, start time, trace, span) for
//! compression and row-group pruning, plus `<out>/run_info.parquet`.
//!
//! [`SpanStoreWriter`] buffers incoming batches per partition and flushes a partition when it
//! reaches `rows_per_file`, or the largest one when all buffers together reach `max_buffered_rows`,
//! so memory stays bounded whatever the input size. Flush points depend only on the rows, so the
//! same input gives the same files. [`read`] reads a store's span files back for the derivation.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use arrow::array::{ArrayRef, BooleanArray, RecordBatch, TimestampNanosecondArray, UInt32Array};
use arrow::compute::{
    SortColumn, SortOptions, concat, filter_record_batch, lexsort_to_indices, take, take_record_batch,
};
use parquet::file::metadata::SortingColumn;
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::model::schema::{self, span_schema};
use crate::output::{STORE_ZSTD_LEVEL, write_parquet, writer_properties};

pub mod read;

/// Sub-directory of an output directory holding the span table.
pub const SPANS_DIR: &str = "spans";
/// File name of the run_info table in an output directory.
pub const RUN_INFO_FILE: &str = "run_info.parquet";
/// Name of the Hive partition column.
pub const PARTITION_COLUMN: &str = "date";

/// Columns the span files are sorted by, in order.
pub const SORT_COLUMNS: [&str; 5] =
    [schema::SERVICE_NAME, schema::NAME, schema::START_TIME, schema::TRACE_ID, schema::SPAN_ID];

/// Nanoseconds in a UTC day: a span is in the partition of `start_time.div_euclid(NANOS_PER_DAY)`.
pub const NANOS_PER_DAY: i64 = 86_400 * 1_000_000_000;

/// Tuning of the writer.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub rows_per_file: usize,
    pub max_buffered_rows: usize,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions { rows_per_file: 500_000, max_buffered_rows: 1_000_000 }
    }
}

/// What the writer produced.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct StoreStats {
    pub rows: u64,
    pub files: u64,
    pub bytes: u64,
    /// Rows per partition date.
    pub partitions: BTreeMap<String, u64>,
}

#[derive(Default)]
struct Partition {
    batches: Vec<RecordBatch>,
    rows: usize,
    files: usize,
}

/// Writes span batches into a partitioned store under `root/spans`.
pub struct SpanStoreWriter {
    spans_dir: PathBuf,
    options: StoreOptions,
    partitions: BTreeMap<i64, Partition>,
    buffered_rows: usize,
    stats: StoreStats,
}

/// `YYYY-MM-DD` of a day number since the Unix epoch.
pub fn date_of_day(day: i64) -> String {
    let date = chrono::DateTime::from_timestamp(day * 86_400, 0).map(|d| d.date_naive());
    match date {
        Some(d) => d.format("%Y-%m-%d").to_string(),
        None => "invalid".to_string(),
    }
}

/// The first and last date partitions (`YYYY-MM-DD`) that can hold records ending in
/// `[from, to)`: a span is in the partition of its start, which may be the day before.
pub fn window_dates(from: Option<i64>, to: Option<i64>) -> (String, String) {
    let first = from.map_or("0000-01-01".into(), |f| date_of_day(f.div_euclid(NANOS_PER_DAY) - 1));
    let last = to.map_or("9999-12-31".into(), |t| date_of_day((t - 1).div_euclid(NANOS_PER_DAY)));
    (first, last)
}

impl SpanStoreWriter {
    pub fn new(root: &Path, options: StoreOptions) -> Result<Self> {
        let spans_dir = root.join(SPANS_DIR);
        std::fs::create_dir_all(&spans_dir).map_err(|e| Error::output(&spans_dir, e))?;
        Ok(SpanStoreWriter {
            spans_dir,
            options,
            partitions: BTreeMap::new(),
            buffered_rows: 0,
            stats: StoreStats::default(),
        })
    }

    /// Add a batch of the span table.
    pub fn write(&mut self, batch: RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        for (day, part) in split_by_day(&batch)? {
            let rows = part.num_rows();
            let p = self.partitions.entry(day).or_default();
            p.batches.push(part);
            p.rows += rows;
            self.buffered_rows += rows;
            if p.rows >= self.options.rows_per_file {
                self.flush(day, true)?;
            }
        }
        while self.buffered_rows >= self.options.max_buffered_rows {
            let Some(largest) = self.partitions.iter().max_by_key(|(day, p)| (p.rows, -**day)).map(|(d, _)| *d) else {
                break;
            };
            self.flush(largest, false)?;
        }
        Ok(())
    }

    /// Sort a partition's buffered rows and write them as files of `rows_per_file` rows. With
    /// `keep_tail`, a last part smaller than a file stays buffered to fill the next file.
    fn flush(&mut self, day: i64, keep_tail: bool) -> Result<()> {
        let Some(p) = self.partitions.get_mut(&day) else { return Ok(()) };
        let per_file = self.options.rows_per_file.max(1);
        let rows = p.rows;
        let write_rows = if keep_tail { rows - rows % per_file } else { rows };
        if write_rows == 0 {
            return Ok(());
        }
        let first_file = p.files;
        p.files += write_rows.div_ceil(per_file);
        let sorted = sort_spans(&concat_spans(&std::mem::take(&mut p.batches))?)?;
        if write_rows < rows {
            // Copied out, so the written rows' buffers are freed rather than kept alive by a slice.
            let tail = (write_rows..rows).map(|i| u32::try_from(i).unwrap_or(u32::MAX));
            p.batches.push(take_record_batch(&sorted, &UInt32Array::from_iter_values(tail))?);
        }
        p.rows = rows - write_rows;
        self.buffered_rows -= write_rows;

        let date = date_of_day(day);
        let dir = self.spans_dir.join(format!("{PARTITION_COLUMN}={date}"));
        std::fs::create_dir_all(&dir).map_err(|e| Error::output(&dir, e))?;
        for (i, offset) in (0..write_rows).step_by(per_file).enumerate() {
            let len = per_file.min(write_rows - offset);
            let path = dir.join(format!("part-{:05}.parquet", first_file + i));
            let props = writer_properties(STORE_ZSTD_LEVEL, Some(sorting_columns()), &[schema::TRACE_ID]);
            let bytes = write_parquet(&path, span_schema(), &[sorted.slice(offset, len)], props)?;
            self.stats.files += 1;
            self.stats.bytes += bytes;
        }
        self.stats.rows += write_rows as u64;
        *self.stats.partitions.entry(date).or_default() += write_rows as u64;
        Ok(())
    }

    /// Flush everything and report what was written.
    pub fn finish(mut self) -> Result<StoreStats> {
        let days: Vec<i64> = self.partitions.keys().copied().collect();
        for day in days {
            self.flush(day, false)?;
        }
        Ok(self.stats)
    }
}

fn sorting_columns() -> Vec<SortingColumn> {
    let schema = span_schema();
    SORT_COLUMNS
        .iter()
        .filter_map(|name| schema.index_of(name).ok())
        .map(|i| SortingColumn {
            column_idx: i32::try_from(i).unwrap_or(i32::MAX),
            descending: false,
            nulls_first: true,
        })
        .collect()
}

/// Sort span rows by [`SORT_COLUMNS`]. The key includes the span id, so the order is total and
/// does not depend on the input order. (Measured: on span batches, Arrow's lexicographic sort
/// beats converting the key to the row format first, as services and names repeat a lot.)
pub fn sort_spans(batch: &RecordBatch) -> Result<RecordBatch> {
    let columns: Vec<SortColumn> = SORT_COLUMNS
        .iter()
        .map(|name| -> Result<SortColumn> {
            let values = batch
                .column_by_name(name)
                .ok_or_else(|| Error::Config(format!("span batch lacks column {name}")))?
                .clone();
            Ok(SortColumn { values, options: Some(SortOptions { descending: false, nulls_first: true }) })
        })
        .collect::<Result<_>>()?;
    let indices = lexsort_to_indices(&columns, None)?;
    // Each column gathered on its own rayon task (the maps and lists are most of the work).
    let columns: Vec<ArrayRef> =
        batch.columns().par_iter().map(|c| take(c.as_ref(), &indices, None)).collect::<std::result::Result<_, _>>()?;
    Ok(RecordBatch::try_new(batch.schema(), columns)?)
}

/// Span batches as one batch, each column concatenated on its own rayon task.
fn concat_spans(batches: &[RecordBatch]) -> Result<RecordBatch> {
    let schema = span_schema();
    if let [one] = batches {
        return Ok(one.clone());
    }
    let columns: Vec<ArrayRef> = (0..schema.fields().len())
        .into_par_iter()
        .map(|i| concat(&batches.iter().map(|b| b.column(i).as_ref()).collect::<Vec<_>>()))
        .collect::<std::result::Result<_, _>>()?;
    Ok(RecordBatch::try_new(schema, columns)?)
}

/// Split a batch into one batch per UTC day of `start_time`.
fn split_by_day(batch: &RecordBatch) -> Result<Vec<(i64, RecordBatch)>> {
    let start = batch
        .column_by_name(schema::START_TIME)
        .and_then(|c| c.as_any().downcast_ref::<TimestampNanosecondArray>())
        .ok_or_else(|| Error::Config("span batch lacks a start_time column".into()))?;
    let days: Vec<i64> = start.values().iter().map(|t| t.div_euclid(NANOS_PER_DAY)).collect();
    let first = days[0];
    if days.iter().all(|d| *d == first) {
        return Ok(vec![(first, batch.clone())]);
    }
    let distinct: std::collections::BTreeSet<i64> = days.iter().copied().collect();
    distinct
        .into_iter()
        .map(|day| {
            let mask = BooleanArray::from(days.iter().map(|d| *d == day).collect::<Vec<_>>());
            Ok((day, filter_record_batch(batch, &mask)?))
        })
        .collect()
}

/// The span table directory inside an output directory.
pub fn spans_dir(root: &Path) -> PathBuf {
    root.join(SPANS_DIR)
}

/// Whether the span store at `root` holds any span file: a store of an input without a valid
/// span has none.
pub fn has_span_files(root: &Path) -> Result<bool> {
    fn any_parquet(dir: &Path) -> std::io::Result<bool> {
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            if path.is_dir() {
                if any_parquet(&path)? {
                    return Ok(true);
                }
            } else if path.extension().is_some_and(|e| e == "parquet") {
                return Ok(true);
            }
        }
        Ok(false)
    }
    let dir = spans_dir(root);
    any_parquet(&dir).map_err(|source| Error::Input { path: dir.display().to_string(), source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_spans_are_in_lexicographic_key_order() {
        use crate::model::builder::SpanBatchBuilder;
        use arrow::compute::{SortColumn, lexsort_to_indices};
        let doc = crate::testing::synthetic_traces(11, 300, 5, 1_700_000_000_000_000_000);
        let mut b = SpanBatchBuilder::new(1024);
        // Resources in reverse order, and one without service.name (nulls sort first).
        for rs in doc.resource_spans.iter().rev() {
            b.begin_resource(&rs.resource);
            for ss in &rs.scope_spans {
                b.begin_scope(&ss.scope);
                for span in &ss.spans {
                    b.append_span(span).unwrap();
                }
            }
        }
        b.begin_resource(&crate::model::otlp::Resource::default());
        b.append_span(&doc.resource_spans[0].scope_spans[0].spans[0]).unwrap();
        let sorted = sort_spans(&b.finish()).unwrap();
        // Arrow's own comparator must find the result already in order.
        let keys: Vec<SortColumn> = SORT_COLUMNS
            .iter()
            .map(|n| SortColumn { values: sorted.column_by_name(n).unwrap().clone(), options: None })
            .collect();
        let order = lexsort_to_indices(&keys, None).unwrap();
        assert!(order.values().iter().enumerate().all(|(i, v)| *v as usize == i));
        assert_eq!(sorted.column_by_name(schema::SERVICE_NAME).unwrap().null_count(), 1);
        assert!(sorted.column_by_name(schema::SERVICE_NAME).unwrap().is_null(0));
    }

    #[test]
    fn dates_from_days() {
        assert_eq!(date_of_day(0), "1970-01-01");
        assert_eq!(date_of_day(20_000), "2024-10-04");
        assert_eq!(date_of_day(-1), "1969-12-31");
    }
}
