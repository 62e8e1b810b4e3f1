//! The SQL that spanlens runs: every statement lives in `queries/NAME.sql`, embedded here, and
//! the functions those statements call (`latency_percentile`) are registered by
//! [`register_functions`].

use std::any::Any;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Float64Array, ListArray};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{DataType, Field, FieldRef, Float64Type};
use datafusion::common::ScalarValue;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, EmitTo, GroupsAccumulator, Signature, Volatility,
};
use datafusion::physical_expr::expressions::Literal;
use datafusion::prelude::SessionContext;

use crate::error::{Error, Result};

/// One embedded SQL statement.
#[derive(Debug, Clone, Copy)]
pub struct Query {
    pub name: &'static str,
    pub sql: &'static str,
}

impl Query {
    /// The first comment line without its `-- name:` prefix.
    pub fn summary(&self) -> &'static str {
        let first = self.sql.lines().next().unwrap_or_default().trim_start_matches("--").trim();
        first.split_once(": ").map_or(first, |(_, rest)| rest)
    }
}

macro_rules! query {
    ($name:literal) => {
        Query { name: $name, sql: include_str!(concat!("../queries/", $name, ".sql")) }
    };
}

/// Every query, in pipeline order.
pub const QUERIES: &[Query] = &[
    query!("spans_for_signals"),
    query!("windowed_signals"),
    query!("service_metrics"),
    query!("operation_metrics"),
    query!("dependency_metrics"),
    query!("services_page"),
];

/// The query called `name`.
pub fn get(name: &str) -> Result<&'static Query> {
    QUERIES.iter().find(|q| q.name == name).ok_or_else(|| {
        let names: Vec<&str> = QUERIES.iter().map(|q| q.name).collect();
        Error::Config(format!("no query named {name:?}; the queries are: {}", names.join(", ")))
    })
}

/// Register the functions the queries call: `latency_percentile(value, p)` is the exact
/// `percentile_cont` (linear interpolation between closest ranks), or with `approx` DataFusion's
/// t-digest `approx_percentile_cont`.
pub fn register_functions(ctx: &SessionContext, approx: bool) {
    let udaf = if approx {
        let approx = datafusion::functions_aggregate::approx_percentile_cont::approx_percentile_cont_udaf();
        approx.as_ref().clone().with_aliases([LATENCY_PERCENTILE])
    } else {
        AggregateUDF::from(ExactPercentile::new())
    };
    ctx.register_udaf(udaf);
}

const LATENCY_PERCENTILE: &str = "latency_percentile";

/// Exact percentile of Float64 values with linear interpolation between closest ranks: for
/// sorted `v[0..n]` and `p`, `h = p·(n−1)`, result `v[⌊h⌋] + (h−⌊h⌋)·(v[⌊h⌋+1] − v[⌊h⌋])`.
/// Computed in f64 without quantising the weight, so it matches a plain implementation bit
/// for bit; the input order does not matter (values are sorted first).
#[derive(Debug, PartialEq, Eq, Hash)]
struct ExactPercentile {
    signature: Signature,
}

impl ExactPercentile {
    fn new() -> Self {
        ExactPercentile {
            signature: Signature::exact(vec![DataType::Float64, DataType::Float64], Volatility::Immutable),
        }
    }
}

/// `p·(n−1)` interpolation over sorted values; `None` for no values.
pub fn percentile_of_sorted(sorted: &[f64], p: f64) -> Option<f64> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    let h = p * (n - 1) as f64;
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(n - 1);
    let frac = h - lo as f64;
    Some(if frac == 0.0 { sorted[lo] } else { sorted[lo] + frac * (sorted[hi] - sorted[lo]) })
}

