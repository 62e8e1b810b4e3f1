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

use arrow::array::{ArrayRef, AsArray, BooleanArray, RecordBatch, TimestampNanosecondArray, UInt32Array};
use arrow::compute::{
    SortColumn, SortOptions, concat, filter_record_batch, lexsort_to_indices, take, take_record_batch,
};
use arrow::datatypes::Int32Type;
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

    /// Add a batch of the span table, its `resource_attributes` a map per row or a dictionary
    /// of the batch's resources ([`schema::shared_resource_attributes_type`], which holds less
    /// while rows wait to be sorted); every batch of one writer in the same form.
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
        let written = p.flush(&self.spans_dir, day, self.options.rows_per_file, keep_tail)?;
        self.buffered_rows -= written.rows;
        self.stats.add(day, &written);
        Ok(())
    }

    /// Flush every partition, each on its own rayon task, and report what was written.
    pub fn finish(mut self) -> Result<StoreStats> {
        let (spans_dir, per_file) = (&self.spans_dir, self.options.rows_per_file);
        let written: Vec<(i64, Result<Written>)> =
            self.partitions.par_iter_mut().map(|(day, p)| (*day, p.flush(spans_dir, *day, per_file, false))).collect();
        for (day, written) in written {
            self.stats.add(day, &written?);
        }
        Ok(self.stats)
    }
}

/// What one flush of a partition wrote.
struct Written {
    rows: usize,
    files: u64,
    bytes: u64,
}

impl StoreStats {
    fn add(&mut self, day: i64, written: &Written) {
        if written.rows == 0 {
            return;
        }
        self.files += written.files;
        self.bytes += written.bytes;
        self.rows += written.rows as u64;
        *self.partitions.entry(date_of_day(day)).or_default() += written.rows as u64;
    }
}

