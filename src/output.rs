//! Parquet output: the one set of writer properties spanlens uses, [`ParallelWriter`], which
//! encodes the columns of a row group on all cores, a helper that writes batches to a file
//! atomically (temp file + rename), [`OutputDir`], which builds a whole output directory
//! aside and swaps it in only when the run succeeded, and [`Output`], a command's output: such
//! a directory, or an `s3://` prefix uploaded from a local staging directory.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_writer::{ArrowColumnChunk, ArrowColumnWriter, ArrowRowGroupWriterFactory, compute_leaves};
use parquet::basic::{Compression, ZstdLevel};
use parquet::errors::ParquetError;
use parquet::file::metadata::{KeyValue, SortingColumn};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::ColumnPath;
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::model::schema::{SCHEMA_VERSION, SCHEMA_VERSION_KEY};
use crate::s3::write::{S3Output, UploadStats};
use crate::s3::{S3Location, S3Options};
use crate::spill::{SCRATCH_PREFIX, scratch_dir};
use crate::util::leftovers;

/// Rows per Parquet row group.
pub const ROW_GROUP_ROWS: usize = 128 * 1024;

/// The zstd level of the span store, written once and read by every later run.
pub const STORE_ZSTD_LEVEL: i32 = 3;

/// The zstd level of a run's output tables. Level 1 encodes the signals table of 1 M spans in
/// about 20% less time than level 3, for a file about 10% larger.
pub const OUTPUT_ZSTD_LEVEL: i32 = 1;

/// Writer properties: zstd at `zstd_level`, page statistics, our schema version, optional sort
/// order and bloom filters. Nothing time- or host-dependent goes in, so the same rows give the
/// same bytes.
pub fn writer_properties(
    zstd_level: i32,
    sorting: Option<Vec<SortingColumn>>,
    bloom_columns: &[&str],
) -> WriterProperties {
    let mut builder = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(zstd_level).unwrap_or_default()))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_created_by(format!("spanlens {}", env!("CARGO_PKG_VERSION")))
        .set_key_value_metadata(Some(vec![KeyValue::new(SCHEMA_VERSION_KEY.to_string(), SCHEMA_VERSION.to_string())]))
        .set_sorting_columns(sorting);
    for col in bloom_columns {
        builder = builder.set_column_bloom_filter_enabled(ColumnPath::from(*col), true);
    }
    builder.build()
}

/// `props` with the `extra` key-value pairs after its own in the file footer.
pub fn with_key_values(props: WriterProperties, extra: &[KeyValue]) -> WriterProperties {
    if extra.is_empty() {
        return props;
    }
    let mut pairs = props.key_value_metadata().cloned().unwrap_or_default();
    pairs.extend_from_slice(extra);
    props.into_builder().set_key_value_metadata(Some(pairs)).build()
}

/// Writes record batches as Parquet, cutting row groups where `ArrowWriter` cuts them (every
/// `max_row_group_row_count` rows) and encoding the columns of each row group in parallel on
/// rayon's pool. The file is byte for byte the one `ArrowWriter` writes from the same batches and
/// properties; only the encoding runs on all cores instead of the calling thread.
///
/// Batches are held (not copied) until a row group is full, as `ArrowWriter` holds their
/// encoded pages.
pub struct ParallelWriter<W: Write + Send> {
    writer: SerializedFileWriter<W>,
    factory: ArrowRowGroupWriterFactory,
    schema: SchemaRef,
    /// The number of Parquet leaf columns of each Arrow field (a field's leaves are consecutive).
    leaves: Vec<usize>,
    pending: Vec<RecordBatch>,
    pending_rows: usize,
    max_rows: usize,
}

