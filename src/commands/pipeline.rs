//! The steps `metrics`, `slo`, `report` and `demo` share: a query session, the `signals` table
//! loaded from whatever the input is (raw OTLP, a span store, a `metrics` output, either of
//! them on S3), and the output tables written with `run_info`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::RecordBatch;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::object_store::ObjectStore;
use datafusion::object_store::path::Path as ObjectPath;
use datafusion::prelude::SessionContext;
use futures::{StreamExt, TryStreamExt};

use crate::error::{Error, Result};
use crate::graph;
use crate::ingest::files::{self, Input};
use crate::ingest::read::decode_into;
use crate::ingest::{DecodeOptions, SourceStats};
use crate::metrics;
use crate::model::table::Table;
use crate::outcome::{Origin, SignalsInput};
use crate::output::{OUTPUT_ZSTD_LEVEL, Output, with_key_values, write_parquet, writer_properties};
use crate::report::run_info::run_info_schema;
use crate::s3::list::ListStats;
use crate::s3::manifest::{self, Found};
use crate::s3::read::S3Source;
use crate::s3::write::UploadStats;
use crate::s3::{S3Location, S3Options, fetch};
use crate::signals;
use crate::slo;
use crate::spill::{SCRATCH_PREFIX, SpanSpool, SpillOptions, scratch_dir};
use crate::store::{self, PARTITION_COLUMN, RUN_INFO_FILE, SPANS_DIR};
use crate::util::Phases;

/// The inputs a run reads: as given, or, when they are one `s3://` prefix holding a spanlens
/// output (a span store, or the output of `metrics`, `slo` or `report`, known by its
/// manifest), a local copy of that output, in a scratch directory removed when this is
/// dropped. A prefix holding Parquet but no manifest is refused as an incomplete output.
pub struct Inputs {
    names: Vec<String>,
    copy: Option<(tempfile::TempDir, Origin)>,
    remote: Option<Remote>,
}

/// A spanlens output on S3 that a cluster reads where it is ([`Inputs::for_cluster`]).
pub struct Remote {
    pub at: S3Location,
    pub manifest: manifest::Manifest,
}

impl Remote {
    /// `s3://bucket`, the object store the output is in.
    fn store(&self) -> String {
        format!("s3://{}", self.at.bucket)
    }

    /// The manifest's objects whose keys start with `prefix`, and their bytes.
    fn bytes_under(&self, prefix: &str) -> (usize, u64) {
        let under = self.manifest.objects.iter().filter(|o| o.key.starts_with(prefix));
        under.fold((0, 0), |(n, bytes), o| (n + 1, bytes + o.size))
    }

    /// A metrics output: its signals table is in the manifest.
    fn signals_key(&self) -> Option<String> {
        let name = format!("{}.parquet", signals::TABLE);
        self.manifest.objects.iter().any(|o| o.key == name).then(|| self.at.key(&name))
    }

    /// The tables of the output, by name, with their locations: each top-level Parquet
    /// object (`run_info` among them) and, for a span store, `spans` (the span files'
    /// prefix), in name order.
    pub fn tables(&self) -> Vec<(String, String)> {
        let mut tables: Vec<(String, String)> = Vec::new();
        for object in &self.manifest.objects {
            let name = match object.key.split_once('/') {
                Some((dir, _)) if dir == SPANS_DIR => SPANS_DIR,
                Some(_) => continue,
                None => match object.key.strip_suffix(".parquet") {
                    Some(name) if crate::sql::tables::is_identifier(name) => name,
                    _ => continue,
                },
            };
            if tables.iter().any(|(t, _)| t == name) {
                continue;
            }
            let key = match name == SPANS_DIR {
                true => format!("{SPANS_DIR}/"),
                false => object.key.clone(),
            };
            tables.push((name.to_string(), self.at.url(&self.at.key(&key))));
        }
        tables.sort();
        tables
    }

