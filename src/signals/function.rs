//! The derivation as a DataFusion aggregate function, so that the whole pipeline is SQL an engine
//! (a Ballista cluster among them) can plan: `derive_signals(trace_id, span_id, parent_span_id,
//! flags, trace_state, name, kind, end_time, duration_ns, status_code, service_name, scope_name, attributes,
//! resource_attributes)` over the spans of one trace (`GROUP BY trace_id`) returns that trace's
//! records, a list of structs with the `signals` columns and `ordinal`, the record's place among
//! its trace's. It runs [`SignalsDeriver`] on the trace's spans, so its records are the fast
//! path's; `queries/signals_from_spans.sql` unnests them into the `signals` table, in the fast
//! path's order (trace id, then ordinal).

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int64Array, ListArray, RecordBatch, StructArray, UInt32Array};
use arrow::buffer::OffsetBuffer;
use arrow::compute::{cast, take};
use arrow::datatypes::{DataType, Field, FieldRef, Fields, Schema, SchemaRef};
use datafusion::common::ScalarValue;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{Accumulator, AggregateUDF, AggregateUDFImpl, Signature, Volatility};

use crate::model::schema as span;

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
            let columns = values
                .iter()
                .zip(self.schema.fields())
                .map(|(v, f)| if v.data_type() == f.data_type() { Ok(v.clone()) } else { cast(v, f.data_type()) })
                .collect::<std::result::Result<Vec<_>, _>>()?;
            self.spans.push(compact(RecordBatch::try_new(self.schema.clone(), columns)?)?);
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
        let spans = self.all()?;
        let mut deriver = SignalsDeriver::new(&self.opts);
        let mut records = Vec::new();
        let failed = |e: crate::error::Error| DataFusionError::External(Box::new(e));
        let mut keep = |b| {
            records.push(b);
            Ok(())
        };
        deriver.derive(&[spans], &mut keep).map_err(failed)?;
        deriver.finish(&mut keep).map_err(failed)?;
        let records = arrow::compute::concat_batches(&signals_schema(), &records)?;
        let fields = record_fields();
        let mut columns = records
            .columns()
            .iter()
            .zip(fields.iter())
            .map(|(c, f)| cast(c, f.data_type()))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        columns.push(Arc::new(Int64Array::from_iter_values(0..records.num_rows() as i64)));
        let records = StructArray::try_new(fields, columns, None)?;
        Ok(ScalarValue::List(Arc::new(list_of(records))))
    }

    /// An estimate by rows: the batches are slices of the input's, sharing its buffers and
    /// dictionaries, which their own memory sizes would count once per trace.
    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.spans.iter().map(|b| b.num_rows() * BYTES_PER_SPAN).sum::<usize>()
    }
}
