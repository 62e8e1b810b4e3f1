//! The span table: its one Arrow schema, column names, and the typed "hot attribute" columns.
//!
//! This is the single definition of the span table. Decoders never name a column; the builder and
//! every SQL query use the constants here, and the README's schema section is generated from
//! [`schema_markdown`] (a test keeps the two equal). Changing a column is a format change: bump
//! [`SCHEMA_VERSION`].
//!
//! Design choices (see the README for the reasoning and measurements):
//! * ids are `FixedSizeBinary(16|8)`: half the size of hex text, fast to join on; SQL shows them with
//!   `encode(trace_id, 'hex')`, and Parquet readers see `FIXED_LEN_BYTE_ARRAY`.
//! * low-cardinality strings are `Dictionary(Int32, Utf8)`.
//! * attributes are `Map(Utf8, Utf8)`: every value is kept, with non-string values rendered as text
//!   (see `AnyValue` rendering in the builder), so `attributes['http.route']` works in SQL.

use std::sync::{Arc, LazyLock};

use arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};

/// Version of the span table layout, stored in Parquet metadata.
pub const SCHEMA_VERSION: &str = "1";
/// Parquet key-value metadata key carrying [`SCHEMA_VERSION`].
pub const SCHEMA_VERSION_KEY: &str = "spanlens.schema_version";

pub const TRACE_ID: &str = "trace_id";
pub const SPAN_ID: &str = "span_id";
pub const PARENT_SPAN_ID: &str = "parent_span_id";
pub const TRACE_STATE: &str = "trace_state";
pub const FLAGS: &str = "flags";
pub const PARENT_IS_REMOTE: &str = "parent_is_remote";
pub const NAME: &str = "name";
pub const KIND: &str = "kind";
pub const START_TIME: &str = "start_time";
pub const END_TIME: &str = "end_time";
pub const DURATION_NS: &str = "duration_ns";
pub const STATUS_CODE: &str = "status_code";
pub const STATUS_MESSAGE: &str = "status_message";
pub const SERVICE_NAME: &str = "service_name";
pub const RESOURCE_ATTRIBUTES: &str = "resource_attributes";
pub const RESOURCE_DROPPED_ATTRIBUTES_COUNT: &str = "resource_dropped_attributes_count";
pub const SCOPE_NAME: &str = "scope_name";
pub const SCOPE_VERSION: &str = "scope_version";
pub const SCOPE_ATTRIBUTES: &str = "scope_attributes";
pub const ATTRIBUTES: &str = "attributes";
pub const DROPPED_ATTRIBUTES_COUNT: &str = "dropped_attributes_count";
pub const EVENTS: &str = "events";
pub const DROPPED_EVENTS_COUNT: &str = "dropped_events_count";
pub const LINKS: &str = "links";
pub const DROPPED_LINKS_COUNT: &str = "dropped_links_count";

/// Field names inside `events` and `links` entries.
pub mod nested {
    pub const TIME: &str = "time";
    pub const NAME: &str = "name";
    pub const ATTRIBUTES: &str = "attributes";
    pub const DROPPED_ATTRIBUTES_COUNT: &str = "dropped_attributes_count";
    pub const TRACE_ID: &str = "trace_id";
    pub const SPAN_ID: &str = "span_id";
    pub const TRACE_STATE: &str = "trace_state";
    pub const FLAGS: &str = "flags";
}

/// Where a hot column takes its value from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Resource,
    Span,
}

/// Arrow type of a hot column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HotType {
    /// `Dictionary(Int32, Utf8)`: few distinct values.
    Dict,
    /// `Utf8`: many distinct values (URLs, statements).
    Text,
    /// `Int64`, parsed from an int value or a decimal string; other values leave it null.
    Int,
}

/// A typed column filled from attributes. `keys` are tried in order: the first present wins, so
/// the current semantic-convention key comes first and the older one after it.
#[derive(Debug, Clone, Copy)]
pub struct HotColumn {
    pub name: &'static str,
    pub origin: Origin,
    pub ty: HotType,
    pub keys: &'static [&'static str],
}

