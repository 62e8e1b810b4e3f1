//! Command-line syntax (clap derive). Parsing only: no I/O, no defaults that need the
//! environment beyond what clap reads. [`crate::config`] turns this into a validated plan.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

const AFTER_HELP: &str = "\
Exit codes: 0 success, 2 error (bad input, bad flags, I/O), 1 an SLO is breached (`slo`).
Environment: NO_COLOR disables colour; RAYON_NUM_THREADS is overridden by --threads.";

/// spanlens: offline OpenTelemetry trace analytics.
///
/// Reads OTLP trace exports (JSON or protobuf, plain, gzip or zstd, as written by the
/// collector's fileexporter or awss3exporter) and turns them into an Arrow/Parquet span table.
#[derive(Debug, Parser)]
#[command(name = "spanlens", version, about, long_about, after_help = AFTER_HELP)]
pub struct Cli {
    /// Worker threads for decoding (default: one per core).
    ///
    /// Example: spanlens --threads 4 ingest exports/ --out store
    #[arg(long, global = true, value_name = "N")]
    pub threads: Option<usize>,

    /// Print the wall time of each phase of metrics, slo and report (read and decode, derive,
    /// query, evaluate, write) to stderr.
    #[arg(long, global = true)]
    pub timings: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate a week of pet-clinic traces in memory and write its weekly report: the quickest
    /// way to see what spanlens makes.
    ///
    /// Generates about 200 K spans of the pet-clinic workload (2026-11-16 to 2026-11-23, seed 1,
    /// with its two scripted incidents), evaluates the bundled SLOs on them, writes
    /// OUT/report.html with the metric and SLO tables as Parquet, and prints the Services and SLO
    /// tables and the paths written. Rerunning replaces an earlier demo output; any other
    /// non-empty directory needs --force.
    ///
    /// Example: spanlens demo --open
    #[command(after_help = AFTER_HELP)]
    Demo(DemoArgs),

    /// Decode OTLP trace exports into a Parquet span store.
    ///
    /// Writes OUT/spans/date=YYYY-MM-DD/part-NNNNN.parquet (Hive-partitioned by the UTC date of
    /// start_time, zstd, sorted by service, name and start time) and OUT/run_info.parquet, and
    /// prints a summary of spans read, written and skipped to stderr.
    ///
    /// Formats are recognised by content, not by name: OTLP/JSON (one document, JSON Lines,
    /// arrays, glued documents, BOM), OTLP/protobuf (one message or the fileexporter's
    /// length-prefixed stream, with per-message zstd), each plain, gzip or zstd.
    ///
    /// With --out s3://bucket/prefix the store is built in a scratch directory and uploaded
    /// under the prefix when the run succeeds, the manifest _SPANLENS_MANIFEST.json last; with
    /// --force, keys of an earlier output that the new one does not have are then deleted.
    ///
    /// Example: spanlens ingest exports/ traces.jsonl.zst --out store
    #[command(after_help = AFTER_HELP)]
    Ingest(IngestArgs),

    /// Application Signals RED metrics per service, operation and dependency.
    ///
    /// Derives one metric record per service and dependency span as Application Signals does
    /// (Service, Operation, Environment, RemoteService, ... with Error = 4xx and Fault = 5xx or
    /// status ERROR), computes the metric tables per time bucket and for the whole window, and
    /// prints the Services table to stdout. With --out it writes OUT/service_metrics.parquet,
    /// operation_metrics.parquet, dependency_metrics.parquet (dimension sets D1-D13),
    /// signals.parquet and run_info.parquet (or only the tables --tables names).
    ///
    /// INPUT is raw OTLP (files, directories, globs, -), one span store written by `ingest`, or
    /// one earlier `metrics` output, whose signals are queried again without deriving them; a
    /// store or output may be an s3://bucket/prefix that spanlens wrote (it has a manifest).
    ///
    /// Example: spanlens metrics exports/
    ///
    /// Example: spanlens metrics store --out metrics --bucket 5m --from 2026-11-01
    #[command(after_help = AFTER_HELP)]
    Metrics(MetricsArgs),

    /// Evaluate SLOs (Application Signals semantics) over the metric records of the input.
    ///
    /// SLO definitions are read from a JSON file in the shape of the Application Signals API
    /// (`aws application-signals create-service-level-objective --cli-input-json`): one object
    /// or an array of them, period-based (SliConfig) or request-based (RequestBasedSliConfig),
    /// on a service, an operation or a dependency, LATENCY or AVAILABILITY, with rolling or
    /// calendar intervals and burn-rate windows. Prints the SLO table to stdout; with --out it
    /// writes OUT/slos.parquet (attainment, error budget, status per SLO), slo_periods.parquet
    /// (each period's datapoint), slo_burn_rates.parquet, slo_burn_series.parquet and
    /// slo_alerts.parquet (the SRE workbook's burn-rate alerts replayed minute by minute: when each
    /// would have fired and resolved) and run_info.parquet.
    ///
    /// INPUT is raw OTLP, a span store written by `ingest`, or an output directory of `metrics`
    /// (its signals.parquet is read, nothing is derived again).
    ///
    /// Exit code 1 when an SLO is BREACHED (the outputs are still written).
    ///
    /// Example: spanlens slo metrics-out --slos slos.json --out slo-report --at 2026-11-23
    #[command(after_help = AFTER_HELP)]
    Slo(SloArgs),

