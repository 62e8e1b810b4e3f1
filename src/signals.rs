//! The `signals` table: one row per Application Signals metric record (Service or Dependency),
//! derived from the span table trace by trace with the rules in [`crate::derive`].
//!
//! The columns the rules read are selected through DataFusion, every span is indexed by trace
//! id, so the parent links of one trace are at hand together, and traces are derived in
//! parallel with rayon and appended to Arrow builders.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock};

use arrow::array::{
    Array, ArrayRef, AsArray, FixedSizeBinaryArray, FixedSizeBinaryBuilder, Float64Builder, Int64Builder, MapArray,
    RecordBatch, StringArray, StringDictionaryBuilder, TimestampNanosecondBuilder,
};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Int32Type, Schema, SchemaRef};
use datafusion::prelude::SessionContext;
use rayon::prelude::*;

use crate::derive::classify::{classify, is_imds, latency_ms, valid_dimension};
use crate::derive::dependency::{DependencySpan, remote_environment, remote_service_operation};
use crate::derive::environment::{EnvironmentResource, Platform, environment};
use crate::derive::local::{IngressSpan, ingress_operation, local_service};
use crate::derive::propagate::{TraceSpan, local_roots, propagate};
use crate::derive::records::{RecordSpan, records};
use crate::derive::remote::{Address, HttpCall};
use crate::derive::resource::{DbConnection, RemoteResource, aws_sdk_resource, db_connection};
use crate::derive::{ATTRIBUTE_KEYS, Compat, Key, SERVICE_KEYS, key, present};
use crate::error::{Error, Result};
use crate::model::builder::AttributeKeys;
use crate::model::schema::{self as span, dict_utf8, timestamp_ns};
use crate::queries;

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
#[derive(Debug, Clone, Default)]
pub struct SignalOptions {
    pub compat: Compat,
    pub platform: Platform,
    /// Cluster name for EKS/K8s environments when the resource has no `k8s.cluster.name`.
    pub cluster: Option<String>,
    /// The kinds of records to derive (both by default).
    pub records: RecordKinds,
}

/// The Parquet key-value metadata key under which a signals file names the kinds of records it
/// holds ([`RecordKinds::text`]); a file without it holds both.
pub const RECORDS_KEY: &str = "spanlens.signals.records";

/// The kinds of records a derivation emits, named as the `record_type` column names them. A run
/// that needs only Service records (the service and operation tables) skips the dependency
/// rules, and the other way round; a signals file says which kinds it holds ([`RECORDS_KEY`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

/// The span columns the derivation reads, as plain arrays.
struct Columns {
    trace_id: FixedSizeBinaryArray,
    span_id: FixedSizeBinaryArray,
    parent_span_id: FixedSizeBinaryArray,
    flags: arrow::array::UInt32Array,
    name: Text,
    kind: Text,
    end_time: arrow::array::Int64Array,
    duration_ns: arrow::array::Int64Array,
    status_code: Text,
    service_name: Text,
    scope_name: Text,
    attributes: AttrMap,
    /// Per row, the index into `resources` of its resource: rows of one resource share one
    /// ([`Columns::read_resources`]).
    resource_of_row: Vec<u32>,
    resources: Vec<ResourceFacts>,
}

/// What the derivation reads from a resource, read once per run of rows with that resource.
struct ResourceFacts {
    /// The Lambda function the resource runs as (§5.1.1 offline adaptation).
    lambda: Option<String>,
    /// §11 environment.
    environment: String,
    /// `service.instance.id` (§2.1 "same ResourceSpans").
    instance_id: Option<String>,
    /// `aws.local.service` (§3).
    aws_local_service: Option<String>,
}

impl ResourceFacts {
    fn read(resource: &Attrs<'_>, service_name: Option<&str>, opts: &SignalOptions) -> Self {
        let lambda = lambda_function(resource, service_name);
        ResourceFacts {
            environment: resource_environment(resource, lambda.is_some(), opts),
            lambda: lambda.map(str::to_string),
            instance_id: resource.get(key!("service.instance.id")).map(str::to_string),
            aws_local_service: resource.get(key!("aws.local.service")).map(str::to_string),
        }
    }
}

/// An attribute map column (`Map<Utf8, Utf8>`, or a keyed map whose keys index a dictionary of
/// key names) with its keys and values as arrays.
struct AttrMap {
    offsets: Vec<usize>,
    keys: MapKeys,
    /// The [`Key`] of each entry, `u8::MAX` for keys the rules do not read.
    ids: Vec<u8>,
    values: StringArray,
    /// A bit per [`Key`] the derivation kept ([`key_mask`]): reading another is a bug, as the
    /// maps may have been cut to these.
    kept: u128,
}

