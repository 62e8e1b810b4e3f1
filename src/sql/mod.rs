//! The SQL session of `spanlens sql`: one [`Engine`] (a DataFusion session with a bounded memory
//! pool that spills, spanlens's functions, read-only unless asked otherwise, parameters bound as
//! typed literals) that runs scripts statement by statement, and the [`OnDemand`] tables a
//! statement makes computed only when it names them. Registering the inputs is [`tables`]'s;
//! printing results [`output`]'s; the interactive loop [`shell`]'s. This module knows nothing of
//! where tables come from: the command that builds an engine says.

pub mod functions;
pub mod output;
pub mod shell;
pub mod split;
pub mod tables;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use datafusion::common::{DataFusionError, ParamValues, ScalarValue, TableReference};
use datafusion::dataframe::DataFrame;
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::memory_pool::GreedyMemoryPool;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::{SQLOptions, SessionConfig, SessionContext};
use datafusion::sql::parser::{DFParserBuilder, Statement};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::ParserError;

use crate::error::{Error, Result};

/// A `--param` value, typed as given or as it reads.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    Int(i64),
    Float(f64),
    Bool(bool),
    Text(String),
}

impl Param {
    /// `text` as the type it reads as: an integer, a decimal number, `true`/`false`, else text.
    pub fn infer(text: &str) -> Param {
        if let Ok(i) = text.parse::<i64>() {
            return Param::Int(i);
        }
        let numeric = text.bytes().any(|b| b.is_ascii_digit())
            && !text.contains(|c: char| c.is_alphabetic() && c != 'e' && c != 'E');
        if numeric && let Ok(f) = text.parse::<f64>() {
            return Param::Float(f);
        }
        match text.to_ascii_lowercase().as_str() {
            "true" => Param::Bool(true),
            "false" => Param::Bool(false),
            _ => Param::Text(text.to_string()),
        }
    }

    /// `text` as the type named (`int`, `float`, `bool`, `text`).
    pub fn typed(ty: &str, text: &str) -> std::result::Result<Param, String> {
        let bad = |what: &str| format!("{text:?} is not {what}");
        match ty.to_ascii_lowercase().as_str() {
            "int" | "bigint" | "integer" => text.parse().map(Param::Int).map_err(|_| bad("an integer")),
            "float" | "double" => text.parse().map(Param::Float).map_err(|_| bad("a number")),
            "bool" | "boolean" => match text.to_ascii_lowercase().as_str() {
                "true" => Ok(Param::Bool(true)),
                "false" => Ok(Param::Bool(false)),
                _ => Err(bad("true or false")),
            },
            "text" | "string" | "varchar" => Ok(Param::Text(text.to_string())),
            other => Err(format!("unknown type {other:?} (int, float, bool or text)")),
        }
    }

    fn scalar(&self) -> ScalarValue {
        match self {
            Param::Int(i) => ScalarValue::Int64(Some(*i)),
            Param::Float(f) => ScalarValue::Float64(Some(*f)),
            Param::Bool(b) => ScalarValue::Boolean(Some(*b)),
            Param::Text(s) => ScalarValue::Utf8(Some(s.clone())),
        }
    }
}

/// How an engine runs statements.
#[derive(Debug, Clone, Default)]
pub struct EngineOptions {
    /// The memory pool's size in bytes; operators beyond it spill to disk (sorts, aggregates,
    /// joins that can).
    pub memory_limit: usize,
    /// Where spill files go; the system's temporary directory when `None`.
    pub temp_dir: Option<PathBuf>,
    /// Run statements that define tables, change data, write files or set options.
    pub allow_write: bool,
    /// Named parameters, `$name` in the SQL.
    pub params: Vec<(String, Param)>,
    /// `latency_percentiles` estimates from a t-digest instead of exact values.
    pub approx: bool,
    /// The scheduler of a Ballista cluster that runs the statements, if not this process.
    pub scheduler: Option<crate::cluster::Address>,
    /// Partitions per query stage; the threads here when `None`.
    pub partitions: Option<usize>,
    /// How `s3://` locations are reached, to plan over them on a cluster.
    pub s3: crate::s3::S3Options,
}