    /// A report of one week (or --days) of traces: HTML for people, Parquet for tools.
    ///
    /// Computes the RED metrics of the window (per service, operation and dependency, per
    /// --bucket and in total) and, with --slos, evaluates the SLOs at its end; writes
    /// OUT/report.html (one self-contained page: SLOs with error budgets, bad periods and burn
    /// rates, the services with p99 latency and fault-rate sparklines per bucket, each service's
    /// slowest operations, the dependencies), the metric and SLO tables as Parquet and run_info.parquet,
    /// and prints the Services table (and the SLO table) to stdout.
    ///
    /// The window ends at --at (default: the end of the latest record, rounded up to a minute)
    /// and spans --days before it; --from/--to set it instead. INPUT is raw OTLP, a span store
    /// or a `metrics` output directory (either may be an s3://bucket/prefix spanlens wrote).
    /// --out s3://bucket/prefix uploads the report when the run succeeds, with the manifest
    /// _SPANLENS_MANIFEST.json last.
    ///
    /// Example: spanlens report exports/ --slos slos.json --out weekly
    #[command(after_help = AFTER_HELP)]
    Report(ReportArgs),

    /// Generate realistic OTLP trace exports (the pet-clinic workload), deterministically.
    ///
    /// Java, Python, Node.js and .NET services on EKS with MySQL, PostgreSQL, DynamoDB, SQS, a
    /// Lambda function and an external API; log-normal latencies, 4xx/5xx mixes, diurnal
    /// traffic, and two scripted incidents (a billing-service latency regression at 40-45% of
    /// the range, a payment-service fault burst at 70-72%).
    ///
    /// --out may be s3://bucket/prefix: objects are written with the standard AWS configuration
    /// (AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL for an S3-compatible server); a prefix that
    /// already holds objects needs --force.
    ///
    /// Example: spanlens gen --spans 1000000 --format jsonl --compress zstd --out data
    ///
    /// Example: spanlens gen --layout s3exporter --compress gzip --out s3://traces/otel
    #[command(after_help = AFTER_HELP)]
    Gen(GenArgs),

    /// Run SQL over spans, signals and metric tables: statements, files, or an interactive shell.
    ///
    /// Registers tables by what INPUT is: raw OTLP (files, directories, globs, -) or a span store
    /// gives `spans` (the span table; a store adds its `date` partition column), and on demand,
    /// only when a statement names them, `signals`, `service_metrics`, `operation_metrics`,
    /// `dependency_metrics` (derived as `metrics` derives them, with its derivation and window
    /// flags) and, with --slos, the SLO tables; a `metrics`, `slo` or `report` output gives its
    /// tables as they are. Every embedded query (`spanlens queries list`) is a view of its name;
    /// --table NAME=PATH registers any other Parquet, CSV, JSON Lines or Arrow file or directory.
    ///
    /// Statements come from -e and -f (the files first, then each -e, in the order given), from
    /// stdin when it is not a terminal, or else from an interactive shell (\d lists the tables,
    /// help the commands). Read-only unless --allow-write: DDL, DML, COPY and SET are refused.
    /// Results print as a table on a terminal and as CSV otherwise (--format); --out writes them
    /// to a file. A failing statement stops the run with its position and exit code 2.
    ///
    /// Example: spanlens sql store -e "SELECT service_name, count(*) FROM spans GROUP BY 1"
    ///
    /// Example: spanlens sql exports/ --param service=frontend -f slowest.sql --format json
    #[command(after_help = AFTER_HELP)]
    Sql(SqlArgs),

    /// The trace-stitched service graph: who calls whom, with requests, faults and latency.
    ///
    /// Pairs each SERVER or CONSUMER span with its parent CLIENT or PRODUCER span of another
    /// service (a CONSUMER whose parent is absent with the PRODUCER it links to) over the whole
    /// input, with no time limit and no loss. An unpaired CLIENT span calls a virtual node named
    /// by its peer.service, db.name, db.system, messaging.destination or server.address; a
    /// SERVER span whose parent is not in the input is called by the virtual node `user`.
    /// Prints the edges (--format table), or the graph as DOT, Mermaid or JSON; with --out it
    /// writes OUT/service_graph.parquet (per edge, per bucket and for the window: requests,
    /// errors and faults and exact latency percentiles of each side, network time),
    /// service_graph_nodes.parquet, data_quality.parquet (orphans, duplicates, unpaired halves,
    /// clock skew, ...; what it finds is also summed up on stderr) and run_info.parquet.
    ///
    /// INPUT is raw OTLP (files, directories, globs, -, s3://) or one span store.
    ///
    /// Example: spanlens graph exports/ --format dot | dot -Tsvg > graph.svg
    #[command(after_help = AFTER_HELP)]
    Graph(GraphArgs),

    /// Run a role of a DataFusion Ballista cluster: a scheduler, or an executor.
    ///
    /// The roles run from the spanlens binary because Ballista resolves functions by name on
    /// every node: spanlens's (latency_percentiles, id_to_hex, attr, ...) must be linked into
    /// the scheduler and each executor. Start one scheduler and any number of executors, then
    /// give `--scheduler df://HOST:PORT` to `sql`: its queries run on the cluster over a span
    /// store or a `metrics` output on storage every node reads, and the results come back.
    ///
    /// Example: spanlens cluster scheduler --bind 0.0.0.0:50050
    ///
    /// Example: spanlens cluster executor --scheduler sched.internal:50050 --bind 0.0.0.0:50051
    #[cfg(feature = "cluster")]
    #[command(subcommand)]
    Cluster(ClusterCommand),

