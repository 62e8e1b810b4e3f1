//! OTLP/protobuf decoding with the `opentelemetry-proto` prost message types: the reference that
//! [`super::otlp_wire`], the reader ingest uses, is tested against (differentially, and by a fuzz
//! target).
//!
//! One message type of our own wraps them: [`TracesDataCompat`] reads `ResourceSpans` field 1000
//! (the pre-1.0 `instrumentation_library_spans`, wire-compatible with `ScopeSpans`) as the
//! collector's pdata does. Decoded messages are viewed as [`crate::model::otlp`] values that
//! borrow from them. Also here: splitting the fileexporter's u32 big-endian length framing.

use std::borrow::Cow;

use opentelemetry_proto::tonic::common::v1::{AnyValue as PbAnyValue, KeyValue as PbKeyValue, any_value::Value};
use opentelemetry_proto::tonic::resource::v1::Resource as PbResource;
use opentelemetry_proto::tonic::trace::v1::{ScopeSpans as PbScopeSpans, Span as PbSpan};
use prost::Message;

use crate::model::otlp::{
    AnyValue, Event, KeyValue, Link, Resource, ResourceSpans, Scope, ScopeSpans, Span, Status, TracesData, non_zero,
};

/// `TracesData` / `ExportTraceServiceRequest` (wire-identical), with legacy field 1000.
#[derive(Clone, PartialEq, Message)]
pub struct TracesDataCompat {
    #[prost(message, repeated, tag = "1")]
    pub resource_spans: Vec<ResourceSpansCompat>,
}

/// `ResourceSpans` plus the legacy `instrumentation_library_spans` (field 1000).
#[derive(Clone, PartialEq, Message)]
pub struct ResourceSpansCompat {
    #[prost(message, optional, tag = "1")]
    pub resource: Option<PbResource>,
    #[prost(message, repeated, tag = "2")]
    pub scope_spans: Vec<PbScopeSpans>,
    #[prost(string, tag = "3")]
    pub schema_url: String,
    #[prost(message, repeated, tag = "1000")]
    pub instrumentation_library_spans: Vec<PbScopeSpans>,
}

/// Messages up to this size are decoded from a copy in each thread's shared buffer
/// ([`decode_message`]); larger ones (a message that could not be cut into parts) from the input
/// itself, so that a second copy of them is neither made nor kept.
const SHARED_BUFFER_MAX: usize = 8 << 20;

/// Decode one protobuf `TracesData` message.
///
/// prost takes each `bytes` field (every trace and span id) out of its input with
/// `copy_to_bytes` before copying it into the message's `Vec<u8>`: from a plain slice that is one
/// more allocation, copy and free per id, from a shared buffer ([`bytes::Bytes`]) only a
/// reference to it. So the message is decoded from a copy in a buffer that each thread keeps
/// from message to message (9% more spans/s for prost alone, 5% for protobuf ingest).
pub fn decode_message(bytes: &[u8]) -> Result<TracesDataCompat, prost::DecodeError> {
    decode_message_sharing_up_to(bytes, SHARED_BUFFER_MAX)
}

fn decode_message_sharing_up_to(bytes: &[u8], shared_max: usize) -> Result<TracesDataCompat, prost::DecodeError> {
    thread_local! {
        static SHARED: std::cell::RefCell<bytes::BytesMut> = std::cell::RefCell::default();
    }
    if bytes.len() > shared_max {
        return TracesDataCompat::decode(bytes);
    }
    SHARED.with_borrow_mut(|buffer| {
        // `split` leaves the buffer empty, and the decoded message keeps no reference to the
        // bytes it took, so the next `extend_from_slice` takes their room back instead of
        // allocating another.
        buffer.extend_from_slice(bytes);
        TracesDataCompat::decode(buffer.split().freeze())
    })
}

