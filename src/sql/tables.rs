//! Tables registered by what the input is: span batches decoded from raw OTLP, a span store read
//! in place, the Parquet tables of a `metrics`, `slo` or `report` output, any other file or
//! directory under a name (`--table NAME=PATH`), and the embedded queries of `queries/` as views.

use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;
use datafusion::common::ScalarValue;
use datafusion::datasource::file_format::options::ArrowReadOptions;
use datafusion::prelude::{CsvReadOptions, JsonReadOptions, ParquetReadOptions, SessionContext};

use crate::error::{Error, Result};
use crate::queries;

/// What the inputs of a run are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputKind {
    /// No input: only `--table` files.
    None,
    /// Raw OTLP exports (files, directories, globs, stdin).
    Raw,
    /// One span store written by `ingest`.
    Store(PathBuf),
    /// One output directory of `metrics`, `slo` or `report`: its tables as they are.
    Output(PathBuf),
}

/// What `inputs` are, by the same rules `metrics` follows: one directory with `spans/` and
/// `run_info.parquet` is a span store, one with `run_info.parquet` and no `spans/` an output,
/// anything else raw OTLP.
pub fn input_kind(inputs: &[String]) -> InputKind {
    match inputs {
        [] => InputKind::None,
        [only] => {
            let dir = Path::new(only);
            let run_info = dir.join(crate::store::RUN_INFO_FILE).is_file();
            match (dir.join(crate::store::SPANS_DIR).is_dir(), run_info) {
                (true, true) => InputKind::Store(dir.to_path_buf()),
                (false, true) => InputKind::Output(dir.to_path_buf()),
                _ => InputKind::Raw,
            }
        }
        _ => InputKind::Raw,
    }
}

/// The tables of an output directory: each `NAME.parquet` in it, by name, sorted.
pub fn output_tables(dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    let entries = std::fs::read_dir(dir).map_err(|source| Error::Input { path: dir.display().to_string(), source })?;
    let mut tables = Vec::new();
    for entry in entries {
        let path = entry.map_err(|source| Error::Input { path: dir.display().to_string(), source })?.path();
        let name = path.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_suffix(".parquet"));
        if let Some(name) = name.filter(|n| is_identifier(n)) {
            tables.push((name.to_string(), path.clone()));
        }
    }
    tables.sort();
    Ok(tables)
}

/// A name SQL can use unquoted: a letter or `_`, then letters, digits or `_`.
pub fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Register decoded span batches (every column of the span table) as `spans`.
pub fn register_spans(ctx: &SessionContext, batches: Vec<RecordBatch>) -> Result<()> {
    let partitions = ctx.copied_config().target_partitions();
    crate::metrics::register_spans(ctx, batches, partitions)
}

/// A file format `--table` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FileFormat {
    Parquet,
    Csv,
    Json,
    Arrow,
}

fn format_of(path: &Path) -> Option<(FileFormat, &'static str)> {
    let name = path.file_name()?.to_str()?.to_ascii_lowercase();
    [
        (".parquet", FileFormat::Parquet),
        (".csv", FileFormat::Csv),
        (".json", FileFormat::Json),
        (".jsonl", FileFormat::Json),
        (".ndjson", FileFormat::Json),
        (".arrow", FileFormat::Arrow),
        (".ipc", FileFormat::Arrow),
    ]
    .into_iter()
    .find(|(ext, _)| name.ends_with(ext))
    .map(|(ext, f)| (f, ext))
}

/// The format of a file, or of the first file (in name order) of a directory tree that has one.
fn detect(path: &Path) -> Result<(FileFormat, &'static str)> {
    let unknown = || {
        Error::Config(format!(
            "--table: cannot tell the format of {}: name a .parquet, .csv, .json (JSON Lines), .jsonl, .ndjson or \
             .arrow file, or a directory of them",
            path.display()
        ))
    };
    if path.is_dir() {
        let mut walk = walkdir::WalkDir::new(path).sort_by_file_name().into_iter();
        while let Some(entry) = walk.next() {
            let entry = entry.map_err(|e| Error::Config(format!("--table: cannot list {}: {e}", path.display())))?;
            let hidden = entry.file_name().to_str().is_some_and(|n| n.starts_with('.')) && entry.depth() > 0;
            if hidden {
                if entry.file_type().is_dir() {
                    walk.skip_current_dir();
                }
                continue;
            }
            if entry.file_type().is_file()
                && let Some(found) = format_of(entry.path())
            {
                return Ok(found);
            }
        }
        return Err(unknown());
    }
    if !path.exists() {
        return Err(Error::Input {
            path: path.display().to_string(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or directory"),
        });
    }
    format_of(path).ok_or_else(unknown)
}

/// Register the file or directory `path` as `name`, its format told by its extension (a
/// directory's by its files').
pub async fn register_file(ctx: &SessionContext, name: &str, path: &Path) -> Result<()> {
    let (format, ext) = detect(path)?;
    let location = match path.is_dir() {
        true => format!("{}/", path.display()),
        false => path.display().to_string(),
    };
    let result = match format {
        FileFormat::Parquet => ctx.register_parquet(name, &location, ParquetReadOptions::default()).await,
        FileFormat::Csv => ctx.register_csv(name, &location, CsvReadOptions::new().file_extension(ext)).await,
        FileFormat::Json => ctx.register_json(name, &location, JsonReadOptions::default().file_extension(ext)).await,
        FileFormat::Arrow => {
            let read = ArrowReadOptions { file_extension: ext, ..Default::default() };
            ctx.register_arrow(name, &location, read).await
        }
    };
    result.map_err(|e| Error::Config(format!("--table {name}={}: {}", path.display(), e.strip_backtrace())))
}

/// Register the embedded query `name` as a view of that name, its `$n` parameters bound.
pub async fn register_query_view(ctx: &SessionContext, name: &str, params: Vec<ScalarValue>) -> Result<()> {
    let mut df = ctx.sql(queries::get(name)?.sql).await?;
    if !params.is_empty() {
        df = df.with_param_values(params)?;
    }
    ctx.register_table(name, df.into_view())?;
    Ok(())
}

/// Copy the table `name` of `from` into `to` under the same name (the tables a side session
/// computed).
pub async fn copy_table(from: &SessionContext, to: &SessionContext, name: &str) -> Result<()> {
    let table = from.table_provider(name).await?;
    to.deregister_table(name)?;
    to.register_table(name, table)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_and_formats() {
        assert!(is_identifier("service_metrics") && is_identifier("_x1"));
        assert!(!is_identifier("1x") && !is_identifier("a-b") && !is_identifier(""));
        assert_eq!(format_of(Path::new("a/B.Parquet")).map(|f| f.0), Some(FileFormat::Parquet));
        assert_eq!(format_of(Path::new("x.jsonl")).map(|f| f.0), Some(FileFormat::Json));
        assert_eq!(format_of(Path::new("x.txt")), None);
    }
}