/// [`percentile_of_sorted`] of unsorted values, in linear time: the lower closest rank is
/// selected in place and the upper one is the least value above it. Same result, bit for bit.
pub fn percentile_of_unsorted(values: &mut [f64], p: f64) -> Option<f64> {
    let n = values.len();
    if n == 0 {
        return None;
    }
    let h = p * (n - 1) as f64;
    let lo = h.floor() as usize;
    let frac = h - lo as f64;
    let (_, lower, above) = values.select_nth_unstable_by(lo, f64::total_cmp);
    let lower = *lower;
    match above.iter().copied().min_by(f64::total_cmp) {
        Some(upper) if frac != 0.0 => Some(lower + frac * (upper - lower)),
        _ => Some(lower),
    }
}

impl AggregateUDFImpl for ExactPercentile {
    fn name(&self) -> &str {
        LATENCY_PERCENTILE
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> datafusion::common::Result<DataType> {
        Ok(DataType::Float64)
    }

    fn accumulator(&self, args: AccumulatorArgs) -> datafusion::common::Result<Box<dyn Accumulator>> {
        Ok(Box::new(PercentileAccumulator { p: percentile_arg(&args)?, values: Vec::new() }))
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> datafusion::common::Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(PercentileGroups { p: percentile_arg(&args)?, groups: Vec::new() }))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> datafusion::common::Result<Vec<FieldRef>> {
        Ok(vec![Arc::new(Field::new(format!("{}[values]", args.name), values_list_type(), true))])
    }
}

fn values_list_type() -> DataType {
    DataType::List(Arc::new(Field::new_list_field(DataType::Float64, true)))
}

/// The literal percentile argument of a `latency_percentile` call.
fn percentile_arg(args: &AccumulatorArgs) -> datafusion::common::Result<f64> {
    args.exprs
        .get(1)
        .and_then(|e| {
            let any: &dyn Any = e.as_ref();
            any.downcast_ref::<Literal>()
        })
        .and_then(|l| match l.value() {
            ScalarValue::Float64(Some(p)) => Some(*p),
            _ => None,
        })
        .filter(|p| (0.0..=1.0).contains(p))
        .ok_or_else(|| {
            datafusion::error::DataFusionError::Plan(
                "latency_percentile: the percentile must be a literal between 0 and 1".into(),
            )
        })
}

/// The values of many groups at once (DataFusion's vectorised aggregation path).
#[derive(Debug)]
struct PercentileGroups {
    p: f64,
    groups: Vec<Vec<f64>>,
}

impl PercentileGroups {
    fn add(&mut self, group_indices: &[usize], values: &Float64Array, filter: Option<&BooleanArray>, total: usize) {
        if self.groups.len() < total {
            self.groups.resize_with(total, Vec::new);
        }
        for (row, &g) in group_indices.iter().enumerate() {
            if values.is_valid(row) && filter.is_none_or(|f| f.is_valid(row) && f.value(row)) {
                self.groups[g].push(values.value(row));
            }
        }
    }
}

impl GroupsAccumulator for PercentileGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> datafusion::common::Result<()> {
        self.add(group_indices, values[0].as_primitive::<Float64Type>(), opt_filter, total_num_groups);
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> datafusion::common::Result<ArrayRef> {
        let groups = emit_to.take_needed(&mut self.groups);
        let out: Float64Array = groups.into_iter().map(|mut v| percentile_of_unsorted(&mut v, self.p)).collect();
        Ok(Arc::new(out))
    }

