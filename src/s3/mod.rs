//! S3 locations (`s3://bucket/prefix`) and the client that reads and writes them; [`list`]
//! finds the objects of an `s3://` input (pruned by the exporter's time partitions, see
//! [`partition`]) and [`read`] fetches them, many at a time, resuming bodies that break off;
//! [`write`] uploads an output staged in a local directory, with its [`manifest`] last, and
//! [`fetch`] downloads such an output back. The only part of spanlens that knows AWS.
//!
//! Region, credentials and endpoint come from the standard AWS configuration: environment
//! (`AWS_REGION`, `AWS_ACCESS_KEY_ID`, `AWS_PROFILE`, ...), shared config and credentials
//! files, SSO, instance and container roles, and the flags of [`S3Options`] over them.
//! `--endpoint-url`, `AWS_ENDPOINT_URL_S3` or `AWS_ENDPOINT_URL` points it at an S3-compatible
//! server (MinIO, moto, s3s, Ceph), which is then addressed path-style. Without a configured
//! region, `us-east-1` is used.

pub mod fetch;
pub mod list;
pub mod manifest;
#[cfg(feature = "cluster")]
pub mod objects;
pub mod partition;
pub mod read;
pub mod write;

use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::meta::region::RegionProviderChain;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::Region;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;

use crate::error::{Error, Result};

/// `s3://bucket/prefix`: a bucket and a key prefix (empty, or ending in `/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Location {
    pub bucket: String,
    pub prefix: String,
}

impl S3Location {
    /// Parse an `s3://` URL; `None` when `text` is not one.
    pub fn parse(text: &str) -> Option<Result<Self>> {
        let rest = text.strip_prefix("s3://")?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Some(Err(Error::Config(format!("{text}: an s3:// location needs a bucket (s3://bucket/prefix)"))));
        }
        let prefix = prefix.trim_matches('/');
        let prefix = if prefix.is_empty() { String::new() } else { format!("{prefix}/") };
        Some(Ok(S3Location { bucket: bucket.to_string(), prefix }))
    }

    /// The key of `relative` (a `/`-separated path) under the prefix.
    pub fn key(&self, relative: &str) -> String {
        format!("{}{}", self.prefix, relative.trim_start_matches('/'))
    }

    /// `s3://bucket/key`, for messages.
    pub fn url(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }
}

impl std::fmt::Display for S3Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.prefix)
    }
}

/// How `s3://` inputs are reached and read (the flags of every command that reads spans).
#[derive(Debug, Clone)]
pub struct S3Options {
    /// A named profile of the shared AWS config and credentials files.
    pub profile: Option<String>,
    pub region: Option<String>,
    pub endpoint_url: Option<String>,
    /// Anonymous requests, for public buckets.
    pub no_sign_request: bool,
    /// Accept the charges of a requester-pays bucket.
    pub request_payer: bool,
    /// GET requests in flight at once.
    pub concurrency: usize,
    /// Bytes of objects fetched ahead of decoding, at most; also of files held for uploads.
    pub max_in_flight_bytes: u64,
    /// Files of an output larger than this are uploaded in parts of this size.
    pub part_bytes: u64,
    /// The exporter's `s3_partition_format`.
    pub partition_format: partition::PartitionFormat,
    /// The exporter's `s3_partition_timezone`.
    pub partition_timezone: chrono_tz::Tz,
    /// How far outside a run's window partitions are still read, ns: the exporter partitions
    /// by upload time, after the spans of an object ended.
    pub partition_slack_ns: i64,
}

impl Default for S3Options {
    fn default() -> Self {
        S3Options {
            profile: None,
            region: None,
            endpoint_url: None,
            no_sign_request: false,
            request_payer: false,
            concurrency: 32,
            max_in_flight_bytes: 256 << 20,
            part_bytes: 16 << 20,
            partition_format: partition::PartitionFormat::parse(partition::DEFAULT_FORMAT)
                .unwrap_or_else(|e| unreachable!("the default partition format parses: {e}")),
            partition_timezone: chrono_tz::Tz::UTC,
            partition_slack_ns: 3_600_000_000_000,
        }
    }
}

/// A client configured from the environment (see the module documentation).
pub async fn client() -> Client {
    client_with(&S3Options::default()).await
}

