//! `SpanBatchBuilder`: appends decoded spans ([`crate::model::otlp`]) to Arrow builders and
//! finishes them into record batches of the span table ([`crate::model::schema`]).
//!
//! It owns the rules that turn OTLP values into columns: how an `AnyValue` is rendered as text,
//! which spans are rejected (and why), how hot columns pick the first present key, and how long
//! values are truncated. It does no I/O and knows no encoding.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Arc, LazyLock};

use arrow::array::{Array, ArrowPrimitiveType, AsArray, PrimitiveBuilder};
use arrow::array::{
    ArrayRef, BooleanBuilder, DictionaryArray, FixedSizeBinaryBuilder, Int16Array, Int32Array, Int64Builder, ListArray,
    MapArray, MapBuilder, MapFieldNames, NullArray, RecordBatch, StringArray, StringBuilder, StringDictionaryBuilder,
    StructArray, TimestampNanosecondBuilder, UInt32Builder,
};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{Int16Type, Int32Type, SchemaRef};
use base64::Engine as _;

use super::otlp::{
    AnyValue, FLAG_HAS_IS_REMOTE, FLAG_IS_REMOTE, KIND_NAMES, KeyValue, Resource, STATUS_NAMES, Scope, Span,
};
use super::schema::{self, HOT_COLUMNS, HotType, Origin};

/// Why a span was not added to the table. `reason` is the `run_info` reason key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpanReject {
    pub reason: &'static str,
    pub message: String,
}

/// Check the invariants every row of the span table holds.
pub fn validate_span(span: &Span<'_>) -> Result<(), SpanReject> {
    let reject = |reason, message: String| Err(SpanReject { reason, message });
    if span.trace_id.is_none() {
        return reject("missing_trace_id", format!("span {:?} has an empty or all-zero trace id", span.name));
    }
    let Some(span_id) = span.span_id else {
        return reject("missing_span_id", format!("span {:?} has an empty or all-zero span id", span.name));
    };
    if span.start_time_unix_nano == 0 {
        return reject("missing_start_time", format!("span {} ({:?}) has no start time", hex(&span_id), span.name));
    }
    if span.end_time_unix_nano < span.start_time_unix_nano {
        let by = span.start_time_unix_nano - span.end_time_unix_nano;
        return reject(
            "negative_duration",
            format!("span {} ({:?}) ends {} before it starts", hex(&span_id), span.name, human_duration(by)),
        );
    }
    if i64::try_from(span.end_time_unix_nano).is_err() {
        return reject("time_out_of_range", format!("span {} ({:?}) ends after year 2262", hex(&span_id), span.name));
    }
    Ok(())
}

fn human_duration(ns: u64) -> String {
    if ns >= 1_000_000_000 {
        format!("{:.3} s", ns as f64 / 1e9)
    } else if ns >= 1_000_000 {
        format!("{:.3} ms", ns as f64 / 1e6)
    } else {
        format!("{ns} ns")
    }
}

/// Lower-case hex of an id (or any bytes).
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 15)] as char);
    }
    out
}

/// Renders an `AnyValue` as the text stored in attribute maps: strings as they are, integers in
/// decimal, doubles in shortest round-trip form (`NaN`, `Infinity`, `-Infinity`), booleans as
/// `true`/`false`, bytes as standard base64, arrays and key-value lists as compact JSON.
/// The empty value renders as `None` (a null map value).
pub fn render_value<'v>(value: &'v AnyValue<'_>) -> Option<Cow<'v, str>> {
    Some(match value {
        AnyValue::Empty => return None,
        AnyValue::String(s) => Cow::Borrowed(s.as_ref()),
        AnyValue::Bool(b) => Cow::Borrowed(if *b { "true" } else { "false" }),
        AnyValue::Int(i) => Cow::Owned(i.to_string()),
        AnyValue::Double(d) => Cow::Owned(render_double(*d)),
        AnyValue::Bytes(b) => Cow::Owned(base64::engine::general_purpose::STANDARD.encode(b)),
        AnyValue::Array(_) | AnyValue::KvList(_) => {
            let mut out = String::new();
            write_json(value, &mut out);
            Cow::Owned(out)
        }
    })
}

fn render_double(d: f64) -> String {
    if d.is_nan() {
        "NaN".into()
    } else if d.is_infinite() {
        if d > 0.0 { "Infinity".into() } else { "-Infinity".into() }
    } else {
        let mut s = format!("{d}");
        if d.fract() == 0.0 && !s.contains('e') && !s.contains('.') && d.abs() < 1e16 {
            s.push_str(".0");
        }
        s
    }
}

fn write_json(value: &AnyValue<'_>, out: &mut String) {
    match value {
        AnyValue::Empty => out.push_str("null"),
        AnyValue::String(s) => write_json_string(s, out),
        AnyValue::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        AnyValue::Int(i) => {
            let _ = write!(out, "{i}");
        }
        AnyValue::Double(d) if d.is_finite() => out.push_str(&render_double(*d)),
        AnyValue::Double(d) => write_json_string(&render_double(*d), out),
        AnyValue::Bytes(b) => write_json_string(&base64::engine::general_purpose::STANDARD.encode(b), out),
        AnyValue::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(item, out);
            }
            out.push(']');
        }
        AnyValue::KvList(kvs) => {
            out.push('{');
            for (i, kv) in kvs.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json_string(&kv.key, out);
                out.push(':');
                write_json(&kv.value, out);
            }
            out.push('}');
        }
    }
}

fn write_json_string(s: &str, out: &mut String) {
    // serde_json's escaping of a &str cannot fail.
    out.push_str(&serde_json::to_string(s).unwrap_or_default());
}

/// Truncate `s` to at most `max` bytes at a character boundary. Returns whether it was cut.
fn truncate(s: Cow<'_, str>, max: usize) -> (Cow<'_, str>, bool) {
    if s.len() <= max {
        return (s, false);
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    let cut = match s {
        Cow::Borrowed(b) => Cow::Borrowed(&b[..end]),
        Cow::Owned(mut o) => {
            o.truncate(end);
            Cow::Owned(o)
        }
    };
    (cut, true)
}

/// Map from attribute key to (hot column index, key priority). Looked up once per attribute, so
/// it uses a fast non-cryptographic hash.
type KeyIndex = HashMap<&'static str, (usize, u8), foldhash::fast::RandomState>;

/// The attribute keys kept in the `attributes` and `resource_attributes` maps when a consumer
/// reads only some (the derivation): other keys are left out of the rows, not rendered at all.
/// Each key has an index, its position in the list it was made from (repeats ignored), by which
/// keyed maps ([`SpanBatchBuilder::with_keyed_attributes`]) refer to it.
#[derive(Debug, Clone)]
pub struct AttributeKeys {
    index: HashMap<&'static str, i16, foldhash::fast::RandomState>,
    /// The keys in index order: the values of a keyed map's key dictionary.
    names: ArrayRef,
}

impl FromIterator<&'static str> for AttributeKeys {
    fn from_iter<I: IntoIterator<Item = &'static str>>(keys: I) -> Self {
        let mut index = HashMap::default();
        let mut names = Vec::new();
        for key in keys {
            if !index.contains_key(key) {
                let i = i16::try_from(names.len()).expect("fewer than 2^15 attribute keys");
                index.insert(key, i);
                names.push(key);
            }
        }
        AttributeKeys { index, names: Arc::new(StringArray::from(names)) }
    }
}

impl AttributeKeys {
    pub fn contains(&self, key: &str) -> bool {
        self.index.contains_key(key)
    }

    /// The index of `key`, if it is kept.
    pub fn index(&self, key: &str) -> Option<i16> {
        self.index.get(key).copied()
    }

    /// The keys in index order.
    pub fn names(&self) -> &ArrayRef {
        &self.names
    }
}

/// Whether an attribute map keeps `key`: every key when no set is given.
fn keeps(keys: Option<&AttributeKeys>, key: &str) -> bool {
    keys.is_none_or(|k| k.contains(key))
}

/// The key indexes of hot columns, per origin.
struct HotIndex {
    span: KeyIndex,
    resource: KeyIndex,
}