const fn hot(name: &'static str, origin: Origin, ty: HotType, keys: &'static [&'static str]) -> HotColumn {
    HotColumn { name, origin, ty, keys }
}

use HotType::{Dict, Int, Text};
use Origin::{Resource, Span};

/// The hot attribute columns, in schema order.
pub const HOT_COLUMNS: &[HotColumn] = &[
    // Span: HTTP
    hot("http_method", Span, Dict, &["http.request.method", "http.method"]),
    hot("http_route", Span, Dict, &["http.route"]),
    hot("http_status_code", Span, Int, &["http.response.status_code", "http.status_code"]),
    hot("url_full", Span, Text, &["url.full", "http.url"]),
    hot("http_target", Span, Text, &["url.path", "http.target"]),
    // Span: network
    hot("server_address", Span, Dict, &["server.address", "net.peer.name"]),
    hot("server_port", Span, Int, &["server.port", "net.peer.port"]),
    hot("network_peer_address", Span, Dict, &["network.peer.address", "net.sock.peer.addr"]),
    hot("network_peer_port", Span, Int, &["network.peer.port", "net.sock.peer.port"]),
    hot("peer_service", Span, Dict, &["peer.service"]),
    // Span: databases
    hot("db_system", Span, Dict, &["db.system.name", "db.system"]),
    hot("db_operation", Span, Dict, &["db.operation.name", "db.operation"]),
    hot("db_name", Span, Dict, &["db.namespace", "db.name"]),
    hot("db_statement", Span, Text, &["db.query.text", "db.statement"]),
    // Span: RPC, messaging, FaaS, GraphQL
    hot("rpc_system", Span, Dict, &["rpc.system"]),
    hot("rpc_service", Span, Dict, &["rpc.service"]),
    hot("rpc_method", Span, Dict, &["rpc.method"]),
    hot("rpc_grpc_status_code", Span, Int, &["rpc.grpc.status_code"]),
    hot("messaging_system", Span, Dict, &["messaging.system"]),
    hot("messaging_operation", Span, Dict, &["messaging.operation.type", "messaging.operation"]),
    hot("messaging_destination", Span, Dict, &["messaging.destination.name", "messaging.destination"]),
    hot("faas_invoked_name", Span, Dict, &["faas.invoked_name"]),
    hot("faas_trigger", Span, Dict, &["faas.trigger"]),
    hot("graphql_operation_type", Span, Dict, &["graphql.operation.type"]),
    // Span: Application Signals attributes written by ADOT
    hot("aws_span_kind", Span, Dict, &["aws.span.kind"]),
    hot("aws_local_service", Span, Dict, &["aws.local.service"]),
    hot("aws_local_operation", Span, Dict, &["aws.local.operation"]),
    hot("aws_local_environment", Span, Dict, &["aws.local.environment"]),
    hot("aws_remote_service", Span, Dict, &["aws.remote.service"]),
    hot("aws_remote_operation", Span, Dict, &["aws.remote.operation"]),
    hot("aws_remote_environment", Span, Dict, &["aws.remote.environment"]),
    hot("aws_remote_resource_type", Span, Dict, &["aws.remote.resource.type"]),
    hot("aws_remote_resource_identifier", Span, Dict, &["aws.remote.resource.identifier", "aws.remote.target"]),
    // Resource
    hot("service_namespace", Resource, Dict, &["service.namespace"]),
    hot("service_version", Resource, Dict, &["service.version"]),
    hot("service_instance_id", Resource, Dict, &["service.instance.id"]),
    hot("deployment_environment", Resource, Dict, &["deployment.environment.name", "deployment.environment"]),
    hot("telemetry_sdk_language", Resource, Dict, &["telemetry.sdk.language"]),
    hot("cloud_provider", Resource, Dict, &["cloud.provider"]),
    hot("cloud_platform", Resource, Dict, &["cloud.platform"]),
    hot("cloud_region", Resource, Dict, &["cloud.region"]),
    hot("cloud_account_id", Resource, Dict, &["cloud.account.id"]),
    hot("k8s_cluster_name", Resource, Dict, &["k8s.cluster.name"]),
    hot("k8s_namespace_name", Resource, Dict, &["k8s.namespace.name"]),
    hot("k8s_deployment_name", Resource, Dict, &["k8s.deployment.name"]),
    hot("k8s_pod_name", Resource, Dict, &["k8s.pod.name"]),
    hot("host_name", Resource, Dict, &["host.name"]),
    hot("host_id", Resource, Dict, &["host.id"]),
    hot("faas_name", Resource, Dict, &["faas.name"]),
];

/// Documentation of one column: its meaning and the OTLP field it comes from.
pub struct ColumnDoc {
    pub name: &'static str,
    pub meaning: &'static str,
    pub source: &'static str,
}

const fn doc(name: &'static str, meaning: &'static str, source: &'static str) -> ColumnDoc {
    ColumnDoc { name, meaning, source }
}

/// Documentation of the core (non-hot) columns, in schema order.
pub const CORE_DOCS: &[ColumnDoc] = &[
    doc(TRACE_ID, "trace id, 16 bytes (`encode(trace_id, 'hex')` for text)", "`Span.trace_id`"),
    doc(SPAN_ID, "span id, 8 bytes", "`Span.span_id`"),
    doc(PARENT_SPAN_ID, "parent span id; null for a root (empty or all-zero in OTLP)", "`Span.parent_span_id`"),
    doc(TRACE_STATE, "W3C tracestate; null when empty", "`Span.trace_state`"),
    doc(FLAGS, "raw OTLP span flags: bits 0-7 W3C trace flags, 0x100 has-is-remote, 0x200 is-remote", "`Span.flags`"),
    doc(
        PARENT_IS_REMOTE,
        "whether the parent is remote; null when the producer did not say (0x100 clear)",
        "`Span.flags` bits 8-9",
    ),
    doc(NAME, "span name", "`Span.name`"),
    doc(KIND, "`UNSPECIFIED`, `INTERNAL`, `SERVER`, `CLIENT`, `PRODUCER` or `CONSUMER`", "`Span.kind`"),
    doc(START_TIME, "start time, ns, UTC", "`Span.start_time_unix_nano`"),
    doc(END_TIME, "end time, ns, UTC", "`Span.end_time_unix_nano`"),
    doc(DURATION_NS, "end - start in nanoseconds (never negative: such spans are rejected)", "derived"),
    doc(STATUS_CODE, "`UNSET`, `OK` or `ERROR`", "`Span.status.code`"),
    doc(STATUS_MESSAGE, "status message; null when empty", "`Span.status.message`"),
    doc(SERVICE_NAME, "`service.name` of the resource; null when absent", "`Resource.attributes[service.name]`"),
    doc(RESOURCE_ATTRIBUTES, "all resource attributes, values as text", "`Resource.attributes`"),
    doc(
        RESOURCE_DROPPED_ATTRIBUTES_COUNT,
        "resource attributes dropped by the producer",
        "`Resource.dropped_attributes_count`",
    ),
    doc(
        SCOPE_NAME,
        "instrumentation scope name; null when empty",
        "`ScopeSpans.scope.name` (legacy `instrumentationLibrary.name`)",
    ),
    doc(SCOPE_VERSION, "instrumentation scope version; null when empty", "`ScopeSpans.scope.version`"),
    doc(SCOPE_ATTRIBUTES, "scope attributes, values as text", "`ScopeSpans.scope.attributes`"),
    doc(ATTRIBUTES, "all span attributes, values as text", "`Span.attributes`"),
    doc(DROPPED_ATTRIBUTES_COUNT, "span attributes dropped by the producer", "`Span.dropped_attributes_count`"),
    doc(EVENTS, "list of {time, name, attributes, dropped_attributes_count}", "`Span.events`"),
    doc(DROPPED_EVENTS_COUNT, "events dropped by the producer", "`Span.dropped_events_count`"),
    doc(LINKS, "list of {trace_id, span_id, trace_state, flags, attributes, dropped_attributes_count}", "`Span.links`"),
    doc(DROPPED_LINKS_COUNT, "links dropped by the producer", "`Span.dropped_links_count`"),
];

/// `Dictionary(Int32, Utf8)`.
pub fn dict_utf8() -> DataType {
    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
}

/// `Timestamp(ns, "UTC")`.
pub fn timestamp_ns() -> DataType {
    DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()))
}