impl Partition {
    /// Sort the buffered rows and write them into `spans_dir`'s partition of `day` as files of
    /// `rows_per_file` rows; with `keep_tail`, a last part smaller than a file stays buffered.
    fn flush(&mut self, spans_dir: &Path, day: i64, rows_per_file: usize, keep_tail: bool) -> Result<Written> {
        let per_file = rows_per_file.max(1);
        let rows = self.rows;
        let write_rows = if keep_tail { rows - rows % per_file } else { rows };
        let mut written = Written { rows: write_rows, files: 0, bytes: 0 };
        if write_rows == 0 {
            return Ok(written);
        }
        let first_file = self.files;
        self.files += write_rows.div_ceil(per_file);
        let sorted = sort_spans(&concat_spans(&std::mem::take(&mut self.batches))?)?;
        if write_rows < rows {
            // Copied out, so the written rows' buffers are freed rather than kept alive by a slice.
            let tail = (write_rows..rows).map(|i| u32::try_from(i).unwrap_or(u32::MAX));
            self.batches.push(take_record_batch(&sorted, &UInt32Array::from_iter_values(tail))?);
        }
        self.rows = rows - write_rows;

        let dir = spans_dir.join(format!("{PARTITION_COLUMN}={}", date_of_day(day)));
        std::fs::create_dir_all(&dir).map_err(|e| Error::output(&dir, e))?;
        for (i, offset) in (0..write_rows).step_by(per_file).enumerate() {
            let len = per_file.min(write_rows - offset);
            let path = dir.join(format!("part-{:05}.parquet", first_file + i));
            let props = writer_properties(STORE_ZSTD_LEVEL, Some(sorting_columns()), &[schema::TRACE_ID]);
            let batch = with_resource_maps(&sorted.slice(offset, len))?;
            written.files += 1;
            written.bytes += write_parquet(&path, span_schema(), &[batch], props)?;
        }
        Ok(written)
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

/// Span batches (all of one schema) as one batch, each column concatenated on its own rayon
/// task.
fn concat_spans(batches: &[RecordBatch]) -> Result<RecordBatch> {
    let Some(first) = batches.first() else { return Ok(RecordBatch::new_empty(span_schema())) };
    let schema = first.schema();
    if let [one] = batches {
        return Ok(one.clone());
    }
    let columns: Vec<ArrayRef> = (0..schema.fields().len())
        .into_par_iter()
        .map(|i| concat(&batches.iter().map(|b| b.column(i).as_ref()).collect::<Vec<_>>()))
        .collect::<std::result::Result<_, _>>()?;
    Ok(RecordBatch::try_new(schema, columns)?)
}

/// `batch` in the span table's schema: a `resource_attributes` column holding each batch's
/// distinct resources once ([`schema::shared_resource_attributes_type`], as decoding with
/// shared resources gives and the writer keeps while it buffers and sorts) becomes a map per
/// row, as the files hold it.
fn with_resource_maps(batch: &RecordBatch) -> Result<RecordBatch> {
    let schema = span_schema();
    let Ok(at) = batch.schema().index_of(schema::RESOURCE_ATTRIBUTES) else {
        return Err(Error::Config("span batch lacks a resource_attributes column".into()));
    };
    let mut columns = batch.columns().to_vec();
    if let Some(shared) = columns[at].as_dictionary_opt::<Int32Type>() {
        columns[at] = take(shared.values().as_ref(), shared.keys(), None)?;
    }
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

    /// Batches whose resources are held once per batch write the same files, byte for byte,
    /// as batches with a map per row: across days, files cut mid-batch, tails kept between
    /// flushes and flushes forced by the buffer limit.
    #[test]
    fn shared_resources_write_the_same_files() {
        use crate::model::builder::SpanBatchBuilder;
        let day = NANOS_PER_DAY as u64;
        let docs = [
            crate::testing::synthetic_traces(3, 120, 5, 19_000 * day + day - 1_000_000_000),
            crate::testing::synthetic_traces(4, 90, 4, 19_002 * day),
        ];
        let batches = |shared: bool| {
            let mut out = Vec::new();
            for doc in &docs {
                // Two resources to a batch, so that buffered batches' dictionaries differ.
                for pair in doc.resource_spans.chunks(2) {
                    let mut b = SpanBatchBuilder::new(1024).with_shared_resources(shared);
                    for rs in pair {
                        b.begin_resource(&rs.resource);
                        for ss in &rs.scope_spans {
                            b.begin_scope(&ss.scope);
                            for span in &ss.spans {
                                b.append_span(span).unwrap();
                            }
                        }
                    }
                    out.push(b.finish());
                }
            }
            out
        };
        let write = |shared: bool| {
            let dir = tempfile::tempdir().unwrap();
            let options = StoreOptions { rows_per_file: 70, max_buffered_rows: 400 };
            let mut w = SpanStoreWriter::new(dir.path(), options).unwrap();
            for batch in batches(shared) {
                w.write(batch).unwrap();
            }
            let stats = w.finish().unwrap();
            let mut files = Vec::new();
            for entry in walkdir(&dir.path().join(SPANS_DIR)) {
                files.push((entry.clone(), std::fs::read(&entry).unwrap()));
            }
            files.sort();
            let names = files.iter().map(|(p, b)| (p.strip_prefix(dir.path()).unwrap().to_path_buf(), b.clone()));
            (stats, names.collect::<Vec<_>>())
        };
        let (plain_stats, plain) = write(false);
        let (shared_stats, shared) = write(true);
        assert_eq!(
            batches(true)[0].column_by_name(schema::RESOURCE_ATTRIBUTES).unwrap().data_type(),
            &schema::shared_resource_attributes_type()
        );
        assert_eq!(plain_stats.rows, (120 * 5 + 90 * 4) as u64);
        assert!(plain_stats.partitions.len() >= 2 && plain_stats.files > 8, "{plain_stats:?}");
        assert_eq!(plain_stats, shared_stats);
        assert_eq!(plain.len(), shared.len());
        for ((pa, a), (pb, b)) in plain.iter().zip(&shared) {
            assert_eq!(pa, pb);
            assert!(a == b, "{} differs", pa.display());
        }
    }

    fn walkdir(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() { out.extend(walkdir(&path)) } else { out.push(path) }
        }
        out
    }

    #[test]
    fn dates_from_days() {
        assert_eq!(date_of_day(0), "1970-01-01");
        assert_eq!(date_of_day(20_000), "2024-10-04");
        assert_eq!(date_of_day(-1), "1969-12-31");
    }
}
