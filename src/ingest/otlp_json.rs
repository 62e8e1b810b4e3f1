//! Our own tolerant OTLP/JSON decoder.
//!
//! Generic serde derives reject valid OTLP/JSON (see `input-formats.md` §1c), so every message
//! here has a hand-written visitor with these rules:
//! * keys in lowerCamelCase **and** snake_case; unknown keys ignored; `null` anywhere means absent;
//! * ids as hex of any case, `""` (absent), or base64 of the right length (Go protojson dialect);
//! * 64-bit integers as strings or numbers; doubles as numbers or `"NaN"`/`"Infinity"`;
//! * enums as integers or names (`"SPAN_KIND_SERVER"`, `"SERVER"`);
//! * `{}` is the empty `AnyValue`; `instrumentationLibrarySpans`/`instrumentationLibrary` are
//!   accepted as the legacy names of `scopeSpans`/`scope`.
//!
//! Top-level values are classified: trace documents are decoded, log/metric/profile documents
//! and empty `{}` are reported for skipping, and JSON that is not OTLP (Jaeger, Zipkin, Go
//! `stdouttrace`, flattened spans) gets an error that says what it looks like.
//! Strings borrow from the input buffer whenever they contain no escapes.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use base64::Engine as _;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::model::otlp::{
    AnyValue, Event, KeyValue, Link, Resource, ResourceSpans, Scope, ScopeSpans, Span, SpanId, Status, TraceId,
    TracesData, kind_from_name, non_zero, status_from_name,
};

/// What one top-level JSON object turned out to be.
#[derive(Debug)]
pub enum Document<'a> {
    Traces(TracesData<'a>),
    /// A document to skip; the reason is the `run_info` reason key.
    Skip(&'static str),
    /// Not OTLP at all; the message says what it looks like.
    NotOtlp(String),
}

/// One top-level JSON value: an object, or an array of objects (each a document). With `KEEP`,
/// each `resourceSpans[].resource` is kept as its raw text ([`ResourceSpans::resource_text`],
/// decoded by [`decode_kept_resource`]), so that identical resources are decoded once.
pub struct TopValue<'a, const KEEP: bool = false>(pub Vec<Document<'a>>);

impl<'de, const KEEP: bool> de::Deserialize<'de> for TopValue<'de, KEEP> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<const K: bool>;
        impl<'de, const K: bool> Visitor<'de> for V<K> {
            type Value = TopValue<'de, K>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an OTLP/JSON object such as {\"resourceSpans\": [...]}")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                Ok(TopValue(vec![visit_document::<A, K>(map)?]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut docs = Vec::new();
                while let Some(doc) = seq.next_element::<DocumentDe<'de, K>>()? {
                    docs.push(doc.0);
                }
                Ok(TopValue(docs))
            }
        }
        d.deserialize_any(V::<KEEP>)
    }
}

struct DocumentDe<'a, const KEEP: bool>(Document<'a>);

impl<'de, const KEEP: bool> de::Deserialize<'de> for DocumentDe<'de, KEEP> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<const K: bool>;
        impl<'de, const K: bool> Visitor<'de> for V<K> {
            type Value = DocumentDe<'de, K>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an OTLP/JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                visit_document::<A, K>(map).map(DocumentDe)
            }
        }
        d.deserialize_any(V::<KEEP>)
    }
}

fn visit_document<'de, A: MapAccess<'de>, const KEEP: bool>(mut map: A) -> Result<Document<'de>, A::Error> {
    let mut traces: Option<TracesData<'de>> = None;
    let mut skip: Option<&'static str> = None;
    let mut other_keys: Vec<String> = Vec::new();
    while let Some(key) = map.next_key::<Str<'de>>()? {
        match key.0.as_ref() {
            "resourceSpans" | "resource_spans" => {
                let list = &mut traces.get_or_insert_with(TracesData::default).resource_spans;
                if KEEP {
                    list.extend(map.next_value::<List<KeptResourceSpansDe<'de>>>()?.0.into_iter().map(|r| r.0));
                } else {
                    list.extend(map.next_value::<List<ResourceSpansDe<'de>>>()?.0.into_iter().map(|r| r.0));
                }
            }
            "resourceLogs" | "resource_logs" => {
                map.next_value::<IgnoredAny>()?;
                skip = Some("logs_document");
            }
            "resourceMetrics" | "resource_metrics" => {
                map.next_value::<IgnoredAny>()?;
                skip = Some("metrics_document");
            }
            "resourceProfiles" | "resource_profiles" => {
                map.next_value::<IgnoredAny>()?;
                skip = Some("profiles_document");
            }
            other => {
                if other_keys.len() < 16 {
                    other_keys.push(other.to_string());
                }
                map.next_value::<IgnoredAny>()?;
            }
        }
    }
    Ok(match (traces, skip) {
        (Some(t), _) => Document::Traces(t),
        (None, Some(reason)) => Document::Skip(reason),
        (None, None) if other_keys.is_empty() => Document::Skip("empty_document"),
        (None, None) => Document::NotOtlp(describe_foreign(&other_keys)),
    })
}

