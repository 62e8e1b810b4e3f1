//! Resolve what the user named (files, directories, globs, `-` for stdin) into an ordered list of
//! inputs, and read one input's bytes. Directories are walked recursively in name order, hidden
//! entries skipped, so the same tree always gives the same order (and the same output).

use std::collections::HashSet;
use std::io::Read;
use std::path::{Path, PathBuf};

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::s3::S3Options;
use crate::s3::list::{ListStats, list_input};
use crate::s3::read::{S3Object, S3Source};

/// One input to decode.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Input {
    File(PathBuf),
    Stdin,
    /// Bytes made by spanlens itself (`demo` generates its week in memory), with a name for
    /// messages and `run_info`.
    Memory {
        name: String,
        bytes: Arc<[u8]>,
    },
    /// An object of an `s3://` input.
    S3(Arc<S3Object>),
}

impl Input {
    /// The name used in messages and `run_info`.
    pub fn name(&self) -> String {
        match self {
            Input::File(p) => p.display().to_string(),
            Input::Stdin => "-".to_string(),
            Input::Memory { name, .. } => name.clone(),
            Input::S3(object) => object.url(),
        }
    }

    /// Size on disk, if known before reading.
    pub fn size_hint(&self) -> Option<u64> {
        match self {
            Input::File(p) => std::fs::metadata(p).ok().map(|m| m.len()),
            Input::Stdin => None,
            Input::Memory { bytes, .. } => Some(bytes.len() as u64),
            Input::S3(object) => Some(object.size),
        }
    }

    /// Open the input for streaming.
    pub fn open(&self) -> Result<Box<dyn Read + Send>> {
        match self {
            Input::File(p) => {
                let file = std::fs::File::open(p).map_err(|source| Error::Input { path: self.name(), source })?;
                Ok(Box::new(std::io::BufReader::with_capacity(1 << 20, file)))
            }
            Input::Stdin => Ok(Box::new(std::io::stdin())),
            Input::Memory { bytes, .. } => Ok(Box::new(std::io::Cursor::new(bytes.clone()))),
            Input::S3(object) => object.open(),
        }
    }

    /// Read the whole input into `buf`, replacing what it held. A buffer kept from input to input
    /// saves the page faults of a fresh allocation per input (whole inputs are tens of MB).
    pub fn read_into(&self, buf: &mut Vec<u8>) -> Result<()> {
        buf.clear();
        let failed = |source| Error::Input { path: self.name(), source };
        match self {
            Input::File(p) => {
                let mut file = std::fs::File::open(p).map_err(failed)?;
                if let Ok(meta) = file.metadata() {
                    buf.reserve(usize::try_from(meta.len()).unwrap_or(0));
                }
                file.read_to_end(buf).map_err(failed)?;
            }
            Input::Stdin => {
                std::io::stdin().lock().read_to_end(buf).map_err(failed)?;
            }
            Input::Memory { bytes, .. } => buf.extend_from_slice(bytes),
            Input::S3(object) => object.read_into(buf)?,
        }
        Ok(())
    }
}

fn is_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

fn hidden(path: &Path) -> bool {
    path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('.'))
}

/// Expand the user's input arguments, in the order given; duplicates are read once. `s3://`
/// inputs are refused here: [`expand_with`] lists them.
pub fn expand(args: &[String]) -> Result<Vec<Input>> {
    if let Some(arg) = args.iter().find(|a| a.starts_with("s3://")) {
        return Err(Error::Config(format!("{arg}: this command does not read s3:// inputs")));
    }
    Ok(expand_with(args, &S3Options::default(), None)?.0)
}