/// An entry of an [`AttrMap`] whose [`Key`] is not looked up yet ([`AttrMap::resolve_row`]).
const UNRESOLVED: u8 = u8::MAX - 1;

/// The keys of an [`AttrMap`]'s entries: their text, or indexes into a dictionary of key names
/// with the [`Key`] of each name (looked up once per name instead of once per entry).
enum MapKeys {
    Text(StringArray),
    Indexed { indexes: arrow::array::Int16Array, ids: Vec<u8> },
}

/// The [`Key`] id of a key's text, `u8::MAX` for keys the rules do not read.
fn key_id(key: Option<&str>) -> u8 {
    key.and_then(Key::find).map_or(u8::MAX, |k| k.0)
}

impl MapKeys {
    fn of(keys: &ArrayRef) -> Result<Self> {
        match keys.as_dictionary_opt::<arrow::datatypes::Int16Type>() {
            Some(dictionary) => {
                let names = utf8(dictionary.values())?;
                Ok(MapKeys::Indexed { indexes: dictionary.keys().clone(), ids: names.iter().map(key_id).collect() })
            }
            None => Ok(MapKeys::Text(utf8(keys)?)),
        }
    }

    fn len(&self) -> usize {
        match self {
            MapKeys::Text(keys) => keys.len(),
            MapKeys::Indexed { indexes, .. } => indexes.len(),
        }
    }

    /// The [`Key`] id of entry `j`.
    fn id(&self, j: usize) -> u8 {
        match self {
            MapKeys::Text(keys) => key_id(keys.is_valid(j).then(|| keys.value(j))),
            MapKeys::Indexed { indexes, ids } if indexes.is_valid(j) => {
                ids.get(indexes.value(j) as usize).copied().unwrap_or(u8::MAX)
            }
            MapKeys::Indexed { .. } => u8::MAX,
        }
    }

    /// Entries `x` and `y` have the same key.
    fn same(&self, x: usize, y: usize) -> bool {
        match self {
            MapKeys::Text(keys) => keys.value(x) == keys.value(y),
            MapKeys::Indexed { indexes, .. } => indexes.value(x) == indexes.value(y),
        }
    }
}

impl AttrMap {
    fn new(array: &ArrayRef, kept: u128) -> Result<Self> {
        let mut map = Self::unresolved(array, kept)?;
        map.resolve(0..map.keys.len());
        Ok(map)
    }

    /// The map with no entry's [`Key`] looked up: for a column of which only some rows are read,
    /// each after [`resolve_row`](Self::resolve_row).
    fn unresolved(array: &ArrayRef, kept: u128) -> Result<Self> {
        let map: &MapArray = array.as_map_opt().ok_or_else(|| internal("attributes are not a map".into()))?;
        let offsets = map.value_offsets().iter().map(|o| *o as usize).collect();
        let keys = MapKeys::of(map.keys())?;
        let ids = vec![UNRESOLVED; keys.len()];
        Ok(AttrMap { offsets, keys, ids, values: utf8(map.values())?, kept })
    }

    /// Look up the [`Key`]s of row `i`'s entries.
    fn resolve_row(&mut self, i: usize) {
        self.resolve(self.offsets[i]..self.offsets[i + 1]);
    }

    /// Look up the [`Key`]s of these entries.
    fn resolve(&mut self, entries: std::ops::Range<usize>) {
        for j in entries {
            self.ids[j] = self.keys.id(j);
        }
    }

    fn row(&self, i: usize) -> Attrs<'_> {
        Attrs { map: self, range: self.offsets[i]..self.offsets[i + 1] }
    }

    /// Rows `a` and `b` hold the same entries in the same order.
    fn same_rows(&self, a: usize, b: usize) -> bool {
        let (ra, rb) = (self.offsets[a]..self.offsets[a + 1], self.offsets[b]..self.offsets[b + 1]);
        ra.len() == rb.len()
            && ra.zip(rb).all(|(x, y)| {
                self.keys.same(x, y)
                    && self.values.is_valid(x) == self.values.is_valid(y)
                    && self.values.value(x) == self.values.value(y)
            })
    }
}

/// The attributes of one span or resource.
#[derive(Clone)]
struct Attrs<'a> {
    map: &'a AttrMap,
    range: std::ops::Range<usize>,
}