static HOT_INDEX: LazyLock<HotIndex> = LazyLock::new(|| {
    let mut index = HotIndex { span: KeyIndex::default(), resource: KeyIndex::default() };
    for (col, h) in HOT_COLUMNS.iter().enumerate() {
        let map = match h.origin {
            Origin::Span => &mut index.span,
            Origin::Resource => &mut index.resource,
        };
        for (prio, key) in h.keys.iter().enumerate() {
            map.insert(*key, (col, u8::try_from(prio).unwrap_or(u8::MAX)));
        }
    }
    index
});

#[derive(Debug, Clone, PartialEq)]
enum HotValue {
    Text(String),
    Int(i64),
}

/// The integer a hot `Int` column takes from a value: an int, or a decimal string.
fn hot_int(value: &AnyValue<'_>) -> Option<i64> {
    match value {
        AnyValue::Int(i) => Some(*i),
        AnyValue::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Can `value` fill a hot column of type `ty`? (Text columns take any non-empty value.)
fn hot_accepts(ty: HotType, value: &AnyValue<'_>) -> bool {
    match ty {
        HotType::Int => hot_int(value).is_some(),
        HotType::Dict | HotType::Text => !matches!(value, AnyValue::Empty),
    }
}

fn hot_value(ty: HotType, value: &AnyValue<'_>, text: Option<&str>) -> Option<HotValue> {
    match ty {
        HotType::Int => hot_int(value).map(HotValue::Int),
        HotType::Dict | HotType::Text => text.map(|t| HotValue::Text(t.to_string())),
    }
}

enum HotBuilder {
    Dict(StringDictionaryBuilder<Int32Type>),
    Text(StringBuilder),
    Int(Int64Builder),
}

impl HotBuilder {
    /// Append the value of attribute `value`, whose text form (already truncated) is `text`.
    fn append_attr(&mut self, value: &AnyValue<'_>, text: Option<&str>) {
        match self {
            HotBuilder::Dict(b) => b.append_option(text),
            HotBuilder::Text(b) => b.append_option(text),
            HotBuilder::Int(b) => b.append_option(hot_int(value)),
        }
    }

    fn append_nulls(&mut self, n: usize) {
        match self {
            HotBuilder::Dict(b) => b.append_nulls(n),
            HotBuilder::Text(b) => b.append_nulls(n),
            HotBuilder::Int(b) => b.append_nulls(n),
        }
    }

    /// Append `value` `n` times.
    fn append_n(&mut self, value: Option<&HotValue>, n: usize) {
        match (self, value) {
            (HotBuilder::Dict(b), Some(HotValue::Text(s))) => b.append_values(s, n),
            (HotBuilder::Text(b), Some(HotValue::Text(s))) => b.append_value_n(s, n),
            (HotBuilder::Int(b), Some(HotValue::Int(i))) => b.append_value_n(*i, n),
            (b, _) => b.append_nulls(n),
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            HotBuilder::Dict(b) => Arc::new(b.finish()),
            HotBuilder::Text(b) => Arc::new(b.finish()),
            HotBuilder::Int(b) => Arc::new(b.finish()),
        }
    }
}

type AttrMapBuilder = MapBuilder<StringBuilder, StringBuilder>;

fn map_builder() -> AttrMapBuilder {
    sized_map_builder(START, START, START * 8, START * 8)
}

fn sized_map_builder(rows: usize, entries: usize, key_bytes: usize, value_bytes: usize) -> AttrMapBuilder {
    let names = MapFieldNames { entry: "entries".into(), key: "keys".into(), value: "values".into() };
    let keys = StringBuilder::with_capacity(entries, key_bytes);
    MapBuilder::with_capacity(Some(names), keys, StringBuilder::with_capacity(entries, value_bytes), rows)
}

/// Finishing an Arrow builder leaves it with no room, so every batch's columns would grow from
/// nothing by doubling: a copy, and often fresh pages, at every step. `finish_sized` finishes a
/// builder and leaves it with room for what it just held, since a builder's next batch fills
/// about as much as its last.
trait FinishSized {
    fn finish_sized(&mut self) -> ArrayRef;
}

impl FinishSized for FixedSizeBinaryBuilder {
    fn finish_sized(&mut self) -> ArrayRef {
        let array = self.finish();
        *self = FixedSizeBinaryBuilder::with_capacity(array.len(), array.value_length());
        Arc::new(array)
    }
}

impl FinishSized for StringBuilder {
    fn finish_sized(&mut self) -> ArrayRef {
        let array = self.finish();
        *self = StringBuilder::with_capacity(array.len(), array.value_data().len());
        Arc::new(array)
    }
}

impl FinishSized for BooleanBuilder {
    fn finish_sized(&mut self) -> ArrayRef {
        let array = self.finish();
        *self = BooleanBuilder::with_capacity(array.len());
        Arc::new(array)
    }
}

impl<T: ArrowPrimitiveType> FinishSized for PrimitiveBuilder<T> {
    fn finish_sized(&mut self) -> ArrayRef {
        let array = self.finish();
        *self = PrimitiveBuilder::with_capacity(array.len()).with_data_type(array.data_type().clone());
        Arc::new(array)
    }
}

impl FinishSized for StringDictionaryBuilder<Int32Type> {
    fn finish_sized(&mut self) -> ArrayRef {
        let array = self.finish();
        let values = array.values().as_string::<i32>();
        *self = StringDictionaryBuilder::with_capacity(array.len(), values.len(), values.value_data().len());
        Arc::new(array)
    }
}

impl FinishSized for AttrMapBuilder {
    fn finish_sized(&mut self) -> ArrayRef {
        let array = self.finish();
        let (keys, values) = (array.keys().as_string::<i32>(), array.values().as_string::<i32>());
        *self = sized_map_builder(array.len(), keys.len(), keys.value_data().len(), values.value_data().len());
        Arc::new(array)
    }
}

/// Rendered attributes of a resource or scope, kept while its spans are appended.
type RenderedAttrs = Vec<(String, Option<String>)>;

/// What the builder takes from a resource for the rows of its spans.
#[derive(Default)]
struct ResourceContext {
    attributes: RenderedAttrs,
    dropped_attributes_count: u32,
    service_name: Option<String>,
    /// One slot per hot column; only resource-origin columns are filled.
    hot: Vec<Option<HotValue>>,
    /// Attribute values cut to `max_value_bytes`, counted again each time the resource begins.
    truncated: u64,
}

/// A resource as the builder prepared it, ready to [begin](SpanBatchBuilder::begin_prepared_resource)
/// any number of times: the spans of identical resources share it.
#[derive(Clone)]
pub struct PreparedResource(Arc<ResourceContext>);

/// Bounds of the cache of prepared resources kept by their encoded text: past either, it starts
/// afresh (prepared resources already handed out stay valid).
const CACHED_RESOURCES: usize = 256;
const CACHED_RESOURCE_BYTES: usize = 1 << 20;

/// `resource_attributes` as each batch's distinct resources, one map each, and a key per row
/// ([`SpanBatchBuilder::with_shared_resources`]).
#[derive(Default)]
struct SharedResources {
    keys: Vec<i32>,
    /// The key of each resource of the batch by its address; `held` keeps the resources alive,
    /// so an address cannot be reused by another resource within the batch.
    key_of: HashMap<usize, i32, foldhash::fast::RandomState>,
    held: Vec<Arc<ResourceContext>>,
    maps: Option<AttrMapBuilder>,
}

impl SharedResources {
    /// Append `n` rows of `resource`, adding its map to the batch's dictionary the first time.
    fn append(&mut self, resource: &Arc<ResourceContext>, n: usize) {
        let address = Arc::as_ptr(resource) as usize;
        let key = match self.key_of.get(&address) {
            Some(&key) => key,
            None => {
                let key = i32::try_from(self.held.len()).expect("fewer than 2^31 resources per batch");
                append_rendered(self.maps.get_or_insert_with(map_builder), &resource.attributes);
                self.key_of.insert(address, key);
                self.held.push(Arc::clone(resource));
                key
            }
        };
        self.keys.extend(std::iter::repeat_n(key, n));
    }

    /// The batch's column, leaving the builder empty (with room for as many rows) for the next.
    fn finish(&mut self) -> ArrayRef {
        let values = self.maps.get_or_insert_with(map_builder).finish();
        self.key_of.clear();
        self.held.clear();
        let rows = self.keys.len();
        let keys = Int32Array::from(std::mem::replace(&mut self.keys, Vec::with_capacity(rows)));
        // Every key indexes a map appended with it.
        Arc::new(DictionaryArray::<Int32Type>::try_new(keys, Arc::new(values)).expect("keys index the resources"))
    }
}

/// The span `attributes` column with its keys as indexes into the kept keys' names (a dictionary
/// of keys, [`SpanBatchBuilder::with_keyed_attributes`]) instead of their text in every entry.
struct KeyedMapBuilder {
    offsets: Vec<i32>,
    keys: Vec<i16>,
    values: StringBuilder,
}

impl KeyedMapBuilder {
    fn new() -> Self {
        KeyedMapBuilder { offsets: vec![0], keys: Vec::new(), values: StringBuilder::with_capacity(START, START * 8) }
    }

    fn row_done(&mut self) {
        let len = i32::try_from(self.keys.len()).expect("fewer than 2^31 attributes per batch");
        self.offsets.push(len);
    }

    /// The batch's column over the key names `names`, leaving room for as much in the next.
    fn finish(&mut self, names: &ArrayRef) -> ArrayRef {
        let (entries, rows) = (self.keys.len(), self.offsets.len());
        let keys = std::mem::replace(&mut self.keys, Vec::with_capacity(entries));
        let offsets = std::mem::replace(&mut self.offsets, Vec::with_capacity(rows));
        self.offsets.push(0);
        // Keys are indexes given by the same `AttributeKeys` that named them.
        let keys = DictionaryArray::<Int16Type>::try_new(Int16Array::from(keys), Arc::clone(names))
            .expect("keys index the kept keys");
        let entries =
            StructArray::new(schema::keyed_entries_fields(), vec![Arc::new(keys), self.values.finish_sized()], None);
        // Offsets grow with every row, from 0 to the number of entries.
        let map =
            MapArray::try_new(schema::keyed_entries_field(), OffsetBuffer::new(offsets.into()), entries, None, false)
                .expect("offsets span the entries");
        Arc::new(map)
    }
}

#[derive(Default)]
struct ScopeContext {
    name: Option<String>,
    version: Option<String>,
    attributes: RenderedAttrs,
}

/// Builders of a `list<struct>` column (events or links) assembled by hand.
struct EventBuilders {
    offsets: Vec<i32>,
    time: TimestampNanosecondBuilder,
    name: StringBuilder,
    attributes: AttrMapBuilder,
    dropped: UInt32Builder,
}

struct LinkBuilders {
    offsets: Vec<i32>,
    trace_id: FixedSizeBinaryBuilder,
    span_id: FixedSizeBinaryBuilder,
    trace_state: StringBuilder,
    flags: UInt32Builder,
    attributes: AttrMapBuilder,
    dropped: UInt32Builder,
}

/// Appends spans and produces batches of the span table.
pub struct SpanBatchBuilder {
    max_value_bytes: usize,
    values_truncated: u64,
    rows: usize,
    resource: Arc<ResourceContext>,
    scope: ScopeContext,
    /// Recently prepared resources by their encoded text ([`prepare_resource`](Self::prepare_resource)),
    /// and the bytes of those texts.
    prepared: HashMap<Box<str>, PreparedResource, foldhash::fast::RandomState>,
    prepared_bytes: usize,

    trace_id: FixedSizeBinaryBuilder,
    span_id: FixedSizeBinaryBuilder,
    parent_span_id: FixedSizeBinaryBuilder,
    trace_state: StringBuilder,
    flags: UInt32Builder,
    parent_is_remote: BooleanBuilder,
    name: StringDictionaryBuilder<Int32Type>,
    /// Kind and status as keys into the fixed name dictionaries (no hashing per span).
    kind: Vec<i32>,
    start_time: TimestampNanosecondBuilder,
    end_time: TimestampNanosecondBuilder,
    duration_ns: Int64Builder,
    status_code: Vec<i32>,
    status_message: StringBuilder,
    service_name: StringDictionaryBuilder<Int32Type>,
    resource_attributes: AttrMapBuilder,
    /// Instead of `resource_attributes`, when the batches share each resource's map.
    shared_resources: Option<SharedResources>,
    resource_dropped: UInt32Builder,
    scope_name: StringDictionaryBuilder<Int32Type>,
    scope_version: StringDictionaryBuilder<Int32Type>,
    scope_attributes: AttrMapBuilder,
    attributes: AttrMapBuilder,
    /// Instead of `attributes`, when the maps' keys are indexes into the kept keys: asked for
    /// with `keyed`, made when there are kept keys.
    keyed_attributes: Option<KeyedMapBuilder>,
    keyed: bool,
    dropped_attributes: UInt32Builder,
    events: EventBuilders,
    dropped_events: UInt32Builder,
    links: LinkBuilders,
    dropped_links: UInt32Builder,
    hot: Vec<HotBuilder>,
    /// Per span: for each hot column, the (key priority, attribute index) chosen so far.
    span_slots: Vec<Option<(u8, usize)>>,
    /// Rows each hot builder holds: span-origin columns are filled lazily, nulls in bulk.
    hot_len: Vec<usize>,
    /// Rows whose resource-level (and scope-level) columns are still to be appended: those
    /// columns are constant over a resource (scope) and appended in bulk when it changes.
    pending_resource: usize,
    pending_scope: usize,
    /// The span-table columns [`finish`](Self::finish) returns (all when `None`), the schema of
    /// the batches, and which of the costlier columns they need: the others are not filled.
    projection: Option<Arc<[usize]>>,
    schema: SchemaRef,
    fill: Fill,
    /// Only these keys go into the span and resource attribute maps (all when `None`).
    keep_keys: Option<Arc<AttributeKeys>>,
}

/// Which optional parts of a span row a projection needs.
#[derive(Debug, Clone, Copy)]
struct Fill {
    hot: bool,
    events: bool,
    links: bool,
    scope_attributes: bool,
}

impl Fill {
    const ALL: Fill = Fill { hot: true, events: true, links: true, scope_attributes: true };

    fn of(projection: &[usize]) -> Fill {
        let schema = schema::span_schema();
        let wants = |name: &str| schema.index_of(name).is_ok_and(|i| projection.contains(&i));
        Fill {
            hot: projection.iter().any(|&i| i >= schema::core_column_count()),
            events: wants(schema::EVENTS),
            links: wants(schema::LINKS),
            scope_attributes: wants(schema::SCOPE_ATTRIBUTES),
        }
    }
}

fn utc_ts() -> TimestampNanosecondBuilder {
    TimestampNanosecondBuilder::with_capacity(START).with_timezone("UTC")
}

/// Rows the builders make room for at first; they double as they fill, and after a finish make
/// room for what they held ([`FinishSized`]). Small, because every
/// input (often a single exporter batch of a few spans) gets a builder of ~60 columns, and
/// Arrow's default of 1,024 rows per column allocated ~600 KB per input.
const START: usize = 64;

impl SpanBatchBuilder {
    /// A builder that truncates attribute values and messages longer than `max_value_bytes`.
    pub fn new(max_value_bytes: usize) -> Self {
        SpanBatchBuilder {
            max_value_bytes,
            values_truncated: 0,
            rows: 0,
            resource: Arc::new(ResourceContext { hot: vec![None; HOT_COLUMNS.len()], ..Default::default() }),
            scope: ScopeContext::default(),
            prepared: HashMap::default(),
            prepared_bytes: 0,
            trace_id: FixedSizeBinaryBuilder::with_capacity(START, 16),
            span_id: FixedSizeBinaryBuilder::with_capacity(START, 8),
            parent_span_id: FixedSizeBinaryBuilder::with_capacity(START, 8),
            trace_state: StringBuilder::with_capacity(START, START * 8),
            flags: UInt32Builder::with_capacity(START),
            parent_is_remote: BooleanBuilder::with_capacity(START),
            name: StringDictionaryBuilder::with_capacity(START, START, START * 8),
            kind: Vec::new(),
            start_time: utc_ts(),
            end_time: utc_ts(),
            duration_ns: Int64Builder::with_capacity(START),
            status_code: Vec::new(),
            status_message: StringBuilder::with_capacity(START, START * 8),
            service_name: StringDictionaryBuilder::with_capacity(START, START, START * 8),
            resource_attributes: map_builder(),
            shared_resources: None,
            resource_dropped: UInt32Builder::with_capacity(START),
            scope_name: StringDictionaryBuilder::with_capacity(START, START, START * 8),
            scope_version: StringDictionaryBuilder::with_capacity(START, START, START * 8),
            scope_attributes: map_builder(),
            attributes: map_builder(),
            keyed_attributes: None,
            keyed: false,
            dropped_attributes: UInt32Builder::with_capacity(START),
            events: EventBuilders {
                offsets: vec![0],
                time: utc_ts(),
                name: StringBuilder::with_capacity(START, START * 8),
                attributes: map_builder(),
                dropped: UInt32Builder::with_capacity(START),
            },
            dropped_events: UInt32Builder::with_capacity(START),
            links: LinkBuilders {
                offsets: vec![0],
                trace_id: FixedSizeBinaryBuilder::with_capacity(START, 16),
                span_id: FixedSizeBinaryBuilder::with_capacity(START, 8),
                trace_state: StringBuilder::with_capacity(START, START * 8),
                flags: UInt32Builder::with_capacity(START),
                attributes: map_builder(),
                dropped: UInt32Builder::with_capacity(START),
            },
            dropped_links: UInt32Builder::with_capacity(START),
            hot: HOT_COLUMNS
                .iter()
                // Sparse columns (and unused under most projections): room is made as they fill.
                .map(|h| match h.ty {
                    HotType::Dict => HotBuilder::Dict(StringDictionaryBuilder::with_capacity(0, 0, 0)),
                    HotType::Text => HotBuilder::Text(StringBuilder::with_capacity(0, 0)),
                    HotType::Int => HotBuilder::Int(Int64Builder::with_capacity(0)),
                })
                .collect(),
            span_slots: vec![None; HOT_COLUMNS.len()],
            hot_len: vec![0; HOT_COLUMNS.len()],
            pending_resource: 0,
            pending_scope: 0,
            projection: None,
            schema: schema::span_schema(),
            fill: Fill::ALL,
            keep_keys: None,
        }
    }

    /// Return only these span-table columns (by index) from [`finish`](Self::finish), and skip
    /// the work for hot columns, events, links and scope attributes when they are not among
    /// them. `None` keeps every column.
    pub fn with_projection(mut self, projection: Option<Arc<[usize]>>) -> Self {
        self.fill = projection.as_deref().map_or(Fill::ALL, Fill::of);
        self.projection = projection;
        self.configure();
        self
    }

    /// Make the keyed map builder when asked for and there are kept keys (drop it otherwise),
    /// and work out the batches' schema.
    fn configure(&mut self) {
        let keyed = self.keyed && self.keep_keys.is_some();
        if keyed != self.keyed_attributes.is_some() {
            self.keyed_attributes = keyed.then(KeyedMapBuilder::new);
        }
        self.schema = schema::batch_schema(self.projection.as_deref(), self.shared_resources.is_some(), keyed);
    }

    /// Give `resource_attributes` as a dictionary over each batch's distinct resources
    /// ([`schema::shared_resource_attributes_type`]) instead of a copy of the map in every row:
    /// for a consumer that reads each resource once, such as the derivation. The spans of one
    /// resource are many, so this saves most of the column's memory and the time to fill it.
    pub fn with_shared_resources(mut self, shared: bool) -> Self {
        self.shared_resources = shared.then(SharedResources::default);
        self.configure();
        self
    }

    /// Give the span `attributes` map's keys as indexes into the kept keys
    /// ([`with_attribute_keys`](Self::with_attribute_keys)), a dictionary over their names
    /// ([`schema::keyed_attributes_type`]), instead of each key's text in every entry: for a
    /// consumer that looks keys up by index, such as the derivation. No effect while no keys are
    /// kept (every key is then kept, and has no index).
    pub fn with_keyed_attributes(mut self, keyed: bool) -> Self {
        self.keyed = keyed;
        self.configure();
        self
    }

    /// Keep only these keys in the span and resource attribute maps (hot columns still see every
    /// attribute). `None` keeps every attribute.
    pub fn with_attribute_keys(mut self, keys: Option<Arc<AttributeKeys>>) -> Self {
        self.keep_keys = keys;
        self.configure();
        self
    }

    /// Rows appended since the last [`finish`](Self::finish).
    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Attribute values and messages cut to `max_value_bytes` since the last call.
    pub fn take_values_truncated(&mut self) -> u64 {
        std::mem::take(&mut self.values_truncated)
    }

    fn text<'v>(&mut self, s: Cow<'v, str>) -> Cow<'v, str> {
        let (s, cut) = truncate(s, self.max_value_bytes);
        self.values_truncated += u64::from(cut);
        s
    }

    /// Attributes rendered as the maps hold them, values cut to `max_value_bytes`; the values
    /// cut are added to `truncated`.
    fn render_attrs<'k>(&self, attrs: impl Iterator<Item = &'k KeyValue<'k>>, truncated: &mut u64) -> RenderedAttrs {
        attrs
            .map(|kv| {
                let value = render_value(&kv.value).map(|v| {
                    let (v, cut) = truncate(v, self.max_value_bytes);
                    *truncated += u64::from(cut);
                    v.into_owned()
                });
                (kv.key.to_string(), value)
            })
            .collect()
    }

    /// Set the resource that the following spans belong to.
    pub fn begin_resource(&mut self, resource: &Resource<'_>) {
        let prepared = PreparedResource(Arc::new(self.resource_context(resource)));
        self.begin_prepared_resource(&prepared);
    }

    /// Set a prepared resource as the one the following spans belong to.
    pub fn begin_prepared_resource(&mut self, resource: &PreparedResource) {
        self.flush_resource_columns();
        self.values_truncated += resource.0.truncated;
        self.resource = Arc::clone(&resource.0);
    }

    /// The prepared form of the resource whose encoded form is `text`, from a cache of the
    /// resources prepared last: `decode` decodes the text when it is not there. `None` when it
    /// does not decode (nothing is cached then).
    pub fn prepare_resource<'t>(
        &mut self,
        text: &'t str,
        decode: impl FnOnce(&'t str) -> Option<Resource<'t>>,
    ) -> Option<PreparedResource> {
        if let Some(prepared) = self.prepared.get(text) {
            return Some(prepared.clone());
        }
        let prepared = PreparedResource(Arc::new(self.resource_context(&decode(text)?)));
        if self.prepared.len() >= CACHED_RESOURCES || self.prepared_bytes + text.len() > CACHED_RESOURCE_BYTES {
            self.prepared.clear();
            self.prepared_bytes = 0;
        }
        self.prepared_bytes += text.len();
        self.prepared.insert(text.into(), prepared.clone());
        Some(prepared)
    }

    /// The length of the text of a cached prepared resource that `text` starts with. The cached
    /// texts are whole encoded values that decoded (JSON objects, or `null`), and such a value
    /// ends where its text ends: it is the resource at the start of `text`.
    pub fn prepared_prefix(&self, text: &str) -> Option<usize> {
        self.prepared.keys().find(|k| text.as_bytes().starts_with(k.as_bytes())).map(|k| k.len())
    }

    fn resource_context(&self, resource: &Resource<'_>) -> ResourceContext {
        let mut hot: Vec<Option<(u8, HotValue)>> = vec![None; HOT_COLUMNS.len()];
        let mut service_name = None;
        for kv in &resource.attributes {
            let hot_key = self.fill.hot && HOT_INDEX.resource.contains_key(kv.key.as_ref());
            if kv.key == "service.name" || hot_key {
                let text = render_value(&kv.value).map(|v| truncate(v, self.max_value_bytes).0);
                if kv.key == "service.name" {
                    service_name = text.as_deref().map(str::to_string);
                }
                if hot_key {
                    offer_hot(&HOT_INDEX.resource, kv, text.as_deref(), &mut hot);
                }
            }
        }
        let keep = self.keep_keys.as_deref();
        let mut truncated = 0;
        let attributes =
            self.render_attrs(resource.attributes.iter().filter(|kv| keeps(keep, &kv.key)), &mut truncated);
        ResourceContext {
            attributes,
            dropped_attributes_count: resource.dropped_attributes_count,
            service_name,
            hot: hot.into_iter().map(|slot| slot.map(|(_, v)| v)).collect(),
            truncated,
        }
    }

    /// Set the instrumentation scope that the following spans belong to.
    pub fn begin_scope(&mut self, scope: &Scope<'_>) {
        self.flush_scope_columns();
        let mut truncated = 0;
        let attributes = self.render_attrs(scope.attributes.iter(), &mut truncated);
        self.values_truncated += truncated;
        let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_string());
        self.scope = ScopeContext { name: non_empty(&scope.name), version: non_empty(&scope.version), attributes };
    }

    /// Append one span (of the current resource and scope), or say why it is rejected.
    pub fn append_span(&mut self, span: &Span<'_>) -> Result<(), SpanReject> {
        validate_span(span)?;
        let (Some(trace_id), Some(span_id)) = (span.trace_id, span.span_id) else {
            unreachable!("validate_span checks ids");
        };
        self.rows += 1;
        // validate_span bounds end <= i64::MAX, and start <= end.
        let start = i64::try_from(span.start_time_unix_nano).unwrap_or(i64::MAX);
        let end = i64::try_from(span.end_time_unix_nano).unwrap_or(i64::MAX);

        append_id(&mut self.trace_id, Some(&trace_id));
        append_id(&mut self.span_id, Some(&span_id));
        append_id(&mut self.parent_span_id, span.parent_span_id.as_ref().map(|p| p.as_slice()));
        let trace_state = (!span.trace_state.is_empty()).then(|| self.text(span.trace_state.clone()));
        self.trace_state.append_option(trace_state);
        self.flags.append_value(span.flags);
        self.parent_is_remote
            .append_option((span.flags & FLAG_HAS_IS_REMOTE != 0).then_some(span.flags & FLAG_IS_REMOTE != 0));
        let name = self.text(span.name.clone());
        self.name.append_value(name);
        self.kind.push(kind_key(span.kind, KIND_NAMES.len()));
        self.start_time.append_value(start);
        self.end_time.append_value(end);
        self.duration_ns.append_value(end - start);
        self.status_code.push(kind_key(span.status.code, STATUS_NAMES.len()));
        let message = (!span.status.message.is_empty()).then(|| self.text(span.status.message.clone()));
        self.status_message.append_option(message);

        self.pending_resource += 1;
        self.pending_scope += 1;

        self.span_slots.fill(None);
        let hot = self.fill.hot;
        for (ai, kv) in span.attributes.iter().enumerate() {
            if hot
                && let Some(&(col, prio)) = HOT_INDEX.span.get(kv.key.as_ref())
                && self.span_slots[col].is_none_or(|(p, _)| p > prio)
                && hot_accepts(HOT_COLUMNS[col].ty, &kv.value)
            {
                self.span_slots[col] = Some((prio, ai));
            }
            if self.keyed_attributes.is_some() {
                // Keyed maps are only made with kept keys.
                let Some(index) = self.keep_keys.as_deref().and_then(|k| k.index(&kv.key)) else { continue };
                let value = render_value(&kv.value).map(|v| self.text(v));
                if let Some(keyed) = &mut self.keyed_attributes {
                    keyed.keys.push(index);
                    keyed.values.append_option(value);
                }
                continue;
            }
            if !keeps(self.keep_keys.as_deref(), &kv.key) {
                continue;
            }
            let value = render_value(&kv.value).map(|v| self.text(v));
            self.attributes.keys().append_value(&kv.key);
            self.attributes.values().append_option(value);
        }
        match &mut self.keyed_attributes {
            Some(keyed) => keyed.row_done(),
            None => map_row_done(&mut self.attributes),
        }
        self.dropped_attributes.append_value(span.dropped_attributes_count);

        let events: &[_] = if self.fill.events { &span.events } else { &[] };
        for event in events {
            let ev_time = i64::try_from(event.time_unix_nano).unwrap_or(i64::MAX);
            self.events.time.append_value(ev_time);
            let ev_name = self.text(event.name.clone());
            self.events.name.append_value(ev_name);
            for kv in &event.attributes {
                let value = render_value(&kv.value).map(|v| self.text(v));
                self.events.attributes.keys().append_value(&kv.key);
                self.events.attributes.values().append_option(value);
            }
            map_row_done(&mut self.events.attributes);
            self.events.dropped.append_value(event.dropped_attributes_count);
        }
        push_offset(&mut self.events.offsets, events.len());
        self.dropped_events.append_value(span.dropped_events_count);

        let links: &[_] = if self.fill.links { &span.links } else { &[] };
        for link in links {
            append_id(&mut self.links.trace_id, link.trace_id.as_ref().map(|t| t.as_slice()));
            append_id(&mut self.links.span_id, link.span_id.as_ref().map(|s| s.as_slice()));
            let state = (!link.trace_state.is_empty()).then(|| self.text(link.trace_state.clone()));
            self.links.trace_state.append_option(state);
            self.links.flags.append_value(link.flags);
            for kv in &link.attributes {
                let value = render_value(&kv.value).map(|v| self.text(v));
                self.links.attributes.keys().append_value(&kv.key);
                self.links.attributes.values().append_option(value);
            }
            map_row_done(&mut self.links.attributes);
            self.links.dropped.append_value(link.dropped_attributes_count);
        }
        push_offset(&mut self.links.offsets, links.len());
        self.dropped_links.append_value(span.dropped_links_count);

        let max = self.max_value_bytes;
        let row = self.rows - 1;
        for (i, slot) in self.span_slots.iter().enumerate() {
            let Some((_, ai)) = *slot else { continue };
            // Rendered a second time (cheap: strings are borrowed); truncation was counted above.
            let value = &span.attributes[ai].value;
            let text = render_value(value).map(|t| truncate(t, max).0);
            let builder = &mut self.hot[i];
            builder.append_nulls(row - self.hot_len[i]);
            builder.append_attr(value, text.as_deref());
            self.hot_len[i] = row + 1;
        }
        Ok(())
    }

    /// Append the resource-level columns of the spans appended since the last flush.
    fn flush_resource_columns(&mut self) {
        let n = std::mem::take(&mut self.pending_resource);
        if n == 0 {
            return;
        }
        let r = &self.resource;
        self.service_name.append_options(r.service_name.as_deref(), n);
        self.resource_dropped.append_value_n(r.dropped_attributes_count, n);
        match &mut self.shared_resources {
            Some(shared) => shared.append(r, n),
            None => {
                for _ in 0..n {
                    append_rendered(&mut self.resource_attributes, &r.attributes);
                }
            }
        }
        for (i, h) in HOT_COLUMNS.iter().enumerate() {
            if self.fill.hot && h.origin == Origin::Resource {
                self.hot[i].append_n(r.hot[i].as_ref(), n);
                self.hot_len[i] += n;
            }
        }
    }

    /// Append the scope-level columns of the spans appended since the last flush.
    fn flush_scope_columns(&mut self) {
        let n = std::mem::take(&mut self.pending_scope);
        if n == 0 {
            return;
        }
        self.scope_name.append_options(self.scope.name.as_deref(), n);
        self.scope_version.append_options(self.scope.version.as_deref(), n);
        if self.fill.scope_attributes {
            for _ in 0..n {
                append_rendered(&mut self.scope_attributes, &self.scope.attributes);
            }
        }
    }

    /// Finish the rows appended so far into a batch and start afresh (resource and scope stay).
    pub fn finish(&mut self) -> RecordBatch {
        self.flush_resource_columns();
        self.flush_scope_columns();
        for (i, h) in HOT_COLUMNS.iter().enumerate() {
            if self.fill.hot && h.origin == Origin::Span {
                self.hot[i].append_nulls(self.rows - self.hot_len[i]);
            }
            self.hot_len[i] = 0;
        }
        let events = {
            let e = &mut self.events;
            let entries = StructArray::new(
                schema::event_fields(),
                vec![
                    e.time.finish_sized(),
                    e.name.finish_sized(),
                    e.attributes.finish_sized(),
                    e.dropped.finish_sized(),
                ],
                None,
            );
            let offsets = OffsetBuffer::new(std::mem::replace(&mut e.offsets, vec![0]).into());
            ListArray::new(schema::event_item_field(), offsets, Arc::new(entries), None)
        };
        let links = {
            let l = &mut self.links;
            let entries = StructArray::new(
                schema::link_fields(),
                vec![
                    l.trace_id.finish_sized(),
                    l.span_id.finish_sized(),
                    l.trace_state.finish_sized(),
                    l.flags.finish_sized(),
                    l.attributes.finish_sized(),
                    l.dropped.finish_sized(),
                ],
                None,
            );
            let offsets = OffsetBuffer::new(std::mem::replace(&mut l.offsets, vec![0]).into());
            ListArray::new(schema::link_item_field(), offsets, Arc::new(entries), None)
        };
        let mut columns: Vec<ArrayRef> = vec![
            self.trace_id.finish_sized(),
            self.span_id.finish_sized(),
            self.parent_span_id.finish_sized(),
            self.trace_state.finish_sized(),
            self.flags.finish_sized(),
            self.parent_is_remote.finish_sized(),
            self.name.finish_sized(),
            Arc::new(fixed_dictionary(std::mem::replace(&mut self.kind, Vec::with_capacity(self.rows)), &KIND_NAMES)),
            self.start_time.finish_sized(),
            self.end_time.finish_sized(),
            self.duration_ns.finish_sized(),
            Arc::new(fixed_dictionary(
                std::mem::replace(&mut self.status_code, Vec::with_capacity(self.rows)),
                &STATUS_NAMES,
            )),
            self.status_message.finish_sized(),
            self.service_name.finish_sized(),
            match &mut self.shared_resources {
                Some(shared) => shared.finish(),
                None => self.resource_attributes.finish_sized(),
            },
            self.resource_dropped.finish_sized(),
            self.scope_name.finish_sized(),
            self.scope_version.finish_sized(),
            self.scope_attributes.finish_sized(),
            match (&mut self.keyed_attributes, &self.keep_keys) {
                (Some(keyed), Some(keys)) => keyed.finish(keys.names()),
                _ => self.attributes.finish_sized(),
            },
            self.dropped_attributes.finish_sized(),
            Arc::new(events),
            self.dropped_events.finish_sized(),
            Arc::new(links),
            self.dropped_links.finish_sized(),
        ];
        // Hot columns are only filled (and finished) when the projection has one; the others are
        // never read (the projection below drops them), so stand-ins of no rows will do.
        let hot = self.fill.hot;
        columns.extend(
            self.hot.iter_mut().map(|h| if hot { h.finish() } else { Arc::new(NullArray::new(0)) as ArrayRef }),
        );
        self.rows = 0;
        // The columns are built to the schema by construction (those a projection skipped are
        // short and dropped here); a mismatch is a bug caught by tests.
        let columns = match &self.projection {
            None => columns,
            Some(p) => p.iter().map(|&i| columns[i].clone()).collect(),
        };
        RecordBatch::try_new(self.schema.clone(), columns).expect("span builder matches the span schema")
    }
}

