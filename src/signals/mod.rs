//! The `signals` table: one row per Application Signals metric record (Service or Dependency),
//! derived from the span table trace by trace with the rules in [`crate::derive`].
//!
//! The columns the rules read are selected through DataFusion, every span is indexed by trace
//! id, so the parent links of one trace are at hand together, and traces are derived in
//! parallel with rayon and appended to Arrow builders: [`columns`] reads the span columns and
//! resources, [`trace`] takes one trace through the rules, [`builder`] appends the rows; the
//! table's schema, options, counters and the parallel driver are here.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock};

use arrow::array::{Array, ArrayRef, AsArray, MapArray, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::prelude::SessionContext;
use rayon::prelude::*;

use crate::derive::environment::Platform;
use crate::derive::{ATTRIBUTE_KEYS, Compat, SERVICE_KEYS};
use crate::error::{Error, Result};
use crate::model::builder::AttributeKeys;
use crate::model::schema::{self as span, dict_utf8, timestamp_ns};
use crate::queries;

mod builder;
mod columns;
mod compact;
pub mod function;
mod trace;

use builder::SignalsBuilder;
use columns::{Columns, utf8};
pub use compact::compact_maps;
use trace::{SpanAt, TraceScratch, derive_trace};

/// The table's name, as queries and output files call it.
pub const TABLE: &str = "signals";

/// Column names of the signals table.
pub mod col {
    pub const RECORD_TYPE: &str = "record_type";
    pub const TELEMETRY_SOURCE: &str = "telemetry_source";
    pub const ENVIRONMENT: &str = "environment";
    pub const SERVICE: &str = "service";
    pub const OPERATION: &str = "operation";
    pub const REMOTE_SERVICE: &str = "remote_service";
    pub const REMOTE_OPERATION: &str = "remote_operation";
    pub const REMOTE_ENVIRONMENT: &str = "remote_environment";
    pub const REMOTE_RESOURCE_TYPE: &str = "remote_resource_type";
    pub const REMOTE_RESOURCE_IDENTIFIER: &str = "remote_resource_identifier";
    pub const LATENCY_MS: &str = "latency_ms";
    pub const DURATION_NS: &str = "duration_ns";
    pub const ERROR: &str = "error";
    pub const FAULT: &str = "fault";
    pub const ADJUSTED_COUNT: &str = "adjusted_count";
    pub const TIMESTAMP: &str = "timestamp";
    pub const TRACE_ID: &str = "trace_id";
    pub const SPAN_ID: &str = "span_id";
}

/// The dimension columns (`Telemetry.Source` and the eight of §10.2), in schema order.
const DIMENSIONS: [&str; 9] = [
    col::TELEMETRY_SOURCE,
    col::ENVIRONMENT,
    col::SERVICE,
    col::OPERATION,
    col::REMOTE_SERVICE,
    col::REMOTE_OPERATION,
    col::REMOTE_ENVIRONMENT,
    col::REMOTE_RESOURCE_TYPE,
    col::REMOTE_RESOURCE_IDENTIFIER,
];

static SIGNALS_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let mut fields = vec![Field::new(col::RECORD_TYPE, dict_utf8(), false)];
    fields.extend(DIMENSIONS.iter().map(|name| {
        let required = matches!(*name, col::TELEMETRY_SOURCE | col::SERVICE);
        Field::new(*name, dict_utf8(), !required)
    }));
    fields.extend([
        Field::new(col::LATENCY_MS, DataType::Float64, false),
        Field::new(col::DURATION_NS, DataType::Int64, false),
        Field::new(col::ERROR, DataType::Int64, false),
        Field::new(col::FAULT, DataType::Int64, false),
        Field::new(col::ADJUSTED_COUNT, DataType::Int64, false),
        Field::new(col::TIMESTAMP, timestamp_ns(), false),
        Field::new(col::TRACE_ID, DataType::FixedSizeBinary(16), false),
        Field::new(col::SPAN_ID, DataType::FixedSizeBinary(8), false),
    ]);
    Arc::new(Schema::new(fields))
});

/// The signals table schema.
pub fn signals_schema() -> SchemaRef {
    SIGNALS_SCHEMA.clone()
}