impl<'a> Attrs<'a> {
    fn get(&self, key: Key) -> Option<&'a str> {
        let m = self.map;
        debug_assert!(!m.ids[self.range.clone()].contains(&UNRESOLVED), "a row is read before its keys are looked up");
        debug_assert!(
            m.kept & (1u128 << key.0) != 0,
            "the rules read {}, which this derivation does not keep",
            ATTRIBUTE_KEYS[key.0 as usize]
        );
        let j = self.range.start + m.ids[self.range.clone()].iter().position(|id| *id == key.0)?;
        m.values.is_valid(j).then(|| m.values.value(j))
    }

    /// A present (non-empty) value.
    fn text(&self, key: Key) -> Option<&'a str> {
        present(self.get(key))
    }

    /// An integer value; attributes are stored as text, so `"404"` and `404` both parse.
    fn int(&self, key: Key) -> Option<i64> {
        let text = self.text(key)?;
        text.parse::<i64>().ok().or_else(|| {
            let v = text.trim();
            v.parse::<i64>().ok().or_else(|| v.parse::<f64>().ok().filter(|f| f.fract() == 0.0).map(|f| f as i64))
        })
    }
}

/// A string column read as it is stored: through its dictionary when it has one, so that no
/// text is copied per row.
struct Text {
    keys: Option<arrow::array::Int32Array>,
    values: StringArray,
}

impl Text {
    fn new(array: &ArrayRef) -> Result<Self> {
        if let Some(dict) = array.as_dictionary_opt::<Int32Type>()
            && dict.values().data_type() == &DataType::Utf8
        {
            return Ok(Text { keys: Some(dict.keys().clone()), values: dict.values().as_string::<i32>().clone() });
        }
        Ok(Text { keys: None, values: utf8(array)? })
    }

    /// The value of row `i`, `None` when it is null.
    fn opt(&self, i: usize) -> Option<&str> {
        let j = match &self.keys {
            Some(keys) => keys.is_valid(i).then(|| keys.value(i) as usize)?,
            None => i,
        };
        self.values.is_valid(j).then(|| self.values.value(j))
    }

    /// The value of row `i` of a column without nulls (`""` for a null).
    fn value(&self, i: usize) -> &str {
        self.opt(i).unwrap_or_default()
    }
}

fn utf8(array: &ArrayRef) -> Result<StringArray> {
    let array = if array.data_type() == &DataType::Utf8 { array.clone() } else { cast(array, &DataType::Utf8)? };
    Ok(array.as_string::<i32>().clone())
}

impl Columns {
    fn new(batch: &RecordBatch, opts: &SignalOptions) -> Result<Self> {
        let column = |name: &str| {
            batch.column_by_name(name).ok_or_else(|| internal(format!("the span table has no column {name}")))
        };
        let fsb = |name: &str| -> Result<FixedSizeBinaryArray> {
            column(name)?
                .as_fixed_size_binary_opt()
                .cloned()
                .ok_or_else(|| internal(format!("{name} is not fixed-size binary")))
        };
        let int64 = |name: &str| -> Result<arrow::array::Int64Array> {
            Ok(cast(column(name)?, &DataType::Int64)?.as_primitive::<arrow::datatypes::Int64Type>().clone())
        };
        let mut columns = Columns {
            trace_id: fsb(span::TRACE_ID)?,
            span_id: fsb(span::SPAN_ID)?,
            parent_span_id: fsb(span::PARENT_SPAN_ID)?,
            flags: cast(column(span::FLAGS)?, &DataType::UInt32)?.as_primitive().clone(),
            name: Text::new(column(span::NAME)?)?,
            kind: Text::new(column(span::KIND)?)?,
            end_time: int64(span::END_TIME)?,
            duration_ns: int64(span::DURATION_NS)?,
            status_code: Text::new(column(span::STATUS_CODE)?)?,
            service_name: Text::new(column(span::SERVICE_NAME)?)?,
            scope_name: Text::new(column(span::SCOPE_NAME)?)?,
            attributes: AttrMap::new(column(span::ATTRIBUTES)?, key_mask(opts.records))?,
            resource_of_row: Vec::with_capacity(batch.num_rows()),
            resources: Vec::new(),
        };
        columns.read_resources(column(span::RESOURCE_ATTRIBUTES)?, batch.num_rows(), opts)?;
        Ok(columns)
    }