    /// A span store: its `run_info` and span files, or, when its inputs held no valid span
    /// (it then has no `spans/` object), written by `ingest`.
    pub fn is_store(&self) -> bool {
        let spans = format!("{SPANS_DIR}/");
        let has = |key: &str| self.manifest.objects.iter().any(|o| o.key == key);
        let ingest = self.manifest.command.split_whitespace().any(|word| word == "ingest");
        has(RUN_INFO_FILE)
            && self.signals_key().is_none()
            && (self.manifest.objects.iter().any(|o| o.key.starts_with(&spans)) || ingest)
    }
}

impl Inputs {
    /// Resolve `inputs`; a span store on S3 is downloaded only in the date partitions that can
    /// hold records ending in `window`.
    pub fn resolve(
        inputs: &[String],
        s3: &S3Options,
        temp_dir: Option<&Path>,
        window: (Option<i64>, Option<i64>),
    ) -> Result<Self> {
        let Some((at, source, manifest)) = s3_output(inputs, s3)? else { return Ok(Self::as_given(inputs)) };
        let dir = scratch_dir(SCRATCH_PREFIX, temp_dir)?;
        let (first, last) = store::window_dates(window.0, window.1);
        let partitions = format!("{SPANS_DIR}/{PARTITION_COLUMN}=");
        let keep = |key: &str| match key.strip_prefix(&partitions).and_then(|rest| rest.split('/').next()) {
            Some(date) if date.len() == first.len() => (first.as_str()..=last.as_str()).contains(&date),
            _ => true,
        };
        fetch::download(&source, &at, &manifest, dir.path(), keep)?;
        let origin = Origin { local: dir.path().to_path_buf(), url: at.to_string() };
        Ok(Inputs { names: vec![dir.path().display().to_string()], copy: Some((dir, origin)), remote: None })
    }

    /// Resolve `inputs` for a cluster, whose nodes read an output on S3 where it is: one
    /// `s3://` prefix holding a spanlens output (known by its manifest) is not downloaded.
    pub fn for_cluster(inputs: &[String], s3: &S3Options) -> Result<Self> {
        let Some((at, _, manifest)) = s3_output(inputs, s3)? else { return Ok(Self::as_given(inputs)) };
        Ok(Inputs { names: vec![at.to_string()], copy: None, remote: Some(Remote { at, manifest }) })
    }

    fn as_given(inputs: &[String]) -> Self {
        Inputs { names: inputs.to_vec(), copy: None, remote: None }
    }

    /// The inputs to read.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The output on S3 the inputs are a copy of, if they are.
    pub fn origin(&self) -> Option<&Origin> {
        self.copy.as_ref().map(|(_, origin)| origin)
    }

    /// The output on S3 the inputs are, when it is read where it is.
    pub fn remote(&self) -> Option<&Remote> {
        self.remote.as_ref()
    }
}

/// The one `s3://` prefix (not a pattern) among `inputs` when it holds a spanlens output (known
/// by its manifest): its location, a source to fetch it with, its manifest; `None` otherwise.
fn s3_output(inputs: &[String], s3: &S3Options) -> Result<Option<(S3Location, Arc<S3Source>, manifest::Manifest)>> {
    let [only] = inputs else { return Ok(None) };
    let Some(at) = S3Location::parse(only) else { return Ok(None) };
    if only.contains(['*', '?', '[']) {
        return Ok(None);
    }
    let at = at?;
    let source = S3Source::new(s3)?;
    match manifest::find(&source, &at)? {
        Found::Output(manifest) => Ok(Some((at, source, manifest))),
        Found::NotAnOutput => Ok(None),
    }
}

/// Refuse a signals file (`shown`) that holds fewer kinds of records than the run needs.
fn require_records(shown: &str, held: signals::RecordKinds, needed: signals::RecordKinds) -> Result<()> {
    match held.covers(needed) {
        true => Ok(()),
        false => Err(Error::Config(format!(
            "{shown} holds only {} records (it was written for fewer tables), but this run needs {} records",
            held.text(),
            needed.text()
        ))),
    }
}