/// How records are derived.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct SignalOptions {
    pub compat: Compat,
    pub platform: Platform,
    /// Cluster name for EKS/K8s environments when the resource has no `k8s.cluster.name`.
    pub cluster: Option<String>,
    /// The kinds of records to derive (both by default).
    pub records: RecordKinds,
    /// Whether records of sampled spans count their adjusted count or once.
    pub sampling: Sampling,
}

/// How records of probability-sampled spans count ([`crate::derive::sampling`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Sampling {
    /// Each record counts its span's adjusted count (1/probability), rounded to a whole number
    /// of requests; spans without a sampling probability count once.
    #[default]
    Adjust,
    /// Every record counts once, whatever its span says.
    Ignore,
}

impl Sampling {
    /// `adjust` or `ignore`.
    pub fn name(self) -> &'static str {
        match self {
            Sampling::Adjust => "adjust",
            Sampling::Ignore => "ignore",
        }
    }
}

/// The Parquet key-value metadata key under which a signals file names the kinds of records it
/// holds ([`RecordKinds::text`]); a file without it holds both.
pub const RECORDS_KEY: &str = "spanlens.signals.records";

/// The kinds of records a derivation emits, named as the `record_type` column names them. A run
/// that needs only Service records (the service and operation tables) skips the dependency
/// rules, and the other way round; a signals file says which kinds it holds ([`RECORDS_KEY`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RecordKinds {
    pub service: bool,
    pub dependency: bool,
}

impl Default for RecordKinds {
    fn default() -> Self {
        RecordKinds::ALL
    }
}

impl RecordKinds {
    pub const ALL: RecordKinds = RecordKinds { service: true, dependency: true };
    /// No kind: what a run that reads no record needs.
    pub const NONE: RecordKinds = RecordKinds { service: false, dependency: false };
    const NAMES: [&str; 2] = ["service", "dependency"];

    fn flags(self) -> [bool; 2] {
        [self.service, self.dependency]
    }

    /// `service,dependency`, `service` or `dependency`.
    pub fn text(self) -> String {
        let names = Self::NAMES.iter().zip(self.flags()).filter(|(_, on)| *on).map(|(name, _)| *name);
        names.collect::<Vec<_>>().join(",")
    }

    /// The kinds [`text`](Self::text) names; `None` for anything else.
    pub fn parse(text: &str) -> Option<RecordKinds> {
        let (mut service, mut dependency) = (false, false);
        for name in text.split(',') {
            match name {
                "service" if !service => service = true,
                "dependency" if !dependency => dependency = true,
                _ => return None,
            }
        }
        Some(RecordKinds { service, dependency })
    }

    /// Every kind of `other` is one of these.
    pub fn covers(self, other: RecordKinds) -> bool {
        (self.service || !other.service) && (self.dependency || !other.dependency)
    }
}

/// What the derivation saw and produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignalStats {
    pub spans: u64,
    pub traces: u64,
    pub service_records: u64,
    pub dependency_records: u64,
    /// Spans that carried ADOT's own attributes (rule 0).
    pub preannotated_spans: u64,
    /// Records not emitted, by reason (§9.3).
    pub dropped: BTreeMap<&'static str, u64>,
    /// Spans that said how they were sampled, by where the adjusted count came from
    /// ([`crate::derive::sampling::SamplingSource::name`]); the others were counted once.
    pub sampled_spans: BTreeMap<&'static str, u64>,
    /// The emitted records' adjusted counts added up: the requests they stand for (equal to
    /// the records when nothing was sampled or `--sampling ignore`).
    pub adjusted_records: u64,
    /// How sampled spans were counted.
    pub sampling: Sampling,
    /// The kinds of records derived: the counts of the others are zero because they were not
    /// derived.
    pub records: RecordKinds,
}

impl SignalStats {
    fn absorb(&mut self, other: &SignalStats) {
        self.spans += other.spans;
        self.traces += other.traces;
        self.service_records += other.service_records;
        self.dependency_records += other.dependency_records;
        self.preannotated_spans += other.preannotated_spans;
        for (reason, n) in &other.dropped {
            *self.dropped.entry(reason).or_default() += n;
        }
        for (source, n) in &other.sampled_spans {
            *self.sampled_spans.entry(source).or_default() += n;
        }
        self.adjusted_records += other.adjusted_records;
    }
}

fn internal(message: String) -> Error {
    Error::Query(datafusion::error::DataFusionError::Execution(message))
}