/// Say what a non-OTLP JSON object looks like, from its keys.
fn describe_foreign(keys: &[String]) -> String {
    let has = |k: &str| keys.iter().any(|x| x == k);
    let what = if has("data") && !has("traceId") {
        Some("Jaeger query API JSON ({\"data\": [{\"traceID\", \"spans\", \"processes\"}]})")
    } else if has("traceID") && (has("spans") || has("processes")) {
        Some("a Jaeger trace ({\"traceID\", \"spans\", \"processes\"})")
    } else if has("SpanContext") || (has("Name") && has("SpanKind")) {
        Some("Go SDK stdouttrace output")
    } else if has("localEndpoint") || has("remoteEndpoint") || (has("traceId") && has("timestamp") && has("duration")) {
        Some("Zipkin v2 JSON")
    } else if keys.iter().any(|k| k.starts_with("resource_attr:")) {
        Some("a VictoriaTraces flattened span")
    } else if has("TraceSegmentDocuments") || has("segments") || (has("trace_id") && has("start_time") && has("id")) {
        Some("AWS X-Ray segment JSON")
    } else if has("traceId") && has("spanId") {
        Some("a flattened span (CloudWatch aws/spans, OpenSearch/Data Prepper); OTLP nests spans in resourceSpans")
    } else {
        None
    };
    let shown = keys.iter().take(6).map(|k| format!("{k:?}")).collect::<Vec<_>>().join(", ");
    match what {
        Some(w) => format!("not OTLP/JSON: this looks like {w} (keys {shown})"),
        None => format!("not OTLP/JSON: no resourceSpans, resourceLogs or resourceMetrics key (keys {shown})"),
    }
}

// ---------------------------------------------------------------------------------------------
// Primitive tolerant values
// ---------------------------------------------------------------------------------------------

/// A string that borrows when it can; `null` is the empty string.
struct Str<'a>(Cow<'a, str>);

impl<'de> de::Deserialize<'de> for Str<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Str<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v.to_string())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v)))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Str(Cow::Borrowed("")))
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                self.visit_unit()
            }
        }
        d.deserialize_any(V)
    }
}

/// An unsigned 64-bit integer given as a number or a decimal string; `null` is 0.
struct U64(u64);

impl<'de> de::Deserialize<'de> for U64 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = U64;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an unsigned integer (number or decimal string)")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<U64, E> {
                Ok(U64(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<U64, E> {
                u64::try_from(v)
                    .map(U64)
                    .map_err(|_| E::custom(format!("negative value {v} where an unsigned integer is required")))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<U64, E> {
                if v >= 0.0 && v.fract() == 0.0 && v < 1.8446744073709552e19 {
                    Ok(U64(v as u64))
                } else {
                    Err(E::custom(format!("{v} is not an unsigned integer")))
                }
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<U64, E> {
                u64_from_str(v).map(U64).ok_or_else(|| E::custom(format!("{v:?} is not an unsigned integer")))
            }
            fn visit_unit<E: de::Error>(self) -> Result<U64, E> {
                Ok(U64(0))
            }
            fn visit_none<E: de::Error>(self) -> Result<U64, E> {
                Ok(U64(0))
            }
        }
        d.deserialize_any(V)
    }
}

/// An unsigned 64-bit integer given as a decimal string; `""` is 0.
pub fn u64_from_str(v: &str) -> Option<u64> {
    if v.is_empty() { Some(0) } else { v.parse().ok() }
}

/// A `u32` count or flags value, given as a number or a string.
struct U32(u32);

impl<'de> de::Deserialize<'de> for U32 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let U64(v) = U64::deserialize(d)?;
        u32::try_from(v).map(U32).map_err(|_| de::Error::custom(format!("{v} does not fit in 32 bits")))
    }
}

/// A signed 64-bit integer given as a number or a decimal string; `null` is absent.
struct I64(Option<i64>);