/// Tables made only when a statement names them (the derived signals, the metric tables, the
/// views of the embedded queries).
pub trait OnDemand {
    /// The names it can make, with a line saying what each is, in the order `\d` lists them.
    fn names(&self) -> Vec<(String, String)>;
    /// Register `name` (one of [`OnDemand::names`]) in the engine's context, and whatever it
    /// reads.
    fn provide(&mut self, engine: &Engine, name: &str) -> Result<()>;
}

/// No table made on demand.
pub struct Nothing;

impl OnDemand for Nothing {
    fn names(&self) -> Vec<(String, String)> {
        Vec::new()
    }
    fn provide(&mut self, _engine: &Engine, name: &str) -> Result<()> {
        Err(Error::Config(format!("no table {name}")))
    }
}

/// Some SQL text and what to call it in messages (`-e #2`, a file name, `stdin`).
#[derive(Debug, Clone)]
pub struct Script {
    pub name: String,
    pub text: String,
}

/// One parsed statement and where it came from.
#[derive(Debug, Clone)]
pub struct Parsed {
    /// `NAME, statement N (line L, column C)`: what messages call it.
    pub label: String,
    pub statement: Statement,
}

/// A DataFusion session set up for `spanlens sql`, and the runtime its queries run on.
pub struct Engine {
    pub ctx: SessionContext,
    pub runtime: tokio::runtime::Runtime,
    checks: SQLOptions,
    params: ParamValues,
    /// Names already made by the on-demand tables.
    provided: std::cell::RefCell<std::collections::HashSet<String>>,
}

impl Engine {
    pub fn new(opts: &EngineOptions) -> Result<Engine> {
        let threads = rayon::current_num_threads().max(1);
        let mut disk = DiskManagerBuilder::default();
        if let Some(dir) = &opts.temp_dir {
            disk = disk.with_mode(DiskManagerMode::Directories(vec![dir.clone()]));
        }
        // A greedy pool: a fair one splits the pool between the operators that can spill and
        // leaves those that cannot (partial and final aggregates of COUNT(DISTINCT ...)) too
        // little, so that `count(DISTINCT trace_id) ... GROUP BY service_name` over 10 M spans
        // fails at 1 GiB; with this pool it completes in 0.65 GB.
        let env = RuntimeEnvBuilder::new()
            .with_memory_pool(Arc::new(GreedyMemoryPool::new(opts.memory_limit)))
            .with_disk_manager_builder(disk)
            .build_arc()?;
        let partitions = opts.partitions.unwrap_or(threads);
        let mut config = SessionConfig::new().with_target_partitions(partitions).with_information_schema(true);
        // A sort sets aside this much to merge what it spilled: a tenth of the pool at most, so
        // that small limits still leave room to sort.
        let reserve = (opts.memory_limit / 10).min(10 << 20);
        config.options_mut().execution.sort_spill_reservation_bytes = reserve;
        // Spans in planning errors, so that an unknown column is reported with its line and column.
        config.options_mut().sql_parser.collect_spans = true;
        // Text as Utf8, not Utf8View, as a Ballista cluster reads and returns it: a statement
        // gives the same bytes (Parquet and Arrow outputs name the types) wherever it runs.
        set_view_types(&mut config, false);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
            .map_err(|e| Error::Config(format!("cannot start the query runtime: {e}")))?;
        let ctx = match &opts.scheduler {
            None => {
                let ctx = SessionContext::new_with_config_rt(config, env);
                functions::register(&ctx);
                crate::queries::register_functions(&ctx, opts.approx);
                ctx
            }
            Some(scheduler) => remote(&runtime, scheduler, config, &opts.s3)?,
        };
        let checks = SQLOptions::new()
            .with_allow_ddl(opts.allow_write)
            .with_allow_dml(opts.allow_write)
            .with_allow_statements(opts.allow_write);
        let params: HashMap<String, ScalarValue> =
            opts.params.iter().map(|(name, value)| (name.clone(), value.scalar())).collect();
        let params = ParamValues::Map(params.into_iter().map(|(k, v)| (k, v.into())).collect());
        Ok(Engine { ctx, runtime, checks, params, provided: Default::default() })
    }

    /// Stop the runtime without waiting for its tasks: a query cancelled in the shell may still
    /// be finishing one step of work, which the process need not wait for when it ends.
    pub fn shutdown(self) {
        self.runtime.shutdown_background();
    }

