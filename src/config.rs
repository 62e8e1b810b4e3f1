//! Resolve parsed flags into a validated, immutable run plan. No I/O beyond what validation
//! needs; nothing here knows Arrow.

use std::path::PathBuf;

use crate::cli::{
    CompatArg, CompressArg, DecodeArgs, DeriveArgs, FormatArg, GenArgs, GraphArgs, GraphFormatArg, IngestArgs,
    LayoutArg, MetricsArgs, NoDataArg, PlatformArg, PrintFormatArg, ReportArgs, S3Args, SamplingArg, SloArgs, SqlArgs,
    SqlFormatArg, TableArg,
};
use crate::derive::Compat;
use crate::derive::environment::Platform;
use crate::error::{Error, Result};
use crate::graph::{METRICS_GRAPH_TABLES, peer_attributes};
use crate::ingest::DecodeOptions;
use crate::ingest::files::Input;
use crate::metrics::{METRIC_TABLES, MetricsOptions, record_kinds};
use crate::report::text::PrintFormat;
use crate::s3::S3Options;
use crate::s3::partition::{PartitionFormat, parse_timezone};
use crate::signals::{RecordKinds, Sampling, SignalOptions};
use crate::slo::SloDefinition;
use crate::spill::SpillOptions;
use crate::sql::output::Format as SqlFormat;
use crate::sql::tables::is_identifier;
use crate::sql::{EngineOptions, Param};
use crate::store::StoreOptions;
use crate::util::parse_size;
use crate::util::time::{parse_bucket, parse_time};
use crate::workload::{Compress, Format, GenPlan, Layout, Size};

/// Everything `ingest` needs to run.
#[derive(Debug, Clone)]
pub struct IngestPlan {
    pub inputs: Vec<String>,
    pub out: PathBuf,
    pub force: bool,
    pub quiet: bool,
    pub decode: DecodeOptions,
    pub store: StoreOptions,
    /// The command line as given, for run_info.
    pub command: String,
}

impl IngestPlan {
    pub fn from_args(args: &IngestArgs, command: String) -> Result<Self> {
        if args.rows_per_file == 0 {
            return Err(Error::Config("--rows-per-file must be at least 1".into()));
        }
        let defaults = StoreOptions::default();
        Ok(IngestPlan {
            inputs: args.inputs.clone(),
            out: args.output.out.clone(),
            force: args.output.force,
            quiet: args.quiet,
            decode: decode_options(&args.decode)?,
            store: StoreOptions {
                rows_per_file: args.rows_per_file,
                max_buffered_rows: defaults.max_buffered_rows.max(args.rows_per_file),
            },
            command,
        })
    }
}

/// Decode options from the shared decode flags.
fn decode_options(args: &DecodeArgs) -> Result<DecodeOptions> {
    let size = |flag: &str, text: &str| parse_size(text).map_err(|e| Error::Config(format!("{flag}: {e}")));
    let max_decompressed_bytes = size("--max-decompressed-size", &args.max_decompressed_size)?;
    let max_value_bytes = size("--max-value-bytes", &args.max_value_bytes)?;
    if max_value_bytes == 0 {
        return Err(Error::Config("--max-value-bytes must be at least 1".into()));
    }
    Ok(DecodeOptions {
        keep_going: args.keep_going,
        skip_invalid_spans: !args.strict,
        s3: s3_options(&args.s3)?,
        max_decompressed_bytes,
        max_value_bytes: usize::try_from(max_value_bytes).unwrap_or(usize::MAX),
        ..DecodeOptions::default()
    })
}

