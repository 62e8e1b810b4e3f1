//! Query results as the formats `spanlens sql` prints or writes: an aligned table for people
//! (ids as hex, long values cut with a marker, at most `max_rows` rows), CSV and TSV with a
//! header, a JSON array, NDJSON (binary ids as lowercase hex in every text format), and Parquet
//! or Arrow IPC files written atomically. Text is produced batch by batch into a sink, so a large
//! result streams instead of being held.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::execution::SendableRecordBatchStream;
use futures::StreamExt;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use crate::error::{Error, Result};
use crate::sql::functions::hex_column;

/// How results are printed or written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Csv,
    Tsv,
    Json,
    Ndjson,
    Parquet,
    Arrow,
}

impl Format {
    /// Parquet and Arrow are files of one table, written to `--out`.
    pub fn is_binary(self) -> bool {
        matches!(self, Format::Parquet | Format::Arrow)
    }
}

/// The table format's limits.
#[derive(Debug, Clone, Copy)]
pub struct TableStyle {
    /// Rows shown; 0 shows every row.
    pub max_rows: usize,
    /// Characters shown of one value before it is cut with `…`.
    pub max_width: usize,
}

/// Where the text of results goes.
pub trait Sink {
    /// Take `bytes`; `false` when the reader has gone (a closed pipe) and nothing more is wanted.
    fn put(&mut self, bytes: &[u8]) -> Result<bool>;
}

/// Standard output; a closed pipe (`| head`) ends the output quietly.
pub struct Stdout;

impl Sink for Stdout {
    fn put(&mut self, bytes: &[u8]) -> Result<bool> {
        let mut out = std::io::stdout().lock();
        match out.write_all(bytes).and_then(|()| out.flush()) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
            Err(e) => Err(Error::output("<stdout>", e)),
        }
    }
}

impl Sink for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) -> Result<bool> {
        self.extend_from_slice(bytes);
        Ok(true)
    }
}

/// `batch` with its binary columns (trace and span ids) as lowercase hex text.
pub fn hex_ids(batch: &RecordBatch) -> Result<RecordBatch> {
    if !batch.schema().fields().iter().any(|f| hex_column(&arrow::array::new_empty_array(f.data_type())).is_some()) {
        return Ok(batch.clone());
    }
    let mut fields = Vec::with_capacity(batch.num_columns());
    let mut columns = Vec::with_capacity(batch.num_columns());
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        match hex_column(column.as_ref()) {
            Some(text) => {
                fields.push(Arc::new(Field::new(field.name(), DataType::Utf8, field.is_nullable())));
                columns.push(Arc::new(text) as ArrayRef);
            }
            None => {
                fields.push(field.clone());
                columns.push(column.clone());
            }
        }
    }
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?)
}

/// `batch` with nested columns (maps, lists, structs) as text, for CSV and TSV, which have no
/// nested values.
fn flat(batch: &RecordBatch) -> Result<RecordBatch> {
    let nested = |t: &DataType| t.is_nested() || matches!(t, DataType::Union(..));
    if !batch.schema().fields().iter().any(|f| nested(f.data_type())) {
        return Ok(batch.clone());
    }
    let mut fields = Vec::with_capacity(batch.num_columns());
    let mut columns = Vec::with_capacity(batch.num_columns());
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        if nested(field.data_type()) {
            fields.push(Arc::new(Field::new(field.name(), DataType::Utf8, true)));
            columns.push(Arc::new(as_text(column.as_ref(), &FormatOptions::default())?) as ArrayRef);
        } else {
            fields.push(field.clone());
            columns.push(column.clone());
        }
    }
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?)
}

/// Every value of `column` as displayed text (NULL as null).
fn as_text(column: &dyn Array, options: &FormatOptions) -> Result<StringArray> {
    let fmt = ArrayFormatter::try_new(column, options)?;
    Ok((0..column.len()).map(|i| column.is_valid(i).then(|| fmt.value(i).to_string())).collect())
}

