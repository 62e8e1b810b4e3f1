//! `spanlens gen`: a deterministic generator of realistic OTLP trace exports (the pet-clinic
//! workload of [`petclinic`]) in every format `ingest` reads, laid out as the fileexporter or
//! the awss3exporter writes them.
//!
//! Documents are generated and encoded in parallel, each from its own seed derived from
//! `--seed` and its index, so the output is byte-identical whatever the thread count.

pub mod petclinic;

use std::io::Write;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::model::encode::{encode_json, encode_proto, frame};
use crate::output::OutputDir;
use crate::s3::{self, S3Location};
use crate::util::SplitMix;
use petclinic::{Incidents, Moment};

/// How documents are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One OTLP/JSON document per file.
    Json,
    /// OTLP/JSON Lines: one document per line (the fileexporter's JSON output).
    Jsonl,
    /// One binary OTLP message per file.
    Proto,
    /// Length-prefixed binary messages (the fileexporter's proto output).
    ProtoStream,
}

/// Whole-file compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compress {
    None,
    Gzip,
    Zstd,
}

/// Where files go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// `traces-NNNNNN.<ext>` in the output directory.
    Files,
    /// The awss3exporter's keys: `year=YYYY/month=MM/day=DD/hour=HH/minute=MM/traces_<id>_<n>.<ext>`,
    /// one document per object.
    S3Exporter,
}

/// How much to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    /// About this many spans (whole traces: the count is reached, not cut).
    Spans(u64),
    Traces(u64),
}

/// Everything `gen` needs.
#[derive(Debug, Clone)]
pub struct GenPlan {
    pub seed: u64,
    pub size: Size,
    /// Trace start times fall in `[from_ns, to_ns)`.
    pub from_ns: u64,
    pub to_ns: u64,
    pub format: Format,
    pub compress: Compress,
    pub layout: Layout,
    pub out: PathBuf,
    pub force: bool,
    pub traces_per_document: usize,
    /// Documents per file for `jsonl` and `proto-stream` in the `files` layout.
    pub documents_per_file: usize,
    pub incidents: Incidents,
    /// Consistent probability sampling of whole traces (`--sample`).
    pub sample: Option<Sampling>,
}

/// OpenTelemetry's consistent probability sampling (tracestate `ot=th:…`): a trace is kept when
/// the last 56 bits of its id (its randomness R) are at least the rejection threshold T, that is
/// with probability (2^56 − T) / 2^56.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sampling {
    threshold: u64,
}

impl Sampling {
    const MAX: u64 = 1 << 56;

    /// The threshold for `probability`, with the 4 hex digits of precision the specification
    /// recommends SDKs encode (so 0.1 is `th:e666`, probability 0.100006…).
    pub fn with_probability(probability: f64) -> std::result::Result<Sampling, String> {
        let smallest = 1.0 / 65536.0;
        if !(smallest..=1.0).contains(&probability) {
            return Err(format!(
                "--sample {probability}: a probability from {smallest} (4 hex digits of threshold) to 1"
            ));
        }
        let rejected = ((1.0 - probability) * 65536.0).round() as u64;
        Ok(Sampling { threshold: rejected.min(0xffff) << 40 })
    }

    /// The `th` value: the threshold in 14 hex digits, trailing zeros dropped (`0` for 100 %).
    pub fn th(&self) -> String {
        let digits = format!("{:014x}", self.threshold);
        let trimmed = digits.trim_end_matches('0');
        if trimmed.is_empty() { "0".into() } else { trimmed.into() }
    }

    /// The probability of keeping a trace.
    pub fn probability(&self) -> f64 {
        (Self::MAX - self.threshold) as f64 / Self::MAX as f64
    }

    /// Whether the trace with this id is kept.
    pub fn keeps(&self, trace_id: &[u8; 16]) -> bool {
        let mut low = [0u8; 8];
        low[1..].copy_from_slice(&trace_id[9..]);
        u64::from_be_bytes(low) >= self.threshold
    }
}

/// What a run wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GenStats {
    pub traces: u64,
    pub spans: u64,
    pub documents: u64,
    pub files: u64,
    pub bytes: u64,
    /// Traces left out by `--sample`.
    pub traces_dropped: u64,
}

/// A generated file: its relative path and bytes.
pub type GeneratedFile = (PathBuf, Vec<u8>);

/// A file ready to write: relative path, bytes, spans, traces left out by sampling, and documents.
type BuiltFile = (PathBuf, Vec<u8>, u64, u64, u64);

/// A file to write: its documents, as ranges of trace indices.
struct FileJob {
    index: usize,
    documents: Vec<std::ops::Range<usize>>,
}

fn extension(format: Format, compress: Compress) -> String {
    let base = match format {
        Format::Json => "json",
        Format::Jsonl => "jsonl",
        Format::Proto => "binpb",
        Format::ProtoStream => "pb",
    };
    match compress {
        Compress::None => base.to_string(),
        Compress::Gzip => format!("{base}.gz"),
        Compress::Zstd => format!("{base}.zst"),
    }
}