/// The S3 options from the shared S3 flags.
fn s3_options(args: &S3Args) -> Result<S3Options> {
    let config = |flag: &str, e: String| Error::Config(format!("{flag}: {e}"));
    if args.s3_concurrency == 0 {
        return Err(Error::Config("--s3-concurrency must be at least 1".into()));
    }
    let max_in_flight = parse_size(&args.s3_max_in_flight).map_err(|e| config("--s3-max-in-flight", e))?;
    if max_in_flight == 0 {
        return Err(Error::Config("--s3-max-in-flight must be more than 0".into()));
    }
    let part_bytes = parse_size(&args.s3_part_size).map_err(|e| config("--s3-part-size", e))?;
    if !(5 << 20..=5 << 30).contains(&part_bytes) {
        return Err(Error::Config("--s3-part-size must be from 5MiB to 5GiB (S3's limits on a part)".into()));
    }
    Ok(S3Options {
        profile: args.profile.clone(),
        region: args.region.clone(),
        endpoint_url: args.endpoint_url.clone(),
        no_sign_request: args.no_sign_request,
        request_payer: args.request_payer.is_some(),
        concurrency: args.s3_concurrency,
        max_in_flight_bytes: max_in_flight,
        part_bytes,
        partition_format: PartitionFormat::parse(&args.s3_partition_format)
            .map_err(|e| config("--s3-partition-format", e))?,
        partition_timezone: parse_timezone(&args.s3_partition_timezone)
            .map_err(|e| config("--s3-partition-timezone", e))?,
        partition_slack_ns: parse_bucket(&args.s3_partition_slack).map_err(|e| config("--s3-partition-slack", e))?,
    })
}

/// Everything `metrics` needs to run.
#[derive(Debug, Clone)]
pub struct MetricsPlan {
    pub inputs: Vec<String>,
    /// Where the tables are written; `None`: nothing is written, the table is printed.
    pub out: Option<PathBuf>,
    /// How the Services table is printed.
    pub format: PrintFormat,
    pub force: bool,
    pub quiet: bool,
    pub decode: DecodeOptions,
    pub metrics: MetricsOptions,
    /// Write `signals.parquet`.
    pub write_signals: bool,
    /// `--tables` named graph or quality: an input they cannot be computed from (a metrics
    /// output, which holds no spans) is then an error, not a note.
    pub graph_asked: bool,
    /// The Ballista cluster the metric tables are computed on, if any.
    pub scheduler: Option<crate::cluster::Address>,
    /// The command line as given, for run_info.
    pub command: String,
}

impl MetricsPlan {
    pub fn from_args(args: &MetricsArgs, command: String) -> Result<Self> {
        let bucket_ns = bucket_flag(&args.bucket)?;
        let (from, to) = (time_flag("--from", &args.from)?, time_flag("--to", &args.to)?);
        check_window(from, to)?;
        let (signals, spill) = derive_options(&args.run.derive, &args.inputs)?;
        let given = |t: TableArg| args.tables.is_empty() || args.tables.contains(&t);
        let tables: Vec<&'static str> = [TableArg::Service, TableArg::Operation, TableArg::Dependency]
            .into_iter()
            .zip(METRIC_TABLES)
            .filter_map(|(t, name)| given(t).then_some(name))
            .collect();
        // The graph tables are written with the others; printing the Services table needs none.
        let graph_tables: Vec<&'static str> = [TableArg::Graph, TableArg::Graph, TableArg::Graph, TableArg::Quality]
            .into_iter()
            .zip(METRICS_GRAPH_TABLES)
            .filter_map(|(t, name)| (given(t) && args.output.out.is_some()).then_some(name))
            .collect();
        if args.output.out.is_none() && args.tables.iter().any(|t| matches!(t, TableArg::Graph | TableArg::Quality)) {
            return Err(Error::Config(
                "--tables graph and quality are written to --out; without it, `spanlens graph` prints the graph".into(),
            ));
        }
        let all: Vec<&str> = tables.iter().chain(&graph_tables).copied().collect();
        let scheduler = match &args.scheduler {
            Some(text) => Some(metrics_scheduler(text, args, &signals)?),
            None => None,
        };
        let signals = SignalOptions { records: record_kinds(&all), ..signals };
        Ok(MetricsPlan {
            inputs: args.inputs.clone(),
            out: args.output.out.clone(),
            format: print_format(args.print.format),
            force: args.output.force,
            quiet: args.run.quiet,
            decode: decode_options(&args.run.decode)?,
            metrics: MetricsOptions {
                signals,
                tables,
                // The cluster computes the metric tables alone.
                graph_tables: if scheduler.is_some() { Vec::new() } else { graph_tables },
                peer_attributes: peer_attributes(&args.peer.peer_attributes)?,
                bucket_ns,
                from,
                to,
                approx: args.approx,
                spill,
            },
            write_signals: given(TableArg::Signals) && scheduler.is_none(),
            graph_asked: args.tables.iter().any(|t| matches!(t, TableArg::Graph | TableArg::Quality)),
            scheduler,
            command,
        })
    }
}