    /// List the SQL queries spanlens runs, or print one.
    ///
    /// Example: spanlens queries show service_metrics
    #[command(subcommand)]
    Queries(QueriesCommand),

    /// Print the span table schema as a Markdown table.
    ///
    /// Example: spanlens schema > SCHEMA.md
    Schema,

    /// Print a shell completion script.
    ///
    /// Example: spanlens completions bash > ~/.local/share/bash-completion/completions/spanlens
    ///
    /// Example: spanlens completions zsh > "${fpath[1]}/_spanlens"
    Completions(CompletionsArgs),

    /// Print the spanlens(1) man page, or write one page per command to a directory.
    ///
    /// Example: spanlens man | man -l -
    ///
    /// Example: spanlens man --out /usr/local/share/man/man1
    Man(ManArgs),
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Output directory of the demo report.
    ///
    /// Example: spanlens demo --out /tmp/demo
    #[arg(short, long, value_name = "DIR", default_value = "spanlens-demo")]
    pub out: PathBuf,

    /// Replace the output directory even if it is not an earlier report.
    #[arg(long)]
    pub force: bool,

    /// Open report.html in the default browser when it is written.
    #[arg(long)]
    pub open: bool,

    /// No progress bar, and no stderr summary.
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write spanlens.1 and one page per command (spanlens-metrics.1, ...) to this directory
    /// instead of printing spanlens.1.
    ///
    /// Example: spanlens man --out man/
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// How a command prints its table on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PrintFormatArg {
    /// Aligned columns for people.
    Table,
    /// CSV with a header line.
    Csv,
    /// A JSON array of objects, one per row.
    Json,
}

#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Files, directories (read recursively), glob patterns, or - for stdin.
    ///
    /// Example: spanlens ingest 'exports/**/*.json.gz' - --out store
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<String>,

    #[command(flatten)]
    pub output: OutputArgs,

    /// No progress bar, and no summary unless something was skipped.
    ///
    /// Example: spanlens ingest traces.jsonl --out store --quiet
    #[arg(short, long)]
    pub quiet: bool,

    #[command(flatten)]
    pub decode: DecodeArgs,

    /// Rows per Parquet file in a date partition (memory use grows with it).
    ///
    /// Example: --rows-per-file 1000000
    #[arg(long, value_name = "N", default_value_t = 500_000)]
    pub rows_per_file: usize,
}

/// How raw OTLP inputs are decoded (shared by every command that reads them).
#[derive(Debug, Args)]
pub struct DecodeArgs {
    /// Skip and count invalid spans, records and whole inputs instead of stopping at the first
    /// one. Counts by reason go to run_info and stderr; the exit code stays 0.
    ///
    /// Example: spanlens ingest s3-sync/ --out store --keep-going
    #[arg(short = 'k', long, conflicts_with = "strict")]
    pub keep_going: bool,

    /// Stop at a span that is well-formed OTLP but cannot be analysed (empty or all-zero trace
    /// or span id, no start time, ending before it starts) instead of skipping it with a warning
    /// and counting it by reason.
    ///
    /// Example: spanlens ingest exports/ --out store --strict
    #[arg(long)]
    pub strict: bool,

    /// Largest decompressed size of one input or frame; beyond it the input is an error
    /// (decompression bomb). Units: B, KiB, MiB, GiB, KB, MB, GB.
    ///
    /// Example: --max-decompressed-size 8GiB
    #[arg(long, value_name = "SIZE", default_value = "4GiB")]
    pub max_decompressed_size: String,

    /// Longest attribute value, name or message kept; longer ones are cut at a character
    /// boundary and counted as values_truncated.
    ///
    /// Example: --max-value-bytes 64KiB
    #[arg(long, value_name = "SIZE", default_value = "1MiB")]
    pub max_value_bytes: String,

    #[command(flatten)]
    pub s3: S3Args,
}

/// How `s3://` inputs are reached and read (shared by every command that reads spans).
#[derive(Debug, Args)]
#[command(next_help_heading = "S3 inputs")]
pub struct S3Args {
    /// A named profile of the shared AWS config and credentials files (as AWS_PROFILE).
    ///
    /// Example: --profile traces-readonly
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,

    /// The AWS region of the bucket (default: the standard AWS configuration, else us-east-1).
    ///
    /// Example: --region eu-west-1
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,

    /// An S3-compatible endpoint (MinIO, Ceph, moto, ...), addressed path-style; also
    /// AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL.
    ///
    /// Example: --endpoint-url http://127.0.0.1:9000
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,

    /// Send requests unsigned, without credentials: for public buckets.
    #[arg(long)]
    pub no_sign_request: bool,

    /// Accept the charges of a requester-pays bucket (the only value is requester).
    ///
    /// Example: --request-payer requester
    #[arg(long, value_name = "PAYER", value_parser = ["requester"])]
    pub request_payer: Option<String>,

    /// GET requests in flight at once; objects are fetched ahead of the decoder. Also the
    /// uploads in flight at once of an --out s3:// output.
    #[arg(long, value_name = "N", default_value_t = 32)]
    pub s3_concurrency: usize,

    /// Bytes of objects fetched ahead of the decoder, at most (a larger object is streamed);
    /// also the bytes of files held for uploads at once.
    #[arg(long, value_name = "SIZE", default_value = "256MiB")]
    pub s3_max_in_flight: String,

