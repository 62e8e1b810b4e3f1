//! Resolve parsed flags into a validated, immutable run plan. No I/O beyond what validation
//! needs; nothing here knows Arrow.

use std::path::PathBuf;

use crate::cli::IngestArgs;
use crate::error::{Error, Result};
use crate::ingest::DecodeOptions;
use crate::store::StoreOptions;
use crate::util::parse_size;

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
        let size = |flag: &str, text: &str| parse_size(text).map_err(|e| Error::Config(format!("{flag}: {e}")));
        let max_decompressed_bytes = size("--max-decompressed-size", &args.max_decompressed_size)?;
        let max_value_bytes = size("--max-value-bytes", &args.max_value_bytes)?;
        if max_value_bytes == 0 {
            return Err(Error::Config("--max-value-bytes must be at least 1".into()));
        }
        if args.rows_per_file == 0 {
            return Err(Error::Config("--rows-per-file must be at least 1".into()));
        }
        let max_value_bytes = usize::try_from(max_value_bytes).unwrap_or(usize::MAX);
        let defaults = StoreOptions::default();
        Ok(IngestPlan {
            inputs: args.inputs.clone(),
            out: args.out.clone(),
            force: args.force,
            quiet: args.quiet,
            decode: DecodeOptions {
                keep_going: args.keep_going,
                max_decompressed_bytes,
                max_value_bytes,
                ..DecodeOptions::default()
            },
            store: StoreOptions {
                rows_per_file: args.rows_per_file,
                max_buffered_rows: defaults.max_buffered_rows.max(args.rows_per_file),
            },
            command,
        })
    }
}