/// `metrics --scheduler`: the cluster's address, and a refusal of what runs only on this
/// machine so far (the signals, graph and data-quality tables, t-digests) and of derivation
/// flags the executors would not follow.
fn metrics_scheduler(text: &str, args: &MetricsArgs, signals: &SignalOptions) -> Result<crate::cluster::Address> {
    let scheduler = crate::cluster::Address::scheduler(text)?;
    let local = args.tables.iter().find(|t| matches!(t, TableArg::Signals | TableArg::Graph | TableArg::Quality));
    if let Some(table) = local {
        let name = format!("{table:?}").to_lowercase();
        return Err(Error::Config(format!(
            "--tables {name} with --scheduler: the cluster computes the service, operation and dependency tables; \
             run without --scheduler for the {name} table"
        )));
    }
    if args.approx {
        return Err(Error::Config("--approx with --scheduler: the cluster computes exact percentiles".into()));
    }
    if *signals != SignalOptions::default() {
        return Err(Error::Config(
            "--compat, --platform, --cluster and --sampling with --scheduler: the executors derive with the \
             default flags; drop them, or run without --scheduler"
                .into(),
        ));
    }
    Ok(scheduler)
}

/// Everything `graph` needs to run.
#[derive(Debug, Clone)]
pub struct GraphPlan {
    pub inputs: Vec<String>,
    /// Where the tables are written; `None`: nothing is written.
    pub out: Option<PathBuf>,
    pub force: bool,
    pub format: GraphFormatArg,
    pub quiet: bool,
    pub decode: DecodeOptions,
    pub graph: crate::graph::GraphOptions,
    /// The command line as given, for run_info.
    pub command: String,
}

impl GraphPlan {
    pub fn from_args(args: &GraphArgs, command: String) -> Result<Self> {
        let (from, to) = (time_flag("--from", &args.from)?, time_flag("--to", &args.to)?);
        check_window(from, to)?;
        Ok(GraphPlan {
            inputs: args.inputs.clone(),
            out: args.output.out.clone(),
            force: args.output.force,
            format: args.format,
            quiet: args.quiet,
            decode: decode_options(&args.decode)?,
            graph: crate::graph::GraphOptions {
                bucket_ns: bucket_flag(&args.bucket)?,
                from,
                to,
                approx: args.approx,
                peer: peer_attributes(&args.peer.peer_attributes)?,
            },
            command,
        })
    }
}

/// The printed table's format from `--format`.
fn print_format(arg: PrintFormatArg) -> PrintFormat {
    match arg {
        PrintFormatArg::Table => PrintFormat::Table,
        PrintFormatArg::Csv => PrintFormat::Csv,
        PrintFormatArg::Json => PrintFormat::Json,
    }
}

/// `--bucket` in ns.
fn bucket_flag(text: &str) -> Result<i64> {
    parse_bucket(text).map_err(|e| Error::Config(format!("--bucket: {e}")))
}

