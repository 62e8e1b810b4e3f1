//! The only place that knows the order of the stages. It runs a parsed command line and gathers
//! what each stage reports into `run_info` and the stderr summary.

use std::io::{IsTerminal, Write};
use std::sync::mpsc;
use std::time::Instant;

use arrow::array::RecordBatch;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rayon::prelude::*;

use crate::cli::{Cli, Command, QueriesCommand};
use crate::config::{IngestPlan, MetricsPlan, ReportPlan, SloPlan};
use crate::error::{EXIT_BREACHED, Error, Result};
use crate::ingest::coalesce::coalesce_batches;
use crate::ingest::decode::{decode_bytes_into, span_builder};
use crate::ingest::files::{self, Input};
use crate::ingest::{DecodeOptions, Decoded, SourceStats, decode_stream};
use crate::metrics::{self, Derived, render_services_page};
use crate::model::builder::SpanBatchBuilder;
use crate::model::schema::schema_markdown;
use crate::queries::QUERIES;
use crate::report::parquet::{OUTPUT_ZSTD_LEVEL, OutputDir, with_key_values, write_parquet, writer_properties};
use crate::report::run_info::{ingest_run_info, metrics_run_info, run_info_schema, slo_run_info};
use crate::report::summary;
use crate::signals;
use crate::slo::{self, SloReport};
use crate::spill::SpanSpool;
use crate::store::{RUN_INFO_FILE, SpanStoreWriter, StoreStats};
use crate::util::Phases;

/// With `--timings`, the wall time of each phase on stderr (even with `--quiet`: it was asked for).
fn print_timings(timings: bool, phases: &Phases) {
    if timings {
        eprint!("{}", phases.text());
    }
}

/// Run a parsed command line; the exit code of a successful run (0, or 1 when an SLO is
/// breached).
pub fn run(cli: Cli, command_line: String) -> Result<u8> {
    if let Some(n) = cli.threads {
        if n == 0 {
            return Err(Error::Config("--threads must be at least 1".into()));
        }
        // Only the first call can configure the global pool; later calls (tests) keep it.
        let _ = rayon::ThreadPoolBuilder::new().num_threads(n).build_global();
    }
    match cli.command {
        Command::Ingest(args) => {
            let plan = IngestPlan::from_args(&args, command_line)?;
            let outcome = ingest(&plan)?;
            summary::print_ingest(&outcome, plan.quiet);
            Ok(0)
        }
        Command::Metrics(args) => {
            let plan = MetricsPlan::from_args(&args, command_line)?;
            let outcome = run_metrics(&plan)?;
            if let Some(page) = &outcome.services_page {
                write_stdout(render_services_page(page)?.as_bytes())?;
            }
            summary::print_metrics(&outcome, plan.quiet);
            print_timings(cli.timings, &outcome.phases);
            Ok(0)
        }
        Command::Slo(args) => {
            let plan = SloPlan::from_args(&args, command_line)?;
            let outcome = run_slo(&plan)?;
            write_stdout(slo::render_slos(&outcome.report)?.as_bytes())?;
            summary::print_slo(&outcome, plan.quiet);
            print_timings(cli.timings, &outcome.phases);
            Ok(if outcome.report.breached() > 0 { EXIT_BREACHED } else { 0 })
        }
        Command::Report(args) => {
            let plan = ReportPlan::from_args(&args, command_line)?;
            let outcome = run_report(&plan)?;
            let mut text = render_services_page(&outcome.services_page)?;
            if let Some(slos) = &outcome.slos {
                text.push('\n');
                text.push_str(&slo::render_slos(slos)?);
            }
            write_stdout(text.as_bytes())?;
            summary::print_report(&outcome, plan.quiet);
            print_timings(cli.timings, &outcome.phases);
            Ok(0)
        }
        Command::Gen(args) => {
            let plan = crate::config::gen_plan(&args)?;
            let started = Instant::now();
            let stats = crate::workload::generate(&plan)?;
            if !args.quiet {
                eprint!("{}", summary::gen_summary(&stats, &plan.out, started.elapsed().as_secs_f64()));
            }
            Ok(0)
        }
        Command::Queries(QueriesCommand::List) => {
            let width = QUERIES.iter().map(|q| q.name.len()).max().unwrap_or(0);
            let text: String = QUERIES.iter().map(|q| format!("{:width$}  {}\n", q.name, q.summary())).collect();
            write_stdout(text.as_bytes()).map(|()| 0)
        }
        Command::Queries(QueriesCommand::Show { name }) => {
            write_stdout(crate::queries::get(&name)?.sql.as_bytes()).map(|()| 0)
        }
        Command::Schema => write_stdout(schema_markdown().as_bytes()).map(|()| 0),
    }
}