/// The inputs of a run and, with a `scheduler`, the session on its cluster: an output on S3
/// is then read where it is ([`Inputs::for_cluster`]), else copied here ([`Inputs::resolve`]).
pub fn inputs_and_cluster(
    runtime: &tokio::runtime::Runtime,
    inputs: &[String],
    s3: &S3Options,
    temp_dir: Option<&Path>,
    window: (Option<i64>, Option<i64>),
    scheduler: Option<&crate::cluster::Address>,
) -> Result<(Inputs, Option<SessionContext>)> {
    let Some(scheduler) = scheduler else { return Ok((Inputs::resolve(inputs, s3, temp_dir, window)?, None)) };
    let inputs = Inputs::for_cluster(inputs, s3)?;
    let cluster = cluster_session_with(runtime, scheduler, cluster_partitions(&inputs)?, s3)?;
    Ok((inputs, Some(cluster)))
}

/// What a run derives its signals from, and how.
pub struct SignalsRequest<'a> {
    pub inputs: &'a [String],
    /// Inputs in memory, read after the named ones (`demo`'s generated week).
    pub memory: &'a [Input],
    pub decode: &'a DecodeOptions,
    pub quiet: bool,
    pub signals: &'a signals::SignalOptions,
    pub spill: &'a SpillOptions,
    /// Record end times the run reads, when known: a span store is read only in the date
    /// partitions that can hold them.
    pub window: (Option<i64>, Option<i64>),
    /// The metric queries will run: a signals file is then queried with one partition, which
    /// bounds the memory of their exact percentiles (the SLO queries alone run faster on all).
    pub metric_queries: bool,
    /// The kinds of records the run reads: a signals file that lacks one is refused.
    pub needs: signals::RecordKinds,
    /// The output on S3 the inputs are a local copy of, if they are (see [`Inputs`]).
    pub origin: Option<&'a Origin>,
    /// The service graph is computed too: decoded spans keep the columns the pairing reads, in
    /// a spool of their own ([`graph::spool`]) that [`load_signals`] returns. A span store is
    /// read for the graph when it is computed.
    pub graph: bool,
}

/// The span store directory among `inputs`: a single directory holding `spans/` and
/// `run_info.parquet`, as `ingest` writes it.
pub(crate) fn span_store(inputs: &[String]) -> Option<PathBuf> {
    let [only] = inputs else { return None };
    let dir = Path::new(only);
    (dir.join(crate::store::SPANS_DIR).is_dir() && dir.join(RUN_INFO_FILE).is_file()).then(|| dir.to_path_buf())
}

/// What [`spool_inputs`] read.
struct Spooled {
    /// The spans for the derivation.
    spool: SpanSpool,
    /// The decoded spans' graph columns, when the graph is computed from decoded inputs.
    graph: Option<SpanSpool>,
    sources: Vec<SourceStats>,
    /// The span store read, if the input was one.
    store: Option<PathBuf>,
    s3: ListStats,
}

