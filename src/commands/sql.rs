//! `spanlens sql`: the inputs registered as tables by what they are, the tables made on demand
//! (signals, metric and SLO tables, the embedded queries' views) derived with the same steps
//! `metrics` and `slo` take, and the statements of `-f`, `-e` or stdin run in order, or the
//! interactive shell.

use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::time::Instant;

use arrow::array::RecordBatch;
use datafusion::common::ScalarValue;
use datafusion::prelude::SessionContext;

use crate::cli::SqlArgs;
use crate::commands::pipeline::{Inputs, Remote, SignalsRequest, absolute, evaluation_time, load_signals};
use crate::config::SqlPlan;
use crate::error::{Error, Result};
use crate::graph::{self, GraphOptions};
use crate::ingest::SourceStats;
use crate::ingest::files;
use crate::ingest::read::decode_to_memory;
use crate::metrics::{self, METRIC_TABLES, MetricsOptions};
use crate::s3::list::ListStats;
use crate::signals::{self, RecordKinds};
use crate::slo;
use crate::spill::{SCRATCH_PREFIX, SpanSpool, scratch_dir};
use crate::sql::output::{Format, Sink, Stdout, TableStyle};
use crate::sql::tables::{self, InputKind};
use crate::sql::{Engine, OnDemand, Parsed, Printer, Script, shell};
use crate::util::{Phases, thousands};

/// The tables an SLO evaluation registers, in the order they are computed.
const SLO_VIEWS: [&str; 6] = ["slo_records", "slo_periods", "slos", "slo_burn_rates", "slo_burn_series", "slo_alerts"];

/// Run `sql` as the command line gives it.
pub fn run(args: &SqlArgs, timings: bool) -> Result<u8> {
    let plan = SqlPlan::from_args(args)?;
    let scripts = scripts(&plan)?;
    let format = plan.format.unwrap_or(if std::io::stdout().is_terminal() { Format::Table } else { Format::Csv });
    if scripts.is_none() && (format.is_binary() || plan.out.is_some()) {
        return Err(Error::Config(
            "the interactive shell prints its results: --out and --format parquet|arrow need -e, -f or SQL on stdin"
                .into(),
        ));
    }
    let engine = Engine::new(&plan.engine)?;
    // Statements are parsed before any input is read: a syntax error costs nothing.
    let statements = match &scripts {
        Some(scripts) => {
            let mut all = Vec::new();
            for script in scripts {
                all.extend(engine.parse(script)?);
            }
            Some(all)
        }
        None => None,
    };
    // A span store or an output on S3 is read from a local copy, as a directory is; on a
    // cluster, whose nodes read it where it is.
    let inputs = match &plan.engine.scheduler {
        Some(_) => Inputs::for_cluster(&plan.inputs, &plan.decode.s3)?,
        None => Inputs::resolve(&plan.inputs, &plan.decode.s3, plan.metrics.spill.temp_dir.as_deref(), (None, None))?,
    };
    let plan = SqlPlan { inputs: inputs.names().to_vec(), ..plan };
    let mut made = register_inputs(&engine, &plan, inputs.remote(), statements.is_none())?;
    let printer = Printer { format, style: TableStyle { max_rows: plan.max_rows, max_width: 48 } };
    match statements {
        None => shell::run(&engine, &mut made, &printer)?,
        Some(statements) => run_statements(&engine, &mut made, &plan, &printer, &statements, timings)?,
    }
    drop(made);
    engine.shutdown();
    drop(inputs);
    Ok(0)
}

/// The scripts to run: the `-f` files, then each `-e`, or SQL read from stdin when it is not a
/// terminal; `None` for the interactive shell.
fn scripts(plan: &SqlPlan) -> Result<Option<Vec<Script>>> {
    let mut scripts = Vec::new();
    for path in &plan.files {
        let text = std::fs::read_to_string(path)
            .map_err(|source| Error::Input { path: path.display().to_string(), source })?;
        scripts.push(Script { name: path.display().to_string(), text });
    }
    for (i, text) in plan.execute.iter().enumerate() {
        let name = if plan.execute.len() == 1 { "-e".to_string() } else { format!("-e #{}", i + 1) };
        scripts.push(Script { name, text: text.clone() });
    }
    if !scripts.is_empty() {
        return Ok(Some(scripts));
    }
    if std::io::stdin().is_terminal() {
        return Ok(None);
    }
    if plan.inputs.iter().any(|i| i == "-") {
        return Err(Error::Config("stdin is an input (-): give the SQL with -e or -f".into()));
    }
    let mut text = String::new();
    std::io::stdin().read_to_string(&mut text).map_err(|source| Error::Input { path: "<stdin>".into(), source })?;
    if text.trim().is_empty() {
        return Err(Error::Config("no SQL: give -e, -f or statements on stdin".into()));
    }
    Ok(Some(vec![Script { name: "stdin".into(), text }]))
}