/// Write data to stdout; a closed pipe (`spanlens schema | head`) is not an error.
fn write_stdout(bytes: &[u8]) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(Error::output("<stdout>", e)),
        _ => Ok(()),
    }
}

/// What an ingest run did.
#[derive(Debug)]
pub struct IngestOutcome {
    pub sources: Vec<SourceStats>,
    pub store: StoreStats,
    pub out: std::path::PathBuf,
    pub seconds: f64,
}

fn progress_bar(total: u64, quiet: bool) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    let style =
        ProgressStyle::with_template("{elapsed_precise} [{wide_bar}] {bytes}/{total_bytes} {bytes_per_sec} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
    bar.set_style(style);
    bar
}

/// The stats of an input skipped because it could not be read (`--keep-going`).
fn unreadable(input: &Input, e: &Error) -> SourceStats {
    let mut stats = SourceStats::new(&input.name());
    let msg = format!("{e}: {}", std::error::Error::source(e).map(|s| s.to_string()).unwrap_or_default());
    stats.skip_record("unreadable", || msg);
    stats
}

/// Read and decode one input into `carry`, the span builder its group shares, reading it into
/// `buf`.
fn read_and_decode(
    input: &Input,
    decode: &DecodeOptions,
    carry: &mut SpanBatchBuilder,
    buf: &mut Vec<u8>,
) -> Result<Decoded> {
    match input.read_into(buf) {
        Ok(()) => Ok(decode_bytes_into(&input.name(), buf, decode, carry)?),
        Err(e) if decode.keep_going => Ok(Decoded { batches: Vec::new(), stats: unreadable(input, &e) }),
        Err(e) => Err(e),
    }
}

/// The buffers whole inputs are read into, passed from input to input for one run: reading each
/// input into a fresh allocation of tens of MB cost a page fault per 4 KiB page, about 4% of the
/// CPU time of `metrics` on 1 M spans.
#[derive(Default)]
struct ReadBuffers(std::sync::Mutex<Vec<Vec<u8>>>);

impl ReadBuffers {
    fn take(&self) -> Vec<u8> {
        self.0.lock().ok().and_then(|mut free| free.pop()).unwrap_or_default()
    }

    fn give_back(&self, buf: Vec<u8>) {
        if let Ok(mut free) = self.0.lock() {
            free.push(buf);
        }
    }
}

/// Ingest the plan's inputs into its output directory.
pub fn ingest(plan: &IngestPlan) -> Result<IngestOutcome> {
    let started = Instant::now();
    let out = OutputDir::create(&plan.out, plan.force)?;
    let mut store = SpanStoreWriter::new(out.path(), plan.store.clone())?;
    let (store_stats, sources) = decode_into(&plan.inputs, &plan.decode, plan.quiet, move |rx| {
        for batches in rx {
            for batch in batches {
                store.write(batch)?;
            }
        }
        store.finish()
    })?;

    let run_info = ingest_run_info(&plan.command, &sources, Some(&store_stats))?;
    write_tables(out.path(), std::iter::empty(), run_info)?;
    let target = out.target().to_path_buf();
    out.commit()?;
    Ok(IngestOutcome { sources, store: store_stats, out: target, seconds: started.elapsed().as_secs_f64() })
}

/// Whole inputs decoded together in one parallel window: at least two per thread, and more
/// while they are small (up to these totals per thread), so that small objects fill batches.
const WINDOW_BYTES_PER_THREAD: u64 = 16 << 20;
const WINDOW_INPUTS_PER_THREAD: usize = 256;