    /// Files of an --out s3:// output larger than this are uploaded in parts of this size
    /// (multipart upload; 5MiB to 5GiB).
    #[arg(long, value_name = "SIZE", default_value = "16MiB")]
    pub s3_part_size: String,

    /// The exporter's s3_partition_format (strftime: %Y %m %d %H %M): with --from/--to (or a
    /// report's window), only the partitions that can hold the window are listed and read.
    #[arg(long, value_name = "FORMAT", default_value = "year=%Y/month=%m/day=%d/hour=%H/minute=%M")]
    pub s3_partition_format: String,

    /// The exporter's s3_partition_timezone, an IANA name (older collectors partition in their
    /// own local time zone).
    ///
    /// Example: --s3-partition-timezone Europe/Berlin
    #[arg(long, value_name = "TZ", default_value = "UTC")]
    pub s3_partition_timezone: String,

    /// Partitions this far outside the window are still read: the exporter partitions by
    /// upload time, after the spans of an object ended (s, m, h or d).
    #[arg(long, value_name = "WIDTH", default_value = "1h")]
    pub s3_partition_slack: String,
}

/// Which SDK's rules to follow where the ADOT SDKs differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CompatArg {
    Java,
    Python,
    Js,
}

/// How records of probability-sampled spans count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SamplingArg {
    /// Each record counts its span's adjusted count (1/probability).
    Adjust,
    /// Each record counts once.
    Ignore,
}

/// A table `metrics` can write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TableArg {
    /// service_metrics.parquet
    Service,
    /// operation_metrics.parquet
    Operation,
    /// dependency_metrics.parquet
    Dependency,
    /// signals.parquet, the derived records
    Signals,
    /// service_graph.parquet, service_graph_nodes.parquet and service_graph_reconciliation.parquet:
    /// the trace-stitched service graph and how it compares with the dependency map
    Graph,
    /// data_quality.parquet: what keeps traces from being stitched or counted right
    Quality,
}

/// The CloudWatch agent platform whose Environment rules apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PlatformArg {
    /// Each resource's own, from its cloud.platform, k8s.* and aws.ecs.* attributes.
    Auto,
    /// No platform: deployment.environment, else generic:default.
    Generic,
    Ec2,
    Ecs,
    Eks,
    K8s,
}

#[derive(Debug, Args)]
pub struct MetricsArgs {
    /// Raw OTLP inputs (files, directories, globs, - for stdin), one span store directory
    /// written by `spanlens ingest` (read in place, with date-partition pruning), or one output
    /// directory of `metrics` (its signals.parquet is queried again for this run's --from, --to,
    /// --bucket and --approx; --compat, --platform and --cluster are refused there).
    ///
    /// Example: spanlens metrics exports/ --out metrics
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<String>,

    #[command(flatten)]
    pub output: OptionalOutputArgs,

    #[command(flatten)]
    pub print: PrintArgs,

    /// Time bucket of the per-bucket rows: a number and s, m, h or d (1m, 5m, 1h, 1d, ...).
    /// Buckets are aligned to the Unix epoch, on record end time.
    ///
    /// Example: --bucket 5m
    #[arg(long, value_name = "WIDTH", default_value = "1h")]
    pub bucket: String,

    /// Start of the window (inclusive), on span end time: RFC 3339 or YYYY-MM-DD (UTC).
    ///
    /// Example: --from 2026-11-01T00:00:00Z
    #[arg(long, value_name = "TIME")]
    pub from: Option<String>,

    /// End of the window (exclusive), on span end time: RFC 3339 or YYYY-MM-DD (UTC).
    ///
    /// Example: --to 2026-11-08
    #[arg(long, value_name = "TIME")]
    pub to: Option<String>,

    /// Approximate percentiles (t-digest) instead of exact ones, for very large inputs.
    #[arg(long)]
    pub approx: bool,

    /// Compute the metric tables on a Ballista cluster (`spanlens cluster`), over a span store
    /// (the records derived there, with the default derivation flags) or a metrics output on
    /// storage every node reads; the tables come back and are written here as a local run writes
    /// them. The signals, service graph and data-quality tables are not computed there.
    ///
    /// Example: --scheduler df://127.0.0.1:50050
    #[arg(long, value_name = "df://HOST:PORT", env = "SPANLENS_SCHEDULER")]
    pub scheduler: Option<String>,

    /// Write only these tables (comma-separated; default: all four). Only the records the
    /// metric tables given need are derived (Service records for service and operation,
    /// dependency records for dependency), so a run for fewer tables takes less time; the
    /// signals file then holds only those records, and says so.
    ///
    /// Example: --tables service
    #[arg(long, value_enum, value_delimiter = ',', value_name = "TABLE")]
    pub tables: Vec<TableArg>,

    #[command(flatten)]
    pub peer: PeerArgs,

    #[command(flatten)]
    pub run: SignalsArgs,
}

/// How `graph` prints the graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GraphFormatArg {
    /// The edges as aligned columns.
    Table,
    /// Graphviz's DOT language (dot -Tsvg renders it).
    Dot,
    /// A Mermaid flowchart, for Markdown.
    Mermaid,
    /// {"nodes": [...], "edges": [...]}.
    Json,
}

#[derive(Debug, Args)]
pub struct GraphArgs {
    /// Raw OTLP inputs (files, directories, globs, - for stdin, s3://bucket/prefix) or one span
    /// store directory written by `spanlens ingest`.
    ///
    /// Example: spanlens graph store --format mermaid
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<String>,