/// `sql --scheduler`: the cluster's address, and a refusal of what runs only on this machine so
/// far (the derivation, and the tables computed from it on demand) and of derivation flags the
/// executors would not follow (they resolve `derive_signals` by name, with the defaults).
fn sql_scheduler(text: &str, args: &SqlArgs, signals: &SignalOptions) -> Result<crate::cluster::Address> {
    let scheduler = crate::cluster::Address::scheduler(text)?;
    let local = |flag: &str| {
        Err(Error::Config(format!(
            "{flag} with --scheduler: the cluster runs statements over a span store's spans and a metrics \
             output's tables; run `spanlens metrics` on the store and query its output"
        )))
    };
    if args.slos.is_some() {
        return local("--slos");
    }
    if args.approx || args.bucket.is_some() || args.from.is_some() || args.to.is_some() {
        return local("--approx, --bucket, --from and --to");
    }
    if *signals != SignalOptions::default() {
        return Err(Error::Config(
            "--compat, --platform, --cluster and --sampling with --scheduler: signals_from_spans on a cluster derives with \
             the default flags; drop them, or run without --scheduler"
                .into(),
        ));
    }
    Ok(scheduler)
}

/// An optional time flag in ns since the epoch, its errors naming the flag.
fn time_flag(flag: &str, value: &Option<String>) -> Result<Option<i64>> {
    value.as_deref().map(parse_time).transpose().map_err(|e| Error::Config(format!("{flag}: {e}")))
}

/// A window's bounds, when both are given, must be in order.
fn check_window(from: Option<i64>, to: Option<i64>) -> Result<()> {
    match (from, to) {
        (Some(f), Some(t)) if f >= t => Err(Error::Config("--from must be before --to".into())),
        _ => Ok(()),
    }
}

/// The derivation and spill options from the shared derivation flags. The flags that change
/// what is derived are refused for a `metrics` output, whose signals are already derived.
fn derive_options(args: &DeriveArgs, inputs: &[String]) -> Result<(SignalOptions, SpillOptions)> {
    let given = [
        ("--compat", args.compat.is_some()),
        ("--platform", args.platform.is_some()),
        ("--cluster", args.cluster.is_some()),
        ("--sampling", args.sampling.is_some()),
    ];
    if let Some((flag, _)) = given.iter().find(|(_, given)| *given)
        && crate::metrics::metrics_output(inputs).is_some()
    {
        return Err(Error::Config(format!(
            "{flag} sets how spans are derived, but {} is a metrics output whose signals are already \
             derived; give the spans (raw OTLP or a span store) to derive them again",
            inputs.join(" ")
        )));
    }
    let compat = match args.compat.unwrap_or(CompatArg::Java) {
        CompatArg::Java => Compat::Java,
        CompatArg::Python => Compat::Python,
        CompatArg::Js => Compat::Js,
    };
    let platform = match args.platform.unwrap_or(PlatformArg::Auto) {
        PlatformArg::Auto => Platform::Auto,
        PlatformArg::Generic => Platform::Generic,
        PlatformArg::Ec2 => Platform::Ec2,
        PlatformArg::Ecs => Platform::Ecs,
        PlatformArg::Eks => Platform::Eks,
        PlatformArg::K8s => Platform::K8s,
    };
    let threshold = parse_size(&args.spill_threshold).map_err(|e| Error::Config(format!("--spill-threshold: {e}")))?;
    Ok((
        SignalOptions {
            compat,
            platform,
            cluster: args.cluster.clone(),
            records: RecordKinds::ALL,
            sampling: match args.sampling.unwrap_or(SamplingArg::Adjust) {
                SamplingArg::Adjust => Sampling::Adjust,
                SamplingArg::Ignore => Sampling::Ignore,
            },
        },
        SpillOptions {
            threshold_bytes: usize::try_from(threshold).unwrap_or(usize::MAX),
            temp_dir: args.temp_dir.clone(),
        },
    ))
}

/// Everything `slo` needs to run.
#[derive(Debug, Clone)]
pub struct SloPlan {
    pub inputs: Vec<String>,
    /// Where the SLO tables are written; `None`: nothing is written, the table is printed.
    pub out: Option<PathBuf>,
    /// How the SLO table is printed.
    pub format: PrintFormat,
    pub force: bool,
    pub quiet: bool,
    pub decode: DecodeOptions,
    pub signals: SignalOptions,
    pub spill: SpillOptions,
    /// The validated SLO definitions, in file order.
    pub slos: Vec<SloDefinition>,
    /// Evaluation time (ns); `None`: the end of the latest record, rounded up to a minute.
    pub at: Option<i64>,
    /// Periods without records count against period-based SLOs.
    pub no_data_bad: bool,
    /// The command line as given, for run_info.
    pub command: String,
    /// The scheduler of the Ballista cluster that selects the records, if any.
    pub scheduler: Option<crate::cluster::Address>,
}