/// Decode inputs in parallel windows, handing batches to the writer in input order. Large
/// inputs and stdin are streamed on their own, with parallelism inside the input.
fn decode_all(
    inputs: &[Input],
    decode: &DecodeOptions,
    bar: &ProgressBar,
    tx: &mpsc::SyncSender<Vec<RecordBatch>>,
) -> Result<Vec<SourceStats>> {
    let threads = rayon::current_num_threads().max(1);
    let full = |count: usize, bytes: u64| {
        count >= threads * WINDOW_INPUTS_PER_THREAD
            || (count >= 2 * threads && bytes >= threads as u64 * WINDOW_BYTES_PER_THREAD)
    };
    let mut sources = Vec::with_capacity(inputs.len());
    let buffers = ReadBuffers::default();
    let mut pending: Vec<(&Input, u64)> = Vec::new();
    let mut pending_bytes = 0u64;
    for input in inputs {
        let size = input.size_hint();
        let streamed = size.is_none_or(|size| size > decode.stream_threshold_bytes);
        if streamed || full(pending.len(), pending_bytes) {
            if !decode_window(&pending, decode, &buffers, bar, tx, &mut sources)? {
                return Ok(sources);
            }
            pending.clear();
            pending_bytes = 0;
        }
        if !streamed {
            pending.push((input, size.unwrap_or(0)));
            pending_bytes += size.unwrap_or(0);
            continue;
        }
        let mut writer_alive = true;
        let mut failed = None;
        let mut seen = 0u64;
        let mut emit = |batches: Vec<RecordBatch>, raw: u64| {
            bar.inc(raw.saturating_sub(seen));
            seen = raw;
            match coalesce_batches(batches, decode.batch_rows) {
                Ok(batches) => writer_alive = tx.send(batches).is_ok(),
                Err(e) => failed = Some(e),
            }
            writer_alive && failed.is_none()
        };
        let stats = match input.open() {
            Ok(reader) => decode_stream(&input.name(), reader, decode, &mut emit)?,
            Err(e) if decode.keep_going => unreadable(input, &e),
            Err(e) => return Err(e),
        };
        if let Some(e) = failed {
            return Err(e);
        }
        sources.push(stats);
        if !writer_alive {
            return Ok(sources);
        }
    }
    decode_window(&pending, decode, &buffers, bar, tx, &mut sources)?;
    Ok(sources)
}

/// Decode whole inputs (with their sizes) in parallel and send their batches in order, small
/// ones merged. Returns false when the writer has stopped (it reports its own error).
fn decode_window(
    inputs: &[(&Input, u64)],
    decode: &DecodeOptions,
    buffers: &ReadBuffers,
    bar: &ProgressBar,
    tx: &mpsc::SyncSender<Vec<RecordBatch>>,
    sources: &mut Vec<SourceStats>,
) -> Result<bool> {
    // Runs of consecutive inputs, a few per thread, each sharing one span builder: small inputs
    // fill batches together instead of each making (and finishing) its own.
    let groups = split_by_bytes(inputs, 2 * rayon::current_num_threads().max(1));
    let results: Vec<Result<(Vec<SourceStats>, Vec<RecordBatch>)>> = groups
        .par_iter()
        .map(|group| {
            let mut builder = span_builder(decode);
            let mut stats = Vec::with_capacity(group.len());
            let mut batches = Vec::new();
            let mut buf = buffers.take();
            for &(input, size) in *group {
                let decoded = read_and_decode(input, decode, &mut builder, &mut buf)?;
                bar.inc(size);
                stats.push(decoded.stats);
                batches.extend(decoded.batches);
            }
            buffers.give_back(buf);
            if !builder.is_empty() {
                batches.push(builder.finish());
            }
            Ok((stats, batches))
        })
        .collect();
    let mut batches = Vec::new();
    for result in results {
        let (stats, group_batches) = result?;
        sources.extend(stats);
        batches.extend(group_batches);
    }
    Ok(batches.is_empty() || tx.send(coalesce_batches(batches, decode.batch_rows)?).is_ok())
}

/// Cut `items` (with their sizes) into at most `parts` runs of consecutive items of about equal
/// total size; every run has at least one item.
fn split_by_bytes<T>(items: &[(T, u64)], parts: usize) -> Vec<&[(T, u64)]> {
    let total: u64 = items.iter().map(|(_, size)| size.max(&1)).sum();
    let target = total.div_ceil(parts.max(1) as u64);
    let mut runs = Vec::with_capacity(parts);
    let (mut start, mut bytes) = (0, 0u64);
    for (i, (_, size)) in items.iter().enumerate() {
        bytes += size.max(&1);
        if bytes >= target {
            runs.push(&items[start..=i]);
            (start, bytes) = (i + 1, 0);
        }
    }
    if start < items.len() {
        runs.push(&items[start..]);
    }
    runs
}