/// Print the rows of `stream` in a text format into `sink`; the number of rows.
pub async fn write_text(
    mut stream: SendableRecordBatchStream,
    format: Format,
    style: TableStyle,
    sink: &mut dyn Sink,
) -> Result<u64> {
    let schema = stream.schema();
    if format == Format::Table {
        return write_table(stream, style, sink).await;
    }
    // A statement without columns (DDL run with --allow-write) prints nothing.
    if schema.fields().is_empty() {
        while let Some(b) = stream.next().await {
            b?;
        }
        return Ok(0);
    }
    let mut rows = 0u64;
    let mut first = true;
    let mut open = true;
    while let Some(batch) = stream.next().await {
        let batch = hex_ids(&batch?)?;
        rows += batch.num_rows() as u64;
        if !open {
            continue;
        }
        let mut out = Vec::new();
        match format {
            Format::Csv | Format::Tsv => {
                let delimiter = if format == Format::Tsv { b'\t' } else { b',' };
                let mut w =
                    arrow::csv::WriterBuilder::new().with_header(first).with_delimiter(delimiter).build(&mut out);
                w.write(&flat(&batch)?)?;
            }
            Format::Json | Format::Ndjson => {
                let mut w = arrow::json::WriterBuilder::new()
                    .with_explicit_nulls(true)
                    .build::<_, arrow::json::writer::LineDelimited>(&mut out);
                w.write(&batch)?;
                w.finish()?;
                drop(w);
                if format == Format::Json {
                    out = json_array_part(&out, first);
                }
            }
            Format::Table | Format::Parquet | Format::Arrow => unreachable!("not a streamed text format"),
        }
        if !out.is_empty() {
            first = false;
        }
        open = sink.put(&out)?;
    }
    if open {
        match format {
            // An empty result still has its header.
            Format::Csv | Format::Tsv if first => {
                let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
                let sep = if format == Format::Tsv { "\t" } else { "," };
                sink.put(format!("{}\n", names.join(sep)).as_bytes())?;
            }
            Format::Json => {
                sink.put(if first { b"[]\n" } else { b"]\n" })?;
            }
            _ => {}
        }
    }
    Ok(rows)
}

/// NDJSON lines as the next part of a JSON array: `[` before the first object, `,` between.
fn json_array_part(lines: &[u8], first: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(lines.len() + 2);
    let mut first = first;
    for line in lines.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        out.push(if first { b'[' } else { b',' });
        out.extend_from_slice(line);
        first = false;
    }
    out
}

/// Whether values of this type are right-aligned (numbers).
fn is_number(t: &DataType) -> bool {
    t.is_numeric() || matches!(t, DataType::Dictionary(_, v) if v.is_numeric())
}

/// `value` cut to `width` characters with a `…`, line breaks and tabs shown as escapes.
fn cell(value: &str, width: usize) -> String {
    let escaped: Vec<char> = value
        .chars()
        .flat_map(|c| match c {
            '\n' => vec!['\\', 'n'],
            '\r' => vec!['\\', 'r'],
            '\t' => vec!['\\', 't'],
            c => vec![c],
        })
        .collect();
    let width = width.max(1);
    if escaped.len() <= width {
        return escaped.into_iter().collect();
    }
    escaped[..width - 1].iter().chain(['…'].iter()).collect()
}

