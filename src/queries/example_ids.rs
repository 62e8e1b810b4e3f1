//! `example_ids(id, k)`: the `k` least distinct ids of a group (binary: trace or span ids), as
//! lowercase hex in ascending order, NULL for a group without ids. The data-quality checks name
//! their example traces with it. It keeps `k` ids per group while it reads, where
//! `array_slice(array_sort(array_agg(DISTINCT encode(id, 'hex'))), 1, k)` gathers, encodes and
//! sorts every id of the group first; lowercase hex sorts as the bytes do, so both give the same
//! list.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, FixedSizeBinaryBuilder, ListArray, StringArray};
use arrow::buffer::{NullBuffer, OffsetBuffer};
use arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::ScalarValue;
use datafusion::error::DataFusionError;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{Accumulator, AggregateUDFImpl, Signature, TypeSignature, Volatility};

use crate::model::builder::hex;

/// The most ids one group may name: examples, not a dump of the input.
const MAX_K: i64 = 100;

/// `example_ids(id FixedSizeBinary(n), k BIGINT literal) -> List(Utf8)`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(super) struct ExampleIds {
    signature: Signature,
}

impl ExampleIds {
    pub(super) fn new() -> Self {
        ExampleIds { signature: Signature::one_of(vec![TypeSignature::Any(2)], Volatility::Immutable) }
    }
}

fn result_type() -> DataType {
    DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true)))
}

fn plan_error(message: String) -> DataFusionError {
    DataFusionError::Plan(format!("example_ids(id FixedSizeBinary, k BIGINT): {message}"))
}

/// The id width and `k` of a call: `k` must be a literal from 1 to [`MAX_K`].
fn call_args(args: &AccumulatorArgs) -> datafusion::common::Result<(i32, usize)> {
    let DataType::FixedSizeBinary(width) = args.exprs[0].data_type(args.schema)? else {
        return Err(plan_error("the ids must be FixedSizeBinary".into()));
    };
    match super::literal(&args.exprs[1]) {
        Some(&ScalarValue::Int64(Some(k))) if (1..=MAX_K).contains(&k) => Ok((width, k as usize)),
        other => Err(plan_error(format!("k must be a literal from 1 to {MAX_K}, got {other:?}"))),
    }
}