    /// Fill `resources` and `resource_of_row` from `resource_attributes`, reading each resource
    /// once: a map per row (the span table's form) is read where it differs from the previous
    /// row's, a dictionary of the batch's resources (decoded with shared resources) once per
    /// resource. The facts of a resource also depend on its service name, which comes from the
    /// same resource, so rows with the same dictionary key have the same name.
    fn read_resources(&mut self, column: &ArrayRef, rows: usize, opts: &SignalOptions) -> Result<()> {
        let kept = key_mask(opts.records);
        if let Some(dictionary) = column.as_dictionary_opt::<Int32Type>() {
            let mut maps = AttrMap::unresolved(dictionary.values(), kept)?;
            let mut facts_of: Vec<Option<u32>> = vec![None; dictionary.values().len()];
            for (i, key) in dictionary.keys().iter().enumerate() {
                let key = key.ok_or_else(|| internal("a span without a resource".into()))? as usize;
                let slot = facts_of.get_mut(key).ok_or_else(|| internal("a resource key out of range".into()))?;
                let index = match *slot {
                    Some(index) => index,
                    None => {
                        maps.resolve_row(key);
                        self.resources.push(ResourceFacts::read(&maps.row(key), self.service_name.opt(i), opts));
                        let index = (self.resources.len() - 1) as u32;
                        *slot = Some(index);
                        index
                    }
                };
                self.resource_of_row.push(index);
            }
            return Ok(());
        }
        // Read only where the resource changes.
        let mut maps = AttrMap::unresolved(column, kept)?;
        for i in 0..rows {
            let service_name = self.service_name.opt(i);
            let same_as_previous = i > 0 && service_name == self.service_name.opt(i - 1) && maps.same_rows(i, i - 1);
            if !same_as_previous {
                maps.resolve_row(i);
                self.resources.push(ResourceFacts::read(&maps.row(i), service_name, opts));
            }
            self.resource_of_row.push((self.resources.len() - 1) as u32);
        }
        Ok(())
    }

    fn resource(&self, i: usize) -> &ResourceFacts {
        &self.resources[self.resource_of_row[i] as usize]
    }

    fn id8(array: &FixedSizeBinaryArray, i: usize) -> Option<[u8; 8]> {
        array.is_valid(i).then(|| array.value(i).try_into().ok()).flatten()
    }
}

/// §2.1 "same ResourceSpans": the same `service.name` and `service.instance.id`.
/// Resources are numbered per trace, into `ids`, by exact comparison of that pair; `seen` is
/// scratch space.
fn resource_ids<'a>(
    keys: impl Iterator<Item = (Option<&'a str>, Option<&'a str>)>,
    seen: &mut Vec<(Option<&'a str>, Option<&'a str>)>,
    ids: &mut Vec<u64>,
) {
    seen.clear();
    ids.clear();
    ids.extend(keys.map(|key| {
        let id = seen.iter().position(|k| *k == key).unwrap_or_else(|| {
            seen.push(key);
            seen.len() - 1
        });
        id as u64
    }));
}

/// The Lambda function a resource runs as, if it is one (§5.1.1 offline adaptation).
fn lambda_function<'a>(resource: &Attrs<'a>, service_name: Option<&'a str>) -> Option<&'a str> {
    resource
        .text(key!("faas.name"))
        .or_else(|| (resource.get(key!("cloud.platform")) == Some("aws_lambda")).then_some(service_name?))
}

/// §11: the environment of a span's resource.
fn resource_environment(resource: &Attrs<'_>, lambda: bool, opts: &SignalOptions) -> String {
    let ecs_cluster = resource
        .text(key!("aws.ecs.cluster.arn"))
        .and_then(|arn| arn.rsplit('/').next())
        .or_else(|| resource.text(key!("aws.ecs.cluster.name")));
    let r = EnvironmentResource {
        deployment_environment: resource
            .text(key!("deployment.environment.name"))
            .or(resource.text(key!("deployment.environment"))),
        hosted_in: resource.text(key!("aws.hostedin.environment")),
        autoscaling_group: resource.text(key!("ec2.tag.aws:autoscaling:groupName")),
        ecs_cluster,
        k8s_cluster: resource.text(key!("k8s.cluster.name")).or(opts.cluster.as_deref()),
        k8s_namespace: resource.text(key!("k8s.namespace.name")),
    };
    environment(&r, if lambda { Platform::Lambda } else { opts.platform })
}

/// §5.1 input of span `i`.
fn ingress_span<'a>(c: &'a Columns, i: usize, local_root: bool, lambda: Option<&'a str>) -> IngressSpan<'a> {
    let a = c.attributes.row(i);
    IngressSpan {
        name: c.name.value(i),
        is_server: c.kind.value(i) == "SERVER",
        local_root,
        method_new: a.text(key!("http.request.method")),
        method_old: a.text(key!("http.method")),
        url_path: a.text(key!("url.path")),
        http_target: a.text(key!("http.target")),
        url_full: a.text(key!("url.full")),
        http_url: a.text(key!("http.url")),
        lambda_function: lambda,
        lambda_override: a.text(key!("aws.lambda.local.operation.override")),
        scope_name: c.scope_name.opt(i),
    }
}

