//! The `run_info` table: what a run read, used, skipped (with reasons) and wrote.
//!
//! A long table so new counters never change its schema:
//! `source` (input name, empty for the whole run), `key`, `reason` (for skip counters),
//! `value` (counts and sizes) and `text` (format names, versions, messages).
//! It holds nothing time- or host-dependent: the same run gives the same bytes.

use std::sync::{Arc, LazyLock};

use arrow::array::{ArrayRef, Int64Builder, RecordBatch, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use crate::error::Result;
use crate::ingest::SourceStats;
use crate::model::schema::SCHEMA_VERSION;
use crate::model::table::Table;
use crate::outcome::SignalsInput;
use crate::s3::list::ListStats;
use crate::signals::SignalStats;
use crate::slo::SloReport;
use crate::spill::SpillStats;
use crate::store::StoreStats;

static RUN_INFO_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("source", DataType::Utf8, false),
        Field::new("key", DataType::Utf8, false),
        Field::new("reason", DataType::Utf8, true),
        Field::new("value", DataType::Int64, true),
        Field::new("text", DataType::Utf8, true),
    ]))
});

/// The `run_info` schema.
pub fn run_info_schema() -> SchemaRef {
    RUN_INFO_SCHEMA.clone()
}

#[derive(Default)]
struct Rows {
    source: StringBuilder,
    key: StringBuilder,
    reason: StringBuilder,
    value: Int64Builder,
    text: StringBuilder,
}

impl Rows {
    fn push(&mut self, source: &str, key: &str, reason: Option<&str>, value: Option<u64>, text: Option<&str>) {
        self.source.append_value(source);
        self.key.append_value(key);
        self.reason.append_option(reason);
        self.value.append_option(value.map(|v| i64::try_from(v).unwrap_or(i64::MAX)));
        self.text.append_option(text);
    }

    fn count(&mut self, source: &str, key: &str, value: u64) {
        self.push(source, key, None, Some(value), None);
    }

    fn finish(mut self) -> Result<RecordBatch> {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.source.finish()),
            Arc::new(self.key.finish()),
            Arc::new(self.reason.finish()),
            Arc::new(self.value.finish()),
            Arc::new(self.text.finish()),
        ];
        Ok(RecordBatch::try_new(run_info_schema(), columns)?)
    }
}

/// Build the `run_info` batch for an ingest run.
pub fn ingest_run_info(
    command: &str,
    sources: &[SourceStats],
    s3: Option<&ListStats>,
    store: Option<&StoreStats>,
) -> Result<RecordBatch> {
    let mut r = Rows::default();
    ingest_rows(&mut r, command, sources, store);
    if let Some(s3) = s3 {
        s3_rows(&mut r, s3, sources);
    }
    r.finish()
}

/// Build the `run_info` batch for a metrics run: the ingest counters (when raw inputs were
/// decoded), the records derived and dropped (with reasons) or the signals file read, and the
/// rows of each table (of the derived signals when they were written).
pub fn metrics_run_info(
    command: &str,
    input: &SignalsInput,
    tables: &[Table],
    signals_written: bool,
) -> Result<RecordBatch> {
    let mut r = Rows::default();
    ingest_rows(&mut r, command, &input.sources, None);
    s3_rows(&mut r, &input.s3, &input.sources);
    signals_input_rows(&mut r, input);
    let signals = input.derived.iter().map(|d| &d.signals).filter(|_| signals_written);
    table_rows(&mut r, tables.iter().chain(signals));
    r.finish()
}

/// Build the `run_info` batch for a graph run: the ingest counters (when raw inputs were
/// decoded), the store read, and the rows of each table written.
pub fn graph_run_info(
    command: &str,
    sources: &[SourceStats],
    s3: &ListStats,
    store: Option<&std::path::Path>,
    tables: &[Table],
) -> Result<RecordBatch> {
    let mut r = Rows::default();
    ingest_rows(&mut r, command, sources, None);
    s3_rows(&mut r, s3, sources);
    if let Some(store) = store {
        r.push("", "span_store", None, None, Some(&store.display().to_string()));
    }
    table_rows(&mut r, tables.iter());
    r.finish()
}

/// Build the `run_info` batch for an SLO or report run: the ingest and derivation counters
/// when signals were derived (or the signals file read), the evaluation time and the SLOs per
/// status (when SLOs were evaluated), and the rows of each table written.
pub fn slo_run_info(
    command: &str,
    input: &SignalsInput,
    report: Option<&SloReport>,
    metric_tables: &[Table],
) -> Result<RecordBatch> {
    let mut r = Rows::default();
    ingest_rows(&mut r, command, &input.sources, None);
    s3_rows(&mut r, &input.s3, &input.sources);
    signals_input_rows(&mut r, input);
    if let Some(d) = &input.derived {
        r.push("", "table_rows", None, Some(d.signals.rows() as u64), Some(d.signals.name));
    }
    table_rows(&mut r, metric_tables.iter());
    if let Some(report) = report {
        r.push("", "evaluated_at", None, None, Some(&crate::util::utc_text(report.at)));
        r.count("", "slos", report.statuses.values().sum::<usize>() as u64);
        for (status, n) in &report.statuses {
            r.push("", "slo_status", Some(status), Some(*n as u64), None);
        }
        table_rows(&mut r, report.tables.iter());
    }
    r.finish()
}

