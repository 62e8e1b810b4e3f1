//! The SQL that spanlens runs: every statement lives in `queries/NAME.sql`, embedded here, and
//! the functions those statements call (`latency_percentiles`) are registered by
//! [`register_functions`].

use std::any::Any;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Float64Array, ListArray};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{DataType, Field, FieldRef, Float64Type};
use datafusion::common::ScalarValue;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, EmitTo, GroupsAccumulator, Signature, TypeSignature, Volatility,
};
use datafusion::physical_expr::expressions::Literal;
use datafusion::prelude::SessionContext;
use datafusion_functions_aggregate_common::tdigest::TDigest;

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
    query!("store_spans"),
    query!("spans_for_signals"),
    query!("signals_from_spans"),
    query!("windowed_signals"),
    query!("service_metrics"),
    query!("operation_metrics"),
    query!("dependency_groups"),
    query!("dependency_metrics"),
    query!("services_page"),
    query!("service_graph_spans"),
    query!("service_graph_partial_calls"),
    query!("service_graph_link_ends"),
    query!("data_quality_spans"),
    query!("service_graph_calls"),
    query!("service_graph"),
    query!("service_graph_nodes"),
    query!("service_graph_matches"),
    query!("service_graph_reconciliation"),
    query!("data_quality"),
    query!("slo_records"),
    query!("slo_periods"),
    query!("slos"),
    query!("slo_burn_rates"),
    query!("slo_burn_series"),
    query!("slo_alerts"),
];

/// The query called `name`.
pub fn get(name: &str) -> Result<&'static Query> {
    QUERIES.iter().find(|q| q.name == name).ok_or_else(|| {
        let names: Vec<&str> = QUERIES.iter().map(|q| q.name).collect();
        Error::Config(format!("no query named {name:?}; the queries are: {}", names.join(", ")))
    })
}

/// Register the functions the queries call: `latency_percentiles(value, p1, p2, ...)` returns
/// the list of those percentiles of `value` in each group, exact (linear interpolation between
/// closest ranks, the `percentile_cont` definition), or with `approx` estimated from a t-digest
/// of bounded size per group.
pub fn register_functions(ctx: &SessionContext, approx: bool) {
    for f in aggregate_functions(approx) {
        ctx.register_udaf(f);
    }
}

/// The aggregate functions the queries call (see [`register_functions`]).
pub fn aggregate_functions(approx: bool) -> Vec<AggregateUDF> {
    vec![AggregateUDF::from(LatencyPercentiles::new(approx))]
}

/// Centroids kept per t-digest in approximate mode.
const TDIGEST_SIZE: usize = 100;

/// Values buffered per group before they are folded into its t-digest.
const TDIGEST_BUFFER: usize = 4096;

/// `latency_percentiles(value, p...)`: exact values are kept per group and each percentile is
/// found by selection; approximate mode keeps a t-digest per group.
#[derive(Debug, PartialEq, Eq, Hash)]
struct LatencyPercentiles {
    signature: Signature,
    approx: bool,
}