/// §6 input of span `i`, with the manual remote attributes already propagated (§4.2).
fn dependency_span<'a>(
    a: &Attrs<'a>,
    manual_service: Option<&'a str>,
    manual_operation: Option<&'a str>,
) -> DependencySpan<'a> {
    DependencySpan {
        manual_service,
        manual_operation,
        rpc_system: a.text(key!("rpc.system")),
        rpc_service: a.text(key!("rpc.service")),
        rpc_method: a.text(key!("rpc.method")),
        lambda_function: a.text(key!("aws.lambda.function.name")),
        db_system_new: a.text(key!("db.system.name")),
        db_system_old: a.text(key!("db.system")),
        db_operation_new: a.text(key!("db.operation.name")),
        db_operation_old: a.text(key!("db.operation")),
        db_statement_new: a.text(key!("db.query.text")),
        db_statement_old: a.text(key!("db.statement")),
        faas_invoked_name: a.text(key!("faas.invoked_name")),
        faas_trigger: a.text(key!("faas.trigger")),
        messaging_system: a.text(key!("messaging.system")),
        messaging_operation_type: a.text(key!("messaging.operation.type")),
        messaging_operation: a.text(key!("messaging.operation")),
        graphql_operation_type: a.text(key!("graphql.operation.type")),
        peer_service: a.text(key!("peer.service")),
        address: Address {
            server_address: a.text(key!("server.address")),
            server_port: a.int(key!("server.port")),
            net_peer_name: a.text(key!("net.peer.name")),
            net_peer_port: a.int(key!("net.peer.port")),
            network_peer_address: a.text(key!("network.peer.address")),
            network_peer_port: a.int(key!("network.peer.port")),
            net_sock_peer_addr: a.text(key!("net.sock.peer.addr")),
            net_sock_peer_port: a.int(key!("net.sock.peer.port")),
            url_full: a.text(key!("url.full")),
            http_url: a.text(key!("http.url")),
        },
        http: HttpCall {
            url_full: a.text(key!("url.full")),
            http_url: a.text(key!("http.url")),
            method_new: a.text(key!("http.request.method")),
            method_old: a.text(key!("http.method")),
        },
    }
}

/// §7: the remote resource of a dependency span.
fn remote_resource(a: &Attrs<'_>, compat: Compat) -> Option<RemoteResource> {
    if a.get(key!("rpc.system")) == Some("aws-api") {
        return aws_sdk_resource(
            |k| Key::find(k).and_then(|k| a.get(k)),
            a.text(key!("rpc.service")),
            a.text(key!("rpc.method")),
            compat,
        );
    }
    let db = a.text(key!("db.system.name")).or(a.text(key!("db.system")));
    db?;
    let (peer_address, peer_port) = match compat {
        Compat::Java => (a.text(key!("network.peer.address")), a.int(key!("network.peer.port"))),
        Compat::Python | Compat::Js => (a.text(key!("server.socket.address")), a.int(key!("server.socket.port"))),
    };
    let c = DbConnection {
        namespace: a.text(key!("db.namespace")),
        name: a.text(key!("db.name")),
        server_address: a.text(key!("server.address")),
        server_port: a.int(key!("server.port")),
        net_peer_name: a.text(key!("net.peer.name")),
        net_peer_port: a.int(key!("net.peer.port")),
        peer_address,
        peer_port,
        connection_string: a.text(key!("db.connection_string")),
    };
    db_connection(&c, compat)
}

/// §9.1 status code: Java reads the new key first; Python and JS only the old one.
fn status_code(a: &Attrs<'_>, compat: Compat) -> Option<i64> {
    match compat {
        Compat::Java => a.int(key!("http.response.status_code")).or_else(|| a.int(key!("http.status_code"))),
        Compat::Python | Compat::Js => a.int(key!("http.status_code")),
    }
}

fn telemetry_source(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "LOCAL_ROOT" => "LocalRootSpan",
        "SERVER" => "ServerSpan",
        "CLIENT" => "ClientSpan",
        "PRODUCER" => "ProducerSpan",
        "CONSUMER" => "ConsumerSpan",
        _ => return None,
    })
}