impl SloPlan {
    pub fn from_args(args: &SloArgs, command: String) -> Result<Self> {
        let at = time_flag("--at", &args.at)?;
        let (signals, spill) = derive_options(&args.run.derive, &args.inputs)?;
        Ok(SloPlan {
            inputs: args.inputs.clone(),
            out: args.output.out.clone(),
            format: print_format(args.print.format),
            force: args.output.force,
            quiet: args.run.quiet,
            decode: decode_options(&args.run.decode)?,
            signals,
            spill,
            slos: crate::slo::read_definitions(&args.slos)?,
            at,
            no_data_bad: args.no_data == NoDataArg::Bad,
            command,
            scheduler: args.scheduler.as_deref().map(crate::cluster::Address::scheduler).transpose()?,
        })
    }
}

/// Everything `report` needs to run.
#[derive(Debug, Clone)]
pub struct ReportPlan {
    pub inputs: Vec<String>,
    /// Inputs in memory, read after the named ones (`demo`'s generated week).
    pub memory: Vec<Input>,
    pub out: PathBuf,
    pub force: bool,
    pub quiet: bool,
    pub decode: DecodeOptions,
    /// Derivation, spill and bucket (`from`/`to` are set once the window is known).
    pub metrics: MetricsOptions,
    /// Explicit window bounds (`--from`, `--to`/`--at`), ns.
    pub from: Option<i64>,
    pub to: Option<i64>,
    /// Window length before its end when `from` is not given, ns.
    pub length_ns: i64,
    pub slos: Vec<SloDefinition>,
    pub no_data_bad: bool,
    /// Compare with the window before (`--compare-previous`).
    pub compare_previous: bool,
    /// The Ballista cluster the metric tables and the SLOs' records are computed on, if any.
    pub scheduler: Option<crate::cluster::Address>,
    /// The command line as given, for run_info.
    pub command: String,
}

impl ReportPlan {
    pub fn from_args(args: &ReportArgs, command: String) -> Result<Self> {
        let bucket_ns = bucket_flag(&args.bucket)?;
        let from = time_flag("--from", &args.from)?;
        let to = time_flag("--to", &args.to)?.or(time_flag("--at", &args.at)?);
        check_window(from, to)?;
        if args.days == 0 {
            return Err(Error::Config("--days must be at least 1".into()));
        }
        let (signals, spill) = derive_options(&args.run.derive, &args.inputs)?;
        let slos = args.slos.as_deref().map(crate::slo::read_definitions).transpose()?.unwrap_or_default();
        let scheduler = args.scheduler.as_deref().map(crate::cluster::Address::scheduler).transpose()?;
        if scheduler.is_some() && signals != SignalOptions::default() {
            return Err(Error::Config(
                "--compat, --platform, --cluster and --sampling with --scheduler: the executors derive with the \
                 default flags; drop them, or run without --scheduler"
                    .into(),
            ));
        }
        Ok(ReportPlan {
            inputs: args.inputs.clone(),
            memory: Vec::new(),
            out: args.output.out.clone(),
            force: args.output.force,
            quiet: args.run.quiet,
            decode: decode_options(&args.run.decode)?,
            metrics: MetricsOptions {
                signals,
                tables: METRIC_TABLES.to_vec(),
                // The cluster computes the metric tables alone: the map comes from dependency
                // records.
                graph_tables: if scheduler.is_some() { Vec::new() } else { METRICS_GRAPH_TABLES.to_vec() },
                peer_attributes: peer_attributes(&args.peer.peer_attributes)?,
                bucket_ns,
                from: None,
                to: None,
                approx: false,
                spill,
            },
            from,
            to,
            length_ns: i64::from(args.days) * 86_400 * 1_000_000_000,
            slos,
            no_data_bad: args.no_data == NoDataArg::Bad,
            compare_previous: args.compare_previous,
            scheduler,
            command,
        })
    }
}