/// The spans a derivation reads, put in a spool: decoded from raw inputs (only the columns and
/// attribute keys the rules read), or read from a span store in the date partitions that can
/// hold records of the `[from, to)` window. Returns the spool, the decoded inputs' stats and the
/// store read, if the input was one.
fn spool_inputs(ctx: &SessionContext, runtime: &tokio::runtime::Runtime, req: &SignalsRequest) -> Result<Spooled> {
    if let Some(dir) = span_store(req.inputs) {
        // Registered for the queries that read the store's spans (the graph, `sql`); the
        // derivation reads its columns straight from the files.
        let columns = runtime.block_on(async {
            metrics::register_store(ctx, &dir, req.window.0, req.window.1).await?;
            metrics::derivation_columns().await
        })?;
        let mut spool = SpanSpool::new(req.spill.clone());
        metrics::spool_store(&dir, req.window, &columns, &mut spool, req.signals.records)?;
        return Ok(Spooled { spool, graph: None, sources: Vec::new(), store: Some(dir), s3: ListStats::default() });
    }
    // With the graph, the columns of both; each decoded batch is then split in two.
    let derivation = runtime.block_on(metrics::derivation_columns())?;
    let graph_columns = match req.graph {
        true => runtime.block_on(graph::graph_columns())?,
        false => Vec::new(),
    };
    let mut decoded = derivation.clone();
    decoded.extend(graph_columns.iter().filter(|c| !derivation.contains(c)));
    let position = |columns: &[usize]| -> Vec<usize> {
        columns.iter().map(|c| decoded.iter().position(|d| d == c).expect("a decoded column")).collect()
    };
    let (to_spool, to_graph) = (position(&derivation), position(&graph_columns));
    let decode = DecodeOptions {
        projection: Some(decoded.clone().into()),
        attribute_keys: Some(signals::rule_keys(req.signals.records)),
        // The derivation reads each resource once, and attribute keys by index.
        compact_maps: true,
        ..req.decode.clone()
    };
    // s3:// inputs are listed only under the partitions that can hold the window, when it is
    // known at both ends.
    let window = match req.window {
        (Some(from), Some(to)) => Some((from, to)),
        _ => None,
    };
    let (mut inputs, s3) = files::expand_with(req.inputs, &req.decode.s3, window)?;
    inputs.extend(req.memory.iter().cloned());
    let (spool, sources) = decode_into(inputs, &decode, req.quiet, |rx| {
        let mut spool = SpanSpool::new(req.spill.clone());
        let mut graph = req.graph.then(|| graph::spool(req.spill));
        for batch in rx.into_iter().flatten() {
            match &mut graph {
                Some(graph) => {
                    graph.push(batch.project(&to_graph)?)?;
                    spool.push(batch.project(&to_spool)?)?;
                }
                None => spool.push(batch)?,
            }
        }
        Ok((spool, graph))
    })?;
    let (spool, graph) = spool;
    Ok(Spooled { spool, graph, sources, store: None, s3 })
}

/// Register `signals` in `ctx`: a `metrics` output's file as it is, or derived from raw OTLP
/// or a span store. With [`SignalsRequest::graph`], decoded spans' graph columns are returned
/// in a spool for [`compute_graph_tables`]. Signals of spilled spans are written to `scratch`, which the caller
/// removes once it has queried them. A file that lacks a kind of records the request needs (it
/// was written for fewer tables) is an error, not empty tables.
pub fn load_signals(
    ctx: &SessionContext,
    runtime: &tokio::runtime::Runtime,
    req: &SignalsRequest,
    scratch: &Path,
    phases: &mut Phases,
) -> Result<(SignalsInput, Option<SpanSpool>)> {
    if let Some(file) = metrics::metrics_output(req.inputs) {
        let held = metrics::check_signals_file(&file)?;
        require_records(&file.display().to_string(), held, req.needs)?;
        if req.metric_queries {
            runtime.block_on(metrics::register_signals_file(ctx, &file))?;
        } else {
            let read = datafusion::prelude::ParquetReadOptions::default();
            runtime.block_on(ctx.register_parquet(signals::TABLE, &file.display().to_string(), read))?;
        }
        phases.mark("read");
        let input = SignalsInput {
            signals_file: Some(file),
            records: held,
            origin: req.origin.cloned(),
            ..SignalsInput::default()
        };
        return Ok((input, None));
    }
    let Spooled { spool, graph: graph_spool, sources, store, s3 } = spool_inputs(ctx, runtime, req)?;
    phases.mark("read");
    let derived = runtime.block_on(metrics::derive_signals(ctx, req.signals, spool, Some(scratch)))?;
    phases.mark("derive");
    let input = SignalsInput {
        sources,
        s3,
        store,
        signals_file: None,
        records: req.signals.records,
        derived: Some(derived),
        origin: req.origin.cloned(),
    };
    Ok((input, graph_spool))
}