    #[command(flatten)]
    pub output: OptionalOutputArgs,

    /// How the graph is printed on stdout.
    #[arg(long, value_enum, value_name = "FORMAT", default_value = "table")]
    pub format: GraphFormatArg,

    /// Time bucket of the per-bucket rows of service_graph: a number and s, m, h or d.
    ///
    /// Example: --bucket 5m
    #[arg(long, value_name = "WIDTH", default_value = "1h")]
    pub bucket: String,

    /// Start of the window (inclusive), on a request's time (its client span's end, else its
    /// server span's): RFC 3339 or YYYY-MM-DD (UTC). Spans are paired over the whole input.
    ///
    /// Example: --from 2026-11-01
    #[arg(long, value_name = "TIME")]
    pub from: Option<String>,

    /// End of the window (exclusive): RFC 3339 or YYYY-MM-DD (UTC).
    ///
    /// Example: --to 2026-11-08
    #[arg(long, value_name = "TIME")]
    pub to: Option<String>,

    /// Approximate percentiles (t-digest) instead of exact ones.
    #[arg(long)]
    pub approx: bool,

    /// Print nothing on stderr but errors.
    #[arg(short, long)]
    pub quiet: bool,

    #[command(flatten)]
    pub peer: PeerArgs,

    #[command(flatten)]
    pub decode: DecodeArgs,
}

/// How the service graph names callees that answered with no span of their own.
#[derive(Debug, Args)]
pub struct PeerArgs {
    /// The span attributes a virtual callee (a client span's callee with no server span in the
    /// input) is named by, the first the client span carries: by default peer.service, db.name,
    /// db.system, messaging.destination, server.address; also rpc.service, network.peer.address,
    /// faas.invoked_name, and the older or newer names of these (db.namespace, net.peer.name, ...).
    ///
    /// Example: --peer-attributes peer.service,server.address
    #[arg(long, value_delimiter = ',', value_name = "KEY")]
    pub peer_attributes: Vec<String>,
}

/// Whether a period without any record counts against a period-based SLO.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum NoDataArg {
    Good,
    Bad,
}

#[derive(Debug, Args)]
pub struct SloArgs {
    /// Raw OTLP inputs (files, directories, globs, - for stdin), one span store written by
    /// `ingest`, or one output directory of `metrics` (its signals.parquet is evaluated).
    ///
    /// Example: spanlens slo exports/ --slos slos.json --out slo-report
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<String>,

    /// The SLO definitions: Application Signals' CreateServiceLevelObjective input (one object
    /// or an array, in JSON or YAML), or OpenSLO v1 objects (kind SLO, SLI, DataSource; YAML
    /// documents or JSON) whose metric sources have type spanlens. The content tells them apart.
    ///
    /// Example: --slos slos.json, --slos openslo.yaml
    #[arg(long, value_name = "FILE")]
    pub slos: PathBuf,

    #[command(flatten)]
    pub output: OptionalOutputArgs,

    #[command(flatten)]
    pub print: PrintArgs,

    /// The time the SLOs are evaluated at (RFC 3339 or YYYY-MM-DD, UTC): rolling intervals end
    /// here, calendar intervals are the one holding it. Default: the end time of the latest
    /// record, rounded up to a whole minute.
    ///
    /// Example: --at 2026-11-23T00:00:00Z
    #[arg(long, value_name = "TIME")]
    pub at: Option<String>,

    /// How a period without any record counts in a period-based SLO (Application Signals does
    /// not document it; "good" treats it as non-breaching).
    #[arg(long, value_enum, default_value = "good")]
    pub no_data: NoDataArg,

    /// Select the records each SLO reads on a Ballista cluster (`spanlens cluster`), from a span
    /// store (the records derived there) or a `metrics` output on storage every node reads; the
    /// rest of the evaluation runs here.
    #[arg(long, value_name = "df://HOST:PORT", env = "SPANLENS_SCHEDULER")]
    pub scheduler: Option<String>,

    #[command(flatten)]
    pub run: SignalsArgs,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Raw OTLP inputs (files, directories, globs, - for stdin), one span store written by
    /// `ingest`, or one output directory of `metrics`.
    ///
    /// Example: spanlens report exports/ --out weekly
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<String>,

    #[command(flatten)]
    pub output: OutputArgs,

    /// SLO definitions to evaluate at the end of the window (as for `spanlens slo`).
    ///
    /// Example: --slos slos.json
    #[arg(long, value_name = "FILE")]
    pub slos: Option<PathBuf>,

    /// End of the report (RFC 3339 or YYYY-MM-DD, UTC), also the SLOs' evaluation time.
    /// Default: the end time of the latest record, rounded up to a whole minute.
    ///
    /// Example: --at 2026-11-23
    #[arg(long, value_name = "TIME", conflicts_with = "to")]
    pub at: Option<String>,

    /// Length of the window before its end, in days.
    #[arg(long, value_name = "N", default_value_t = 7, conflicts_with = "from")]
    pub days: u32,

    /// Start of the window (inclusive) instead of --days before its end.
    #[arg(long, value_name = "TIME")]
    pub from: Option<String>,

    /// End of the window (exclusive) instead of --at.
    #[arg(long, value_name = "TIME")]
    pub to: Option<String>,