/// What a metrics run did.
#[derive(Debug)]
pub struct MetricsOutcome {
    /// Where the signals came from: derived from decoded inputs or a span store, or the
    /// signals file of an earlier `metrics` output.
    pub input: SignalsInput,
    /// The plan's metric tables, in order.
    pub tables: Vec<metrics::Table>,
    /// The services page, when the service table was computed.
    pub services_page: Option<metrics::Table>,
    /// `signals.parquet` was written (derived, or copied from the input).
    pub signals_written: bool,
    pub out: std::path::PathBuf,
    /// Wall time per phase (`--timings`); their sum is the run's.
    pub phases: Phases,
}

/// The span store directory among `inputs`: a single directory holding `spans/` and
/// `run_info.parquet`, as `ingest` writes it.
fn span_store(inputs: &[String]) -> Option<std::path::PathBuf> {
    let [only] = inputs else { return None };
    let dir = std::path::Path::new(only);
    (dir.join(crate::store::SPANS_DIR).is_dir() && dir.join(RUN_INFO_FILE).is_file()).then(|| dir.to_path_buf())
}

/// Decode `inputs` on this thread (in parallel windows) while `consume` takes their batches, in
/// input order, on another: the stages of `ingest` and `metrics` share this.
fn decode_into<T: Send>(
    inputs: &[String],
    decode: &DecodeOptions,
    quiet: bool,
    consume: impl FnOnce(mpsc::Receiver<Vec<RecordBatch>>) -> Result<T> + Send,
) -> Result<(T, Vec<SourceStats>)> {
    let inputs = files::expand(inputs)?;
    let total: u64 = inputs.iter().filter_map(Input::size_hint).sum();
    let bar = progress_bar(total, quiet);
    let (tx, rx) = mpsc::sync_channel::<Vec<RecordBatch>>(2);
    let result = std::thread::scope(|scope| -> Result<(T, Vec<SourceStats>)> {
        let consumer = scope.spawn(move || consume(rx));
        let decoded = decode_all(&inputs, decode, &bar, &tx);
        drop(tx);
        let consumed = consumer.join().map_err(|_| Error::Config("the batch consumer thread panicked".into()))?;
        // A decode error is the root cause when both fail (the consumer then saw a closed channel).
        let sources = decoded?;
        Ok((consumed?, sources))
    });
    bar.finish_and_clear();
    result
}

/// The spans a derivation reads, put in a spool: decoded from raw inputs (only the columns and
/// attribute keys the rules read), or read from a span store in the date partitions that can
/// hold records of the `[from, to)` window. Returns the spool, the decoded inputs' stats and the
/// store read, if the input was one.
fn spool_inputs(
    ctx: &datafusion::prelude::SessionContext,
    runtime: &tokio::runtime::Runtime,
    req: &SignalsRequest,
) -> Result<(SpanSpool, Vec<SourceStats>, Option<std::path::PathBuf>)> {
    if let Some(dir) = span_store(req.inputs) {
        let spool = runtime.block_on(async {
            metrics::register_store(ctx, &dir, req.window.0, req.window.1).await?;
            let mut spool = SpanSpool::new(req.spill.clone());
            metrics::spool_spans(ctx, &mut spool, req.signals.records).await?;
            Ok::<_, Error>(spool)
        })?;
        return Ok((spool, Vec::new(), Some(dir)));
    }
    let decode = DecodeOptions {
        projection: Some(runtime.block_on(metrics::derivation_columns())?.into()),
        attribute_keys: Some(signals::rule_keys(req.signals.records)),
        // The derivation reads each resource once, and attribute keys by index.
        compact_maps: true,
        ..req.decode.clone()
    };
    let (spool, sources) = decode_into(req.inputs, &decode, req.quiet, |rx| {
        let mut spool = SpanSpool::new(req.spill.clone());
        for batch in rx.into_iter().flatten() {
            spool.push(batch)?;
        }
        Ok(spool)
    })?;
    Ok((spool, sources, None))
}

/// A session and the multi-threaded runtime its queries run on, one partition per thread.
fn query_session() -> Result<(datafusion::prelude::SessionContext, tokio::runtime::Runtime)> {
    use datafusion::prelude::{SessionConfig, SessionContext};
    let threads = rayon::current_num_threads().max(1);
    let ctx = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(threads));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .map_err(|e| Error::Config(format!("cannot start the query runtime: {e}")))?;
    Ok((ctx, runtime))
}