/// `--at`, or the end of the latest record rounded up to a minute.
pub fn evaluation_time(ctx: &SessionContext, runtime: &tokio::runtime::Runtime, at: Option<i64>) -> Result<i64> {
    match at {
        Some(at) => Ok(at),
        None => runtime.block_on(slo::default_evaluation_time(ctx))?.ok_or_else(|| {
            Error::Config("the input holds no metric records: give --at to set the evaluation time".into())
        }),
    }
}

/// A session and the multi-threaded runtime its queries run on, one partition per thread.
pub fn query_session() -> Result<(SessionContext, tokio::runtime::Runtime)> {
    use datafusion::prelude::SessionConfig;
    let threads = rayon::current_num_threads().max(1);
    let ctx = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(threads));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .map_err(|e| Error::Config(format!("cannot start the query runtime: {e}")))?;
    Ok((ctx, runtime))
}

/// A session on the Ballista cluster whose scheduler is at `scheduler`, with `partitions`
/// tasks per stage (see [`cluster_partitions`]); `s3://` locations are planned over as `s3`
/// says.
pub fn cluster_session_with(
    runtime: &tokio::runtime::Runtime,
    scheduler: &crate::cluster::Address,
    partitions: usize,
    s3: &S3Options,
) -> Result<SessionContext> {
    use datafusion::prelude::SessionConfig;
    let config = SessionConfig::new().with_target_partitions(partitions.max(1));
    crate::sql::remote(runtime, scheduler, config, s3)
}

/// Input bytes per task of a cluster stage: a stage that derives records holds its partition's
/// spans until it has them all, so a large store is split into more tasks than threads.
const CLUSTER_BYTES_PER_TASK: u64 = 32 << 20;

/// The tasks per stage of a cluster run: the threads here, or one per [`CLUSTER_BYTES_PER_TASK`]
/// of the input's Parquet files when that is more.
pub fn cluster_partitions(inputs: &Inputs) -> Result<usize> {
    fn bytes(path: &std::path::Path) -> std::io::Result<u64> {
        if path.is_file() {
            return Ok(path.metadata()?.len());
        }
        let mut total = 0;
        for entry in std::fs::read_dir(path)? {
            total += bytes(&entry?.path())?;
        }
        Ok(total)
    }
    let threads = rayon::current_num_threads().max(1);
    if let Some(remote) = inputs.remote() {
        let (_, size) = match remote.signals_key() {
            Some(_) => remote.bytes_under(&format!("{}.parquet", signals::TABLE)),
            None => remote.bytes_under(&format!("{SPANS_DIR}/")),
        };
        return Ok(threads.max(size.div_ceil(CLUSTER_BYTES_PER_TASK) as usize));
    }
    let data = match (metrics::metrics_output(inputs.names()), span_store(inputs.names())) {
        (Some(file), _) => file,
        (None, Some(dir)) => crate::store::spans_dir(&dir),
        (None, None) => return Ok(threads),
    };
    let size = bytes(&data).map_err(|source| Error::Input { path: data.display().to_string(), source })?;
    Ok(threads.max(size.div_ceil(CLUSTER_BYTES_PER_TASK) as usize))
}

