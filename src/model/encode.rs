//! Encode the neutral OTLP model as OTLP/protobuf (one `TracesData` message, or the
//! fileexporter's length-prefixed frames) and as canonical OTLP/JSON. Used by `gen` and by the
//! tests' protobuf twins.

use opentelemetry_proto::tonic::common::v1::{
    AnyValue as PbAnyValue, ArrayValue, InstrumentationScope, KeyValue as PbKeyValue, KeyValueList, any_value::Value,
};
use opentelemetry_proto::tonic::resource::v1::Resource as PbResource;
use opentelemetry_proto::tonic::trace::v1::{
    ResourceSpans as PbResourceSpans, ScopeSpans as PbScopeSpans, Span as PbSpan, Status as PbStatus,
    TracesData as PbTracesData,
    span::{Event as PbEvent, Link as PbLink},
};
use prost::Message;
use serde_json::{Value as Json, json};

use crate::model::builder::hex;
use crate::model::otlp::{AnyValue, KeyValue, Span, TracesData};

fn pb_value(v: &AnyValue<'_>) -> PbAnyValue {
    let value = match v {
        AnyValue::Empty => None,
        AnyValue::String(s) => Some(Value::StringValue(s.to_string())),
        AnyValue::Bool(b) => Some(Value::BoolValue(*b)),
        AnyValue::Int(i) => Some(Value::IntValue(*i)),
        AnyValue::Double(d) => Some(Value::DoubleValue(*d)),
        AnyValue::Bytes(b) => Some(Value::BytesValue(b.to_vec())),
        AnyValue::Array(items) => Some(Value::ArrayValue(ArrayValue { values: items.iter().map(pb_value).collect() })),
        AnyValue::KvList(kvs) => Some(Value::KvlistValue(KeyValueList { values: pb_attrs(kvs) })),
    };
    PbAnyValue { value }
}

