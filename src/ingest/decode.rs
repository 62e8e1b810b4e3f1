//! Decode the bytes of one input into span-table batches.
//!
//! The container is recognised by content (see `input-formats.md` §0): gzip/zstd magic, then a
//! UTF-8 BOM, then `{`/`[` for JSON (one document, JSON Lines, glued or pretty documents, or an
//! array), `0x0a` for a single protobuf `TracesData`, and `0x00` for the fileexporter's u32-BE
//! length framing (each payload protobuf, JSON, or a zstd frame of either). Large JSON Lines
//! inputs and framed inputs are decoded in parallel chunks; the output order is the input order.
//!
//! Errors: in strict mode the first problem is returned as a [`DecodeError`]; with `keep_going`
//! it is counted in [`SourceStats`] and decoding goes on with the next span, line or frame.

use std::sync::OnceLock;

use arrow::array::RecordBatch;
use rayon::prelude::*;

use super::compression::{Compression, UTF8_BOM, ZSTD_MAGIC, decompress, decompress_zstd_payload};
use super::otlp_json::{self, Document, TopValue};
use super::otlp_json_fast;
use super::otlp_proto::{self, Frame, split_frames};
use super::otlp_wire;
use super::stats::SourceStats;
use crate::error::{DecodeError, Position};
use crate::model::builder::{AttributeKeys, PreparedResource, SpanBatchBuilder};
use crate::model::otlp::{ResourceSpans, Span, TracesData};

/// JSON Lines inputs larger than this are split into chunks of about this size.
const JSON_CHUNK_BYTES: usize = 4 << 20;

/// A single OTLP/protobuf message at least twice this size is decoded in parts of about this
/// size, in parallel.
const PROTO_PART_BYTES: usize = 4 << 20;

/// The position of a document, worked out only when a message needs it.
type At<'a> = &'a mut dyn FnMut() -> Position;

/// How to decode.
#[derive(Debug, Clone)]
pub struct DecodeOptions {
    /// Skip and count bad spans, records and inputs instead of failing.
    pub keep_going: bool,
    /// Skip and count spans that are well-formed OTLP but cannot be analysed (no ids, no start
    /// time, ending before they start) even without `keep_going`, which still fails on a
    /// corrupt input.
    pub skip_invalid_spans: bool,
    /// Cap on the decompressed size of one input or frame.
    pub max_decompressed_bytes: u64,
    /// Attribute values and messages longer than this are truncated (and counted).
    pub max_value_bytes: usize,
    /// Rows per record batch.
    pub batch_rows: usize,
    /// Inputs larger than this (and stdin) are streamed: JSON Lines are read and decoded in
    /// blocks of `stream_block_bytes` instead of being read whole.
    pub stream_threshold_bytes: u64,
    /// Size of one streamed block (cut at a line end).
    pub stream_block_bytes: usize,
    /// Only these span-table columns (by index) are built and returned; all when `None`.
    pub projection: Option<std::sync::Arc<[usize]>>,
    /// Only these keys are kept in the span and resource attribute maps; all when `None`.
    pub attribute_keys: Option<std::sync::Arc<AttributeKeys>>,
    /// Maps in the derivation's compact form: `resource_attributes` as a dictionary over each
    /// batch's distinct resources ([`SpanBatchBuilder::with_shared_resources`]), and with
    /// `attribute_keys`, the keys of `attributes` as indexes into them
    /// ([`SpanBatchBuilder::with_keyed_attributes`]).
    pub compact_maps: bool,
    /// How `s3://` inputs are listed and read.
    pub s3: crate::s3::S3Options,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions {
            keep_going: false,
            skip_invalid_spans: false,
            max_decompressed_bytes: 4 << 30,
            max_value_bytes: 1 << 20,
            batch_rows: 16 * 1024,
            stream_threshold_bytes: 64 << 20,
            stream_block_bytes: 8 << 20,
            projection: None,
            attribute_keys: None,
            compact_maps: false,
            s3: crate::s3::S3Options::default(),
        }
    }
}

/// The decoded content of one input.
#[derive(Debug)]
pub struct Decoded {
    pub batches: Vec<RecordBatch>,
    pub stats: SourceStats,
}

/// The span builder a sink appends to: its own, or one carried over from earlier inputs (whose
/// unfinished rows come first and stay in it at the end).
enum BuilderSlot<'b> {
    Own(Box<SpanBatchBuilder>),
    Carried(&'b mut SpanBatchBuilder),
}

/// Collects spans of one input (or one chunk of it) into batches.
struct Sink<'o, 'b> {
    source: &'o str,
    opts: &'o DecodeOptions,
    builder: BuilderSlot<'b>,
    batches: Vec<RecordBatch>,
    stats: SourceStats,
}

/// A span builder for these options (projection, attribute keys and compact maps applied).
pub fn span_builder(opts: &DecodeOptions) -> SpanBatchBuilder {
    SpanBatchBuilder::new(opts.max_value_bytes)
        .with_projection(opts.projection.clone())
        .with_attribute_keys(opts.attribute_keys.clone())
        .with_shared_resources(opts.compact_maps)
        .with_keyed_attributes(opts.compact_maps)
}

impl<'o, 'b> Sink<'o, 'b> {
    fn new(source: &'o str, opts: &'o DecodeOptions) -> Self {
        Sink::with_builder(source, opts, None)
    }

    /// A sink appending to `carry` when given, to a builder of its own otherwise.
    fn with_builder(source: &'o str, opts: &'o DecodeOptions, carry: Option<&'b mut SpanBatchBuilder>) -> Self {
        let builder = match carry {
            Some(b) => BuilderSlot::Carried(b),
            None => BuilderSlot::Own(Box::new(span_builder(opts))),
        };
        Sink { source, opts, builder, batches: Vec::new(), stats: SourceStats::new(source) }
    }

    fn builder(&mut self) -> &mut SpanBatchBuilder {
        match &mut self.builder {
            BuilderSlot::Own(b) => b,
            BuilderSlot::Carried(b) => b,
        }
    }

    /// Handle an error: fail in strict mode, count it with `keep_going`.
    fn fail(&mut self, err: DecodeError) -> Result<(), DecodeError> {
        if self.opts.keep_going {
            let msg = err.to_string();
            self.stats.skip_record(err.reason, || msg);
            Ok(())
        } else {
            Err(err)
        }
    }

