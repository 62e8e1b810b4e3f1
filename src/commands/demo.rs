//! `spanlens demo`: the pet-clinic week generated in memory and its weekly report written with
//! the bundled SLOs, so a first run shows what spanlens makes without any data of one's own.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use crate::cli::DemoArgs;
use crate::commands::report::{report_text, run_report};
use crate::commands::{print_timings, write_stdout};
use crate::config::ReportPlan;
use crate::error::{Error, Result};
use crate::ingest::DecodeOptions;
use crate::ingest::files::Input;
use crate::metrics::{METRIC_TABLES, MetricsOptions};
use crate::report::summary;
use crate::signals::{RecordKinds, SignalOptions};
use crate::spill::SpillOptions;
use crate::store::RUN_INFO_FILE;
use crate::util::time::parse_time;
use crate::workload::{Compress, Format, GenPlan, Layout, Size, generate_in_memory};

/// The SLOs the demo evaluates: the pet-clinic SLO file of `fixtures/`, built into the binary.
pub const DEMO_SLOS: &str = include_str!("../../fixtures/slo/petclinic-slos.json");

/// About this many spans are generated: a week of the workload in a few seconds.
pub const DEMO_SPANS: u64 = 200_000;

/// The generated week, `[from, to)`.
pub const DEMO_WEEK: (&str, &str) = ("2026-11-16", "2026-11-23");

/// The generator plan of the demo week (JSON Lines files of 50 exporter batches, kept in memory).
pub fn demo_gen_plan() -> Result<GenPlan> {
    let time = |t: &str| {
        let ns = parse_time(t).map_err(Error::Config)?;
        u64::try_from(ns).map_err(|_| Error::Config(format!("{t} is before 1970")))
    };
    Ok(GenPlan {
        seed: 1,
        size: Size::Spans(DEMO_SPANS),
        from_ns: time(DEMO_WEEK.0)?,
        to_ns: time(DEMO_WEEK.1)?,
        format: Format::Jsonl,
        compress: Compress::None,
        layout: Layout::Files,
        out: PathBuf::new(),
        force: false,
        traces_per_document: 200,
        documents_per_file: 50,
        incidents: Default::default(),
        sample: None,
    })
}

/// Whether `dir` may be replaced without `--force`: it does not exist, is empty, or holds an
/// earlier report (`report.html` and `run_info.parquet`).
fn replaceable(dir: &Path) -> bool {
    let empty = std::fs::read_dir(dir).map(|mut d| d.next().is_none()).unwrap_or(true);
    empty || (dir.join(crate::report::html::FILE).is_file() && dir.join(RUN_INFO_FILE).is_file())
}

/// Run `demo`.
pub fn run(args: &DemoArgs, command_line: String, timings: bool) -> Result<u8> {
    if args.out.exists() && !replaceable(&args.out) && !args.force {
        return Err(Error::Config(format!(
            "{} exists and does not hold an earlier report; pass --force to replace it, or give another --out",
            args.out.display()
        )));
    }
    let started = Instant::now();
    let week = demo_gen_plan()?;
    let (files, stats) = generate_in_memory(&week)?;
    if !args.quiet {
        eprint!("{}", summary::gen_summary(&stats, Path::new("memory"), started.elapsed().as_secs_f64()));
    }
    let memory = files
        .into_iter()
        .map(|(path, bytes)| Input::Memory { name: format!("demo:{}", path.display()), bytes: Arc::from(bytes) })
        .collect();
    let slos = crate::slo::parse_definitions(DEMO_SLOS).map_err(|e| Error::Config(format!("the demo SLOs: {e}")))?;
    let plan = ReportPlan {
        inputs: Vec::new(),
        memory,
        out: args.out.clone(),
        force: true,
        quiet: args.quiet,
        decode: DecodeOptions { skip_invalid_spans: true, ..DecodeOptions::default() },
        metrics: MetricsOptions {
            signals: SignalOptions { records: RecordKinds::ALL, ..SignalOptions::default() },
            tables: METRIC_TABLES.to_vec(),
            graph_tables: crate::graph::METRICS_GRAPH_TABLES.to_vec(),
            peer_attributes: crate::graph::DEFAULT_PEER_ATTRIBUTES.to_vec(),
            bucket_ns: 3_600_000_000_000,
            from: None,
            to: None,
            approx: false,
            spill: SpillOptions::default(),
        },
        from: None,
        to: None,
        length_ns: 7 * 86_400_000_000_000,
        slos,
        no_data_bad: false,
        compare_previous: false,
        scheduler: None,
        command: command_line,
    };
    let outcome = run_report(&plan)?;
    let mut text = report_text(&outcome)?;
    text.push_str(&format!("\nWritten to {}:\n", outcome.out.display()));
    let mut names: Vec<String> = std::fs::read_dir(&outcome.out)
        .map_err(|e| Error::output(&outcome.out, e))?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    names.sort();
    for name in names {
        text.push_str(&format!("  {}\n", outcome.out.join(name).display()));
    }
    write_stdout(text.as_bytes())?;
    if !args.quiet {
        summary::print_report(&outcome, args.quiet);
    }
    print_timings(timings, &outcome.phases);
    if args.open {
        open_in_browser(&outcome.out.join(crate::report::html::FILE));
    }
    Ok(0)
}

/// Open `file` with the desktop's default program; a failure is a warning, the report is written.
fn open_in_browser(file: &Path) {
    let (program, before): (&str, &[&str]) = if cfg!(target_os = "macos") {
        ("open", &[])
    } else if cfg!(target_os = "windows") {
        ("cmd", &["/C", "start", ""])
    } else {
        ("xdg-open", &[])
    };
    let spawned = std::process::Command::new(program)
        .args(before)
        .arg(file)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    if let Err(e) = spawned {
        eprintln!("warning: cannot open {} with {program}: {e}; open it yourself", file.display());
    }
}