/// The table format: the first `max_rows` rows aligned (numbers right, the rest left), then a
/// line counting the rows.
async fn write_table(mut stream: SendableRecordBatchStream, style: TableStyle, sink: &mut dyn Sink) -> Result<u64> {
    let schema: SchemaRef = stream.schema();
    if schema.fields().is_empty() {
        while let Some(b) = stream.next().await {
            b?;
        }
        return Ok(0);
    }
    let options = FormatOptions::default().with_null("NULL");
    let limit = if style.max_rows == 0 { usize::MAX } else { style.max_rows };
    let mut cells: Vec<Vec<String>> = Vec::new();
    let mut rows = 0u64;
    while let Some(batch) = stream.next().await {
        let batch = hex_ids(&batch?)?;
        rows += batch.num_rows() as u64;
        let take = limit.saturating_sub(cells.len()).min(batch.num_rows());
        if take == 0 {
            continue;
        }
        let batch = batch.slice(0, take);
        let columns: Vec<ArrayFormatter> =
            batch.columns().iter().map(|c| ArrayFormatter::try_new(c.as_ref(), &options)).collect::<Result<_, _>>()?;
        for r in 0..take {
            cells.push(columns.iter().map(|f| cell(&f.value(r).to_string(), style.max_width)).collect());
        }
    }
    let header: Vec<String> = schema.fields().iter().map(|f| cell(f.name(), style.max_width)).collect();
    let right: Vec<bool> = schema.fields().iter().map(|f| is_number(f.data_type())).collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|i| cells.iter().map(|r| r[i].chars().count()).chain([header[i].chars().count()]).max().unwrap_or(0))
        .collect();
    let line = |values: &[String]| -> String {
        let parts: Vec<String> = values
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let pad = " ".repeat(widths[i] - v.chars().count());
                if right[i] { format!("{pad}{v}") } else { format!("{v}{pad}") }
            })
            .collect();
        parts.join("  ").trim_end().to_string() + "\n"
    };
    let mut out = line(&header);
    out.push_str(&(widths.iter().map(|w| "─".repeat(*w)).collect::<Vec<_>>().join("  ") + "\n"));
    for r in &cells {
        out.push_str(&line(r));
    }
    let plural = |n: u64| if n == 1 { "row" } else { "rows" };
    if (cells.len() as u64) < rows {
        out.push_str(&format!("({rows} {}, the first {} shown; --max-rows 0 shows all)\n", plural(rows), cells.len()));
    } else {
        out.push_str(&format!("({rows} {})\n", plural(rows)));
    }
    sink.put(out.as_bytes())?;
    Ok(rows)
}

/// Write every row of `stream` to `path` as Parquet or Arrow IPC, atomically; the row count.
pub async fn write_file(mut stream: SendableRecordBatchStream, format: Format, path: &Path) -> Result<u64> {
    let schema = stream.schema();
    let mut batches = Vec::new();
    while let Some(batch) = stream.next().await {
        batches.push(batch?);
    }
    let rows = batches.iter().map(|b| b.num_rows() as u64).sum();
    match format {
        Format::Parquet => {
            let props = WriterProperties::builder()
                .set_compression(Compression::ZSTD(
                    ZstdLevel::try_new(crate::output::OUTPUT_ZSTD_LEVEL).unwrap_or_default(),
                ))
                .set_created_by(format!("spanlens {}", env!("CARGO_PKG_VERSION")))
                .build();
            crate::output::write_parquet(path, schema, &batches, props)?;
        }
        Format::Arrow => {
            let mut bytes = Vec::new();
            let mut w = arrow::ipc::writer::FileWriter::try_new(&mut bytes, &schema)?;
            for b in &batches {
                w.write(b)?;
            }
            w.finish()?;
            drop(w);
            crate::output::write_atomic(path, &bytes)?;
        }
        _ => unreachable!("not a file format"),
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_cut_with_a_marker_and_escape_line_breaks() {
        assert_eq!(cell("abcdef", 4), "abc…");
        assert_eq!(cell("abcd", 4), "abcd");
        assert_eq!(cell("a\nb", 10), "a\\nb");
        assert_eq!(cell("ééééé", 3), "éé…");
    }

    #[test]
    fn ndjson_lines_become_one_array() {
        assert_eq!(json_array_part(b"{\"a\":1}\n{\"a\":2}\n", true), b"[{\"a\":1},{\"a\":2}");
        assert_eq!(json_array_part(b"{\"a\":3}\n", false), b",{\"a\":3}");
    }
}
