//! Reading a span store's files for the derivation without a query engine: only the date
//! partitions a window can hold records of, only the columns asked for, the attribute maps' keys
//! and values as the dictionaries the files encode them with (instead of a copy of every key and
//! value in every row, most of which the derivation drops), row groups decoded in parallel on
//! rayon's threads and handed on in file, row-group and row order.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch};
use arrow::datatypes::{DataType, Field, FieldRef, Fields, Schema};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder};
use rayon::prelude::*;

use super::{PARTITION_COLUMN, spans_dir, window_dates};
use crate::error::{Error, Result};
use crate::model::schema::dict_utf8;

/// Rows per batch read.
const BATCH_ROWS: usize = 8192;

/// Row groups read at once per thread: enough that a small row group does not leave a thread
/// idle, few enough that the batches waiting to be handed on stay small.
const ROW_GROUPS_PER_THREAD: usize = 2;

/// The span files of the store at `dir` in the date partitions that can hold records ending in
/// `[from, to)` ([`window_dates`]), in partition and file-name order: the files a query of the
/// store's `spans` restricted to those partitions reads.
pub fn span_files(dir: &Path, from: Option<i64>, to: Option<i64>) -> Result<Vec<PathBuf>> {
    let (first, last) = window_dates(from, to);
    let spans = spans_dir(dir);
    let list = |d: &Path| -> Result<Vec<PathBuf>> {
        let entries = std::fs::read_dir(d).map_err(|e| Error::input(d, e))?;
        let mut paths = entries
            .map(|e| e.map(|e| e.path()))
            .collect::<std::io::Result<Vec<_>>>()
            .map_err(|e| Error::input(d, e))?;
        paths.sort();
        Ok(paths)
    };
    if !spans.is_dir() {
        return Ok(Vec::new());
    }
    let prefix = format!("{PARTITION_COLUMN}=");
    let mut files = Vec::new();
    for partition in list(&spans)? {
        let date = partition.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_prefix(prefix.as_str()));
        if !date.is_some_and(|d| d >= first.as_str() && d <= last.as_str()) || !partition.is_dir() {
            continue;
        }
        files.extend(list(&partition)?.into_iter().filter(|f| f.extension().is_some_and(|e| e == "parquet")));
    }
    Ok(files)
}

/// `schema` with the keys and values of its top-level `Map(Utf8, Utf8)` columns read as
/// `Dictionary(Int32, Utf8)`.
pub(crate) fn dictionary_maps(schema: &Schema) -> Schema {
    let dictionary = dict_utf8();
    let fields: Vec<FieldRef> = schema
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Map(entries, sorted) => match entries.data_type() {
                DataType::Struct(kv) if kv.iter().all(|x| x.data_type() == &DataType::Utf8) => {
                    let kv: Fields = kv.iter().map(|x| x.as_ref().clone().with_data_type(dictionary.clone())).collect();
                    let entries = entries.as_ref().clone().with_data_type(DataType::Struct(kv));
                    Arc::new(f.as_ref().clone().with_data_type(DataType::Map(Arc::new(entries), *sorted)))
                }
                _ => f.clone(),
            },
            _ => f.clone(),
        })
        .collect();
    Schema::new_with_metadata(fields, schema.metadata().clone())
}

/// One row group of one file to read.
struct Unit<'a> {
    path: &'a Path,
    metadata: ArrowReaderMetadata,
    mask: ProjectionMask,
    row_group: usize,
}

/// Open `path`'s footer for reading `columns` with dictionary maps.
fn open(path: &Path, columns: &[&str]) -> Result<(ArrowReaderMetadata, ProjectionMask)> {
    let file = File::open(path).map_err(|e| Error::input(path, e))?;
    let plain = ArrowReaderMetadata::load(&file, ArrowReaderOptions::new()).map_err(|e| Error::input(path, e))?;
    let hinted = ArrowReaderOptions::new().with_schema(Arc::new(dictionary_maps(plain.schema())));
    let metadata =
        ArrowReaderMetadata::try_new(Arc::clone(plain.metadata()), hinted).map_err(|e| Error::input(path, e))?;
    let roots = columns
        .iter()
        .map(|name| {
            metadata
                .schema()
                .index_of(name)
                .map_err(|_| Error::input(path, format!("a span file without column {name}")))
        })
        .collect::<Result<Vec<usize>>>()?;
    let mask = ProjectionMask::roots(metadata.parquet_schema(), roots);
    Ok((metadata, mask))
}

