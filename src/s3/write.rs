//! Outputs written to S3 (`--out s3://bucket/prefix`): the output is built in a local staging
//! directory exactly as a local output is, then [`S3Output::commit`] uploads every file under
//! the prefix (several at a time, large files in parts), writes the [`manifest`](super::manifest)
//! last, and, when an earlier output was replaced, deletes its keys that the new one does not
//! have. A run that fails leaves no manifest, so what it uploaded reads as incomplete.
//!
//! This module knows S3 and the staging directory it is handed, nothing of what the files hold.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, Delete, ObjectIdentifier, RequestPayer};
use futures::StreamExt;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use super::manifest::{MANIFEST, Manifest, ManifestEntry, sha256_hex};
use super::read::S3Source;
use super::{S3Location, S3Options, failed};
use aws_sdk_s3::config::http::HttpResponse;

use crate::error::{Error, Result};

/// Keys per DeleteObjects request (S3's limit).
const DELETE_BATCH: usize = 1000;

/// Attempts at a request (each with the SDK's own retries): the SDK does not retry an answer
/// whose body breaks off.
const ATTEMPTS: u32 = 3;

/// Send a request (`send` makes it anew) until it succeeds, fails with a client error (4xx),
/// or [`ATTEMPTS`] attempts failed.
async fn again<T, E, Fut>(mut send: impl FnMut() -> Fut) -> std::result::Result<T, SdkError<E, HttpResponse>>
where
    Fut: std::future::Future<Output = std::result::Result<T, SdkError<E, HttpResponse>>>,
{
    let mut attempt = 1;
    loop {
        match send().await {
            Ok(answer) => return Ok(answer),
            Err(e)
                if attempt >= ATTEMPTS
                    || e.raw_response().is_some_and(|r| (400..500).contains(&r.status().as_u16())) =>
            {
                return Err(e);
            }
            Err(_) => {
                tokio::time::sleep(std::time::Duration::from_millis(100 << attempt)).await;
                attempt += 1;
            }
        }
    }
}

/// What uploading an output did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UploadStats {
    /// Objects uploaded, the manifest included.
    pub objects: u64,
    pub bytes: u64,
    /// Keys of the replaced output deleted because the new one does not have them.
    pub deleted: u64,
}

/// An output on S3, staged in a local directory until [`S3Output::commit`]. Dropped without a
/// commit, it removes the staging directory and uploads nothing.
pub struct S3Output {
    at: S3Location,
    source: Arc<S3Source>,
    staging: tempfile::TempDir,
    /// Objects were under the prefix when the run started (and `--force` was given).
    replace: bool,
}

impl S3Output {
    /// Prepare to write `at`, staging in `staging`. A prefix that holds any object needs
    /// `force`.
    pub fn create(at: S3Location, force: bool, opts: &S3Options, staging: tempfile::TempDir) -> Result<Self> {
        let source = S3Source::new(opts)?;
        let client = source.client();
        let listed = source
            .block_on(again(|| client.list_objects_v2().bucket(&at.bucket).prefix(&at.prefix).max_keys(1).send()));
        let listed = listed.map_err(|e| failed("listing failed", at.to_string(), e))?;
        let existing = listed.key_count().unwrap_or(0) > 0 || !listed.contents().is_empty();
        if existing && !force {
            return Err(Error::Config(format!(
                "output {at} already holds objects; pass --force to replace them (keys the new output does not \
                 have are deleted)"
            )));
        }
        Ok(S3Output { at, source, staging, replace: existing })
    }

    /// Where to write the content until the commit.
    pub fn path(&self) -> &Path {
        self.staging.path()
    }

    /// The location written.
    pub fn location(&self) -> &S3Location {
        &self.at
    }

    /// Upload the staged files, then the manifest naming `command`; then delete the keys of a
    /// replaced output that the new one does not have. The staging directory is removed
    /// whatever happens.
    pub fn commit(self, command: &str) -> Result<UploadStats> {
        let S3Output { at, source, staging, replace } = self;
        let result = source.block_on(upload(&source, &at, staging.path(), command, replace));
        let path = staging.path().to_path_buf();
        let closed = staging.close().map_err(|e| Error::output(path, e));
        let stats = result?;
        closed?;
        Ok(stats)
    }
}

/// The files under `dir`, as (key relative to it, path, size), in key order.
fn staged_files(dir: &Path) -> Result<Vec<(String, PathBuf, u64)>> {
    let mut files = Vec::new();
    for entry in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let entry = entry.map_err(|e| Error::output(dir, e))?;
        if !entry.file_type().is_file() {
            continue;
        }
        let relative = entry.path().strip_prefix(dir).map_err(|e| Error::output(entry.path(), e))?;
        let key: Vec<String> = relative.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
        let size = entry.metadata().map_err(|e| Error::output(entry.path(), e))?.len();
        files.push((key.join("/"), entry.into_path(), size));
    }
    files.sort();
    Ok(files)
}