fn offer_hot(index: &KeyIndex, kv: &KeyValue<'_>, text: Option<&str>, slots: &mut [Option<(u8, HotValue)>]) {
    let Some(&(col, prio)) = index.get(kv.key.as_ref()) else { return };
    if slots[col].as_ref().is_some_and(|(p, _)| *p <= prio) {
        return;
    }
    if let Some(value) = hot_value(HOT_COLUMNS[col].ty, &kv.value, text) {
        slots[col] = Some((prio, value));
    }
}

/// Key of an enum value in its fixed name dictionary: unknown values map to 0
/// (`UNSPECIFIED`/`UNSET`), as `kind_name` and `status_name` do.
fn kind_key(value: i32, names: usize) -> i32 {
    if (0..names as i32).contains(&value) { value } else { 0 }
}

/// A dictionary array over a fixed list of names.
fn fixed_dictionary(keys: Vec<i32>, names: &[&str]) -> DictionaryArray<Int32Type> {
    let values: ArrayRef = Arc::new(StringArray::from(names.to_vec()));
    // Keys come from `kind_key`, always within the names.
    DictionaryArray::try_new(Int32Array::from(keys), values).expect("keys index the fixed names")
}

fn append_id(builder: &mut FixedSizeBinaryBuilder, id: Option<&[u8]>) {
    match id {
        // The builder's width equals the id's array length by construction.
        Some(bytes) => builder.append_value(bytes).expect("id width matches column width"),
        None => builder.append_null(),
    }
}