/// Rule 0: records of a span exported by ADOT with its metric attributes already set.
fn preannotated<'a>(
    c: &'a Columns,
    i: usize,
    a: &Attrs<'a>,
    span_kind: &str,
    base: &Row<'a>,
    env: impl Fn() -> &'a str,
    kinds: RecordKinds,
) -> Vec<Row<'a>> {
    let kind = c.kind.value(i);
    let env = Cow::Borrowed(a.text(key!("aws.local.environment")).unwrap_or_else(env));
    let service = Row {
        environment: Some(env),
        service: Cow::Borrowed(a.text(key!("aws.local.service")).unwrap_or_default()),
        operation: a.text(key!("aws.local.operation")).map(Cow::Borrowed),
        ..base.clone()
    };
    let mut out = Vec::new();
    if kinds.service && matches!(span_kind, "LOCAL_ROOT" | "SERVER") {
        out.push(Row { source: telemetry_source(span_kind).unwrap_or("ServerSpan"), ..service.clone() });
    }
    let dependency_kind = if span_kind == "LOCAL_ROOT" { kind } else { span_kind };
    let is_dependency = kinds.dependency
        && match dependency_kind {
            "CLIENT" | "PRODUCER" => true,
            "CONSUMER" => span_kind == "CONSUMER" || a.text(key!("aws.remote.service")).is_some(),
            _ => false,
        };
    if is_dependency {
        let resource = a
            .text(key!("aws.remote.resource.type"))
            .zip(a.text(key!("aws.remote.resource.identifier")).or(a.text(key!("aws.remote.target"))));
        out.push(Row {
            dependency: true,
            source: telemetry_source(dependency_kind).unwrap_or("ClientSpan"),
            remote_service: a.text(key!("aws.remote.service")).map(Cow::Borrowed),
            remote_operation: a.text(key!("aws.remote.operation")).map(Cow::Borrowed),
            remote_environment: a.text(key!("aws.remote.environment")).map(Cow::Borrowed),
            remote_resource: resource.map(|(t, id)| (Cow::Borrowed(t), Cow::Borrowed(id))),
            ..service
        });
    }
    out
}

/// Where one span is: batch and row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct SpanAt {
    trace_id: [u8; 16],
    span_id: [u8; 8],
    batch: u32,
    row: u32,
}

/// The per-span vectors of one trace's derivation, kept from trace to trace by one task.
#[derive(Default)]
struct TraceScratch<'a> {
    at: Vec<(&'a Columns, usize)>,
    attrs: Vec<Attrs<'a>>,
    resources: Vec<&'a ResourceFacts>,
    service_names: Vec<Option<&'a str>>,
    resource_keys: Vec<(Option<&'a str>, Option<&'a str>)>,
    resource_id: Vec<u64>,
    trace_spans: Vec<TraceSpan<'a>>,
}