impl<W: Write + Send> ParallelWriter<W> {
    pub fn try_new(sink: W, schema: SchemaRef, props: WriterProperties) -> std::result::Result<Self, ParquetError> {
        let max_rows = props.max_row_group_row_count().unwrap_or(usize::MAX).max(1);
        let (writer, factory) = ArrowWriter::try_new(sink, schema.clone(), Some(props))?.into_serialized_writer()?;
        let descr = writer.schema_descr();
        let mut leaves = vec![0; schema.fields().len()];
        for leaf in 0..descr.num_columns() {
            leaves[descr.get_column_root_idx(leaf)] += 1;
        }
        Ok(ParallelWriter { writer, factory, schema, leaves, pending: Vec::new(), pending_rows: 0, max_rows })
    }

    /// Add `batch`'s rows, encoding each row group as it fills.
    pub fn write(&mut self, batch: &RecordBatch) -> std::result::Result<(), ParquetError> {
        let mut offset = 0;
        while offset < batch.num_rows() {
            let take = (self.max_rows - self.pending_rows).min(batch.num_rows() - offset);
            self.pending.push(batch.slice(offset, take));
            self.pending_rows += take;
            offset += take;
            if self.pending_rows >= self.max_rows {
                self.flush()?;
            }
        }
        Ok(())
    }

    /// Encode the held rows as one row group: each field's leaf columns on a rayon task, the
    /// chunks appended in schema order.
    fn flush(&mut self) -> std::result::Result<(), ParquetError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let mut writers = self.factory.create_column_writers(self.writer.flushed_row_groups().len())?.into_iter();
        let fields: Vec<(usize, Vec<ArrowColumnWriter>)> =
            self.leaves.iter().enumerate().map(|(i, leaves)| (i, writers.by_ref().take(*leaves).collect())).collect();
        let pending = std::mem::take(&mut self.pending);
        self.pending_rows = 0;
        let chunks: Vec<Vec<ArrowColumnChunk>> = fields
            .into_par_iter()
            .map(|(i, mut writers)| {
                let field = self.schema.field(i);
                for batch in &pending {
                    for (leaf, writer) in compute_leaves(field, batch.column(i))?.iter().zip(writers.iter_mut()) {
                        writer.write(leaf)?;
                    }
                }
                writers.into_iter().map(ArrowColumnWriter::close).collect()
            })
            .collect::<std::result::Result<_, ParquetError>>()?;
        let mut row_group = self.writer.next_row_group()?;
        for chunk in chunks.into_iter().flatten() {
            chunk.append_to_row_group(&mut row_group)?;
        }
        row_group.close()?;
        Ok(())
    }

    /// Write the last row group and the footer.
    pub fn close(mut self) -> std::result::Result<W, ParquetError> {
        self.flush()?;
        self.writer.into_inner()
    }
}