/// Run the statements in order, printing each result (or writing them to `--out`); the first
/// failure stops the run.
fn run_statements(
    engine: &Engine,
    made: &mut Made,
    plan: &SqlPlan,
    printer: &Printer,
    statements: &[Parsed],
    timings: bool,
) -> Result<()> {
    let mut buffer: Vec<u8> = Vec::new();
    let mut printed_before = false;
    for (i, statement) in statements.iter().enumerate() {
        // Timed with the tables it reads made on demand (signals, the graph, ...), as the shell
        // times it: their making is most of a first statement's time.
        let started = Instant::now();
        engine.prepare(statement, made)?;
        let rows = if printer.format.is_binary() {
            match (i + 1 == statements.len(), &plan.out) {
                (true, Some(out)) => engine.runtime.block_on(engine.write(statement, printer.format, out))?,
                _ => {
                    let quiet = Printer { format: Format::Csv, ..*printer };
                    engine.runtime.block_on(engine.print(statement, &quiet, &mut Vec::new()))?
                }
            }
        } else {
            let mut text = Vec::new();
            let sink: &mut dyn Sink = if plan.out.is_some() { &mut buffer } else { &mut Stdout };
            // Results of several statements are set apart by a blank line.
            let separate = printed_before && matches!(printer.format, Format::Table | Format::Csv | Format::Tsv);
            let rows = engine.runtime.block_on(engine.print(statement, printer, &mut text))?;
            if !text.is_empty() {
                if separate {
                    sink.put(b"\n")?;
                }
                sink.put(&text)?;
                printed_before = true;
            }
            rows
        };
        if timings {
            eprintln!(
                "{}: {} rows in {:.3} ms",
                statement.label,
                thousands(rows),
                started.elapsed().as_secs_f64() * 1e3
            );
        }
    }
    if let Some(out) = &plan.out
        && !printer.format.is_binary()
    {
        crate::output::write_atomic(out, &buffer)?;
    }
    Ok(())
}