impl<'de> de::Deserialize<'de> for I64 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = I64;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an integer (number or decimal string)")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<I64, E> {
                Ok(I64(Some(v)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<I64, E> {
                i64::try_from(v).map(|v| I64(Some(v))).map_err(|_| E::custom(format!("{v} does not fit in int64")))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<I64, E> {
                if v.fract() == 0.0 && v.abs() < 9.2e18 {
                    Ok(I64(Some(v as i64)))
                } else {
                    Err(E::custom(format!("{v} is not an integer")))
                }
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<I64, E> {
                v.parse().map(|v| I64(Some(v))).map_err(|_| E::custom(format!("{v:?} is not an integer")))
            }
            fn visit_unit<E: de::Error>(self) -> Result<I64, E> {
                Ok(I64(None))
            }
            fn visit_none<E: de::Error>(self) -> Result<I64, E> {
                Ok(I64(None))
            }
        }
        d.deserialize_any(V)
    }
}

/// A double given as a number or a string (`"NaN"`, `"Infinity"`, `"-Infinity"`, decimal).
struct F64(Option<f64>);

impl<'de> de::Deserialize<'de> for F64 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = F64;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a double (number, \"NaN\", \"Infinity\" or \"-Infinity\")")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<F64, E> {
                Ok(F64(Some(v)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<F64, E> {
                Ok(F64(Some(v as f64)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<F64, E> {
                Ok(F64(Some(v as f64)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<F64, E> {
                double_from_str(v).map(|v| F64(Some(v))).ok_or_else(|| E::custom(format!("{v:?} is not a double")))
            }
            fn visit_unit<E: de::Error>(self) -> Result<F64, E> {
                Ok(F64(None))
            }
            fn visit_none<E: de::Error>(self) -> Result<F64, E> {
                Ok(F64(None))
            }
        }
        d.deserialize_any(V)
    }
}

/// A double given as a string: `"NaN"`, `"Infinity"`, `"-Infinity"` or decimal.
pub fn double_from_str(v: &str) -> Option<f64> {
    match v {
        "NaN" => Some(f64::NAN),
        "Infinity" => Some(f64::INFINITY),
        "-Infinity" => Some(f64::NEG_INFINITY),
        _ => v.parse().ok(),
    }
}

/// A boolean, also accepted as the strings `"true"`/`"false"`.
struct Bool(Option<bool>);

impl<'de> de::Deserialize<'de> for Bool {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Bool;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a boolean")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Bool, E> {
                Ok(Bool(Some(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Bool, E> {
                match v {
                    "true" => Ok(Bool(Some(true))),
                    "false" => Ok(Bool(Some(false))),
                    _ => Err(E::custom(format!("{v:?} is not a boolean"))),
                }
            }
            fn visit_unit<E: de::Error>(self) -> Result<Bool, E> {
                Ok(Bool(None))
            }
            fn visit_none<E: de::Error>(self) -> Result<Bool, E> {
                Ok(Bool(None))
            }
        }
        d.deserialize_any(V)
    }
}

/// An enum value given as an integer or a name, parsed by `by_name`.
struct Enum<const STATUS: bool>(i32);

impl<'de, const STATUS: bool> de::Deserialize<'de> for Enum<STATUS> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<const S: bool>;
        impl<const S: bool> Visitor<'_> for V<S> {
            type Value = Enum<S>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(if S { "a status code (integer or name)" } else { "a span kind (integer or name)" })
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Enum<S>, E> {
                i32::try_from(v).map(Enum).map_err(|_| E::custom(format!("enum value {v} out of range")))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Enum<S>, E> {
                i32::try_from(v).map(Enum).map_err(|_| E::custom(format!("enum value {v} out of range")))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Enum<S>, E> {
                enum_from_str::<S>(v)
                    .map(Enum)
                    .ok_or_else(|| E::custom(format!("unknown {} {v:?}", if S { "status code" } else { "span kind" })))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Enum<S>, E> {
                Ok(Enum(0))
            }
            fn visit_none<E: de::Error>(self) -> Result<Enum<S>, E> {
                Ok(Enum(0))
            }
        }
        d.deserialize_any(V::<STATUS>)
    }
}

/// A span kind (a status code with `STATUS`) given as a string: a number or a name.
pub fn enum_from_str<const STATUS: bool>(v: &str) -> Option<i32> {
    if let Ok(n) = v.parse::<i32>() {
        return Some(n);
    }
    if STATUS { status_from_name(v) } else { kind_from_name(v) }
}

/// A trace or span id of `N` bytes: hex of any case, `""`/`null` (absent), or base64.
struct Id<const N: usize>(Option<[u8; N]>);

/// Decode an OTLP/JSON id: hex (any case) of `2N` digits, or base64 of `N` bytes. Empty is absent.
pub fn parse_id<const N: usize>(s: &str) -> Result<Option<[u8; N]>, String> {
    if s.is_empty() {
        return Ok(None);
    }
    let mut out = [0u8; N];
    if s.len() == 2 * N && hex_into(s.as_bytes(), &mut out) {
        return Ok(non_zero(out));
    }
    if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(s)
        && bytes.len() == N
    {
        out.copy_from_slice(&bytes);
        return Ok(non_zero(out));
    }
    Err(format!("invalid {}-byte id {s:?}: expected {} hex digits", N, 2 * N))
}

/// Value of each byte as a hex digit, or 0xff.
const HEX: [u8; 256] = {
    let mut table = [0xffu8; 256];
    let mut i = 0;
    while i < 10 {
        table[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        table[b'a' as usize + i] = 10 + i as u8;
        table[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    table
};

/// Decode `2 * out.len()` hex digits of any case into `out`; false if one is not a hex digit.
fn hex_into(digits: &[u8], out: &mut [u8]) -> bool {
    let mut bad = 0u8;
    for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        let (hi, lo) = (HEX[usize::from(pair[0])], HEX[usize::from(pair[1])]);
        bad |= hi | lo;
        *byte = (hi << 4) | (lo & 0x0f);
    }
    bad & 0xf0 == 0
}

impl<'de, const N: usize> de::Deserialize<'de> for Id<N> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let Str(s) = Str::deserialize(d)?;
        parse_id::<N>(&s).map(Id).map_err(de::Error::custom)
    }
}

/// A JSON array of `T` where `null` is an empty list.
struct List<T>(Vec<T>);

impl<'de, T: de::Deserialize<'de>> de::Deserialize<'de> for List<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: de::Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = List<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an array")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<List<T>, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
                while let Some(item) = seq.next_element()? {
                    if out.capacity() == 0 {
                        // serde_json gives no size hint; 8 holds most attribute lists at once.
                        out.reserve(8);
                    }
                    out.push(item);
                }
                Ok(List(out))
            }
            fn visit_unit<E: de::Error>(self) -> Result<List<T>, E> {
                Ok(List(Vec::new()))
            }
            fn visit_none<E: de::Error>(self) -> Result<List<T>, E> {
                Ok(List(Vec::new()))
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

// ---------------------------------------------------------------------------------------------
// Messages. Each `xxxDe` wraps a model type; `null` gives the default message.
// ---------------------------------------------------------------------------------------------

/// Implements `Deserialize` for a message wrapper whose fields are read by `$body`, a function
/// `fn(&mut Model, key: &str, &mut A) -> Result<bool, A::Error>` that returns false for unknown keys.
macro_rules! message {
    ($wrapper:ident, $model:ident, $what:literal, $fields:path) => {
        struct $wrapper<'a>($model<'a>);

        impl<'de> de::Deserialize<'de> for $wrapper<'de> {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> Visitor<'de> for V {
                    type Value = $wrapper<'de>;
                    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                        f.write_str($what)
                    }
                    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                        let mut msg = $model::default();
                        while let Some(key) = map.next_key::<Str<'de>>()? {
                            if !$fields(&mut msg, key.0.as_ref(), &mut map)? {
                                map.next_value::<IgnoredAny>()?;
                            }
                        }
                        Ok($wrapper(msg))
                    }
                    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                        Ok($wrapper($model::default()))
                    }
                    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                        self.visit_unit()
                    }
                }
                d.deserialize_any(V)
            }
        }
    };
}

