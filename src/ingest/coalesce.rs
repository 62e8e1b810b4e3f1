//! Merge runs of small span batches into batches of about the target size, in order.
//!
//! One exporter batch per object (`awss3exporter`) or per frame (`fileexporter`'s proto stream)
//! decodes into batches of a few hundred rows. Many small batches cost more than their rows: each
//! carries its builders' spare capacity and dictionaries, the spill splits each of them into one
//! IPC batch per partition, and the store writer sorts and encodes each on its own. Consecutive
//! small batches are therefore concatenated (in parallel, one group per task); batches of at
//! least a quarter of the target (a few thousand rows) pass through untouched. Row order never changes.

use arrow::array::RecordBatch;
use arrow::compute::concat_batches;
use rayon::prelude::*;

use crate::error::Result;

/// Concatenate runs of consecutive small batches into batches of at least `target_rows` rows
/// (the last of a run may be smaller), keeping the order of every row.
pub fn coalesce_batches(batches: Vec<RecordBatch>, target_rows: usize) -> Result<Vec<RecordBatch>> {
    let target = target_rows.max(1);
    let small = |b: &RecordBatch| b.num_rows() < target.div_ceil(4);
    if batches.iter().filter(|b| small(b)).nth(1).is_none() {
        return Ok(batches);
    }
    let mut groups: Vec<Vec<RecordBatch>> = Vec::new();
    let mut run: Vec<RecordBatch> = Vec::new();
    let mut run_rows = 0usize;
    for batch in batches {
        if batch.num_rows() == 0 {
            continue;
        }
        if !small(&batch) {
            if !run.is_empty() {
                groups.push(std::mem::take(&mut run));
                run_rows = 0;
            }
            groups.push(vec![batch]);
            continue;
        }
        run_rows += batch.num_rows();
        run.push(batch);
        if run_rows >= target {
            groups.push(std::mem::take(&mut run));
            run_rows = 0;
        }
    }
    if !run.is_empty() {
        groups.push(run);
    }
    groups
        .into_par_iter()
        .map(|mut group| {
            if group.len() == 1 {
                return Ok(group.pop().expect("a group has a batch"));
            }
            // Every batch comes from the same builder and projection: an error here is a bug.
            Ok(concat_batches(&group[0].schema(), &group)?)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Array, Int64Array, StringDictionaryBuilder};
    use arrow::datatypes::{DataType, Field, Int32Type, Schema};

    use super::*;

    fn batch(from: i64, rows: usize) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("n", DataType::Int64, false),
            Field::new("name", DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)), false),
        ]));
        let n = Int64Array::from_iter_values(from..from + rows as i64);
        let mut names = StringDictionaryBuilder::<Int32Type>::new();
        for i in 0..rows {
            names.append_value(format!("op-{}", (from as usize + i) % 3));
        }
        RecordBatch::try_new(schema, vec![Arc::new(n), Arc::new(names.finish())]).unwrap()
    }

    fn values(batches: &[RecordBatch]) -> (Vec<i64>, Vec<String>) {
        let mut ns = Vec::new();
        let mut names = Vec::new();
        for b in batches {
            let n = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
            ns.extend(n.values().iter().copied());
            let cast = arrow::compute::cast(b.column(1), &DataType::Utf8).unwrap();
            let s = cast.as_any().downcast_ref::<arrow::array::StringArray>().unwrap();
            names.extend((0..s.len()).map(|i| s.value(i).to_string()));
        }
        (ns, names)
    }

    #[test]
    fn small_runs_merge_in_order_and_large_batches_pass_through() {
        // Target 100: batches under 25 rows are small. Five small ones, a large one (passes
        // through), four small ones with an empty one among the last three.
        let sizes = [20, 24, 20, 20, 20, 25, 10, 20, 0, 5];
        let mut input = Vec::new();
        let mut next = 0i64;
        for rows in sizes {
            input.push(batch(next, rows));
            next += rows as i64;
        }
        let large = input[5].clone();
        let out = coalesce_batches(input.clone(), 100).unwrap();
        let rows: Vec<usize> = out.iter().map(RecordBatch::num_rows).collect();
        // 20+24+20+20+20 reaches the target; the large batch stands alone; the rest is the tail.
        assert_eq!(rows, vec![104, 25, 35]);
        assert_eq!(values(&out), values(&input));
        assert!(out[1].column(0).to_data().ptr_eq(&large.column(0).to_data()), "a large batch is not copied");
    }

    #[test]
    fn nothing_to_merge_returns_the_batches_as_they_are() {
        let input = vec![batch(0, 80), batch(80, 10), batch(90, 25)];
        let out = coalesce_batches(input.clone(), 100).unwrap();
        assert_eq!(out.len(), 3);
        for (a, b) in out.iter().zip(&input) {
            assert!(a.column(0).to_data().ptr_eq(&b.column(0).to_data()));
        }
    }
}
