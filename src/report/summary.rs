//! The human summary printed to stderr after a run: what was read, written and skipped, with
//! reasons. Data never goes to stderr and this never goes to stdout.

use crate::ingest::SourceStats;
use crate::model::table::Table;
use crate::outcome::{GraphOutcome, IngestOutcome, MetricsOutcome, ReportOutcome, SignalsInput, SloOutcome};
use crate::s3::list::ListStats;
use crate::s3::manifest::MANIFEST;
use crate::s3::write::UploadStats;
use crate::signals::{Sampling, SignalStats};
use crate::slo::SloReport;
use crate::spill::SpillStats;
use crate::util::{human_bytes, thousands, utc_text};
use crate::workload::GenStats;

/// Skip messages shown on stderr; the rest (up to 5 per input) are in run_info.
const MAX_WARNINGS: usize = 10;

fn reasons(map: &std::collections::BTreeMap<&'static str, u64>) -> String {
    map.iter().map(|(k, v)| format!("{k} {}", thousands(*v))).collect::<Vec<_>>().join(", ")
}

/// The summary line of a `gen` run.
pub fn gen_summary(stats: &GenStats, out: &std::path::Path, seconds: f64) -> String {
    format!(
        "generated {} traces{}, {} spans in {} documents: {} file{} ({}) in {} in {seconds:.2} s\n",
        thousands(stats.traces),
        if stats.traces_dropped > 0 {
            format!(" ({} more left out by --sample)", thousands(stats.traces_dropped))
        } else {
            String::new()
        },
        thousands(stats.spans),
        thousands(stats.documents),
        thousands(stats.files),
        if stats.files == 1 { "" } else { "s" },
        human_bytes(stats.bytes),
        out.display(),
    )
}

/// The skip counts by reason, one line each for spans and records, when there are any.
fn push_skips(out: &mut String, t: &SourceStats) {
    if !t.spans_skipped.is_empty() {
        out.push_str(&format!("  spans skipped: {}\n", reasons(&t.spans_skipped)));
    }
    if !t.records_skipped.is_empty() {
        out.push_str(&format!("  records skipped: {}\n", reasons(&t.records_skipped)));
    }
}

/// The first skip messages of the inputs, one `warning:` line each, and how many more
/// `run_info` holds.
fn push_warnings(out: &mut String, sources: &[SourceStats]) {
    let messages: Vec<&String> = sources.iter().flat_map(|s| &s.messages).collect();
    for m in messages.iter().take(MAX_WARNINGS) {
        out.push_str(&format!("  warning: {m}\n"));
    }
    if messages.len() > MAX_WARNINGS {
        out.push_str(&format!(
            "  ... {} more warnings in run_info (key = 'message')\n",
            thousands((messages.len() - MAX_WARNINGS) as u64)
        ));
    }
}

/// The summary text of an ingest run.
pub fn ingest_summary(outcome: &IngestOutcome) -> String {
    let t = SourceStats::total(&outcome.sources);
    let inputs = outcome.sources.len() as u64;
    let mut out = format!(
        "read {} input{} ({}, {} decoded), {} trace document{}\n",
        thousands(inputs),
        if inputs == 1 { "" } else { "s" },
        human_bytes(t.bytes_read),
        human_bytes(t.bytes_decoded),
        thousands(t.documents),
        if t.documents == 1 { "" } else { "s" },
    );
    out.push_str(&format!(
        "spans: {} read, {} written, {} skipped\n",
        thousands(t.spans_read),
        thousands(t.spans_written),
        thousands(t.spans_skipped_total())
    ));
    push_skips(&mut out, &t);
    if t.values_truncated > 0 {
        out.push_str(&format!("  values truncated to --max-value-bytes: {}\n", thousands(t.values_truncated)));
    }
    push_warnings(&mut out, &outcome.sources);
    push_s3(&mut out, &outcome.s3, &outcome.sources);
    let rate = if outcome.seconds > 0.0 { t.spans_read as f64 / outcome.seconds } else { 0.0 };
    out.push_str(&format!(
        "wrote {} ({} partition{}, {} file{}, {}) in {:.2} s, {} spans/s\n",
        outcome.out.display(),
        outcome.store.partitions.len(),
        if outcome.store.partitions.len() == 1 { "" } else { "s" },
        outcome.store.files,
        if outcome.store.files == 1 { "" } else { "s" },
        human_bytes(outcome.store.bytes),
        outcome.seconds,
        thousands(rate as u64)
    ));
    push_upload(&mut out, outcome.upload.as_ref());
    out
}