fn attrs<'de, A: MapAccess<'de>>(map: &mut A) -> Result<Vec<KeyValue<'de>>, A::Error> {
    Ok(map.next_value::<List<KeyValueDe<'de>>>()?.0.into_iter().map(|kv| kv.0).collect())
}

fn string<'de, A: MapAccess<'de>>(map: &mut A) -> Result<Cow<'de, str>, A::Error> {
    Ok(map.next_value::<Str<'de>>()?.0)
}

fn trace_id<'de, A: MapAccess<'de>>(map: &mut A) -> Result<TraceId, A::Error> {
    Ok(map.next_value::<Id<16>>()?.0)
}

fn span_id<'de, A: MapAccess<'de>>(map: &mut A) -> Result<SpanId, A::Error> {
    Ok(map.next_value::<Id<8>>()?.0)
}

fn u32v<'de, A: MapAccess<'de>>(map: &mut A) -> Result<u32, A::Error> {
    Ok(map.next_value::<U32>()?.0)
}

fn u64v<'de, A: MapAccess<'de>>(map: &mut A) -> Result<u64, A::Error> {
    Ok(map.next_value::<U64>()?.0)
}

message!(ResourceSpansDe, ResourceSpans, "a ResourceSpans object", resource_spans_field);
fn resource_spans_field<'de, A: MapAccess<'de>>(
    m: &mut ResourceSpans<'de>,
    key: &str,
    map: &mut A,
) -> Result<bool, A::Error> {
    resource_spans_like(&mut m.resource, key, map, |map| {
        m.scope_spans.extend(map.next_value::<List<ScopeSpansDe<'de>>>()?.0.into_iter().map(|s| s.0));
        Ok(())
    })
}

message!(KeptResourceSpansDe, ResourceSpans, "a ResourceSpans object", kept_resource_spans_field);
/// The keys of a `ResourceSpans`, the resource kept as its raw text. A repeated `resource` is an
/// error, so that decoding the document the ordinary way reports what the first one holds.
fn kept_resource_spans_field<'de, A: MapAccess<'de>>(
    m: &mut ResourceSpans<'de>,
    key: &str,
    map: &mut A,
) -> Result<bool, A::Error> {
    if key != "resource" {
        return resource_spans_field(m, key, map);
    }
    if m.resource_text.is_some() {
        return Err(de::Error::custom("repeated resource"));
    }
    m.resource_text = Some(map.next_value::<&'de serde_json::value::RawValue>()?.get());
    Ok(true)
}

/// How deep a kept resource may nest: far below serde_json's recursion limit of 128, which
/// decoding the document the ordinary way counts from the top of the document.
const KEPT_RESOURCE_DEPTH: usize = 64;

/// Decode a resource that [`TopValue`] kept as raw text. `None` when it does not decode, or nests
/// deeper than [`KEPT_RESOURCE_DEPTH`]: its document is then decoded the ordinary way, whose
/// error (or success) is the one to report.
pub fn decode_kept_resource(text: &str) -> Option<Resource<'_>> {
    if nesting_depth(text) > KEPT_RESOURCE_DEPTH {
        return None;
    }
    serde_json::from_str::<ResourceDe<'_>>(text).ok().map(|r| r.0)
}

/// The deepest nesting of objects and arrays in JSON text.
fn nesting_depth(text: &str) -> usize {
    let (mut depth, mut deepest, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for &b in text.as_bytes() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
        } else {
            match b {
                b'"' => in_string = true,
                b'{' | b'[' => {
                    depth += 1;
                    deepest = deepest.max(depth);
                }
                b'}' | b']' => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
    }
    deepest
}

/// The keys of a `ResourceSpans`, its scope spans read by `scopes`.
fn resource_spans_like<'de, A: MapAccess<'de>>(
    resource: &mut Resource<'de>,
    key: &str,
    map: &mut A,
    scopes: impl FnOnce(&mut A) -> Result<(), A::Error>,
) -> Result<bool, A::Error> {
    match key {
        "resource" => *resource = map.next_value::<ResourceDe<'de>>()?.0,
        "scopeSpans" | "scope_spans" | "instrumentationLibrarySpans" | "instrumentation_library_spans" => scopes(map)?,
        _ => return Ok(false),
    }
    Ok(true)
}

message!(ResourceDe, Resource, "a Resource object", resource_field);
fn resource_field<'de, A: MapAccess<'de>>(m: &mut Resource<'de>, key: &str, map: &mut A) -> Result<bool, A::Error> {
    match key {
        "attributes" => m.attributes = attrs(map)?,
        "droppedAttributesCount" | "dropped_attributes_count" => m.dropped_attributes_count = u32v(map)?,
        _ => return Ok(false),
    }
    Ok(true)
}

message!(ScopeSpansDe, ScopeSpans, "a ScopeSpans object", scope_spans_field);
fn scope_spans_field<'de, A: MapAccess<'de>>(
    m: &mut ScopeSpans<'de>,
    key: &str,
    map: &mut A,
) -> Result<bool, A::Error> {
    scope_spans_like(&mut m.scope, key, map, |map| {
        m.spans = map.next_value::<List<SpanDe<'de>>>()?.0.into_iter().map(|s| s.0).collect();
        Ok(())
    })
}

/// The keys of a `ScopeSpans`, its spans read by `spans`.
fn scope_spans_like<'de, A: MapAccess<'de>>(
    scope: &mut Scope<'de>,
    key: &str,
    map: &mut A,
    spans: impl FnOnce(&mut A) -> Result<(), A::Error>,
) -> Result<bool, A::Error> {
    match key {
        "scope" | "instrumentationLibrary" | "instrumentation_library" => *scope = map.next_value::<ScopeDe<'de>>()?.0,
        "spans" => spans(map)?,
        _ => return Ok(false),
    }
    Ok(true)
}

message!(ScopeDe, Scope, "an InstrumentationScope object", scope_field);
fn scope_field<'de, A: MapAccess<'de>>(m: &mut Scope<'de>, key: &str, map: &mut A) -> Result<bool, A::Error> {
    match key {
        "name" => m.name = string(map)?,
        "version" => m.version = string(map)?,
        "attributes" => m.attributes = attrs(map)?,
        _ => return Ok(false),
    }
    Ok(true)
}

message!(SpanDe, Span, "a Span object", span_field);
fn span_field<'de, A: MapAccess<'de>>(m: &mut Span<'de>, key: &str, map: &mut A) -> Result<bool, A::Error> {
    match key {
        "traceId" | "trace_id" => m.trace_id = trace_id(map)?,
        "spanId" | "span_id" => m.span_id = span_id(map)?,
        "traceState" | "trace_state" => m.trace_state = string(map)?,
        "parentSpanId" | "parent_span_id" => m.parent_span_id = span_id(map)?,
        "flags" => m.flags = u32v(map)?,
        "name" => m.name = string(map)?,
        "kind" => m.kind = map.next_value::<Enum<false>>()?.0,
        "startTimeUnixNano" | "start_time_unix_nano" => m.start_time_unix_nano = u64v(map)?,
        "endTimeUnixNano" | "end_time_unix_nano" => m.end_time_unix_nano = u64v(map)?,
        "attributes" => m.attributes = attrs(map)?,
        "droppedAttributesCount" | "dropped_attributes_count" => m.dropped_attributes_count = u32v(map)?,
        "events" => m.events = map.next_value::<List<EventDe<'de>>>()?.0.into_iter().map(|e| e.0).collect(),
        "droppedEventsCount" | "dropped_events_count" => m.dropped_events_count = u32v(map)?,
        "links" => m.links = map.next_value::<List<LinkDe<'de>>>()?.0.into_iter().map(|l| l.0).collect(),
        "droppedLinksCount" | "dropped_links_count" => m.dropped_links_count = u32v(map)?,
        "status" => m.status = map.next_value::<StatusDe<'de>>()?.0,
        _ => return Ok(false),
    }
    Ok(true)
}

message!(StatusDe, Status, "a Status object", status_field);
fn status_field<'de, A: MapAccess<'de>>(m: &mut Status<'de>, key: &str, map: &mut A) -> Result<bool, A::Error> {
    match key {
        "message" => m.message = string(map)?,
        "code" => m.code = map.next_value::<Enum<true>>()?.0,
        _ => return Ok(false),
    }
    Ok(true)
}

message!(EventDe, Event, "a Span.Event object", event_field);
fn event_field<'de, A: MapAccess<'de>>(m: &mut Event<'de>, key: &str, map: &mut A) -> Result<bool, A::Error> {
    match key {
        "timeUnixNano" | "time_unix_nano" => m.time_unix_nano = u64v(map)?,
        "name" => m.name = string(map)?,
        "attributes" => m.attributes = attrs(map)?,
        "droppedAttributesCount" | "dropped_attributes_count" => m.dropped_attributes_count = u32v(map)?,
        _ => return Ok(false),
    }
    Ok(true)
}

message!(LinkDe, Link, "a Span.Link object", link_field);
fn link_field<'de, A: MapAccess<'de>>(m: &mut Link<'de>, key: &str, map: &mut A) -> Result<bool, A::Error> {
    match key {
        "traceId" | "trace_id" => m.trace_id = trace_id(map)?,
        "spanId" | "span_id" => m.span_id = span_id(map)?,
        "traceState" | "trace_state" => m.trace_state = string(map)?,
        "attributes" => m.attributes = attrs(map)?,
        "droppedAttributesCount" | "dropped_attributes_count" => m.dropped_attributes_count = u32v(map)?,
        "flags" => m.flags = u32v(map)?,
        _ => return Ok(false),
    }
    Ok(true)
}

/// `KeyValue`; a missing value is the empty `AnyValue`.
struct KeyValueDe<'a>(KeyValue<'a>);

impl<'de> de::Deserialize<'de> for KeyValueDe<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = KeyValueDe<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a KeyValue object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut kv = KeyValue { key: Cow::Borrowed(""), value: AnyValue::Empty };
                while let Some(key) = map.next_key::<Str<'de>>()? {
                    match key.0.as_ref() {
                        "key" => kv.key = string(&mut map)?,
                        "value" => kv.value = map.next_value::<AnyValueDe<'de>>()?.0,
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(KeyValueDe(kv))
            }
        }
        d.deserialize_any(V)
    }
}