impl AggregateUDFImpl for ExampleIds {
    fn name(&self) -> &str {
        "example_ids"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> datafusion::common::Result<DataType> {
        match arg_types {
            [DataType::FixedSizeBinary(_), DataType::Int64] => Ok(result_type()),
            _ => Err(plan_error(format!("got {arg_types:?}"))),
        }
    }

    fn accumulator(&self, args: AccumulatorArgs) -> datafusion::common::Result<Box<dyn Accumulator>> {
        let (width, k) = call_args(&args)?;
        Ok(Box::new(Least { width, k, ids: Vec::with_capacity(k) }))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> datafusion::common::Result<Vec<FieldRef>> {
        let id = args.input_fields[0].data_type().clone();
        let list = DataType::List(Arc::new(Field::new_list_field(id, true)));
        Ok(vec![Arc::new(Field::new(format!("{}[ids]", args.name), list, true))])
    }
}

/// The least `k` distinct ids seen, ascending.
#[derive(Debug)]
struct Least {
    width: i32,
    k: usize,
    ids: Vec<Vec<u8>>,
}

impl Least {
    fn offer(&mut self, id: &[u8]) {
        if self.ids.len() == self.k && self.ids.last().is_some_and(|max| id >= max.as_slice()) {
            return;
        }
        if let Err(at) = self.ids.binary_search_by(|held| held.as_slice().cmp(id)) {
            if self.ids.len() == self.k {
                self.ids.pop();
            }
            self.ids.insert(at, id.to_vec());
        }
    }

    fn offer_all(&mut self, ids: &ArrayRef) -> datafusion::common::Result<()> {
        let ids = ids
            .as_fixed_size_binary_opt()
            .ok_or_else(|| DataFusionError::Internal(format!("example_ids: ids of type {}", ids.data_type())))?;
        for id in ids.iter().flatten() {
            self.offer(id);
        }
        Ok(())
    }
}

impl Accumulator for Least {
    fn update_batch(&mut self, values: &[ArrayRef]) -> datafusion::common::Result<()> {
        self.offer_all(&values[0])
    }

    fn evaluate(&mut self) -> datafusion::common::Result<ScalarValue> {
        let hex: StringArray = self.ids.iter().map(|id| Some(hex(id))).collect();
        let nulls = self.ids.is_empty().then(|| NullBuffer::new_null(1));
        let offsets = OffsetBuffer::from_lengths([self.ids.len()]);
        let item = Arc::new(Field::new_list_field(DataType::Utf8, true));
        Ok(ScalarValue::List(Arc::new(ListArray::new(item, offsets, Arc::new(hex), nulls))))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.ids.capacity() * std::mem::size_of::<Vec<u8>>() + self.ids.len() * 16
    }

    fn state(&mut self) -> datafusion::common::Result<Vec<ScalarValue>> {
        let mut builder = FixedSizeBinaryBuilder::with_capacity(self.ids.len(), self.width);
        for id in &self.ids {
            builder.append_value(id)?;
        }
        let ids = builder.finish();
        let item = Arc::new(Field::new_list_field(ids.data_type().clone(), true));
        let offsets = OffsetBuffer::from_lengths([ids.len()]);
        Ok(vec![ScalarValue::List(Arc::new(ListArray::new(item, offsets, Arc::new(ids), None)))])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> datafusion::common::Result<()> {
        for ids in states[0].as_list::<i32>().iter().flatten() {
            self.offer_all(&ids)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use arrow::array::{FixedSizeBinaryArray, Int64Array, RecordBatch};
    use arrow::datatypes::Schema;
    use datafusion::datasource::MemTable;
    use datafusion::prelude::SessionContext;

    use crate::util::SplitMix;

    /// The rows of a query of (group, list) as text, sorted by group.
    async fn rows(ctx: &SessionContext, sql: &str) -> Vec<(i64, Option<Vec<String>>)> {
        let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        let mut rows = Vec::new();
        for b in &batches {
            let (g, l) = (b.column(0).as_primitive::<arrow::datatypes::Int64Type>(), b.column(1).as_list::<i32>());
            for i in 0..b.num_rows() {
                let list = l.is_valid(i).then(|| {
                    let v = l.value(i);
                    v.as_string::<i32>().iter().map(|s| s.unwrap().to_string()).collect()
                });
                rows.push((g.value(i), list));
            }
        }
        rows.sort();
        rows
    }

    /// Groups of few and many ids, with repeats, spread over three partitions (so that the
    /// partial states are merged), give what sorting every distinct id as hex gives.
    #[test]
    fn the_least_distinct_ids_as_sorting_all_of_them_gives() {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let ctx = SessionContext::new();
        crate::queries::register_functions(&ctx, false);
        let schema = Arc::new(Schema::new(vec![
            Field::new("g", DataType::Int64, false),
            Field::new("id", DataType::FixedSizeBinary(16), true),
        ]));
        let mut rng = SplitMix::new(3);
        let mut partitions = vec![Vec::new(); 3];
        for (p, partition) in partitions.iter_mut().enumerate() {
            let mut groups = Vec::new();
            let mut ids = Vec::new();
            for g in 0..8i64 {
                // Group g has about 4^g / 2 rows drawn from 2^(g+1) ids: repeats in every group.
                let n = (1usize << (2 * g as usize)) / 2 + p;
                for _ in 0..n {
                    let v = rng.below(2 << g);
                    let mut id = [0u8; 16];
                    id[..8].copy_from_slice(&(v.wrapping_mul(0x9E37_79B9_7F4A_7C15)).to_be_bytes());
                    id[15] = g as u8;
                    groups.push(g);
                    ids.push((v % 7 != 6).then_some(id));
                }
            }
            let ids = FixedSizeBinaryArray::try_from_sparse_iter_with_size(ids.into_iter(), 16).unwrap();
            let batch =
                RecordBatch::try_new(schema.clone(), vec![Arc::new(Int64Array::from(groups)), Arc::new(ids)]).unwrap();
            partition.push(batch);
        }
        ctx.register_table("t", Arc::new(MemTable::try_new(schema, partitions).unwrap())).unwrap();
        for k in [1, 3, 5, 100] {
            let got = rt.block_on(rows(&ctx, &format!("SELECT g, example_ids(id, {k}) FROM t GROUP BY g")));
            let want = format!(
                "SELECT g, array_slice(array_sort(array_agg(DISTINCT encode(id, 'hex')) FILTER (WHERE id IS NOT NULL)), \
                 1, {k}) FROM t GROUP BY g"
            );
            let want = rt.block_on(rows(&ctx, &want));
            assert_eq!(got.len(), 8);
            assert_eq!(got, want, "k = {k}");
            assert!(got.iter().all(|(_, l)| l.as_ref().is_some_and(|l| l.len() <= k && !l.is_empty())));
        }
        // Over no rows, or only NULL ids: NULL, as array_agg gives.
        let none = rt.block_on(rows(&ctx, "SELECT 0, example_ids(id, 5) FROM t WHERE g < 0"));
        assert_eq!(none, vec![(0, None)]);
        let nulls = rt.block_on(rows(&ctx, "SELECT 0, example_ids(id, 5) FROM t WHERE id IS NULL"));
        assert_eq!(nulls, vec![(0, None)]);
    }

    #[test]
    fn k_is_a_literal_within_bounds_and_ids_are_binary() {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let ctx = SessionContext::new();
        crate::queries::register_functions(&ctx, false);
        let run = |sql: &str| {
            rt.block_on(async { ctx.sql(sql).await?.collect().await }).map(|_| ()).map_err(|e| e.to_string())
        };
        let id = "arrow_cast(X'00112233445566778899aabbccddeeff', 'FixedSizeBinary(16)')";
        assert!(run(&format!("SELECT example_ids({id}, 5)")).is_ok());
        for bad in [format!("example_ids({id}, 0)"), format!("example_ids({id}, 101)"), "example_ids('text', 5)".into()]
        {
            let err = run(&format!("SELECT {bad}")).unwrap_err();
            assert!(err.contains("example_ids(id FixedSizeBinary, k BIGINT)"), "{bad}: {err}");
        }
    }
}