    /// Time bucket of the per-bucket rows and sparklines (s, m, h or d).
    #[arg(long, value_name = "WIDTH", default_value = "1h")]
    pub bucket: String,

    /// How a period without any record counts in a period-based SLO.
    #[arg(long, value_enum, default_value = "good")]
    pub no_data: NoDataArg,

    /// Put each service's and SLO's figures next to those of the window before (as long as
    /// this one, ending where it starts), with the deltas, the top regressions first. The input
    /// must hold that window too.
    ///
    /// Example: spanlens report exports/ --slos slos.json --days 7 --compare-previous
    #[arg(long)]
    pub compare_previous: bool,

    /// Compute the metric tables and select the records each SLO reads on a Ballista cluster
    /// (`spanlens cluster`), over a span store or a metrics output on storage every node reads;
    /// the report is written here. The service map is then drawn from the dependency records,
    /// and the data-quality section is left out.
    #[arg(long, value_name = "df://HOST:PORT", env = "SPANLENS_SCHEDULER")]
    pub scheduler: Option<String>,

    #[command(flatten)]
    pub peer: PeerArgs,

    #[command(flatten)]
    pub run: SignalsArgs,
}

/// The flags of every command that derives metric records from spans (`metrics`, `slo`,
/// `report`): how the inputs are decoded, how records are derived, and the progress output.
#[derive(Debug, Args)]
pub struct SignalsArgs {
    #[command(flatten)]
    pub derive: DeriveArgs,

    /// No progress bar, and no stderr summary unless something was skipped or dropped.
    #[arg(short, long)]
    pub quiet: bool,

    #[command(flatten)]
    pub decode: DecodeArgs,
}

/// How metric records are derived from spans (shared by `metrics`, `slo` and `report`).
#[derive(Debug, Args)]
pub struct DeriveArgs {
    /// Follow this ADOT SDK where the SDKs differ (attribute precedence, fallbacks); default
    /// java.
    #[arg(long, value_enum)]
    pub compat: Option<CompatArg>,

    /// Platform whose Environment rules apply. Default auto: each resource's own, as the agent on
    /// its host would detect it (cloud.platform aws_eks, aws_ecs, aws_ec2, aws_lambda; a
    /// k8s.cluster.name or namespace; an ECS cluster; cloud.provider aws), else generic. Lambda
    /// functions are recognised by resource whatever the platform.
    #[arg(long, value_enum)]
    pub platform: Option<PlatformArg>,

    /// Cluster name for eks/k8s environments when a resource has no k8s.cluster.name.
    #[arg(long, value_name = "NAME")]
    pub cluster: Option<String>,

    /// How spans that say they were probability-sampled count. adjust (the default): each of
    /// their records counts its adjusted count, 1/probability, from the OpenTelemetry threshold
    /// (th in the ot entry of tracestate), the older p value, or a SampleRate attribute; requests,
    /// errors, faults, rates, percentiles and SLO counts estimate the unsampled traffic. ignore:
    /// every record counts once. Spans without a sampling probability always count once.
    #[arg(long, value_enum, value_name = "HOW")]
    pub sampling: Option<SamplingArg>,

    /// Span data held in memory for the derivation beyond this size is spilled to disk,
    /// partitioned by trace id, and the signals are then queried from disk: lower it to use less
    /// memory, raise it to avoid the disk. Units as for --max-decompressed-size.
    ///
    /// Example: --spill-threshold 512MiB
    #[arg(long, value_name = "SIZE", default_value = "1GiB")]
    pub spill_threshold: String,

    /// Directory for spill files (a subdirectory is made and removed there); default: the
    /// system temp directory ($TMPDIR or /tmp). Where /tmp is a tmpfs (memory), give a disk.
    #[arg(long, value_name = "DIR")]
    pub temp_dir: Option<PathBuf>,
}

/// How `sql` prints or writes results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SqlFormatArg {
    /// Aligned columns for people: ids as hex, long values cut with …, at most --max-rows rows.
    Table,
    /// CSV with a header line.
    Csv,
    /// Tab-separated values with a header line.
    Tsv,
    /// A JSON array of objects, one per row.
    Json,
    /// One JSON object per line.
    Ndjson,
    /// A Parquet file (needs --out).
    Parquet,
    /// An Arrow IPC file (needs --out).
    Arrow,
}

#[derive(Debug, Args)]
pub struct SqlArgs {
    /// Raw OTLP inputs (files, directories, globs, - for stdin), one span store written by
    /// `ingest`, or one output directory of `metrics`, `slo` or `report`. None: only --table
    /// files.
    ///
    /// Example: spanlens sql store -e "SELECT count(*) FROM spans"
    #[arg(value_name = "INPUT")]
    pub inputs: Vec<String>,

    /// SQL to run: one statement or several separated by ;. Repeatable; run after the -f
    /// files, in the order given.
    ///
    /// Example: -e "SELECT name, ns_to_ms(duration_ns) AS ms FROM spans ORDER BY ms DESC LIMIT 5"
    #[arg(short = 'e', long = "execute", value_name = "SQL")]
    pub execute: Vec<String>,

    /// A file of SQL statements separated by ;. Repeatable; run in the order given.
    ///
    /// Example: -f queries/slowest.sql
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// Output format: table (default on a terminal), csv (default otherwise), tsv, json,
    /// ndjson, or parquet and arrow (with --out). Binary ids print as lowercase hex in every
    /// text format.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub format: Option<SqlFormatArg>,