async fn upload(source: &S3Source, at: &S3Location, dir: &Path, command: &str, replace: bool) -> Result<UploadStats> {
    let files = staged_files(dir)?;
    let client = source.client();
    let opts = source.options();
    let payer = opts.request_payer;
    if replace {
        // From here until the new manifest is written, the prefix reads as incomplete.
        let key = at.key(MANIFEST);
        let payer = payer.then_some(RequestPayer::Requester);
        again(|| client.delete_object().bucket(&at.bucket).key(&key).set_request_payer(payer.clone()).send())
            .await
            .map_err(|e| failed("deleting the old manifest failed", at.url(&key), e))?;
    }

    // Bytes of files held in memory at once, in MiB; each upload holds at most one part (of
    // `opts.part_bytes`; a file larger than that is uploaded in parts, at most 10,000 of them).
    let part_bytes = opts.part_bytes.max(size_for_parts(&files));
    let budget = usize::try_from(opts.max_in_flight_bytes >> 20).unwrap_or(usize::MAX).clamp(1, 1 << 20);
    let memory = Arc::new(Semaphore::new(budget));
    let stop = AtomicBool::new(false);
    // Ok(None): not started, after another upload failed.
    let results: Vec<Result<Option<ManifestEntry>>> = futures::stream::iter(&files)
        .map(|(relative, path, size)| {
            let (memory, stop) = (memory.clone(), &stop);
            async move {
                if stop.load(Ordering::Relaxed) {
                    return Ok(None);
                }
                let units = u32::try_from(((*size).min(part_bytes) >> 20).max(1)).unwrap_or(1).min(budget as u32);
                let share = memory.acquire_many_owned(units).await.map_err(|e| Error::output(path, e))?;
                let key = at.key(relative);
                let result = match *size > part_bytes {
                    true => upload_parts(source, at, &key, path, *size, part_bytes).await,
                    false => upload_whole(source, at, &key, path).await,
                };
                drop(share);
                if result.is_err() {
                    stop.store(true, Ordering::Relaxed);
                }
                result.map(|sha256| Some(ManifestEntry { key: relative.clone(), size: *size, sha256 }))
            }
        })
        .buffer_unordered(opts.concurrency.max(1))
        .collect()
        .await;
    let mut entries = Vec::with_capacity(results.len());
    for result in results {
        entries.extend(result?);
    }

    let manifest = Manifest::new(command, entries);
    let json = manifest.to_json();
    let mut stats = UploadStats {
        objects: manifest.objects.len() as u64 + 1,
        bytes: manifest.objects.iter().map(|o| o.size).sum::<u64>() + json.len() as u64,
        deleted: 0,
    };
    put(source, at, &at.key(MANIFEST), json).await?;
    if replace {
        let keep: BTreeSet<String> =
            manifest.objects.iter().map(|o| at.key(&o.key)).chain([at.key(MANIFEST)]).collect();
        let listed = super::list::list_prefix(source, &at.bucket, &at.prefix).await?;
        let stale: Vec<String> = listed.into_iter().map(|(k, _)| k).filter(|k| !keep.contains(k)).collect();
        delete(source, at, &stale).await?;
        stats.deleted = stale.len() as u64;
    }
    Ok(stats)
}

/// Put `bytes` at `key`.
async fn put(source: &S3Source, at: &S3Location, key: &str, bytes: Vec<u8>) -> Result<()> {
    let bytes = bytes::Bytes::from(bytes);
    let payer = source.options().request_payer.then_some(RequestPayer::Requester);
    again(|| {
        source
            .client()
            .put_object()
            .bucket(&at.bucket)
            .key(key)
            .content_length(bytes.len() as i64)
            .body(ByteStream::from(bytes.clone()))
            .set_request_payer(payer.clone())
            .send()
    })
    .await
    .map_err(|e| failed("upload failed", at.url(key), e))?;
    Ok(())
}

/// Upload a file in one PUT; its SHA-256.
async fn upload_whole(source: &S3Source, at: &S3Location, key: &str, path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| Error::output(path, e))?;
    let mut hasher = Sha256::new();
    hasher.update(&bytes);
    put(source, at, key, bytes).await?;
    Ok(sha256_hex(hasher))
}

/// The smallest part size that uploads the largest of `files` in 10,000 parts, S3's limit.
fn size_for_parts(files: &[(String, PathBuf, u64)]) -> u64 {
    files.iter().map(|(_, _, size)| size.div_ceil(10_000)).max().unwrap_or(0)
}

