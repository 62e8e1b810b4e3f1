//! The human summary printed to stderr after a run: what was read, written and skipped, with
//! reasons. Data never goes to stderr and this never goes to stdout.

use crate::app::IngestOutcome;
use crate::ingest::SourceStats;
use crate::util::{human_bytes, thousands};

/// Skip messages shown on stderr; the rest (up to 5 per input) are in run_info.
const MAX_WARNINGS: usize = 10;

fn reasons(map: &std::collections::BTreeMap<&'static str, u64>) -> String {
    map.iter().map(|(k, v)| format!("{k} {}", thousands(*v))).collect::<Vec<_>>().join(", ")
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
    if !t.spans_skipped.is_empty() {
        out.push_str(&format!("  spans skipped: {}\n", reasons(&t.spans_skipped)));
    }
    if !t.records_skipped.is_empty() {
        out.push_str(&format!("  records skipped: {}\n", reasons(&t.records_skipped)));
    }
    if t.values_truncated > 0 {
        out.push_str(&format!("  values truncated to --max-value-bytes: {}\n", thousands(t.values_truncated)));
    }
    let messages: Vec<&String> = outcome.sources.iter().flat_map(|s| &s.messages).collect();
    for m in messages.iter().take(MAX_WARNINGS) {
        out.push_str(&format!("  warning: {m}\n"));
    }
    if messages.len() > MAX_WARNINGS {
        out.push_str(&format!(
            "  ... {} more warnings in run_info (key = 'message')\n",
            thousands((messages.len() - MAX_WARNINGS) as u64)
        ));
    }
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
        let outcome = IngestOutcome { sources, store: StoreStats::default(), out: "out".into(), seconds: 1.0 };
        let text = ingest_summary(&outcome);
        assert!(text.contains("spans: 30 read, 15 written, 15 skipped"), "{text}");
        assert!(text.contains("spans skipped: negative_duration 15"), "{text}");
        assert_eq!(text.matches("  warning: ").count(), MAX_WARNINGS);
        assert!(text.contains("... 5 more warnings in run_info"), "{text}");
    }
}