    /// Write the results to FILE instead of stdout, atomically once every statement has run;
    /// Parquet and Arrow hold the last statement's result.
    ///
    /// Example: --format parquet --out slow.parquet
    #[arg(short, long, value_name = "FILE")]
    pub out: Option<PathBuf>,

    /// Replace --out if it exists.
    #[arg(long, requires = "out")]
    pub force: bool,

    /// Run statements that define or change tables, write files or set options (CREATE, INSERT,
    /// COPY, SET, ...), which are refused without it.
    #[arg(long)]
    pub allow_write: bool,

    /// A parameter, $NAME in the SQL, bound as a typed literal (never spliced into the text):
    /// an integer, a decimal number, true or false, else text; NAME:TYPE=VALUE forces int,
    /// float, bool or text. Repeatable.
    ///
    /// Example: --param service=frontend --param min_ms=250
    #[arg(long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,

    /// Register a Parquet, CSV, JSON Lines (.json, .jsonl, .ndjson) or Arrow IPC file, or a
    /// directory of them, as table NAME. Repeatable.
    ///
    /// Example: --table deploys=deploys.csv
    #[arg(long = "table", value_name = "NAME=PATH")]
    pub tables: Vec<String>,

    /// Rows shown by the table format (0: all); the count of all rows follows the table.
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub max_rows: usize,

    /// Memory for query operators (sorts, aggregates, joins); beyond it they spill to
    /// --temp-dir. Units as for --max-decompressed-size.
    ///
    /// Example: --memory-limit 512MiB
    #[arg(long, value_name = "SIZE", default_value = "1GiB")]
    pub memory_limit: String,

    /// Run the statements on a Ballista cluster (`spanlens cluster`) over a span store or a
    /// `metrics` output on storage every node reads; the results come back here.
    #[arg(long, value_name = "df://HOST:PORT", env = "SPANLENS_SCHEDULER")]
    pub scheduler: Option<String>,

    /// Partitions each stage of a query is split into (default: the threads here). On a
    /// cluster, its task slots (executors × concurrent tasks) use it fully.
    #[arg(long, value_name = "N")]
    pub partitions: Option<usize>,

    /// Bucket width of the metric tables computed on demand (default 1h), as for `metrics`.
    #[arg(long, value_name = "WIDTH")]
    pub bucket: Option<String>,

    /// Start of the metric tables' window (inclusive, on record end time), as for `metrics`.
    #[arg(long, value_name = "TIME")]
    pub from: Option<String>,

    /// End of the metric tables' window (exclusive), as for `metrics`.
    #[arg(long, value_name = "TIME")]
    pub to: Option<String>,

    /// Approximate (t-digest) percentiles in the metric tables and latency_percentiles.
    #[arg(long)]
    pub approx: bool,

    /// SLO definitions (as for `spanlens slo`): the SLO tables (slos, slo_periods,
    /// slo_burn_rates, slo_burn_series, slo_alerts, slo_records) are then computed on demand.
    ///
    /// Example: --slos slos.json
    #[arg(long, value_name = "FILE")]
    pub slos: Option<PathBuf>,

    /// The SLOs' evaluation time (default: the end of the latest record, rounded up to a minute).
    #[arg(long, value_name = "TIME", requires = "slos")]
    pub at: Option<String>,

    /// How a period without any record counts in a period-based SLO.
    #[arg(long, value_enum, default_value = "good")]
    pub no_data: NoDataArg,

    #[command(flatten)]
    pub peer: PeerArgs,

    #[command(flatten)]
    pub run: SignalsArgs,
}

#[cfg(feature = "cluster")]
#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Run a Ballista scheduler: it plans the jobs clients submit and hands their tasks to the
    /// executors. Prints `spanlens cluster scheduler listening on HOST:PORT` on stderr once it
    /// listens; `GET http://HOST:PORT/readyz` says how many executors joined.
    ///
    /// Example: spanlens cluster scheduler --bind 127.0.0.1:50050
    Scheduler(SchedulerArgs),

    /// Run a Ballista executor: it joins a scheduler, runs tasks and serves their results to
    /// other executors and clients over Arrow Flight (its --bind port; its gRPC service takes
    /// the next port).
    ///
    /// Example: spanlens cluster executor --scheduler 127.0.0.1:50050 --bind 127.0.0.1:0
    Executor(ExecutorArgs),
}

#[cfg(feature = "cluster")]
#[derive(Debug, Args)]
pub struct SchedulerArgs {
    /// Address to listen on (gRPC, and HTTP for /healthz and /readyz); port 0 picks a free port.
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:50050")]
    pub bind: String,

    /// Host name executors and clients reach the scheduler by, when not the bound address.
    #[arg(long, value_name = "HOST")]
    pub external_host: Option<String>,

    /// An executor silent for this long is lost and its tasks run again on others.
    #[arg(long, value_name = "DURATION", default_value = "30s")]
    pub executor_timeout: String,

    /// Serve results to clients through the scheduler's port (an Arrow Flight proxy), for
    /// clients that cannot reach the executors (outside a Kubernetes cluster, say).
    #[arg(long)]
    pub flight_proxy: bool,
}

#[cfg(feature = "cluster")]
#[derive(Debug, Args)]
pub struct ExecutorArgs {
    /// The scheduler to join.
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:50050", env = "SPANLENS_SCHEDULER")]
    pub scheduler: String,

