//! The objects of an `s3://` input: listed with ListObjectsV2 and its pagination, in key order;
//! filtered by a trailing glob (`s3://b/otel/**/*.json.gz`) as local globs filter paths; and,
//! when a run has a window and the keys carry the exporter's time partitions, listed only under
//! the partitions that can hold spans of the window (widened by the slack), counted.

use std::sync::Arc;

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::types::RequestPayer;
use futures::{StreamExt, TryStreamExt};

use super::read::{S3Object, S3Source};
use super::{S3Location, error_text};
use crate::error::{Error, Result};

/// What listing the `s3://` inputs of a run found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListStats {
    /// ListObjectsV2 prefixes listed (each with all its pages).
    pub prefixes: u64,
    /// Objects the listings returned.
    pub listed: u64,
    /// Of those, objects skipped because their partition cannot hold spans of the window.
    pub pruned: u64,
    /// Of those, objects skipped because they do not match the input's glob.
    pub unmatched: u64,
    /// Inputs listed under the partitions of the window only.
    pub partitioned_inputs: u64,
    /// Inputs listed whole: no window, or keys that do not carry the partitions.
    pub whole_inputs: u64,
}

impl ListStats {
    pub fn absorb(&mut self, other: &ListStats) {
        self.prefixes += other.prefixes;
        self.listed += other.listed;
        self.pruned += other.pruned;
        self.unmatched += other.unmatched;
        self.partitioned_inputs += other.partitioned_inputs;
        self.whole_inputs += other.whole_inputs;
    }
}

/// Attempts at one listing, beyond the SDK's own retries of each request.
const LIST_ATTEMPTS: u32 = 3;

/// The keys (with sizes) under `prefix`, in key order, all pages.
pub(super) async fn list_prefix(source: &S3Source, bucket: &str, prefix: &str) -> Result<Vec<(String, u64)>> {
    let mut last = None;
    for attempt in 0..LIST_ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(50 << attempt.min(6))).await;
        }
        let mut request = source.client().list_objects_v2().bucket(bucket).prefix(prefix);
        if source.options().request_payer {
            request = request.request_payer(RequestPayer::Requester);
        }
        let mut pages = request.into_paginator().send();
        let mut keys = Vec::new();
        let failed = loop {
            match pages.next().await {
                None => break None,
                Some(Ok(page)) => {
                    for object in page.contents() {
                        if let Some(key) = object.key().filter(|k| !k.ends_with('/')) {
                            keys.push((
                                key.to_string(),
                                object.size().and_then(|s| u64::try_from(s).ok()).unwrap_or(0),
                            ));
                        }
                    }
                }
                Some(Err(e)) => break Some(e),
            }
        };
        let Some(e) = failed else { return Ok(keys) };
        let at = format!("s3://{bucket}/{prefix}");
        let status = e.raw_response().map(|r| r.status().as_u16());
        match e.code() {
            Some("NoSuchBucket") => {
                return Err(Error::Config(format!(
                    "s3://{bucket}: the bucket does not exist; check its name, --region and --endpoint-url"
                )));
            }
            Some("AccessDenied" | "AllAccessDisabled" | "InvalidAccessKeyId" | "SignatureDoesNotMatch") => {
                return Err(Error::Config(format!(
                    "{at}: access denied ({}); check the credentials (AWS_PROFILE or --profile, the \
                     role's s3:ListBucket permission), or give --no-sign-request for a public bucket",
                    error_text(&e)
                )));
            }
            _ if status.is_some_and(|s| (400..500).contains(&s) && s != 429) => {
                return Err(Error::Config(format!("{at}: listing failed: {}", error_text(&e))));
            }
            _ => last = Some(error_text(&e)),
        }
    }
    Err(Error::Config(format!(
        "s3://{bucket}/{prefix}: listing failed after {LIST_ATTEMPTS} attempts: {}; check --endpoint-url, \
         --region and the network",
        last.unwrap_or_default()
    )))
}

/// Where a glob starts in a key pattern: the literal prefix before it (up to a `/`), if the
/// pattern has one.
fn glob_prefix(pattern: &str) -> Option<&str> {
    let first = pattern.find(['*', '?', '['])?;
    Some(&pattern[..pattern[..first].rfind('/').map_or(0, |slash| slash + 1)])
}