/// Write `batches` to `path` through a temp file in the same directory, renamed into place.
/// Returns the number of bytes written.
pub fn write_parquet(path: &Path, schema: SchemaRef, batches: &[RecordBatch], props: WriterProperties) -> Result<u64> {
    let tmp = temp_sibling(path, "tmp");
    let result = (|| -> Result<u64> {
        let file = File::create(&tmp).map_err(|e| Error::output(&tmp, e))?;
        let mut writer = ParallelWriter::try_new(file, schema, props).map_err(|e| Error::output(path, e))?;
        for batch in batches {
            writer.write(batch).map_err(|e| Error::output(path, e))?;
        }
        writer.close().map_err(|e| Error::output(path, e))?;
        let len = std::fs::metadata(&tmp).map_err(|e| Error::output(&tmp, e))?.len();
        std::fs::rename(&tmp, path).map_err(|e| Error::output(path, e))?;
        Ok(len)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Write `bytes` to `path` through a temp file in the same directory, renamed into place.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = temp_sibling(path, "tmp");
    let result =
        std::fs::write(&tmp, bytes).and_then(|()| std::fs::rename(&tmp, path)).map_err(|e| Error::output(path, e));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// `dir/.name.spanlens-<tag>-<pid>`.
fn temp_sibling(path: &Path, tag: &str) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "out".into());
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    parent.join(format!(".{name}.spanlens-{tag}-{}", std::process::id()))
}

/// Remove what killed runs left beside `target`: staging directories and temporary files
/// (`.NAME.spanlens-staging-PID`, `.NAME.spanlens-tmp-PID`) of processes that no longer exist,
/// and their set-aside old outputs (`.NAME.spanlens-old-PID`) where `NAME` is in place again
/// (otherwise the old output is the only copy left, and stays).
fn remove_dead_siblings(target: &Path) {
    let parent = target.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    leftovers::remove_dead(parent, |name| {
        let rest = name.strip_prefix('.')?;
        let (output, tail) = rest.split_once(".spanlens-")?;
        let pid = leftovers::leftover_pid(tail, "staging-").or_else(|| leftovers::leftover_pid(tail, "tmp-"));
        pid.or_else(|| leftovers::leftover_pid(tail, "old-").filter(|_| parent.join(output).exists()))
    });
}

/// An output directory built aside and swapped in by [`OutputDir::commit`]. Dropped without a
/// commit, it removes what it wrote: an existing output is never left half-overwritten.
pub struct OutputDir {
    target: PathBuf,
    staging: PathBuf,
    committed: bool,
}

impl OutputDir {
    /// Prepare to (re)place `target`. An existing non-empty directory needs `force`.
    pub fn create(target: &Path, force: bool) -> Result<Self> {
        if target.exists() {
            let is_empty_dir = std::fs::read_dir(target).map(|mut d| d.next().is_none()).unwrap_or(false);
            if !target.is_dir() {
                return Err(Error::Config(format!("output {} exists and is not a directory", target.display())));
            }
            if !is_empty_dir && !force {
                return Err(Error::Config(format!(
                    "output directory {} already exists and is not empty; pass --force to replace it",
                    target.display()
                )));
            }
        }
        remove_dead_siblings(target);
        let staging = temp_sibling(target, "staging");
        if staging.exists() {
            std::fs::remove_dir_all(&staging).map_err(|e| Error::output(&staging, e))?;
        }
        std::fs::create_dir_all(&staging).map_err(|e| Error::output(&staging, e))?;
        Ok(OutputDir { target: target.to_path_buf(), staging, committed: false })
    }

    /// Where to write the content until the commit.
    pub fn path(&self) -> &Path {
        &self.staging
    }

    /// The final location.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Swap the staged directory into place, replacing an old one.
    pub fn commit(mut self) -> Result<()> {
        let old = temp_sibling(&self.target, "old");
        let had_old = self.target.exists();
        if had_old {
            std::fs::rename(&self.target, &old).map_err(|e| Error::output(&self.target, e))?;
        }
        if let Err(e) = std::fs::rename(&self.staging, &self.target) {
            if had_old {
                let _ = std::fs::rename(&old, &self.target);
            }
            return Err(Error::output(&self.target, e));
        }
        self.committed = true;
        if had_old {
            std::fs::remove_dir_all(&old).map_err(|e| Error::output(&old, e))?;
        }
        Ok(())
    }
}

impl Drop for OutputDir {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.staging);
        }
    }
}

/// Where a command writes its output: a local directory built aside, or an `s3://` prefix,
/// staged in a scratch directory and uploaded when the run succeeded. Either way the files are
/// written into [`Output::path`] and put in place by [`Output::commit`].
pub enum Output {
    Dir(OutputDir),
    S3(S3Output),
}

impl Output {
    /// Prepare to (re)place `target`, a directory or an `s3://bucket/prefix` URL; an existing
    /// non-empty directory or a prefix holding objects needs `force`. An S3 output is staged
    /// in `temp_dir` (default: the system's temporary directory) and written with `s3`.
    pub fn create(target: &Path, force: bool, s3: &S3Options, temp_dir: Option<&Path>) -> Result<Self> {
        match S3Location::parse(&target.to_string_lossy()) {
            None => Ok(Output::Dir(OutputDir::create(target, force)?)),
            Some(at) => {
                let at = at?;
                let staging = scratch_dir(SCRATCH_PREFIX, temp_dir)?;
                Ok(Output::S3(S3Output::create(at, force, s3, staging)?))
            }
        }
    }