    /// Prepare the resources that documents kept as text ([`otlp_json::TopValue`]), before any
    /// of their spans is added: one entry per `resourceSpans` of their trace documents, in order
    /// (`None` where the resource is decoded already). `None` when one does not decode; the
    /// documents are then decoded the ordinary way, which reports why.
    fn prepare_resources(&mut self, docs: &[Document<'_>]) -> Option<Vec<Option<PreparedResource>>> {
        let mut prepared = Vec::new();
        for doc in docs {
            if let Document::Traces(t) = doc {
                for rs in &t.resource_spans {
                    prepared.push(match rs.resource_text {
                        Some(text) => Some(self.builder().prepare_resource(text, otlp_json::decode_kept_resource)?),
                        None => None,
                    });
                }
            }
        }
        Some(prepared)
    }

    /// Add documents whose resources may be kept as text, all at `position`. `Ok(false)`, with
    /// nothing added, when one of those resources does not decode.
    fn add_documents(&mut self, docs: Vec<Document<'_>>, position: At<'_>) -> Result<bool, DecodeError> {
        let Some(prepared) = self.prepare_resources(&docs) else { return Ok(false) };
        let mut prepared = prepared.into_iter();
        for doc in docs {
            self.add_document(doc, position, &mut prepared)?;
        }
        Ok(true)
    }

    /// Add a document; `prepared` gives the resources of its `resourceSpans` that
    /// [`prepare_resources`](Self::prepare_resources) prepared.
    fn add_document(
        &mut self,
        doc: Document<'_>,
        position: At<'_>,
        prepared: &mut impl Iterator<Item = Option<PreparedResource>>,
    ) -> Result<(), DecodeError> {
        match doc {
            Document::Traces(t) => {
                self.stats.documents += 1;
                self.add_resource_spans(&t.resource_spans, 0, position, prepared)
            }
            Document::Skip(reason) => {
                self.stats.pass_record(reason);
                Ok(())
            }
            Document::NotOtlp(message) => {
                self.fail(DecodeError::new(self.source, Some(position()), "not_otlp", message))
            }
        }
    }

    fn add_traces(&mut self, doc: &TracesData<'_>, position: Position) -> Result<(), DecodeError> {
        self.stats.documents += 1;
        self.add_resource_spans(&doc.resource_spans, 0, &mut || position, &mut std::iter::empty())
    }

    /// Add resource spans of a document, the first of them its `resourceSpans[first]`; each
    /// takes its resource from `prepared` when that gives one.
    fn add_resource_spans(
        &mut self,
        resource_spans: &[ResourceSpans<'_>],
        first: usize,
        position: At<'_>,
        prepared: &mut impl Iterator<Item = Option<PreparedResource>>,
    ) -> Result<(), DecodeError> {
        for (ri, rs) in (first..).zip(resource_spans) {
            match prepared.next().flatten() {
                Some(resource) => self.builder().begin_prepared_resource(&resource),
                None => self.builder().begin_resource(&rs.resource),
            }
            for (si, ss) in rs.scope_spans.iter().enumerate() {
                self.builder().begin_scope(&ss.scope);
                self.add_spans(&ss.spans, [ri, si, 0], position)?;
            }
        }
        Ok(())
    }

    /// Add spans of the current resource and scope, the first of them the document's
    /// `resourceSpans[r].scopeSpans[s].spans[p]` for `[r, s, p] = at`.
    fn add_spans(&mut self, spans: &[Span<'_>], at: [usize; 3], position: At<'_>) -> Result<(), DecodeError> {
        let [ri, si, first] = at;
        for (pi, span) in (first..).zip(spans) {
            self.stats.spans_read += 1;
            match self.builder().append_span(span) {
                Ok(()) => self.stats.spans_written += 1,
                Err(reject) => {
                    let position = position();
                    let message = format!("resourceSpans[{ri}].scopeSpans[{si}].spans[{pi}]: {}", reject.message);
                    if !self.opts.keep_going && !self.opts.skip_invalid_spans {
                        return Err(DecodeError::new(self.source, Some(position), reject.reason, message));
                    }
                    let source = self.source;
                    self.stats.skip_span(reject.reason, || {
                        DecodeError::new(source, Some(position), reject.reason, message).to_string()
                    });
                }
            }
            if self.builder().len() >= self.opts.batch_rows {
                let batch = self.builder().finish();
                self.batches.push(batch);
            }
        }
        Ok(())
    }

    /// The batches and counts of the input. Rows left in a carried builder stay there.
    fn finish(mut self) -> Decoded {
        self.stats.values_truncated += self.builder().take_values_truncated();
        if let BuilderSlot::Own(b) = &mut self.builder
            && !b.is_empty()
        {
            self.batches.push(b.finish());
        }
        Decoded { batches: self.batches, stats: self.stats }
    }
}

/// Decode one whole input.
pub fn decode_bytes(source: &str, raw: &[u8], opts: &DecodeOptions) -> Result<Decoded, DecodeError> {
    decode_input(source, raw, opts, None)
}

/// Decode one whole input into `carry`, a builder shared with the inputs decoded before and
/// after it, so that small inputs fill batches together. The batches that fill up are returned
/// (with earlier inputs' rows first); rows that do not fill one stay in `carry`. A large JSON
/// Lines input or a framed one is still decoded in parallel parts with builders of their own.
pub fn decode_bytes_into(
    source: &str,
    raw: &[u8],
    opts: &DecodeOptions,
    carry: &mut SpanBatchBuilder,
) -> Result<Decoded, DecodeError> {
    decode_input(source, raw, opts, Some(carry))
}

fn decode_input(
    source: &str,
    raw: &[u8],
    opts: &DecodeOptions,
    carry: Option<&mut SpanBatchBuilder>,
) -> Result<Decoded, DecodeError> {
    let mut stats = SourceStats::new(source);
    stats.bytes_read = raw.len() as u64;
    let compression = Compression::sniff(raw);
    stats.compression = compression.name();
    let data = match decompress(source, raw, compression, opts.max_decompressed_bytes) {
        Ok(d) => d,
        Err(e) => return skip_whole(stats, e, opts),
    };
    stats.bytes_decoded = data.len() as u64;
    decode_decompressed(source, &data, raw.is_empty(), stats, opts, carry)
}

/// Decode an input whose (whole-object) compression was already removed. `stats` holds what
/// is known so far (sizes, compression).
pub(crate) fn decode_decompressed(
    source: &str,
    data: &[u8],
    raw_empty: bool,
    mut stats: SourceStats,
    opts: &DecodeOptions,
    carry: Option<&mut SpanBatchBuilder>,
) -> Result<Decoded, DecodeError> {
    let body = data.strip_prefix(&UTF8_BOM[..]).unwrap_or(data);
    let first_text = body.iter().find(|b| !b.is_ascii_whitespace()).copied();
    if first_text.is_none() {
        let what = if raw_empty { "empty input" } else { "input holds only whitespace" };
        return skip_whole(
            stats,
            DecodeError::new(source, None, "empty_input", format!("{what}: no trace data")),
            opts,
        );
    }
    let bom = data.len() - body.len();
    // JSON first: its leading whitespace may include 0x0a, which is also protobuf's first tag byte.
    let result = match (first_text, body[0]) {
        (Some(b'{' | b'['), _) => decode_json(source, body, bom, opts, carry),
        (_, 0x0a) => decode_proto_message(source, body, opts, carry),
        (_, 0x00) => decode_framed(source, body, opts, carry),
        _ if body.starts_with(b"PAR1") => Err(DecodeError::new(
            source,
            None,
            "unknown_format",
            "a Parquet file, not an OTLP export; a span store written by `ingest` is read by naming its \
             directory (the one holding spans/ and run_info.parquet) as the only input",
        )),
        _ => Err(DecodeError::new(
            source,
            None,
            "unknown_format",
            format!(
                "unrecognised content: not OTLP/JSON, OTLP/protobuf, gzip or zstd (first bytes: {})",
                body.iter().take(8).map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" ")
            ),
        )),
    };
    let mut decoded = match result {
        Ok(d) => d,
        Err(e) => return skip_whole(stats, e, opts),
    };
    let part = std::mem::take(&mut decoded.stats);
    stats.format = part.format;
    stats.absorb(part);
    decoded.stats = stats;
    if decoded.stats.documents == 0 {
        let err = no_trace_data(source, &decoded.stats);
        // Without documents, any batch here holds earlier inputs' rows (sent out of a shared
        // builder before this input's parts): they stay.
        let Decoded { batches, stats } = decoded;
        return skip_whole(stats, err, opts).map(|skipped| Decoded { batches, ..skipped });
    }
    Ok(decoded)
}

pub(crate) fn no_trace_data(source: &str, stats: &SourceStats) -> DecodeError {
    let found: Vec<String> = stats.records_skipped.iter().map(|(reason, n)| format!("{n} {reason}")).collect();
    let found = if found.is_empty() { String::new() } else { format!(" (found {})", found.join(", ")) };
    DecodeError::new(source, None, "no_trace_data", format!("no trace data: no resourceSpans document{found}"))
}

/// The whole input is unusable: fail, or count it and return nothing.
pub(crate) fn skip_whole(
    mut stats: SourceStats,
    err: DecodeError,
    opts: &DecodeOptions,
) -> Result<Decoded, DecodeError> {
    if !opts.keep_going {
        return Err(err);
    }
    let msg = err.to_string();
    stats.skip_record(err.reason, || msg);
    Ok(Decoded { batches: Vec::new(), stats })
}

/// Where a block of an input starts: line `first_line` plus the newlines of the blocks before
/// it, counted (all at once) only when a block first needs a line number. The count runs on the
/// calling thread: a rayon task that waited for it inside the blocks' own parallel loop could be
/// handed another block that needs it too.
#[derive(Clone, Copy)]
struct BlockStart<'b> {
    first_line: u64,
    blocks: &'b [&'b [u8]],
    index: usize,
    starts: &'b OnceLock<Vec<u64>>,
}