/// Register `signals` on the cluster: a metrics output's signals file, or the records of a span
/// store's spans as `signals_from_spans` derives them, derived once ([`ClusterSignals`], which
/// the caller holds until its last query); both by absolute path, which every node resolves
/// alike. Anything else is refused.
pub async fn register_cluster_signals(
    cluster: &SessionContext,
    inputs: &Inputs,
    window: (Option<i64>, Option<i64>),
    records: signals::RecordKinds,
) -> Result<(SignalsInput, ClusterSignals)> {
    let refuse = || {
        Error::Config(
            "--scheduler reads one span store or metrics output on storage every node of the cluster reads: \
             ingest raw OTLP into a store first (spanlens ingest INPUTS --out STORE)"
                .into(),
        )
    };
    if let Some(remote) = inputs.remote() {
        return register_remote_signals(cluster, remote, window, records).await;
    }
    if let Some(origin) = inputs.origin() {
        return Err(Error::Config(format!(
            "--scheduler: {} was copied to this machine, where the nodes of the cluster cannot read it",
            origin.url
        )));
    }
    if let Some(file) = metrics::metrics_output(inputs.names()) {
        let held = metrics::check_signals_file(&file)?;
        require_records(&file.display().to_string(), held, records)?;
        let file = absolute(&file)?;
        let read = datafusion::prelude::ParquetReadOptions::default();
        cluster.register_parquet(signals::TABLE, &file.display().to_string(), read).await?;
        let input = SignalsInput { signals_file: Some(file), records: held, ..SignalsInput::default() };
        return Ok((input, ClusterSignals(None)));
    }
    let dir = span_store(inputs.names()).ok_or_else(refuse)?;
    let dir = absolute(&dir)?;
    metrics::register_store(cluster, &dir, window.0, window.1).await?;
    crate::sql::tables::register_query_view(cluster, "spans_for_signals", vec![]).await?;
    crate::sql::tables::register_query_view(cluster, "signals_from_spans", vec![]).await?;
    let written = derive_once(cluster, Scratch::beside_dir(&dir)).await;
    register_derived(cluster, &written).await?;
    Ok((SignalsInput { store: Some(dir), records, ..SignalsInput::default() }, written))
}

/// [`register_cluster_signals`] for an output on S3, which the nodes read where it is.
async fn register_remote_signals(
    cluster: &SessionContext,
    remote: &Remote,
    window: (Option<i64>, Option<i64>),
    records: signals::RecordKinds,
) -> Result<(SignalsInput, ClusterSignals)> {
    let store = remote.store();
    if let Some(key) = remote.signals_key() {
        let held = metrics::check_signals_object(cluster, &store, &key).await?;
        let url = remote.at.url(&key);
        require_records(&url, held, records)?;
        let read = datafusion::prelude::ParquetReadOptions::default();
        cluster.register_parquet(signals::TABLE, &url, read).await?;
        let input = SignalsInput { signals_file: Some(PathBuf::from(url)), records: held, ..SignalsInput::default() };
        return Ok((input, ClusterSignals(None)));
    }
    if !remote.is_store() {
        return Err(Error::Config(format!(
            "--scheduler: {} holds a spanlens output that is neither a span store nor a metrics output",
            remote.at
        )));
    }
    let spans_prefix = format!("{SPANS_DIR}/");
    let spans = (remote.bytes_under(&spans_prefix).0 > 0).then(|| remote.at.url(&remote.at.key(&spans_prefix)));
    metrics::register_store_at(cluster, spans.as_deref(), window.0, window.1).await?;
    crate::sql::tables::register_query_view(cluster, "spans_for_signals", vec![]).await?;
    crate::sql::tables::register_query_view(cluster, "signals_from_spans", vec![]).await?;
    let objects = cluster.runtime_env().object_store(ObjectStoreUrl::parse(&store)?)?;
    let written = derive_once(cluster, Scratch::beside_object(objects, &remote.at)).await;
    register_derived(cluster, &written).await?;
    let input = SignalsInput { store: Some(PathBuf::from(remote.at.to_string())), records, ..SignalsInput::default() };
    Ok((input, written))
}

/// Register `signals` as the records `written` holds, or, when they were not written, as the
/// query that derives them.
async fn register_derived(cluster: &SessionContext, written: &ClusterSignals) -> Result<()> {
    match &written.0 {
        Some(scratch) => {
            let read = datafusion::prelude::ParquetReadOptions::default();
            cluster.register_parquet(signals::TABLE, &scratch.url(), read).await?;
        }
        None => {
            let view = cluster.sql("SELECT * FROM signals_from_spans").await?;
            cluster.register_table(signals::TABLE, view.into_view())?;
        }
    }
    Ok(())
}