/// Derive the records of one trace, whose spans are `rows` of `cols`: append them to `out` and
/// count them in `stats`.
fn derive_trace<'a>(
    cols: &'a [Columns],
    rows: &[SpanAt],
    opts: &SignalOptions,
    scratch: &mut TraceScratch<'a>,
    out: &mut Vec<Row<'a>>,
    stats: &mut SignalStats,
) {
    let (compat, kinds) = (opts.compat, opts.records);
    stats.spans += rows.len() as u64;
    stats.traces += 1;
    let mut preannotated_spans = 0;
    let TraceScratch { at, attrs, resources, service_names, resource_keys, resource_id, trace_spans } = scratch;
    at.clear();
    at.extend(rows.iter().map(|r| (&cols[r.batch as usize], r.row as usize)));
    attrs.clear();
    attrs.extend(at.iter().map(|&(c, i)| c.attributes.row(i)));
    resources.clear();
    resources.extend(at.iter().map(|&(c, i)| c.resource(i)));
    service_names.clear();
    service_names.extend(at.iter().map(|&(c, i)| c.service_name.opt(i)));
    resource_ids(
        service_names.iter().zip(resources.iter()).map(|(name, r)| (*name, r.instance_id.as_deref())),
        resource_keys,
        resource_id,
    );
    trace_spans.clear();
    trace_spans.extend(at.iter().enumerate().map(|(k, &(c, i))| TraceSpan {
        span_id: Columns::id8(&c.span_id, i).unwrap_or_default(),
        parent_span_id: Columns::id8(&c.parent_span_id, i),
        flags: c.flags.value(i),
        kind: c.kind.value(i),
        resource: resource_id[k],
        // §4.2 propagates these to dependency records only.
        remote_service: kinds.dependency.then(|| attrs[k].text(key!("aws.remote.service"))).flatten(),
        remote_operation: kinds.dependency.then(|| attrs[k].text(key!("aws.remote.operation"))).flatten(),
    }));
    let (at, attrs, resources, service_names, trace_spans) =
        (&*at, &*attrs, &*resources, &*service_names, &*trace_spans);
    // Each span's ingress operation (§5.1), computed once: propagation asks for a SERVER span's
    // once per local child, and its Service record needs it again. It is always asked with the
    // span's own local-root flag.
    let ingress_ops: Vec<std::cell::OnceCell<(bool, String)>> = vec![std::cell::OnceCell::new(); at.len()];
    let ingress = |k: usize, local_root: bool| -> String {
        let (flag, op) = ingress_ops[k].get_or_init(|| {
            let (c, i) = at[k];
            (local_root, ingress_operation(&ingress_span(c, i, local_root, resources[k].lambda.as_deref()), compat))
        });
        debug_assert_eq!(*flag, local_root, "the ingress operation of a span depends on its own local-root flag");
        op.clone()
    };
    // Service records alone need only the local roots (§2.1), not the values §4 propagates.
    let propagated = if kinds.dependency { propagate(trace_spans, ingress) } else { local_roots(trace_spans) };

    let mut keep = |row: Row<'a>| {
        if let Some(reason) = drop_reason(&row) {
            *stats.dropped.entry(reason).or_default() += 1;
        } else {
            if row.dependency {
                stats.dependency_records += 1;
            } else {
                stats.service_records += 1;
            }
            out.push(row);
        }
    };
    for (k, &(c, i)) in at.iter().enumerate() {
        let a = &attrs[k];
        let kind = c.kind.value(i);
        let outcome = classify(status_code(a, compat), c.status_code.value(i) == "ERROR");
        let base = Row {
            duration_ns: c.duration_ns.value(i),
            error: outcome.error,
            fault: outcome.fault,
            end_time: c.end_time.value(i),
            trace_id: c.trace_id.value(i).try_into().unwrap_or_default(),
            span_id: trace_spans[k].span_id,
            ..Default::default()
        };
        let env = || resources[k].environment.as_str();
        match (a.text(key!("aws.local.service")), a.text(key!("aws.span.kind"))) {
            (Some(_), Some(span_kind)) => {
                preannotated_spans += 1;
                preannotated(c, i, a, span_kind, &base, env, kinds).into_iter().for_each(&mut keep);
            }
            _ => {
                let p = &propagated[k];
                let messaging_operation = match compat {
                    Compat::Java => a.text(key!("messaging.operation.type")).or(a.text(key!("messaging.operation"))),
                    Compat::Python | Compat::Js => a.text(key!("messaging.operation")),
                };
                let which = records(
                    &RecordSpan {
                        kind,
                        local_root: p.local_root,
                        name: c.name.value(i),
                        scope_name: c.scope_name.opt(i),
                        messaging_operation,
                        parent_is_consumer: p.parent_kind == Some("CONSUMER"),
                    },
                    compat,
                );
                let service = which.service.filter(|_| kinds.service);
                let dependency = which.dependency.filter(|_| kinds.dependency);
                if service.is_none() && dependency.is_none() {
                    continue;
                }
                let local = Row {
                    environment: Some(Cow::Borrowed(env())),
                    service: Cow::Borrowed(local_service(
                        resources[k].aws_local_service.as_deref(),
                        service_names[k],
                        compat,
                    )),
                    ..base
                };
                if let Some(source) = service {
                    keep(Row { source, operation: Some(Cow::Owned(ingress(k, p.local_root))), ..local.clone() });
                }
                if let Some(source) = dependency {
                    let d = dependency_span(a, p.remote_service, p.remote_operation);
                    let remote = remote_service_operation(&d, compat);
                    let resource = remote_resource(a, compat);
                    keep(Row {
                        dependency: true,
                        source,
                        operation: Some(Cow::Owned(p.egress_operation(kind))),
                        remote_service: Some(remote.service),
                        remote_operation: Some(remote.operation),
                        remote_environment: remote_environment(&d, a.get(key!("aws.remote.environment")))
                            .map(Cow::Borrowed),
                        remote_resource: resource.map(|r| (Cow::Borrowed(r.resource_type), Cow::Owned(r.identifier))),
                        ..local
                    });
                }
            }
        }
    }
    stats.preannotated_spans += preannotated_spans;
}

