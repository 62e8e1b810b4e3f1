//! The SQL that spanlens runs: every statement lives in `queries/NAME.sql`, embedded here, and
//! the functions those statements call (`latency_percentile`) are registered by
//! [`register_functions`].

use std::any::Any;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Float64Array, ListArray};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{DataType, Field, FieldRef, Float64Type};
use datafusion::common::ScalarValue;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{Accumulator, AggregateUDF, AggregateUDFImpl, Signature, Volatility};
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
    query!("spans_by_trace"),
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
        let p = args
            .exprs
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
            })?;
        Ok(Box::new(PercentileAccumulator { p, values: Vec::new() }))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> datafusion::common::Result<Vec<FieldRef>> {
        let item = Arc::new(Field::new_list_field(DataType::Float64, true));
        Ok(vec![Arc::new(Field::new(format!("{}[values]", args.name), DataType::List(item), true))])
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
        self.values.sort_unstable_by(f64::total_cmp);
        Ok(ScalarValue::Float64(percentile_of_sorted(&self.values, self.p)))
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
        assert_eq!(percentile_of_sorted(&[7.0], 0.99), Some(7.0));
    }
}