/// One derived record. Values taken as they are from the span columns are borrowed.
#[derive(Debug, Clone, Default, PartialEq)]
struct Row<'a> {
    dependency: bool,
    source: &'static str,
    environment: Option<Cow<'a, str>>,
    service: Cow<'a, str>,
    operation: Option<Cow<'a, str>>,
    remote_service: Option<Cow<'a, str>>,
    remote_operation: Option<Cow<'a, str>>,
    remote_environment: Option<Cow<'a, str>>,
    remote_resource: Option<(Cow<'a, str>, Cow<'a, str>)>,
    duration_ns: i64,
    error: bool,
    fault: bool,
    /// The requests the record stands for ([`Sampling`]).
    adjusted_count: i64,
    end_time: i64,
    trace_id: [u8; 16],
    span_id: [u8; 8],
}

impl Row<'_> {
    /// The values of the [`DIMENSIONS`] columns, in that order.
    fn dimensions(&self) -> [Option<&str>; DIMENSIONS.len()] {
        std::array::from_fn(|d| self.dimension(d))
    }

    /// The value of the `d`-th of the [`DIMENSIONS`] columns.
    fn dimension(&self, d: usize) -> Option<&str> {
        match d {
            0 => Some(self.source),
            1 => self.environment.as_deref(),
            2 => Some(self.service.as_ref()),
            3 => self.operation.as_deref(),
            4 => self.remote_service.as_deref(),
            5 => self.remote_operation.as_deref(),
            6 => self.remote_environment.as_deref(),
            7 => self.remote_resource.as_ref().map(|(t, _)| t.as_ref()),
            8 => self.remote_resource.as_ref().map(|(_, i)| i.as_ref()),
            _ => None,
        }
    }
}

/// Rows per signals batch.
const BATCH_ROWS: usize = 64 * 1024;

/// Traces derived per parallel step (bounds the records held before they become Arrow).
const TRACES_PER_STEP: usize = 16 * 1024;

/// Traces derived by one task of a step, in order, sharing their scratch space and output.
const TRACES_PER_TASK: usize = 256;

/// Derives the signals table part by part, each part holding whole traces and the parts coming
/// in trace-id order, into batches of [`BATCH_ROWS`] rows: the batches are the same however the
/// spans were split (in memory, or spilled partitions).
pub struct SignalsDeriver<'o> {
    opts: &'o SignalOptions,
    /// Records of earlier parts not yet emitted, in order: fewer than [`BATCH_ROWS`] rows.
    pending: Vec<RecordBatch>,
    stats: SignalStats,
    emitted: usize,
}

impl<'o> SignalsDeriver<'o> {
    pub fn new(opts: &'o SignalOptions) -> Self {
        let stats = SignalStats { records: opts.records, sampling: opts.sampling, ..SignalStats::default() };
        SignalsDeriver { opts, pending: Vec::new(), stats, emitted: 0 }
    }