impl BlockStart<'_> {
    fn line(&self) -> u64 {
        if self.index == 0 {
            return self.first_line;
        }
        let starts = self.starts.get_or_init(|| {
            let counts = self.blocks.iter().map(|block| count_newlines(block));
            counts.scan(self.first_line, |line, count| Some(std::mem::replace(line, *line + count))).collect()
        });
        starts[self.index]
    }
}

/// Line numbers of offsets in a block, counted only when asked for: from the last offset asked
/// for, forward or back.
struct LineCounter<'b> {
    bytes: &'b [u8],
    start: BlockStart<'b>,
    /// The last offset asked for and its line.
    last: Option<(usize, u64)>,
}

impl<'b> LineCounter<'b> {
    fn new(bytes: &'b [u8], start: BlockStart<'b>) -> Self {
        LineCounter { bytes, start, last: None }
    }

    /// The 1-based line of `offset`.
    fn line_at(&mut self, offset: usize) -> u64 {
        let offset = offset.min(self.bytes.len());
        let (from, line) = match self.last {
            Some(last) => last,
            None => (0, self.start.line()),
        };
        let line = if offset >= from {
            line + count_newlines(&self.bytes[from..offset])
        } else {
            line - count_newlines(&self.bytes[offset..from])
        };
        self.last = Some((offset, line));
        line
    }
}

fn decode_json(
    source: &str,
    body: &[u8],
    bom: usize,
    opts: &DecodeOptions,
    mut carry: Option<&mut SpanBatchBuilder>,
) -> Result<Decoded, DecodeError> {
    let json_lines = is_json_lines(body);
    let chunks = if json_lines && body.len() > 2 * JSON_CHUNK_BYTES { split_lines(body) } else { vec![body] };
    let in_parts = (chunks.len() == 1 && body.len() / 2 >= JSON_CHUNK_BYTES)
        .then(|| decode_json_document_in_parts(source, body, opts, &mut carry, JSON_CHUNK_BYTES))
        .flatten();
    let mut out = match in_parts {
        Some(decoded) => decoded?,
        None => decode_json_blocks(source, &chunks, 1, json_lines, bom, opts, carry)?,
    };
    out.stats.format = if out.stats.documents + out.stats.records_skipped.values().sum::<u64>() > 1 {
        "otlp_json_stream"
    } else {
        "otlp_json"
    };
    Ok(out)
}

/// Decode one large JSON trace document in parallel parts of about `part_bytes` of span text.
/// Its skeleton (resources and scopes) is decoded first with the spans kept as raw text
/// ([`otlp_json::trace_document_skeleton`]); the spans are then parsed and appended part by part
/// on all cores, the parts' rows in document order after the rows `carry` held. `None` when the
/// text is not exactly one trace document, when it would make one part, or when a span does not
/// parse: the caller then decodes it whole, for that path's messages. Rows, counts and errors are
/// those of decoding it whole.
fn decode_json_document_in_parts(
    source: &str,
    body: &[u8],
    opts: &DecodeOptions,
    carry: &mut Option<&mut SpanBatchBuilder>,
    part_bytes: usize,
) -> Option<Result<Decoded, DecodeError>> {
    let text = simdutf8::basic::from_utf8(body).ok()?;
    let skeleton = otlp_json::trace_document_skeleton(text)?;
    // The document's first line, where decoding it whole places a span it rejects.
    let start = body.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(0);
    let position = Position::LineOnly(1 + count_newlines(&body[..start]));
    // Each part: segments [resource, scope, first span, end span] of about `part_bytes` of text.
    let mut parts: Vec<Vec<[usize; 4]>> = vec![Vec::new()];
    let mut bytes = 0usize;
    for (ri, rs) in skeleton.iter().enumerate() {
        for (si, ss) in rs.scope_spans.iter().enumerate() {
            let mut from = 0;
            for (pi, raw) in ss.spans.iter().enumerate() {
                bytes += raw.len();
                if bytes >= part_bytes {
                    parts.last_mut()?.push([ri, si, from, pi + 1]);
                    parts.push(Vec::new());
                    (from, bytes) = (pi + 1, 0);
                }
            }
            if from < ss.spans.len() {
                parts.last_mut()?.push([ri, si, from, ss.spans.len()]);
            }
        }
    }
    parts.retain(|p| !p.is_empty());
    if parts.len() < 2 {
        return None;
    }
    let decoded: Vec<Option<Result<Decoded, DecodeError>>> = parts
        .par_iter()
        .map(|segments| {
            let mut sink = Sink::new(source, opts);
            let mut current: Option<[usize; 2]> = None;
            for &[ri, si, from, to] in segments {
                let (rs, ss) = (&skeleton[ri], &skeleton[ri].scope_spans[si]);
                if current.is_none_or(|[r, _]| r != ri) {
                    sink.builder().begin_resource(&rs.resource);
                }
                if current != Some([ri, si]) {
                    sink.builder().begin_scope(&ss.scope);
                }
                current = Some([ri, si]);
                let spans: Result<Vec<_>, _> = ss.spans[from..to]
                    .iter()
                    .map(|raw| otlp_json_fast::span(raw).map_or_else(|| otlp_json::decode_span(raw), Ok))
                    .collect();
                if let Err(e) = sink.add_spans(&spans.ok()?, [ri, si, from], &mut || position) {
                    return Some(Err(e));
                }
            }
            Some(Ok(sink.finish()))
        })
        .collect();
    let decoded: Option<Vec<_>> = decoded.into_iter().collect();
    Some(one_document_of_parts(source, carry.take(), decoded?))
}

/// The decoded parts of one document (in document order), after the rows `carry` held.
fn one_document_of_parts(
    source: &str,
    carry: Option<&mut SpanBatchBuilder>,
    parts: Vec<Result<Decoded, DecodeError>>,
) -> Result<Decoded, DecodeError> {
    let mut out = Decoded { batches: earlier_rows(carry), stats: SourceStats::new(source) };
    for part in parts {
        let part = part?;
        out.batches.extend(part.batches);
        out.stats.absorb(part.stats);
    }
    out.stats.documents += 1;
    Ok(out)
}

/// Decode blocks of JSON text in parallel, in order. The blocks are consecutive parts of one
/// input cut at line ends, the first starting at line `first_line`; `bom` is the length of a
/// byte-order mark removed before line 1 (for error columns). A single block goes into `carry`
/// when given. Lines are counted only for the messages that need them.
pub(crate) fn decode_json_blocks(
    source: &str,
    blocks: &[&[u8]],
    first_line: u64,
    json_lines: bool,
    bom: usize,
    opts: &DecodeOptions,
    mut carry: Option<&mut SpanBatchBuilder>,
) -> Result<Decoded, DecodeError> {
    let starts = OnceLock::new();
    let start = |index| BlockStart { first_line, blocks, index, starts: &starts };
    if let ([block], Some(carry)) = (blocks, carry.as_deref_mut()) {
        let mut sink = Sink::with_builder(source, opts, Some(carry));
        decode_json_chunk(&mut sink, block, start(0), json_lines, bom, Way::Fast)?;
        return Ok(sink.finish());
    }
    let parts: Vec<Result<Decoded, DecodeError>> = blocks
        .par_iter()
        .enumerate()
        .map(|(index, block)| {
            let mut sink = Sink::new(source, opts);
            decode_json_chunk(&mut sink, block, start(index), json_lines, bom, Way::Fast)?;
            Ok(sink.finish())
        })
        .collect();
    let mut out = Decoded { batches: earlier_rows(carry), stats: SourceStats::new(source) };
    for part in parts {
        let part = part?;
        out.batches.extend(part.batches);
        out.stats.absorb(part.stats);
    }
    Ok(out)
}