impl LatencyPercentiles {
    fn new(approx: bool) -> Self {
        // The values (Float64, or lists of Float64 to merge groups) and one to eight percentiles.
        let arities = (2..=9).map(TypeSignature::Any).collect();
        LatencyPercentiles { signature: Signature::one_of(arities, Volatility::Immutable), approx }
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

fn item_field() -> FieldRef {
    Arc::new(Field::new_list_field(DataType::Float64, true))
}

fn list_type() -> DataType {
    DataType::List(item_field())
}

/// A `ListArray` of Float64 lists.
fn lists(items: impl IntoIterator<Item = Vec<Option<f64>>>) -> ListArray {
    let items: Vec<Vec<Option<f64>>> = items.into_iter().collect();
    let offsets = OffsetBuffer::from_lengths(items.iter().map(Vec::len));
    let values = Float64Array::from(items.into_iter().flatten().collect::<Vec<_>>());
    ListArray::new(item_field(), offsets, Arc::new(values), None)
}

/// The literal percentiles of a `latency_percentiles` call (every argument after the first).
fn percentile_args(args: &AccumulatorArgs) -> datafusion::common::Result<Vec<f64>> {
    let bad = || {
        datafusion::error::DataFusionError::Plan(
            "latency_percentiles(value, p...): each percentile must be a literal between 0 and 1".into(),
        )
    };
    if args.exprs.len() < 2 {
        return Err(bad());
    }
    args.exprs[1..]
        .iter()
        .map(|e| {
            let any: &dyn Any = e.as_ref();
            match any.downcast_ref::<Literal>().map(Literal::value) {
                Some(ScalarValue::Float64(Some(p))) if (0.0..=1.0).contains(p) => Ok(*p),
                _ => Err(bad()),
            }
        })
        .collect()
}

fn exact_percentiles(values: &mut [f64], ps: &[f64]) -> Vec<Option<f64>> {
    ps.iter().map(|&p| percentile_of_unsorted(values, p)).collect()
}

impl AggregateUDFImpl for LatencyPercentiles {
    fn name(&self) -> &str {
        "latency_percentiles"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> datafusion::common::Result<DataType> {
        let values_ok = match &arg_types[0] {
            DataType::Float64 => true,
            DataType::List(item) => item.data_type() == &DataType::Float64,
            _ => false,
        };
        if !values_ok || arg_types[1..].iter().any(|t| t != &DataType::Float64) {
            return Err(datafusion::error::DataFusionError::Plan(format!(
                "latency_percentiles(values DOUBLE or DOUBLE[], p DOUBLE...): got {arg_types:?}"
            )));
        }
        Ok(list_type())
    }

    fn accumulator(&self, args: AccumulatorArgs) -> datafusion::common::Result<Box<dyn Accumulator>> {
        let ps = percentile_args(&args)?;
        Ok(if self.approx {
            Box::new(DigestAccumulator { ps, digest: TDigest::new(TDIGEST_SIZE), buffer: Vec::new() })
        } else {
            Box::new(ValuesAccumulator { ps, values: Vec::new() })
        })
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        !self.approx
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> datafusion::common::Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(ValuesGroups::new(percentile_args(&args)?)))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> datafusion::common::Result<Vec<FieldRef>> {
        let field = |name: &str, ty: DataType| Arc::new(Field::new(format!("{}[{name}]", args.name), ty, true));
        Ok(if self.approx {
            vec![
                field("max_size", DataType::UInt64),
                field("sum", DataType::Float64),
                field("count", DataType::Float64),
                field("max", DataType::Float64),
                field("min", DataType::Float64),
                field("centroids", list_type()),
            ]
        } else {
            vec![field("values", list_type())]
        })
    }
}

/// The values of one group: single values copied, and slices of list inputs held by reference
/// (the dependency query merges every record's latency into 26 grouping sets; referencing the
/// lists of its first stage keeps that at one copy of the values, not 26).
#[derive(Debug, Default)]
struct GroupValues {
    owned: Vec<f64>,
    /// (index into [`ValuesGroups::arrays`], offset, length).
    slices: Vec<(u32, u32, u32)>,
}

/// Exact mode, many groups at once (DataFusion's vectorised aggregation path).
#[derive(Debug)]
struct ValuesGroups {
    ps: Vec<f64>,
    groups: Vec<GroupValues>,
    /// The list-value arrays that groups hold slices of.
    arrays: Vec<Float64Array>,
    arrays_bytes: usize,
}

impl ValuesGroups {
    fn new(ps: Vec<f64>) -> Self {
        ValuesGroups { ps, groups: Vec::new(), arrays: Vec::new(), arrays_bytes: 0 }
    }

    fn grow(&mut self, total: usize) {
        if self.groups.len() < total {
            self.groups.resize_with(total, GroupValues::default);
        }
    }

    /// Add the rows of `values` (values or lists) to their groups.
    fn add(&mut self, values: &ArrayRef, group_indices: &[usize], filter: Option<&BooleanArray>) {
        let lists = values.as_list_opt::<i32>();
        let child = lists.map(|l| l.values().as_primitive::<Float64Type>());
        let (Some(lists), Some(child)) = (lists, child.filter(|c| c.null_count() == 0)) else {
            let input = Input::new(values);
            for (row, &g) in group_indices.iter().enumerate() {
                input.extend(row, filter, &mut self.groups[g].owned);
            }
            return;
        };
        // Grouping sets pass the same batch once per set: reference its values array once.
        let same = |a: &Float64Array| a.values().as_ptr() == child.values().as_ptr() && a.len() == child.len();
        let reuse = self.arrays.last().is_some_and(same);
        let index = u32::try_from(self.arrays.len() - usize::from(reuse)).unwrap_or(u32::MAX);
        let offsets = lists.value_offsets();
        let mut used = false;
        for (row, &g) in group_indices.iter().enumerate() {
            let (start, end) = (offsets[row], offsets[row + 1]);
            if end > start && lists.is_valid(row) && passes(filter, row) {
                // List offsets are i32 and non-negative, so they fit u32.
                self.groups[g].slices.push((index, start as u32, (end - start) as u32));
                used = true;
            }
        }
        if used && !reuse {
            self.arrays_bytes += child.get_array_memory_size();
            self.arrays.push(child.clone());
        }
    }

    /// Take the groups `emit_to` asks for, and call `each` with each group's values gathered
    /// into one reused vector (so no more than one group's copy exists at a time).
    fn drain(&mut self, emit_to: EmitTo, mut each: impl FnMut(&mut Vec<f64>)) {
        let groups = emit_to.take_needed(&mut self.groups);
        let mut values = Vec::new();
        for g in groups {
            values.clear();
            values.extend_from_slice(&g.owned);
            for (a, offset, len) in g.slices {
                let (offset, len) = (offset as usize, len as usize);
                values.extend_from_slice(&self.arrays[a as usize].values()[offset..offset + len]);
            }
            each(&mut values);
        }
        if self.groups.is_empty() {
            self.arrays.clear();
            self.arrays_bytes = 0;
        }
    }
}

/// Whether an aggregate's `FILTER` keeps `row` (no filter keeps every row; null drops it).
fn passes(filter: Option<&BooleanArray>, row: usize) -> bool {
    filter.is_none_or(|f| f.is_valid(row) && f.value(row))
}

/// The input of `latency_percentiles`: one value per row, or a list of values per row.
enum Input<'a> {
    Values(&'a Float64Array),
    Lists(&'a ListArray),
}

impl<'a> Input<'a> {
    fn new(array: &'a ArrayRef) -> Self {
        match array.as_list_opt::<i32>() {
            Some(lists) => Input::Lists(lists),
            None => Input::Values(array.as_primitive::<Float64Type>()),
        }
    }

    fn len(&self) -> usize {
        match self {
            Input::Values(v) => v.len(),
            Input::Lists(l) => l.len(),
        }
    }

    /// Append row `row`'s values to `out` unless the filter drops the row.
    fn extend(&self, row: usize, filter: Option<&BooleanArray>, out: &mut Vec<f64>) {
        if !passes(filter, row) {
            return;
        }
        match self {
            Input::Values(v) => {
                if v.is_valid(row) {
                    out.push(v.value(row));
                }
            }
            Input::Lists(l) => {
                if l.is_valid(row) {
                    let values = l.value(row);
                    let values = values.as_primitive::<Float64Type>();
                    if values.null_count() == 0 {
                        out.extend_from_slice(values.values());
                    } else {
                        out.extend(values.iter().flatten());
                    }
                }
            }
        }
    }

    /// Every row's values (no filter).
    fn extend_all(&self, out: &mut Vec<f64>) {
        for row in 0..self.len() {
            self.extend(row, None, out);
        }
    }
}

impl GroupsAccumulator for ValuesGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> datafusion::common::Result<()> {
        self.grow(total_num_groups);
        self.add(&values[0], group_indices, opt_filter);
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> datafusion::common::Result<ArrayRef> {
        let ps = self.ps.clone();
        let mut results = Vec::new();
        self.drain(emit_to, |values| results.push(exact_percentiles(values, &ps)));
        Ok(Arc::new(lists(results)))
    }

    /// Every group's values, copied once into one list array (the partial aggregate of a
    /// two-stage plan; the final stage holds slices of it by reference).
    fn state(&mut self, emit_to: EmitTo) -> datafusion::common::Result<Vec<ArrayRef>> {
        let mut all: Vec<f64> = Vec::new();
        let mut lengths = Vec::new();
        self.drain(emit_to, |values| {
            lengths.push(values.len());
            all.extend_from_slice(values);
        });
        let list =
            ListArray::new(item_field(), OffsetBuffer::from_lengths(lengths), Arc::new(Float64Array::from(all)), None);
        Ok(vec![Arc::new(list)])
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> datafusion::common::Result<()> {
        self.grow(total_num_groups);
        self.add(&values[0], group_indices, None);
        Ok(())
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> datafusion::common::Result<Vec<ArrayRef>> {
        let input = Input::new(&values[0]);
        let rows = (0..input.len()).map(|r| {
            let mut v = Vec::new();
            input.extend(r, opt_filter, &mut v);
            v.into_iter().map(Some).collect()
        });
        Ok(vec![Arc::new(lists(rows))])
    }

    fn size(&self) -> usize {
        self.groups.capacity() * std::mem::size_of::<GroupValues>()
            + self
                .groups
                .iter()
                .map(|g| g.owned.capacity() * std::mem::size_of::<f64>() + g.slices.capacity() * 12)
                .sum::<usize>()
            + self.arrays_bytes
    }
}

/// Exact mode, one group.
#[derive(Debug)]
struct ValuesAccumulator {
    ps: Vec<f64>,
    values: Vec<f64>,
}

impl Accumulator for ValuesAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> datafusion::common::Result<()> {
        Input::new(&values[0]).extend_all(&mut self.values);
        Ok(())
    }

    fn evaluate(&mut self) -> datafusion::common::Result<ScalarValue> {
        let list = lists([exact_percentiles(&mut self.values, &self.ps)]);
        Ok(ScalarValue::List(Arc::new(list)))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.values.capacity() * std::mem::size_of::<f64>()
    }

    fn state(&mut self) -> datafusion::common::Result<Vec<ScalarValue>> {
        let values = std::mem::take(&mut self.values);
        Ok(vec![ScalarValue::List(Arc::new(lists([values.into_iter().map(Some).collect()])))])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> datafusion::common::Result<()> {
        let states = states[0].as_list::<i32>();
        for row in 0..states.len() {
            if states.is_valid(row) {
                self.values.extend(states.value(row).as_primitive::<Float64Type>().iter().flatten());
            }
        }
        Ok(())
    }
}

/// Approximate mode: a t-digest, fed through a small buffer.
#[derive(Debug)]
struct DigestAccumulator {
    ps: Vec<f64>,
    digest: TDigest,
    buffer: Vec<f64>,
}

impl DigestAccumulator {
    fn flush(&mut self) {
        if !self.buffer.is_empty() {
            self.digest = self.digest.merge_unsorted_f64(std::mem::take(&mut self.buffer));
        }
    }
}

impl Accumulator for DigestAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> datafusion::common::Result<()> {
        Input::new(&values[0]).extend_all(&mut self.buffer);
        if self.buffer.len() >= TDIGEST_BUFFER {
            self.flush();
        }
        Ok(())
    }

    fn evaluate(&mut self) -> datafusion::common::Result<ScalarValue> {
        self.flush();
        let empty = self.digest.count() == 0.0;
        let values = self.ps.iter().map(|&p| (!empty).then(|| self.digest.estimate_quantile(p))).collect();
        Ok(ScalarValue::List(Arc::new(lists([values]))))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.digest.size() + self.buffer.capacity() * std::mem::size_of::<f64>()
    }

    fn state(&mut self) -> datafusion::common::Result<Vec<ScalarValue>> {
        self.flush();
        Ok(self.digest.to_scalar_state())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> datafusion::common::Result<()> {
        self.flush();
        let mut digests = vec![self.digest.clone()];
        for row in 0..states[0].len() {
            let state = states
                .iter()
                .map(|column| ScalarValue::try_from_array(column, row))
                .collect::<datafusion::common::Result<Vec<_>>>()?;
            digests.push(TDigest::from_scalar_state(&state));
        }
        self.digest = TDigest::merge_digests(&digests);
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

    /// Rows of (g, s, v): 3 groups × 2 subgroups, pseudo-random values.
    fn sample() -> Vec<(String, String, f64)> {
        let mut rng = crate::util::SplitMix::new(9);
        (0..600)
            .map(|i| {
                let g = ["a", "b", "c"][i % 3].to_string();
                let s = ["x", "y"][(i / 3) % 2].to_string();
                (g, s, rng.below(100_000) as f64 / 13.0)
            })
            .collect()
    }

    fn reference(values: impl Iterator<Item = f64>, ps: &[f64]) -> Vec<Option<f64>> {
        let mut sorted: Vec<f64> = values.collect();
        sorted.sort_by(f64::total_cmp);
        ps.iter().map(|&p| percentile_of_sorted(&sorted, p)).collect()
    }

    /// `SELECT key, latency_percentiles(...)` rows as (key, percentiles).
    async fn run(ctx: &SessionContext, sql: &str) -> Vec<(String, Vec<Option<f64>>)> {
        let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        let mut out = Vec::new();
        for b in batches {
            let keys = arrow::compute::cast(b.column(0), &DataType::Utf8).unwrap();
            let keys = keys.as_string::<i32>();
            let lists = b.column(1).as_list::<i32>();
            for r in 0..b.num_rows() {
                let ps = lists.value(r);
                let ps = ps.as_primitive::<Float64Type>();
                out.push((keys.value(r).to_string(), ps.iter().collect()));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    #[test]
    fn the_aggregate_matches_sorting_for_values_merged_lists_grouping_sets_and_filters() {
        use arrow::array::{RecordBatch, StringArray};
        let rows = sample();
        let ps = [0.5, 0.9, 0.99];
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        for partitions in [1, 2] {
            let config = datafusion::prelude::SessionConfig::new().with_target_partitions(partitions);
            let ctx = SessionContext::new_with_config(config);
            register_functions(&ctx, false);
            let schema = Arc::new(arrow::datatypes::Schema::new(vec![
                Field::new("g", DataType::Utf8, false),
                Field::new("s", DataType::Utf8, false),
                Field::new("v", DataType::Float64, false),
            ]));
            let batches: Vec<RecordBatch> = rows
                .chunks(64)
                .map(|c| {
                    let g = StringArray::from_iter_values(c.iter().map(|r| r.0.as_str()));
                    let s = StringArray::from_iter_values(c.iter().map(|r| r.1.as_str()));
                    let v = Float64Array::from_iter_values(c.iter().map(|r| r.2));
                    RecordBatch::try_new(schema.clone(), vec![Arc::new(g), Arc::new(s), Arc::new(v)]).unwrap()
                })
                .collect();
            let parts: Vec<Vec<RecordBatch>> =
                (0..partitions).map(|p| batches.iter().skip(p).step_by(partitions).cloned().collect()).collect();
            let table = datafusion::datasource::MemTable::try_new(schema, parts).unwrap();
            ctx.register_table("t", Arc::new(table)).unwrap();

            // Values, per group.
            let got = rt.block_on(run(&ctx, "SELECT g, latency_percentiles(v, 0.5, 0.9, 0.99) FROM t GROUP BY g"));
            for (g, p) in &got {
                assert_eq!(*p, reference(rows.iter().filter(|r| &r.0 == g).map(|r| r.2), &ps), "{g}");
            }
            assert_eq!(got.len(), 3);

            // Lists of a first stage merged by grouping sets (the dependency query's shape).
            let sql = "WITH fine AS (SELECT g, s, array_agg(v) AS vs FROM t GROUP BY g, s) \
                       SELECT concat(coalesce(g, '*'), '/', coalesce(s, '*')), latency_percentiles(vs, 0.5, 0.9, 0.99) \
                       FROM fine GROUP BY GROUPING SETS ((g, s), (g), ())";
            let got = rt.block_on(run(&ctx, sql));
            assert_eq!(got.len(), 6 + 3 + 1);
            for (key, p) in &got {
                let (g, s) = key.split_once('/').unwrap();
                let values = rows.iter().filter(|r| (g == "*" || r.0 == g) && (s == "*" || r.1 == s)).map(|r| r.2);
                assert_eq!(*p, reference(values, &ps), "{key}, {partitions} partitions");
            }

            // FILTER applies per row, for values and for lists.
            let got = rt
                .block_on(run(&ctx, "SELECT g, latency_percentiles(v, 0.5) FILTER (WHERE s = 'x') FROM t GROUP BY g"));
            for (g, p) in &got {
                assert_eq!(*p, reference(rows.iter().filter(|r| &r.0 == g && r.1 == "x").map(|r| r.2), &[0.5]));
            }
            let sql = "WITH fine AS (SELECT g, s, array_agg(v) AS vs FROM t GROUP BY g, s) \
                       SELECT g, latency_percentiles(vs, 0.5) FILTER (WHERE s = 'y') FROM fine GROUP BY g";
            for (g, p) in &rt.block_on(run(&ctx, sql)) {
                assert_eq!(*p, reference(rows.iter().filter(|r| &r.0 == g && r.1 == "y").map(|r| r.2), &[0.5]));
            }
        }
    }
}