/// View a decoded message as the decoder-neutral model.
pub fn to_model(msg: &TracesDataCompat) -> TracesData<'_> {
    TracesData {
        resource_spans: msg
            .resource_spans
            .iter()
            .map(|rs| ResourceSpans {
                resource: rs.resource.as_ref().map(resource).unwrap_or_default(),
                scope_spans: rs.scope_spans.iter().chain(&rs.instrumentation_library_spans).map(scope_spans).collect(),
                resource_text: None,
            })
            .collect(),
    }
}

fn resource(r: &PbResource) -> Resource<'_> {
    Resource { attributes: attrs(&r.attributes), dropped_attributes_count: r.dropped_attributes_count }
}

fn scope_spans(ss: &PbScopeSpans) -> ScopeSpans<'_> {
    ScopeSpans {
        scope: ss
            .scope
            .as_ref()
            .map(|s| Scope {
                name: s.name.as_str().into(),
                version: s.version.as_str().into(),
                attributes: attrs(&s.attributes),
            })
            .unwrap_or_default(),
        spans: ss.spans.iter().map(span).collect(),
    }
}

fn id<const N: usize>(bytes: &[u8]) -> Option<[u8; N]> {
    <[u8; N]>::try_from(bytes).ok().and_then(non_zero)
}

fn span(s: &PbSpan) -> Span<'_> {
    Span {
        trace_id: id(&s.trace_id),
        span_id: id(&s.span_id),
        trace_state: s.trace_state.as_str().into(),
        parent_span_id: id(&s.parent_span_id),
        flags: s.flags,
        name: s.name.as_str().into(),
        kind: s.kind,
        start_time_unix_nano: s.start_time_unix_nano,
        end_time_unix_nano: s.end_time_unix_nano,
        attributes: attrs(&s.attributes),
        dropped_attributes_count: s.dropped_attributes_count,
        events: s
            .events
            .iter()
            .map(|e| Event {
                time_unix_nano: e.time_unix_nano,
                name: e.name.as_str().into(),
                attributes: attrs(&e.attributes),
                dropped_attributes_count: e.dropped_attributes_count,
            })
            .collect(),
        dropped_events_count: s.dropped_events_count,
        links: s
            .links
            .iter()
            .map(|l| Link {
                trace_id: id(&l.trace_id),
                span_id: id(&l.span_id),
                trace_state: l.trace_state.as_str().into(),
                attributes: attrs(&l.attributes),
                dropped_attributes_count: l.dropped_attributes_count,
                flags: l.flags,
            })
            .collect(),
        dropped_links_count: s.dropped_links_count,
        status: s
            .status
            .as_ref()
            .map(|st| Status { message: st.message.as_str().into(), code: st.code })
            .unwrap_or_default(),
    }
}

fn attrs(kvs: &[PbKeyValue]) -> Vec<KeyValue<'_>> {
    kvs.iter().map(|kv| KeyValue { key: kv.key.as_str().into(), value: any_value(kv.value.as_ref()) }).collect()
}

fn any_value(v: Option<&PbAnyValue>) -> AnyValue<'_> {
    match v.and_then(|v| v.value.as_ref()) {
        None => AnyValue::Empty,
        Some(Value::StringValue(s)) => AnyValue::String(s.as_str().into()),
        Some(Value::BoolValue(b)) => AnyValue::Bool(*b),
        Some(Value::IntValue(i)) => AnyValue::Int(*i),
        Some(Value::DoubleValue(d)) => AnyValue::Double(*d),
        Some(Value::BytesValue(b)) => AnyValue::Bytes(Cow::Borrowed(b.as_slice())),
        Some(Value::ArrayValue(a)) => AnyValue::Array(a.values.iter().map(|v| any_value(Some(v))).collect()),
        Some(Value::KvlistValue(kv)) => AnyValue::KvList(attrs(&kv.values)),
        // Profiles-only string-table reference: no string to show without the table.
        #[allow(unreachable_patterns)]
        Some(_) => AnyValue::Empty,
    }
}