/// The records of a store derived on a cluster, written there once (by the executors, into a
/// hidden directory of the store, on the storage every node reads: a shared file system or the
/// store's bucket) so that each query of the run reads them instead of deriving them again; the
/// directory is removed when this is dropped. `None`: the store could not take them (read-only,
/// or the write failed), and each query derives the records it reads.
pub struct ClusterSignals(Option<Scratch>);

/// Where a cluster writes the records it derives from a store.
enum Scratch {
    /// A directory beside the store's `spans/`.
    Dir(PathBuf),
    /// A prefix beside the store's `spans/`, in its object store.
    Object { objects: Arc<dyn ObjectStore>, url: String, prefix: ObjectPath },
}

impl Scratch {
    /// The name of a scratch directory, unique to this run.
    fn name() -> String {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        format!(".spanlens-cluster-signals-{}-{nanos}", std::process::id())
    }

    fn beside_dir(store: &Path) -> Self {
        Scratch::Dir(store.join(Self::name()))
    }

    fn beside_object(objects: Arc<dyn ObjectStore>, store: &S3Location) -> Self {
        let key = store.key(&Self::name());
        Scratch::Object { objects, url: format!("{}/", store.url(&key)), prefix: ObjectPath::from(key) }
    }

    /// The location as the nodes resolve it, ending in `/`.
    fn url(&self) -> String {
        match self {
            Scratch::Dir(dir) => format!("{}/", dir.display()),
            Scratch::Object { url, .. } => url.clone(),
        }
    }

    /// Remove what was written there (a best effort: a removal that fails leaves a hidden
    /// directory behind).
    fn remove(&self) {
        match self {
            Scratch::Dir(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Scratch::Object { objects, prefix, .. } => {
                // On a thread of its own: this may run inside the query runtime or outside it.
                let (objects, prefix) = (objects.clone(), prefix.clone());
                let removal = std::thread::spawn(move || {
                    let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
                        return;
                    };
                    runtime.block_on(async {
                        let listed = objects.list(Some(&prefix)).map_ok(|meta| meta.location).boxed();
                        let _ = objects.delete_stream(listed).try_collect::<Vec<_>>().await;
                    });
                });
                let _ = removal.join();
            }
        }
    }
}

impl Drop for ClusterSignals {
    fn drop(&mut self) {
        if let Some(scratch) = &self.0 {
            scratch.remove();
        }
    }
}

/// Write `signals_from_spans` (registered on `cluster`) once into `scratch`; a failed write is
/// a note on stderr, and the run goes on without it.
async fn derive_once(cluster: &SessionContext, scratch: Scratch) -> ClusterSignals {
    if let Scratch::Dir(dir) = &scratch
        && std::fs::create_dir(dir).is_err()
    {
        return ClusterSignals(None);
    }
    let target = scratch.url().replace('\'', "''");
    let copy = format!("COPY (SELECT * FROM signals_from_spans) TO '{target}' STORED AS PARQUET");
    let written = async { cluster.sql(&copy).await?.collect().await };
    match written.await {
        Ok(_) => ClusterSignals(Some(scratch)),
        Err(e) => {
            scratch.remove();
            eprintln!(
                "note: the cluster could not write the records to {} ({}); each query derives them again",
                scratch.url(),
                e.strip_backtrace()
            );
            ClusterSignals(None)
        }
    }
}

/// `path` made absolute, for the nodes of a cluster, which resolve it themselves.
pub fn absolute(path: &Path) -> Result<PathBuf> {
    std::path::absolute(path).map_err(|source| Error::Input { path: path.display().to_string(), source })
}

/// Write each table as `dir/<name>.parquet`, then `run_info` as `dir/run_info.parquet`.
pub fn write_tables<'t>(dir: &Path, tables: impl Iterator<Item = &'t Table>, run_info: RecordBatch) -> Result<()> {
    let props = || writer_properties(OUTPUT_ZSTD_LEVEL, None, &[]);
    for table in tables {
        let props = with_key_values(props(), &table.metadata);
        write_parquet(&dir.join(format!("{}.parquet", table.name)), table.schema.clone(), &table.batches, props)?;
    }
    write_parquet(&dir.join(RUN_INFO_FILE), run_info_schema(), &[run_info], props())?;
    Ok(())
}