fn compress_bytes(bytes: Vec<u8>, compress: Compress) -> std::io::Result<Vec<u8>> {
    match compress {
        Compress::None => Ok(bytes),
        Compress::Gzip => {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            enc.write_all(&bytes)?;
            enc.finish()
        }
        Compress::Zstd => zstd::encode_all(bytes.as_slice(), 3),
    }
}

/// The seed of document `index`.
fn document_seed(seed: u64, index: usize) -> u64 {
    SplitMix::new(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ index as u64).next_u64()
}

/// The number of traces for the requested size: for a span count, estimated from a pilot
/// document of the same workload.
fn trace_count(plan: &GenPlan) -> u64 {
    match plan.size {
        Size::Traces(n) => n,
        Size::Spans(n) => {
            let pilot: Vec<Moment> = (0..500).map(|i| Moment { start_ns: plan.from_ns + i, phase: 0.0 }).collect();
            let doc = petclinic::document(document_seed(plan.seed, usize::MAX), &pilot, plan.incidents);
            let per_trace = petclinic::spans_in(&doc) as f64 / pilot.len() as f64;
            ((n as f64 / per_trace).ceil() as u64).max(1)
        }
    }
}

/// The relative path of a file.
fn file_path(plan: &GenPlan, job: &FileJob, first_start_ns: u64) -> PathBuf {
    let ext = extension(plan.format, plan.compress);
    match plan.layout {
        Layout::Files => PathBuf::from(format!("traces-{:06}.{ext}", job.index)),
        Layout::S3Exporter => {
            let t = chrono::DateTime::from_timestamp_nanos(first_start_ns as i64);
            let id = document_seed(plan.seed ^ 0x53, job.index) % 1_000_000_000;
            PathBuf::from(format!(
                "{}/traces_{id:09}_{:06}.{ext}",
                t.format("year=%Y/month=%m/day=%d/hour=%H/minute=%M"),
                job.index
            ))
        }
    }
}

/// Generate the plan's traces and write them.
pub fn generate(plan: &GenPlan) -> Result<GenStats> {
    if plan.from_ns >= plan.to_ns {
        return Err(Error::Config("--from must be before --to".into()));
    }
    let out = Target::open(&plan.out, plan.force)?;
    let stats = build_files(plan, |files| out.write(files))?;
    out.commit()?;
    Ok(stats)
}

/// Generate the plan's traces as the files it would write, kept in memory with their relative
/// paths, in order (`plan.out` and `plan.force` are not used).
pub fn generate_in_memory(plan: &GenPlan) -> Result<(Vec<GeneratedFile>, GenStats)> {
    let mut all = Vec::new();
    let stats = build_files(plan, |files| {
        all.extend(files);
        Ok(())
    })?;
    Ok((all, stats))
}

/// Generate the plan's files, a few per thread at a time, and hand each window of them, in
/// order, to `sink`.
fn build_files(plan: &GenPlan, mut sink: impl FnMut(Vec<GeneratedFile>) -> Result<()>) -> Result<GenStats> {
    if plan.from_ns >= plan.to_ns {
        return Err(Error::Config("--from must be before --to".into()));
    }
    let traces = trace_count(plan);
    let starts = petclinic::start_times(plan.seed, traces, plan.from_ns, plan.to_ns);
    let range = (plan.to_ns - plan.from_ns) as f64;
    let per_doc = plan.traces_per_document.max(1);
    let documents: Vec<std::ops::Range<usize>> =
        (0..starts.len()).step_by(per_doc).map(|s| s..(s + per_doc).min(starts.len())).collect();
    let per_file = match (plan.layout, plan.format) {
        (Layout::Files, Format::Jsonl | Format::ProtoStream) => plan.documents_per_file.max(1),
        _ => 1,
    };
    let jobs: Vec<FileJob> = documents
        .chunks(per_file)
        .enumerate()
        .map(|(index, docs)| FileJob { index, documents: docs.to_vec() })
        .collect();

    let mut stats = GenStats { traces, ..Default::default() };
    let window = rayon::current_num_threads().max(1) * 2;
    let mut doc_index = 0usize;
    for batch in jobs.chunks(window) {
        let first_doc = doc_index;
        let built: Vec<Result<BuiltFile>> = batch
            .par_iter()
            .enumerate()
            .map(|(k, job)| {
                let docs_before: usize = batch[..k].iter().map(|j| j.documents.len()).sum();
                let mut payloads = Vec::with_capacity(job.documents.len());
                let (mut spans, mut dropped) = (0, 0);
                for (d, traces) in job.documents.iter().enumerate() {
                    let moments: Vec<Moment> = starts[traces.clone()]
                        .iter()
                        .map(|&t| Moment { start_ns: t, phase: (t - plan.from_ns) as f64 / range })
                        .collect();
                    let seed = document_seed(plan.seed, first_doc + docs_before + d);
                    let mut doc = petclinic::document(seed, &moments, plan.incidents);
                    if let Some(sampling) = plan.sample {
                        dropped += petclinic::sample(&mut doc, &sampling);
                    }
                    spans += petclinic::spans_in(&doc);
                    payloads.push(match plan.format {
                        Format::Json | Format::Jsonl => encode_json(&doc).into_bytes(),
                        Format::Proto | Format::ProtoStream => encode_proto(&doc),
                    });
                }
                let bytes = match plan.format {
                    Format::Jsonl => {
                        let mut lines = Vec::with_capacity(payloads.iter().map(|p| p.len() + 1).sum());
                        for p in &payloads {
                            lines.extend_from_slice(p);
                            lines.push(b'\n');
                        }
                        lines
                    }
                    Format::ProtoStream => frame(&payloads),
                    Format::Json | Format::Proto => payloads.concat(),
                };
                let first_start = job.documents.first().map_or(plan.from_ns, |r| starts[r.start]);
                let path = file_path(plan, job, first_start);
                let bytes = compress_bytes(bytes, plan.compress).map_err(|e| Error::output(&path, e))?;
                Ok((path, bytes, spans, dropped, job.documents.len() as u64))
            })
            .collect();
        let mut files = Vec::with_capacity(built.len());
        for result in built {
            let (path, bytes, spans, dropped, docs) = result?;
            stats.spans += spans;
            stats.traces -= dropped;
            stats.traces_dropped += dropped;
            stats.documents += docs;
            stats.files += 1;
            stats.bytes += bytes.len() as u64;
            files.push((path, bytes));
        }
        sink(files)?;
        doc_index += batch.iter().map(|j| j.documents.len()).sum::<usize>();
    }
    Ok(stats)
}