/// Expand the user's input arguments, in the order given, listing `s3://` inputs with `s3`
/// (only under the partitions that can hold spans of `window`, when it is given); duplicates
/// are read once. Also what the listings found.
#[expect(
    clippy::mutable_key_type,
    reason = "an S3 object's hash and equality are its bucket and key, which never change"
)]
pub fn expand_with(args: &[String], s3: &S3Options, window: Option<(i64, i64)>) -> Result<(Vec<Input>, ListStats)> {
    let mut stats = ListStats::default();
    let mut source: Option<Arc<S3Source>> = None;
    let mut out: Vec<Input> = Vec::new();
    // Tens of thousands of objects are common (one per exporter batch): dedupe by hash.
    let mut seen: HashSet<Input> = HashSet::new();
    let mut push = |input: Input, out: &mut Vec<Input>| {
        if seen.insert(input.clone()) {
            out.push(input);
        }
    };
    for arg in args {
        if arg == "-" {
            push(Input::Stdin, &mut out);
            continue;
        }
        if arg.starts_with("s3://") {
            let source = match &source {
                Some(source) => source.clone(),
                None => source.insert(S3Source::new(s3)?).clone(),
            };
            let objects = source.block_on(list_input(&source, arg, window, &mut stats))?;
            for object in objects {
                push(Input::S3(object), &mut out);
            }
            continue;
        }
        let path = PathBuf::from(arg);
        if !path.exists() && is_glob(arg) {
            let matches = glob::glob(arg).map_err(|e| Error::Config(format!("invalid glob {arg:?}: {e}")))?;
            let mut files: Vec<PathBuf> = Vec::new();
            for entry in matches {
                let p = entry.map_err(|e| Error::Input { path: e.path().display().to_string(), source: e.into() })?;
                if p.is_dir() {
                    files.extend(walk(&p)?);
                } else {
                    files.push(p);
                }
            }
            if files.is_empty() {
                return Err(Error::Config(format!("no files match {arg:?}")));
            }
            files.sort();
            for f in files {
                push(Input::File(f), &mut out);
            }
            continue;
        }
        let meta = std::fs::metadata(&path).map_err(|source| Error::Input { path: arg.clone(), source })?;
        if meta.is_dir() {
            let files = walk(&path)?;
            if files.is_empty() {
                return Err(Error::Config(format!("directory {arg} holds no files")));
            }
            for f in files {
                push(Input::File(f), &mut out);
            }
        } else {
            push(Input::File(path), &mut out);
        }
    }
    Ok((out, stats))
}

fn walk(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let walker = walkdir::WalkDir::new(dir)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !hidden(e.path()));
    for entry in walker {
        let entry = entry.map_err(|e| Error::Input {
            path: e.path().map_or_else(|| dir.display().to_string(), |p| p.display().to_string()),
            source: e.into(),
        })?;
        if entry.file_type().is_file() {
            files.push(entry.into_path());
        }
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_dirs_globs_and_dedupes() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("b");
        std::fs::create_dir(&sub).unwrap();
        for p in [dir.path().join("a.json"), sub.join("c.json"), dir.path().join(".hidden")] {
            std::fs::write(p, "{}").unwrap();
        }
        let d = dir.path().display().to_string();
        let got = expand(&[d.clone(), format!("{d}/*.json"), "-".into()]).unwrap();
        assert_eq!(got, vec![Input::File(dir.path().join("a.json")), Input::File(sub.join("c.json")), Input::Stdin]);
        assert!(matches!(expand(&[format!("{d}/*.nope")]), Err(Error::Config(_))));
        assert!(matches!(expand(&[format!("{d}/missing.json")]), Err(Error::Input { .. })));
    }

    #[test]
    fn read_into_replaces_what_the_buffer_held() {
        let dir = tempfile::tempdir().unwrap();
        let (long, short) = (dir.path().join("long"), dir.path().join("short"));
        std::fs::write(&long, "x".repeat(10_000)).unwrap();
        std::fs::write(&short, "abc").unwrap();
        let mut buf = Vec::new();
        Input::File(long).read_into(&mut buf).unwrap();
        assert_eq!(buf.len(), 10_000);
        Input::File(short).read_into(&mut buf).unwrap();
        assert_eq!(buf, b"abc");
        let missing = Input::File(dir.path().join("missing"));
        assert!(matches!(missing.read_into(&mut buf), Err(Error::Input { path, .. }) if path.ends_with("missing")));
    }
}
