//! The manifest of an output written to S3: `_SPANLENS_MANIFEST.json` under the output's
//! prefix, written after every other object of the output, listing each object's key (relative
//! to the prefix), size and SHA-256, the spanlens version and the command. Its presence is what
//! makes a prefix a whole output: without it, Parquet under a prefix is an output still being
//! written or one whose run failed, and is refused rather than read.
//!
//! This module reads and writes the manifest; it does not upload or fetch the objects it lists.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::S3Location;
use super::read::S3Source;
use crate::error::{Error, Result};

/// The manifest's name under an output's prefix.
pub const MANIFEST: &str = "_SPANLENS_MANIFEST.json";

/// The version of the manifest's layout.
const MANIFEST_VERSION: u32 = 1;

/// What an output on S3 holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub manifest_version: u32,
    /// The spanlens version that wrote the output.
    pub spanlens_version: String,
    /// The command line that wrote it.
    pub command: String,
    /// Every object of the output but the manifest, in key order.
    pub objects: Vec<ManifestEntry>,
}

/// One object of an output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestEntry {
    /// The key relative to the output's prefix (`spans/date=2026-11-20/part-00000.parquet`).
    pub key: String,
    pub size: u64,
    /// SHA-256 of the object's bytes, lowercase hex.
    pub sha256: String,
}

impl Manifest {
    /// The manifest of `objects` (sorted here) written by `command`.
    pub fn new(command: &str, mut objects: Vec<ManifestEntry>) -> Self {
        objects.sort_by(|a, b| a.key.cmp(&b.key));
        Manifest {
            manifest_version: MANIFEST_VERSION,
            spanlens_version: env!("CARGO_PKG_VERSION").to_string(),
            command: command.to_string(),
            objects,
        }
    }

    /// The manifest as pretty-printed JSON, with a final newline.
    pub fn to_json(&self) -> Vec<u8> {
        let mut text = serde_json::to_vec_pretty(self).unwrap_or_default();
        text.push(b'\n');
        text
    }

    /// Parse a manifest read from `url`.
    pub fn parse(url: &str, bytes: &[u8]) -> Result<Self> {
        let manifest: Manifest = serde_json::from_slice(bytes)
            .map_err(|e| Error::Config(format!("{url} is not a spanlens manifest: {e}")))?;
        if manifest.manifest_version != MANIFEST_VERSION {
            return Err(Error::Config(format!(
                "{url}: manifest version {} is not {MANIFEST_VERSION}; read it with the spanlens that wrote it ({})",
                manifest.manifest_version, manifest.spanlens_version
            )));
        }
        if let Some(bad) = manifest.objects.iter().find(|o| !safe_key(&o.key)) {
            return Err(Error::Config(format!("{url} lists a key that is not a relative path: {:?}", bad.key)));
        }
        Ok(manifest)
    }
}

/// Whether `key` is a plain relative path: no empty, `.` or `..` part, no leading `/`, no `\`.
fn safe_key(key: &str) -> bool {
    !key.is_empty() && !key.contains('\\') && key.split('/').all(|part| !part.is_empty() && part != "." && part != "..")
}

/// The SHA-256 `hasher` computed, lowercase hex.
pub fn sha256_hex(hasher: Sha256) -> String {
    hasher.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// What is under an `s3://` prefix given as an input.
#[derive(Debug)]
pub enum Found {
    /// A whole spanlens output: its manifest.
    Output(Manifest),
    /// Not an output (raw exports, or nothing): read as raw OTLP.
    NotAnOutput,
}

/// Keys looked at for Parquet when a prefix has no manifest: the first page of its listing.
const PROBE_KEYS: i32 = 1000;

/// Whether `at` holds a spanlens output: its manifest, read and parsed; an error when the
/// prefix holds Parquet objects but no manifest (an output being written, or whose run failed).
/// A prefix that cannot be probed (a missing bucket, denied access) is left to the listing of
/// raw inputs, which says what to check.
pub fn find(source: &std::sync::Arc<S3Source>, at: &S3Location) -> Result<Found> {
    let key = at.key(MANIFEST);
    let url = at.url(&key);
    let client = source.client();
    let head = source.block_on(client.head_object().bucket(&at.bucket).key(&key).send());
    match head {
        Ok(head) => {
            let size = head.content_length().and_then(|n| u64::try_from(n).ok()).unwrap_or(0);
            let object = super::read::S3Object { source: source.clone(), bucket: at.bucket.clone(), key, size };
            let mut bytes = Vec::new();
            object.read_into(&mut bytes)?;
            Manifest::parse(&url, &bytes).map(Found::Output)
        }
        Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => {
            // A body cut short is not retried by the SDK: a few attempts of our own.
            let mut parquet = None;
            for _ in 0..3 {
                let request = client.list_objects_v2().bucket(&at.bucket).prefix(&at.prefix).max_keys(PROBE_KEYS);
                if let Ok(page) = source.block_on(request.send()) {
                    let keys = page.contents().iter().filter_map(|o| o.key());
                    parquet = keys.into_iter().find(|k| k.ends_with(".parquet")).map(String::from);
                    break;
                }
            }
            match parquet {
                Some(found) => Err(Error::Config(format!(
                    "{at} is an incomplete output: no manifest ({MANIFEST}) beside {}; it is still being written, or \
                     the run that wrote it failed: write it again",
                    at.url(&found)
                ))),
                None => Ok(Found::NotAnOutput),
            }
        }
        // The listing of raw inputs that follows reports it in its own words.
        Err(_) => Ok(Found::NotAnOutput),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifests_round_trip_and_refuse_unsafe_keys() {
        let entry = |key: &str| ManifestEntry { key: key.into(), size: 3, sha256: "ab".into() };
        let m = Manifest::new(
            "spanlens ingest x --out s3://b/s",
            vec![entry("spans/a.parquet"), entry("run_info.parquet")],
        );
        assert_eq!(m.objects[0].key, "run_info.parquet", "sorted by key");
        assert_eq!(Manifest::parse("u", &m.to_json()).unwrap(), m);
        for bad in ["../x", "/x", "a//b", "a/./b", ""] {
            let mut m = m.clone();
            m.objects.push(entry(bad));
            assert!(matches!(Manifest::parse("u", &m.to_json()), Err(Error::Config(_))), "{bad:?}");
        }
        assert!(Manifest::parse("u", b"{}").is_err());
        let mut hasher = Sha256::new();
        hasher.update(b"abc");
        assert_eq!(sha256_hex(hasher), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
