//! A borrowed, decoder-neutral view of OTLP trace data.
//!
//! Both decoders (OTLP/JSON and OTLP/protobuf) produce these types, and only these types are
//! appended to the span table, so the same content gives the same Arrow batch whatever its
//! encoding. Strings borrow from the input buffer where they can. This module knows no JSON,
//! no protobuf and no Arrow.

use std::borrow::Cow;

/// Span kind as OTLP numbers it.
pub const KIND_NAMES: [&str; 6] = ["UNSPECIFIED", "INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER"];
/// Status code as OTLP numbers it.
pub const STATUS_NAMES: [&str; 3] = ["UNSET", "OK", "ERROR"];

/// `flags` bit 8: the producer knows whether the parent is remote.
pub const FLAG_HAS_IS_REMOTE: u32 = 0x100;
/// `flags` bit 9: the parent is remote (meaningful only with [`FLAG_HAS_IS_REMOTE`]).
pub const FLAG_IS_REMOTE: u32 = 0x200;

/// One `TracesData` / `ExportTraceServiceRequest` document.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct TracesData<'a> {
    pub resource_spans: Vec<ResourceSpans<'a>>,
}

#[derive(Debug, Default, Clone, PartialEq)]
pub struct ResourceSpans<'a> {
    pub resource: Resource<'a>,
    pub scope_spans: Vec<ScopeSpans<'a>>,
    /// The resource still encoded, when a decoder left it so (`resource` is then empty): the
    /// span builder prepares identical resources once ([`SpanBatchBuilder::prepare_resource`]).
    ///
    /// [`SpanBatchBuilder::prepare_resource`]: crate::model::builder::SpanBatchBuilder::prepare_resource
    pub resource_text: Option<&'a str>,
}

#[derive(Debug, Default, Clone, PartialEq)]
pub struct Resource<'a> {
    pub attributes: Vec<KeyValue<'a>>,
    pub dropped_attributes_count: u32,
}

#[derive(Debug, Default, Clone, PartialEq)]
pub struct ScopeSpans<'a> {
    pub scope: Scope<'a>,
    pub spans: Vec<Span<'a>>,
}

#[derive(Debug, Default, Clone, PartialEq)]
pub struct Scope<'a> {
    pub name: Cow<'a, str>,
    pub version: Cow<'a, str>,
    pub attributes: Vec<KeyValue<'a>>,
}

/// A span id or trace id as decoded; `None` means absent, empty or all zero.
pub type TraceId = Option<[u8; 16]>;
pub type SpanId = Option<[u8; 8]>;

#[derive(Debug, Default, Clone, PartialEq)]
pub struct Span<'a> {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    pub trace_state: Cow<'a, str>,
    pub parent_span_id: SpanId,
    pub flags: u32,
    pub name: Cow<'a, str>,
    /// Raw OTLP enum value; values outside 0..=5 are kept and shown as `UNSPECIFIED`.
    pub kind: i32,
    pub start_time_unix_nano: u64,
    pub end_time_unix_nano: u64,
    pub attributes: Vec<KeyValue<'a>>,
    pub dropped_attributes_count: u32,
    pub events: Vec<Event<'a>>,
    pub dropped_events_count: u32,
    pub links: Vec<Link<'a>>,
    pub dropped_links_count: u32,
    pub status: Status<'a>,
}

#[derive(Debug, Default, Clone, PartialEq)]
pub struct Status<'a> {
    pub message: Cow<'a, str>,
    pub code: i32,
}

#[derive(Debug, Default, Clone, PartialEq)]
pub struct Event<'a> {
    pub time_unix_nano: u64,
    pub name: Cow<'a, str>,
    pub attributes: Vec<KeyValue<'a>>,
    pub dropped_attributes_count: u32,
}

#[derive(Debug, Default, Clone, PartialEq)]
pub struct Link<'a> {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    pub trace_state: Cow<'a, str>,
    pub attributes: Vec<KeyValue<'a>>,
    pub dropped_attributes_count: u32,
    pub flags: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct KeyValue<'a> {
    pub key: Cow<'a, str>,
    pub value: AnyValue<'a>,
}

/// OTLP `AnyValue`. `Empty` is the valid empty value (`{}` in JSON, an unset oneof in protobuf).
#[derive(Debug, Clone, PartialEq, Default)]
pub enum AnyValue<'a> {
    #[default]
    Empty,
    String(Cow<'a, str>),
    Bool(bool),
    Int(i64),
    Double(f64),
    Bytes(Cow<'a, [u8]>),
    Array(Vec<AnyValue<'a>>),
    KvList(Vec<KeyValue<'a>>),
}

/// Normalise a decoded id: all-zero ids mean "absent" in OTLP.
pub fn non_zero<const N: usize>(id: [u8; N]) -> Option<[u8; N]> {
    if id.iter().all(|b| *b == 0) { None } else { Some(id) }
}

/// Name of a span kind value (`UNSPECIFIED` for unknown values).
pub fn kind_name(kind: i32) -> &'static str {
    usize::try_from(kind).ok().and_then(|k| KIND_NAMES.get(k)).copied().unwrap_or(KIND_NAMES[0])
}

/// Name of a status code value (`UNSET` for unknown values).
pub fn status_name(code: i32) -> &'static str {
    usize::try_from(code).ok().and_then(|c| STATUS_NAMES.get(c)).copied().unwrap_or(STATUS_NAMES[0])
}

/// Parse an enum given by name: `SPAN_KIND_SERVER`, `SERVER` and `server` all give 2.
pub fn kind_from_name(name: &str) -> Option<i32> {
    enum_from_name(name, "SPAN_KIND_", &KIND_NAMES)
}

/// Parse a status code given by name: `STATUS_CODE_ERROR`, `ERROR` and `Error` all give 2.
pub fn status_from_name(name: &str) -> Option<i32> {
    enum_from_name(name, "STATUS_CODE_", &STATUS_NAMES)
}

fn enum_from_name(name: &str, prefix: &str, names: &[&str]) -> Option<i32> {
    let upper = name.trim().to_ascii_uppercase();
    let bare = upper.strip_prefix(prefix).unwrap_or(&upper);
    names.iter().position(|n| *n == bare).and_then(|p| i32::try_from(p).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enum_names_parse_with_and_without_prefix() {
        assert_eq!(kind_from_name("SPAN_KIND_SERVER"), Some(2));
        assert_eq!(kind_from_name("consumer"), Some(5));
        assert_eq!(kind_from_name("SPAN_KIND_BOGUS"), None);
        assert_eq!(status_from_name("STATUS_CODE_ERROR"), Some(2));
        assert_eq!(status_from_name("Ok"), Some(1));
        assert_eq!(kind_name(7), "UNSPECIFIED");
        assert_eq!(status_name(-1), "UNSET");
    }

    #[test]
    fn all_zero_ids_are_absent() {
        assert_eq!(non_zero([0u8; 8]), None);
        assert_eq!(non_zero([0, 0, 0, 0, 0, 0, 0, 1]), Some([0, 0, 0, 0, 0, 0, 0, 1]));
    }
}