    fn state(&mut self, emit_to: EmitTo) -> datafusion::common::Result<Vec<ArrayRef>> {
        let groups = emit_to.take_needed(&mut self.groups);
        let offsets = OffsetBuffer::from_lengths(groups.iter().map(Vec::len));
        let values = Arc::new(Float64Array::from(groups.concat()));
        let item = Arc::new(Field::new_list_field(DataType::Float64, true));
        Ok(vec![Arc::new(ListArray::new(item, offsets, values, None))])
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> datafusion::common::Result<()> {
        if self.groups.len() < total_num_groups {
            self.groups.resize_with(total_num_groups, Vec::new);
        }
        let lists = values[0].as_list::<i32>();
        for (row, &g) in group_indices.iter().enumerate() {
            if lists.is_valid(row) {
                let v = lists.value(row);
                let v = v.as_primitive::<Float64Type>();
                self.groups[g].extend(v.iter().flatten());
            }
        }
        Ok(())
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> datafusion::common::Result<Vec<ArrayRef>> {
        let input = values[0].as_primitive::<Float64Type>();
        let keep = |row: usize| input.is_valid(row) && opt_filter.is_none_or(|f| f.is_valid(row) && f.value(row));
        let offsets = OffsetBuffer::from_lengths((0..input.len()).map(|row| usize::from(keep(row))));
        let kept = Float64Array::from_iter_values((0..input.len()).filter(|&r| keep(r)).map(|r| input.value(r)));
        let item = Arc::new(Field::new_list_field(DataType::Float64, true));
        Ok(vec![Arc::new(ListArray::new(item, offsets, Arc::new(kept), None))])
    }

    fn size(&self) -> usize {
        self.groups.capacity() * std::mem::size_of::<Vec<f64>>()
            + self.groups.iter().map(|g| g.capacity() * std::mem::size_of::<f64>()).sum::<usize>()
    }
}

#[derive(Debug)]
struct PercentileAccumulator {
    p: f64,
    values: Vec<f64>,
}

impl PercentileAccumulator {
    fn extend(&mut self, array: &Float64Array) {
        if array.null_count() == 0 {
            self.values.extend_from_slice(array.values());
        } else {
            self.values.extend(array.iter().flatten());
        }
    }
}

impl Accumulator for PercentileAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> datafusion::common::Result<()> {
        self.extend(values[0].as_primitive::<Float64Type>());
        Ok(())
    }

    fn evaluate(&mut self) -> datafusion::common::Result<ScalarValue> {
        Ok(ScalarValue::Float64(percentile_of_unsorted(&mut self.values, self.p)))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.values.capacity() * std::mem::size_of::<f64>()
    }

    fn state(&mut self) -> datafusion::common::Result<Vec<ScalarValue>> {
        let values = Arc::new(Float64Array::from(std::mem::take(&mut self.values)));
        let offsets = OffsetBuffer::from_lengths([values.len()]);
        let item = Arc::new(Field::new_list_field(DataType::Float64, true));
        let list = ListArray::new(item, offsets, values, None);
        Ok(vec![ScalarValue::List(Arc::new(list))])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> datafusion::common::Result<()> {
        let lists = states[0].as_list::<i32>();
        for i in 0..lists.len() {
            if lists.is_valid(i) {
                self.extend(lists.value(i).as_primitive::<Float64Type>());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_query_is_named_after_its_file_and_documented() {
        for q in QUERIES {
            assert!(q.sql.starts_with(&format!("-- {}: ", q.name)), "{} must start with its name", q.name);
            assert!(!q.summary().is_empty());
        }
        assert!(get("service_metrics").is_ok());
        assert!(get("nope").is_err());
    }

    #[test]
    fn percentile_is_linear_between_closest_ranks() {
        let v = [1.0, 2.0, 3.0, 4.0];
        let cases = [(0.0, 1.0), (1.0, 4.0), (0.5, 2.5), (0.9, 3.7), (0.99, 3.97)];
        for (p, want) in cases {
            let got = percentile_of_sorted(&v, p).unwrap();
            assert!((got - want).abs() < 1e-12, "p{p}: {got} != {want}");
        }
        assert_eq!(percentile_of_sorted(&[], 0.5), None);
        // Selection on unsorted values gives the same bits as sorting.
        let mut rng = crate::util::SplitMix::new(5);
        for n in [1usize, 2, 3, 10, 101, 1000] {
            let values: Vec<f64> = (0..n).map(|_| (rng.below(1_000_000) as f64) / 7.0).collect();
            let mut sorted = values.clone();
            sorted.sort_by(f64::total_cmp);
            for p in [0.0, 0.5, 0.9, 0.99, 0.999, 1.0] {
                let mut v = values.clone();
                assert_eq!(percentile_of_unsorted(&mut v, p), percentile_of_sorted(&sorted, p), "n={n} p={p}");
            }
        }
        assert_eq!(percentile_of_sorted(&[7.0], 0.99), Some(7.0));
    }
}
