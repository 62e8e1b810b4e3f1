//! A computed table: a name, an Arrow schema and its batches (or the Parquet file they were
//! written to during the run), with the key-value pairs for its Parquet footer; and [`Columns`],
//! its rows read column by column by name. What the query stages produce and the output stage
//! writes and renders; it knows neither.

use std::path::PathBuf;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float64Type, Int64Type, SchemaRef};
use parquet::file::metadata::KeyValue;

use crate::error::Result;

/// One computed table.
#[derive(Debug, Clone)]
pub struct Table {
    pub name: &'static str,
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
    /// Set when the rows were written to this Parquet file during the run instead of being
    /// kept (`batches` is then empty), with their number.
    pub written: Option<(PathBuf, usize)>,
    /// Key-value pairs for the footer of the table's Parquet file, besides the schema version.
    pub metadata: Vec<KeyValue>,
}

impl Table {
    pub fn rows(&self) -> usize {
        self.written.as_ref().map_or_else(|| self.batches.iter().map(RecordBatch::num_rows).sum(), |w| w.1)
    }
}

/// A computed table's rows in one batch, read column by column by name. A missing column reads
/// as all NULL, so a renderer shows "–" rather than failing on a table it did not expect.
pub struct Columns(RecordBatch);

impl Columns {
    pub fn of(table: &Table) -> Result<Self> {
        Ok(Columns(arrow::compute::concat_batches(&table.schema, &table.batches)?))
    }

    pub fn len(&self) -> usize {
        self.0.num_rows()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn cast(&self, name: &str, to: &DataType) -> Option<arrow::array::ArrayRef> {
        self.0.column_by_name(name).and_then(|c| arrow::compute::cast(c, to).ok())
    }

    /// The column as text (numbers and times as Arrow displays them: `300.0`, ISO 8601).
    pub fn text(&self, name: &str) -> Vec<Option<String>> {
        match self.cast(name, &DataType::Utf8) {
            Some(c) => c.as_string::<i32>().iter().map(|v| v.map(String::from)).collect(),
            None => vec![None; self.len()],
        }
    }

    /// The column as f64.
    pub fn number(&self, name: &str) -> Vec<Option<f64>> {
        match self.cast(name, &DataType::Float64) {
            Some(c) => c.as_primitive::<Float64Type>().iter().collect(),
            None => vec![None; self.len()],
        }
    }

    /// The column as i64 (timestamps as ns since the epoch).
    pub fn int(&self, name: &str) -> Vec<Option<i64>> {
        match self.cast(name, &DataType::Int64) {
            Some(c) => (0..c.len()).map(|i| c.is_valid(i).then(|| c.as_primitive::<Int64Type>().value(i))).collect(),
            None => vec![None; self.len()],
        }
    }
}
