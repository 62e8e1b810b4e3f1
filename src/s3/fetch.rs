//! An output on S3 read back: the objects its [manifest](super::manifest) lists, downloaded
//! into a local directory under the same relative paths (several at a time, large ones
//! streamed), each checked against the manifest's size and SHA-256, so that the directory is
//! the output as it was written, or the run stops.
//!
//! This module only copies; what the files are is for the commands that read the directory.

use std::io::{Read, Write};
use std::path::Path;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::S3Location;
use super::manifest::{Manifest, ManifestEntry, sha256_hex};
use super::read::{S3Object, S3Source};
use crate::error::{Error, Result};

/// Objects up to this size are fetched ahead whole; larger ones are streamed to disk.
const WHOLE_BELOW: u64 = 64 << 20;

/// What downloading an output did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FetchStats {
    pub objects: u64,
    pub bytes: u64,
}

/// Download the objects of `manifest` (an output at `at`) for which `keep` (given the relative
/// key) is true into `dir`. Every listed key's directory is made, kept or not.
pub fn download(
    source: &Arc<S3Source>,
    at: &S3Location,
    manifest: &Manifest,
    dir: &Path,
    keep: impl Fn(&str) -> bool,
) -> Result<FetchStats> {
    let mut wanted: Vec<(&ManifestEntry, Arc<S3Object>)> = Vec::new();
    for entry in &manifest.objects {
        let path = dir.join(&entry.key);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::output(parent, e))?;
        }
        if keep(&entry.key) {
            let object = S3Object {
                source: source.clone(),
                bucket: at.bucket.clone(),
                key: at.key(&entry.key),
                size: entry.size,
            };
            wanted.push((entry, Arc::new(object)));
        }
    }
    let objects: Vec<Arc<S3Object>> = wanted.iter().map(|(_, o)| o.clone()).collect();
    source.prefetch(&objects, WHOLE_BELOW);
    let mut stats = FetchStats::default();
    let mut buf = Vec::new();
    for (entry, object) in wanted {
        let path = dir.join(&entry.key);
        let mut file = std::fs::File::create(&path).map_err(|e| Error::output(&path, e))?;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        if entry.size <= WHOLE_BELOW {
            object.read_into(&mut buf)?;
            hasher.update(&buf);
            size = buf.len() as u64;
            file.write_all(&buf).map_err(|e| Error::output(&path, e))?;
        } else {
            let mut body = object.open()?;
            let mut chunk = vec![0u8; 1 << 20];
            loop {
                let n = body.read(&mut chunk).map_err(|e| Error::Input { path: object.url(), source: e })?;
                if n == 0 {
                    break;
                }
                hasher.update(&chunk[..n]);
                size += n as u64;
                file.write_all(&chunk[..n]).map_err(|e| Error::output(&path, e))?;
            }
        }
        let sha256 = sha256_hex(hasher);
        if size != entry.size || sha256 != entry.sha256 {
            return Err(Error::Input {
                path: object.url(),
                source: std::io::Error::other(format!(
                    "{size} bytes with SHA-256 {sha256}, but the manifest lists {} bytes with SHA-256 {}: the output \
                     was replaced while it was read; run again",
                    entry.size, entry.sha256
                )),
            });
        }
        stats.objects += 1;
        stats.bytes += size;
    }
    Ok(stats)
}