/// A protobuf varint at `bytes[*pos..]`, advancing `pos`; `None` when truncated or too long.
fn varint(bytes: &[u8], pos: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *bytes.get(*pos)?;
        *pos += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

/// Cut one `TracesData` message into consecutive byte ranges at top-level field boundaries,
/// each about `part_bytes` or more. A message is the concatenation of its fields, so every range
/// is itself a `TracesData` message holding its share of the `resource_spans`, in order; prost
/// decodes each. Also returns how many `resource_spans` come before each range (for messages
/// that name a span by its indices). `None` when the top level is not a well-formed sequence of
/// fields (the message is then decoded whole, and prost says what is wrong) or when it would be
/// one part anyway.
pub fn split_message(bytes: &[u8], part_bytes: usize) -> Option<Vec<(std::ops::Range<usize>, usize)>> {
    let mut parts = Vec::new();
    let (mut pos, mut start, mut resources, mut resources_before) = (0usize, 0usize, 0usize, 0usize);
    while pos < bytes.len() {
        let key = varint(bytes, &mut pos)?;
        let end = match key & 7 {
            0 => varint(bytes, &mut pos).map(|_| pos)?,
            1 => pos.checked_add(8)?,
            2 => {
                let len = usize::try_from(varint(bytes, &mut pos)?).ok()?;
                pos.checked_add(len)?
            }
            5 => pos.checked_add(4)?,
            // Groups (deprecated, never in OTLP) and invalid wire types.
            _ => return None,
        };
        if end > bytes.len() {
            return None;
        }
        pos = end;
        if key == (1 << 3) | 2 {
            resources += 1;
        }
        if pos - start >= part_bytes && pos < bytes.len() {
            parts.push((start..pos, resources_before));
            (start, resources_before) = (pos, resources);
        }
    }
    if parts.is_empty() {
        return None;
    }
    parts.push((start..bytes.len(), resources_before));
    Some(parts)
}

/// One frame of the fileexporter's `[u32 BE length][payload]` framing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    /// Offset of the length prefix in the input.
    pub offset: usize,
    /// Payload range.
    pub start: usize,
    pub end: usize,
}