/// Register the inputs' tables and the `--table` files, and say what is made on demand.
fn register_inputs(engine: &Engine, plan: &SqlPlan, remote: Option<&Remote>, interactive: bool) -> Result<Made> {
    let cluster = plan.engine.scheduler.is_some();
    let kind = match tables::input_kind(&plan.inputs) {
        // An output on S3, read where it is (its location stands for the directory).
        _ if let Some(remote) = remote => match remote.is_store() {
            true => InputKind::Store(PathBuf::from(remote.at.to_string())),
            false => InputKind::Output(PathBuf::from(remote.at.to_string())),
        },
        InputKind::Raw if cluster => {
            return Err(Error::Config(
                "--scheduler runs statements over a span store or a metrics output on storage every node reads: \
                 ingest raw OTLP into a store first (spanlens ingest INPUT... --out STORE)"
                    .into(),
            ));
        }
        // Executors resolve paths themselves: they are given absolute ones.
        InputKind::Store(dir) if cluster => InputKind::Store(absolute(&dir)?),
        InputKind::Output(dir) if cluster => InputKind::Output(absolute(&dir)?),
        kind => kind,
    };
    let ctx = &engine.ctx;
    let mut spans = None;
    let mut has_signals = false;
    let mut files: Vec<String> = Vec::new();
    match &kind {
        _ if let Some(remote) = remote => {
            for (name, url) in remote.tables() {
                has_signals |= name == signals::TABLE;
                if plan.window_given && METRIC_TABLES.contains(&name.as_str()) {
                    continue;
                }
                if name == crate::store::SPANS_DIR {
                    engine.runtime.block_on(metrics::register_store_at(ctx, Some(&url), None, None))?;
                    has_signals = true;
                    continue;
                }
                engine.runtime.block_on(ctx.register_parquet(&name, &url, Default::default()))?;
                if !remote.is_store() {
                    files.push(name);
                }
            }
            if remote.is_store() && !has_signals {
                // A store of inputs without a valid span: its spans are an empty table.
                engine.runtime.block_on(metrics::register_store_at(ctx, None, None, None))?;
                has_signals = true;
            }
            if plan.window_given && !has_signals {
                return Err(Error::Config(format!(
                    "--bucket, --from, --to and --approx compute metric tables from signals, but {} has no signals.parquet",
                    remote.at
                )));
            }
        }
        InputKind::None => {}
        InputKind::Raw => {
            // s3:// inputs are listed only under the partitions that can hold the window, when
            // it is known at both ends, as `metrics` lists them.
            let window = plan.metrics.from.zip(plan.metrics.to);
            let (inputs, s3) = files::expand_with(&plan.inputs, &plan.decode.s3, window)?;
            let (batches, sources) = decode_to_memory(inputs, &plan.decode, plan.quiet)?;
            summarize(&sources, &s3, plan.quiet, interactive);
            tables::register_spans(ctx, batches.clone())?;
            spans = Some(batches);
            has_signals = true;
        }
        InputKind::Store(dir) => {
            engine.runtime.block_on(metrics::register_store(ctx, dir, None, None))?;
            let run_info = dir.join(crate::store::RUN_INFO_FILE);
            engine.runtime.block_on(ctx.register_parquet(
                "run_info",
                &run_info.display().to_string(),
                Default::default(),
            ))?;
            has_signals = true;
        }
        InputKind::Output(dir) => {
            for (name, path) in tables::output_tables(dir)? {
                has_signals |= name == signals::TABLE;
                // Metric tables for another window or bucket are computed from the signals.
                if plan.window_given && METRIC_TABLES.contains(&name.as_str()) {
                    continue;
                }
                engine.runtime.block_on(ctx.register_parquet(
                    &name,
                    &path.display().to_string(),
                    Default::default(),
                ))?;
                files.push(name);
            }
            if plan.window_given && !has_signals {
                return Err(Error::Config(format!(
                    "--bucket, --from, --to and --approx compute metric tables from signals, but {} has no signals.parquet",
                    dir.display()
                )));
            }
        }
    }
    if !plan.slos.is_empty() && !has_signals {
        return Err(Error::Config(
            "--slos evaluates SLOs over signals: give spans, a span store or a metrics output".into(),
        ));
    }
    for (name, path) in &plan.tables {
        let path = if cluster { absolute(path)? } else { path.clone() };
        engine.runtime.block_on(tables::register_file(ctx, name, &path))?;
    }
    let mut names: Vec<(String, String)> = Vec::new();
    let mut add = |name: &str, what: &str| {
        if !files.iter().any(|f| f == name) {
            names.push((name.to_string(), what.to_string()));
        }
    };
    if matches!(kind, InputKind::Raw | InputKind::Store(_)) {
        add("spans_for_signals", "view: the embedded query spans_for_signals");
    }
    if matches!(kind, InputKind::Raw | InputKind::Store(_)) {
        add("signals_from_spans", "view: signals derived in SQL by derive_signals, trace by trace");
        ctx.register_udaf(crate::signals::function::derive_signals(&plan.metrics.signals));
    }
    if matches!(kind, InputKind::Store(_)) {
        add("store_spans", "view: the embedded query store_spans (every date)");
    }
    // On a cluster, the views of what is registered; what the derivation makes is made on this
    // machine, not yet there.
    if cluster {
        return Ok(Made { plan: plan.clone(), kind, spans, side: None, scratch: None, names });
    }
    if matches!(kind, InputKind::Raw | InputKind::Store(_)) {
        add("service_graph_spans", "view: the spans the service graph pairs, with what it reads of them");
        add("service_graph_partial_calls", "the requests paired within the input (before links across traces)");
        add("service_graph_link_ends", "the links of parentless consumers, and the producers");
        add("data_quality_spans", "the data-quality checks of spans alone");
        add("service_graph_calls", "view: one row per request on a trace-stitched edge");
        add("service_graph", "the trace-stitched service graph per edge, per bucket and for the window");
        add("service_graph_nodes", "the nodes of the service graph");
        add("data_quality", "orphans, duplicates, unpaired halves, clock skew, ... per check");
    }
    if has_signals {
        add("signals", "the Application Signals metric records, derived as metrics derives them");
        add("windowed_signals", "view: signals in the --from/--to window with their --bucket start");
        add("service_metrics", "RED metrics per service (S2), per bucket and for the window");
        add("operation_metrics", "RED metrics per operation (S1)");
        add("dependency_groups", "the first stage of dependency_metrics");
        add("dependency_metrics", "RED metrics of dependency calls (D1-D13)");
        add("services_page", "view: the Services table");
        if matches!(kind, InputKind::Raw | InputKind::Store(_)) {
            add(graph::MATCHES, "dependency records matched to the requests of their spans, per name pair");
            add(graph::RECONCILIATION, "the service graph beside the dependency map: seen_by, counts, reasons");
        }
        if !plan.slos.is_empty() {
            add("slo_records", "the records each SLO reads");
            add("slo_periods", "each period's datapoint per SLO");
            add("slos", "attainment, error budget and status per SLO");
            add("slo_burn_rates", "burn rate per SLO and look-back window");
            add("slo_burn_series", "burn rate per SLO, alert window and minute over the interval");
            add("slo_alerts", "when each SLO's burn-rate alert rules would have fired and resolved");
        }
    }
    Ok(Made { plan: plan.clone(), kind, spans, side: None, scratch: None, names })
}