    /// A session sharing this engine's memory pool, spill directory and configuration, for
    /// work whose tables are then registered here (the derivation of signals).
    pub fn side_session(&self) -> SessionContext {
        // With DataFusion's types, as `metrics` computes them.
        let mut config = self.ctx.copied_config();
        set_view_types(&mut config, true);
        let ctx = SessionContext::new_with_config_rt(config, self.ctx.runtime_env());
        crate::queries::register_functions(&ctx, false);
        ctx
    }

    /// The statements of `script`, parsed; an error names the statement and the place.
    pub fn parse(&self, script: &Script) -> Result<Vec<Parsed>> {
        let pieces = split::split(&script.text).map_err(|e| {
            Error::Sql(format!("{} (line {}, column {}): {}", script.name, e.line, e.column, e.message))
        })?;
        let recursion_limit = self.ctx.copied_config().options().sql_parser.recursion_limit.get();
        let mut out = Vec::with_capacity(pieces.len());
        for (i, piece) in pieces.iter().enumerate() {
            let label = format!("{}, statement {} (line {}, column {})", script.name, i + 1, piece.line, piece.column);
            let text = piece.positioned();
            let parsed = DFParserBuilder::new(text.as_str())
                .with_dialect(&GenericDialect {})
                .with_recursion_limit(recursion_limit)
                .build()
                .and_then(|mut p| p.parse_statements());
            let mut statements = parsed.map_err(|e| sql_error(&label, e))?;
            match (statements.pop_front(), statements.is_empty()) {
                (Some(statement), true) => out.push(Parsed { label, statement }),
                _ => return Err(Error::Sql(format!("{label}: not one statement"))),
            }
        }
        Ok(out)
    }

    /// Make the on-demand tables `parsed` names that are not made yet.
    pub fn prepare(&self, parsed: &Parsed, on_demand: &mut dyn OnDemand) -> Result<()> {
        let refs =
            self.ctx.state().resolve_table_references(&parsed.statement).map_err(|e| sql_error(&parsed.label, e))?;
        let names: Vec<String> = refs
            .iter()
            .filter_map(|r| match r {
                TableReference::Bare { table } => Some(table.to_string()),
                _ => None,
            })
            .collect();
        for name in names {
            self.make(&name, on_demand)?;
        }
        Ok(())
    }

    /// Make the on-demand table `name` if it is one and is not made yet; whether it is one.
    pub fn make(&self, name: &str, on_demand: &mut dyn OnDemand) -> Result<bool> {
        if !on_demand.names().iter().any(|(n, _)| n == name) {
            return Ok(false);
        }
        if self.provided.borrow().contains(name) {
            return Ok(true);
        }
        // A table of that name registered since (with --allow-write) is the one used.
        if self.ctx.table_exist(name)? {
            return Ok(true);
        }
        on_demand.provide(self, name)?;
        self.provided.borrow_mut().insert(name.to_string());
        Ok(true)
    }

    /// Plan `parsed` (refusing what writes unless allowed), bind the parameters and start it.
    pub async fn run(&self, parsed: &Parsed) -> Result<DataFrame> {
        let label = &parsed.label;
        let state = self.ctx.state();
        let plan = state.statement_to_plan(parsed.statement.clone()).await.map_err(|e| sql_error(label, e))?;
        if let Err(e) = self.checks.verify_plan(&plan) {
            return Err(Error::Sql(format!(
                "{label}: refused: {}; spanlens sql only reads unless --allow-write is given (DDL, DML, COPY \
                 and SET can define or change tables and write files)",
                strip_kind(&e)
            )));
        }
        let plan = bind(plan, &self.params).map_err(|e| sql_error(label, e))?;
        self.ctx.execute_logical_plan(plan).await.map_err(|e| sql_error(label, e))
    }
}

/// Whether Parquet text columns read as Utf8View and SQL's VARCHAR means it (DataFusion's
/// default), or Utf8 (Ballista's).
fn set_view_types(config: &mut SessionConfig, on: bool) {
    let options = config.options_mut();
    options.execution.parquet.schema_force_view_types = on;
    options.sql_parser.map_string_types_to_utf8view = on;
}