    /// Address of the Arrow Flight service (the gRPC service takes the next port); port 0 picks
    /// free ports, so several executors can share a host.
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:50051")]
    pub bind: String,

    /// Host name the scheduler, other executors and clients reach this executor by, when not the
    /// bound address.
    #[arg(long, value_name = "HOST")]
    pub external_host: Option<String>,

    /// Tasks run at once (default: one per core).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub concurrent_tasks: usize,

    /// Directory for shuffle files (default: a temporary directory).
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<PathBuf>,

    /// Memory the tasks share before they spill, e.g. 8GiB (default: 70 % of the machine's).
    #[arg(long, value_name = "SIZE")]
    pub memory_limit: Option<String>,

    /// How often the executor tells the scheduler it is alive; keep it well below the
    /// scheduler's --executor-timeout.
    #[arg(long, value_name = "DURATION", default_value = "5s")]
    pub heartbeat: String,

    /// How long to wait for the scheduler to accept connections before exiting (with code 2).
    #[arg(long, value_name = "DURATION", default_value = "30s")]
    pub connect_timeout: String,
}

#[derive(Debug, Subcommand)]
pub enum QueriesCommand {
    /// List the queries with a one-line description.
    List,
    /// Print the SQL of one query.
    ///
    /// Example: spanlens queries show dependency_metrics
    Show {
        /// Query name, as `spanlens queries list` prints it.
        name: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FormatArg {
    Json,
    Jsonl,
    Proto,
    ProtoStream,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CompressArg {
    None,
    Gzip,
    Zstd,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LayoutArg {
    Files,
    S3exporter,
}

#[derive(Debug, Args)]
pub struct GenArgs {
    #[command(flatten)]
    pub output: OutputArgs,

    /// About this many spans (whole traces; default 100000 when --traces is not given).
    #[arg(long, value_name = "N", conflicts_with = "traces")]
    pub spans: Option<u64>,

    /// Exactly this many traces.
    #[arg(long, value_name = "N")]
    pub traces: Option<u64>,

    /// Seed: the same seed and flags give byte-identical files.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,

    /// Keep each trace with this probability, as OpenTelemetry's consistent probability sampler
    /// does (kept when the trace id's last 56 bits reach the rejection threshold), and write the
    /// threshold on every kept span's tracestate (`ot=th:c` for 0.25). --spans and --traces count
    /// before sampling, so the kept traces are a subset of the unsampled run's.
    ///
    /// Example: --sample 0.1
    #[arg(long, value_name = "RATIO")]
    pub sample: Option<f64>,

    /// Start of the time range (RFC 3339 or YYYY-MM-DD, UTC).
    #[arg(long, value_name = "TIME", default_value = "2026-11-16")]
    pub from: String,

    /// End of the time range (exclusive).
    #[arg(long, value_name = "TIME", default_value = "2026-11-23")]
    pub to: String,

    /// Encoding: one JSON document per file, JSON Lines, one protobuf message per file, or
    /// length-prefixed protobuf messages (the fileexporter's proto format).
    #[arg(long, value_enum, default_value = "jsonl")]
    pub format: FormatArg,

    /// Whole-file compression.
    #[arg(long, value_enum, default_value = "none")]
    pub compress: CompressArg,

    /// Plain numbered files, or the awss3exporter's year=/month=/day=/hour=/minute= keys.
    #[arg(long, value_enum, default_value = "files")]
    pub layout: LayoutArg,

    /// Traces per OTLP document (one exporter batch).
    #[arg(long, value_name = "N", default_value_t = 200)]
    pub traces_per_document: usize,

    /// Documents per file for jsonl and proto-stream in the files layout.
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub documents_per_file: usize,

    /// No summary on stderr.
    #[arg(short, long)]
    pub quiet: bool,
}

/// Where a command writes (shared by every command that writes a directory).
#[derive(Debug, Args)]
pub struct OutputArgs {
    /// Output directory, built aside and swapped in only when the run succeeds, or
    /// s3://bucket/prefix.
    ///
    /// Example: --out ./store
    #[arg(short, long, value_name = "DIR")]
    pub out: PathBuf,

    /// Replace the output if the directory is not empty or the prefix holds objects. The old
    /// directory stays in place until the new output is complete.
    ///
    /// Example: spanlens ingest exports/ --out store --force
    #[arg(long)]
    pub force: bool,
}

/// Where a command that prints its result may also write it.
#[derive(Debug, Args)]
pub struct OptionalOutputArgs {
    /// Output directory for the tables as Parquet (with run_info.parquet), built aside and
    /// swapped in only when the run succeeds, or s3://bucket/prefix (uploaded when the run
    /// succeeds, the manifest _SPANLENS_MANIFEST.json last). Without it nothing is written:
    /// the table is printed.
    ///
    /// Example: --out ./metrics
    #[arg(short, long, value_name = "DIR")]
    pub out: Option<PathBuf>,

    /// Replace the output if the directory is not empty or the prefix holds objects. The old
    /// directory stays in place until the new output is complete; on S3, keys the new output
    /// does not have are deleted after its manifest is written.
    #[arg(long, requires = "out")]
    pub force: bool,
}

/// How the printed table is formatted.
#[derive(Debug, Args)]
pub struct PrintArgs {
    /// Format of the table printed on stdout: aligned text, or CSV or JSON for scripts.
    ///
    /// Example: --format csv
    #[arg(long, value_enum, value_name = "FORMAT", default_value = "table")]
    pub format: PrintFormatArg,
}