    /// Derive the records of the spans in `batches` (the columns of `spans_for_signals`);
    /// `emit` gets each full batch of records. Records come out in trace id, then span id order,
    /// whatever the order of the input.
    ///
    /// Traces are derived in the order they first appear in the input, not in trace-id order:
    /// the spans a task reads then lie near each other in the columns instead of all over the
    /// part, and the derivation no longer waits on memory for most of its time. The records are
    /// put in trace-id order afterwards, as Arrow columns.
    pub fn derive(&mut self, batches: &[RecordBatch], emit: &mut dyn FnMut(RecordBatch) -> Result<()>) -> Result<()> {
        let cols: Vec<Columns> = batches.par_iter().map(|b| Columns::new(b, self.opts)).collect::<Result<_>>()?;
        let mut index: Vec<SpanAt> = Vec::with_capacity(cols.iter().map(|c| c.trace_id.len()).sum());
        for (b, c) in cols.iter().enumerate() {
            for i in 0..c.trace_id.len() {
                index.push(SpanAt {
                    trace_id: c.trace_id.value(i).try_into().unwrap_or_default(),
                    span_id: Columns::id8(&c.span_id, i).unwrap_or_default(),
                    batch: b as u32,
                    row: i as u32,
                });
            }
        }
        index.par_sort_unstable();
        // The spans of each trace, in trace-id order: a trace's rank is its place here.
        let mut traces: Vec<std::ops::Range<usize>> = Vec::new();
        let mut start = 0;
        for i in 1..=index.len() {
            if i == index.len() || index[i].trace_id != index[start].trace_id {
                traces.push(start..i);
                start = i;
            }
        }
        // (place of the trace's first span in the input, rank), in input order.
        let mut order: Vec<(u64, u32)> = traces
            .par_iter()
            .enumerate()
            .map(|(rank, spans)| {
                let first = index[spans.clone()].iter().map(|s| (u64::from(s.batch) << 32) | u64::from(s.row)).min();
                (first.unwrap_or_default(), rank as u32)
            })
            .collect();
        order.par_sort_unstable();

        // The index in that order too, each trace's spans where its task reads them.
        let mut in_order = Vec::with_capacity(index.len());
        let mut spans_of = Vec::with_capacity(order.len());
        for &(_, rank) in &order {
            let spans = &index[traces[rank as usize].clone()];
            spans_of.push(in_order.len()..in_order.len() + spans.len());
            in_order.extend_from_slice(spans);
        }
        let index = in_order;

        let mut builder = SignalsBuilder::new();
        let mut records_of_trace = vec![0u32; traces.len()];
        for (step, step_spans) in order.chunks(TRACES_PER_STEP).zip(spans_of.chunks(TRACES_PER_STEP)) {
            let derived: Vec<(Vec<Row>, Vec<u32>, SignalStats)> = step_spans
                .par_chunks(TRACES_PER_TASK)
                .map(|task| {
                    let (mut scratch, mut out, mut stats) =
                        (TraceScratch::default(), Vec::new(), SignalStats::default());
                    let mut counts = Vec::with_capacity(task.len());
                    for spans in task {
                        let before = out.len();
                        derive_trace(&cols, &index[spans.clone()], self.opts, &mut scratch, &mut out, &mut stats);
                        counts.push((out.len() - before) as u32);
                    }
                    (out, counts, stats)
                })
                .collect();
            let mut rows: Vec<&Row> = Vec::new();
            for ((task_rows, counts, s), task) in derived.iter().zip(step.chunks(TRACES_PER_TASK)) {
                self.stats.absorb(s);
                rows.extend(task_rows);
                for (&(_, rank), &n) in task.iter().zip(counts) {
                    records_of_trace[rank as usize] = n;
                }
            }
            builder.append(&rows)?;
            // Many records own strings: free them on all cores.
            drop(rows);
            derived.into_par_iter().for_each(drop);
        }
        // Only the records are needed from here on: what the spans took is freed before the
        // records are copied into order, and each column as soon as it is copied.
        drop((cols, index, spans_of));
        let derived = builder.finish()?.columns().to_vec();
        let indices = trace_id_order(&order, &records_of_trace);
        let columns: Vec<ArrayRef> = derived
            .into_par_iter()
            .map(|c| arrow::compute::take(&c, &indices, None))
            .collect::<std::result::Result<_, _>>()?;
        self.push(RecordBatch::try_new(signals_schema(), columns)?, emit)
    }

    /// Queue `records` (in order, after those pending) and emit every full batch.
    fn push(&mut self, mut records: RecordBatch, emit: &mut dyn FnMut(RecordBatch) -> Result<()>) -> Result<()> {
        while records.num_rows() > 0 {
            let pending: usize = self.pending.iter().map(RecordBatch::num_rows).sum();
            let n = (BATCH_ROWS - pending).min(records.num_rows());
            self.pending.push(records.slice(0, n));
            records = records.slice(n, records.num_rows() - n);
            if pending + n == BATCH_ROWS {
                emit(self.take_pending()?)?;
                self.emitted += 1;
            }
        }
        Ok(())
    }

    fn take_pending(&mut self) -> Result<RecordBatch> {
        let batch = match self.pending.as_slice() {
            [] => SignalsBuilder::new().finish()?,
            [one] => one.clone(),
            many => arrow::compute::concat_batches(&signals_schema(), many)?,
        };
        self.pending.clear();
        Ok(batch)
    }

    /// Emit the last batch (an empty one if there were no records at all) and return the counts.
    pub fn finish(mut self, emit: &mut dyn FnMut(RecordBatch) -> Result<()>) -> Result<SignalStats> {
        if !self.pending.is_empty() || self.emitted == 0 {
            emit(self.take_pending()?)?;
        }
        Ok(self.stats)
    }
}