/// The batches of one row group, their columns in `columns` order, each through `convert`.
fn read_unit<T>(
    unit: &Unit<'_>,
    columns: &[&str],
    convert: &(impl Fn(RecordBatch) -> Result<T> + Sync),
) -> Result<Vec<T>> {
    let path = unit.path;
    let file = File::open(path).map_err(|e| Error::input(path, e))?;
    let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(file, unit.metadata.clone())
        .with_projection(unit.mask.clone())
        .with_row_groups(vec![unit.row_group])
        .with_batch_size(BATCH_ROWS)
        .build()
        .map_err(|e| Error::input(path, e))?;
    let mut out = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| Error::input(path, format!("row group {}: {e}", unit.row_group)))?;
        let schema = batch.schema();
        let mut fields = Vec::with_capacity(columns.len());
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(columns.len());
        for name in columns {
            let at = schema.index_of(name).map_err(|e| Error::input(path, e))?;
            fields.push(Field::clone(schema.field(at)));
            arrays.push(Arc::clone(batch.column(at)));
        }
        let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).map_err(|e| Error::input(path, e))?;
        out.push(convert(batch)?);
    }
    Ok(out)
}

/// Read `columns` (by name) of the span files `files`, the top-level attribute maps with their
/// keys and values as `Dictionary(Int32, Utf8)`: each batch through `convert` on the thread that
/// decoded it, then to `sink` in file, row-group and row order. Row groups are decoded in
/// parallel, a few per thread at a time, so memory holds only the converted batches of those.
pub fn read_spans<T: Send>(
    files: &[PathBuf],
    columns: &[&str],
    convert: impl Fn(RecordBatch) -> Result<T> + Sync,
    mut sink: impl FnMut(T) -> Result<()>,
) -> Result<()> {
    let mut units = Vec::new();
    for path in files {
        let (metadata, mask) = open(path, columns)?;
        for row_group in 0..metadata.metadata().num_row_groups() {
            units.push(Unit { path, metadata: metadata.clone(), mask: mask.clone(), row_group });
        }
    }
    let at_once = rayon::current_num_threads().max(1) * ROW_GROUPS_PER_THREAD;
    for chunk in units.chunks(at_once) {
        let read: Vec<Result<Vec<T>>> = chunk.par_iter().map(|unit| read_unit(unit, columns, &convert)).collect();
        for batches in read {
            for batch in batches? {
                sink(batch)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use arrow::array::{Array, AsArray};
    use parquet::arrow::ArrowWriter;
    use parquet::file::properties::WriterProperties;

    use super::*;
    use crate::model::schema::{self, span_schema};

    /// Write `batch` to `path` in row groups of `rows`.
    fn write(path: &Path, batch: &RecordBatch, rows: usize) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let props = WriterProperties::builder().set_max_row_group_row_count(Some(rows)).build();
        let mut w = ArrowWriter::try_new(File::create(path).unwrap(), span_schema(), Some(props)).unwrap();
        w.write(batch).unwrap();
        w.close().unwrap();
    }

    fn spans(seed: u64, traces: usize) -> RecordBatch {
        crate::testing::span_batch(&crate::testing::synthetic_traces(seed, traces, 4, 1_700_000_000_000_000_000))
    }

    #[test]
    fn the_files_of_the_partitions_a_window_can_hold_records_of() {
        let dir = tempfile::tempdir().unwrap();
        assert!(span_files(dir.path(), None, None).unwrap().is_empty(), "a store of no spans");
        let batch = spans(1, 2);
        let spans_dir = dir.path().join("spans");
        for day in ["2026-11-16", "2026-11-17", "2026-11-18", "2026-11-19"] {
            write(&spans_dir.join(format!("date={day}/part-00001.parquet")), &batch, 100);
            write(&spans_dir.join(format!("date={day}/part-00000.parquet")), &batch, 100);
        }
        std::fs::write(spans_dir.join("date=2026-11-17/notes.txt"), "not a span file").unwrap();
        write(&spans_dir.join("other/part-00000.parquet"), &batch, 100);
        let names = |files: Vec<PathBuf>| -> Vec<String> {
            files.iter().map(|f| f.strip_prefix(&spans_dir).unwrap().display().to_string()).collect()
        };
        let day = |d: &str| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").unwrap().and_hms_opt(0, 0, 0).unwrap();
        let ns = |d: &str| day(d).and_utc().timestamp_nanos_opt().unwrap();
        let cases: [(Option<i64>, Option<i64>, &[&str]); 4] = [
            (None, None, &["2026-11-16", "2026-11-17", "2026-11-18", "2026-11-19"]),
            // Spans of the day before the window may end inside it.
            (Some(ns("2026-11-18")), None, &["2026-11-17", "2026-11-18", "2026-11-19"]),
            (None, Some(ns("2026-11-17")), &["2026-11-16"]),
            (Some(ns("2026-11-19")), Some(ns("2026-11-19") + 1), &["2026-11-18", "2026-11-19"]),
        ];
        for (from, to, days) in cases {
            let expected: Vec<String> = days
                .iter()
                .flat_map(|d| [format!("date={d}/part-00000.parquet"), format!("date={d}/part-00001.parquet")])
                .collect();
            assert_eq!(names(span_files(dir.path(), from, to).unwrap()), expected, "{from:?}..{to:?}");
        }
    }

    #[test]
    fn columns_come_in_the_order_asked_with_dictionary_maps_in_file_and_row_order() {
        let dir = tempfile::tempdir().unwrap();
        let (first, second) = (spans(2, 300), spans(3, 100));
        let files = [dir.path().join("a.parquet"), dir.path().join("b.parquet")];
        // Row groups of 7 rows: many more row groups than threads.
        write(&files[0], &first, 7);
        write(&files[1], &second, 1000);
        let columns = [schema::SPAN_ID, schema::RESOURCE_ATTRIBUTES, schema::NAME, schema::ATTRIBUTES];
        let mut read = Vec::new();
        read_spans(&files, &columns, Ok, |b| {
            read.push(b);
            Ok(())
        })
        .unwrap();
        let names: Vec<String> = read[0].schema().fields().iter().map(|f| f.name().clone()).collect();
        assert_eq!(names, columns);
        let dictionary = dict_utf8();
        for map in [1, 3] {
            let DataType::Map(entries, _) = read[0].schema().field(map).data_type().clone() else { panic!() };
            let DataType::Struct(kv) = entries.data_type() else { panic!() };
            assert!(kv.iter().all(|f| f.data_type() == &dictionary), "{kv:?}");
        }
        assert_eq!(read[0].column(2).data_type(), &schema::dict_utf8());
        let ids = |b: &RecordBatch, column: usize| -> Vec<Vec<u8>> {
            b.column(column).as_fixed_size_binary().iter().map(|v| v.unwrap().to_vec()).collect()
        };
        let got: Vec<Vec<u8>> = read.iter().flat_map(|b| ids(b, 0)).collect();
        let span_id = span_schema().index_of(schema::SPAN_ID).unwrap();
        let expected: Vec<Vec<u8>> = [&first, &second].iter().flat_map(|b| ids(b, span_id)).collect();
        assert_eq!(got, expected);
        // The maps read the same as written.
        let text = |a: &ArrayRef, i| arrow::util::display::array_value_to_string(a, i).unwrap();
        let attributes = span_schema().index_of(schema::ATTRIBUTES).unwrap();
        let all = arrow::compute::concat(&read.iter().map(|b| b.column(3).as_ref()).collect::<Vec<_>>()).unwrap();
        for i in [0, 1, 299, 600, first.num_rows() + 5] {
            let (b, row) = if i < first.num_rows() { (&first, i) } else { (&second, i - first.num_rows()) };
            assert_eq!(text(&all, i), text(b.column(attributes), row), "row {i}");
        }
    }

    #[test]
    fn an_unreadable_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.parquet");
        write(&good, &spans(4, 5), 100);
        let bad = dir.path().join("bad.parquet");
        std::fs::write(&bad, b"PAR1 not really").unwrap();
        let missing = dir.path().join("missing.parquet");
        let read = |files: &[PathBuf], columns: &[&str]| {
            read_spans(files, columns, |b| Ok(b.num_rows()), |_| Ok(())).unwrap_err().to_string()
        };
        for (files, columns, path) in [
            (vec![good.clone(), bad.clone()], vec![schema::SPAN_ID], &bad),
            (vec![missing.clone()], vec![schema::SPAN_ID], &missing),
            (vec![good.clone()], vec![schema::SPAN_ID, "no_such_column"], &good),
        ] {
            let message = read(&files, &columns);
            assert!(message.contains(&path.display().to_string()), "{message}");
        }
        // A failing conversion stops the read with its error.
        let err = read_spans(&[good], &[schema::SPAN_ID], |_| Err::<(), _>(Error::Config("no".into())), |_| Ok(()));
        assert_eq!(err.unwrap_err().to_string(), "no");
    }
}