/// The rows earlier inputs left in `carry`, as a batch to go before an input decoded in parallel
/// parts with builders of their own (so that rows keep the input order).
fn earlier_rows(carry: Option<&mut SpanBatchBuilder>) -> Vec<RecordBatch> {
    carry.filter(|b| !b.is_empty()).map(|b| b.finish()).into_iter().collect()
}

/// JSON Lines: the first document ends on the first line. Then every newline ends a document
/// (JSON strings cannot hold a raw newline), so the input can be split at any newline.
pub(crate) fn is_json_lines(body: &[u8]) -> bool {
    let Some(nl) = memchr::memchr(b'\n', body) else { return false };
    let mut stream = serde_json::Deserializer::from_slice(&body[..nl]).into_iter::<serde::de::IgnoredAny>();
    matches!(stream.next(), Some(Ok(_)))
}

fn split_lines(body: &[u8]) -> Vec<&[u8]> {
    let mut chunks = Vec::new();
    let mut start = 0;
    while start < body.len() {
        let target = (start + JSON_CHUNK_BYTES).min(body.len());
        let end = match memchr::memchr(b'\n', &body[target..]) {
            Some(i) => target + i + 1,
            None => body.len(),
        };
        chunks.push(&body[start..end]);
        start = end;
    }
    chunks
}

/// How the documents of a JSON chunk are decoded. Each way hands a document it cannot decode to
/// the next; the last is the reference, whose messages are reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Way {
    /// [`otlp_json_fast`]: the common dialect parsed straight into the model.
    Fast,
    /// serde, resources kept as text ([`TopValue`] with `KEEP`).
    Kept,
    /// serde, every resource decoded where it stands.
    Ordinary,
}

impl Way {
    fn next(self) -> Way {
        match self {
            Way::Fast => Way::Kept,
            Way::Kept | Way::Ordinary => Way::Ordinary,
        }
    }
}

/// Decode one chunk of JSON text, each document the first of the ways from `first` on that
/// decodes it (always [`Way::Fast`], but in tests).
fn decode_json_chunk(
    sink: &mut Sink<'_, '_>,
    chunk: &[u8],
    start: BlockStart<'_>,
    json_lines: bool,
    bom: usize,
    first: Way,
) -> Result<(), DecodeError> {
    // Valid UTF-8 (checked once, fast) lets serde_json skip checking every string; a chunk with
    // invalid UTF-8 goes the checking way, which reports where.
    let text = simdutf8::basic::from_utf8(chunk).ok();
    let mut cx = ChunkCursor { sink, chunk, lines: LineCounter::new(chunk, start), json_lines, bom };
    let mut offset = 0usize;
    // Without valid UTF-8 every way is the checking one (below).
    let mut way = first;
    // The document a later way decodes again, after an earlier one could not.
    let mut again: Option<usize> = None;
    while offset < chunk.len() {
        // `offset` is 0 or a line start, so it is a character boundary of `text`.
        let resume = match (text, way) {
            (Some(text), Way::Fast) => fast_stream(&mut cx, text, offset)?,
            (Some(text), Way::Kept) => {
                let stream = serde_json::Deserializer::from_str(&text[offset..]).into_iter::<TopValue<'_, true>>();
                json_stream(&mut cx, stream, offset, again.map(|doc| doc - offset))?
            }
            (Some(text), Way::Ordinary) => {
                let stream = serde_json::Deserializer::from_str(&text[offset..]).into_iter::<TopValue<'_>>();
                json_stream(&mut cx, stream, offset, again.map(|doc| doc - offset))?
            }
            (None, _) => {
                let stream = serde_json::Deserializer::from_slice(&chunk[offset..]).into_iter::<TopValue<'_>>();
                json_stream(&mut cx, stream, offset, None)?
            }
        };
        match resume {
            Resume::Done => return Ok(()),
            Resume::Line(next) => (offset, way, again) = (offset + next, first, None),
            Resume::Again(doc) => {
                // From the start of the document's line, so that positions count from there.
                let doc = offset + doc;
                offset = memchr::memrchr(b'\n', &chunk[..doc]).map_or(0, |i| i + 1);
                (way, again) = (way.next(), Some(doc));
            }
        }
    }
    Ok(())
}

/// Decode the documents of the chunk from `offset` on with [`otlp_json_fast`], until the end or
/// the first document it leaves to serde ([`Resume::Again`]).
fn fast_stream(cx: &mut ChunkCursor<'_, '_, '_, '_>, text: &str, offset: usize) -> Result<Resume, DecodeError> {
    let rest = &text[offset..];
    let mut doc_start = 0usize;
    loop {
        // JSON's whitespace only: anything else is for serde to report.
        doc_start = otlp_json_fast::skip_whitespace(rest.as_bytes(), doc_start);
        if doc_start == rest.len() {
            return Ok(Resume::Done);
        }
        let ChunkCursor { sink, lines, .. } = cx;
        let builder = &*sink.builder();
        let parsed = otlp_json_fast::trace_document(&rest[doc_start..], &|t| builder.prepared_prefix(t));
        let Some((doc, len)) = parsed else { return Ok(Resume::Again(doc_start)) };
        let at = offset + doc_start;
        if !sink.add_documents(vec![Document::Traces(doc)], &mut || Position::LineOnly(lines.line_at(at)))? {
            return Ok(Resume::Again(doc_start));
        }
        doc_start += len;
    }
}

/// One chunk of JSON text being decoded.
struct ChunkCursor<'c, 's, 'o, 'b> {
    sink: &'s mut Sink<'o, 'b>,
    chunk: &'c [u8],
    lines: LineCounter<'c>,
    json_lines: bool,
    bom: usize,
}

/// Where decoding a chunk goes on after [`fast_stream`] or [`json_stream`] (offsets relative to
/// where it started).
enum Resume {
    /// Nowhere: the chunk is done.
    Done,
    /// At this line start, the first way again.
    Line(usize),
    /// At the document starting here, decoded again the next way.
    Again(usize),
}

