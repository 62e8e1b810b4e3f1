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
use serde_json::Value as Json;

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

/// Appends canonical OTLP/JSON to a string: compact, object keys in byte order (as
/// `serde_json::Value` prints them), strings escaped as serde_json escapes them.
struct JsonOut(String);

impl JsonOut {
    fn raw(&mut self, s: &str) {
        self.0.push_str(s);
    }

    /// A JSON string: `"`, `\\` and control characters escaped (the short forms where JSON has
    /// them, else `\u00xx`), everything else as it is.
    fn string(&mut self, s: &str) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        self.0.push('"');
        let mut run = 0;
        for (i, b) in s.bytes().enumerate() {
            let short = match b {
                b'"' => "\\\"",
                b'\\' => "\\\\",
                b'\n' => "\\n",
                b'\r' => "\\r",
                b'\t' => "\\t",
                0x08 => "\\b",
                0x0c => "\\f",
                0x00..=0x1f => "",
                _ => continue,
            };
            // Every escaped byte is ASCII, so `run..i` and `i + 1..` are on character boundaries.
            self.0.push_str(&s[run..i]);
            if short.is_empty() {
                self.0.push_str("\\u00");
                self.0.push(char::from(HEX[usize::from(b >> 4)]));
                self.0.push(char::from(HEX[usize::from(b & 0xf)]));
            } else {
                self.0.push_str(short);
            }
            run = i + 1;
        }
        self.0.push_str(&s[run..]);
        self.0.push('"');
    }

    fn number(&mut self, n: impl std::fmt::Display) {
        use std::fmt::Write as _;
        let _ = write!(self.0, "{n}");
    }

    /// A 64-bit integer as a JSON string, as OTLP/JSON writes them.
    fn quoted(&mut self, n: impl std::fmt::Display) {
        use std::fmt::Write as _;
        let _ = write!(self.0, "\"{n}\"");
    }

    fn id<const N: usize>(&mut self, id: Option<[u8; N]>) {
        self.0.push('"');
        if let Some(id) = id {
            self.0.push_str(&hex(&id));
        }
        self.0.push('"');
    }

    /// `[item, item, ...]`, each written by `each`.
    fn list<T>(&mut self, items: &[T], mut each: impl FnMut(&mut Self, &T)) {
        self.0.push('[');
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                self.0.push(',');
            }
            each(self, item);
        }
        self.0.push(']');
    }

    /// `{"key": value, ...}`, the members written by `members` through [`Members::key`], in
    /// the order given (byte order of the keys, for canonical text).
    fn object(&mut self, members: impl FnOnce(&mut Members<'_>)) {
        self.0.push('{');
        members(&mut Members { out: self, first: true });
        self.0.push('}');
    }

    fn value(&mut self, v: &AnyValue<'_>) {
        use base64::Engine as _;
        self.object(|o| match v {
            AnyValue::Empty => {}
            AnyValue::String(s) => o.key("stringValue").string(s),
            AnyValue::Bool(b) => o.key("boolValue").raw(if *b { "true" } else { "false" }),
            AnyValue::Int(i) => o.key("intValue").quoted(i),
            // serde_json's own float text (shortest round-trip form).
            AnyValue::Double(d) if d.is_finite() => o.key("doubleValue").raw(&Json::from(*d).to_string()),
            AnyValue::Double(d) => o.key("doubleValue").string(if d.is_nan() {
                "NaN"
            } else if *d > 0.0 {
                "Infinity"
            } else {
                "-Infinity"
            }),
            AnyValue::Bytes(b) => o.key("bytesValue").string(&base64::engine::general_purpose::STANDARD.encode(b)),
            AnyValue::Array(items) => {
                o.key("arrayValue").object(|a| a.key("values").list(items, |out, v| out.value(v)))
            }
            AnyValue::KvList(kvs) => o.key("kvlistValue").object(|l| l.key("values").attributes(kvs)),
        });
    }

    fn attributes(&mut self, kvs: &[KeyValue<'_>]) {
        self.list(kvs, |out, kv| {
            out.object(|o| {
                o.key("key").string(&kv.key);
                o.key("value").value(&kv.value);
            })
        });
    }

    fn span(&mut self, s: &Span<'_>) {
        self.object(|o| {
            o.attributes(&s.attributes, s.dropped_attributes_count);
            o.key("droppedEventsCount").number(s.dropped_events_count);
            o.key("droppedLinksCount").number(s.dropped_links_count);
            o.key("endTimeUnixNano").quoted(s.end_time_unix_nano);
            o.key("events").list(&s.events, |out, e| {
                out.object(|o| {
                    o.attributes(&e.attributes, e.dropped_attributes_count);
                    o.key("name").string(&e.name);
                    o.key("timeUnixNano").quoted(e.time_unix_nano);
                })
            });
            o.key("flags").number(s.flags);
            o.key("kind").number(s.kind);
            o.key("links").list(&s.links, |out, l| {
                out.object(|o| {
                    o.attributes(&l.attributes, l.dropped_attributes_count);
                    o.key("flags").number(l.flags);
                    o.key("spanId").id(l.span_id);
                    o.key("traceId").id(l.trace_id);
                    o.key("traceState").string(&l.trace_state);
                })
            });
            o.key("name").string(&s.name);
            o.key("parentSpanId").id(s.parent_span_id);
            o.key("spanId").id(s.span_id);
            o.key("startTimeUnixNano").quoted(s.start_time_unix_nano);
            o.key("status").object(|st| {
                st.key("code").number(s.status.code);
                st.key("message").string(&s.status.message);
            });
            o.key("traceId").id(s.trace_id);
            o.key("traceState").string(&s.trace_state);
        });
    }
}

/// The members of one object being written.
struct Members<'o> {
    out: &'o mut JsonOut,
    first: bool,
}

