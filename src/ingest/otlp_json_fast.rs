//! A fast path for OTLP/JSON trace documents in the dialect exporters write.
//!
//! It parses one document straight from the text into the model, without serde's visitors:
//! lowerCamelCase keys, none repeated, integers as numbers or decimal strings, enums as numbers
//! or names, ids as hex or base64, and `schemaUrl` (or a scope's `droppedAttributesCount`) as
//! the only keys it skips. Anything else (`null`, snake_case or legacy keys, unknown keys, an
//! `AnyValue` of several members, deep nesting, top-level arrays, other documents, bad JSON)
//! makes it return `None`, and the document is decoded by the serde decoder of
//! [`super::otlp_json`], whose results and messages are the reference: whatever this path
//! accepts, it decodes exactly as that one does (tested differentially, also on mutated text).
//!
//! Resources are kept as text ([`ResourceSpans::resource_text`]) as the serde decoder's
//! keeping mode keeps them; a resource the builder prepared already is recognised by its text
//! without being parsed again.

use std::borrow::Cow;

use super::otlp_json::{bytes_from_base64, double_from_str, enum_from_str, parse_id, u64_from_str};
use crate::model::otlp::{AnyValue, Event, KeyValue, Link, ResourceSpans, Scope, ScopeSpans, Span, Status, TracesData};

/// The body of an [`Parser::object`] member reader: `"key" => read` arms, where `read` reads the
/// value into its place and gives `Some(())`. Returns the arm's bit (1, 2, 4, ... in order), or
/// `None` for a key with no arm or a value not read.
macro_rules! members {
    ($key:expr; $($name:literal => $read:expr),+ $(,)?) => {{
        let key: &str = $key;
        let mut bit = 1u32;
        $(
            if key == $name {
                return $read.map(|()| bit);
            }
            bit <<= 1;
        )+
        let _ = bit;
        None
    }};
}

/// How deep `arrayValue`/`kvlistValue` may nest here (the serde decoder takes deeper ones).
const MAX_VALUE_DEPTH: usize = 16;

/// Parse the trace document at the start of `text` (after optional whitespace). `known` gives
/// the length of a prepared resource's text that `text` continues with at a resource, if any.
/// Returns the document and the bytes it took, or `None` to leave it to the serde decoder.
pub fn trace_document<'a>(text: &'a str, known: &dyn Fn(&str) -> Option<usize>) -> Option<(TracesData<'a>, usize)> {
    let mut p = Parser { text, b: text.as_bytes(), pos: 0, known, depth: 0 };
    let mut doc = None;
    p.object(|p, key| {
        members!(key; "resourceSpans" => p.list(Parser::resource_spans).map(|v| doc = Some(TracesData { resource_spans: v })))
    })?;
    Some((doc?, p.pos))
}

/// Parse `text`, one span object and nothing else but whitespace, or `None` to leave it to
/// the serde decoder ([`super::otlp_json::decode_span`]).
pub fn span(text: &str) -> Option<Span<'_>> {
    let mut p = Parser { text, b: text.as_bytes(), pos: 0, known: &|_| None, depth: 0 };
    let span = p.span()?;
    p.ws();
    (p.pos == text.len()).then_some(span)
}

struct Parser<'a, 'k> {
    text: &'a str,
    b: &'a [u8],
    pos: usize,
    known: &'k dyn Fn(&str) -> Option<usize>,
    depth: usize,
}

/// The index of the first byte of `b` from `i` on that is not JSON whitespace (space, tab, line
/// feed, carriage return), or `b.len()`.
pub fn skip_whitespace(b: &[u8], mut i: usize) -> usize {
    while let Some(b' ' | b'\n' | b'\r' | b'\t') = b.get(i) {
        i += 1;
    }
    i
}

/// The value of the run of ASCII digits in `b` from `i` on and where it ends, or `None` when
/// there is no digit there or the value does not fit in a `u64`.
fn decimal(b: &[u8], mut i: usize) -> Option<(u64, usize)> {
    let start = i;
    let mut value = 0u64;
    while let Some(&d) = b.get(i).filter(|d| d.is_ascii_digit()) {
        value = value.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
        i += 1;
    }
    (i > start).then_some((value, i))
}

/// Bytes that end the plain run of a string: `"`, `\` and control characters.
const STRING_STOP: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = true;
        i += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