/// Everything `sql` needs to run.
#[derive(Debug, Clone)]
pub struct SqlPlan {
    pub inputs: Vec<String>,
    /// `--table NAME=PATH`, in order.
    pub tables: Vec<(String, PathBuf)>,
    /// `-f` files, then `-e` statements, run in this order.
    pub files: Vec<PathBuf>,
    pub execute: Vec<String>,
    /// `None`: table on a terminal, CSV otherwise.
    pub format: Option<SqlFormat>,
    pub out: Option<PathBuf>,
    pub force: bool,
    pub max_rows: usize,
    pub engine: EngineOptions,
    pub quiet: bool,
    pub decode: DecodeOptions,
    /// How signals and metric tables are made on demand (every table, all records).
    pub metrics: MetricsOptions,
    /// --bucket, --from, --to or --approx was given: an output's metric tables are computed
    /// again from its signals rather than read as written.
    pub window_given: bool,
    pub slos: Vec<SloDefinition>,
    pub at: Option<i64>,
    pub no_data_bad: bool,
}

impl SqlPlan {
    pub fn from_args(args: &SqlArgs) -> Result<Self> {
        let bucket_ns = bucket_flag(args.bucket.as_deref().unwrap_or("1h"))?;
        let (from, to) = (time_flag("--from", &args.from)?, time_flag("--to", &args.to)?);
        check_window(from, to)?;
        let (signals, spill) = derive_options(&args.run.derive, &args.inputs)?;
        let format = args.format.map(|f| match f {
            SqlFormatArg::Table => SqlFormat::Table,
            SqlFormatArg::Csv => SqlFormat::Csv,
            SqlFormatArg::Tsv => SqlFormat::Tsv,
            SqlFormatArg::Json => SqlFormat::Json,
            SqlFormatArg::Ndjson => SqlFormat::Ndjson,
            SqlFormatArg::Parquet => SqlFormat::Parquet,
            SqlFormatArg::Arrow => SqlFormat::Arrow,
        });
        if format.is_some_and(SqlFormat::is_binary) && args.out.is_none() {
            return Err(Error::Config("--format parquet and arrow write a file: give --out FILE".into()));
        }
        if let Some(out) = &args.out {
            if out.is_dir() {
                return Err(Error::Config(format!("--out {} is a directory; name a file", out.display())));
            }
            if out.exists() && !args.force {
                return Err(Error::Config(format!(
                    "--out {} already exists; pass --force to replace it",
                    out.display()
                )));
            }
        }
        let memory = parse_size(&args.memory_limit).map_err(|e| Error::Config(format!("--memory-limit: {e}")))?;
        if memory == 0 {
            return Err(Error::Config("--memory-limit must be more than 0".into()));
        }
        let mut params: Vec<(String, Param)> = Vec::new();
        for text in &args.params {
            let (name, value) = parse_param(text)?;
            if params.iter().any(|(n, _)| *n == name) {
                return Err(Error::Config(format!("--param {name} is given twice")));
            }
            params.push((name, value));
        }
        let mut tables: Vec<(String, PathBuf)> = Vec::new();
        for text in &args.tables {
            let (name, path) =
                text.split_once('=').filter(|(n, p)| is_identifier(n) && !p.is_empty()).ok_or_else(|| {
                    Error::Config(format!(
                        "--table {text:?}: expected NAME=PATH, NAME a letter or _ then letters, digits, _"
                    ))
                })?;
            if tables.iter().any(|(n, _)| n == name) {
                return Err(Error::Config(format!("--table {name} is given twice")));
            }
            tables.push((name.to_string(), PathBuf::from(path)));
        }
        let slos = args.slos.as_deref().map(crate::slo::read_definitions).transpose()?.unwrap_or_default();
        if args.partitions == Some(0) {
            return Err(Error::Config("--partitions must be at least 1".into()));
        }
        let scheduler = match &args.scheduler {
            Some(text) => Some(sql_scheduler(text, args, &signals)?),
            None => None,
        };
        let decode = decode_options(&args.run.decode)?;
        Ok(SqlPlan {
            inputs: args.inputs.clone(),
            tables,
            files: args.files.clone(),
            execute: args.execute.clone(),
            format,
            out: args.out.clone(),
            force: args.force,
            max_rows: args.max_rows,
            engine: EngineOptions {
                memory_limit: usize::try_from(memory).unwrap_or(usize::MAX),
                temp_dir: spill.temp_dir.clone(),
                allow_write: args.allow_write,
                params,
                approx: args.approx,
                scheduler,
                partitions: args.partitions,
                s3: decode.s3.clone(),
            },
            quiet: args.run.quiet,
            decode,
            metrics: MetricsOptions {
                signals,
                tables: METRIC_TABLES.to_vec(),
                // Made on demand when a statement names them.
                graph_tables: Vec::new(),
                peer_attributes: peer_attributes(&args.peer.peer_attributes)?,
                bucket_ns,
                from,
                to,
                approx: args.approx,
                spill,
            },
            window_given: args.bucket.is_some() || from.is_some() || to.is_some() || args.approx,
            slos,
            at: time_flag("--at", &args.at)?,
            no_data_bad: args.no_data == NoDataArg::Bad,
        })
    }
}

