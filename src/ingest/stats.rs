//! Counters of what was read, used and skipped, per input and for a whole run.
//!
//! Nothing is lost silently: every span decoded is either written or counted under a skip
//! reason, and every document or input that was passed over is counted with its reason. These
//! counters feed the `run_info` table and the stderr summary.

use std::collections::BTreeMap;

/// How many example messages to keep per input.
const MAX_MESSAGES: usize = 5;

/// What happened to one input.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SourceStats {
    /// The input as the user named it (path, URI, or `-`).
    pub source: String,
    /// Detected container format, e.g. `otlp_json`, `otlp_json_stream`, `otlp_proto_framed`.
    pub format: &'static str,
    /// Detected whole-object compression: `none`, `gzip` or `zstd`.
    pub compression: &'static str,
    pub bytes_read: u64,
    pub bytes_decoded: u64,
    /// Trace documents (`TracesData` messages) decoded.
    pub documents: u64,
    /// Spans decoded: always `spans_written + sum(spans_skipped)`.
    pub spans_read: u64,
    pub spans_written: u64,
    pub spans_skipped: BTreeMap<&'static str, u64>,
    /// Documents, lines, frames or whole inputs passed over, by reason.
    pub records_skipped: BTreeMap<&'static str, u64>,
    /// Attribute values and messages cut to `--max-value-bytes`.
    pub values_truncated: u64,
    /// The first few skip messages, for `run_info` and `--verbose` output.
    pub messages: Vec<String>,
}

impl SourceStats {
    pub fn new(source: &str) -> Self {
        SourceStats { source: source.to_string(), format: "unknown", compression: "none", ..Default::default() }
    }

    pub fn skip_span(&mut self, reason: &'static str, message: impl FnOnce() -> String) {
        *self.spans_skipped.entry(reason).or_default() += 1;
        self.note(message);
    }

    pub fn skip_record(&mut self, reason: &'static str, message: impl FnOnce() -> String) {
        *self.records_skipped.entry(reason).or_default() += 1;
        self.note(message);
    }

    /// Count a record skipped by design (a log or metric document) without a message.
    pub fn pass_record(&mut self, reason: &'static str) {
        *self.records_skipped.entry(reason).or_default() += 1;
    }

    fn note(&mut self, message: impl FnOnce() -> String) {
        if self.messages.len() < MAX_MESSAGES {
            self.messages.push(message());
        }
    }

    pub fn spans_skipped_total(&self) -> u64 {
        self.spans_skipped.values().sum()
    }

    /// Totals over the inputs of a run (`source` is empty).
    pub fn total(sources: &[SourceStats]) -> SourceStats {
        let mut total = SourceStats::new("");
        for s in sources {
            total.absorb(s.clone());
        }
        total
    }

    /// Add the counters of another part: a chunk or frame of the same input decoded on its own
    /// (which has no byte counts of its own), or another input for run totals.
    pub fn absorb(&mut self, part: SourceStats) {
        self.bytes_read += part.bytes_read;
        self.bytes_decoded += part.bytes_decoded;
        self.documents += part.documents;
        self.spans_read += part.spans_read;
        self.spans_written += part.spans_written;
        for (k, v) in part.spans_skipped {
            *self.spans_skipped.entry(k).or_default() += v;
        }
        for (k, v) in part.records_skipped {
            *self.records_skipped.entry(k).or_default() += v;
        }
        self.values_truncated += part.values_truncated;
        for m in part.messages {
            if self.messages.len() < MAX_MESSAGES {
                self.messages.push(m);
            }
        }
    }
}