/// Fields of one attribute map entry whose key is of type `key`: `keys` (not null) and `values`
/// (`Utf8`, nullable).
fn entries_fields(key: DataType) -> Fields {
    Fields::from(vec![Field::new("keys", key, false), Field::new("values", DataType::Utf8, true)])
}

/// The entries field of an attribute map: `Map(Utf8 not null, Utf8 nullable)`.
pub fn attributes_entries_field() -> Arc<Field> {
    Arc::new(Field::new("entries", DataType::Struct(entries_fields(DataType::Utf8)), false))
}

/// Fields of one entry of a keyed attribute map: the key as an index into a dictionary of key
/// names, and the value.
pub fn keyed_entries_fields() -> Fields {
    entries_fields(DataType::Dictionary(Box::new(DataType::Int16), Box::new(DataType::Utf8)))
}

/// The entries field of a keyed attribute map.
pub fn keyed_entries_field() -> Arc<Field> {
    Arc::new(Field::new("entries", DataType::Struct(keyed_entries_fields()), false))
}

/// The type of `attributes` in span batches whose maps give keys as indexes into the kept keys
/// (`SpanBatchBuilder::with_keyed_attributes`): an attribute map whose keys are a dictionary.
pub fn keyed_attributes_type() -> DataType {
    DataType::Map(keyed_entries_field(), false)
}