/// Decode the documents of the chunk from `offset` on until the end or the first bad document.
///
/// The stream either keeps resources as text ([`TopValue`] with `KEEP`): any document it cannot
/// decode that way, or whose kept resources do not decode, is left to be decoded again the
/// ordinary way ([`Resume::Again`]), whose messages are the ones to report. Or it decodes them
/// the ordinary way. With `again`, either is decoding again the document starting there, which
/// the previous way left (earlier documents of its line are decoded and dropped, as they were
/// added already), and returns at the first line start after it.
fn json_stream<'de, R: serde_json::de::Read<'de>, const KEEP: bool>(
    cx: &mut ChunkCursor<'_, '_, '_, '_>,
    mut stream: serde_json::StreamDeserializer<'de, R, TopValue<'de, KEEP>>,
    offset: usize,
    again: Option<usize>,
) -> Result<Resume, DecodeError> {
    let ChunkCursor { sink, chunk, lines, json_lines, bom } = cx;
    let (rest, json_lines, bom) = (&chunk[offset..], *json_lines, *bom);
    let mut doc_start = 0usize;
    loop {
        // Position of the next document: skip whitespace to find its first line.
        while doc_start < rest.len() && rest[doc_start].is_ascii_whitespace() {
            doc_start += 1;
        }
        if again.is_some_and(|again| doc_start > again && rest[doc_start - 1] == b'\n') {
            return Ok(Resume::Line(doc_start));
        }
        match stream.next() {
            None => return Ok(Resume::Done),
            Some(Ok(TopValue(docs))) => {
                if again.is_some_and(|again| doc_start < again) {
                    doc_start = stream.byte_offset();
                    continue;
                }
                let at = offset + doc_start;
                if !sink.add_documents(docs, &mut || Position::LineOnly(lines.line_at(at)))? {
                    return Ok(Resume::Again(doc_start));
                }
                doc_start = stream.byte_offset();
            }
            Some(Err(_)) if KEEP => return Ok(Resume::Again(doc_start)),
            Some(Err(e)) => {
                // serde_json reports an error met at a line end (a truncated line) as column 0 of
                // the next line; it belongs to the line the newline ends.
                let (bad_line, column) = if e.column() == 0 && e.line() > 1 {
                    let start = match e.line().checked_sub(3) {
                        Some(n) => memchr::memchr_iter(b'\n', rest).nth(n).map_or(0, |i| i + 1),
                        None => 0,
                    };
                    let end = memchr::memchr_iter(b'\n', rest).nth(e.line() - 2).unwrap_or(rest.len());
                    (e.line() - 1, end - start)
                } else {
                    (e.line(), e.column())
                };
                let line = lines.line_at(offset) + (bad_line as u64).saturating_sub(1);
                // The first line of the input may start after a byte-order mark.
                let column = if line == 1 && bad_line == 1 { column as u64 + bom as u64 } else { column as u64 };
                let reason = match e.classify() {
                    serde_json::error::Category::Eof => "truncated_json",
                    serde_json::error::Category::Data => "wrong_shape",
                    _ => "invalid_json",
                };
                let message = json_error_message(&e);
                sink.fail(DecodeError::new(sink.source, Some(Position::Line { line, column }), reason, message))?;
                if !json_lines {
                    // Inside one large document there is no safe place to resume.
                    return Ok(Resume::Done);
                }
                // Resume at the line after the bad one.
                return Ok(memchr::memchr_iter(b'\n', rest)
                    .nth(bad_line.saturating_sub(1))
                    .map_or(Resume::Done, |i| Resume::Line(i + 1)));
            }
        }
    }
}

/// Number of line feeds in `bytes`.
pub(crate) fn count_newlines(bytes: &[u8]) -> u64 {
    memchr::memchr_iter(b'\n', bytes).count() as u64
}

/// serde_json appends " at line L column C" to its messages; we print the position ourselves.
fn json_error_message(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let cut = text.rfind(" at line ").map_or(text.as_str(), |i| &text[..i]);
    let what = match e.classify() {
        serde_json::error::Category::Eof => "truncated JSON",
        serde_json::error::Category::Data => "not OTLP/JSON",
        _ => "invalid JSON",
    };
    format!("{what}: {cut}")
}

fn decode_proto_message(
    source: &str,
    body: &[u8],
    opts: &DecodeOptions,
    carry: Option<&mut SpanBatchBuilder>,
) -> Result<Decoded, DecodeError> {
    decode_proto_message_in_parts(source, body, opts, carry, PROTO_PART_BYTES)
}

/// Decode one OTLP/protobuf message; one of at least `2 * part_bytes` is cut into parts of
/// about `part_bytes` at its top-level fields ([`otlp_proto::split_message`]) and decoded in
/// parallel, the parts' rows in message order after the rows `carry` held. The counts, the
/// messages and the errors are those of decoding it whole, which is what happens when any part
/// is not valid protobuf (so that the error names its offset in the whole message).
fn decode_proto_message_in_parts(
    source: &str,
    body: &[u8],
    opts: &DecodeOptions,
    mut carry: Option<&mut SpanBatchBuilder>,
    part_bytes: usize,
) -> Result<Decoded, DecodeError> {
    let parts = (body.len() / 2 >= part_bytes).then(|| otlp_proto::split_message(body, part_bytes)).flatten();
    if let Some(parts) = parts {
        let decoded: Vec<Option<Result<Decoded, DecodeError>>> = parts
            .par_iter()
            .map(|(range, first)| {
                let msg = otlp_wire::decode(&body[range.clone()]).ok()?;
                let mut sink = Sink::new(source, opts);
                let added = sink.add_resource_spans(
                    &msg.resource_spans,
                    *first,
                    &mut || Position::Offset(0),
                    &mut std::iter::empty(),
                );
                Some(added.map(|()| sink.finish()))
            })
            .collect();
        if let Some(decoded) = decoded.into_iter().collect::<Option<Vec<_>>>() {
            let mut out = one_document_of_parts(source, carry.take(), decoded)?;
            out.stats.format = "otlp_proto";
            return Ok(out);
        }
    }
    let mut sink = Sink::with_builder(source, opts, carry);
    sink.stats.format = "otlp_proto";
    match otlp_wire::decode(body) {
        Ok(msg) => sink.add_traces(&msg, Position::Offset(0))?,
        Err(e) => sink.fail(DecodeError::new(
            source,
            Some(Position::Offset(e.offset as u64)),
            "invalid_protobuf",
            format!("invalid or truncated OTLP/protobuf message ({} bytes): {e}", body.len()),
        ))?,
    }
    Ok(sink.finish())
}