/// Write each table as `dir/<name>.parquet`, then `run_info` as `dir/run_info.parquet`.
fn write_tables<'t>(
    dir: &std::path::Path,
    tables: impl Iterator<Item = &'t metrics::Table>,
    run_info: RecordBatch,
) -> Result<()> {
    let props = || writer_properties(OUTPUT_ZSTD_LEVEL, None, &[]);
    for table in tables {
        let props = with_key_values(props(), &table.metadata);
        write_parquet(&dir.join(format!("{}.parquet", table.name)), table.schema.clone(), &table.batches, props)?;
    }
    write_parquet(&dir.join(RUN_INFO_FILE), run_info_schema(), &[run_info], props())?;
    Ok(())
}

/// Compute RED metrics for the plan and write them to its output directory. The input is raw
/// OTLP, a span store, or an earlier `metrics` output, whose signals are queried again (for
/// another window, bucket or `--approx`) without deriving them, and copied to the new output.
/// Only the plan's tables are computed and written, from the records they need.
pub fn run_metrics(plan: &MetricsPlan) -> Result<MetricsOutcome> {
    let mut phases = Phases::start();
    let out = OutputDir::create(&plan.out, plan.force)?;
    let (ctx, runtime) = query_session()?;
    let m = &plan.metrics;
    let req = SignalsRequest {
        inputs: &plan.inputs,
        decode: &plan.decode,
        quiet: plan.quiet,
        signals: &m.signals,
        spill: &m.spill,
        window: (m.from, m.to),
        metric_queries: true,
        // A signals file copied as it is, with no metric table, needs nothing of it.
        needs: if m.tables.is_empty() { signals::RecordKinds::NONE } else { m.signals.records },
    };
    // Spilled signals are written straight to their place in the output (or to a scratch file
    // there when they are not an output).
    let signals_file = out.path().join(format!("{}.parquet", signals::TABLE));
    let scratch = out.path().join(format!(".{}.parquet", signals::TABLE));
    let spilled_to = if plan.write_signals { &signals_file } else { &scratch };
    let input = load_signals(&ctx, &runtime, &req, spilled_to, &mut phases)?;
    let (tables, services_page) = runtime.block_on(metrics::query_metrics(&ctx, m))?;
    let _ = std::fs::remove_file(&scratch);
    phases.mark("query");

    let signals_table = match (&input.signals_file, &input.derived) {
        _ if !plan.write_signals => None,
        (Some(file), _) => {
            std::fs::copy(file, &signals_file).map_err(|e| Error::output(&signals_file, e))?;
            None
        }
        (None, Some(d)) if d.signals.written.is_none() => Some(&d.signals),
        _ => None,
    };
    let run_info = metrics_run_info(&plan.command, &input, &tables, plan.write_signals)?;
    write_tables(out.path(), tables.iter().chain(signals_table), run_info)?;
    let target = out.target().to_path_buf();
    out.commit()?;
    phases.mark("write");
    Ok(MetricsOutcome { input, tables, services_page, signals_written: plan.write_signals, out: target, phases })
}

#[cfg(test)]
mod tests {
    use super::split_by_bytes;

    #[test]
    fn inputs_split_into_consecutive_runs_of_about_equal_bytes() {
        let sizes = |items: &[(char, u64)], parts| -> Vec<String> {
            split_by_bytes(items, parts).iter().map(|run| run.iter().map(|(c, _)| *c).collect()).collect()
        };
        let small: Vec<(char, u64)> = "abcdefgh".chars().map(|c| (c, 10)).collect();
        assert_eq!(sizes(&small, 4), ["ab", "cd", "ef", "gh"]);
        assert_eq!(sizes(&small, 3), ["abc", "def", "gh"]);
        assert_eq!(sizes(&small, 1), ["abcdefgh"]);
        // A large input makes a run of its own; empty inputs count as one byte.
        let mixed = [('a', 5), ('b', 100), ('c', 0), ('d', 5), ('e', 5)];
        assert_eq!(sizes(&mixed, 4), ["ab", "cde"]);
        assert_eq!(sizes(&mixed, 100), ["a", "b", "cd", "e"]);
        assert!(split_by_bytes::<char>(&[], 4).is_empty());
    }
}