/// `AnyValue`: `{}` and `null` are the empty value; a `null` member is ignored.
struct AnyValueDe<'a>(AnyValue<'a>);

impl<'de> de::Deserialize<'de> for AnyValueDe<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = AnyValueDe<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an AnyValue object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut value = AnyValue::Empty;
                while let Some(key) = map.next_key::<Str<'de>>()? {
                    let v = match key.0.as_ref() {
                        "stringValue" | "string_value" => Some(AnyValue::String(string(&mut map)?)),
                        "boolValue" | "bool_value" => map.next_value::<Bool>()?.0.map(AnyValue::Bool),
                        "intValue" | "int_value" => map.next_value::<I64>()?.0.map(AnyValue::Int),
                        "doubleValue" | "double_value" => map.next_value::<F64>()?.0.map(AnyValue::Double),
                        "bytesValue" | "bytes_value" => {
                            let Str(s) = map.next_value::<Str<'de>>()?;
                            let bytes = bytes_from_base64(&s)
                                .map_err(|e| de::Error::custom(format!("bytesValue is not base64: {e}")))?;
                            Some(AnyValue::Bytes(Cow::Owned(bytes)))
                        }
                        "arrayValue" | "array_value" => Some(AnyValue::Array(
                            map.next_value::<ValuesDe<AnyValueDe<'de>>>()?.0.into_iter().map(|v| v.0).collect(),
                        )),
                        "kvlistValue" | "kvlist_value" => Some(AnyValue::KvList(
                            map.next_value::<ValuesDe<KeyValueDe<'de>>>()?.0.into_iter().map(|v| v.0).collect(),
                        )),
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                            None
                        }
                    };
                    if let Some(v) = v {
                        value = v;
                    }
                }
                Ok(AnyValueDe(value))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(AnyValueDe(AnyValue::Empty))
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                self.visit_unit()
            }
        }
        d.deserialize_any(V)
    }
}