/// A session on the cluster whose scheduler is at `scheduler`, with every function spanlens's
/// SQL calls (`sql` and `slo` open theirs here); `s3://` locations are reached as `s3`
/// says, to plan over them (the nodes read them with their own configuration).
#[cfg(feature = "cluster")]
pub fn remote(
    runtime: &tokio::runtime::Runtime,
    scheduler: &crate::cluster::Address,
    config: SessionConfig,
    s3: &crate::s3::S3Options,
) -> Result<SessionContext> {
    runtime.block_on(async {
        let objects = Arc::new(crate::s3::objects::S3Stores::new(s3));
        let env = RuntimeEnvBuilder::new().with_object_store_registry(objects).build_arc()?;
        crate::cluster::client::connect(scheduler, config, env, &functions::all()).await
    })
}

#[cfg(not(feature = "cluster"))]
pub fn remote(
    _runtime: &tokio::runtime::Runtime,
    _scheduler: &crate::cluster::Address,
    _config: SessionConfig,
    _s3: &crate::s3::S3Options,
) -> Result<SessionContext> {
    Err(Error::Config("--scheduler: this spanlens was built without the cluster feature".into()))
}

/// How results are printed.
#[derive(Debug, Clone, Copy)]
pub struct Printer {
    pub format: output::Format,
    pub style: output::TableStyle,
}

/// `e` as the error of the statement `label`.
fn in_statement(label: &str, e: Error) -> Error {
    match e {
        Error::Query(e) => sql_error(label, e),
        Error::Arrow(e) => Error::Sql(format!("{label}: {e}")),
        e => e,
    }
}

impl Engine {
    /// Run `parsed` and print its rows into `sink` in the printer's text format; the row count.
    pub async fn print(&self, parsed: &Parsed, printer: &Printer, sink: &mut dyn output::Sink) -> Result<u64> {
        let df = self.run(parsed).await?;
        let stream = df.execute_stream().await.map_err(|e| sql_error(&parsed.label, e))?;
        output::write_text(stream, printer.format, printer.style, sink)
            .await
            .map_err(|e| in_statement(&parsed.label, e))
    }

    /// Run `parsed` and write its rows to `path` as Parquet or Arrow IPC; the row count.
    pub async fn write(&self, parsed: &Parsed, format: output::Format, path: &std::path::Path) -> Result<u64> {
        let df = self.run(parsed).await?;
        let stream = df.execute_stream().await.map_err(|e| sql_error(&parsed.label, e))?;
        output::write_file(stream, format, path).await.map_err(|e| in_statement(&parsed.label, e))
    }
}

/// `plan` with its `$name` placeholders replaced by the parameters' literals (typed values, never
/// text spliced into SQL); a placeholder without a parameter is an error.
fn bind(plan: LogicalPlan, params: &ParamValues) -> datafusion::common::Result<LogicalPlan> {
    plan.with_param_values(params.clone())
}

/// A DataFusion error's message without the kind prefixes and backtraces it carries.
fn strip_kind(e: &DataFusionError) -> String {
    match e.find_root() {
        DataFusionError::SQL(e, _) => match e.as_ref() {
            ParserError::ParserError(m) | ParserError::TokenizerError(m) => m.clone(),
            other => other.to_string(),
        },
        DataFusionError::Plan(m) | DataFusionError::Execution(m) | DataFusionError::NotImplemented(m) => m.clone(),
        DataFusionError::SchemaError(e, _) => e.to_string(),
        root => root.strip_backtrace(),
    }
}

/// The error of the statement `label` as one message: where (the place DataFusion points at,
/// when it knows it) and why.
pub fn sql_error(label: &str, e: DataFusionError) -> Error {
    let mut message = strip_kind(&e);
    // An unknown column's message lists every column of the input after a line break: the first
    // line (with its "Did you mean") is the message; `\d NAME` lists the columns.
    if let Some((first, _)) = message.split_once("\nValid fields are") {
        message = first.to_string();
    }
    let mut message = message.replace('\n', " ");
    if matches!(e.find_root(), DataFusionError::ResourcesExhausted(_)) {
        message.push_str(" (give a larger --memory-limit)");
    }
    let at =
        e.diagnostic().and_then(|d| d.span).map(|s| format!(" at line {}, column {}", s.start.line, s.start.column));
    Error::Sql(format!("{label}{}: {message}", at.unwrap_or_default()))
}