/// The `take` indices that put records derived trace by trace in `order` (input order: (first
/// span's place, rank)) into trace-id (rank) order; `records_of_trace[rank]` is how many records
/// the trace of that rank has, contiguous where it was derived.
fn trace_id_order(order: &[(u64, u32)], records_of_trace: &[u32]) -> arrow::array::UInt32Array {
    let mut first = Vec::with_capacity(records_of_trace.len());
    let mut total = 0u32;
    for &n in records_of_trace {
        first.push(total);
        total += n;
    }
    let mut take = vec![0u32; total as usize];
    let mut derived_at = 0u32;
    for &(_, rank) in order {
        let (to, n) = (first[rank as usize], records_of_trace[rank as usize]);
        for (j, slot) in take[to as usize..(to + n) as usize].iter_mut().enumerate() {
            *slot = derived_at + j as u32;
        }
        derived_at += n;
    }
    take.into()
}

/// The rule keys a derivation of these kinds of records reads: all of
/// [`crate::derive::ATTRIBUTE_KEYS`], or the first [`SERVICE_KEYS`] for Service records alone.
fn kept_keys(kinds: RecordKinds) -> &'static [&'static str] {
    match kinds.dependency {
        true => ATTRIBUTE_KEYS,
        false => &ATTRIBUTE_KEYS[..SERVICE_KEYS],
    }
}

/// [`kept_keys`] as a set: the attribute keys spans keep for the derivation, when decoded
/// ([`crate::ingest::DecodeOptions::attribute_keys`]) or read from a store.
pub fn rule_keys(kinds: RecordKinds) -> Arc<AttributeKeys> {
    static ALL: LazyLock<Arc<AttributeKeys>> =
        LazyLock::new(|| Arc::new(kept_keys(RecordKinds::ALL).iter().copied().collect()));
    static SERVICE: LazyLock<Arc<AttributeKeys>> = LazyLock::new(|| {
        Arc::new(kept_keys(RecordKinds { service: true, dependency: false }).iter().copied().collect())
    });
    Arc::clone(if kinds.dependency { &ALL } else { &SERVICE })
}

/// [`kept_keys`] as a bit per [`Key`].
fn key_mask(kinds: RecordKinds) -> u128 {
    const _: () = assert!(ATTRIBUTE_KEYS.len() <= 128, "a key mask has a bit per rule key");
    let n = kept_keys(kinds).len();
    if n == 128 { u128::MAX } else { (1u128 << n) - 1 }
}

/// Cut the `attributes` and `resource_attributes` maps of a `spans_for_signals` batch down to
/// the keys a derivation of `kinds` reads ([`rule_keys`]), as decoding for `metrics` does: for
/// spans read from a store, whose maps hold every attribute, before they are held or spilled.
/// Rows, their order and every other column stay as they are.
pub fn keep_rule_keys(batch: &RecordBatch, kinds: RecordKinds) -> Result<RecordBatch> {
    let kept = rule_keys(kinds);
    let mut columns = batch.columns().to_vec();
    for name in [span::ATTRIBUTES, span::RESOURCE_ATTRIBUTES] {
        let Ok(i) = batch.schema().index_of(name) else { continue };
        let map = columns[i].as_map_opt().ok_or_else(|| internal(format!("{name} is not a map")))?;
        let keys = utf8(map.keys())?;
        let keep: arrow::array::BooleanArray = keys.iter().map(|k| Some(k.is_some_and(|k| kept.contains(k)))).collect();
        if keep.true_count() == keep.len() {
            continue;
        }
        let mut offsets = Vec::with_capacity(map.len() + 1);
        offsets.push(0i32);
        let (mut start, mut kept) = (map.value_offsets()[0] as usize, 0i32);
        for end in map.value_offsets()[1..].iter().map(|&o| o as usize) {
            kept += (start..end).filter(|&j| keep.value(j)).count() as i32;
            offsets.push(kept);
            start = end;
        }
        let entries = arrow::compute::filter(map.entries(), &keep)?.as_struct().clone();
        let DataType::Map(field, ordered) = map.data_type() else { unreachable!("as_map_opt checked the type") };
        let offsets = arrow::buffer::OffsetBuffer::new(offsets.into());
        columns[i] = Arc::new(MapArray::try_new(field.clone(), offsets, entries, map.nulls().cloned(), *ordered)?);
    }
    Ok(RecordBatch::try_new(batch.schema(), columns)?)
}