/// A `bytesValue`: standard base64, or URL-safe base64.
pub fn bytes_from_base64(s: &str) -> Result<Vec<u8>, base64::DecodeError> {
    base64::engine::general_purpose::STANDARD
        .decode(s.as_bytes())
        .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(s.as_bytes()))
}

/// `ArrayValue` / `KeyValueList`: `{"values": [...]}`.
struct ValuesDe<T>(Vec<T>);

impl<'de, T: de::Deserialize<'de>> de::Deserialize<'de> for ValuesDe<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: de::Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = ValuesDe<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object with \"values\"")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut values = Vec::new();
                while let Some(key) = map.next_key::<Str<'de>>()? {
                    if key.0 == "values" {
                        values = map.next_value::<List<T>>()?.0;
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(ValuesDe(values))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(ValuesDe(Vec::new()))
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

// ---------------------------------------------------------------------------------------------
// One large trace document in parts: its skeleton first, its spans as raw text, parsed apart.
// ---------------------------------------------------------------------------------------------

/// A `ResourceSpans` whose spans are left as raw JSON text.
#[derive(Debug, Default)]
pub struct RawResourceSpans<'a> {
    pub resource: Resource<'a>,
    pub scope_spans: Vec<RawScopeSpans<'a>>,
}

/// A `ScopeSpans` whose spans are left as raw JSON text, one string each.
#[derive(Debug, Default)]
pub struct RawScopeSpans<'a> {
    pub scope: Scope<'a>,
    pub spans: Vec<&'a str>,
}