fn decode_framed(
    source: &str,
    body: &[u8],
    opts: &DecodeOptions,
    carry: Option<&mut SpanBatchBuilder>,
) -> Result<Decoded, DecodeError> {
    let (frames, tail_error) = split_frames(body);
    let parts: Vec<Result<(Decoded, &'static str), DecodeError>> =
        frames.par_iter().map(|frame| decode_frame(source, body, *frame, opts)).collect();
    let mut out = Decoded { batches: earlier_rows(carry), stats: SourceStats::new(source) };
    let mut format = "otlp_proto_framed";
    for part in parts {
        let (part, frame_format) = part?;
        format = frame_format;
        out.batches.extend(part.batches);
        out.stats.absorb(part.stats);
    }
    out.stats.format = format;
    if let Some((offset, message)) = tail_error {
        let err = DecodeError::new(source, Some(Position::Offset(offset as u64)), "truncated_frame", message);
        if !opts.keep_going {
            return Err(err);
        }
        let msg = err.to_string();
        out.stats.skip_record(err.reason, || msg);
    }
    Ok(out)
}

fn decode_frame(
    source: &str,
    body: &[u8],
    frame: Frame,
    opts: &DecodeOptions,
) -> Result<(Decoded, &'static str), DecodeError> {
    let mut sink = Sink::new(source, opts);
    let position = Position::Offset(frame.offset as u64);
    let mut payload = &body[frame.start..frame.end];
    let mut zstd = false;
    let inflated;
    if payload.starts_with(&ZSTD_MAGIC) {
        match decompress_zstd_payload(source, payload, opts.max_decompressed_bytes, frame.offset as u64) {
            Ok(bytes) => {
                inflated = bytes;
                payload = &inflated;
                zstd = true;
            }
            Err(e) => {
                sink.fail(e)?;
                return Ok((sink.finish(), "otlp_proto_framed"));
            }
        }
    }
    let is_json = payload.iter().find(|b| !b.is_ascii_whitespace()).is_some_and(|b| *b == b'{' || *b == b'[');
    let format = match (is_json, zstd) {
        (true, true) => "otlp_json_framed_zstd",
        (true, false) => "otlp_json_framed",
        (false, true) => "otlp_proto_framed_zstd",
        (false, false) => "otlp_proto_framed",
    };
    if is_json {
        match super::otlp_json::decode_value(payload) {
            Ok(docs) => {
                for doc in docs {
                    sink.add_document(doc, &mut || position, &mut std::iter::empty())?;
                }
            }
            Err(e) => sink.fail(DecodeError::new(source, Some(position), "invalid_json", json_error_message(&e)))?,
        }
    } else {
        match otlp_wire::decode(payload) {
            Ok(msg) => sink.add_traces(&msg, position)?,
            Err(e) => sink.fail(DecodeError::new(
                source,
                Some(position),
                "invalid_protobuf",
                format!("frame of {} bytes is not an OTLP/protobuf message: {e} of the frame", payload.len()),
            ))?,
        }
    }
    Ok((sink.finish(), format))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_carried_builder_keeps_the_rows_in_input_order() {
        use crate::testing::{encode_json, encode_proto, frame, synthetic_traces};
        let opts = DecodeOptions::default();
        let json = |seed, start| encode_json(&synthetic_traces(seed, 2, 3, start)).into_bytes();
        let inputs: Vec<(&str, Vec<u8>)> = vec![
            ("a.json", json(1, 1_000)),
            // Framed frames decode in parallel with builders of their own.
            (
                "b.binpb",
                frame(&[
                    encode_proto(&synthetic_traces(2, 2, 3, 2_000)),
                    encode_proto(&synthetic_traces(3, 1, 2, 3_000)),
                ]),
            ),
            ("c.json", json(4, 4_000)),
            ("d.json", json(5, 5_000)),
        ];
        let mut carry = span_builder(&opts);
        let mut shared = Vec::new();
        let mut alone = Vec::new();
        for (name, bytes) in &inputs {
            let decoded = decode_bytes_into(name, bytes, &opts, &mut carry).unwrap();
            shared.extend(decoded.batches);
            alone.extend(decode_bytes(name, bytes, &opts).unwrap().batches);
        }
        // The JSON inputs leave their rows in the shared builder: c's and d's are still there.
        assert_eq!(carry.len(), 12);
        shared.push(carry.finish());
        let schema = alone[0].schema();
        let shared = arrow::compute::concat_batches(&schema, &shared).unwrap();
        let alone = arrow::compute::concat_batches(&schema, &alone).unwrap();
        assert_eq!(shared.num_rows(), 6 + 8 + 6 + 6);
        assert!(shared == alone, "shared-builder rows differ from decoding each input alone");
    }

    #[test]
    fn rows_of_earlier_inputs_survive_a_skipped_input_decoded_in_parts() {
        use crate::testing::{encode_json, frame, synthetic_traces};
        let opts = DecodeOptions { keep_going: true, ..Default::default() };
        let mut carry = span_builder(&opts);
        let first = encode_json(&synthetic_traces(1, 2, 3, 1_000)).into_bytes();
        assert!(decode_bytes_into("a.json", &first, &opts, &mut carry).unwrap().batches.is_empty());
        assert_eq!(carry.len(), 6);
        // A framed input with only a logs frame: no trace data, skipped with --keep-going. Its
        // frames decode with builders of their own, so the carried rows are sent out first.
        let logs = frame(&[br#"{"resourceLogs":[]}"#.to_vec()]);
        let skipped = decode_bytes_into("b.binpb", &logs, &opts, &mut carry).unwrap();
        assert_eq!(skipped.stats.records_skipped.get("no_trace_data"), Some(&1), "{:?}", skipped.stats);
        let kept: usize = skipped.batches.iter().map(RecordBatch::num_rows).sum();
        assert_eq!(kept + carry.len(), 6, "the first input's rows are kept");
    }

    #[test]
    fn a_large_protobuf_message_decodes_in_parts_as_it_does_whole() {
        use crate::testing::{encode_proto, synthetic_traces};
        let docs: Vec<_> = (0..4u64).map(|i| synthetic_traces(i, 3, 2, 1_000 * (i + 1))).collect();
        // Concatenated messages are one message holding all their resource spans.
        let good: Vec<u8> = docs.iter().flat_map(encode_proto).collect();
        let mut with_bad_span = docs.clone();
        let last = with_bad_span[3].resource_spans.iter_mut().rev().find(|r| !r.scope_spans[0].spans.is_empty());
        last.unwrap().scope_spans[0].spans[0].end_time_unix_nano = 0;
        let bad_span: Vec<u8> = with_bad_span.iter().flat_map(encode_proto).collect();
        // A last resource span whose bytes are not protobuf (a truncated field key).
        let bad_bytes = [good.as_slice(), &[0x0a, 0x02, 0xff, 0xff]].concat();
        let part = good.len() / 5;
        assert!(otlp_proto::split_message(&good, part).is_some_and(|p| p.len() >= 4));

        for keep_going in [false, true] {
            let opts = DecodeOptions { keep_going, ..Default::default() };
            for body in [&good, &bad_span, &bad_bytes] {
                let run = |part_bytes| {
                    let mut carry = span_builder(&opts);
                    decode_proto_message_in_parts("m.binpb", body, &opts, Some(&mut carry), part_bytes).map(|mut d| {
                        d.batches.push(carry.finish());
                        let schema = d.batches[0].schema();
                        (arrow::compute::concat_batches(&schema, &d.batches).unwrap(), d.stats)
                    })
                };
                match (run(part), run(usize::MAX)) {
                    (Ok((parts_rows, parts_stats)), Ok((whole_rows, whole_stats))) => {
                        assert!(parts_rows == whole_rows, "rows differ (keep_going {keep_going})");
                        assert_eq!(parts_stats, whole_stats);
                        // A message prost rejects is skipped whole (`--keep-going`): no document.
                        assert_eq!(parts_stats.documents, u64::from(parts_stats.records_skipped.is_empty()));
                    }
                    (Err(parts), Err(whole)) => assert_eq!(parts.to_string(), whole.to_string()),
                    (parts, whole) => panic!("parts {:?}, whole {:?}", parts.map(|r| r.1), whole.map(|r| r.1)),
                }
            }
        }
        let strict = DecodeOptions::default();
        let err = decode_proto_message_in_parts("m.binpb", &bad_span, &strict, None, part).unwrap_err();
        assert!(err.to_string().contains("resourceSpans["), "{err}");
        let lenient = DecodeOptions { keep_going: true, ..Default::default() };
        let skipped = decode_proto_message_in_parts("m.binpb", &bad_span, &lenient, None, part).unwrap();
        assert_eq!(skipped.stats.spans_read, skipped.stats.spans_written + 1);
    }

    /// The rows (after what a carried builder held) and counts of decoding one JSON text whole.
    fn json_whole(body: &str, opts: &DecodeOptions) -> Result<(RecordBatch, SourceStats), DecodeError> {
        let mut carry = span_builder(opts);
        let d = decode_json_blocks("d.json", &[body.as_bytes()], 1, false, 0, opts, Some(&mut carry))?;
        Ok((rows_with(d.batches, carry), d.stats))
    }

    /// The same, decoded in parts of `part_bytes` of span text, if it is.
    fn json_in_parts(
        body: &str,
        opts: &DecodeOptions,
        part_bytes: usize,
    ) -> Option<Result<(RecordBatch, SourceStats), DecodeError>> {
        let mut carry = span_builder(opts);
        let mut slot = Some(&mut carry);
        let out = decode_json_document_in_parts("d.json", body.as_bytes(), opts, &mut slot, part_bytes)?;
        Some(out.map(|d| (rows_with(d.batches, carry), d.stats)))
    }

    fn rows_with(mut batches: Vec<RecordBatch>, mut carry: SpanBatchBuilder) -> RecordBatch {
        batches.push(carry.finish());
        arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap()
    }

    #[test]
    fn real_exports_decode_in_parts_as_they_do_whole() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/otlp-samples");
        let mut compared = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            let Ok(text) = std::str::from_utf8(&bytes) else { continue };
            let docs: Vec<&str> = if is_json_lines(&bytes) { text.lines().collect() } else { vec![text] };
            for doc in docs {
                for keep_going in [false, true] {
                    let opts = DecodeOptions { keep_going, ..Default::default() };
                    let Some(parts) = json_in_parts(doc, &opts, 1) else { continue };
                    let (parts, whole) =
                        (parts.map_err(|e| e.to_string()), json_whole(doc, &opts).map_err(|e| e.to_string()));
                    assert!(parts == whole, "{} decodes differently in parts", path.display());
                    compared += 1;
                }
            }
        }
        assert!(compared >= 90, "only {compared} decodings of documents of several spans among the fixtures");
    }

    #[test]
    fn a_large_json_document_decodes_in_parts_as_it_does_whole() {
        use crate::testing::{encode_json, synthetic_traces};
        let merged = |bad: bool| {
            let mut doc = TracesData::default();
            for i in 0..4u64 {
                doc.resource_spans.extend(synthetic_traces(i, 3, 2, 1_000 * (i + 1)).resource_spans);
            }
            if bad {
                let last = doc.resource_spans.iter_mut().rev().find(|r| !r.scope_spans[0].spans.is_empty());
                last.unwrap().scope_spans[0].spans[1].end_time_unix_nano = 0;
            }
            encode_json(&doc)
        };
        let good = merged(false);
        let pretty = format!(
            "\n\n  {}\n",
            serde_json::to_string_pretty(&serde_json::from_str::<serde_json::Value>(&good).unwrap()).unwrap()
        );
        let span = |id: u8, extra: &str| {
            format!(
                r#"{{"trace_id":"{id:032x}","span_id":"{id:016x}","name":"s{id}","kind":"SPAN_KIND_SERVER",
                "start_time_unix_nano":"1","end_time_unix_nano":2{extra}}}"#
            )
        };
        // Dialects: snake_case keys, legacy names, null entries, keys repeated, unknown keys.
        let dialects = |extra: &str| {
            format!(
                r#"{{"resource_spans":[{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"a"}}}}]}},
                "instrumentationLibrarySpans":[{{"instrumentationLibrary":{{"name":"lib"}},"spans":[{},{}]}},
                {{"scope":null,"spans":null}}]}}, null, {{"resource":null,"scope_spans":[{{"spans":[{}]}}]}}],
                "x-other":{{"a":[1,2]}},"resourceSpans":[{{"scopeSpans":[{{"spans":[{}]}}]}}]}}"#,
                span(1, ""),
                span(2, ""),
                span(3, extra),
                span(4, "")
            )
        };
        for keep_going in [false, true] {
            let opts = DecodeOptions { keep_going, ..Default::default() };
            for body in [good.clone(), pretty.clone(), merged(true), dialects("")] {
                let parts = json_in_parts(&body, &opts, 300).expect("a trace document in several parts");
                match (parts, json_whole(&body, &opts)) {
                    (Ok((parts_rows, parts_stats)), Ok((whole_rows, whole_stats))) => {
                        assert!(parts_rows == whole_rows, "rows differ (keep_going {keep_going})");
                        assert_eq!(parts_stats, whole_stats);
                        assert_eq!(parts_stats.documents, 1);
                    }
                    (Err(parts), Err(whole)) => assert_eq!(parts.to_string(), whole.to_string()),
                    (parts, whole) => panic!("parts {:?}, whole {:?}", parts.map(|r| r.1), whole.map(|r| r.1)),
                }
            }
            // Decoded whole instead: a span that does not parse, other documents, several documents.
            for body in [
                dialects(r#","flags":"x""#),
                r#"{"resourceLogs":[]}"#.to_string(),
                format!("[{good}]"),
                format!("{good} {good}"),
            ] {
                assert!(json_in_parts(&body, &opts, 300).is_none(), "{}", &body[..40]);
            }
        }
        let strict = DecodeOptions::default();
        let err = json_in_parts(&merged(true), &strict, 300).unwrap().unwrap_err().to_string();
        assert!(err.contains("resourceSpans[") && err.contains("line 1"), "{err}");
        let err = json_in_parts(&format!("\n\n{}", merged(true)), &strict, 300).unwrap().unwrap_err().to_string();
        assert!(err.contains("line 3"), "{err}");
    }

    /// Rows, counts and error of decoding `body` as one chunk, resources kept as text or not.
    fn chunk(body: &[u8], opts: &DecodeOptions, first: Way) -> Result<(RecordBatch, SourceStats), String> {
        let mut sink = Sink::new("d.jsonl", opts);
        let starts = OnceLock::new();
        let start = BlockStart { first_line: 1, blocks: &[body], index: 0, starts: &starts };
        decode_json_chunk(&mut sink, body, start, is_json_lines(body), 0, first).map_err(|e| e.to_string())?;
        let d = sink.finish();
        Ok((rows_with(d.batches, span_builder(opts)), d.stats))
    }

    /// Keeping resources as text changes nothing: rows, counts, messages and their positions are
    /// those of decoding every resource where it stands, for good lines, resources that do not
    /// decode (wrong shape, repeated, nested deep), documents glued on one line, arrays of
    /// documents, bad spans and bad JSON.
    #[test]
    fn resources_kept_as_text_decode_as_they_do_in_place() {
        use crate::testing::{encode_json, synthetic_traces};
        let good = encode_json(&synthetic_traces(3, 4, 3, 1_700_000_000_000_000_000));
        let other = encode_json(&synthetic_traces(4, 2, 2, 1_700_000_000_000_000_000));
        let spans = r#""scopeSpans":[{"spans":[{"traceId":"0af7651916cd43dd8448eb211c80319c",
            "spanId":"b7ad6b7169203331","name":"x","startTimeUnixNano":"5","endTimeUnixNano":"9"}]}]"#
            .replace('\n', "");
        let doc = |resource: &str| format!(r#"{{"resourceSpans":[{{{resource}{spans}}}]}}"#);
        // A kvlist nested `levels` deep: four JSON levels each.
        let nested = |levels: usize| {
            let mut value = r#"{"stringValue":"leaf"}"#.to_string();
            for _ in 0..levels {
                value = format!(r#"{{"kvlistValue":{{"values":[{{"key":"k","value":{value}}}]}}}}"#);
            }
            format!(r#""resource":{{"attributes":[{{"key":"deep","value":{value}}}]}},"#)
        };
        let long = format!(
            r#""resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"{}"}}}}]}},"#,
            "x".repeat(40)
        );
        let mut end_zero = synthetic_traces(5, 2, 2, 1_700_000_000_000_000_000);
        end_zero.resource_spans[0].scope_spans[0].spans[0].end_time_unix_nano = 0;
        let lines = [
            doc(r#""resource":{"attributes":5},"#),
            doc(r#""resource":{"attributes":5},"resource":{"attributes":[]},"#),
            doc(
                r#""resource":{"attributes":[{"key":"a","value":{"stringValue":"1"}}]},"resource":{"droppedAttributesCount":2},"#,
            ),
            doc(r#""resource":{"attributes":[{"key":"a","value":{"intValue":"x"}}]},"#),
            doc(r#""resource":null,"#),
            doc(""),
            doc(&nested(20)),
            doc(&nested(40)),
            doc(&long),
            format!("{}, tru", doc(r#""resource":{"attributes":5}"#).trim_end_matches('}')),
            format!("{good} {}", doc(r#""resource":{"attributes":5},"#)),
            format!("{}{good}", doc(r#""resource":{"attributes":{}},"#)),
            format!("[{good}, {}]", doc(r#""resource":{"droppedAttributesCount":-1},"#)),
            encode_json(&end_zero),
            r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"k","value":{"stringValue":"\u00e9\""}}]}}]}"#
                .into(),
            "{\"resourceSpans\": [{\"resource\": \"\u{ff}\"}]}".into(),
        ];
        let mut compared = 0;
        for (i, line) in lines.iter().enumerate() {
            for body in [
                format!("{good}\n{line}\n{other}\n{good}\n"),
                format!("{line}\n{line}\n{good}"),
                format!("  {line}\n\n{other}{good}\n{line}"),
            ] {
                for (keep_going, first) in [false, true].into_iter().flat_map(|k| [(k, Way::Fast), (k, Way::Kept)]) {
                    let opts = DecodeOptions { keep_going, max_value_bytes: 16, ..Default::default() };
                    let (kept, in_place) =
                        (chunk(body.as_bytes(), &opts, first), chunk(body.as_bytes(), &opts, Way::Ordinary));
                    match (&kept, &in_place) {
                        (Ok((kept_rows, kept_stats)), Ok((rows, stats))) => {
                            assert!(kept_rows == rows, "line {i}: rows differ ({first:?}, keep_going {keep_going})");
                            assert_eq!(kept_stats, stats, "line {i}, {first:?}");
                        }
                        (Err(kept), Err(in_place)) => assert_eq!(kept, in_place, "line {i}, {first:?}"),
                        _ => panic!(
                            "line {i}, {first:?}, keep_going {keep_going}: {:?} against {:?}",
                            kept.map(|r| r.1),
                            in_place.map(|r| r.1)
                        ),
                    }
                    compared += 1;
                }
            }
        }
        assert_eq!(compared, lines.len() * 12);
        // The cases do what they are meant to: resources are kept, decode once, and fail where
        // decoding them in place fails.
        let opts = DecodeOptions { keep_going: true, max_value_bytes: 16, ..Default::default() };
        for first in [Way::Fast, Way::Kept] {
            let (_, stats) = chunk(format!("{}\n{}\n", doc(&long), doc(&long)).as_bytes(), &opts, first).unwrap();
            assert_eq!((stats.spans_written, stats.values_truncated), (2, 2));
            let (_, stats) = chunk(format!("{good}\n{}\n{good}", lines[0]).as_bytes(), &opts, first).unwrap();
            assert_eq!((stats.documents, stats.spans_written), (2, 24));
            assert!(stats.messages[0].contains("line 2, column 45"), "{:?}", stats.messages);
            let (_, stats) = chunk(lines[10].as_bytes(), &opts, first).unwrap();
            let column = format!("line 1, column {}", good.len() + 1 + 45);
            assert!(stats.messages[0].contains(&column), "{:?}", stats.messages);
            let deep = chunk(doc(&nested(40)).as_bytes(), &DecodeOptions::default(), first).unwrap_err();
            assert!(deep.contains("recursion limit"), "{deep}");
        }
        let mut kept = serde_json::Deserializer::from_str(&good).into_iter::<TopValue<'_, true>>();
        let Some(Ok(TopValue(docs))) = kept.next() else { panic!("a document") };
        let Document::Traces(t) = &docs[0] else { panic!("a trace document") };
        assert!(t.resource_spans.iter().all(|rs| rs.resource_text.is_some() && rs.resource.attributes.is_empty()));
    }

    #[test]
    fn json_lines_detection() {
        assert!(is_json_lines(b"{\"a\":1}\n{\"b\":2}\n"));
        assert!(!is_json_lines(b"{\n  \"a\": 1\n}\n"));
        assert!(!is_json_lines(b"{\"a\":1}"));
    }

    #[test]
    fn line_splitting_keeps_every_byte_at_line_ends() {
        let line = b"{\"resourceSpans\":[]}\n".repeat(600_000);
        let chunks = split_lines(&line);
        assert!(chunks.len() > 1);
        assert_eq!(chunks.iter().map(|c| c.len()).sum::<usize>(), line.len());
        assert!(chunks.iter().all(|c| c.ends_with(b"\n")));
    }

    /// Valid UTF-8 is parsed as text, a chunk with invalid UTF-8 byte by byte; both must give
    /// the same documents, positions and resumption after a bad JSON Lines line.
    #[test]
    fn text_and_byte_parsing_agree_and_resume_after_a_bad_line() {
        let doc = crate::testing::encode_json(&crate::testing::synthetic_traces(7, 3, 2, 1_700_000_000_000_000_000));
        let lenient = DecodeOptions { keep_going: true, ..DecodeOptions::default() };
        let run = |bad_line: &[u8]| {
            let input = [doc.as_bytes(), b"\n", bad_line, b"\n", doc.as_bytes(), b"\n"].concat();
            decode_bytes("in.jsonl", &input, &lenient).unwrap().stats
        };
        let syntax = run(b"{\"resourceSpans\": [tru");
        // Two bad lines in a row: the second is the first line after resuming.
        let two = run(b"{\"resourceSpans\": [}\n{\"resourceSpans\": [tru");
        assert_eq!((two.documents, two.spans_written), (2, 12));
        assert!(two.messages[1].contains("line 3, column 22"), "{:?}", two.messages);
        let utf8 = run(b"{\"resourceSpans\": [{\"resource\": \"\xff\"}]}");
        for (stats, what) in [(&syntax, "syntax"), (&utf8, "utf-8")] {
            assert_eq!(stats.documents, 2, "{what}");
            assert_eq!(stats.spans_written, 12, "{what}");
            assert_eq!(stats.records_skipped.values().sum::<u64>(), 1, "{what}");
            assert!(
                stats.messages[0].contains("in.jsonl") && stats.messages[0].contains("line 2"),
                "{what}: {:?}",
                stats.messages
            );
        }
        assert!(utf8.messages[0].contains("invalid JSON"), "{:?}", utf8.messages);
        let strict =
            decode_bytes("in.jsonl", &[doc.as_bytes(), b"\n", doc.as_bytes()].concat(), &DecodeOptions::default());
        assert_eq!(strict.unwrap().stats.spans_written, 12);
    }

    /// Blocks decoded in parallel give the messages (with their line numbers) of one block.
    #[test]
    fn blocks_report_the_lines_of_the_whole_input() {
        use crate::testing::{encode_json, synthetic_traces};
        let good = encode_json(&synthetic_traces(1, 2, 2, 1_000));
        let mut bad_span = synthetic_traces(2, 2, 2, 1_000);
        bad_span.resource_spans[0].scope_spans[0].spans[0].end_time_unix_nano = 0;
        let bad_span = encode_json(&bad_span);
        let lines = [&good, "{\"resourceSpans\": [tru", &bad_span, &good, "", &bad_span, "{}", "[1]", &good, &bad_span];
        let body = lines.join("\n") + "\n";
        let opts = DecodeOptions { keep_going: true, ..Default::default() };
        let whole = decode_json_blocks("d.jsonl", &[body.as_bytes()], 3, true, 0, &opts, None).unwrap();
        let mut blocks: Vec<&[u8]> = Vec::new();
        let mut rest = body.as_bytes();
        while !rest.is_empty() {
            let cut = memchr::memchr_iter(b'\n', rest).nth(1).map_or(rest.len(), |i| i + 1);
            blocks.push(&rest[..cut]);
            rest = &rest[cut..];
        }
        assert_eq!(blocks.len(), 5);
        let parts = decode_json_blocks("d.jsonl", &blocks, 3, true, 0, &opts, None).unwrap();
        assert_eq!(parts.stats, whole.stats);
        assert_eq!(whole.stats.messages.len(), 5, "{:?}", whole.stats.messages);
        for (message, line) in whole.stats.messages.iter().zip([4, 5, 8, 10, 12]) {
            assert!(message.contains(&format!("line {line}")), "{message} (line {line})");
        }
    }

    #[test]
    fn line_counter_counts_lazily_forward_and_back_across_blocks() {
        let blocks: [&[u8]; 3] = [b"x\ny\n", b"\n", b"a\nb\nc"];
        let starts = OnceLock::new();
        let start = |index| BlockStart { first_line: 5, blocks: &blocks, index, starts: &starts };
        let mut first = LineCounter::new(blocks[0], start(0));
        assert_eq!(first.line_at(3), 6);
        assert!(starts.get().is_none(), "the first block needs no counting");
        let mut lc = LineCounter::new(blocks[2], start(2));
        assert_eq!(lc.line_at(2), 9);
        assert_eq!(lc.line_at(5), 10);
        assert_eq!(lc.line_at(0), 8);
        assert_eq!(lc.line_at(4), 10);
        assert_eq!(starts.get(), Some(&vec![5, 7, 8]));
    }
}
