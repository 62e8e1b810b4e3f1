//! The SQL that spanlens runs: every statement lives in `queries/NAME.sql`, embedded here, and
//! the functions those statements call (`latency_percentiles`, and `example_ids` of
//! [`example_ids`]) are registered by [`register_functions`].

mod example_ids;

use std::any::Any;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Float64Array, Int64Array, ListArray};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{DataType, Field, FieldRef, Float64Type, Int64Type};
use datafusion::common::ScalarValue;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, EmitTo, GroupsAccumulator, Signature, TypeSignature, Volatility,
};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::Literal;
use datafusion::prelude::SessionContext;
use datafusion_functions_aggregate_common::tdigest::{Centroid, TDigest};

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

/// Register the functions the queries call: `latency_percentiles(value [, weight], p1, p2, ...)`
/// returns the list of those percentiles of `value` in each group, exact (linear interpolation
/// between closest ranks, the `percentile_cont` definition, each value counted `weight` times),
/// or with `approx` estimated from a t-digest of bounded size per group; `example_ids(id, k)`
/// the `k` least distinct ids of each group as lowercase hex.
pub fn register_functions(ctx: &SessionContext, approx: bool) {
    for f in aggregate_functions(approx) {
        ctx.register_udaf(f);
    }
}

/// The aggregate functions the queries call (see [`register_functions`]).
pub fn aggregate_functions(approx: bool) -> Vec<AggregateUDF> {
    vec![AggregateUDF::from(LatencyPercentiles::new(approx)), AggregateUDF::from(example_ids::ExampleIds::new())]
}

/// Centroids kept per t-digest in approximate mode.
const TDIGEST_SIZE: usize = 100;

/// Values buffered per group before they are folded into its t-digest.
const TDIGEST_BUFFER: usize = 4096;

/// `latency_percentiles(value [, weight], p...)`: exact values are kept per group and each
/// percentile is found by selection; approximate mode keeps a t-digest per group.
///
/// With a weight (BIGINT, or a list of them beside a list of values: a sampled record's adjusted
/// count), each value counts as that many equal values: the percentiles are `percentile_cont` of
/// the values repeated by their weights, computed without repeating them. Weight 1 is the
/// unweighted case (same bits); a null or zero weight leaves the value out; a negative one is an
/// error. Values of weight 1 are held as the unweighted function holds them, the others as
/// (value, weight) pairs beside them.
#[derive(Debug, PartialEq, Eq, Hash)]
struct LatencyPercentiles {
    signature: Signature,
    approx: bool,
}