message!(RawResourceSpansDe, RawResourceSpans, "a ResourceSpans object", raw_resource_spans_field);
fn raw_resource_spans_field<'de, A: MapAccess<'de>>(
    m: &mut RawResourceSpans<'de>,
    key: &str,
    map: &mut A,
) -> Result<bool, A::Error> {
    resource_spans_like(&mut m.resource, key, map, |map| {
        m.scope_spans.extend(map.next_value::<List<RawScopeSpansDe<'de>>>()?.0.into_iter().map(|s| s.0));
        Ok(())
    })
}

message!(RawScopeSpansDe, RawScopeSpans, "a ScopeSpans object", raw_scope_spans_field);
fn raw_scope_spans_field<'de, A: MapAccess<'de>>(
    m: &mut RawScopeSpans<'de>,
    key: &str,
    map: &mut A,
) -> Result<bool, A::Error> {
    scope_spans_like(&mut m.scope, key, map, |map| {
        let spans = map.next_value::<Option<Vec<&'de serde_json::value::RawValue>>>()?;
        m.spans = spans.unwrap_or_default().into_iter().map(serde_json::value::RawValue::get).collect();
        Ok(())
    })
}

/// The resource spans of a trace document, skeleton only.
struct RawTracesDe<'a>(Option<Vec<RawResourceSpans<'a>>>);

impl<'de> de::Deserialize<'de> for RawTracesDe<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawTracesDe<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an OTLP/JSON trace document")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut traces: Option<Vec<RawResourceSpans<'de>>> = None;
                while let Some(key) = map.next_key::<Str<'de>>()? {
                    if matches!(key.0.as_ref(), "resourceSpans" | "resource_spans") {
                        let rs = map.next_value::<List<RawResourceSpansDe<'de>>>()?;
                        traces.get_or_insert_with(Vec::new).extend(rs.0.into_iter().map(|r| r.0));
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(RawTracesDe(traces))
            }
        }
        d.deserialize_any(V)
    }
}

/// The skeleton of `text` when it is exactly one JSON object (whitespace around it) holding
/// trace data: its resources and scopes decoded as [`visit_document`] decodes them (the other
/// keys of a trace document are ignored there too), its spans as raw text. `None` for anything
/// else (an array of documents, several documents, a logs or foreign document, invalid JSON),
/// which is decoded whole instead, with that path's messages.
pub fn trace_document_skeleton(text: &str) -> Option<Vec<RawResourceSpans<'_>>> {
    let mut de = serde_json::Deserializer::from_str(text);
    let RawTracesDe(traces) = de::Deserialize::deserialize(&mut de).ok()?;
    de.end().ok()?;
    traces
}

/// Decode one span from its raw text (a [`RawScopeSpans`] entry).
pub fn decode_span(raw: &str) -> Result<Span<'_>, serde_json::Error> {
    serde_json::from_str::<SpanDe<'_>>(raw).map(|s| s.0)
}