/// What was read and skipped, on stderr: in the shell (unless `quiet`), and whenever invalid
/// spans were skipped.
fn summarize(sources: &[SourceStats], s3: &ListStats, quiet: bool, interactive: bool) {
    let t = SourceStats::total(sources);
    let invalid = t.spans_skipped_total();
    if !quiet && s3.prefixes > 0 {
        eprint!("{}", crate::report::summary::s3_line(s3, sources));
    }
    if !(invalid > 0 || (interactive && !quiet)) {
        return;
    }
    let inputs = sources.len();
    let mut line =
        format!("spans: {} from {inputs} input{}", thousands(t.spans_written), if inputs == 1 { "" } else { "s" });
    let reasons = |map: &std::collections::BTreeMap<&'static str, u64>| {
        map.iter().map(|(k, v)| format!("{k} {}", thousands(*v))).collect::<Vec<_>>().join(", ")
    };
    if invalid > 0 {
        line.push_str(&format!("; spans skipped: {}", reasons(&t.spans_skipped)));
    }
    if !t.records_skipped.is_empty() {
        line.push_str(&format!("; records skipped: {}", reasons(&t.records_skipped)));
    }
    eprintln!("{line}");
}

/// The tables made on demand, and what they are made from.
struct Made {
    plan: SqlPlan,
    kind: InputKind,
    /// Raw OTLP decoded, also registered as `spans`.
    spans: Option<Vec<RecordBatch>>,
    /// The session that derived the signals and computed from them, once it has.
    side: Option<SessionContext>,
    /// Where spilled signals are written; removed when the run ends.
    scratch: Option<tempfile::TempDir>,
    names: Vec<(String, String)>,
}

impl Made {
    /// Derive the signals (once) in a side session, as `metrics` does for the input.
    fn side(&mut self, engine: &Engine) -> Result<&SessionContext> {
        if self.side.is_none() {
            let side = engine.side_session();
            let scratch = scratch_dir(SCRATCH_PREFIX, self.plan.metrics.spill.temp_dir.as_deref())?;
            let file = scratch.path().join(format!("{}.parquet", signals::TABLE));
            let m = &self.plan.metrics;
            match (&self.kind, &self.spans) {
                (InputKind::Raw, Some(batches)) => {
                    tables::register_spans(&side, batches.clone())?;
                    engine.runtime.block_on(async {
                        let mut spool = SpanSpool::new(m.spill.clone());
                        metrics::spool_spans(&side, &mut spool, RecordKinds::ALL).await?;
                        metrics::derive_signals(&side, &m.signals, spool, Some(&file)).await
                    })?;
                }
                _ => {
                    let req = SignalsRequest {
                        inputs: &self.plan.inputs,
                        memory: &[],
                        decode: &self.plan.decode,
                        quiet: self.plan.quiet,
                        signals: &m.signals,
                        spill: &m.spill,
                        window: (m.from, m.to),
                        metric_queries: true,
                        needs: RecordKinds::NONE,
                        origin: None,
                        graph: false,
                    };
                    load_signals(&side, &engine.runtime, &req, &file, &mut Phases::start())?;
                }
            }
            self.side = Some(side);
            self.scratch = Some(scratch);
        }
        Ok(self.side.as_ref().expect("set above"))
    }
}