/// Where a run's `signals` table came from.
#[derive(Debug, Default)]
pub struct SignalsInput {
    /// Decoded inputs (empty when the input was a span store or a metrics output).
    pub sources: Vec<SourceStats>,
    /// The span store read, if the input was one.
    pub store: Option<std::path::PathBuf>,
    /// The signals file of a `metrics` output, if the input was one.
    pub signals_file: Option<std::path::PathBuf>,
    /// The kinds of records the signals hold: those derived, or those the file holds.
    pub records: signals::RecordKinds,
    /// The derivation, when signals were derived from spans.
    pub derived: Option<Derived>,
}

/// What an SLO run did.
#[derive(Debug)]
pub struct SloOutcome {
    pub input: SignalsInput,
    pub report: SloReport,
    pub out: std::path::PathBuf,
    /// Wall time per phase (`--timings`); their sum is the run's.
    pub phases: Phases,
}

/// What a run derives its signals from, and how.
struct SignalsRequest<'a> {
    inputs: &'a [String],
    decode: &'a DecodeOptions,
    quiet: bool,
    signals: &'a signals::SignalOptions,
    spill: &'a crate::spill::SpillOptions,
    /// Record end times the run reads, when known: a span store is read only in the date
    /// partitions that can hold them.
    window: (Option<i64>, Option<i64>),
    /// The metric queries will run: a signals file is then queried with one partition, which
    /// bounds the memory of their exact percentiles (the SLO queries alone run faster on all).
    metric_queries: bool,
    /// The kinds of records the run reads: a signals file that lacks one is refused.
    needs: signals::RecordKinds,
}

/// Register `signals` in `ctx`: a `metrics` output's file as it is, or derived from raw OTLP
/// or a span store. Signals of spilled spans are written to `scratch`, which the caller
/// removes once it has queried them. A file that lacks a kind of records the request needs (it
/// was written for fewer tables) is an error, not empty tables.
fn load_signals(
    ctx: &datafusion::prelude::SessionContext,
    runtime: &tokio::runtime::Runtime,
    req: &SignalsRequest,
    scratch: &std::path::Path,
    phases: &mut Phases,
) -> Result<SignalsInput> {
    if let Some(file) = metrics::metrics_output(req.inputs) {
        let held = metrics::check_signals_file(&file)?;
        let needed = req.needs;
        if !held.covers(needed) {
            return Err(Error::Config(format!(
                "{} holds only {} records (it was written for fewer tables), but this run needs {} records",
                file.display(),
                held.text(),
                needed.text()
            )));
        }
        if req.metric_queries {
            runtime.block_on(metrics::register_signals_file(ctx, &file))?;
        } else {
            let read = datafusion::prelude::ParquetReadOptions::default();
            runtime.block_on(ctx.register_parquet(signals::TABLE, &file.display().to_string(), read))?;
        }
        phases.mark("read");
        return Ok(SignalsInput { signals_file: Some(file), records: held, ..SignalsInput::default() });
    }
    let (spool, sources, store) = spool_inputs(ctx, runtime, req)?;
    phases.mark("read");
    let derived = runtime.block_on(metrics::derive_signals(ctx, req.signals, spool, Some(scratch)))?;
    phases.mark("derive");
    Ok(SignalsInput { sources, store, signals_file: None, records: req.signals.records, derived: Some(derived) })
}

/// `--at`, or the end of the latest record rounded up to a minute.
fn evaluation_time(
    ctx: &datafusion::prelude::SessionContext,
    runtime: &tokio::runtime::Runtime,
    at: Option<i64>,
) -> Result<i64> {
    match at {
        Some(at) => Ok(at),
        None => runtime.block_on(slo::default_evaluation_time(ctx))?.ok_or_else(|| {
            Error::Config("the input holds no metric records: give --at to set the evaluation time".into())
        }),
    }
}