/// Print the summary, unless `quiet` and nothing was skipped.
pub fn print_ingest(outcome: &IngestOutcome, quiet: bool) {
    let t = SourceStats::total(&outcome.sources);
    let skipped = t.spans_skipped_total() > 0 || t.values_truncated > 0 || !t.records_skipped.is_empty();
    if !quiet || skipped {
        eprint!("{}", ingest_summary(outcome));
    }
}

/// The summary text of a metrics run.
pub fn metrics_summary(outcome: &MetricsOutcome) -> String {
    let mut out = String::new();
    push_signals_input(&mut out, &outcome.input);
    let mut written = table_rows(outcome.tables.iter());
    let mut copied = None;
    match (&outcome.input.derived, outcome.signals_written) {
        (Some(d), true) => written.push(format!("{} {}", d.signals.name, thousands(d.signals.rows() as u64))),
        (None, true) => copied = Some(format!("{}.parquet copied", crate::signals::TABLE)),
        (_, false) => {}
    }
    push_wrote(&mut out, outcome.out.as_deref(), &written, copied, outcome.phases.total());
    push_upload(&mut out, outcome.upload.as_ref());
    if let Some(note) = outcome.graph_note {
        out.push_str(&format!("note: {note}\n"));
    }
    out
}

/// `s3: listed N objects under M prefixes (K pruned by partition time, U not matching the
/// glob), read R objects (B)`, when there were `s3://` inputs.
fn push_s3(out: &mut String, s3: &ListStats, sources: &[SourceStats]) {
    if s3.prefixes > 0 {
        out.push_str(&s3_line(s3, sources));
    }
}

/// The `s3: listed ...` line of [`push_s3`], with its line break.
pub fn s3_line(s3: &ListStats, sources: &[SourceStats]) -> String {
    let read: Vec<&SourceStats> = sources.iter().filter(|s| s.source.starts_with("s3://")).collect();
    let mut skipped = vec![format!("{} pruned by partition time", thousands(s3.pruned))];
    if s3.unmatched > 0 {
        skipped.push(format!("{} not matching the glob", thousands(s3.unmatched)));
    }
    format!(
        "s3: listed {} object{} under {} prefix{} ({}), read {} object{} ({})\n",
        thousands(s3.listed),
        if s3.listed == 1 { "" } else { "s" },
        thousands(s3.prefixes),
        if s3.prefixes == 1 { "" } else { "es" },
        skipped.join(", "),
        thousands(read.len() as u64),
        if read.len() == 1 { "" } else { "s" },
        human_bytes(read.iter().map(|s| s.bytes_read).sum()),
    )
}

/// What was read: the span store, or the decoded inputs with their skips.
fn push_inputs(out: &mut String, sources: &[SourceStats], store: Option<String>) {
    match store {
        Some(store) => out.push_str(&format!("read span store {store}\n")),
        None => {
            let t = SourceStats::total(sources);
            out.push_str(&format!(
                "read {} input{} ({}), spans: {} read, {} used, {} skipped\n",
                thousands(sources.len() as u64),
                if sources.len() == 1 { "" } else { "s" },
                human_bytes(t.bytes_read),
                thousands(t.spans_read),
                thousands(t.spans_written),
                thousands(t.spans_skipped_total())
            ));
            push_skips(out, &t);
            push_warnings(out, sources);
        }
    }
}

/// What the derivation produced, dropped and spilled.
fn push_signals(out: &mut String, s: &SignalStats, spill: &SpillStats) {
    let count = |derived: bool, n: u64, kind: &str| match derived {
        true => format!("{} {kind}", thousands(n)),
        false => format!("no {kind} (not asked for)"),
    };
    out.push_str(&format!(
        "signals: {} span{} in {} trace{} gave {} and {} records ({} pre-annotated), {} dropped\n",
        thousands(s.spans),
        if s.spans == 1 { "" } else { "s" },
        thousands(s.traces),
        if s.traces == 1 { "" } else { "s" },
        count(s.records.service, s.service_records, "service"),
        count(s.records.dependency, s.dependency_records, "dependency"),
        thousands(s.preannotated_spans),
        thousands(s.dropped.values().sum()),
    ));
    if !s.dropped.is_empty() {
        out.push_str(&format!("  records dropped: {}\n", reasons(&s.dropped)));
    }
    push_sampling(out, s);
    if spill.rows > 0 {
        out.push_str(&format!(
            "spilled: {} span rows ({}) to disk, derived in {} trace-id partitions\n",
            thousands(spill.rows),
            human_bytes(spill.bytes),
            thousands(spill.partitions),
        ));
    }
}