/// `--param NAME=VALUE` or `NAME:TYPE=VALUE`.
fn parse_param(text: &str) -> Result<(String, Param)> {
    let bad = |why: String| Error::Config(format!("--param {text:?}: {why}"));
    let (key, value) = text.split_once('=').ok_or_else(|| bad("expected NAME=VALUE or NAME:TYPE=VALUE".into()))?;
    let (name, ty) = match key.split_once(':') {
        Some((name, ty)) => (name, Some(ty)),
        None => (key, None),
    };
    if !is_identifier(name) {
        return Err(bad(format!("{name:?} is not a name (a letter or _, then letters, digits or _)")));
    }
    let value = match ty {
        Some(ty) => Param::typed(ty, value).map_err(bad)?,
        None => Param::infer(value),
    };
    Ok((name.to_string(), value))
}

/// The generator plan from `gen` flags.
pub fn gen_plan(args: &GenArgs) -> Result<GenPlan> {
    let time = |flag: &str, v: &str| {
        let t = parse_time(v).map_err(|e| Error::Config(format!("{flag}: {e}")))?;
        u64::try_from(t).map_err(|_| Error::Config(format!("{flag}: before 1970 is not supported")))
    };
    let (from_ns, to_ns) = (time("--from", &args.from)?, time("--to", &args.to)?);
    if from_ns >= to_ns {
        return Err(Error::Config("--from must be before --to".into()));
    }
    let size = match (args.spans, args.traces) {
        (_, Some(0)) | (Some(0), _) => return Err(Error::Config("--spans and --traces must be at least 1".into())),
        (_, Some(n)) => Size::Traces(n),
        (Some(n), None) => Size::Spans(n),
        (None, None) => Size::Spans(100_000),
    };
    Ok(GenPlan {
        seed: args.seed,
        size,
        from_ns,
        to_ns,
        format: match args.format {
            FormatArg::Json => Format::Json,
            FormatArg::Jsonl => Format::Jsonl,
            FormatArg::Proto => Format::Proto,
            FormatArg::ProtoStream => Format::ProtoStream,
        },
        compress: match args.compress {
            CompressArg::None => Compress::None,
            CompressArg::Gzip => Compress::Gzip,
            CompressArg::Zstd => Compress::Zstd,
        },
        layout: match args.layout {
            LayoutArg::Files => Layout::Files,
            LayoutArg::S3exporter => Layout::S3Exporter,
        },
        out: args.output.out.clone(),
        force: args.output.force,
        traces_per_document: args.traces_per_document.max(1),
        documents_per_file: args.documents_per_file.max(1),
        incidents: Default::default(),
        sample: args.sample.map(crate::workload::Sampling::with_probability).transpose().map_err(Error::Config)?,
    })
}
