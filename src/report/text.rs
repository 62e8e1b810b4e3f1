//! Plain-text tables for stdout (columns padded to their widest cell, left-aligned text
//! columns, right-aligned numbers, no trailing blanks), and [`Columns`], the by-name view of a
//! computed table that the text and HTML renderers read.

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float64Type, Int64Type};

use crate::error::Result;
use crate::metrics::Table;

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