fn push_sampling(out: &mut String, s: &SignalStats) {
    if let Some(text) = sampling_text(s) {
        out.push_str(&format!("sampling: {text}\n"));
    }
}

/// How sampled spans counted, when there were any: the share of spans that were
/// probability-sampled, by source, and whether their records' counts were adjusted.
pub(crate) fn sampling_text(s: &SignalStats) -> Option<String> {
    let sampled: u64 = s.sampled_spans.values().sum();
    if sampled == 0 {
        return None;
    }
    let share = 100.0 * sampled as f64 / s.spans.max(1) as f64;
    let records = s.service_records + s.dependency_records;
    let how = match s.sampling {
        Sampling::Adjust => {
            format!("adjusted: the {} records stand for {} requests", thousands(records), thousands(s.adjusted_records))
        }
        Sampling::Ignore => "not adjusted (--sampling ignore): each record counts once".to_string(),
    };
    Some(format!(
        "{} of {} spans ({share:.1} %) were probability-sampled ({}), {how}",
        thousands(sampled),
        thousands(s.spans),
        reasons(&s.sampled_spans),
    ))
}

/// Where the signals came from and what their derivation did.
fn push_signals_input(out: &mut String, input: &SignalsInput) {
    match (&input.signals_file, &input.derived) {
        (Some(file), _) => out.push_str(&format!("read signals {}\n", input.shown(file))),
        (None, Some(d)) => {
            push_s3(out, &input.s3, &input.sources);
            push_inputs(out, &input.sources, input.store.as_deref().map(|s| input.shown(s)));
            push_signals(out, &d.stats, &d.spill);
        }
        (None, None) => {}
    }
}

fn push_slos(out: &mut String, r: &SloReport) {
    let statuses: Vec<String> = r.statuses.iter().map(|(s, n)| format!("{n} {s}")).collect();
    out.push_str(&format!(
        "slos: {} evaluated at {}: {}\n",
        thousands(r.statuses.values().sum::<usize>() as u64),
        utc_text(r.at),
        statuses.join(", ")
    ));
}

/// `name rows` of each table.
fn table_rows<'a>(tables: impl Iterator<Item = &'a Table>) -> Vec<String> {
    tables.map(|t| format!("{} {}", t.name, thousands(t.rows() as u64))).collect()
}

/// `wrote DIR (a 1, b 2 rows; <copied>) in S s`: the tables written with their rows, and a file
/// copied as it is, if any; without a directory, `computed (a 1, b 2 rows) in S s, nothing
/// written (no --out)`.
fn push_wrote(
    out: &mut String,
    dir: Option<&std::path::Path>,
    tables: &[String],
    copied: Option<String>,
    seconds: f64,
) {
    let rows = (!tables.is_empty()).then(|| format!("{} rows", tables.join(", ")));
    match dir {
        Some(dir) => {
            let parts: Vec<String> = rows.into_iter().chain(copied).collect();
            out.push_str(&format!("wrote {} ({}) in {seconds:.2} s\n", dir.display(), parts.join("; ")));
        }
        None => out.push_str(&format!(
            "computed ({}) in {seconds:.2} s, nothing written (no --out)\n",
            rows.unwrap_or_default()
        )),
    }
}

/// The human summary of an SLO run.
pub fn slo_summary(outcome: &SloOutcome) -> String {
    let mut out = String::new();
    push_signals_input(&mut out, &outcome.input);
    push_slos(&mut out, &outcome.report);
    push_wrote(
        &mut out,
        outcome.out.as_deref(),
        &table_rows(outcome.report.tables.iter()),
        None,
        outcome.phases.total(),
    );
    push_upload(&mut out, outcome.upload.as_ref());
    out
}