/// Evaluate the plan's SLOs and write the SLO tables to its output directory.
pub fn run_slo(plan: &SloPlan) -> Result<SloOutcome> {
    let mut phases = Phases::start();
    let out = OutputDir::create(&plan.out, plan.force)?;
    let (ctx, runtime) = query_session()?;
    let window = match plan.at {
        Some(at) => slo::records_window(&plan.slos, at).map(|(from, to)| (Some(from), Some(to)))?,
        None => (None, None),
    };
    let req = SignalsRequest {
        inputs: &plan.inputs,
        decode: &plan.decode,
        quiet: plan.quiet,
        signals: &plan.signals,
        spill: &plan.spill,
        window,
        metric_queries: false,
        needs: plan.signals.records,
    };
    let scratch = out.path().join(format!(".{}.parquet", signals::TABLE));
    let input = load_signals(&ctx, &runtime, &req, &scratch, &mut phases)?;
    let at = evaluation_time(&ctx, &runtime, plan.at)?;
    let report = runtime.block_on(slo::evaluate(&ctx, &plan.slos, at, plan.no_data_bad))?;
    let _ = std::fs::remove_file(&scratch);
    phases.mark("evaluate");

    let run_info = slo_run_info(&plan.command, &input, Some(&report), &[])?;
    write_tables(out.path(), report.tables.iter(), run_info)?;
    let target = out.target().to_path_buf();
    out.commit()?;
    phases.mark("write");
    Ok(SloOutcome { input, report, out: target, phases })
}

/// What a report run did.
#[derive(Debug)]
pub struct ReportOutcome {
    pub input: SignalsInput,
    /// The window `[from, to)`, ns.
    pub window: (i64, i64),
    /// [`metrics::METRIC_TABLES`], in order.
    pub tables: Vec<metrics::Table>,
    pub services_page: metrics::Table,
    /// The SLOs evaluated at the window's end, if any were given.
    pub slos: Option<SloReport>,
    pub out: std::path::PathBuf,
    /// Wall time per phase (`--timings`); their sum is the run's.
    pub phases: Phases,
}

/// Compute the plan's report: metrics of the window, SLOs at its end, `report.html`.
pub fn run_report(plan: &ReportPlan) -> Result<ReportOutcome> {
    let mut phases = Phases::start();
    let out = OutputDir::create(&plan.out, plan.force)?;
    let (ctx, runtime) = query_session()?;
    // A span store is read in the window when it is known before the derivation.
    let known = match (plan.from, plan.to) {
        (Some(from), Some(to)) => (Some(from), Some(to)),
        (None, Some(to)) => (Some(to - plan.length_ns), Some(to)),
        _ => (None, None),
    };
    let slo_window = match known.1 {
        Some(to) if !plan.slos.is_empty() => Some(slo::records_window(&plan.slos, to)?),
        _ => None,
    };
    let window = match (known, slo_window) {
        ((Some(f), Some(t)), Some((sf, st))) => (Some(f.min(sf)), Some(t.max(st))),
        (known, _) => known,
    };
    let req = SignalsRequest {
        inputs: &plan.inputs,
        decode: &plan.decode,
        quiet: plan.quiet,
        signals: &plan.metrics.signals,
        spill: &plan.metrics.spill,
        window,
        metric_queries: true,
        needs: plan.metrics.signals.records,
    };
    let scratch = out.path().join(format!(".{}.parquet", signals::TABLE));
    let input = load_signals(&ctx, &runtime, &req, &scratch, &mut phases)?;
    let to = evaluation_time(&ctx, &runtime, plan.to)?;
    let from = plan.from.unwrap_or(to - plan.length_ns);
    let opts = metrics::MetricsOptions { from: Some(from), to: Some(to), ..plan.metrics.clone() };
    let (tables, services_page) = runtime.block_on(metrics::query_metrics(&ctx, &opts))?;
    let services_page = services_page
        .ok_or_else(|| Error::Config("a report computes every metric table, the services page too".into()))?;
    phases.mark("query");
    let slos = match plan.slos.is_empty() {
        true => None,
        false => Some(runtime.block_on(slo::evaluate(&ctx, &plan.slos, to, plan.no_data_bad))?),
    };
    let _ = std::fs::remove_file(&scratch);
    if slos.is_some() {
        phases.mark("evaluate");
    }

    let html = crate::report::html::render(&crate::report::html::Page {
        window: (from, to),
        input: &input,
        tables: &tables,
        services_page: &services_page,
        slos: slos.as_ref(),
        bucket_ns: plan.metrics.bucket_ns,
    })?;
    crate::report::parquet::write_atomic(&out.path().join(crate::report::html::FILE), html.as_bytes())?;
    let run_info = slo_run_info(&plan.command, &input, slos.as_ref(), &tables)?;
    write_tables(out.path(), tables.iter().chain(slos.iter().flat_map(|r| r.tables.iter())), run_info)?;
    let target = out.target().to_path_buf();
    out.commit()?;
    phases.mark("write");
    Ok(ReportOutcome { input, window: (from, to), tables, services_page, slos, out: target, phases })
}
