//! An OTLP/protobuf reader of our own: the wire format read straight into the model, with every
//! string, id and bytes value viewed in the input instead of copied out of it.
//!
//! prost's `opentelemetry-proto` messages ([`super::otlp_proto`]) are the reference: for any
//! input, this reader gives the same [`TracesData`] as `to_model(decode_message(..))`, or fails
//! where prost fails (tested differentially on generated messages, every fixture, mutated and
//! truncated bytes, and by a fuzz target). So it follows prost's decoding rules to the letter:
//!
//! - unknown fields are skipped, groups included, each at a cost of one recursion level;
//! - a known field with another wire type than its own is an error;
//! - a repeated singular field takes its last value; a repeated singular message is merged
//!   into the first (its lists appended to, its scalars replaced);
//! - an `AnyValue` set twice takes the last kind, merged when both are arrays or both are lists;
//! - strings must be UTF-8, also those the model does not keep (`schemaUrl`, entity refs);
//! - integers wider than their field are truncated, as prost's `as` casts do;
//! - a varint has at most ten bytes and a nested message at most 100 levels (prost's limit);
//! - `ResourceSpans` field 1000 (the pre-1.0 `instrumentation_library_spans`) is read as scope
//!   spans and put after the others, as [`super::otlp_proto::TracesDataCompat`] does.
//!
//! Errors name the byte offset in the message where reading stopped.

use std::borrow::Cow;
use std::fmt;

use crate::model::otlp::{
    AnyValue, Event, KeyValue, Link, Resource, ResourceSpans, Scope, ScopeSpans, Span, Status, TracesData, non_zero,
};

/// How deep messages may nest, counted as prost counts ([`prost::DecodeError`]'s recursion limit).
const RECURSION_LIMIT: u32 = 100;

const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LEN: u8 = 2;
const START_GROUP: u8 = 3;
const END_GROUP: u8 = 4;
const FIXED32: u8 = 5;

/// Why a message could not be read, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireError {
    /// Byte offset in the message where reading stopped.
    pub offset: usize,
    pub reason: &'static str,
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.reason, self.offset)
    }
}

impl std::error::Error for WireError {}

type Result<T> = std::result::Result<T, WireError>;

/// Read one `TracesData` / `ExportTraceServiceRequest` message.
pub fn decode(bytes: &[u8]) -> Result<TracesData<'_>> {
    let mut doc = TracesData::default();
    let mut c = Cursor { bytes, pos: 0, end: bytes.len() };
    while c.more() {
        let (tag, wire, at) = c.key()?;
        match tag {
            1 => {
                let (mut m, depth) = c.message(wire, at, RECURSION_LIMIT)?;
                doc.resource_spans.push(m.resource_spans(depth)?);
            }
            _ => c.skip(wire, tag, at, RECURSION_LIMIT)?,
        }
    }
    Ok(doc)
}

/// A view of the bytes of one message: fields are read from `pos` up to `end`.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
    end: usize,
}

impl<'a> Cursor<'a> {
    #[inline]
    fn more(&self) -> bool {
        self.pos < self.end
    }

    #[inline]
    fn fail<T>(&self, at: usize, reason: &'static str) -> Result<T> {
        Err(WireError { offset: at, reason })
    }

    #[inline]
    fn varint(&mut self) -> Result<u64> {
        let at = self.pos;
        let mut value = 0u64;
        for i in 0..10 {
            let Some(&byte) = self.bytes[..self.end].get(self.pos) else {
                return self.fail(at, "truncated varint");
            };
            self.pos += 1;
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte < 0x80 {
                // The tenth byte holds bit 63 only.
                if i == 9 && byte > 1 {
                    return self.fail(at, "varint overflows 64 bits");
                }
                return Ok(value);
            }
        }
        self.fail(at, "varint longer than 10 bytes")
    }