/// Where a run stages what it writes: its output (a directory built aside and swapped in at
/// the end, or an S3 prefix uploaded at the end), or, when the run writes nothing (no
/// `--out`), a scratch directory for spilled signals, removed when the run ends.
pub enum Workspace {
    Output(Output),
    Scratch(tempfile::TempDir),
}

impl Workspace {
    /// The output `out`, a directory or an `s3://` prefix (an existing non-empty one needs
    /// `force`), or a scratch directory in `temp_dir` (default: the system's).
    pub fn create(out: Option<&Path>, force: bool, s3: &S3Options, temp_dir: Option<&Path>) -> Result<Self> {
        if let Some(out) = out {
            return Ok(Workspace::Output(Output::create(out, force, s3, temp_dir)?));
        }
        Ok(Workspace::Scratch(scratch_dir(SCRATCH_PREFIX, temp_dir)?))
    }

    /// Where files are staged.
    pub fn path(&self) -> &Path {
        match self {
            Workspace::Output(out) => out.path(),
            Workspace::Scratch(dir) => dir.path(),
        }
    }

    /// Whether the run writes an output.
    pub fn writes(&self) -> bool {
        matches!(self, Workspace::Output(_))
    }

    /// Put the output in place (or remove the scratch directory), its manifest naming
    /// `command` when it goes to S3; where it was written, if anywhere, and what its upload did.
    pub fn commit(self, command: &str) -> Result<(Option<PathBuf>, Option<UploadStats>)> {
        match self {
            Workspace::Output(out) => {
                let target = out.target();
                let upload = out.commit(command)?;
                Ok((Some(target), upload))
            }
            Workspace::Scratch(dir) => {
                let path = dir.path().to_path_buf();
                dir.close().map_err(|e| Error::output(path, e))?;
                Ok((None, None))
            }
        }
    }
}

/// The service graph tables `names` (some of [`graph::METRICS_GRAPH_TABLES`], in that order)
/// for the window and bucket of `opts`: over the spans of `spool` (decoded by [`load_signals`]),
/// or, without one, over the span store registered in `ctx` as `spans`, read into a spool. The
/// pairing runs one spilled partition at a time, its requests then written to `scratch`, which
/// the caller removes. The reconciliation reads the `windowed_signals` the metric queries
/// registered for that window.
pub fn compute_graph_tables(
    ctx: &SessionContext,
    runtime: &tokio::runtime::Runtime,
    opts: &metrics::MetricsOptions,
    names: &[&'static str],
    spool: Option<SpanSpool>,
    scratch: &Path,
) -> Result<Vec<Table>> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    // The metric queries' freed memory goes back before the graph's joins take theirs.
    crate::util::release_free_memory();
    let spool = match spool {
        Some(spool) => spool,
        None => {
            let mut spool = graph::spool(&opts.spill);
            runtime.block_on(graph::spool_spans(ctx, &mut spool))?;
            spool
        }
    };
    let g = graph::GraphOptions::of(opts);
    // Spans that did not fit in memory: their records are matched to requests a sixteenth of
    // the trace ids at a time.
    let ranges = if spool.spilled() { 16 } else { 1 };
    let mut computed = graph::compute_spooled(ctx, runtime, spool, &g, scratch)?;
    if names.contains(&graph::RECONCILIATION) {
        crate::util::release_free_memory();
        computed.push(runtime.block_on(graph::reconcile(ctx, ranges))?);
    }
    let mut tables = Vec::with_capacity(names.len());
    for name in names {
        let at = computed.iter().position(|t| t.name == *name);
        tables.push(computed.swap_remove(at.ok_or_else(|| Error::Config(format!("no graph table {name}")))?));
    }
    Ok(tables)
}
