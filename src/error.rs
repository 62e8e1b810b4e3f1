//! The error type of spanlens, grouped by what the user should do about it.
//!
//! Every variant names the input (path or URI) and, where it is known, the position in it, so a
//! message is actionable on its own. The exit-code contract lives here and only here:
//! `0` success, `2` error, `1` "an SLO is breached" (a successful `slo` run).
//! This module must not print anything; `main` prints the chain.

use std::fmt;
use std::path::PathBuf;

/// Exit code for a run that failed.
pub const EXIT_ERROR: u8 = 2;

/// Exit code of an `slo` run that succeeded and found an SLO breached.
pub const EXIT_BREACHED: u8 = 1;

/// Where in an input a problem was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    /// 1-based line and column of a text input.
    Line { line: u64, column: u64 },
    /// 0-based byte offset into the (decompressed) input.
    Offset(u64),
    /// 1-based line of a text input, column unknown.
    LineOnly(u64),
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Position::Line { line, column } => write!(f, "line {line}, column {column}"),
            Position::LineOnly(line) => write!(f, "line {line}"),
            Position::Offset(offset) => write!(f, "byte offset {offset}"),
        }
    }
}

/// A problem found while decoding one input. `DecodeError`s are what `--keep-going` skips.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// The input, as the user named it (a path, `-` for stdin, or a URI).
    pub source: String,
    /// Where in the input, if known.
    pub position: Option<Position>,
    /// Short machine-friendly reason, used as the `reason` in `run_info` (e.g. `invalid_json`).
    pub reason: &'static str,
    /// Human explanation, without the source name (the `Display` impl adds it).
    pub message: String,
}

impl DecodeError {
    pub fn new(source: &str, position: Option<Position>, reason: &'static str, message: impl Into<String>) -> Self {
        DecodeError { source: source.to_string(), position, reason, message: message.into() }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some(pos) => write!(f, "{} ({pos}): {}", self.source, self.message),
            None => write!(f, "{}: {}", self.source, self.message),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Every error a spanlens run can end with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The user asked for something contradictory or malformed (flags, sizes, paths).
    #[error("{0}")]
    Config(String),

    /// An input could not be found, listed or read.
    #[error("cannot read {path}")]
    Input {
        path: String,
        #[source]
        source: std::io::Error,
    },

    /// An input was read but its content is not valid OTLP trace data.
    #[error(transparent)]
    Decode(#[from] DecodeError),

    /// The output could not be written.
    #[error("cannot write {}", path.display())]
    Output {
        path: PathBuf,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// A query failed to plan or run.
    #[error("query failed")]
    Query(#[from] datafusion::error::DataFusionError),

    /// A statement of `spanlens sql` failed: which statement, where in it, and why (one line).
    #[error("{0}")]
    Sql(String),

    /// Building an Arrow batch failed: a bug, since the schema is ours.
    #[error("internal error building Arrow data")]
    Arrow(#[from] arrow::error::ArrowError),
}

impl Error {
    /// An input at `path` that cannot be read because of `source`: an I/O error as it is, any
    /// other error (a Parquet footer, an Arrow stream) carried in one.
    pub fn input(path: &std::path::Path, source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        let source = match source.into().downcast::<std::io::Error>() {
            Ok(io) => *io,
            Err(other) => std::io::Error::other(other),
        };
        Error::Input { path: path.display().to_string(), source }
    }

    pub fn output(path: impl Into<PathBuf>, source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Error::Output { path: path.into(), source: source.into() }
    }

    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        EXIT_ERROR
    }

    /// A `hint:` line to print after the error, if there is a useful one.
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            Error::Decode(_) => Some("--keep-going skips invalid spans, records and files and counts them in run_info"),
            _ => None,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