/// The index of the first `"`, `\` or control character in `b` from `i` on (`b.len()` if none),
/// eight bytes at a time: a byte-wise test for a zero byte (`x - 1 & !x`, high bit) flags the
/// first match exactly, as false flags only ever follow a true one.
fn plain_run(b: &[u8], mut i: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    while let Some(word) = b.get(i..i + 8) {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(word);
        let w = u64::from_le_bytes(bytes);
        let (quote, backslash) = (w ^ (ONES * u64::from(b'"')), w ^ (ONES * u64::from(b'\\')));
        let flags = (quote.wrapping_sub(ONES) & !quote
            | backslash.wrapping_sub(ONES) & !backslash
            | w.wrapping_sub(ONES * 0x20) & !w)
            & HIGH;
        if flags != 0 {
            return i + (flags.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while b.get(i).is_some_and(|&c| !STRING_STOP[usize::from(c)]) {
        i += 1;
    }
    i
}

impl<'a> Parser<'a, '_> {
    fn ws(&mut self) {
        self.pos = skip_whitespace(self.b, self.pos);
    }

    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.b.get(self.pos).copied()
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.pos += 1)
    }

    /// An object whose members `member` reads, given the parser (at the value) and the key: it
    /// reads the value and returns the key's bit (one per key of the message), or `None` to give
    /// up. A key met twice (the same bit) gives up.
    fn object(&mut self, mut member: impl FnMut(&mut Self, &str) -> Option<u32>) -> Option<()> {
        self.eat(b'{')?;
        let mut seen = 0u32;
        if self.peek()? == b'}' {
            self.pos += 1;
            return Some(());
        }
        loop {
            let key = self.string()?;
            self.eat(b':')?;
            let bit = member(self, &key)?;
            if seen & bit != 0 {
                return None;
            }
            seen |= bit;
            match self.peek()? {
                b',' => self.pos += 1,
                b'}' => {
                    self.pos += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// An array of items that `item` reads.
    fn list<T>(&mut self, mut item: impl FnMut(&mut Self) -> Option<T>) -> Option<Vec<T>> {
        self.eat(b'[')?;
        let mut out = Vec::new();
        if self.peek()? == b']' {
            self.pos += 1;
            return Some(out);
        }
        loop {
            if out.capacity() == 0 {
                out.reserve(8);
            }
            out.push(item(self)?);
            match self.peek()? {
                b',' => self.pos += 1,
                b']' => {
                    self.pos += 1;
                    return Some(out);
                }
                _ => return None,
            }
        }
    }

    /// A string, borrowed when it has no escapes.
    fn string(&mut self) -> Option<Cow<'a, str>> {
        self.eat(b'"')?;
        let start = self.pos;
        let i = plain_run(self.b, start);
        if *self.b.get(i)? == b'"' {
            self.pos = i + 1;
            return Some(Cow::Borrowed(&self.text[start..i]));
        }
        self.escaped(start, i)
    }

    /// The rest of a string from its first escape at `i` (`start` is after the opening quote).
    fn escaped(&mut self, start: usize, mut i: usize) -> Option<Cow<'a, str>> {
        let mut out = String::with_capacity(i - start + 16);
        let mut run = start;
        loop {
            let c = *self.b.get(i)?;
            if !STRING_STOP[usize::from(c)] {
                i += 1;
                continue;
            }
            out.push_str(&self.text[run..i]);
            match c {
                b'"' => {
                    self.pos = i + 1;
                    return Some(Cow::Owned(out));
                }
                b'\\' => {
                    let e = *self.b.get(i + 1)?;
                    i += 2;
                    match e {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let unit = self.hex4(i)?;
                            i += 4;
                            let code = match unit {
                                0xD800..=0xDBFF => {
                                    (self.b.get(i..i + 2)? == b"\\u").then_some(())?;
                                    let low = self.hex4(i + 2)?;
                                    (0xDC00..=0xDFFF).contains(&low).then_some(())?;
                                    i += 6;
                                    0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
                                }
                                0xDC00..=0xDFFF => return None,
                                _ => unit,
                            };
                            out.push(char::from_u32(code)?);
                        }
                        _ => return None,
                    }
                    run = i;
                }
                _ => return None,
            }
        }
    }

    fn hex4(&self, at: usize) -> Option<u32> {
        let digits = std::str::from_utf8(self.b.get(at..at + 4)?).ok()?;
        digits.bytes().all(|d| d.is_ascii_hexdigit()).then_some(())?;
        u32::from_str_radix(digits, 16).ok()
    }

    /// A number's text, checked against JSON's grammar.
    fn number(&mut self) -> Option<&'a str> {
        self.ws();
        let (b, start) = (self.b, self.pos);
        let digits = |mut i: usize| {
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            i
        };
        let mut i = start + usize::from(b.get(start) == Some(&b'-'));
        match b.get(i)? {
            b'0' => i += 1,
            b'1'..=b'9' => i = digits(i),
            _ => return None,
        }
        if b.get(i) == Some(&b'.') {
            let end = digits(i + 1);
            (end > i + 1).then_some(())?;
            i = end;
        }
        if let Some(b'e' | b'E') = b.get(i) {
            i += 1;
            if let Some(b'+' | b'-') = b.get(i) {
                i += 1;
            }
            let end = digits(i);
            (end > i).then_some(())?;
            i = end;
        }
        self.pos = i;
        Some(&self.text[start..i])
    }

    /// An unsigned integer given as a number or a decimal string (`""` is 0).
    fn u64v(&mut self) -> Option<u64> {
        match self.peek()? {
            b'"' => {
                // Plain digits between the quotes (timestamps), read as they are scanned.
                if let Some((value, end)) = decimal(self.b, self.pos + 1)
                    && self.b.get(end) == Some(&b'"')
                {
                    self.pos = end + 1;
                    return Some(value);
                }
                u64_from_str(&self.string()?)
            }
            b'0'..=b'9' => {
                let n = self.number()?;
                n.bytes().all(|d| d.is_ascii_digit()).then(|| n.parse().ok())?
            }
            _ => None,
        }
    }

    fn u32v(&mut self) -> Option<u32> {
        u32::try_from(self.u64v()?).ok()
    }

    /// A signed integer given as a number or a decimal string.
    fn i64v(&mut self) -> Option<i64> {
        match self.peek()? {
            b'"' => self.string()?.parse().ok(),
            b'-' | b'0'..=b'9' => {
                let n = self.number()?;
                let digits = n.strip_prefix('-').unwrap_or(n);
                (n != "-0" && digits.bytes().all(|d| d.is_ascii_digit())).then(|| n.parse().ok())?
            }
            _ => None,
        }
    }

    /// An enum (span kind, or status code with `STATUS`) as a number or a name.
    fn enum_value<const STATUS: bool>(&mut self) -> Option<i32> {
        match self.peek()? {
            b'"' => enum_from_str::<STATUS>(&self.string()?),
            _ => i32::try_from(self.i64v()?).ok(),
        }
    }

    fn id<const N: usize>(&mut self) -> Option<Option<[u8; N]>> {
        parse_id::<N>(&self.string()?).ok()
    }

    /// A message of type `M` whose members `member` reads (a [`members!`] body, given the message).
    fn message<M: Default>(&mut self, mut member: impl FnMut(&mut Self, &mut M, &str) -> Option<u32>) -> Option<M> {
        let mut m = M::default();
        self.object(|p, key| member(p, &mut m, key))?;
        Some(m)
    }

    /// A value skipped where the serde decoder ignores the key: a string or a number only.
    fn skipped(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => self.string().map(drop),
            _ => self.number().map(drop),
        }
    }

    fn resource_spans(&mut self) -> Option<ResourceSpans<'a>> {
        self.message(|p, m: &mut ResourceSpans<'a>, key| {
            members!(key;
                "resource" => {
                    p.ws();
                    let start = p.pos;
                    match (p.known)(&p.text[start..]) {
                        Some(len) => p.pos += len,
                        None => p.resource_value()?,
                    }
                    m.resource_text = Some(&p.text[start..p.pos]);
                    Some(())
                },
                "scopeSpans" => p.list(Parser::scope_spans).map(|v| m.scope_spans = v),
                "schemaUrl" => p.skipped(),
            )
        })
    }

    /// A resource object, only to find where it ends: its text is what the builder prepares.
    fn resource_value(&mut self) -> Option<()> {
        self.object(|p, key| {
            members!(key;
                "attributes" => p.attributes().map(drop),
                "droppedAttributesCount" => p.u32v().map(drop),
            )
        })
    }

    fn scope_spans(&mut self) -> Option<ScopeSpans<'a>> {
        self.message(|p, m: &mut ScopeSpans<'a>, key| {
            members!(key;
                "scope" => p.scope().map(|v| m.scope = v),
                "spans" => p.list(Parser::span).map(|v| m.spans = v),
                "schemaUrl" => p.skipped(),
            )
        })
    }

    fn scope(&mut self) -> Option<Scope<'a>> {
        self.message(|p, m: &mut Scope<'a>, key| {
            members!(key;
                "name" => p.string().map(|v| m.name = v),
                "version" => p.string().map(|v| m.version = v),
                "attributes" => p.attributes().map(|v| m.attributes = v),
                "droppedAttributesCount" => p.skipped(),
            )
        })
    }

    fn span(&mut self) -> Option<Span<'a>> {
        self.message(|p, m: &mut Span<'a>, key| {
            members!(key;
                "traceId" => p.id().map(|v| m.trace_id = v),
                "spanId" => p.id().map(|v| m.span_id = v),
                "traceState" => p.string().map(|v| m.trace_state = v),
                "parentSpanId" => p.id().map(|v| m.parent_span_id = v),
                "flags" => p.u32v().map(|v| m.flags = v),
                "name" => p.string().map(|v| m.name = v),
                "kind" => p.enum_value::<false>().map(|v| m.kind = v),
                "startTimeUnixNano" => p.u64v().map(|v| m.start_time_unix_nano = v),
                "endTimeUnixNano" => p.u64v().map(|v| m.end_time_unix_nano = v),
                "attributes" => p.attributes().map(|v| m.attributes = v),
                "droppedAttributesCount" => p.u32v().map(|v| m.dropped_attributes_count = v),
                "events" => p.list(Parser::event).map(|v| m.events = v),
                "droppedEventsCount" => p.u32v().map(|v| m.dropped_events_count = v),
                "links" => p.list(Parser::link).map(|v| m.links = v),
                "droppedLinksCount" => p.u32v().map(|v| m.dropped_links_count = v),
                "status" => p.status().map(|v| m.status = v),
            )
        })
    }

    fn status(&mut self) -> Option<Status<'a>> {
        self.message(|p, m: &mut Status<'a>, key| {
            members!(key;
                "message" => p.string().map(|v| m.message = v),
                "code" => p.enum_value::<true>().map(|v| m.code = v),
            )
        })
    }

    fn event(&mut self) -> Option<Event<'a>> {
        self.message(|p, m: &mut Event<'a>, key| {
            members!(key;
                "timeUnixNano" => p.u64v().map(|v| m.time_unix_nano = v),
                "name" => p.string().map(|v| m.name = v),
                "attributes" => p.attributes().map(|v| m.attributes = v),
                "droppedAttributesCount" => p.u32v().map(|v| m.dropped_attributes_count = v),
            )
        })
    }

    fn link(&mut self) -> Option<Link<'a>> {
        self.message(|p, m: &mut Link<'a>, key| {
            members!(key;
                "traceId" => p.id().map(|v| m.trace_id = v),
                "spanId" => p.id().map(|v| m.span_id = v),
                "traceState" => p.string().map(|v| m.trace_state = v),
                "attributes" => p.attributes().map(|v| m.attributes = v),
                "droppedAttributesCount" => p.u32v().map(|v| m.dropped_attributes_count = v),
                "flags" => p.u32v().map(|v| m.flags = v),
            )
        })
    }

    fn attributes(&mut self) -> Option<Vec<KeyValue<'a>>> {
        self.list(Parser::key_value)
    }

    fn key_value(&mut self) -> Option<KeyValue<'a>> {
        if let Some(kv) = self.compact_key_value() {
            return Some(kv);
        }
        let mut m = KeyValue { key: Cow::Borrowed(""), value: AnyValue::Empty };
        self.object(|p, key| {
            members!(key;
                "key" => p.string().map(|v| m.key = v),
                "value" => p.any_value().map(|v| m.value = v),
            )
        })?;
        Some(m)
    }

    /// The form exporters write, `{"key":"k","value":{"stringValue":"v"}}` or with
    /// `"intValue":"n"`, without whitespace or escapes, read by comparing bytes; `None`, having
    /// read nothing, for any other form (which [`key_value`](Self::key_value) then reads).
    fn compact_key_value(&mut self) -> Option<KeyValue<'a>> {
        const KEY: &[u8] = b"{\"key\":\"";
        const VALUE: &[u8] = b"\",\"value\":{\"";
        const STRING: &[u8] = b"stringValue\":\"";
        const INT: &[u8] = b"intValue\":\"";
        self.ws();
        let b = self.b;
        let key = self.pos + KEY.len();
        (b.get(self.pos..key)? == KEY).then_some(())?;
        let key_end = plain_run(b, key);
        let member = key_end + VALUE.len();
        (b.get(key_end..member)? == VALUE).then_some(())?;
        let rest = &b[member..];
        let (is_string, start) = if rest.starts_with(STRING) {
            (true, member + STRING.len())
        } else if rest.starts_with(INT) {
            (false, member + INT.len())
        } else {
            return None;
        };
        let end = plain_run(b, start);
        (b.get(end..end + 3)? == b"\"}}").then_some(())?;
        let text = &self.text[start..end];
        let value = if is_string { AnyValue::String(Cow::Borrowed(text)) } else { AnyValue::Int(text.parse().ok()?) };
        self.pos = end + 3;
        Some(KeyValue { key: Cow::Borrowed(&self.text[key..key_end]), value })
    }

    /// An `AnyValue` of at most one member (`{}` is the empty value).
    fn any_value(&mut self) -> Option<AnyValue<'a>> {
        let mut value = AnyValue::Empty;
        // One bit for every member: a second one gives up.
        self.object(|p, key| {
            value = match key {
                "stringValue" => AnyValue::String(p.string()?),
                "boolValue" => AnyValue::Bool(p.bool_value()?),
                "intValue" => AnyValue::Int(p.i64v()?),
                "doubleValue" => AnyValue::Double(p.double()?),
                "arrayValue" => AnyValue::Array(p.nested(Parser::any_value)?),
                "kvlistValue" => AnyValue::KvList(p.nested(Parser::key_value)?),
                "bytesValue" => AnyValue::Bytes(Cow::Owned(bytes_from_base64(&p.string()?).ok()?)),
                _ => return None,
            };
            Some(1)
        })?;
        Some(value)
    }

    fn bool_value(&mut self) -> Option<bool> {
        self.ws();
        for (word, value) in [("true", true), ("false", false), ("\"true\"", true), ("\"false\"", false)] {
            if self.b[self.pos..].starts_with(word.as_bytes()) {
                self.pos += word.len();
                return Some(value);
            }
        }
        None
    }

    fn double(&mut self) -> Option<f64> {
        match self.peek()? {
            b'"' => double_from_str(&self.string()?),
            // The serde decoder's own number parsing, for the same value to the last bit.
            _ => serde_json::from_str::<f64>(self.number()?).ok(),
        }
    }

    /// `{"values": [...]}` of items that `item` reads (`{}` is empty), nested at most
    /// [`MAX_VALUE_DEPTH`] deep.
    fn nested<T>(&mut self, item: fn(&mut Self) -> Option<T>) -> Option<Vec<T>> {
        self.depth += 1;
        (self.depth <= MAX_VALUE_DEPTH).then_some(())?;
        let mut values = Vec::new();
        self.object(|p, key| members!(key; "values" => p.list(item).map(|v| values = v)))?;
        self.depth -= 1;
        Some(values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::otlp_json::{Document, TopValue};
    use crate::util::SplitMix;

    /// Every feature of the dialect in one document: events, links, every value type, escapes,
    /// ids in hex and base64, integers as numbers and strings, enums by name, skipped keys.
    const FULL: &str = r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"cart"}},
        {"key":"n","value":{"intValue":"-42"}}],"droppedAttributesCount":1},"schemaUrl":"https://x/1.2",
        "scopeSpans":[{"scope":{"name":"lib","version":"1.0","attributes":[{"key":"a","value":{"boolValue":true}}],
        "droppedAttributesCount":0},"schemaUrl":"s","spans":[{"traceId":"5B8EFFF798038103D269B633813FC60C",
        "spanId":"EEE19B7EC3C1B174","parentSpanId":"","traceState":"k=v","flags":256,"name":"GET \"/a\" \u00e9\ud83d\ude00\n",
        "kind":"SPAN_KIND_SERVER","startTimeUnixNano":"1544712660000000000","endTimeUnixNano":1544712661000000000,
        "attributes":[{"key":"s","value":{"stringValue":"plain"}},{"key":"n","value":{"intValue":"12"}},{"key":"d","value":{"doubleValue":1.5e3}},{"key":"d2","value":{"doubleValue":"NaN"}},
        {"key":"i","value":{"intValue":7}},{"key":"b","value":{"boolValue":"false"}},{"key":"e","value":{}},
        {"key":"arr","value":{"arrayValue":{"values":[{"stringValue":"x"},{"intValue":"1"},{}]}}},
        {"key":"kv","value":{"kvlistValue":{"values":[{"key":"in","value":{"doubleValue":-0.25}}]}}},{"key":"nov"}],
        "droppedAttributesCount":2,"events":[{"timeUnixNano":"1544712660500000000","name":"ev",
        "attributes":[{"key":"x","value":{"stringValue":"y"}}],"droppedAttributesCount":1}],"droppedEventsCount":3,
        "links":[{"traceId":"W47/95gDgQPSabYzgT/GDA==","spanId":"7uGbfsPBsXQ=","traceState":"","attributes":[],
        "droppedAttributesCount":0,"flags":1}],"droppedLinksCount":4,"status":{"message":"bad","code":"STATUS_CODE_ERROR"}},
        {"traceId":"5b8efff798038103d269b633813fc60c","spanId":"0000000000000001","kind":2,"status":{}}]}]}]}"#;

    fn serde_first(text: &str) -> Option<(String, usize)> {
        let mut stream = serde_json::Deserializer::from_str(text).into_iter::<TopValue<'_, true>>();
        let Some(Ok(TopValue(docs))) = stream.next() else { return None };
        match <[Document<'_>; 1]>::try_from(docs) {
            Ok([Document::Traces(t)]) => Some((format!("{t:?}"), stream.byte_offset())),
            _ => None,
        }
    }

    fn fast_first(text: &str, known: &dyn Fn(&str) -> Option<usize>) -> Option<(String, usize)> {
        trace_document(text, known).map(|(t, len)| (format!("{t:?}"), len))
    }

    fn no_resources(_: &str) -> Option<usize> {
        None
    }

    #[test]
    fn decodes_what_exporters_write_as_the_serde_decoder_does() {
        let mut docs: Vec<String> = vec![FULL.to_string()];
        docs.extend((0..4).map(|i| crate::testing::encode_json(&crate::testing::synthetic_traces(i, 5, 4, 1_000))));
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/otlp-samples");
        for entry in std::fs::read_dir(&dir).unwrap() {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap_or_default();
            docs.extend(text.lines().filter(|l| l.starts_with('{')).map(str::to_string));
            docs.push(text);
        }
        let mut accepted = 0;
        for doc in &docs {
            let Some(fast) = fast_first(doc, &no_resources) else { continue };
            assert_eq!(Some(&fast), serde_first(doc).as_ref(), "{}", &doc[..doc.len().min(200)]);
            accepted += 1;
            // A resource recognised by its text takes the same bytes.
            let (with_known, _) = trace_document(doc, &|t: &str| {
                let mut value = serde_json::Deserializer::from_str(t).into_iter::<serde::de::IgnoredAny>();
                value.next()?.ok()?;
                Some(value.byte_offset())
            })
            .unwrap();
            assert_eq!(format!("{with_known:?}"), fast.0);
        }
        // Spans alone, as a large document's parts decode them.
        let mut spans = 0;
        for doc in &docs {
            let skeleton = crate::ingest::otlp_json::trace_document_skeleton(doc).unwrap_or_default();
            for raw in skeleton.iter().flat_map(|rs| &rs.scope_spans).flat_map(|ss| &ss.spans) {
                let Some(fast) = span(raw) else { continue };
                let serde = crate::ingest::otlp_json::decode_span(raw).map(|s| format!("{s:?}")).ok();
                assert_eq!(Some(format!("{fast:?}")), serde, "{raw}");
                spans += 1;
            }
        }
        assert!(spans >= 100, "only {spans} spans took the fast path");
        assert!(span(r#"{"name":"a"} x"#).is_none() && span(r#" {"name":"a"} "#).is_some());
        assert!(fast_first(FULL, &no_resources).is_some());
        assert!(accepted >= 60, "only {accepted} of {} documents took the fast path", docs.len());
    }

    /// Cases where the serde decoder's rules are easy to miss: repeated keys (serde appends
    /// repeated `resourceSpans`/`scopeSpans`, keeps the last of others), several `AnyValue`
    /// members, `null`, numbers at the edges of their types, snake_case keys, other documents.
    #[test]
    fn edge_cases_decode_as_the_serde_decoder_does_or_are_left_to_it() {
        let span = |extra: &str| {
            format!(
                r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{{"traceId":"5b8efff798038103d269b633813fc60c",
                "spanId":"eee19b7ec3c1b174"{extra}}}]}}]}}]}}"#
            )
        };
        let value = |v: &str| span(&format!(r#","attributes":[{{"key":"k","value":{v}}}]"#));
        let mut cases = vec![
            r#"{"resourceSpans":[{"scopeSpans":[]}],"resourceSpans":[{"scopeSpans":[]}]}"#.to_string(),
            r#"{"resourceSpans":[{"scopeSpans":[{"spans":[]}],"scopeSpans":[{"spans":[]}]}]}"#.to_string(),
            r#"{"resourceSpans":[]}"#.to_string(),
            "{}".to_string(),
            r#"{"resourceLogs":[]}"#.to_string(),
            r#"[{"resourceSpans":[]}]"#.to_string(),
            r#"{"resource_spans":[]}"#.to_string(),
            span(r#","name":"a","name":"b""#),
            span(r#","trace_id":"5b8efff798038103d269b633813fc60d""#),
            span(r#","name":null"#),
            span(r#","kind":"SERVER""#),
            span(r#","kind":" server ""#),
            span(r#","kind":2147483648"#),
            span(r#","kind":"7""#),
            span(r#","flags":4294967296"#),
            span(r#","flags":"+5""#),
            span(r#","startTimeUnixNano":18446744073709551615"#),
            span(r#","startTimeUnixNano":18446744073709551616"#),
            span(r#","startTimeUnixNano":1e3"#),
            span(r#","startTimeUnixNano":"""#),
            span(r#","startTimeUnixNano":"0""#),
            span(r#","startTimeUnixNano":"007""#),
            span(r#","startTimeUnixNano":"+7""#),
            span(r#","startTimeUnixNano":"18446744073709551615""#),
            span(r#","startTimeUnixNano":"18446744073709551616""#),
            span(r#","startTimeUnixNano":"99999999999999999999999""#),
            span(r#","startTimeUnixNano":"12\u0033""#),
            span(r#","startTimeUnixNano":"12 ""#),
            span(r#","startTimeUnixNano":"-1""#),
            span(r#","startTimeUnixNano":-1"#),
            span(r#","status":{"code":1.0}"#),
            span(r#","status":null"#),
            span(r#","events":[{"name":"e","name":"f"}]"#),
            // Attributes in the compact form and near it.
            span(r#","attributes":[{"key":"k\"q","value":{"stringValue":"v"}}]"#),
            span(r#","attributes":[{"key":"k" ,"value":{"stringValue":"v"}}]"#),
            span(r#","attributes":[ {"key":"k","value":{"stringValue":"v"}} ]"#),
            span(r#","attributes":[{"value":{"stringValue":"v"},"key":"k"}]"#),
            span(r#","attributes":[{"key":"k","value":{"stringValue":"v"},"key":"j"}]"#),
            span(r#","attributes":[{"key":"k","value":{"stringValue":"v"}},{"key":"k","value":{"intValue":"3"}}]"#),
            span("\n,\"attributes\":[{\"key\":\"k\u{1}\",\"value\":{\"stringValue\":\"v\"}}]"),
            span(r#","links":[{"traceId":"","spanId":"AAAAAAAAAAA="}]"#),
        ];
        // Values of skipped keys: only valid JSON may be skipped.
        for n in ["1.", "01", "-", "1e", ".5", "1.5e+3", "-0", "1E-2", "\"a\"", "null", "{}", "[1]"] {
            cases.push(format!(r#"{{"resourceSpans":[{{"schemaUrl":{n},"scopeSpans":[{{"scope":{{"droppedAttributesCount":{n}}}}}]}}]}}"#));
        }
        for v in [
            r#"{"stringValue":"a","intValue":"1"}"#,
            r#"{"intValue":"1","stringValue":"a"}"#,
            r#"{"intValue":"+5"}"#,
            r#"{"intValue":"-0"}"#,
            r#"{"intValue":"12x"}"#,
            r#"{"intValue":"9223372036854775808"}"#,
            r#"{"intValue":"1\u0030"}"#,
            r#"{"stringValue":""}"#,
            r#"{"stringValue":"a\"b"}"#,
            r#"{"stringValue" :"a"}"#,
            r#"{ "stringValue":"a"}"#,
            r#"{"stringValue":"a" }"#,
            r#"{"intValue":null}"#,
            r#"{"intValue":-0}"#,
            r#"{"intValue":-9223372036854775808}"#,
            r#"{"intValue":-9223372036854775809}"#,
            r#"{"intValue":9223372036854775808}"#,
            r#"{"intValue":"0x10"}"#,
            r#"{"intValue":1.0}"#,
            r#"{"doubleValue":-0}"#,
            r#"{"doubleValue":1E400}"#,
            r#"{"doubleValue":"-Infinity"}"#,
            r#"{"doubleValue":"1e5"}"#,
            r#"{"doubleValue":0.1000000000000000055511151231257827}"#,
            r#"{"boolValue":"True"}"#,
            r#"{"boolValue":truex}"#,
            r#"{"bytesValue":"aGk="}"#,
            r#"{"bytesValue":"-_8="}"#,
            r#"{"bytesValue":"a"}"#,
            r#"{"arrayValue":{"values":[],"values":[{}]}}"#,
            r#"{"arrayValue":{}}"#,
            r#"{"kvlistValue":{"values":[{"key":"a"}]}}"#,
            r#"{"string_value":"a"}"#,
            r#"{"stringValue":"\ud800"}"#,
            r#"{"stringValue":"\ud83d\ude00\u0041\/"}"#,
            "{\"stringValue\":\"tab\there\"}",
        ] {
            cases.push(value(v));
        }
        let mut accepted = 0;
        for case in &cases {
            if let Some(fast) = fast_first(case, &no_resources) {
                assert_eq!(Some(fast), serde_first(case), "{case}");
                accepted += 1;
            }
        }
        assert!(accepted >= 15, "accepted {accepted} of {}", cases.len());
    }

    #[test]
    fn plain_runs_end_at_the_first_quote_backslash_or_control_character() {
        for text in ["", "abc", "abcdefgh\"", "é\u{1}", "0123456789abcdef\\x", "a\"b\\c", "\u{7f}\u{80}ÿ€ the end\n"]
        {
            let b = text.as_bytes();
            for from in 0..=b.len() {
                let want = (from..b.len()).find(|&i| STRING_STOP[usize::from(b[i])]).unwrap_or(b.len());
                assert_eq!(plain_run(b, from), want, "{text:?} from {from}");
            }
        }
    }

    /// Whatever the fast path accepts of a mutated document, serde decodes the same way; what it
    /// cannot decode exactly so, it leaves.
    #[test]
    fn mutated_documents_decode_as_the_serde_decoder_does_or_are_left_to_it() {
        const BYTES: &[u8] = b"\"\\{}[],:0-1e.+ ntfxuU\x01\t";
        let base = FULL.replace("\n        ", "");
        let mut rng = SplitMix::new(11);
        let (mut accepted, mut left) = (0, 0);
        for _ in 0..20000 {
            let mut bytes = base.clone().into_bytes();
            for _ in 0..1 + rng.below(2) {
                let at = rng.below(bytes.len() as u64) as usize;
                let b = BYTES[rng.below(BYTES.len() as u64) as usize];
                match rng.below(4) {
                    0 => {
                        bytes.remove(at);
                    }
                    1 => bytes.insert(at, b),
                    2 => bytes[at] = b,
                    _ => {
                        // Repeat a stretch: repeated keys, members and values.
                        let len = (rng.below(40) as usize).min(bytes.len() - at);
                        let piece = bytes[at..at + len].to_vec();
                        bytes.splice(at..at, piece);
                    }
                }
            }
            let Ok(text) = String::from_utf8(bytes) else { continue };
            match fast_first(&text, &no_resources) {
                Some(fast) => {
                    assert_eq!(Some(fast), serde_first(&text), "{text}");
                    accepted += 1;
                }
                None => left += 1,
            }
        }
        assert!(accepted > 500 && left > 5000, "accepted {accepted}, left {left}");
    }
}