/// The human summary of a report run.
pub fn report_summary(outcome: &ReportOutcome) -> String {
    let mut out = String::new();
    push_signals_input(&mut out, &outcome.input);
    out.push_str(&format!("window: {} to {}\n", utc_text(outcome.window.0), utc_text(outcome.window.1)));
    if let Some(slos) = &outcome.slos {
        push_slos(&mut out, slos);
    }
    let slo_tables = outcome.slos.iter().flat_map(|r| r.tables.iter());
    let tables = table_rows(outcome.tables.iter().chain(slo_tables));
    push_wrote(&mut out, Some(&outcome.out), &tables, None, outcome.phases.total());
    push_upload(&mut out, outcome.upload.as_ref());
    out
}

/// `s3: uploaded N objects (B), the manifest last; deleted K keys of the replaced output`, when
/// the output went to S3.
fn push_upload(out: &mut String, upload: Option<&UploadStats>) {
    let Some(u) = upload else { return };
    out.push_str(&format!(
        "s3: uploaded {} object{} ({}), {} last",
        thousands(u.objects),
        if u.objects == 1 { "" } else { "s" },
        human_bytes(u.bytes),
        MANIFEST
    ));
    if u.deleted > 0 {
        out.push_str(&format!(
            "; deleted {} key{} of the replaced output",
            thousands(u.deleted),
            if u.deleted == 1 { "" } else { "s" }
        ));
    }
    out.push('\n');
}

/// Whether a run lost data the user should hear about even with `--quiet`.
fn lost(input: &SignalsInput) -> bool {
    let t = SourceStats::total(&input.sources);
    let dropped = input.derived.as_ref().is_some_and(|d| !d.stats.dropped.is_empty());
    t.spans_skipped_total() > 0 || !t.records_skipped.is_empty() || dropped
}

/// The human summary of a graph run.
pub fn graph_summary(outcome: &GraphOutcome) -> String {
    let mut out = String::new();
    push_s3(&mut out, &outcome.s3, &outcome.sources);
    push_inputs(&mut out, &outcome.sources, outcome.store.as_ref().map(|p| p.display().to_string()));
    let written = table_rows(outcome.tables.iter());
    push_wrote(&mut out, outcome.out.as_deref(), &written, None, outcome.phases.total());
    out
}

/// Print the graph summary, unless `quiet` and nothing was skipped.
pub fn print_graph(outcome: &GraphOutcome, quiet: bool) {
    let t = SourceStats::total(&outcome.sources);
    if !quiet || t.spans_skipped_total() > 0 || !t.records_skipped.is_empty() {
        eprint!("{}", graph_summary(outcome));
    }
}

/// Print the metrics summary, unless `quiet` and nothing was skipped or dropped.
pub fn print_metrics(outcome: &MetricsOutcome, quiet: bool) {
    if !quiet || lost(&outcome.input) {
        eprint!("{}", metrics_summary(outcome));
    }
}

/// Print the SLO summary, unless `quiet` and nothing was skipped or dropped.
pub fn print_slo(outcome: &SloOutcome, quiet: bool) {
    if !quiet || lost(&outcome.input) {
        eprint!("{}", slo_summary(outcome));
    }
}

/// Print the report summary, unless `quiet` and nothing was skipped or dropped.
pub fn print_report(outcome: &ReportOutcome, quiet: bool) {
    if !quiet || lost(&outcome.input) {
        eprint!("{}", report_summary(outcome));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::SourceStats;
    use crate::store::StoreStats;

    #[test]
    fn summary_counts_and_caps_warnings() {
        let sources: Vec<SourceStats> = (0..3)
            .map(|i| {
                let mut s = SourceStats::new(&format!("in{i}.json"));
                s.spans_read = 10;
                s.spans_written = 5;
                for _ in 0..5 {
                    s.skip_span("negative_duration", || format!("bad span in in{i}.json"));
                }
                s
            })
            .collect();
        let outcome = IngestOutcome {
            sources,
            s3: Default::default(),
            store: StoreStats::default(),
            out: "out".into(),
            upload: None,
            seconds: 1.0,
        };
        let text = ingest_summary(&outcome);
        assert!(text.contains("spans: 30 read, 15 written, 15 skipped"), "{text}");
        assert!(text.contains("spans skipped: negative_duration 15"), "{text}");
        assert_eq!(text.matches("  warning: ").count(), MAX_WARNINGS);
        assert!(text.contains("... 5 more warnings in run_info"), "{text}");
    }
}