impl OnDemand for Made {
    fn names(&self) -> Vec<(String, String)> {
        self.names.clone()
    }

    fn provide(&mut self, engine: &Engine, name: &str) -> Result<()> {
        let ctx = &engine.ctx;
        let utf8 = |s: &str| ScalarValue::Utf8(Some(s.into()));
        match name {
            "spans_for_signals" => return engine.runtime.block_on(tables::register_query_view(ctx, name, vec![])),
            "signals_from_spans" => {
                engine.make("spans_for_signals", self)?;
                return engine.runtime.block_on(tables::register_query_view(ctx, name, vec![]));
            }
            "store_spans" => {
                let all = vec![utf8("0000-01-01"), utf8("9999-12-31")];
                return engine.runtime.block_on(tables::register_query_view(ctx, name, all));
            }
            name if name == graph::CALLS_VIEW
                || name == graph::SPANS_VIEW
                || graph::PART_QUERIES.contains(&name)
                || graph::GRAPH_TABLES.contains(&name) =>
            {
                let m = &self.plan.metrics;
                engine.runtime.block_on(graph::compute(ctx, &GraphOptions::of(m)))?;
                return Ok(());
            }
            graph::RECONCILIATION | graph::MATCHES => {
                engine.make("service_graph", self)?;
                engine.make("windowed_signals", self)?;
                engine.runtime.block_on(graph::reconcile(ctx, 1))?;
                return Ok(());
            }
            "services_page" => {
                engine.make("service_metrics", self)?;
                return engine.runtime.block_on(tables::register_query_view(ctx, name, vec![]));
            }
            _ => {}
        }
        let plan = self.plan.clone();
        let side = self.side(engine)?.clone();
        let copy = |name: &str| engine.runtime.block_on(tables::copy_table(&side, ctx, name));
        // Each metric query registers the window view again, for its own run.
        if name == "windowed_signals" || METRIC_TABLES.contains(&name) || name == "dependency_groups" {
            side.deregister_table("windowed_signals")?;
        }
        match name {
            "signals" => copy(name),
            "windowed_signals" => {
                engine.runtime.block_on(metrics::register_window(&side, &plan.metrics))?;
                copy(name)
            }
            "service_metrics" | "operation_metrics" | "dependency_groups" | "dependency_metrics" => {
                let table = if name == "dependency_groups" { "dependency_metrics" } else { name };
                let table = METRIC_TABLES.into_iter().find(|t| *t == table).expect("a metric table");
                // A metrics output written for fewer tables lacks the records of the others.
                if let InputKind::Output(dir) = &self.kind {
                    let file = dir.join(format!("{}.parquet", signals::TABLE));
                    let (held, needed) = (metrics::check_signals_file(&file)?, metrics::record_kinds(&[table]));
                    if !held.covers(needed) {
                        return Err(Error::Config(format!(
                            "{name} needs {} records, but {} holds only {} records (it was written for fewer tables)",
                            needed.text(),
                            file.display(),
                            held.text()
                        )));
                    }
                }
                let opts = MetricsOptions { tables: vec![table], ..plan.metrics.clone() };
                engine.runtime.block_on(metrics::query_metrics(&side, &opts))?;
                if table == "dependency_metrics" {
                    copy("dependency_groups")?;
                }
                copy(table)
            }
            name if SLO_VIEWS.contains(&name) => {
                let at = evaluation_time(&side, &engine.runtime, plan.at)?;
                engine.runtime.block_on(slo::evaluate(&side, &plan.slos, at, plan.no_data_bad))?;
                for view in SLO_VIEWS {
                    copy(view)?;
                }
                Ok(())
            }
            other => Err(Error::Config(format!("no table {other} is made on demand"))),
        }
    }
}