/// The objects of the `s3://` input `url`, in key order: every object under the prefix (a
/// trailing glob filters them; a prefix that is not a "directory" may name one object), and,
/// with a `window` of span times, only those in partitions that can hold it.
pub async fn list_input(
    source: &Arc<S3Source>,
    url: &str,
    window: Option<(i64, i64)>,
    stats: &mut ListStats,
) -> Result<Vec<Arc<S3Object>>> {
    let rest = url.strip_prefix("s3://").unwrap_or(url);
    let (bucket, key_part) = rest.split_once('/').unwrap_or((rest, ""));
    S3Location::parse(url).transpose()?;
    let opts = source.options();
    let glob = match glob_prefix(key_part) {
        Some(_) => {
            Some(glob::Pattern::new(key_part).map_err(|e| Error::Config(format!("invalid glob in {url}: {e}")))?)
        }
        None => None,
    };
    let base = match glob_prefix(key_part) {
        Some(literal) => literal.to_string(),
        None if key_part.is_empty() || key_part.ends_with('/') => key_part.to_string(),
        None => format!("{key_part}/"),
    };
    let matches = |key: &str| {
        let options = glob::MatchOptions { require_literal_separator: true, ..glob::MatchOptions::new() };
        glob.as_ref().is_none_or(|g| g.matches_with(key, options))
    };

    // Partitions can be trusted only if the keys under the prefix begin with them.
    let format = &opts.partition_format;
    let partitioned = match window {
        Some(_) => {
            let first = list_first(source, bucket, &base).await?;
            first.is_some_and(|key| format.matches(&key[base.len()..]))
        }
        None => false,
    };
    let mut keys: Vec<(String, u64)> = Vec::new();
    match (partitioned, window) {
        (true, Some((from, to))) => {
            let (from, to) = (from.saturating_sub(opts.partition_slack_ns), to.saturating_add(opts.partition_slack_ns));
            let prefixes = format.prefixes(opts.partition_timezone, from, to);
            stats.prefixes += prefixes.len() as u64;
            stats.partitioned_inputs += 1;
            let lists: Vec<Vec<(String, u64)>> = futures::stream::iter(prefixes)
                .map(|p| {
                    let prefix = format!("{base}{p}");
                    async move { list_prefix(source, bucket, &prefix).await }
                })
                .buffered(opts.concurrency.max(1))
                .try_collect()
                .await?;
            for (key, size) in lists.into_iter().flatten() {
                stats.listed += 1;
                if !format.may_hold(opts.partition_timezone, &key[base.len()..], from, to) {
                    stats.pruned += 1;
                } else {
                    keys.push((key, size));
                }
            }
        }
        _ => {
            stats.prefixes += 1;
            stats.whole_inputs += 1;
            let mut listed = list_prefix(source, bucket, &base).await?;
            if listed.is_empty() && glob.is_none() && !key_part.is_empty() && !key_part.ends_with('/') {
                // Not a "directory": maybe one object.
                stats.prefixes += 1;
                listed =
                    list_prefix(source, bucket, key_part).await?.into_iter().filter(|(k, _)| k == key_part).collect();
            }
            stats.listed += listed.len() as u64;
            keys = listed;
        }
    }
    let before = keys.len();
    keys.retain(|(key, _)| matches(key));
    stats.unmatched += (before - keys.len()) as u64;
    keys.sort();
    keys.dedup();
    if keys.is_empty() && window.is_none() {
        return Err(Error::Config(format!("no objects under {url}")));
    }
    Ok(keys
        .into_iter()
        .map(|(key, size)| Arc::new(S3Object { source: source.clone(), bucket: bucket.to_string(), key, size }))
        .collect())
}

/// The first key under `prefix`, if any.
async fn list_first(source: &S3Source, bucket: &str, prefix: &str) -> Result<Option<String>> {
    let mut request = source.client().list_objects_v2().bucket(bucket).prefix(prefix).max_keys(1);
    if source.options().request_payer {
        request = request.request_payer(RequestPayer::Requester);
    }
    for attempt in 0..LIST_ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(50 << attempt.min(6))).await;
        }
        match request.clone().send().await {
            Ok(page) => return Ok(page.contents().first().and_then(|o| o.key()).map(String::from)),
            Err(e) if e.raw_response().is_some_and(|r| (400..500).contains(&r.status().as_u16())) => break,
            Err(_) => {}
        }
    }
    // The full listing that follows reports the problem in its own words.
    list_prefix(source, bucket, prefix).await.map(|keys| keys.into_iter().next().map(|(k, _)| k))
}

#[cfg(test)]
mod tests {
    use super::glob_prefix;

    #[test]
    fn globs_start_after_their_literal_prefix() {
        assert_eq!(glob_prefix("otel/year=2026/month=11/**/*.json.gz"), Some("otel/year=2026/month=11/"));
        assert_eq!(glob_prefix("*.json"), Some(""));
        assert_eq!(glob_prefix("otel/traces_[0-9]*.json"), Some("otel/"));
        assert_eq!(glob_prefix("otel/year=2026/"), None);
    }
}