/// Upload a file in parts of `part_bytes`; its SHA-256. A failed upload is aborted, so no part
/// is left stored.
async fn upload_parts(
    source: &S3Source,
    at: &S3Location,
    key: &str,
    path: &Path,
    size: u64,
    part_bytes: u64,
) -> Result<String> {
    let client = source.client();
    let url = at.url(key);
    let payer = source.options().request_payer.then_some(RequestPayer::Requester);
    let created =
        again(|| client.create_multipart_upload().bucket(&at.bucket).key(key).set_request_payer(payer.clone()).send())
            .await
            .map_err(|e| failed("upload failed", url.clone(), e))?;
    let upload_id =
        created.upload_id().ok_or_else(|| Error::output(&url, std::io::Error::other("no upload id")))?.to_string();
    let parts = async {
        let mut file = std::fs::File::open(path).map_err(|e| Error::output(path, e))?;
        let mut hasher = Sha256::new();
        let mut parts = Vec::new();
        let mut sent = 0u64;
        for number in 1.. {
            let mut part = Vec::with_capacity(usize::try_from(part_bytes.min(size.saturating_sub(sent))).unwrap_or(0));
            (&mut file).take(part_bytes).read_to_end(&mut part).map_err(|e| Error::output(path, e))?;
            if part.is_empty() && number > 1 {
                break;
            }
            hasher.update(&part);
            sent += part.len() as u64;
            let part = bytes::Bytes::from(part);
            let uploaded = again(|| {
                client
                    .upload_part()
                    .bucket(&at.bucket)
                    .key(key)
                    .upload_id(&upload_id)
                    .part_number(number)
                    .content_length(part.len() as i64)
                    .body(ByteStream::from(part.clone()))
                    .set_request_payer(payer.clone())
                    .send()
            })
            .await
            .map_err(|e| failed(&format!("upload of part {number} failed"), url.clone(), e))?;
            parts.push(
                CompletedPart::builder().part_number(number).set_e_tag(uploaded.e_tag().map(String::from)).build(),
            );
            if sent >= size {
                break;
            }
        }
        Ok::<_, Error>((parts, sha256_hex(hasher)))
    }
    .await;
    let completed = match parts {
        Ok((parts, sha256)) => {
            let parts = CompletedMultipartUpload::builder().set_parts(Some(parts)).build();
            let done = again(|| {
                client
                    .complete_multipart_upload()
                    .bucket(&at.bucket)
                    .key(key)
                    .upload_id(&upload_id)
                    .multipart_upload(parts.clone())
                    .set_request_payer(payer.clone())
                    .send()
            })
            .await;
            match done {
                Ok(_) => Ok(sha256),
                // An answer lost after the upload completed: the object is there, whole.
                // (A retried completion then finds no such upload.)
                Err(_) if stored_size(source, at, key).await == Some(size) => Ok(sha256),
                Err(e) => Err(failed("completing the upload failed", url.clone(), e)),
            }
        }
        Err(e) => Err(e),
    };
    if completed.is_err() {
        let _ = again(|| {
            client
                .abort_multipart_upload()
                .bucket(&at.bucket)
                .key(key)
                .upload_id(&upload_id)
                .set_request_payer(payer.clone())
                .send()
        })
        .await;
    }
    completed
}

/// The size of the object at `key`, if it exists.
async fn stored_size(source: &S3Source, at: &S3Location, key: &str) -> Option<u64> {
    let head = again(|| source.client().head_object().bucket(&at.bucket).key(key).send()).await.ok()?;
    head.content_length().and_then(|n| u64::try_from(n).ok())
}

/// Delete `keys`, a thousand per request.
async fn delete(source: &S3Source, at: &S3Location, keys: &[String]) -> Result<()> {
    for batch in keys.chunks(DELETE_BATCH) {
        let objects: Vec<ObjectIdentifier> =
            batch.iter().filter_map(|k| ObjectIdentifier::builder().key(k).build().ok()).collect();
        let delete = Delete::builder()
            .set_objects(Some(objects))
            .quiet(true)
            .build()
            .map_err(|e| Error::output(at.to_string(), e))?;
        let payer = source.options().request_payer.then_some(RequestPayer::Requester);
        let answer = again(|| {
            source
                .client()
                .delete_objects()
                .bucket(&at.bucket)
                .delete(delete.clone())
                .set_request_payer(payer.clone())
                .send()
        })
        .await
        .map_err(|e| failed("deleting keys of the replaced output failed", at.to_string(), e))?;
        if let Some(e) = answer.errors().first() {
            let why = format!("{}: {}", e.code().unwrap_or("error"), e.message().unwrap_or("(no message)"));
            return Err(Error::output(
                at.url(e.key().unwrap_or_default()),
                std::io::Error::other(format!("deleting a key of the replaced output failed: {why}")),
            ));
        }
    }
    Ok(())
}