fn pb_attrs(kvs: &[KeyValue<'_>]) -> Vec<PbKeyValue> {
    kvs.iter()
        .map(|kv| PbKeyValue { key: kv.key.to_string(), value: Some(pb_value(&kv.value)), ..Default::default() })
        .collect()
}

fn id_bytes<const N: usize>(id: Option<[u8; N]>) -> Vec<u8> {
    id.map(|i| i.to_vec()).unwrap_or_default()
}

/// The prost message for a model document.
pub fn to_proto(doc: &TracesData<'_>) -> PbTracesData {
    PbTracesData {
        resource_spans: doc
            .resource_spans
            .iter()
            .map(|rs| PbResourceSpans {
                resource: Some(PbResource {
                    attributes: pb_attrs(&rs.resource.attributes),
                    dropped_attributes_count: rs.resource.dropped_attributes_count,
                    ..Default::default()
                }),
                scope_spans: rs
                    .scope_spans
                    .iter()
                    .map(|ss| PbScopeSpans {
                        scope: Some(InstrumentationScope {
                            name: ss.scope.name.to_string(),
                            version: ss.scope.version.to_string(),
                            attributes: pb_attrs(&ss.scope.attributes),
                            dropped_attributes_count: 0,
                        }),
                        spans: ss.spans.iter().map(pb_span).collect(),
                        schema_url: String::new(),
                    })
                    .collect(),
                schema_url: String::new(),
            })
            .collect(),
    }
}

fn pb_span(s: &Span<'_>) -> PbSpan {
    PbSpan {
        trace_id: id_bytes(s.trace_id),
        span_id: id_bytes(s.span_id),
        trace_state: s.trace_state.to_string(),
        parent_span_id: id_bytes(s.parent_span_id),
        flags: s.flags,
        name: s.name.to_string(),
        kind: s.kind,
        start_time_unix_nano: s.start_time_unix_nano,
        end_time_unix_nano: s.end_time_unix_nano,
        attributes: pb_attrs(&s.attributes),
        dropped_attributes_count: s.dropped_attributes_count,
        events: s
            .events
            .iter()
            .map(|e| PbEvent {
                time_unix_nano: e.time_unix_nano,
                name: e.name.to_string(),
                attributes: pb_attrs(&e.attributes),
                dropped_attributes_count: e.dropped_attributes_count,
            })
            .collect(),
        dropped_events_count: s.dropped_events_count,
        links: s
            .links
            .iter()
            .map(|l| PbLink {
                trace_id: id_bytes(l.trace_id),
                span_id: id_bytes(l.span_id),
                trace_state: l.trace_state.to_string(),
                attributes: pb_attrs(&l.attributes),
                dropped_attributes_count: l.dropped_attributes_count,
                flags: l.flags,
            })
            .collect(),
        dropped_links_count: s.dropped_links_count,
        status: Some(PbStatus { message: s.status.message.to_string(), code: s.status.code }),
    }
}

/// Encode a model document as one binary OTLP `TracesData` message.
pub fn encode_proto(doc: &TracesData<'_>) -> Vec<u8> {
    to_proto(doc).encode_to_vec()
}

/// Frame payloads as the fileexporter does: `[u32 BE length][payload]` each.
pub fn frame(payloads: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in payloads {
        out.extend(u32::try_from(p.len()).unwrap_or(u32::MAX).to_be_bytes());
        out.extend(p);
    }
    out
}

fn json_value(v: &AnyValue<'_>) -> Json {
    use base64::Engine as _;
    match v {
        AnyValue::Empty => json!({}),
        AnyValue::String(s) => json!({"stringValue": s}),
        AnyValue::Bool(b) => json!({"boolValue": b}),
        AnyValue::Int(i) => json!({"intValue": i.to_string()}),
        AnyValue::Double(d) if d.is_finite() => json!({"doubleValue": d}),
        AnyValue::Double(d) => {
            json!({"doubleValue": if d.is_nan() { "NaN" } else if *d > 0.0 { "Infinity" } else { "-Infinity" }})
        }
        AnyValue::Bytes(b) => json!({"bytesValue": base64::engine::general_purpose::STANDARD.encode(b)}),
        AnyValue::Array(items) => json!({"arrayValue": {"values": items.iter().map(json_value).collect::<Vec<_>>()}}),
        AnyValue::KvList(kvs) => json!({"kvlistValue": {"values": json_attrs(kvs)}}),
    }
}

fn json_attrs(kvs: &[KeyValue<'_>]) -> Json {
    Json::Array(kvs.iter().map(|kv| json!({"key": kv.key, "value": json_value(&kv.value)})).collect())
}

fn json_id<const N: usize>(id: Option<[u8; N]>) -> String {
    id.map(|i| hex(&i)).unwrap_or_default()
}

/// Encode a model document as canonical OTLP/JSON (camelCase, hex ids, int64 as strings).
pub fn encode_json(doc: &TracesData<'_>) -> String {
    let rs: Vec<Json> = doc
        .resource_spans
        .iter()
        .map(|rs| {
            let scopes: Vec<Json> = rs
                .scope_spans
                .iter()
                .map(|ss| {
                    let spans: Vec<Json> = ss
                        .spans
                        .iter()
                        .map(|s| {
                            json!({
                                "traceId": json_id(s.trace_id),
                                "spanId": json_id(s.span_id),
                                "traceState": s.trace_state,
                                "parentSpanId": json_id(s.parent_span_id),
                                "flags": s.flags,
                                "name": s.name,
                                "kind": s.kind,
                                "startTimeUnixNano": s.start_time_unix_nano.to_string(),
                                "endTimeUnixNano": s.end_time_unix_nano.to_string(),
                                "attributes": json_attrs(&s.attributes),
                                "droppedAttributesCount": s.dropped_attributes_count,
                                "events": s.events.iter().map(|e| json!({
                                    "timeUnixNano": e.time_unix_nano.to_string(),
                                    "name": e.name,
                                    "attributes": json_attrs(&e.attributes),
                                    "droppedAttributesCount": e.dropped_attributes_count,
                                })).collect::<Vec<_>>(),
                                "droppedEventsCount": s.dropped_events_count,
                                "links": s.links.iter().map(|l| json!({
                                    "traceId": json_id(l.trace_id),
                                    "spanId": json_id(l.span_id),
                                    "traceState": l.trace_state,
                                    "attributes": json_attrs(&l.attributes),
                                    "droppedAttributesCount": l.dropped_attributes_count,
                                    "flags": l.flags,
                                })).collect::<Vec<_>>(),
                                "droppedLinksCount": s.dropped_links_count,
                                "status": {"message": s.status.message, "code": s.status.code},
                            })
                        })
                        .collect();
                    json!({
                        "scope": {"name": ss.scope.name, "version": ss.scope.version, "attributes": json_attrs(&ss.scope.attributes)},
                        "spans": spans,
                    })
                })
                .collect();
            json!({
                "resource": {"attributes": json_attrs(&rs.resource.attributes), "droppedAttributesCount": rs.resource.dropped_attributes_count},
                "scopeSpans": scopes,
            })
        })
        .collect();
    json!({ "resourceSpans": rs }).to_string()
}
