//! The derivation as a DataFusion aggregate function, so that the whole pipeline is SQL an engine
//! (a Ballista cluster among them) can plan: `derive_signals(trace_id, span_id, parent_span_id,
//! flags, trace_state, name, kind, end_time, duration_ns, status_code, service_name, scope_name,
//! attributes, resource_attributes)` over the spans of one trace (`GROUP BY trace_id`) returns
//! that trace's records, a list of structs with the `signals` columns and `ordinal`, the record's
//! place among its trace's. It runs [`SignalsDeriver`] on the spans of all the traces it emits at
//! once (or on one group's, where a grouping splits traces), so its records are the fast path's;
//! `queries/signals_from_spans.sql` unnests them into the `signals` table, in the fast path's
//! order (trace id, then ordinal).

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Int64Array, ListArray, RecordBatch, StructArray, UInt32Array,
};
use arrow::buffer::OffsetBuffer;
use arrow::compute::{cast, take};
use arrow::datatypes::{DataType, Field, FieldRef, Fields, Schema, SchemaRef};
use datafusion::common::ScalarValue;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, EmitTo, GroupsAccumulator, Signature, Volatility,
};

use crate::model::schema as span;
use crate::queries::passes;

use super::{SignalOptions, SignalsDeriver, signals_schema};

/// The function's name in SQL.
pub const NAME: &str = "derive_signals";

/// Its arguments, in order: the columns of `spans_for_signals`.
pub const ARGUMENTS: [&str; 14] = [
    span::TRACE_ID,
    span::SPAN_ID,
    span::PARENT_SPAN_ID,
    span::FLAGS,
    span::TRACE_STATE,
    span::NAME,
    span::KIND,
    span::END_TIME,
    span::DURATION_NS,
    span::STATUS_CODE,
    span::SERVICE_NAME,
    span::SCOPE_NAME,
    span::ATTRIBUTES,
    span::RESOURCE_ATTRIBUTES,
];

/// What a span held for its trace is taken to cost, for the memory pool.
const BYTES_PER_SPAN: usize = 512;

/// The struct field holding a record's place among its trace's records.
pub const ORDINAL: &str = "ordinal";

/// `derive_signals` deriving with `opts`.
pub fn derive_signals(opts: &SignalOptions) -> AggregateUDF {
    AggregateUDF::new_from_impl(DeriveSignals {
        signature: Signature::any(ARGUMENTS.len(), Volatility::Immutable),
        opts: opts.clone(),
    })
}

/// The fields of a record: the `signals` columns with their text as plain text, as the spans are
/// held (`signals_from_spans` casts it back to the signals table's dictionaries), then
/// [`ORDINAL`].
fn record_fields() -> Fields {
    let mut fields: Vec<FieldRef> = signals_schema()
        .fields()
        .iter()
        .map(|f| Arc::new(f.as_ref().clone().with_data_type(held(f.data_type()))))
        .collect();
    fields.push(Arc::new(Field::new(ORDINAL, DataType::Int64, false)));
    Fields::from(fields)
}

fn records_type() -> DataType {
    DataType::List(Arc::new(Field::new_list_field(DataType::Struct(record_fields()), true)))
}

/// The spans' schema: the argument names with the types they are held in.
fn spans_schema(types: impl Iterator<Item = DataType>) -> SchemaRef {
    let fields: Vec<Field> = ARGUMENTS.iter().zip(types).map(|(n, t)| Field::new(*n, held(&t), true)).collect();
    Arc::new(Schema::new(fields))
}

/// The type a column is held in: dictionary-encoded text as plain text, as a trace's few rows
/// would otherwise keep (and its state carry) the dictionary of the whole input batch.
fn held(t: &DataType) -> DataType {
    match t {
        DataType::Dictionary(_, value)
            if matches!(**value, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View) =>
        {
            DataType::Utf8
        }
        other => other.clone(),
    }
}