/// Split u32-BE length framing. On a truncated or inconsistent frame, returns the frames before it
/// and the offset and description of the problem.
pub fn split_frames(bytes: &[u8]) -> (Vec<Frame>, Option<(usize, String)>) {
    let mut frames = Vec::new();
    let mut pos = 0usize;
    while pos < bytes.len() {
        let Some(header) = bytes.get(pos..pos + 4) else {
            let msg = format!("truncated frame header: {} bytes left, 4 needed", bytes.len() - pos);
            return (frames, Some((pos, msg)));
        };
        let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let start = pos + 4;
        let end = start.saturating_add(len);
        if end > bytes.len() {
            let msg = format!("truncated frame: header says {len} bytes, {} remain", bytes.len() - start);
            return (frames, Some((pos, msg)));
        }
        frames.push(Frame { offset: pos, start, end });
        pos = end;
    }
    (frames, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans as PbResourceSpans, TracesData as PbTracesData};

    #[test]
    fn legacy_field_1000_is_read_as_scope_spans() {
        // Encode field 1000 by hand: the current prost types no longer have it.
        let legacy =
            PbScopeSpans { spans: vec![PbSpan { name: "legacy".into(), ..Default::default() }], ..Default::default() };
        let compat = TracesDataCompat {
            resource_spans: vec![ResourceSpansCompat {
                resource: None,
                scope_spans: vec![],
                schema_url: String::new(),
                instrumentation_library_spans: vec![legacy],
            }],
        };
        let bytes = compat.encode_to_vec();
        let model_msg = decode_message(&bytes).unwrap();
        let model = to_model(&model_msg);
        assert_eq!(model.resource_spans[0].scope_spans[0].spans[0].name, "legacy");
        // The standard type decodes the same bytes to no spans: field 1000 is what we add.
        let std_msg = PbTracesData::decode(bytes.as_slice()).unwrap();
        assert_eq!(std_msg.resource_spans[0], PbResourceSpans::default());
    }

    #[test]
    fn a_message_splits_into_messages_of_its_resource_spans() {
        let rs = |name: &str| ResourceSpansCompat {
            resource: None,
            scope_spans: vec![PbScopeSpans {
                spans: vec![PbSpan { name: name.into(), ..Default::default() }],
                ..Default::default()
            }],
            schema_url: String::new(),
            instrumentation_library_spans: vec![],
        };
        let msg = TracesDataCompat { resource_spans: (0..10).map(|i| rs(&format!("span-{i}"))).collect() };
        let mut bytes = msg.encode_to_vec();
        // An unknown varint field at the top level travels with its neighbours.
        bytes.extend([0x10, 0x96, 0x01]);
        let one = bytes.len() / 10;
        let parts = split_message(&bytes, 3 * one).unwrap();
        assert!(parts.len() > 1 && parts.len() <= 4, "{parts:?}");
        let mut names = Vec::new();
        let mut expect_start = 0;
        for (range, before) in &parts {
            assert_eq!(range.start, expect_start);
            expect_start = range.end;
            assert_eq!(*before, names.len());
            let part = decode_message(&bytes[range.clone()]).unwrap();
            names.extend(part.resource_spans.iter().map(|r| r.scope_spans[0].spans[0].name.clone()));
        }
        assert_eq!(expect_start, bytes.len());
        assert_eq!(names, (0..10).map(|i| format!("span-{i}")).collect::<Vec<_>>());
        // One part, truncation, a length past the end, a group: no split.
        assert_eq!(split_message(&bytes, bytes.len()), None);
        assert_eq!(split_message(&bytes[..bytes.len() - 1], one), None);
        assert_eq!(split_message(&[0x0a, 0x05, 0x00], 1), None);
        assert_eq!(split_message(&[0x0b, 0x0c], 1), None);
    }

    #[test]
    fn the_shared_buffer_decodes_as_the_input_does() {
        use crate::testing::{encode_proto, synthetic_traces};
        let large = encode_proto(&synthetic_traces(1, 40, 5, 1_000));
        let small = encode_proto(&synthetic_traces(2, 2, 3, 2_000));
        // Large, then small in the same room, truncated, empty, then a valid one again: each
        // decodes as prost decodes it from the slice, message or error, whichever path is taken.
        let inputs = [&large[..], &small, &large[..large.len() - 3], &[], &small, &large[..]];
        for shared_max in [usize::MAX, small.len(), 0] {
            for input in inputs {
                let direct = TracesDataCompat::decode(input).map_err(|e| e.to_string());
                assert_eq!(decode_message_sharing_up_to(input, shared_max).map_err(|e| e.to_string()), direct);
            }
        }
        let spans = |m: &TracesDataCompat| {
            m.resource_spans.iter().flat_map(|r| &r.scope_spans).map(|s| s.spans.len()).sum::<usize>()
        };
        assert_eq!(spans(&decode_message(&large).unwrap()), 200);
        assert!(decode_message(&large[..large.len() - 3]).is_err());
    }

    #[test]
    fn frames_split_and_truncation_is_located() {
        let mut bytes = Vec::new();
        for payload in [&b"abc"[..], b"de"] {
            bytes.extend((payload.len() as u32).to_be_bytes());
            bytes.extend(payload);
        }
        let (frames, err) = split_frames(&bytes);
        assert_eq!(frames.len(), 2);
        assert!(err.is_none());
        bytes.extend(10u32.to_be_bytes());
        bytes.extend(b"xy");
        let (frames, err) = split_frames(&bytes);
        assert_eq!(frames.len(), 2);
        assert_eq!(err.unwrap().0, 13);
    }
}