impl Members<'_> {
    /// Start the member `name` (a key that needs no escaping); its value is written next.
    fn key(&mut self, name: &str) -> &mut JsonOut {
        if !std::mem::take(&mut self.first) {
            self.out.0.push(',');
        }
        self.out.0.push('"');
        self.out.0.push_str(name);
        self.out.0.push_str("\":");
        self.out
    }

    /// The `attributes` and `droppedAttributesCount` members, which come first (in key order)
    /// in every object that has them.
    fn attributes(&mut self, kvs: &[KeyValue<'_>], dropped: u32) {
        self.key("attributes").attributes(kvs);
        self.key("droppedAttributesCount").number(dropped);
    }
}

/// Encode a model document as canonical OTLP/JSON (camelCase, hex ids, int64 as strings), written
/// straight into the text: the same bytes as printing it through a `serde_json::Value`, about
/// ten times faster.
pub fn encode_json(doc: &TracesData<'_>) -> String {
    let mut out = JsonOut(String::with_capacity(4096));
    out.object(|o| {
        o.key("resourceSpans").list(&doc.resource_spans, |out, rs| {
            out.object(|o| {
                o.key("resource").object(|r| {
                    r.attributes(&rs.resource.attributes, rs.resource.dropped_attributes_count);
                });
                o.key("scopeSpans").list(&rs.scope_spans, |out, ss| {
                    out.object(|o| {
                        o.key("scope").object(|sc| {
                            sc.key("attributes").attributes(&ss.scope.attributes);
                            sc.key("name").string(&ss.scope.name);
                            sc.key("version").string(&ss.scope.version);
                        });
                        o.key("spans").list(&ss.spans, |out, s| out.span(s));
                    })
                });
            })
        })
    });
    out.0
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;
    use crate::model::otlp::{Event, Link, Resource, ResourceSpans, Scope, ScopeSpans, Status};

    /// The text is valid JSON and equals what printing it through a `serde_json::Value` gives
    /// (keys in byte order, serde_json's escapes and number forms).
    fn assert_canonical(doc: &TracesData<'_>) {
        let text = encode_json(doc);
        let value: Json = serde_json::from_str(&text).unwrap();
        assert_eq!(value.to_string(), text);
    }

    fn kv<'a>(key: &'a str, value: AnyValue<'a>) -> KeyValue<'a> {
        KeyValue { key: Cow::Borrowed(key), value }
    }

    #[test]
    fn json_text_is_canonical() {
        assert_canonical(&TracesData::default());
        assert_canonical(&crate::testing::synthetic_traces(3, 4, 5, 1_700_000_000_000_000_000));
        let every_control: String = (0u8..0x20).map(char::from).collect();
        let odd = format!("q\"b\\s/{every_control}\u{7f}é中😀");
        let values = vec![
            kv("empty", AnyValue::Empty),
            kv(&odd, AnyValue::String(Cow::Owned(odd.clone()))),
            kv("t", AnyValue::Bool(true)),
            kv("f", AnyValue::Bool(false)),
            kv("min", AnyValue::Int(i64::MIN)),
            kv("d", AnyValue::Double(0.1 + 0.2)),
            kv("big", AnyValue::Double(1e300)),
            kv("neg0", AnyValue::Double(-0.0)),
            kv("nan", AnyValue::Double(f64::NAN)),
            kv("inf", AnyValue::Double(f64::INFINITY)),
            kv("-inf", AnyValue::Double(f64::NEG_INFINITY)),
            kv("bytes", AnyValue::Bytes(Cow::Borrowed(&[0, 255, 7]))),
            kv("array", AnyValue::Array(vec![AnyValue::Int(1), AnyValue::Empty, AnyValue::Array(vec![])])),
            kv("kvlist", AnyValue::KvList(vec![kv("inner", AnyValue::Double(2.5))])),
        ];
        let span = Span {
            trace_id: Some([0xab; 16]),
            span_id: Some([1; 8]),
            trace_state: Cow::Borrowed("k=v"),
            parent_span_id: None,
            flags: 0x301,
            name: Cow::Borrowed(&odd),
            kind: 2,
            start_time_unix_nano: u64::MAX - 1,
            end_time_unix_nano: u64::MAX,
            attributes: values.clone(),
            dropped_attributes_count: 1,
            events: vec![Event {
                time_unix_nano: 5,
                name: Cow::Borrowed("exception"),
                attributes: values.clone(),
                dropped_attributes_count: 2,
            }],
            dropped_events_count: 3,
            links: vec![Link {
                trace_id: None,
                span_id: Some([2; 8]),
                trace_state: Cow::Borrowed(""),
                attributes: values.clone(),
                dropped_attributes_count: 4,
                flags: 1,
            }],
            dropped_links_count: 5,
            status: Status { message: Cow::Borrowed("boom\n"), code: 2 },
        };
        assert_canonical(&TracesData {
            resource_spans: vec![ResourceSpans {
                resource: Resource { attributes: values.clone(), dropped_attributes_count: 6 },
                scope_spans: vec![ScopeSpans {
                    scope: Scope { name: Cow::Borrowed("s"), version: Cow::Borrowed("1"), attributes: values },
                    spans: vec![span.clone(), Span::default()],
                }],
                resource_text: None,
            }],
        });
    }
}
