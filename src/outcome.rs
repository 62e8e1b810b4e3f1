//! What each command did, as the output stage renders it (the stderr summary, `run_info`, the
//! HTML report): below both the commands that fill these and the reporting that reads them.

use std::path::{Path, PathBuf};

use crate::ingest::SourceStats;
use crate::metrics::Derived;
use crate::model::table::Table;
use crate::s3::list::ListStats;
use crate::s3::write::UploadStats;
use crate::signals::RecordKinds;
use crate::slo::SloReport;
use crate::store::StoreStats;
use crate::util::Phases;

/// What an ingest run did.
#[derive(Debug)]
pub struct IngestOutcome {
    pub sources: Vec<SourceStats>,
    /// What listing the `s3://` inputs found.
    pub s3: ListStats,
    pub store: StoreStats,
    pub out: PathBuf,
    /// What uploading the output did, when it went to S3.
    pub upload: Option<UploadStats>,
    pub seconds: f64,
}

/// What a graph run did.
#[derive(Debug)]
pub struct GraphOutcome {
    /// Decoded inputs (empty when the input was a span store).
    pub sources: Vec<SourceStats>,
    /// What listing the `s3://` inputs found.
    pub s3: ListStats,
    /// The span store read, if the input was one.
    pub store: Option<PathBuf>,
    /// `service_graph` and `service_graph_nodes`.
    pub tables: Vec<Table>,
    /// The output directory written; `None` when nothing was written (no `--out`).
    pub out: Option<PathBuf>,
    /// Wall time per phase (`--timings`); their sum is the run's.
    pub phases: Phases,
}

/// What a metrics run did.
#[derive(Debug)]
pub struct MetricsOutcome {
    /// Where the signals came from: derived from decoded inputs or a span store, or the
    /// signals file of an earlier `metrics` output.
    pub input: SignalsInput,
    /// The plan's metric tables, in order.
    pub tables: Vec<Table>,
    /// The services page, when the service table was computed.
    pub services_page: Option<Table>,
    /// `signals.parquet` was written (derived, or copied from the input).
    pub signals_written: bool,
    /// Why the graph tables the run would write were not computed, if they were not.
    pub graph_note: Option<&'static str>,
    /// The output directory written; `None` when nothing was written (no `--out`).
    pub out: Option<PathBuf>,
    /// What uploading the output did, when it went to S3.
    pub upload: Option<UploadStats>,
    /// Wall time per phase (`--timings`); their sum is the run's.
    pub phases: Phases,
}

/// Where a run's `signals` table came from.
#[derive(Debug, Default)]
pub struct SignalsInput {
    /// Decoded inputs (empty when the input was a span store or a metrics output).
    pub sources: Vec<SourceStats>,
    /// What listing the `s3://` inputs found.
    pub s3: ListStats,
    /// The span store read, if the input was one.
    pub store: Option<PathBuf>,
    /// The signals file of a `metrics` output, if the input was one.
    pub signals_file: Option<PathBuf>,
    /// The kinds of records the signals hold: those derived, or those the file holds.
    pub records: RecordKinds,
    /// The derivation, when signals were derived from spans.
    pub derived: Option<Derived>,
    /// The `s3://` output the store or signals file was downloaded from, if it was.
    pub origin: Option<Origin>,
}

impl SignalsInput {
    /// `path` as the user knows it: under the `s3://` output it was downloaded from, if it was.
    pub fn shown(&self, path: &Path) -> String {
        match &self.origin {
            Some(origin) => origin.shown(path),
            None => path.display().to_string(),
        }
    }
}

/// A local copy of an output on S3: the directory it was downloaded into and its URL.
#[derive(Debug, Clone)]
pub struct Origin {
    pub local: PathBuf,
    /// `s3://bucket/prefix/`.
    pub url: String,
}

impl Origin {
    /// `path` under the URL when it is under the local copy, else as it is.
    pub fn shown(&self, path: &Path) -> String {
        match path.strip_prefix(&self.local) {
            Ok(relative) => {
                let parts: Vec<String> =
                    relative.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
                format!("{}{}", self.url, parts.join("/"))
            }
            Err(_) => path.display().to_string(),
        }
    }
}

/// What an SLO run did.
#[derive(Debug)]
pub struct SloOutcome {
    pub input: SignalsInput,
    pub report: SloReport,
    /// The output directory written; `None` when nothing was written (no `--out`).
    pub out: Option<PathBuf>,
    /// What uploading the output did, when it went to S3.
    pub upload: Option<UploadStats>,
    /// Wall time per phase (`--timings`); their sum is the run's.
    pub phases: Phases,
}

/// What a report run did.
#[derive(Debug)]
pub struct ReportOutcome {
    pub input: SignalsInput,
    /// The window `[from, to)`, ns.
    pub window: (i64, i64),
    /// With `--compare-previous`: the figures of the window before.
    pub previous: Option<PreviousWindow>,
    /// [`crate::metrics::METRIC_TABLES`], in order.
    pub tables: Vec<Table>,
    pub services_page: Table,
    /// The SLOs evaluated at the window's end, if any were given.
    pub slos: Option<SloReport>,
    pub out: PathBuf,
    /// What uploading the output did, when it went to S3.
    pub upload: Option<UploadStats>,
    /// Wall time per phase (`--timings`); their sum is the run's.
    pub phases: Phases,
}

/// The window before a report's (as long, ending where it starts): its Services table and its
/// SLOs evaluated at its end, for `report --compare-previous`.
#[derive(Debug, Clone)]
pub struct PreviousWindow {
    /// `[from, to)`, ns.
    pub window: (i64, i64),
    pub services_page: Table,
    pub slos: Option<SloReport>,
}
