//! Tables as text on stdout: aligned columns for people (padded to their widest cell,
//! left-aligned text, right-aligned numbers, no trailing blanks), the Services table, and
//! [`render_rows`], a table as CSV or JSON for scripts.

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::DataType;

use crate::error::Result;
use crate::model::table::{Columns, Table};

/// How a command prints a table on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrintFormat {
    /// Aligned text columns, formatted for people.
    Table,
    /// CSV with a header line.
    Csv,
    /// A JSON array of objects, one per row, NULL values as `null`.
    Json,
}

/// `table`'s rows as CSV (with a header) or a JSON array, every column as computed: numbers
/// unrounded, times in RFC 3339, binary ids as lowercase hex. `Table` is not a format of rows
/// (each table has its own text layout): it gives the CSV.
pub fn render_rows(table: &Table, format: PrintFormat) -> Result<String> {
    let batch = hex_ids(&arrow::compute::concat_batches(&table.schema, &table.batches)?)?;
    let mut out = Vec::new();
    match format {
        PrintFormat::Json => {
            let mut writer = arrow::json::WriterBuilder::new()
                .with_explicit_nulls(true)
                .build::<_, arrow::json::writer::JsonArray>(&mut out);
            writer.write(&batch)?;
            writer.finish()?;
            drop(writer);
            if out.is_empty() {
                out.extend_from_slice(b"[]");
            }
            out.push(b'\n');
        }
        PrintFormat::Csv | PrintFormat::Table => {
            let mut writer = arrow::csv::WriterBuilder::new().with_header(true).build(&mut out);
            writer.write(&batch)?;
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// `batch` with its binary columns (trace and span ids) as lowercase hex strings.
fn hex_ids(batch: &RecordBatch) -> Result<RecordBatch> {
    use std::sync::Arc;
    let mut fields = Vec::with_capacity(batch.num_columns());
    let mut columns = Vec::with_capacity(batch.num_columns());
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
        let text: Option<arrow::array::StringArray> = match column.data_type() {
            DataType::Binary => Some(column.as_binary::<i32>().iter().map(|v| v.map(hex)).collect()),
            DataType::LargeBinary => Some(column.as_binary::<i64>().iter().map(|v| v.map(hex)).collect()),
            DataType::FixedSizeBinary(_) => Some(column.as_fixed_size_binary().iter().map(|v| v.map(hex)).collect()),
            _ => None,
        };
        match text {
            Some(text) => {
                fields.push(Arc::new(arrow::datatypes::Field::new(field.name(), DataType::Utf8, field.is_nullable())));
                columns.push(Arc::new(text) as arrow::array::ArrayRef);
            }
            None => {
                fields.push(field.clone());
                columns.push(column.clone());
            }
        }
    }
    Ok(RecordBatch::try_new(Arc::new(arrow::datatypes::Schema::new(fields)), columns)?)
}

/// The services page as text: Service, Environment, Requests, Availability, Fault %, Error %,
/// p99, one line per service; rates with two decimals, "–" when undefined.
pub fn render_services_page(page: &Table) -> Result<String> {
    let header = ["Service", "Environment", "Requests", "Availability %", "Fault %", "Error %", "p99 ms"];
    let page = Columns::of(page)?;
    let text = |name: &str| -> Vec<String> { page.text(name).into_iter().map(|v| v.unwrap_or("–".into())).collect() };
    let number = |name: &str| -> Vec<String> { page.number(name).into_iter().map(|v| fixed(v, "")).collect() };
    let cols = [
        text("service"),
        text("environment"),
        text("requests"),
        number("availability"),
        number("fault_rate"),
        number("error_rate"),
        number("latency_p99_ms"),
    ];
    let rows: Vec<Vec<String>> = (0..page.len()).map(|r| cols.iter().map(|c| c[r].clone()).collect()).collect();
    let mut out = table(&header, &rows, &[0, 1]);
    if rows.is_empty() {
        out.push_str("(no service records in the window)\n");
    }
    Ok(out)
}

/// A number as written (`300`, `99.9`), "–" for none.
pub fn plain(v: Option<f64>) -> String {
    v.map_or_else(|| "–".into(), |v| v.to_string())
}

/// A number with two decimals and a unit, "–" for none.
pub fn fixed(v: Option<f64>, unit: &str) -> String {
    v.map_or_else(|| "–".into(), |v| format!("{v:.2}{unit}"))
}

/// `header` and `rows` as aligned text, one line each; the columns in `left` are left-aligned,
/// the others right-aligned.
pub fn table(header: &[&str], rows: &[Vec<String>], left: &[usize]) -> String {
    let widths: Vec<usize> = (0..header.len())
        .map(|i| rows.iter().map(|r| r[i].chars().count()).chain([header[i].chars().count()]).max().unwrap_or(0))
        .collect();
    let line = |cells: &mut dyn Iterator<Item = &str>| -> String {
        let parts: Vec<String> = cells
            .enumerate()
            .map(|(i, c)| {
                let pad = " ".repeat(widths[i].saturating_sub(c.chars().count()));
                if left.contains(&i) { format!("{c}{pad}") } else { format!("{pad}{c}") }
            })
            .collect();
        parts.join("  ").trim_end().to_string() + "\n"
    };
    let mut out = line(&mut header.iter().copied());
    for r in rows {
        out.push_str(&line(&mut r.iter().map(String::as_str)));
    }
    out
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Float64Array, StringArray, TimestampNanosecondArray};
    use arrow::datatypes::{Field, Schema};

    use super::*;

    #[test]
    fn columns_read_by_name_across_batches() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("name", DataType::Utf8, true),
            Field::new("value", DataType::Float64, true),
            Field::new("at", crate::model::schema::timestamp_ns(), true),
        ]));
        let batch = |names: Vec<Option<&str>>, values: Vec<Option<f64>>, at: Vec<Option<i64>>| {
            RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(StringArray::from(names)),
                    Arc::new(Float64Array::from(values)),
                    Arc::new(TimestampNanosecondArray::from(at).with_timezone("UTC")),
                ],
            )
            .unwrap()
        };
        let table = Table {
            name: "t",
            schema: schema.clone(),
            batches: vec![
                batch(vec![Some("a")], vec![Some(1.5)], vec![Some(7)]),
                batch(vec![None], vec![None], vec![None]),
            ],
            written: None,
            metadata: Vec::new(),
        };
        let c = Columns::of(&table).unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(c.text("name"), [Some("a".to_string()), None]);
        assert_eq!(c.number("value"), [Some(1.5), None]);
        assert_eq!(c.int("at"), [Some(7), None]);
        assert_eq!(c.text("missing"), [None, None]);
        assert_eq!(
            (plain(Some(300.0)), plain(Some(99.9)), fixed(Some(2.0), " %"), fixed(None, "")),
            ("300".into(), "99.9".into(), "2.00 %".into(), "–".into())
        );
    }

    #[test]
    fn columns_are_padded_and_aligned() {
        let rows = vec![vec!["frontend".to_string(), "1.5".to_string()], vec!["db".to_string(), "12.25".to_string()]];
        let text = super::table(&["Service", "p99"], &rows, &[0]);
        assert_eq!(text, "Service     p99\nfrontend    1.5\ndb        12.25\n");
    }
}