/// §9.3: why a record is not emitted, if it is not.
fn drop_reason(row: &Row) -> Option<&'static str> {
    if row.dependency && row.remote_service.as_deref().is_some_and(is_imds) {
        return Some("imds_dependency");
    }
    // Telemetry.Source is one of our own constants; the agent checks the others.
    row.dimensions()[1..].iter().flatten().any(|d| !valid_dimension(d)).then_some("invalid_dimension")
}

/// Arrow builders of the signals table.
struct SignalsBuilder {
    record_type: StringDictionaryBuilder<Int32Type>,
    dims: Vec<StringDictionaryBuilder<Int32Type>>,
    latency: Float64Builder,
    duration: Int64Builder,
    error: Int64Builder,
    fault: Int64Builder,
    timestamp: TimestampNanosecondBuilder,
    trace_id: FixedSizeBinaryBuilder,
    span_id: FixedSizeBinaryBuilder,
}

impl SignalsBuilder {
    fn new() -> Self {
        SignalsBuilder {
            record_type: StringDictionaryBuilder::new(),
            dims: DIMENSIONS.iter().map(|_| StringDictionaryBuilder::new()).collect(),
            latency: Float64Builder::new(),
            duration: Int64Builder::new(),
            error: Int64Builder::new(),
            fault: Int64Builder::new(),
            timestamp: TimestampNanosecondBuilder::new().with_timezone("UTC"),
            trace_id: FixedSizeBinaryBuilder::new(16),
            span_id: FixedSizeBinaryBuilder::new(8),
        }
    }

    /// Append `rows` in order. The dimension columns (a dictionary lookup per value, most of
    /// the work) are built in parallel, one rayon task per column; the rows are the same as
    /// appending them one by one.
    fn append(&mut self, rows: &[&Row]) -> Result<()> {
        let SignalsBuilder { record_type, dims, latency, duration, error, fault, timestamp, trace_id, span_id } = self;
        let (_, fixed) = rayon::join(
            || dims.par_iter_mut().enumerate().for_each(|(d, b)| append_runs(b, rows.iter().map(|r| r.dimension(d)))),
            || -> Result<()> {
                append_runs(
                    record_type,
                    rows.iter().map(|r| Some(if r.dependency { "dependency" } else { "service" })),
                );
                for r in rows {
                    latency.append_value(latency_ms(r.duration_ns));
                    duration.append_value(r.duration_ns);
                    error.append_value(i64::from(r.error));
                    fault.append_value(i64::from(r.fault));
                    timestamp.append_value(r.end_time);
                    trace_id.append_value(r.trace_id)?;
                    span_id.append_value(r.span_id)?;
                }
                Ok(())
            },
        );
        fixed
    }

    fn finish(&mut self) -> Result<RecordBatch> {
        let mut columns: Vec<ArrayRef> = vec![Arc::new(self.record_type.finish())];
        columns.extend(self.dims.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef));
        columns.extend([
            Arc::new(self.latency.finish()) as ArrayRef,
            Arc::new(self.duration.finish()),
            Arc::new(self.error.finish()),
            Arc::new(self.fault.finish()),
            Arc::new(self.timestamp.finish()),
            Arc::new(self.trace_id.finish()),
            Arc::new(self.span_id.finish()),
        ]);
        Ok(RecordBatch::try_new(signals_schema(), columns)?)
    }
}

/// Append `values` to `b` in order. Consecutive records often share a value (those of one
/// resource or operation): one lookup per run of equal values.
fn append_runs<'v>(b: &mut StringDictionaryBuilder<Int32Type>, mut values: impl Iterator<Item = Option<&'v str>>) {
    let Some(mut run) = values.next() else { return };
    let mut n = 1;
    for v in values {
        if v == run {
            n += 1;
        } else {
            append_run(b, run, n);
            (run, n) = (v, 1);
        }
    }
    append_run(b, run, n);
}

fn append_run(b: &mut StringDictionaryBuilder<Int32Type>, value: Option<&str>, n: usize) {
    match value {
        Some(v) => b.append_values(v, n),
        None => b.append_nulls(n),
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
        let stats = SignalStats { records: opts.records, ..SignalStats::default() };
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
    /// indexes into the rule keys) give the records that full maps per row give, also when
    /// consecutive rows change resource and the same resource comes back.
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
            let out = emitted(|deriver, emit| deriver.derive(&[batch], emit).unwrap());
            arrow::compute::concat_batches(&signals_schema(), &out).unwrap()
        };
        let (full, compact) = (derive(false), derive(true));
        assert!(full.num_rows() > 600, "{}", full.num_rows());
        assert_eq!(full, compact);
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