/// Derive the signals table from the `spans` table registered in `ctx`, in memory.
pub async fn derive_signals(ctx: &SessionContext, opts: &SignalOptions) -> Result<(Vec<RecordBatch>, SignalStats)> {
    let batches = ctx.sql(queries::get("spans_for_signals")?.sql).await?.collect().await?;
    let mut out = Vec::new();
    let mut emit = |b: RecordBatch| {
        out.push(b);
        Ok(())
    };
    let mut deriver = SignalsDeriver::new(opts);
    deriver.derive(&batches, &mut emit)?;
    let stats = deriver.finish(&mut emit)?;
    Ok((out, stats))
}

#[cfg(test)]
mod tests {
    use arrow::array::{MapBuilder, StringBuilder};
    use arrow::datatypes::Field;

    use arrow::array::StringArray;
    use arrow::compute::cast;

    use super::columns::*;
    use super::*;

    #[test]
    fn text_columns_read_the_same_through_a_dictionary_or_plain() {
        let plain = vec![Some("SERVER"), None, Some("CLIENT"), Some("SERVER"), Some("")];
        let keys = arrow::array::Int32Array::from(vec![Some(0), None, Some(1), Some(0), Some(3)]);
        let values = StringArray::from(vec![Some("SERVER"), Some("CLIENT"), None, Some("")]);
        let dict: ArrayRef = Arc::new(arrow::array::DictionaryArray::new(keys, Arc::new(values)));
        let view: ArrayRef = Arc::new(arrow::array::StringViewArray::from(plain.clone()));
        let utf8: ArrayRef = Arc::new(StringArray::from(plain.clone()));
        for array in [dict, view, utf8] {
            let text = Text::new(&array).unwrap();
            assert_eq!(text.keys.is_some(), matches!(array.data_type(), DataType::Dictionary(..)));
            let got: Vec<Option<&str>> = (0..plain.len()).map(|i| text.opt(i)).collect();
            assert_eq!(got, plain, "{}", array.data_type());
            assert_eq!((text.value(0), text.value(1)), ("SERVER", ""));
        }
        // A key to a null value is a null.
        let keys = arrow::array::Int32Array::from(vec![2, 0]);
        let values = StringArray::from(vec![Some("a"), Some("b"), None]);
        let dict: ArrayRef = Arc::new(arrow::array::DictionaryArray::new(keys, Arc::new(values)));
        let text = Text::new(&dict).unwrap();
        assert_eq!((text.opt(0), text.opt(1)), (None, Some("a")));
    }

    #[test]
    fn records_derived_in_input_order_are_taken_back_to_trace_id_order() {
        // Traces (rank: records) 0: 2, 1: 0, 2: 3, 3: 1, derived in the order 2, 0, 3, 1: the
        // derived records are [2a 2b 2c 0a 0b 3a].
        let order = [(10, 2), (20, 0), (30, 3), (40, 1)];
        let take = trace_id_order(&order, &[2, 0, 3, 1]);
        assert_eq!(take.values().to_vec(), vec![3, 4, 0, 1, 2, 5]);
        assert_eq!(trace_id_order(&[], &[]).len(), 0);
        assert_eq!(trace_id_order(&[(0, 0)], &[0]).len(), 0);
    }

    /// Signals rows numbered `from..to` in `duration_ns`, with a dimension value per run of ten.
    fn numbered(from: i64, to: i64) -> RecordBatch {
        let rows: Vec<Row> = (from..to)
            .map(|n| Row {
                source: "ServerSpan",
                service: Cow::Owned(format!("s{}", n / 10)),
                duration_ns: n,
                ..Default::default()
            })
            .collect();
        let mut b = SignalsBuilder::new();
        b.append(&rows.iter().collect::<Vec<_>>()).unwrap();
        b.finish().unwrap()
    }

    type Emit<'e> = dyn FnMut(RecordBatch) -> Result<()> + 'e;

    /// The batches a deriver with default options emits while `feed` gives it input, and at its
    /// finish.
    fn emitted(feed: impl FnOnce(&mut SignalsDeriver<'_>, &mut Emit<'_>)) -> Vec<RecordBatch> {
        let opts = SignalOptions::default();
        let mut deriver = SignalsDeriver::new(&opts);
        let mut out = Vec::new();
        let mut emit = |b: RecordBatch| {
            out.push(b);
            Ok(())
        };
        feed(&mut deriver, &mut emit);
        deriver.finish(&mut emit).unwrap();
        out
    }