fn append_rendered(builder: &mut AttrMapBuilder, attrs: &RenderedAttrs) {
    for (k, v) in attrs {
        builder.keys().append_value(k);
        builder.values().append_option(v.as_deref());
    }
    map_row_done(builder);
}

fn map_row_done(builder: &mut AttrMapBuilder) {
    // Keys and values are appended in pairs just above, so lengths always agree.
    builder.append(true).expect("map keys and values have equal length");
}

fn push_offset(offsets: &mut Vec<i32>, added: usize) {
    let last = offsets.last().copied().unwrap_or(0);
    let added = i32::try_from(added).unwrap_or(i32::MAX);
    offsets.push(last.saturating_add(added));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::otlp::Status;

    #[test]
    fn renders_every_any_value_kind() {
        let cases: Vec<(AnyValue<'_>, Option<&str>)> = vec![
            (AnyValue::Empty, None),
            (AnyValue::String("x".into()), Some("x")),
            (AnyValue::Bool(true), Some("true")),
            (AnyValue::Int(-5), Some("-5")),
            (AnyValue::Double(1.5), Some("1.5")),
            (AnyValue::Double(2.0), Some("2.0")),
            (AnyValue::Double(f64::NAN), Some("NaN")),
            (AnyValue::Double(f64::NEG_INFINITY), Some("-Infinity")),
            (AnyValue::Bytes(Cow::Borrowed(b"hi")), Some("aGk=")),
            (
                AnyValue::Array(vec![AnyValue::String("a\"b".into()), AnyValue::Int(1), AnyValue::Empty]),
                Some(r#"["a\"b",1,null]"#),
            ),
            (
                AnyValue::KvList(vec![KeyValue { key: "k".into(), value: AnyValue::Double(f64::INFINITY) }]),
                Some(r#"{"k":"Infinity"}"#),
            ),
        ];
        for (value, want) in cases {
            assert_eq!(render_value(&value).as_deref(), want, "{value:?}");
        }
    }

    #[test]
    fn truncates_at_char_boundary() {
        let (s, cut) = truncate(Cow::Borrowed("héllo"), 2);
        assert_eq!((s.as_ref(), cut), ("h", true));
        let (s, cut) = truncate(Cow::Borrowed("abc"), 3);
        assert_eq!((s.as_ref(), cut), ("abc", false));
    }

    fn span<'a>() -> Span<'a> {
        Span {
            trace_id: Some([1; 16]),
            span_id: Some([2; 8]),
            name: "GET /".into(),
            start_time_unix_nano: 10,
            end_time_unix_nano: 20,
            ..Default::default()
        }
    }

    /// A resource prepared from its text is decoded once while it stays cached, gives the rows
    /// `begin_resource` gives, counts its cut values at every use, and a full cache starts afresh.
    #[test]
    fn prepared_resources_are_decoded_once_and_give_the_same_rows() {
        let resource = |name: &str| Resource {
            attributes: vec![
                KeyValue { key: "service.name".into(), value: AnyValue::String(name.to_string().into()) },
                KeyValue { key: "cloud.region".into(), value: AnyValue::String("eu-west-1".into()) },
            ],
            dropped_attributes_count: 1,
        };
        let names = ["cart", "checkout-service-long-name", "cart", "cart", "checkout-service-long-name"];
        let mut in_place = SpanBatchBuilder::new(12);
        let mut prepared = SpanBatchBuilder::new(12);
        let mut decoded = 0;
        for name in names {
            in_place.begin_resource(&resource(name));
            in_place.append_span(&span()).unwrap();
            let r = prepared.prepare_resource(name, |text| {
                decoded += 1;
                Some(resource(text))
            });
            prepared.begin_prepared_resource(&r.unwrap());
            prepared.append_span(&span()).unwrap();
        }
        assert_eq!(decoded, 2);
        assert_eq!(prepared.take_values_truncated(), 2);
        assert_eq!(in_place.take_values_truncated(), 2);
        assert!(prepared.finish() == in_place.finish());
        assert!(prepared.prepare_resource("bad", |_| None).is_none());
        for i in 0..CACHED_RESOURCES + 1 {
            let text = format!("r{i}");
            prepared.prepare_resource(&text, |_| Some(resource("x"))).unwrap();
            assert!(prepared.prepared.len() <= CACHED_RESOURCES);
        }
        let last = format!("r{CACHED_RESOURCES}");
        assert!(!prepared.prepared.contains_key("cart") && prepared.prepared.contains_key(last.as_str()));
    }

    /// With shared resources, `resource_attributes` holds each batch's distinct resources once
    /// and a key per row; expanded by its keys it is the per-row column, and every other column
    /// is the same. A resource that continues past a finish is held again by the next batch.
    #[test]
    fn shared_resources_hold_each_resource_once_per_batch() {
        let resource = |name: &str| Resource {
            attributes: vec![
                KeyValue { key: "service.name".into(), value: AnyValue::String(name.to_string().into()) },
                KeyValue { key: "k8s.namespace.name".into(), value: AnyValue::String(format!("ns-{name}").into()) },
            ],
            dropped_attributes_count: 0,
        };
        // (resource, spans) runs; `None` finishes a batch.
        let runs =
            [Some(("a", 2)), Some(("b", 1)), Some(("a", 3)), Some(("c", 1)), None, Some(("c", 2)), Some(("a", 1))];
        let mut per_row = SpanBatchBuilder::new(64);
        let mut shared = SpanBatchBuilder::new(64).with_shared_resources(true);
        let (mut plain_batches, mut shared_batches) = (Vec::new(), Vec::new());
        for run in runs.iter().copied().chain([None]) {
            let Some((name, spans)) = run else {
                plain_batches.push(per_row.finish());
                shared_batches.push(shared.finish());
                continue;
            };
            for b in [&mut per_row, &mut shared] {
                let r = b.prepare_resource(name, |text| Some(resource(text))).unwrap();
                b.begin_prepared_resource(&r);
                for _ in 0..spans {
                    b.append_span(&span()).unwrap();
                }
            }
        }
        let column = schema::span_schema().index_of(schema::RESOURCE_ATTRIBUTES).unwrap();
        let mut distinct = Vec::new();
        for (plain, shared) in plain_batches.iter().zip(&shared_batches) {
            assert_eq!(shared.schema(), schema::batch_schema(None, true, false));
            let dictionary = shared.column(column).as_dictionary::<Int32Type>();
            distinct.push(dictionary.values().len());
            let expanded = arrow::compute::take(dictionary.values(), dictionary.keys(), None).unwrap();
            assert_eq!(&expanded, plain.column(column));
            for i in (0..plain.num_columns()).filter(|&i| i != column) {
                assert_eq!(plain.column(i), shared.column(i), "column {i}");
            }
        }
        assert_eq!(distinct, vec![3, 2]);
        let projection: Arc<[usize]> = Arc::from(vec![0, column]);
        let mut projected = SpanBatchBuilder::new(64).with_shared_resources(true).with_projection(Some(projection));
        projected.begin_resource(&resource("a"));
        projected.append_span(&span()).unwrap();
        let batch = projected.finish();
        assert_eq!(batch.schema(), schema::batch_schema(Some(&[0, column]), true, false));
        assert_eq!(batch.column(1).data_type(), &schema::shared_resource_attributes_type());
    }

    /// Keyed attribute maps give each kept key as its index into the kept keys and hold the
    /// entries, values and cut values a map of the same kept keys holds; without kept keys,
    /// keyed maps are not made.
    #[test]
    fn keyed_attributes_index_the_kept_keys() {
        let keys: Arc<AttributeKeys> =
            Arc::new(["url.path", "http.route", "url.path", "db.system"].into_iter().collect());
        assert_eq!(
            keys.names().as_string::<i32>().iter().flatten().collect::<Vec<_>>(),
            ["url.path", "http.route", "db.system"]
        );
        assert_eq!((keys.index("http.route"), keys.index("db.system"), keys.index("x")), (Some(1), Some(2), None));
        let kv = |k: &'static str, v: AnyValue<'static>| KeyValue { key: k.into(), value: v };
        let spans = [
            Span {
                attributes: vec![
                    kv("http.route", AnyValue::String("/r".into())),
                    kv("thread.name", AnyValue::String("t".into())),
                    kv("url.path", AnyValue::String("/a-path-longer-than-sixteen".into())),
                ],
                ..span()
            },
            Span { attributes: vec![], ..span() },
            Span { attributes: vec![kv("db.system", AnyValue::Int(5)), kv("url.path", AnyValue::Empty)], ..span() },
        ];
        let build = |keyed: bool| {
            let mut b =
                SpanBatchBuilder::new(16).with_attribute_keys(Some(Arc::clone(&keys))).with_keyed_attributes(keyed);
            b.begin_resource(&Resource::default());
            b.begin_scope(&Scope::default());
            for s in &spans {
                b.append_span(s).unwrap();
            }
            (b.take_values_truncated(), b.finish())
        };
        let ((cut_text, text), (cut_keyed, keyed)) = (build(false), build(true));
        assert_eq!((cut_text, cut_keyed), (1, 1));
        assert_eq!(keyed.schema(), schema::batch_schema(None, false, true));
        let column = schema::span_schema().index_of(schema::ATTRIBUTES).unwrap();
        let map = keyed.column(column).as_map();
        let indexes = map.keys().as_dictionary::<Int16Type>().keys().values().to_vec();
        assert_eq!(indexes, vec![1, 0, 2, 0]);
        let rows = |batch: &RecordBatch| {
            (0..batch.num_rows())
                .map(|i| arrow::util::display::array_value_to_string(batch.column(column), i).unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(rows(&keyed), rows(&text));
        assert_eq!(rows(&keyed), ["{http.route: /r, url.path: /a-path-longer-t}", "{}", "{db.system: 5, url.path: }"]);
        for i in (0..text.num_columns()).filter(|&i| i != column) {
            assert_eq!(text.column(i), keyed.column(i), "column {i}");
        }
        let unkeyed = SpanBatchBuilder::new(16).with_keyed_attributes(true);
        assert!(unkeyed.keyed_attributes.is_none());
        assert_eq!(unkeyed.schema, schema::span_schema());
        // Asked for before the keys are given: made with them, dropped without them again.
        let later = unkeyed.with_attribute_keys(Some(Arc::clone(&keys)));
        assert!(later.keyed_attributes.is_some());
        assert_eq!(later.schema, schema::batch_schema(None, false, true));
        let dropped = later.with_attribute_keys(None);
        assert!(dropped.keyed_attributes.is_none());
        assert_eq!(dropped.schema, schema::span_schema());
    }

    #[test]
    fn rejects_invalid_spans_with_reasons() {
        let cases: Vec<(Span<'_>, Option<&str>)> = vec![
            (span(), None),
            (Span { trace_id: None, ..span() }, Some("missing_trace_id")),
            (Span { span_id: None, ..span() }, Some("missing_span_id")),
            (Span { start_time_unix_nano: 0, ..span() }, Some("missing_start_time")),
            (Span { end_time_unix_nano: 5, ..span() }, Some("negative_duration")),
            (Span { end_time_unix_nano: u64::MAX, ..span() }, Some("time_out_of_range")),
        ];
        for (s, want) in cases {
            assert_eq!(validate_span(&s).err().map(|r| r.reason), want);
        }
    }

    #[test]
    fn attribute_maps_keep_only_the_listed_keys_and_everything_else_is_unchanged() {
        let kv = |k: &'static str, v: &'static str| KeyValue { key: k.into(), value: AnyValue::String(v.into()) };
        let resource = Resource {
            attributes: vec![kv("service.name", "svc"), kv("k8s.cluster.name", "c1"), kv("host.name", "h1")],
            dropped_attributes_count: 0,
        };
        let spans = [
            Span { attributes: vec![kv("http.route", "/r"), kv("url.path", "/p"), kv("thread.name", "t")], ..span() },
            Span { attributes: vec![kv("thread.name", "t")], ..span() },
        ];
        let build = |keys: Option<Arc<AttributeKeys>>| {
            let mut b = SpanBatchBuilder::new(1024).with_attribute_keys(keys);
            b.begin_resource(&resource);
            b.begin_scope(&Scope::default());
            for s in &spans {
                b.append_span(s).unwrap();
            }
            b.finish()
        };
        let all = build(None);
        let kept = build(Some(Arc::new(["k8s.cluster.name", "url.path"].into_iter().collect())));
        let map = |batch: &RecordBatch, column: &str, row: usize| {
            arrow::util::display::array_value_to_string(batch.column_by_name(column).unwrap(), row).unwrap()
        };
        assert_eq!(map(&kept, "resource_attributes", 0), "{k8s.cluster.name: c1}");
        assert_eq!(map(&kept, "attributes", 0), "{url.path: /p}");
        assert_eq!(map(&kept, "attributes", 1), "{}");
        assert!(map(&all, "resource_attributes", 1).contains("host.name: h1"));
        assert!(map(&all, "attributes", 0).contains("thread.name: t"));
        // Every other column, hot columns and the service name included, is the same.
        for (i, field) in all.schema().fields().iter().enumerate() {
            if !["attributes", "resource_attributes"].contains(&field.name().as_str()) {
                assert_eq!(all.column(i).to_data(), kept.column(i).to_data(), "{}", field.name());
            }
        }
        assert_eq!(strings(&kept, "http_route"), vec![Some("/r".into()), None]);
        assert_eq!(strings(&kept, "service_name"), vec![Some("svc".into()), Some("svc".into())]);
    }

    fn strings(batch: &RecordBatch, column: &str) -> Vec<Option<String>> {
        let array =
            arrow::compute::cast(batch.column_by_name(column).unwrap(), &arrow::datatypes::DataType::Utf8).unwrap();
        let array = array.as_any().downcast_ref::<StringArray>().unwrap();
        array.iter().map(|v| v.map(str::to_string)).collect()
    }

    #[test]
    fn resource_scope_and_sparse_hot_columns_line_up_with_their_spans() {
        let res = |svc: &'static str| Resource {
            attributes: vec![
                KeyValue { key: "service.name".into(), value: AnyValue::String(svc.into()) },
                KeyValue { key: "k8s.cluster.name".into(), value: AnyValue::String(format!("{svc}-cluster").into()) },
            ],
            dropped_attributes_count: 0,
        };
        let scope = |name: &'static str| Scope { name: name.into(), ..Default::default() };
        let with_route = |route: &'static str| Span {
            attributes: vec![KeyValue { key: "http.route".into(), value: AnyValue::String(route.into()) }],
            kind: 2,
            status: Status { code: 2, message: "".into() },
            ..span()
        };
        let mut b = SpanBatchBuilder::new(1024);
        b.begin_resource(&res("a"));
        b.begin_scope(&scope("s1"));
        b.append_span(&span()).unwrap();
        b.append_span(&with_route("/x")).unwrap();
        b.begin_scope(&scope("s2"));
        b.append_span(&span()).unwrap();
        let first = b.finish();
        // The resource and scope carry over a finish.
        b.append_span(&with_route("/y")).unwrap();
        b.begin_resource(&res("b"));
        b.begin_scope(&Scope::default());
        b.append_span(&Span { kind: 9, status: Status { code: 7, message: "".into() }, ..span() }).unwrap();
        let second = b.finish();

        assert_eq!(first.num_rows(), 3);
        let some = |v: &[&str]| v.iter().map(|s| Some(s.to_string())).collect::<Vec<_>>();
        assert_eq!(strings(&first, "service_name"), some(&["a", "a", "a"]));
        assert_eq!(strings(&first, "k8s_cluster_name"), some(&["a-cluster", "a-cluster", "a-cluster"]));
        assert_eq!(strings(&first, "scope_name"), some(&["s1", "s1", "s2"]));
        assert_eq!(strings(&first, "http_route"), vec![None, Some("/x".into()), None]);
        assert_eq!(strings(&first, "kind"), some(&["UNSPECIFIED", "SERVER", "UNSPECIFIED"]));
        assert_eq!(strings(&first, "status_code"), some(&["UNSET", "ERROR", "UNSET"]));
        assert_eq!(strings(&second, "service_name"), some(&["a", "b"]));
        assert_eq!(strings(&second, "scope_name"), vec![Some("s2".into()), None]);
        assert_eq!(strings(&second, "http_route"), vec![Some("/y".into()), None]);
        // Out-of-range enum values show as the unspecified names.
        assert_eq!(strings(&second, "kind"), some(&["SERVER", "UNSPECIFIED"]));
        assert_eq!(strings(&second, "status_code"), some(&["ERROR", "UNSET"]));
        let attrs = second.column_by_name("resource_attributes").unwrap();
        let text = arrow::util::display::array_value_to_string(attrs, 1).unwrap();
        assert!(text.contains("b-cluster"), "{text}");
    }

    /// Finished builders are left with room for their next batch (`finish_sized`): the batches
    /// one builder gives, finished again and again, are those of a fresh builder per batch.
    #[test]
    fn a_builder_gives_after_finishing_the_batches_a_fresh_one_gives() {
        let doc = crate::testing::synthetic_traces(7, 40, 6, 1_700_000_000_000_000_000);
        let spans: Vec<(&Resource<'_>, &Scope<'_>, &Span<'_>)> = doc
            .resource_spans
            .iter()
            .flat_map(|rs| {
                rs.scope_spans.iter().flat_map(move |ss| ss.spans.iter().map(move |s| (&rs.resource, &ss.scope, s)))
            })
            .collect();
        let mut reused = SpanBatchBuilder::new(1024);
        for part in spans.chunks(37) {
            let mut fresh = SpanBatchBuilder::new(1024);
            for b in [&mut reused, &mut fresh] {
                for (resource, scope, span) in part {
                    b.begin_resource(resource);
                    b.begin_scope(scope);
                    b.append_span(span).unwrap();
                }
            }
            let (a, b) = (reused.finish(), fresh.finish());
            assert_eq!(a.num_rows(), part.len());
            assert!(a == b, "batches differ after a finish");
        }
    }

    #[test]
    fn hot_columns_prefer_new_semconv_key_regardless_of_order() {
        let mut b = SpanBatchBuilder::new(1024);
        b.begin_resource(&Resource::default());
        b.begin_scope(&Scope::default());
        let s = Span {
            attributes: vec![
                KeyValue { key: "http.method".into(), value: AnyValue::String("POST".into()) },
                KeyValue { key: "http.request.method".into(), value: AnyValue::String("GET".into()) },
                KeyValue { key: "http.status_code".into(), value: AnyValue::String("404".into()) },
            ],
            ..span()
        };
        b.append_span(&s).unwrap();
        let batch = b.finish();
        let method =
            arrow::compute::cast(batch.column_by_name("http_method").unwrap(), &arrow::datatypes::DataType::Utf8)
                .unwrap();
        let method = method.as_any().downcast_ref::<arrow::array::StringArray>().unwrap();
        assert_eq!(method.value(0), "GET");
        let status = batch
            .column_by_name("http_status_code")
            .unwrap()
            .as_any()
            .downcast_ref::<arrow::array::Int64Array>()
            .unwrap();
        assert_eq!(status.value(0), 404);
    }
}