impl LatencyPercentiles {
    fn new(approx: bool) -> Self {
        // The values (Float64, or lists of Float64 to merge groups), their weights if weighted,
        // and one to eight percentiles.
        let arities = (2..=10).map(TypeSignature::Any).collect();
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

/// Whether a call's second argument is a weight (BIGINT or BIGINT[]) rather than a percentile.
fn is_weight(t: &DataType) -> bool {
    match t {
        DataType::Int64 => true,
        DataType::List(item) => item.data_type() == &DataType::Int64,
        _ => false,
    }
}

/// Whether the call `args` describes is weighted.
fn weighted_call(args: &AccumulatorArgs) -> datafusion::common::Result<bool> {
    match args.exprs.get(1) {
        Some(e) => Ok(is_weight(&e.data_type(args.schema)?)),
        None => Ok(false),
    }
}

/// The value of an aggregate's argument when it is a literal.
fn literal(expr: &Arc<dyn PhysicalExpr>) -> Option<&ScalarValue> {
    let any: &dyn Any = expr.as_ref();
    any.downcast_ref::<Literal>().map(Literal::value)
}

/// The literal percentiles of a `latency_percentiles` call (every argument after the values and
/// the weights).
fn percentile_args(args: &AccumulatorArgs) -> datafusion::common::Result<Vec<f64>> {
    let bad = || {
        datafusion::error::DataFusionError::Plan(
            "latency_percentiles(value [, weight], p...): each percentile must be a literal between 0 and 1".into(),
        )
    };
    let first = 1 + usize::from(weighted_call(args)?);
    if args.exprs.len() <= first {
        return Err(bad());
    }
    args.exprs[first..]
        .iter()
        .map(|e| match literal(e) {
            Some(ScalarValue::Float64(Some(p))) if (0.0..=1.0).contains(p) => Ok(*p),
            _ => Err(bad()),
        })
        .collect()
}

fn exact_percentiles(values: &mut [f64], ps: &[f64]) -> Vec<Option<f64>> {
    ps.iter().map(|&p| percentile_of_unsorted(values, p)).collect()
}

/// [`exact_percentiles`] of `unit` (values of weight 1) and `heavy` (value, weight) pairs: the
/// percentiles of the values repeated by their weights, bit for bit.
pub fn weighted_percentiles(unit: &[f64], heavy: &[(f64, i64)], ps: &[f64]) -> Vec<Option<f64>> {
    let mut pairs: Vec<(f64, i64)> = unit.iter().map(|&v| (v, 1)).chain(heavy.iter().copied()).collect();
    pairs.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
    let mut ends = Vec::with_capacity(pairs.len());
    let mut total = 0i64;
    for &(_, w) in &pairs {
        total = total.saturating_add(w);
        ends.push(total);
    }
    // The value at rank `k` (0-based) of the repeated values.
    let at = |k: i64| pairs[ends.partition_point(|&end| end <= k)].0;
    ps.iter()
        .map(|&p| {
            if total == 0 {
                return None;
            }
            let h = p * (total - 1) as f64;
            let lo = h.floor();
            let frac = h - lo;
            let lower = at(lo as i64);
            Some(if frac == 0.0 { lower } else { lower + frac * (at((lo as i64 + 1).min(total - 1)) - lower) })
        })
        .collect()
}

/// The percentiles of a group's values: [`exact_percentiles`] when every weight is 1.
fn group_percentiles(unit: &mut [f64], heavy: &[(f64, i64)], ps: &[f64]) -> Vec<Option<f64>> {
    if heavy.is_empty() { exact_percentiles(unit, ps) } else { weighted_percentiles(unit, heavy, ps) }
}

fn weight_list_field() -> FieldRef {
    Arc::new(Field::new_list_field(DataType::Int64, true))
}

/// The weights of a weighted call: one per row, or a list per row beside the values' list.
enum Weights<'a> {
    Values(&'a Int64Array),
    Lists(&'a ListArray),
}

impl<'a> Weights<'a> {
    fn new(array: &'a ArrayRef) -> datafusion::common::Result<Self> {
        match (array.as_list_opt::<i32>(), array.as_primitive_opt::<Int64Type>()) {
            (Some(lists), _) if lists.values().data_type() == &DataType::Int64 => Ok(Weights::Lists(lists)),
            (_, Some(values)) => Ok(Weights::Values(values)),
            _ => Err(exec(format!("latency_percentiles: weights must be BIGINT, not {}", array.data_type()))),
        }
    }

    /// Every weight is 1: the values may be taken as unweighted.
    fn all_one(&self) -> bool {
        let w = match self {
            Weights::Values(w) => *w,
            Weights::Lists(l) => l.values().as_primitive::<Int64Type>(),
        };
        w.null_count() == 0 && w.values().iter().all(|&x| x == 1)
    }
}

fn exec(message: String) -> datafusion::error::DataFusionError {
    datafusion::error::DataFusionError::Execution(message)
}

/// Append row `row`'s values (unless the filter drops it): those of weight 1 to `unit`, the others
/// with their weights to `heavy`.
fn extend_weighted(
    values: &Input,
    weights: &Weights,
    row: usize,
    filter: Option<&BooleanArray>,
    unit: &mut Vec<f64>,
    heavy: &mut Vec<(f64, i64)>,
) -> datafusion::common::Result<()> {
    if !passes(filter, row) {
        return Ok(());
    }
    let mut push = |v: f64, w: i64| match w {
        1 => {
            unit.push(v);
            Ok(())
        }
        0 => Ok(()),
        w if w > 1 => {
            heavy.push((v, w));
            Ok(())
        }
        w => Err(exec(format!("latency_percentiles: a negative weight ({w})"))),
    };
    match (values, weights) {
        (Input::Values(v), Weights::Values(w)) => {
            if v.is_valid(row) && w.is_valid(row) {
                push(v.value(row), w.value(row))?;
            }
        }
        (Input::Lists(v), Weights::Lists(w)) => {
            if v.is_valid(row) && w.is_valid(row) {
                let (vs, ws) = (v.value(row), w.value(row));
                let (vs, ws) = (vs.as_primitive::<Float64Type>(), ws.as_primitive::<Int64Type>());
                if vs.len() != ws.len() {
                    return Err(exec(format!(
                        "latency_percentiles: a list of {} values with {} weights",
                        vs.len(),
                        ws.len()
                    )));
                }
                for j in 0..vs.len() {
                    if vs.is_valid(j) && ws.is_valid(j) {
                        push(vs.value(j), ws.value(j))?;
                    }
                }
            }
        }
        _ => return Err(exec("latency_percentiles: values and weights must both be lists or neither".into())),
    }
    Ok(())
}

/// The (value, weight) pairs of the heavy state lists `values` and `weights`, row by row.
fn heavy_state_lists(heavy: impl IntoIterator<Item = Vec<(f64, i64)>>) -> [ArrayRef; 2] {
    let (mut values, mut weights, mut lengths) = (Vec::new(), Vec::new(), Vec::new());
    for pairs in heavy {
        lengths.push(pairs.len());
        for (v, w) in pairs {
            values.push(v);
            weights.push(w);
        }
    }
    let offsets = OffsetBuffer::from_lengths(lengths);
    [
        Arc::new(ListArray::new(item_field(), offsets.clone(), Arc::new(Float64Array::from(values)), None)),
        Arc::new(ListArray::new(weight_list_field(), offsets, Arc::new(Int64Array::from(weights)), None)),
    ]
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
        let first = 1 + usize::from(arg_types.get(1).is_some_and(is_weight));
        let ps = arg_types.get(first..).unwrap_or_default();
        if !values_ok || ps.is_empty() || ps.iter().any(|t| t != &DataType::Float64) {
            return Err(datafusion::error::DataFusionError::Plan(format!(
                "latency_percentiles(values DOUBLE or DOUBLE[] [, weights BIGINT or BIGINT[]], p DOUBLE...): got \
                 {arg_types:?}"
            )));
        }
        Ok(list_type())
    }

    fn accumulator(&self, args: AccumulatorArgs) -> datafusion::common::Result<Box<dyn Accumulator>> {
        let (ps, weighted) = (percentile_args(&args)?, weighted_call(&args)?);
        Ok(if self.approx {
            Box::new(DigestAccumulator { ps, weighted, digest: TDigest::new(TDIGEST_SIZE), buffer: Vec::new() })
        } else {
            Box::new(ValuesAccumulator { ps, weighted, values: Vec::new(), heavy: Vec::new() })
        })
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        !self.approx
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> datafusion::common::Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(ValuesGroups::new(percentile_args(&args)?, weighted_call(&args)?)))
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
        } else if args.input_fields.get(1).is_some_and(|f| is_weight(f.data_type())) {
            vec![
                field("values", list_type()),
                field("weighted_values", list_type()),
                field("weights", DataType::List(weight_list_field())),
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
    /// Values of a weight other than 1, with it.
    heavy: Vec<(f64, i64)>,
}

/// Exact mode, many groups at once (DataFusion's vectorised aggregation path).
#[derive(Debug)]
struct ValuesGroups {
    ps: Vec<f64>,
    /// The call has weights (its state has the heavy lists).
    weighted: bool,
    groups: Vec<GroupValues>,
    /// The list-value arrays that groups hold slices of.
    arrays: Vec<Float64Array>,
    arrays_bytes: usize,
}

impl ValuesGroups {
    fn new(ps: Vec<f64>, weighted: bool) -> Self {
        ValuesGroups { ps, weighted, groups: Vec::new(), arrays: Vec::new(), arrays_bytes: 0 }
    }

    /// [`add`](Self::add) with weights: as unweighted when they are all 1.
    fn add_weighted(
        &mut self,
        values: &ArrayRef,
        weights: &ArrayRef,
        group_indices: &[usize],
        filter: Option<&BooleanArray>,
    ) -> datafusion::common::Result<()> {
        let weights = Weights::new(weights)?;
        if weights.all_one() {
            self.add(values, group_indices, filter);
            return Ok(());
        }
        let input = Input::new(values);
        for (row, &g) in group_indices.iter().enumerate() {
            let group = &mut self.groups[g];
            extend_weighted(&input, &weights, row, filter, &mut group.owned, &mut group.heavy)?;
        }
        Ok(())
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
    fn drain(&mut self, emit_to: EmitTo, mut each: impl FnMut(&mut Vec<f64>, Vec<(f64, i64)>)) {
        let groups = emit_to.take_needed(&mut self.groups);
        let mut values = Vec::new();
        for g in groups {
            values.clear();
            values.extend_from_slice(&g.owned);
            for (a, offset, len) in g.slices {
                let (offset, len) = (offset as usize, len as usize);
                values.extend_from_slice(&self.arrays[a as usize].values()[offset..offset + len]);
            }
            each(&mut values, g.heavy);
        }
        if self.groups.is_empty() {
            self.arrays.clear();
            self.arrays_bytes = 0;
        }
    }
}

/// Whether an aggregate's `FILTER` keeps `row` (no filter keeps every row; null drops it).
pub(crate) fn passes(filter: Option<&BooleanArray>, row: usize) -> bool {
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
        if self.weighted {
            return self.add_weighted(&values[0], &values[1], group_indices, opt_filter);
        }
        self.add(&values[0], group_indices, opt_filter);
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> datafusion::common::Result<ArrayRef> {
        let ps = self.ps.clone();
        let mut results = Vec::new();
        self.drain(emit_to, |values, heavy| results.push(group_percentiles(values, &heavy, &ps)));
        Ok(Arc::new(lists(results)))
    }

    /// Every group's values, copied once into one list array (the partial aggregate of a
    /// two-stage plan; the final stage holds slices of it by reference).
    fn state(&mut self, emit_to: EmitTo) -> datafusion::common::Result<Vec<ArrayRef>> {
        let mut all: Vec<f64> = Vec::new();
        let mut lengths = Vec::new();
        let mut heavy = Vec::new();
        self.drain(emit_to, |values, pairs| {
            lengths.push(values.len());
            all.extend_from_slice(values);
            heavy.push(pairs);
        });
        let list =
            ListArray::new(item_field(), OffsetBuffer::from_lengths(lengths), Arc::new(Float64Array::from(all)), None);
        let mut state: Vec<ArrayRef> = vec![Arc::new(list)];
        if self.weighted {
            state.extend(heavy_state_lists(heavy));
        }
        Ok(state)
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> datafusion::common::Result<()> {
        self.grow(total_num_groups);
        self.add(&values[0], group_indices, None);
        if self.weighted {
            self.add_weighted(&values[1], &values[2], group_indices, None)?;
        }
        Ok(())
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> datafusion::common::Result<Vec<ArrayRef>> {
        let input = Input::new(&values[0]);
        if !self.weighted {
            let rows = (0..input.len()).map(|r| {
                let mut v = Vec::new();
                input.extend(r, opt_filter, &mut v);
                v.into_iter().map(Some).collect()
            });
            return Ok(vec![Arc::new(lists(rows))]);
        }
        let weights = Weights::new(&values[1])?;
        let (mut unit, mut heavy) = (Vec::new(), Vec::new());
        for r in 0..input.len() {
            let (mut u, mut h) = (Vec::new(), Vec::new());
            extend_weighted(&input, &weights, r, opt_filter, &mut u, &mut h)?;
            unit.push(u.into_iter().map(Some).collect());
            heavy.push(h);
        }
        let mut state: Vec<ArrayRef> = vec![Arc::new(lists(unit))];
        state.extend(heavy_state_lists(heavy));
        Ok(state)
    }

    fn size(&self) -> usize {
        self.groups.capacity() * std::mem::size_of::<GroupValues>()
            + self
                .groups
                .iter()
                .map(|g| {
                    g.owned.capacity() * std::mem::size_of::<f64>()
                        + g.slices.capacity() * 12
                        + g.heavy.capacity() * std::mem::size_of::<(f64, i64)>()
                })
                .sum::<usize>()
            + self.arrays_bytes
    }
}

/// Exact mode, one group.
#[derive(Debug)]
struct ValuesAccumulator {
    ps: Vec<f64>,
    weighted: bool,
    values: Vec<f64>,
    heavy: Vec<(f64, i64)>,
}

/// Every row's values and weights: those of weight 1 to `unit`, the others to `heavy`.
fn extend_all_weighted(
    values: &ArrayRef,
    weights: &ArrayRef,
    unit: &mut Vec<f64>,
    heavy: &mut Vec<(f64, i64)>,
) -> datafusion::common::Result<()> {
    let (input, weights) = (Input::new(values), Weights::new(weights)?);
    if weights.all_one() {
        input.extend_all(unit);
        return Ok(());
    }
    (0..input.len()).try_for_each(|row| extend_weighted(&input, &weights, row, None, unit, heavy))
}

impl Accumulator for ValuesAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> datafusion::common::Result<()> {
        if self.weighted {
            return extend_all_weighted(&values[0], &values[1], &mut self.values, &mut self.heavy);
        }
        Input::new(&values[0]).extend_all(&mut self.values);
        Ok(())
    }

    fn evaluate(&mut self) -> datafusion::common::Result<ScalarValue> {
        let list = lists([group_percentiles(&mut self.values, &self.heavy, &self.ps)]);
        Ok(ScalarValue::List(Arc::new(list)))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
            + self.values.capacity() * std::mem::size_of::<f64>()
            + self.heavy.capacity() * std::mem::size_of::<(f64, i64)>()
    }

    fn state(&mut self) -> datafusion::common::Result<Vec<ScalarValue>> {
        let values = std::mem::take(&mut self.values);
        let mut state = vec![ScalarValue::List(Arc::new(lists([values.into_iter().map(Some).collect()])))];
        if self.weighted {
            for list in heavy_state_lists([std::mem::take(&mut self.heavy)]) {
                state.push(ScalarValue::List(Arc::new(list.as_list::<i32>().clone())));
            }
        }
        Ok(state)
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> datafusion::common::Result<()> {
        Input::new(&states[0]).extend_all(&mut self.values);
        if self.weighted {
            extend_all_weighted(&states[1], &states[2], &mut self.values, &mut self.heavy)?;
        }
        Ok(())
    }
}

/// Approximate mode: a t-digest, fed through a small buffer.
#[derive(Debug)]
struct DigestAccumulator {
    ps: Vec<f64>,
    weighted: bool,
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
        if self.weighted {
            let mut heavy = Vec::new();
            extend_all_weighted(&values[0], &values[1], &mut self.buffer, &mut heavy)?;
            if !heavy.is_empty() {
                // A value of weight w is a centroid of that weight.
                self.flush();
                let digests: Vec<TDigest> = std::iter::once(self.digest.clone())
                    .chain(
                        heavy
                            .into_iter()
                            .map(|(v, w)| TDigest::new_with_centroid(TDIGEST_SIZE, Centroid::new(v, w as f64))),
                    )
                    .collect();
                self.digest = TDigest::merge_digests(&digests);
            }
        } else {
            Input::new(&values[0]).extend_all(&mut self.buffer);
        }
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

    #[test]
    fn weighted_percentiles_are_those_of_the_repeated_values() {
        let mut rng = crate::util::SplitMix::new(17);
        for n in [1usize, 2, 3, 10, 101, 500] {
            let pairs: Vec<(f64, i64)> =
                (0..n).map(|_| (rng.below(1_000) as f64 / 7.0, [1, 1, 2, 3, 10][rng.below(5) as usize])).collect();
            let unit: Vec<f64> = pairs.iter().filter(|p| p.1 == 1).map(|p| p.0).collect();
            let heavy: Vec<(f64, i64)> = pairs.iter().copied().filter(|p| p.1 != 1).collect();
            let mut repeated: Vec<f64> = pairs.iter().flat_map(|&(v, w)| std::iter::repeat_n(v, w as usize)).collect();
            repeated.sort_by(f64::total_cmp);
            let ps = [0.0, 0.5, 0.9, 0.99, 0.999, 1.0];
            let want: Vec<Option<f64>> = ps.iter().map(|&p| percentile_of_sorted(&repeated, p)).collect();
            assert_eq!(weighted_percentiles(&unit, &heavy, &ps), want, "n={n}");
        }
        assert_eq!(weighted_percentiles(&[], &[], &[0.5]), vec![None]);
        assert_eq!(weighted_percentiles(&[], &[(3.0, 5)], &[0.0, 1.0]), vec![Some(3.0), Some(3.0)]);
    }

    #[test]
    fn approximate_percentiles_weigh_values_too() {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let ctx = SessionContext::new();
        register_functions(&ctx, true);
        // 0..999, the lower half of weight 3: the median of the repeated values is 333.
        let sql = "SELECT latency_percentiles(CAST(v AS DOUBLE), CAST(CASE WHEN v < 500 THEN 3 ELSE 1 END AS BIGINT), \
                   0.5) FROM (SELECT unnest(range(1000)) AS v)";
        let batches = rt.block_on(async { ctx.sql(sql).await.unwrap().collect().await.unwrap() });
        let p50 = batches[0].column(0).as_list::<i32>().value(0).as_primitive::<Float64Type>().value(0);
        assert!((p50 - 333.0).abs() < 10.0, "{p50}");
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

            // Weighted: each value counts w times, as values and as merged lists of values and
            // weights; weights of 1 are the unweighted call.
            let weight = "CAST(CASE WHEN v * 13 % 4 < 1 THEN 3 WHEN v * 13 % 4 < 2 THEN 1 ELSE 2 END AS BIGINT)";
            let w_of = |v: f64| -> usize {
                let m = (v * 13.0) % 4.0;
                if m < 1.0 {
                    3
                } else if m < 2.0 {
                    1
                } else {
                    2
                }
            };
            let repeated = |g: &str, s: &str| -> Vec<f64> {
                rows.iter()
                    .filter(|r| (g == "*" || r.0 == g) && (s == "*" || r.1 == s))
                    .flat_map(|r| std::iter::repeat_n(r.2, w_of(r.2)))
                    .collect()
            };
            let sql = format!("SELECT g, latency_percentiles(v, {weight}, 0.5, 0.9, 0.99) FROM t GROUP BY g");
            for (g, p) in &rt.block_on(run(&ctx, &sql)) {
                assert_eq!(*p, reference(repeated(g, "*").into_iter(), &ps), "weighted {g}");
            }
            let sql = format!(
                "WITH fine AS (SELECT g, s, array_agg(v) AS vs, array_agg({weight}) AS ws FROM t GROUP BY g, s) \
                 SELECT concat(coalesce(g, '*'), '/', coalesce(s, '*')), latency_percentiles(vs, ws, 0.5, 0.9, 0.99) \
                 FROM fine GROUP BY GROUPING SETS ((g, s), (g), ())"
            );
            for (key, p) in &rt.block_on(run(&ctx, &sql)) {
                let (g, s) = key.split_once('/').unwrap();
                assert_eq!(*p, reference(repeated(g, s).into_iter(), &ps), "weighted lists {key}");
            }
            let sql = "SELECT g, latency_percentiles(v, CAST(1 AS BIGINT), 0.5, 0.9, 0.99) FROM t GROUP BY g";
            for (g, p) in &rt.block_on(run(&ctx, sql)) {
                assert_eq!(*p, reference(rows.iter().filter(|r| &r.0 == g).map(|r| r.2), &ps), "weights of 1 {g}");
            }
            let sql = format!("SELECT latency_percentiles(v, {weight}, 0.5, 0.9, 0.99) FROM t");
            let batches = rt.block_on(async { ctx.sql(&sql).await.unwrap().collect().await.unwrap() });
            let all = batches[0].column(0).as_list::<i32>().value(0);
            let all: Vec<Option<f64>> = all.as_primitive::<Float64Type>().iter().collect();
            assert_eq!(all, reference(repeated("*", "*").into_iter(), &ps), "weighted, one group");
            let err = rt.block_on(async {
                ctx.sql("SELECT latency_percentiles(v, CAST(-1 AS BIGINT), 0.5) FROM t").await?.collect().await
            });
            assert!(err.unwrap_err().to_string().contains("negative weight"));

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