/// Type of an attribute map column.
pub fn attributes_type() -> DataType {
    DataType::Map(attributes_entries_field(), false)
}

/// Fields of one `events` entry.
pub fn event_fields() -> Fields {
    Fields::from(vec![
        Field::new(nested::TIME, timestamp_ns(), false),
        Field::new(nested::NAME, DataType::Utf8, false),
        Field::new(nested::ATTRIBUTES, attributes_type(), false),
        Field::new(nested::DROPPED_ATTRIBUTES_COUNT, DataType::UInt32, false),
    ])
}

/// Fields of one `links` entry.
pub fn link_fields() -> Fields {
    Fields::from(vec![
        Field::new(nested::TRACE_ID, DataType::FixedSizeBinary(16), true),
        Field::new(nested::SPAN_ID, DataType::FixedSizeBinary(8), true),
        Field::new(nested::TRACE_STATE, DataType::Utf8, true),
        Field::new(nested::FLAGS, DataType::UInt32, false),
        Field::new(nested::ATTRIBUTES, attributes_type(), false),
        Field::new(nested::DROPPED_ATTRIBUTES_COUNT, DataType::UInt32, false),
    ])
}

/// The item field of the `events` list.
pub fn event_item_field() -> Arc<Field> {
    Arc::new(Field::new("item", DataType::Struct(event_fields()), false))
}

/// The item field of the `links` list.
pub fn link_item_field() -> Arc<Field> {
    Arc::new(Field::new("item", DataType::Struct(link_fields()), false))
}

fn core_fields() -> Vec<Field> {
    vec![
        Field::new(TRACE_ID, DataType::FixedSizeBinary(16), false),
        Field::new(SPAN_ID, DataType::FixedSizeBinary(8), false),
        Field::new(PARENT_SPAN_ID, DataType::FixedSizeBinary(8), true),
        Field::new(TRACE_STATE, DataType::Utf8, true),
        Field::new(FLAGS, DataType::UInt32, false),
        Field::new(PARENT_IS_REMOTE, DataType::Boolean, true),
        Field::new(NAME, dict_utf8(), false),
        Field::new(KIND, dict_utf8(), false),
        Field::new(START_TIME, timestamp_ns(), false),
        Field::new(END_TIME, timestamp_ns(), false),
        Field::new(DURATION_NS, DataType::Int64, false),
        Field::new(STATUS_CODE, dict_utf8(), false),
        Field::new(STATUS_MESSAGE, DataType::Utf8, true),
        Field::new(SERVICE_NAME, dict_utf8(), true),
        Field::new(RESOURCE_ATTRIBUTES, attributes_type(), false),
        Field::new(RESOURCE_DROPPED_ATTRIBUTES_COUNT, DataType::UInt32, false),
        Field::new(SCOPE_NAME, dict_utf8(), true),
        Field::new(SCOPE_VERSION, dict_utf8(), true),
        Field::new(SCOPE_ATTRIBUTES, attributes_type(), false),
        Field::new(ATTRIBUTES, attributes_type(), false),
        Field::new(DROPPED_ATTRIBUTES_COUNT, DataType::UInt32, false),
        Field::new(EVENTS, DataType::List(event_item_field()), false),
        Field::new(DROPPED_EVENTS_COUNT, DataType::UInt32, false),
        Field::new(LINKS, DataType::List(link_item_field()), false),
        Field::new(DROPPED_LINKS_COUNT, DataType::UInt32, false),
    ]
}

/// Arrow type of a hot column.
pub fn hot_type(ty: HotType) -> DataType {
    match ty {
        HotType::Dict => dict_utf8(),
        HotType::Text => DataType::Utf8,
        HotType::Int => DataType::Int64,
    }
}

static SPAN_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let mut fields = core_fields();
    fields.extend(HOT_COLUMNS.iter().map(|h| Field::new(h.name, hot_type(h.ty), true)));
    Arc::new(Schema::new(fields))
});