/// Where generated files go: a directory (built aside, swapped in at the end), or an S3
/// prefix (objects written as they are made, several at a time).
enum Target {
    Dir(OutputDir),
    S3 { runtime: tokio::runtime::Runtime, client: aws_sdk_s3::Client, at: S3Location },
}

impl Target {
    /// Open `out`; an existing non-empty directory or S3 prefix needs `force`.
    fn open(out: &Path, force: bool) -> Result<Self> {
        let Some(at) = S3Location::parse(&out.to_string_lossy()) else {
            return Ok(Target::Dir(OutputDir::create(out, force)?));
        };
        let at = at?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::Config(format!("cannot start the S3 client runtime: {e}")))?;
        let client = runtime.block_on(s3::client());
        if !force && runtime.block_on(s3::has_objects(&client, &at))? {
            return Err(Error::Config(format!(
                "{at} already holds objects; pass --force to write over keys of the same name"
            )));
        }
        Ok(Target::S3 { runtime, client, at })
    }

    /// Write files given by relative path.
    fn write(&self, files: Vec<(PathBuf, Vec<u8>)>) -> Result<()> {
        match self {
            Target::Dir(out) => {
                for (relative, bytes) in files {
                    let path = out.path().join(relative);
                    if let Some(dir) = path.parent() {
                        std::fs::create_dir_all(dir).map_err(|e| Error::output(dir, e))?;
                    }
                    std::fs::write(&path, bytes).map_err(|e| Error::output(&path, e))?;
                }
                Ok(())
            }
            Target::S3 { runtime, client, at } => {
                let puts = files.into_iter().map(|(relative, bytes)| {
                    let key = relative.to_string_lossy().replace(std::path::MAIN_SEPARATOR, "/");
                    async move { s3::put(client, at, &key, bytes).await }
                });
                runtime.block_on(futures::future::try_join_all(puts)).map(|_| ())
            }
        }
    }

    fn commit(self) -> Result<()> {
        match self {
            Target::Dir(out) => out.commit(),
            Target::S3 { .. } => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The thresholds of the specification's examples (OpenTelemetry TraceState handling), with
    /// 4 hex digits of precision, and the decision R >= T on a trace id's last 56 bits.
    #[test]
    fn sampling_thresholds_follow_the_specification() {
        let cases = [
            (1.0, "0", 1.0),
            (0.5, "8", 0.5),
            (0.25, "c", 0.25),
            (0.125, "e", 0.125),
            (0.1, "e666", 0.100006103515625),
        ];
        for (ratio, th, probability) in cases {
            let s = Sampling::with_probability(ratio).unwrap();
            assert_eq!((s.th(), s.probability()), (th.to_string(), probability), "{ratio}");
        }
        let quarter = Sampling::with_probability(0.25).unwrap();
        let id = |low: u64| {
            let mut id = [0xffu8; 16];
            id[8..].copy_from_slice(&low.to_be_bytes());
            id
        };
        // The first byte of the lower half is not part of R.
        assert!(quarter.keeps(&id(0xffc0_0000_0000_0000)));
        assert!(quarter.keeps(&id(0x00c0_0000_0000_0000)));
        assert!(!quarter.keeps(&id(0xffbf_ffff_ffff_ffff)));
        for bad in [0.0, 1.0 / 70_000.0, 1.5, f64::NAN] {
            assert!(Sampling::with_probability(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn extensions() {
        assert_eq!(extension(Format::Json, Compress::Gzip), "json.gz");
        assert_eq!(extension(Format::ProtoStream, Compress::Zstd), "pb.zst");
        assert_eq!(extension(Format::Jsonl, Compress::None), "jsonl");
    }
}