    #[test]
    fn parts_of_any_size_come_out_in_full_batches_in_order() {
        let cuts = [0, 40_000, 80_000, 80_000, 150_000, 150_001, 160_000];
        let out = emitted(|deriver, emit| {
            for w in cuts.windows(2) {
                deriver.push(numbered(w[0], w[1]), emit).unwrap();
            }
        });
        assert_eq!(
            out.iter().map(RecordBatch::num_rows).collect::<Vec<_>>(),
            vec![BATCH_ROWS, BATCH_ROWS, 160_000 - 2 * BATCH_ROWS]
        );
        let all = arrow::compute::concat_batches(&signals_schema(), &out).unwrap();
        let duration = all.column_by_name(col::DURATION_NS).unwrap().as_primitive::<arrow::datatypes::Int64Type>();
        assert!(duration.values().iter().copied().eq(0..160_000));
        let service = cast(all.column_by_name(col::SERVICE).unwrap(), &DataType::Utf8).unwrap();
        assert_eq!(service.as_string::<i32>().value(123_456), "s12345");
        assert_eq!(all, arrow::compute::concat_batches(&signals_schema(), &[numbered(0, 160_000)]).unwrap());

        // No records at all: one empty batch.
        let out = emitted(|_, _| {});
        assert_eq!(out.iter().map(RecordBatch::num_rows).collect::<Vec<_>>(), vec![0]);
    }

    /// Spans decoded with compact maps (a dictionary of the batch's resources, attribute keys as
    /// indexes into the rule keys), and full maps put in that form as a store's are read
    /// ([`compact_maps`], from text maps and from maps whose keys and values are
    /// dictionaries), give the records that full maps per row give, also when consecutive rows
    /// change resource and the same resource comes back.
    #[test]
    fn compact_maps_derive_as_full_maps_do() {
        use crate::model::builder::SpanBatchBuilder;
        use crate::model::otlp::{AnyValue, KeyValue};
        let mut doc = crate::testing::synthetic_traces(7, 300, 4, 1_700_000_000_000_000_000);
        for (i, rs) in doc.resource_spans.iter_mut().enumerate() {
            for kv in &mut rs.resource.attributes {
                if kv.key == "deployment.environment" {
                    kv.value = AnyValue::String(format!("env-{}", i % 4).into());
                }
            }
            let instance = AnyValue::String(format!("instance-{i}").into());
            rs.resource.attributes.push(KeyValue { key: "service.instance.id".into(), value: instance });
        }
        // The spans of all resources interleaved, so that most rows change resource.
        let mut rows = Vec::new();
        for (r, rs) in doc.resource_spans.iter().enumerate() {
            rows.extend(rs.scope_spans[0].spans.iter().enumerate().map(|(k, span)| (k, r, span)));
        }
        rows.sort_by_key(|&(k, r, _)| (k, r));
        let derive = |compact: bool| {
            let mut b = SpanBatchBuilder::new(1024)
                .with_attribute_keys(compact.then(|| rule_keys(RecordKinds::ALL)))
                .with_shared_resources(compact)
                .with_keyed_attributes(compact);
            for &(_, r, span) in &rows {
                let resource = &doc.resource_spans[r].resource;
                let prepared = b.prepare_resource(&format!("r{r}"), |_| Some(resource.clone())).unwrap();
                b.begin_prepared_resource(&prepared);
                b.begin_scope(&doc.resource_spans[r].scope_spans[0].scope);
                b.append_span(span).unwrap();
            }
            let batch = b.finish();
            assert_eq!(batch.schema(), span::batch_schema(None, compact, compact));
            batch
        };
        let records = |batch: RecordBatch| {
            let out = emitted(|deriver, emit| deriver.derive(&[batch], emit).unwrap());
            arrow::compute::concat_batches(&signals_schema(), &out).unwrap()
        };
        let full_maps = derive(false);
        let from_text = compact_maps(&full_maps, RecordKinds::ALL).unwrap();
        let from_dictionaries = compact_maps(&compact::dictionary_maps(&full_maps), RecordKinds::ALL).unwrap();
        assert_eq!(from_text.schema(), derive(true).schema(), "the form decoding gives");
        for compacted in [&from_text, &from_dictionaries] {
            let dictionary = compacted
                .column_by_name(span::RESOURCE_ATTRIBUTES)
                .unwrap()
                .as_dictionary::<arrow::datatypes::Int32Type>();
            assert_eq!(dictionary.values().len(), doc.resource_spans.len(), "one map per distinct resource");
        }
        let (full, compact) = (records(full_maps), records(derive(true)));
        assert!(full.num_rows() > 600, "{}", full.num_rows());
        assert_eq!(full, compact);
        assert_eq!(full, records(from_text));
        assert_eq!(full, records(from_dictionaries));
        let per_row = full;
        let environments = cast(per_row.column_by_name(col::ENVIRONMENT).unwrap(), &DataType::Utf8).unwrap();
        let distinct: std::collections::BTreeSet<_> = environments.as_string::<i32>().iter().collect();
        assert_eq!(distinct.len(), 4, "{distinct:?}");
    }