/// The span table schema.
pub fn span_schema() -> SchemaRef {
    SPAN_SCHEMA.clone()
}

/// The type of `resource_attributes` in span batches whose rows share their resource's map
/// (`SpanBatchBuilder::with_shared_resources`): a dictionary whose values are the batch's
/// distinct resources, one map each, and whose keys say which is each row's.
pub fn shared_resource_attributes_type() -> DataType {
    DataType::Dictionary(Box::new(DataType::Int32), Box::new(attributes_type()))
}

/// The schema of span batches: the span table's columns, or only those of `projection` (by
/// index), with `resource_attributes` as [`shared_resource_attributes_type`] when `shared` and
/// `attributes` as [`keyed_attributes_type`] when `keyed`.
pub fn batch_schema(projection: Option<&[usize]>, shared: bool, keyed: bool) -> SchemaRef {
    let full = span_schema();
    let schema = if shared || keyed {
        let fields = full.fields().iter().map(|f| match f.name().as_str() {
            RESOURCE_ATTRIBUTES if shared => {
                Arc::new(f.as_ref().clone().with_data_type(shared_resource_attributes_type()))
            }
            ATTRIBUTES if keyed => Arc::new(f.as_ref().clone().with_data_type(keyed_attributes_type())),
            _ => f.clone(),
        });
        Arc::new(Schema::new_with_metadata(fields.collect::<Vec<_>>(), full.metadata().clone()))
    } else {
        full
    };
    match projection {
        None => schema,
        Some(p) => Arc::new(schema.project(p).expect("projection within the span schema")),
    }
}

/// Number of core (non-hot) columns; hot columns follow them in schema order.
pub fn core_column_count() -> usize {
    CORE_DOCS.len()
}

fn type_name(dt: &DataType) -> String {
    match dt {
        DataType::Dictionary(_, v) if **v == DataType::Utf8 => "dict<utf8>".into(),
        DataType::Map(_, _) => "map<utf8, utf8>".into(),
        DataType::List(f) => match f.data_type() {
            DataType::Struct(_) => "list<struct>".into(),
            other => format!("list<{}>", type_name(other)),
        },
        DataType::FixedSizeBinary(n) => format!("fixed_size_binary({n})"),
        DataType::Timestamp(TimeUnit::Nanosecond, Some(_)) => "timestamp(ns, UTC)".into(),
        other => other.to_string().to_lowercase(),
    }
}

/// The schema as a Markdown table (column, type, nullable, meaning, source). The README embeds it.
pub fn schema_markdown() -> String {
    let schema = span_schema();
    let mut out = String::from("| column | type | null | meaning | OTLP source |\n|---|---|---|---|---|\n");
    for (i, field) in schema.fields().iter().enumerate() {
        let (meaning, source) = match CORE_DOCS.get(i) {
            Some(d) => (d.meaning.to_string(), d.source.to_string()),
            None => {
                let h = &HOT_COLUMNS[i - CORE_DOCS.len()];
                let keys = h.keys.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", else ");
                let origin = match h.origin {
                    Origin::Resource => "resource attribute",
                    Origin::Span => "span attribute",
                };
                (format!("typed copy of a {origin}"), keys)
            }
        };
        out.push_str(&format!(
            "| `{}` | {} | {} | {} | {} |\n",
            field.name(),
            type_name(field.data_type()),
            if field.is_nullable() { "yes" } else { "no" },
            meaning,
            source
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn core_docs_follow_schema_order() {
        let schema = span_schema();
        for (i, d) in CORE_DOCS.iter().enumerate() {
            assert_eq!(schema.field(i).name(), d.name, "CORE_DOCS[{i}] out of order");
        }
        assert_eq!(schema.fields().len(), CORE_DOCS.len() + HOT_COLUMNS.len());
    }

    #[test]
    fn column_names_and_attribute_keys_are_unique() {
        let schema = span_schema();
        let names: HashSet<_> = schema.fields().iter().map(|f| f.name().clone()).collect();
        assert_eq!(names.len(), schema.fields().len());
        for origin in [Origin::Resource, Origin::Span] {
            let mut keys = HashSet::new();
            for h in HOT_COLUMNS.iter().filter(|h| h.origin == origin) {
                for k in h.keys {
                    assert!(keys.insert(*k), "attribute key {k} feeds two hot columns");
                }
            }
        }
    }
}