/// A client configured from the environment and `opts`. Requests that fail with a throttling
/// or server error, or whose connection fails, are retried with backoff (up to ten attempts,
/// from a retry budget of their own, so that a flaky network does not end a long run).
pub async fn client_with(opts: &S3Options) -> Client {
    use aws_sdk_s3::config::retry::{RetryConfig, RetryPartition, TokenBucket};
    let shared = shared_config(opts).await;
    let custom_endpoint = endpoint_url(opts, &shared).is_some();
    let retry = RetryConfig::standard()
        .with_max_attempts(10)
        .with_initial_backoff(Duration::from_millis(50))
        .with_max_backoff(Duration::from_secs(2));
    let config = aws_sdk_s3::config::Builder::from(&shared)
        .force_path_style(custom_endpoint)
        .retry_config(retry)
        .retry_partition(RetryPartition::custom("spanlens").token_bucket(TokenBucket::unlimited()).build())
        .build();
    Client::from_conf(config)
}

/// The AWS configuration of the environment with `opts` over it: region (`us-east-1` when none
/// is configured), credentials, endpoint.
pub(crate) async fn shared_config(opts: &S3Options) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(profile) = &opts.profile {
        loader = loader.profile_name(profile);
    }
    loader = match &opts.region {
        Some(region) => loader.region(Region::new(region.clone())),
        None => loader.region(RegionProviderChain::default_provider().or_else(Region::new("us-east-1"))),
    };
    if let Some(url) = &opts.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    if opts.no_sign_request {
        loader = loader.no_credentials();
    }
    loader.load().await
}

/// The S3-compatible server requests go to instead of AWS, if one is configured: the
/// `--endpoint-url` flag, else `AWS_ENDPOINT_URL_S3`, else the shared configuration's
/// (`AWS_ENDPOINT_URL`, or the profile's `endpoint_url`).
pub(crate) fn endpoint_url(opts: &S3Options, shared: &aws_config::SdkConfig) -> Option<String> {
    let from_env = || std::env::var("AWS_ENDPOINT_URL_S3").ok().filter(|url| !url.is_empty());
    opts.endpoint_url.clone().or_else(from_env).or_else(|| shared.endpoint_url().map(str::to_string))
}

/// An S3 call that failed: the service's error code and message when it answered, else the
/// SDK's error chain (connection refused, timeout, credentials).
pub(crate) fn failed<E, R>(what: &str, url: String, e: SdkError<E, R>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    Error::output(url, std::io::Error::other(format!("{what}: {}", error_text(&e))))
}

/// The service's error code and message, or the SDK's error chain.
pub(crate) fn error_text<E, R>(e: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match e.code() {
        Some(code) => format!("{code}: {}", e.message().unwrap_or("(no message)")),
        None => {
            let mut parts = vec![e.to_string()];
            let mut source = std::error::Error::source(&e);
            while let Some(cause) = source {
                let text = cause.to_string();
                if parts.last() != Some(&text) {
                    parts.push(text);
                }
                source = cause.source();
            }
            parts.join(": ")
        }
    }
}

/// Whether any object exists under the location's prefix.
pub async fn has_objects(client: &Client, at: &S3Location) -> Result<bool> {
    let listed = client
        .list_objects_v2()
        .bucket(&at.bucket)
        .prefix(&at.prefix)
        .max_keys(1)
        .send()
        .await
        .map_err(|e| failed("listing failed", at.to_string(), e))?;
    Ok(listed.key_count().unwrap_or(0) > 0 || !listed.contents().is_empty())
}

/// Write one object.
pub async fn put(client: &Client, at: &S3Location, relative: &str, bytes: Vec<u8>) -> Result<()> {
    let key = at.key(relative);
    client
        .put_object()
        .bucket(&at.bucket)
        .key(&key)
        .body(ByteStream::from(bytes))
        .send()
        .await
        .map_err(|e| failed("upload failed", at.url(&key), e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_parse_into_bucket_and_prefix() {
        let at = |s: &str| S3Location::parse(s).unwrap().unwrap();
        assert_eq!(at("s3://b"), S3Location { bucket: "b".into(), prefix: String::new() });
        assert_eq!(at("s3://b/"), S3Location { bucket: "b".into(), prefix: String::new() });
        assert_eq!(at("s3://b/traces/2026"), S3Location { bucket: "b".into(), prefix: "traces/2026/".into() });
        assert_eq!(at("s3://b/traces/").key("year=2026/x.json"), "traces/year=2026/x.json");
        assert_eq!(at("s3://b").url("k"), "s3://b/k");
        assert!(S3Location::parse("/tmp/x").is_none());
        assert!(matches!(S3Location::parse("s3:///x"), Some(Err(Error::Config(_)))));
    }
}