    /// The kinds of records named in a signals file's footer read back as written; anything else
    /// is refused; `covers` says whether a file holds what a run needs.
    #[test]
    fn record_kinds_are_named_parsed_and_compared() {
        use super::RecordKinds;
        let service = RecordKinds { service: true, dependency: false };
        let dependency = RecordKinds { service: false, dependency: true };
        for (kinds, text) in
            [(RecordKinds::ALL, "service,dependency"), (service, "service"), (dependency, "dependency")]
        {
            assert_eq!(kinds.text(), text);
            assert_eq!(RecordKinds::parse(text), Some(kinds));
        }
        assert_eq!(RecordKinds::parse("dependency,service"), Some(RecordKinds::ALL));
        for bad in ["", "service,", "services", "service,service", "Service"] {
            assert_eq!(RecordKinds::parse(bad), None, "{bad:?}");
        }
        assert!(RecordKinds::ALL.covers(service) && RecordKinds::ALL.covers(RecordKinds::ALL));
        assert!(!service.covers(RecordKinds::ALL) && !service.covers(dependency) && !dependency.covers(service));
        assert!(service.covers(RecordKinds::NONE) && RecordKinds::NONE.covers(RecordKinds::NONE));
    }

    #[test]
    fn rule_keys_are_kept_and_other_keys_dropped_row_by_row() {
        let mut b = MapBuilder::new(None, StringBuilder::new(), StringBuilder::new());
        let rows: [Option<&[(&str, &str)]>; 4] = [
            Some(&[("http.route", "/a"), ("url.path", "/a/1"), ("thread.name", "t")]),
            None,
            Some(&[("thread.name", "t")]),
            Some(&[("http.request.method", "GET"), ("server.port", "80")]),
        ];
        for row in rows {
            match row {
                Some(entries) => {
                    for (k, v) in entries {
                        b.keys().append_value(k);
                        b.values().append_value(v);
                    }
                    b.append(true).unwrap();
                }
                None => b.append(false).unwrap(),
            }
        }
        let map: ArrayRef = Arc::new(b.finish());
        let n = arrow::array::Int64Array::from(vec![1, 2, 3, 4]);
        let schema = Arc::new(Schema::new(vec![
            Field::new("n", DataType::Int64, false),
            Field::new(span::ATTRIBUTES, map.data_type().clone(), true),
        ]));
        let batch = RecordBatch::try_new(schema, vec![Arc::new(n), map]).unwrap();
        let kept = keep_rule_keys(&batch, RecordKinds::ALL).unwrap();
        let show = |i| arrow::util::display::array_value_to_string(kept.column(1), i).unwrap();
        assert_eq!(
            (show(0), show(1), show(2), show(3)),
            (
                "{url.path: /a/1}".to_string(),
                String::new(),
                "{}".to_string(),
                "{http.request.method: GET, server.port: 80}".to_string()
            )
        );
        assert!(kept.column(1).is_null(1));
        assert_eq!(kept.column(0), batch.column(0));
        // Nothing to drop: the batch comes back as it was.
        let again = keep_rule_keys(&kept, RecordKinds::ALL).unwrap();
        assert_eq!(again.column(1).to_data(), kept.column(1).to_data());
        // Service records alone read no server address.
        let service = keep_rule_keys(&batch, RecordKinds { service: true, dependency: false }).unwrap();
        let show = |i| arrow::util::display::array_value_to_string(service.column(1), i).unwrap();
        assert_eq!((show(0), show(3)), ("{url.path: /a/1}".to_string(), "{http.request.method: GET}".to_string()));
    }
}