    /// The next field's tag, wire type and offset.
    #[inline]
    fn key(&mut self) -> Result<(u32, u8, usize)> {
        let at = self.pos;
        let key = self.varint()?;
        if key > u64::from(u32::MAX) {
            return self.fail(at, "invalid field key");
        }
        let wire = (key & 7) as u8;
        if wire > FIXED32 {
            return self.fail(at, "invalid wire type");
        }
        let tag = (key >> 3) as u32;
        if tag == 0 {
            return self.fail(at, "invalid field number 0");
        }
        Ok((tag, wire, at))
    }

    #[inline]
    fn expect(&self, wire: u8, expected: u8, at: usize) -> Result<()> {
        if wire == expected { Ok(()) } else { self.fail(at, "field has the wrong wire type") }
    }

    #[inline]
    fn take(&mut self, n: usize, at: usize) -> Result<&'a [u8]> {
        if n > self.end - self.pos {
            return self.fail(at, "field runs past the end of its message");
        }
        let out = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    /// A length-delimited field's bytes.
    #[inline]
    fn len_delimited(&mut self, wire: u8, at: usize) -> Result<&'a [u8]> {
        self.expect(wire, LEN, at)?;
        let len = self.varint()?;
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        self.take(len, at)
    }

    /// A nested message, and the recursion count its own fields are read with; `depth` is the
    /// count of the fields the message is one of.
    #[inline]
    fn message(&mut self, wire: u8, at: usize, depth: u32) -> Result<(Cursor<'a>, u32)> {
        self.expect(wire, LEN, at)?;
        if depth == 0 {
            return self.fail(at, "messages nested too deep");
        }
        let len = usize::try_from(self.varint()?).unwrap_or(usize::MAX);
        if len > self.end - self.pos {
            return self.fail(at, "message runs past the end of its parent");
        }
        let inner = Cursor { bytes: self.bytes, pos: self.pos, end: self.pos + len };
        self.pos += len;
        Ok((inner, depth - 1))
    }

    #[inline]
    fn string(&mut self, wire: u8, at: usize) -> Result<Cow<'a, str>> {
        let bytes = self.len_delimited(wire, at)?;
        match simdutf8::basic::from_utf8(bytes) {
            Ok(s) => Ok(Cow::Borrowed(s)),
            Err(_) => self.fail(at, "string is not UTF-8"),
        }
    }

    #[inline]
    fn id<const N: usize>(&mut self, wire: u8, at: usize) -> Result<Option<[u8; N]>> {
        let bytes = self.len_delimited(wire, at)?;
        Ok(<[u8; N]>::try_from(bytes).ok().and_then(non_zero))
    }

    #[inline]
    fn uint(&mut self, wire: u8, at: usize) -> Result<u64> {
        self.expect(wire, VARINT, at)?;
        self.varint()
    }

    #[inline]
    fn fixed64(&mut self, wire: u8, at: usize) -> Result<u64> {
        self.expect(wire, FIXED64, at)?;
        let b = self.take(8, at)?;
        Ok(u64::from_le_bytes(b.try_into().expect("eight bytes")))
    }

    #[inline]
    fn fixed32(&mut self, wire: u8, at: usize) -> Result<u32> {
        self.expect(wire, FIXED32, at)?;
        let b = self.take(4, at)?;
        Ok(u32::from_le_bytes(b.try_into().expect("four bytes")))
    }

    /// Skip an unknown field, as prost's `skip_field` does (a group costs a recursion level).
    fn skip(&mut self, wire: u8, tag: u32, at: usize, depth: u32) -> Result<()> {
        if depth == 0 {
            return self.fail(at, "messages nested too deep");
        }
        match wire {
            VARINT => self.varint().map(drop),
            FIXED64 => self.take(8, at).map(drop),
            FIXED32 => self.take(4, at).map(drop),
            LEN => self.len_delimited(wire, at).map(drop),
            START_GROUP => loop {
                let (inner, inner_wire, inner_at) = self.key()?;
                if inner_wire == END_GROUP {
                    return if inner == tag { Ok(()) } else { self.fail(inner_at, "unexpected end of group") };
                }
                self.skip(inner_wire, inner, inner_at, depth - 1)?;
            },
            _ => self.fail(at, "unexpected end of group"),
        }
    }

    /// Check the fields of a message the model does not keep: strings (UTF-8) at `strings`,
    /// varints at `varints`, everything else skipped.
    fn check(&mut self, depth: u32, strings: &[u32], varints: &[u32]) -> Result<()> {
        while self.more() {
            let (tag, wire, at) = self.key()?;
            if strings.contains(&tag) {
                self.string(wire, at)?;
            } else if varints.contains(&tag) {
                self.uint(wire, at)?;
            } else {
                self.skip(wire, tag, at, depth)?;
            }
        }
        Ok(())
    }

    fn resource_spans(&mut self, depth: u32) -> Result<ResourceSpans<'a>> {
        let mut rs = ResourceSpans::default();
        let mut legacy = Vec::new();
        while self.more() {
            let (tag, wire, at) = self.key()?;
            match tag {
                1 => {
                    let (mut m, inner) = self.message(wire, at, depth)?;
                    m.resource(&mut rs.resource, inner)?;
                }
                2 => {
                    let (mut m, inner) = self.message(wire, at, depth)?;
                    rs.scope_spans.push(m.scope_spans(inner)?);
                }
                3 => drop(self.string(wire, at)?),
                1000 => {
                    let (mut m, inner) = self.message(wire, at, depth)?;
                    legacy.push(m.scope_spans(inner)?);
                }
                _ => self.skip(wire, tag, at, depth)?,
            }
        }
        rs.scope_spans.append(&mut legacy);
        Ok(rs)
    }

    fn resource(&mut self, resource: &mut Resource<'a>, depth: u32) -> Result<()> {
        while self.more() {
            let (tag, wire, at) = self.key()?;
            match tag {
                1 => self.key_value_into(&mut resource.attributes, wire, at, depth)?,
                2 => resource.dropped_attributes_count = self.uint(wire, at)? as u32,
                // entity_refs: EntityRef { schema_url, type, id_keys, description_keys }.
                3 => {
                    let (mut m, inner) = self.message(wire, at, depth)?;
                    m.check(inner, &[1, 2, 3, 4], &[])?;
                }
                _ => self.skip(wire, tag, at, depth)?,
            }
        }
        Ok(())
    }

    fn scope_spans(&mut self, depth: u32) -> Result<ScopeSpans<'a>> {
        let mut ss = ScopeSpans::default();
        while self.more() {
            let (tag, wire, at) = self.key()?;
            match tag {
                1 => {
                    let (mut m, inner) = self.message(wire, at, depth)?;
                    m.scope(&mut ss.scope, inner)?;
                }
                2 => {
                    let (mut m, inner) = self.message(wire, at, depth)?;
                    ss.spans.push(m.span(inner)?);
                }
                3 => drop(self.string(wire, at)?),
                _ => self.skip(wire, tag, at, depth)?,
            }
        }
        Ok(ss)
    }

    fn scope(&mut self, scope: &mut Scope<'a>, depth: u32) -> Result<()> {
        while self.more() {
            let (tag, wire, at) = self.key()?;
            match tag {
                1 => scope.name = self.string(wire, at)?,
                2 => scope.version = self.string(wire, at)?,
                3 => self.key_value_into(&mut scope.attributes, wire, at, depth)?,
                4 => drop(self.uint(wire, at)?),
                _ => self.skip(wire, tag, at, depth)?,
            }
        }
        Ok(())
    }

    fn span(&mut self, depth: u32) -> Result<Span<'a>> {
        let mut span = Span::default();
        while self.more() {
            let (tag, wire, at) = self.key()?;
            match tag {
                1 => span.trace_id = self.id(wire, at)?,
                2 => span.span_id = self.id(wire, at)?,
                3 => span.trace_state = self.string(wire, at)?,
                4 => span.parent_span_id = self.id(wire, at)?,
                5 => span.name = self.string(wire, at)?,
                6 => span.kind = self.uint(wire, at)? as i32,
                7 => span.start_time_unix_nano = self.fixed64(wire, at)?,
                8 => span.end_time_unix_nano = self.fixed64(wire, at)?,
                9 => self.key_value_into(&mut span.attributes, wire, at, depth)?,
                10 => span.dropped_attributes_count = self.uint(wire, at)? as u32,
                11 => {
                    let (mut m, inner) = self.message(wire, at, depth)?;
                    span.events.push(m.event(inner)?);
                }
                12 => span.dropped_events_count = self.uint(wire, at)? as u32,
                13 => {
                    let (mut m, inner) = self.message(wire, at, depth)?;
                    span.links.push(m.link(inner)?);
                }
                14 => span.dropped_links_count = self.uint(wire, at)? as u32,
                15 => {
                    let (mut m, inner) = self.message(wire, at, depth)?;
                    m.status(&mut span.status, inner)?;
                }
                16 => span.flags = self.fixed32(wire, at)?,
                _ => self.skip(wire, tag, at, depth)?,
            }
        }
        Ok(span)
    }

    fn event(&mut self, depth: u32) -> Result<Event<'a>> {
        let mut event = Event::default();
        while self.more() {
            let (tag, wire, at) = self.key()?;
            match tag {
                1 => event.time_unix_nano = self.fixed64(wire, at)?,
                2 => event.name = self.string(wire, at)?,
                3 => self.key_value_into(&mut event.attributes, wire, at, depth)?,
                4 => event.dropped_attributes_count = self.uint(wire, at)? as u32,
                _ => self.skip(wire, tag, at, depth)?,
            }
        }
        Ok(event)
    }

    fn link(&mut self, depth: u32) -> Result<Link<'a>> {
        let mut link = Link::default();
        while self.more() {
            let (tag, wire, at) = self.key()?;
            match tag {
                1 => link.trace_id = self.id(wire, at)?,
                2 => link.span_id = self.id(wire, at)?,
                3 => link.trace_state = self.string(wire, at)?,
                4 => self.key_value_into(&mut link.attributes, wire, at, depth)?,
                5 => link.dropped_attributes_count = self.uint(wire, at)? as u32,
                6 => link.flags = self.fixed32(wire, at)?,
                _ => self.skip(wire, tag, at, depth)?,
            }
        }
        Ok(link)
    }

    fn status(&mut self, status: &mut Status<'a>, depth: u32) -> Result<()> {
        while self.more() {
            let (tag, wire, at) = self.key()?;
            match tag {
                2 => status.message = self.string(wire, at)?,
                3 => status.code = self.uint(wire, at)? as i32,
                _ => self.skip(wire, tag, at, depth)?,
            }
        }
        Ok(())
    }

    /// Read a `KeyValue` field and push it onto `list`.
    #[inline]
    fn key_value_into(&mut self, list: &mut Vec<KeyValue<'a>>, wire: u8, at: usize, depth: u32) -> Result<()> {
        let (mut m, inner) = self.message(wire, at, depth)?;
        list.push(m.key_value(inner)?);
        Ok(())
    }

    fn key_value(&mut self, depth: u32) -> Result<KeyValue<'a>> {
        let mut kv = KeyValue { key: Cow::Borrowed(""), value: AnyValue::Empty };
        while self.more() {
            let (tag, wire, at) = self.key()?;
            match tag {
                1 => kv.key = self.string(wire, at)?,
                2 => {
                    let (mut m, inner) = self.message(wire, at, depth)?;
                    m.any_value(&mut kv.value, inner)?;
                }
                // key_strindex (profiles' string table).
                3 => drop(self.uint(wire, at)?),
                _ => self.skip(wire, tag, at, depth)?,
            }
        }
        Ok(kv)
    }

    /// Merge an `AnyValue` message into `value`: each member replaces the value, except an
    /// array or list merged into one of its own kind.
    fn any_value(&mut self, value: &mut AnyValue<'a>, depth: u32) -> Result<()> {
        while self.more() {
            let (tag, wire, at) = self.key()?;
            match tag {
                1 => *value = AnyValue::String(self.string(wire, at)?),
                2 => *value = AnyValue::Bool(self.uint(wire, at)? != 0),
                3 => *value = AnyValue::Int(self.uint(wire, at)? as i64),
                4 => *value = AnyValue::Double(f64::from_bits(self.fixed64(wire, at)?)),
                5 => {
                    let (mut m, inner) = self.message(wire, at, depth)?;
                    if !matches!(value, AnyValue::Array(_)) {
                        *value = AnyValue::Array(Vec::new());
                    }
                    let AnyValue::Array(values) = value else { unreachable!("set just above") };
                    while m.more() {
                        let (tag, wire, at) = m.key()?;
                        if tag == 1 {
                            let (mut item, item_depth) = m.message(wire, at, inner)?;
                            let mut v = AnyValue::Empty;
                            item.any_value(&mut v, item_depth)?;
                            values.push(v);
                        } else {
                            m.skip(wire, tag, at, inner)?;
                        }
                    }
                }
                6 => {
                    let (mut m, inner) = self.message(wire, at, depth)?;
                    if !matches!(value, AnyValue::KvList(_)) {
                        *value = AnyValue::KvList(Vec::new());
                    }
                    let AnyValue::KvList(values) = value else { unreachable!("set just above") };
                    while m.more() {
                        let (tag, wire, at) = m.key()?;
                        if tag == 1 {
                            m.key_value_into(values, wire, at, inner)?;
                        } else {
                            m.skip(wire, tag, at, inner)?;
                        }
                    }
                }
                7 => *value = AnyValue::Bytes(Cow::Borrowed(self.len_delimited(wire, at)?)),
                // string_value_strindex: a reference into a profile's string table, which traces
                // do not have; the model shows it as empty, as it shows prost's variant.
                8 => {
                    self.uint(wire, at)?;
                    *value = AnyValue::Empty;
                }
                _ => self.skip(wire, tag, at, depth)?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::otlp_proto::{decode_message, to_model};
    use crate::testing::{encode_proto, synthetic_traces};

    /// What prost and the model make of `bytes`: the model's debug text, or that it failed.
    fn reference(bytes: &[u8]) -> Option<String> {
        decode_message(bytes).ok().map(|m| format!("{:?}", to_model(&m)))
    }

    fn ours(bytes: &[u8]) -> Option<String> {
        decode(bytes).ok().map(|d| format!("{d:?}"))
    }

    #[track_caller]
    fn same(bytes: &[u8]) {
        assert_eq!(ours(bytes), reference(bytes), "input {bytes:02x?}");
    }

    fn varint(mut v: u64) -> Vec<u8> {
        let mut out = Vec::new();
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
        out
    }

    /// One field: key, then the payload as the wire type wants it.
    fn field(tag: u64, wire: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = varint(tag << 3 | u64::from(wire));
        if wire == LEN {
            out.extend(varint(payload.len() as u64));
        }
        out.extend(payload);
        out
    }

    fn msg(tag: u64, parts: &[Vec<u8>]) -> Vec<u8> {
        field(tag, LEN, &parts.concat())
    }

    /// A message of one resource, one scope and one span with the given span fields.
    fn with_span(span_fields: &[Vec<u8>]) -> Vec<u8> {
        msg(1, &[msg(2, &[msg(2, span_fields)])])
    }

    #[test]
    fn generated_messages_decode_as_prost_decodes_them() {
        for (seed, traces, spans) in [(1, 1, 1), (2, 7, 5), (3, 200, 6)] {
            let bytes = encode_proto(&synthetic_traces(seed, traces, spans, 1_700_000_000_000_000_000));
            let ours = decode(&bytes).expect("generated message");
            assert_eq!(format!("{ours:?}"), reference(&bytes).unwrap());
            let spans_read: usize =
                ours.resource_spans.iter().flat_map(|r| &r.scope_spans).map(|s| s.spans.len()).sum();
            assert_eq!(spans_read, traces * spans);
        }
        same(&[]);
    }

    #[test]
    fn every_fixture_decodes_as_prost_decodes_it() {
        use crate::ingest::otlp_json::{Document, decode_value};
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/otlp-samples");
        let mut documents = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read(&path).unwrap();
            // JSON Lines are decoded a line at a time, other files whole.
            let values: Vec<&[u8]> = if path.extension().is_some_and(|e| e == "jsonl") {
                text.split(|b| *b == b'\n').filter(|l| l.iter().any(|b| !b.is_ascii_whitespace())).collect()
            } else {
                vec![&text]
            };
            for value in values {
                let Ok(docs) = decode_value(value) else { continue };
                for doc in docs {
                    if let Document::Traces(doc) = doc {
                        let bytes = encode_proto(&doc);
                        same(&bytes);
                        assert!(decode(&bytes).is_ok(), "{}", path.display());
                        documents += 1;
                    }
                }
            }
        }
        assert!(documents >= 9, "{documents}");
    }

    #[test]
    fn unknown_fields_of_every_wire_type_are_skipped_and_bad_ones_refused() {
        let name = field(5, LEN, b"n");
        let unknown: [Vec<u8>; 6] = [
            field(99, VARINT, &varint(u64::MAX)),
            field(99, FIXED64, &[1; 8]),
            field(99, FIXED32, &[1; 4]),
            field(99, LEN, b"anything \xff"),
            [varint(99 << 3 | 3), field(1, VARINT, &[5]), field(2, LEN, b"x"), varint(99 << 3 | 4)].concat(),
            [varint(99 << 3 | 3), varint(98 << 3 | 3), varint(98 << 3 | 4), varint(99 << 3 | 4)].concat(),
        ];
        for u in &unknown {
            // At the top level, in a resource span, in a span, in a key-value and in a value.
            same(&[u.clone(), with_span(std::slice::from_ref(&name))].concat());
            same(&msg(1, &[u.clone(), msg(2, &[msg(2, std::slice::from_ref(&name))])]));
            same(&with_span(&[name.clone(), u.clone()]));
            let kv = msg(9, &[field(1, LEN, b"k"), u.clone(), msg(2, &[u.clone(), field(1, LEN, b"v")])]);
            same(&with_span(&[kv]));
            assert!(decode(&with_span(&[name.clone(), u.clone()])).is_ok());
        }
        let refused: [Vec<u8>; 7] = [
            varint(99 << 3 | 4),                                       // end group without a start
            [varint(99 << 3 | 3), varint(98 << 3 | 4)].concat(),       // mismatched end group
            varint(99 << 3 | 3),                                       // unterminated group
            varint(99 << 3 | 6),                                       // wire type 6
            varint(7),                                                 // field number 0
            varint(u64::from(u32::MAX) + 1),                           // key wider than 32 bits
            [varint(99 << 3 | 2), varint(5), b"ab".to_vec()].concat(), // length past the end
        ];
        for r in &refused {
            for input in
                [[r.clone(), with_span(std::slice::from_ref(&name))].concat(), with_span(&[name.clone(), r.clone()])]
            {
                same(&input);
                assert!(decode(&input).is_err(), "{input:02x?}");
            }
        }
    }

    #[test]
    fn known_fields_with_another_wire_type_are_refused() {
        for f in [
            field(1, VARINT, &[1]),      // trace_id
            field(5, FIXED32, &[0; 4]),  // name
            field(6, LEN, b""),          // kind
            field(7, VARINT, &[1]),      // start time
            field(16, FIXED64, &[0; 8]), // flags
            field(15, VARINT, &[1]),     // status
        ] {
            let input = with_span(&[f]);
            same(&input);
            assert!(decode(&input).is_err());
        }
    }

    #[test]
    fn repeated_fields_take_the_last_value_and_messages_merge() {
        let kv = |k: &[u8], value: Vec<u8>| msg(9, &[field(1, LEN, k), msg(2, &[value])]);
        let input = with_span(&[
            field(5, LEN, b"first"),
            field(5, LEN, b"second"),
            field(1, LEN, &[1; 16]),
            field(1, LEN, &[2; 15]),             // wrong length: the id is then absent
            field(6, VARINT, &varint(u64::MAX)), // kind truncated to i32
            field(10, VARINT, &varint(1 << 33 | 7)),
            msg(15, &[field(2, LEN, b"msg"), field(3, VARINT, &[2])]),
            msg(15, &[field(3, VARINT, &[1])]),
            kv(b"a", field(1, LEN, b"text")),
            // Value set twice: the second kind wins.
            msg(9, &[field(1, LEN, b"b"), msg(2, &[field(1, LEN, b"x")]), msg(2, &[field(3, VARINT, &[9])])]),
            // Arrays merge into arrays, lists into lists; another kind replaces them.
            msg(
                9,
                &[
                    field(1, LEN, b"c"),
                    msg(2, &[msg(5, &[msg(1, &[field(3, VARINT, &[1])])])]),
                    msg(2, &[msg(5, &[msg(1, &[field(2, VARINT, &[1])])])]),
                ],
            ),
            msg(
                9,
                &[
                    field(1, LEN, b"d"),
                    msg(2, &[msg(6, &[msg(1, &[field(1, LEN, b"k1")])])]),
                    msg(2, &[msg(6, &[msg(1, &[field(1, LEN, b"k2")])]), field(8, VARINT, &[3])]),
                ],
            ),
            kv(b"e", [field(4, FIXED64, &f64::NAN.to_bits().to_le_bytes()), field(7, LEN, &[0, 255])].concat()),
            kv(b"f", field(8, VARINT, &[4])),
        ]);
        same(&input);
        let doc = decode(&input).unwrap();
        let span = &doc.resource_spans[0].scope_spans[0].spans[0];
        assert_eq!(span.name, "second");
        assert_eq!(span.trace_id, None);
        assert_eq!(span.kind, -1);
        assert_eq!(span.dropped_attributes_count, 7);
        assert_eq!((span.status.message.as_ref(), span.status.code), ("msg", 1));
        assert_eq!(span.attributes[1].value, AnyValue::Int(9));
        assert!(matches!(&span.attributes[2].value, AnyValue::Array(v) if v.len() == 2));
        assert_eq!(span.attributes[3].value, AnyValue::Empty);
        assert_eq!(span.attributes[4].value, AnyValue::Bytes(Cow::Borrowed(&[0, 255])));
        // Resources and scopes given twice merge too; legacy scope spans come last.
        let rs = msg(
            1,
            &[
                msg(1000, &[msg(2, &[field(5, LEN, b"legacy")])]),
                msg(1, &[msg(1, &[field(1, LEN, b"service.name")]), field(2, VARINT, &[3])]),
                msg(2, &[msg(1, &[field(1, LEN, b"s1")]), msg(1, &[field(2, LEN, b"v2")]), msg(2, &[])]),
                msg(1, &[msg(1, &[field(1, LEN, b"host.name")])]),
            ],
        );
        same(&rs);
        let doc = decode(&rs).unwrap();
        assert_eq!(doc.resource_spans[0].resource.attributes.len(), 2);
        assert_eq!(doc.resource_spans[0].scope_spans[0].scope.name, "s1");
        assert_eq!(doc.resource_spans[0].scope_spans[0].scope.version, "v2");
        assert_eq!(doc.resource_spans[0].scope_spans[1].spans[0].name, "legacy");
    }

    #[test]
    fn strings_must_be_utf8_also_where_the_model_drops_them() {
        for input in [
            with_span(&[field(5, LEN, b"\xc3\x28")]),
            msg(1, &[field(3, LEN, b"\xff")]),                       // schema_url
            msg(1, &[msg(2, &[field(3, LEN, b"\xff")])]),            // scope schema_url
            msg(1, &[msg(1, &[msg(3, &[field(3, LEN, b"\xff")])])]), // entity ref id key
            with_span(&[msg(9, &[field(1, LEN, b"k"), msg(2, &[field(1, LEN, b"\x80")])])]),
        ] {
            same(&input);
            assert!(decode(&input).is_err());
        }
        same(&with_span(&[field(5, LEN, "naïve ✓".as_bytes())]));
    }

    #[test]
    fn varints_and_nesting_are_limited_as_prost_limits_them() {
        // Ten bytes with bit 63 set is a varint; a tenth byte of 2 or more, or an eleventh, is not.
        let mut max = vec![0xff; 9];
        max.push(0x01);
        let mut over = vec![0xff; 9];
        over.push(0x02);
        let long = [vec![0x80; 10], vec![0]].concat();
        for v in [max, over, long] {
            same(&with_span(&[[varint(6 << 3), v.clone()].concat()]));
        }
        assert!(decode(&with_span(&[[varint(6 << 3), vec![0x80; 10], vec![0]].concat()])).is_err());
        // Arrays in arrays around the recursion limit: the value is the sixth message level and
        // each array adds two (ArrayValue, AnyValue), so 47 arrays pass and 48 fail.
        let nested = |levels: usize| {
            let mut value = field(3, VARINT, &[1]);
            for _ in 0..levels {
                value = msg(5, &[msg(1, &[value])]);
            }
            with_span(&[msg(9, &[field(1, LEN, b"deep"), msg(2, &[value])])])
        };
        let mut outcomes = Vec::new();
        for levels in 40..52 {
            let input = nested(levels);
            same(&input);
            outcomes.push(decode(&input).is_ok());
        }
        assert_eq!(outcomes.iter().filter(|ok| **ok).count(), 8, "{outcomes:?}");
        // Groups in groups count too.
        let groups = |levels: u64| {
            let mut g = Vec::new();
            for t in 0..levels {
                g.extend(varint((100 + t) << 3 | 3));
            }
            for t in (0..levels).rev() {
                g.extend(varint((100 + t) << 3 | 4));
            }
            g
        };
        for levels in [90, 95, 96, 97, 98, 120] {
            same(&with_span(&[groups(levels)]));
        }
    }

    #[test]
    fn truncated_and_mutated_messages_decode_as_prost_decodes_them() {
        let mut doc = synthetic_traces(9, 2, 4, 1_700_000_000_000_000_000);
        doc.resource_spans.truncate(2);
        let bytes = encode_proto(&doc);
        for end in 0..bytes.len() {
            same(&bytes[..end]);
        }
        let mut rng = crate::util::SplitMix::new(7);
        let mut accepted = 0;
        for i in 0..bytes.len() {
            for change in [0x01u8, 0x80, 0x7f, 0xff] {
                let mut m = bytes.clone();
                m[i] ^= change;
                same(&m);
                accepted += usize::from(decode(&m).is_ok());
            }
            let mut m = bytes.clone();
            m[i] = (rng.next_u64() & 0xff) as u8;
            same(&m);
            let mut m = bytes.clone();
            m.insert(i, (rng.next_u64() & 0xff) as u8);
            same(&m);
            let mut m = bytes.clone();
            m.remove(i);
            same(&m);
        }
        // Many mutations hit values rather than structure: both accept those.
        assert!(accepted > bytes.len(), "{accepted} of {}", 4 * bytes.len());
    }
}