    /// Where to write the content until the commit.
    pub fn path(&self) -> &Path {
        match self {
            Output::Dir(out) => out.path(),
            Output::S3(out) => out.path(),
        }
    }

    /// The final location: the directory, or the `s3://` URL of the prefix.
    pub fn target(&self) -> PathBuf {
        match self {
            Output::Dir(out) => out.target().to_path_buf(),
            Output::S3(out) => PathBuf::from(out.location().to_string()),
        }
    }

    /// Put the output in place: swap the directory in, or upload the staged files and the
    /// manifest naming `command` (what the upload did, for an S3 output).
    pub fn commit(self, command: &str) -> Result<Option<UploadStats>> {
        match self {
            Output::Dir(out) => out.commit().map(|()| None),
            Output::S3(out) => out.commit(command).map(Some),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The parallel writer writes the bytes `ArrowWriter` writes: nested (map, list, struct)
    /// and dictionary columns, batches cut across row groups, a last partial row group, an
    /// empty batch, and no batches at all.
    #[test]
    fn parallel_writer_writes_what_arrow_writer_writes() {
        let batch = crate::testing::span_batch(&crate::testing::synthetic_traces(5, 700, 5, 1_700_000_000_000_000_000));
        assert_eq!(batch.num_rows(), 3500);
        let batches = [batch.slice(0, 1000), batch.slice(1000, 0), batch.slice(1000, 1700), batch.slice(2700, 800)];
        let props = || {
            WriterProperties::builder()
                .set_compression(Compression::ZSTD(ZstdLevel::default()))
                .set_max_row_group_row_count(Some(768))
                .set_statistics_enabled(EnabledStatistics::Page)
                .set_column_bloom_filter_enabled(ColumnPath::from("trace_id"), true)
                .build()
        };
        for batches in [&batches[..], &[]] {
            let mut expected = Vec::new();
            let mut w = ArrowWriter::try_new(&mut expected, batch.schema(), Some(props())).unwrap();
            batches.iter().for_each(|b| w.write(b).unwrap());
            w.close().unwrap();
            let mut p = ParallelWriter::try_new(Vec::new(), batch.schema(), props()).unwrap();
            batches.iter().for_each(|b| p.write(b).unwrap());
            let got = p.close().unwrap();
            assert!(got == expected, "{} bytes, ArrowWriter wrote {}", got.len(), expected.len());
        }
        // Five row groups of 768 rows and one of 428.
        use parquet::file::reader::{FileReader, SerializedFileReader};
        let mut p = ParallelWriter::try_new(tempfile::tempfile().unwrap(), batch.schema(), props()).unwrap();
        batches.iter().for_each(|b| p.write(b).unwrap());
        let reader = SerializedFileReader::new(p.close().unwrap()).unwrap();
        let rows: Vec<i64> = reader.metadata().row_groups().iter().map(|g| g.num_rows()).collect();
        assert_eq!(rows, [768, 768, 768, 768, 428]);
    }

    #[test]
    fn output_dir_refuses_without_force_and_swaps_with_it() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("out");
        std::fs::create_dir(&target).unwrap();
        std::fs::write(target.join("old.txt"), "old").unwrap();
        assert!(matches!(OutputDir::create(&target, false), Err(Error::Config(_))));

        let out = OutputDir::create(&target, true).unwrap();
        std::fs::write(out.path().join("new.txt"), "new").unwrap();
        // Until the commit the old content is intact.
        assert!(target.join("old.txt").exists());
        out.commit().unwrap();
        assert!(target.join("new.txt").exists());
        assert!(!target.join("old.txt").exists());
        assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 1, "no staging leftovers");
    }

    #[test]
    fn dropped_output_dir_leaves_nothing() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("out");
        {
            let out = OutputDir::create(&target, false).unwrap();
            std::fs::write(out.path().join("x"), "x").unwrap();
        }
        assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 0);
    }
}