/// The derivation's counters, or the `metrics` output whose signals file was read instead.
fn signals_input_rows(r: &mut Rows, input: &SignalsInput) {
    if let Some(d) = &input.derived {
        signal_rows(r, &d.stats, &d.spill);
    }
    if let Some(file) = &input.signals_file {
        r.push("", "signals_input", None, None, Some(&input.shown(file)));
    }
    r.push("", "signals_records", None, None, Some(&input.records.text()));
}

fn signal_rows(r: &mut Rows, s: &SignalStats, spill: &SpillStats) {
    r.count("", "signal_spans", s.spans);
    r.count("", "signal_traces", s.traces);
    r.count("", "preannotated_spans", s.preannotated_spans);
    r.count("", "service_records", s.service_records);
    r.count("", "dependency_records", s.dependency_records);
    r.push("", "sampling", None, None, Some(s.sampling.name()));
    r.count("", "sampled_spans", s.sampled_spans.values().sum());
    for (source, n) in &s.sampled_spans {
        r.push("", "sampled_spans", Some(source), Some(*n), None);
    }
    r.count("", "adjusted_records", s.adjusted_records);
    r.count("", "records_dropped", s.dropped.values().sum());
    for (reason, n) in &s.dropped {
        r.push("", "records_dropped", Some(reason), Some(*n), None);
    }
    r.count("", "spill_rows", spill.rows);
    r.count("", "spill_bytes", spill.bytes);
    r.count("", "derive_partitions", spill.partitions);
}

fn table_rows<'a>(r: &mut Rows, tables: impl Iterator<Item = &'a Table>) {
    for t in tables {
        r.push("", "table_rows", None, Some(t.rows() as u64), Some(t.name));
    }
}

/// What listing and reading `s3://` inputs did, when there were any: prefixes listed, objects
/// listed, pruned by partition time, not matching a glob, and read, with their bytes.
fn s3_rows(r: &mut Rows, s3: &ListStats, sources: &[SourceStats]) {
    if s3.prefixes == 0 {
        return;
    }
    let read: Vec<&SourceStats> = sources.iter().filter(|s| s.source.starts_with("s3://")).collect();
    r.count("", "s3_prefixes_listed", s3.prefixes);
    r.count("", "s3_objects_listed", s3.listed);
    r.count("", "s3_objects_pruned", s3.pruned);
    r.count("", "s3_objects_unmatched", s3.unmatched);
    r.count("", "s3_objects_read", read.len() as u64);
    r.count("", "s3_bytes_read", read.iter().map(|s| s.bytes_read).sum());
}

fn ingest_rows(r: &mut Rows, command: &str, sources: &[SourceStats], store: Option<&StoreStats>) {
    let totals = SourceStats::total(sources);
    r.push("", "spanlens_version", None, None, Some(env!("CARGO_PKG_VERSION")));
    r.push("", "schema_version", None, None, Some(SCHEMA_VERSION));
    r.push("", "command", None, None, Some(command));
    r.count("", "inputs", sources.len() as u64);
    r.count("", "bytes_read", totals.bytes_read);
    r.count("", "bytes_decoded", totals.bytes_decoded);
    r.count("", "documents", totals.documents);
    r.count("", "spans_read", totals.spans_read);
    r.count("", "spans_written", totals.spans_written);
    r.count("", "spans_skipped", totals.spans_skipped_total());
    for (reason, n) in &totals.spans_skipped {
        r.push("", "spans_skipped", Some(reason), Some(*n), None);
    }
    for (reason, n) in &totals.records_skipped {
        r.push("", "records_skipped", Some(reason), Some(*n), None);
    }
    r.count("", "values_truncated", totals.values_truncated);
    if let Some(store) = store {
        r.count("", "files_written", store.files);
        r.count("", "bytes_written", store.bytes);
        for (date, rows) in &store.partitions {
            r.push("", "partition_rows", None, Some(*rows), Some(date));
        }
    }
    for s in sources {
        let src = s.source.as_str();
        r.push(src, "format", None, None, Some(s.format));
        r.push(src, "compression", None, None, Some(s.compression));
        r.count(src, "bytes_read", s.bytes_read);
        r.count(src, "bytes_decoded", s.bytes_decoded);
        r.count(src, "documents", s.documents);
        r.count(src, "spans_read", s.spans_read);
        r.count(src, "spans_written", s.spans_written);
        for (reason, n) in &s.spans_skipped {
            r.push(src, "spans_skipped", Some(reason), Some(*n), None);
        }
        for (reason, n) in &s.records_skipped {
            r.push(src, "records_skipped", Some(reason), Some(*n), None);
        }
        if s.values_truncated > 0 {
            r.count(src, "values_truncated", s.values_truncated);
        }
        for m in &s.messages {
            r.push(src, "message", None, None, Some(m));
        }
    }
}