fn list_of(values: StructArray) -> ListArray {
    let field = Arc::new(Field::new_list_field(values.data_type().clone(), true));
    ListArray::new(field, OffsetBuffer::from_lengths([values.len()]), Arc::new(values), None)
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct DeriveSignals {
    signature: Signature,
    opts: SignalOptions,
}

impl AggregateUDFImpl for DeriveSignals {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(records_type())
    }

    fn accumulator(&self, args: AccumulatorArgs) -> DfResult<Box<dyn Accumulator>> {
        let types = args.exprs.iter().map(|e| e.data_type(args.schema)).collect::<DfResult<Vec<_>>>()?;
        Ok(Box::new(TraceSpans { schema: spans_schema(types.into_iter()), opts: self.opts.clone(), spans: Vec::new() }))
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }

    fn create_groups_accumulator(&self, args: AccumulatorArgs) -> DfResult<Box<dyn GroupsAccumulator>> {
        let types = args.exprs.iter().map(|e| e.data_type(args.schema)).collect::<DfResult<Vec<_>>>()?;
        Ok(Box::new(TraceGroups {
            schema: spans_schema(types.into_iter()),
            opts: self.opts.clone(),
            batches: Vec::new(),
            rows: Vec::new(),
            groups: 0,
            bytes: 0,
        }))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> DfResult<Vec<FieldRef>> {
        let schema = spans_schema(args.input_fields.iter().map(|f| f.data_type().clone()));
        let item = Field::new_list_field(DataType::Struct(schema.fields().clone()), true);
        Ok(vec![Arc::new(Field::new(format!("{}[spans]", args.name), DataType::List(Arc::new(item)), true))])
    }
}

/// The rows of `batch` on their own: a slice of a map column keeps the whole input's keys, which
/// the derivation would look up once per trace.
fn compact(batch: RecordBatch) -> DfResult<RecordBatch> {
    let rows = UInt32Array::from_iter_values(0..batch.num_rows() as u32);
    let columns = batch.columns().iter().map(|c| take(c, &rows, None)).collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(RecordBatch::try_new(batch.schema(), columns)?)
}

/// The held form of input columns ([`held`]).
fn held_batch(schema: &SchemaRef, values: &[ArrayRef]) -> DfResult<RecordBatch> {
    let columns = values
        .iter()
        .zip(schema.fields())
        .map(|(v, f)| if v.data_type() == f.data_type() { Ok(v.clone()) } else { cast(v, f.data_type()) })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

/// The spans of many groups (traces) at once, DataFusion's vectorised aggregation: the input
/// batches are held as they come, with each row's (group, batch, row), and the groups are
/// derived together when they are emitted, in one run of [`SignalsDeriver`] over their spans
/// gathered by group (as the fast path derives), their records then handed back to their groups.
#[derive(Debug)]
struct TraceGroups {
    schema: SchemaRef,
    opts: SignalOptions,
    batches: Vec<RecordBatch>,
    /// (group, batch, row) of every span held.
    rows: Vec<(u32, u32, u32)>,
    /// The groups DataFusion has numbered (some may have no spans).
    groups: usize,
    /// The memory of `batches`.
    bytes: usize,
}

/// The number of groups `emit_to` takes out of `total`.
fn emitted(emit_to: EmitTo, total: usize) -> usize {
    match emit_to {
        EmitTo::All => total,
        EmitTo::First(n) => n.min(total),
    }
}

impl TraceGroups {
    fn hold(&mut self, batch: RecordBatch) -> u32 {
        self.bytes += batch.get_array_memory_size();
        self.batches.push(batch);
        (self.batches.len() - 1) as u32
    }

    /// Take the spans of the first `n` groups out, as one batch in group order, with each
    /// group's number of spans; the groups after them are renumbered from 0.
    fn take(&mut self, n: usize) -> DfResult<(RecordBatch, Vec<usize>)> {
        let mut taken: Vec<(u32, u32, u32)> = Vec::new();
        self.rows.retain_mut(|r| {
            if (r.0 as usize) < n {
                taken.push(*r);
                false
            } else {
                r.0 -= n as u32;
                true
            }
        });
        taken.sort_unstable();
        self.groups -= n;
        let mut counts = vec![0usize; n];
        for r in &taken {
            counts[r.0 as usize] += 1;
        }
        let indices: Vec<(usize, usize)> = taken.iter().map(|r| (r.1 as usize, r.2 as usize)).collect();
        let columns = (0..self.schema.fields().len())
            .map(|c| {
                let arrays: Vec<&dyn Array> = self.batches.iter().map(|b| b.column(c).as_ref()).collect();
                if arrays.is_empty() {
                    Ok(arrow::array::new_empty_array(self.schema.field(c).data_type()))
                } else {
                    arrow::compute::interleave(&arrays, &indices)
                }
            })
            .collect::<std::result::Result<Vec<_>, _>>()?;
        if self.rows.is_empty() {
            self.batches.clear();
            self.bytes = 0;
        }
        Ok((RecordBatch::try_new(self.schema.clone(), columns)?, counts))
    }
}

/// Derive the records of `spans` (rows of `counts[g]` spans per group, in group order) and give
/// each group its own, in a list per group with their ordinals. When every trace lies in one
/// group, all groups are derived in one run; otherwise (a grouping that splits traces) group by
/// group, as the definition asks.
fn derive_groups(spans: &RecordBatch, counts: &[usize], opts: &SignalOptions) -> DfResult<ListArray> {
    let trace_ids = spans.column(0).as_fixed_size_binary();
    let mut group_of: std::collections::HashMap<&[u8], u32> = std::collections::HashMap::new();
    let mut one_group_each = true;
    let mut at = 0;
    for (g, &n) in counts.iter().enumerate() {
        for i in at..at + n {
            let group = *group_of.entry(trace_ids.value(i)).or_insert(g as u32);
            one_group_each &= group == g as u32;
        }
        at += n;
    }
    if !one_group_each {
        let mut lists = Vec::with_capacity(counts.len());
        let mut at = 0;
        for &n in counts {
            lists.push(derive_records(&compact(spans.slice(at, n))?, opts)?);
            at += n;
        }
        let lists: Vec<&dyn Array> = lists.iter().map(|l| l as &dyn Array).collect();
        return Ok(arrow::compute::concat(&lists)?.as_list::<i32>().clone());
    }
    let records = derive_all(spans, opts)?;
    // Records come in trace-id order; each goes to its trace's group, in that order.
    let record_traces = records.column_by_name(super::col::TRACE_ID).map(|c| c.as_fixed_size_binary().clone());
    let record_traces = record_traces.ok_or_else(|| DataFusionError::Internal("records without trace ids".into()))?;
    let mut of_group: Vec<Vec<u32>> = vec![Vec::new(); counts.len()];
    for r in 0..records.num_rows() {
        of_group[group_of[record_traces.value(r)] as usize].push(r as u32);
    }
    let order = UInt32Array::from_iter_values(of_group.iter().flatten().copied());
    let columns =
        records.columns().iter().map(|c| take(c, &order, None)).collect::<std::result::Result<Vec<_>, _>>()?;
    let ordinals = of_group.iter().flat_map(|g| 0..g.len() as i64);
    record_lists(columns, ordinals, of_group.iter().map(Vec::len))
}

/// A spanlens error as the aggregate's.
fn external(e: crate::error::Error) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

/// The signals records of `spans`, as the signals table's batch.
fn derive_all(spans: &RecordBatch, opts: &SignalOptions) -> DfResult<RecordBatch> {
    let mut deriver = SignalsDeriver::new(opts);
    let mut records = Vec::new();
    let mut keep = |b| {
        records.push(b);
        Ok(())
    };
    deriver.derive(std::slice::from_ref(spans), &mut keep).map_err(external)?;
    deriver.finish(&mut keep).map_err(external)?;
    Ok(arrow::compute::concat_batches(&signals_schema(), &records)?)
}

/// The records of `spans` as one group's list.
fn derive_records(spans: &RecordBatch, opts: &SignalOptions) -> DfResult<ListArray> {
    let records = derive_all(spans, opts)?;
    let n = records.num_rows();
    record_lists(records.columns().to_vec(), 0..n as i64, [n])
}

/// Lists of record structs (the signals columns cast to [`record_fields`], then the ordinals),
/// `lengths` records each.
fn record_lists(
    columns: Vec<ArrayRef>,
    ordinals: impl Iterator<Item = i64>,
    lengths: impl IntoIterator<Item = usize>,
) -> DfResult<ListArray> {
    let fields = record_fields();
    let mut columns = columns
        .iter()
        .zip(fields.iter())
        .map(|(c, f)| cast(c, f.data_type()))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    columns.push(Arc::new(Int64Array::from_iter_values(ordinals)));
    let records = StructArray::try_new(fields, columns, None)?;
    let field = Arc::new(Field::new_list_field(records.data_type().clone(), true));
    Ok(ListArray::new(field, OffsetBuffer::from_lengths(lengths), Arc::new(records), None))
}

impl GroupsAccumulator for TraceGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> DfResult<()> {
        self.groups = self.groups.max(total_num_groups);
        if values.first().is_none_or(|v| v.is_empty()) {
            return Ok(());
        }
        // The attribute maps cut to the keys the rules read, as the fast path holds them.
        let batch = super::keep_rule_keys(&held_batch(&self.schema, values)?, self.opts.records).map_err(external)?;
        let b = self.hold(batch);
        for (row, &g) in group_indices.iter().enumerate() {
            if passes(opt_filter, row) {
                self.rows.push((g as u32, b, row as u32));
            }
        }
        Ok(())
    }

    fn merge_batch(&mut self, values: &[ArrayRef], group_indices: &[usize], total_num_groups: usize) -> DfResult<()> {
        self.groups = self.groups.max(total_num_groups);
        let lists = values[0].as_list::<i32>();
        let spans = lists.values().as_struct();
        if spans.is_empty() {
            return Ok(());
        }
        let b = self.hold(RecordBatch::try_new(self.schema.clone(), spans.columns().to_vec())?);
        let offsets = lists.value_offsets();
        for (row, &g) in group_indices.iter().enumerate() {
            if lists.is_valid(row) {
                self.rows.extend((offsets[row]..offsets[row + 1]).map(|i| (g as u32, b, i as u32)));
            }
        }
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> DfResult<ArrayRef> {
        let n = emitted(emit_to, self.groups);
        let (spans, counts) = self.take(n)?;
        Ok(Arc::new(derive_groups(&spans, &counts, &self.opts)?))
    }

    fn state(&mut self, emit_to: EmitTo) -> DfResult<Vec<ArrayRef>> {
        let n = emitted(emit_to, self.groups);
        let (spans, counts) = self.take(n)?;
        let spans = StructArray::from(spans);
        let field = Arc::new(Field::new_list_field(spans.data_type().clone(), true));
        Ok(vec![Arc::new(ListArray::new(field, OffsetBuffer::from_lengths(counts), Arc::new(spans), None))])
    }

    /// Each row as its own group's state: a list of that one span (none when filtered out).
    fn convert_to_state(&self, values: &[ArrayRef], opt_filter: Option<&BooleanArray>) -> DfResult<Vec<ArrayRef>> {
        let spans = StructArray::from(held_batch(&self.schema, values)?);
        let keep: Vec<bool> = (0..spans.len()).map(|r| passes(opt_filter, r)).collect();
        let spans = arrow::compute::filter(&spans, &BooleanArray::from(keep.clone()))?;
        let field = Arc::new(Field::new_list_field(spans.data_type().clone(), true));
        let lengths = keep.into_iter().map(usize::from);
        Ok(vec![Arc::new(ListArray::new(field, OffsetBuffer::from_lengths(lengths), spans, None))])
    }

    fn size(&self) -> usize {
        self.bytes + self.rows.capacity() * std::mem::size_of::<(u32, u32, u32)>()
    }
}

/// The spans of one trace, as they come.
#[derive(Debug)]
struct TraceSpans {
    schema: SchemaRef,
    opts: SignalOptions,
    spans: Vec<RecordBatch>,
}

impl TraceSpans {
    fn all(&self) -> DfResult<RecordBatch> {
        Ok(arrow::compute::concat_batches(&self.schema, &self.spans)?)
    }
}

impl Accumulator for TraceSpans {
    fn update_batch(&mut self, values: &[ArrayRef]) -> DfResult<()> {
        if values.first().is_some_and(|v| !v.is_empty()) {
            self.spans.push(compact(held_batch(&self.schema, values)?)?);
        }
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> DfResult<()> {
        let lists = states[0].as_list::<i32>();
        for i in (0..lists.len()).filter(|i| lists.is_valid(*i)) {
            let spans = lists.value(i);
            let spans = spans.as_struct();
            if !spans.is_empty() {
                self.spans.push(compact(RecordBatch::try_new(self.schema.clone(), spans.columns().to_vec())?)?);
            }
        }
        Ok(())
    }

    fn state(&mut self) -> DfResult<Vec<ScalarValue>> {
        let spans = StructArray::from(self.all()?);
        Ok(vec![ScalarValue::List(Arc::new(list_of(spans)))])
    }

    fn evaluate(&mut self) -> DfResult<ScalarValue> {
        Ok(ScalarValue::List(Arc::new(derive_records(&self.all()?, &self.opts)?)))
    }

    /// An estimate by rows: the batches are slices of the input's, sharing its buffers and
    /// dictionaries, which their own memory sizes would count once per trace.
    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.spans.iter().map(|b| b.num_rows() * BYTES_PER_SPAN).sum::<usize>()
    }
}