/// Decode one JSON value (object or array) as OTLP documents. Used for JSON found inside
/// protobuf framing (the fileexporter's json + zstd mode).
pub fn decode_value(bytes: &[u8]) -> Result<Vec<Document<'_>>, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let top = <TopValue<'_> as de::Deserialize>::deserialize(&mut de)?;
    de.end()?;
    Ok(top.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(json: &str) -> Document<'_> {
        let mut docs = decode_value(json.as_bytes()).unwrap();
        assert_eq!(docs.len(), 1);
        docs.remove(0)
    }

    fn first_span(json: &str) -> Span<'_> {
        match one(json) {
            Document::Traces(mut t) => t.resource_spans.remove(0).scope_spans.remove(0).spans.remove(0),
            other => panic!("not traces: {other:?}"),
        }
    }

    #[test]
    fn ids_decode_hex_any_case_base64_and_empty() {
        type Case = (&'static str, Result<Option<[u8; 8]>, ()>);
        let cases: &[Case] = &[
            ("", Ok(None)),
            ("0000000000000000", Ok(None)),
            ("00F067AA0BA902B7", Ok(Some([0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7]))),
            ("00f067aa0ba902b7", Ok(Some([0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7]))),
            ("APBnqgupArc=", Ok(Some([0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7]))),
            ("nothex", Err(())),
            ("123", Err(())),
            ("00f067aa0ba902b", Err(())),
        ];
        for (input, want) in cases {
            assert_eq!(parse_id::<8>(input).map_err(|_| ()), *want, "{input}");
        }
    }

    #[test]
    fn tolerant_span_fields() {
        let s = first_span(
            r#"{"resource_spans":[{"instrumentationLibrarySpans":[{"instrumentationLibrary":{"name":"lib"},
            "spans":[{"trace_id":"5B8EFFF798038103D269B633813FC60C","spanId":"EEE19B7EC3C1B174",
            "kind":"SPAN_KIND_CLIENT","startTimeUnixNano":1544712660000000000,"end_time_unix_nano":"1544712661000000000",
            "flags":"769","status":{"code":"STATUS_CODE_ERROR","message":null},"unknownField":{"x":[1,2]},
            "attributes":[{"key":"a","value":{}},{"key":"b","value":{"intValue":"9007199254740993"}},
            {"key":"c","value":{"intValue":null,"doubleValue":"NaN"}},{"key":"d","value":null},
            {"key":"e","value":{"arrayValue":{"values":[{"boolValue":true},{"bytesValue":"aGk="}]}}},
            {"key":"f","value":{"kvlistValue":{"values":[{"key":"g","value":{"stringValue":"h\u00e9"}}]}}}]}]}]}]}"#,
        );
        assert_eq!(s.kind, 3);
        assert_eq!(s.status.code, 2);
        assert_eq!(s.flags, 769);
        assert_eq!(s.end_time_unix_nano, 1_544_712_661_000_000_000);
        assert_eq!(s.trace_id.unwrap()[0], 0x5b);
        assert_eq!(s.attributes[0].value, AnyValue::Empty);
        assert_eq!(s.attributes[1].value, AnyValue::Int(9_007_199_254_740_993));
        assert!(matches!(s.attributes[2].value, AnyValue::Double(d) if d.is_nan()));
        assert_eq!(s.attributes[3].value, AnyValue::Empty);
        assert_eq!(
            s.attributes[4].value,
            AnyValue::Array(vec![AnyValue::Bool(true), AnyValue::Bytes(Cow::Owned(b"hi".to_vec()))])
        );
        assert_eq!(
            s.attributes[5].value,
            AnyValue::KvList(vec![KeyValue { key: "g".into(), value: AnyValue::String("hé".into()) }])
        );
    }

    #[test]
    fn classifies_documents() {
        assert!(matches!(one(r#"{"resourceLogs":[]}"#), Document::Skip("logs_document")));
        assert!(matches!(one(r#"{"resourceMetrics":[]}"#), Document::Skip("metrics_document")));
        assert!(matches!(one(r#"{}"#), Document::Skip("empty_document")));
        assert!(matches!(one(r#"{"resourceSpans":null}"#), Document::Traces(_)));
        let foreign = [
            (r#"{"data":[{"traceID":"1","spans":[],"processes":{}}]}"#, "Jaeger"),
            (r#"{"SpanContext":{"TraceID":"x"},"SpanKind":1}"#, "stdouttrace"),
            (r#"{"traceId":"a","id":"b","timestamp":1,"duration":2,"localEndpoint":{}}"#, "Zipkin"),
            (r#"{"resource_attr:service.name":"x"}"#, "VictoriaTraces"),
            (r#"{"traceId":"a","spanId":"b","name":"n"}"#, "flattened span"),
            (r#"{"hello":"world"}"#, "no resourceSpans"),
        ];
        for (json, want) in foreign {
            match one(json) {
                Document::NotOtlp(msg) => assert!(msg.contains(want), "{msg}"),
                other => panic!("{json}: {other:?}"),
            }
        }
    }

    #[test]
    fn top_level_array_holds_documents() {
        let docs = decode_value(br#"[{"resourceSpans":[]},{"resourceLogs":[]}]"#).unwrap();
        assert_eq!(docs.len(), 2);
    }

    #[test]
    fn wrong_shapes_are_errors_with_positions() {
        let err = decode_value(br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":12}]}]}]}"#).unwrap_err();
        assert!(err.to_string().contains("line 1"), "{err}");
        assert!(decode_value(br#"{"resourceSpans":{"a":1}}"#).is_err());
        assert!(decode_value(br#""just a string""#).is_err());
        assert!(
            decode_value(br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"kind":"SPAN_KIND_NOPE"}]}]}]}"#).is_err()
        );
    }
}
