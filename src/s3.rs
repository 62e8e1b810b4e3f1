//! S3 locations (`s3://bucket/prefix`) and the client that reads and writes them.
//!
//! Region, credentials and endpoint come from the standard AWS configuration: environment
//! (`AWS_REGION`, `AWS_ACCESS_KEY_ID`, `AWS_PROFILE`, ...), shared config and credentials
//! files, SSO, instance and container roles. `AWS_ENDPOINT_URL_S3` or `AWS_ENDPOINT_URL` points
//! it at an S3-compatible server (MinIO, moto, s3s, Ceph), which is then addressed path-style.
//! Without a configured region, `us-east-1` is used.

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

/// A client configured from the environment (see the module documentation).
pub async fn client() -> Client {
    let region = RegionProviderChain::default_provider().or_else(Region::new("us-east-1"));
    let shared = aws_config::defaults(BehaviorVersion::latest()).region(region).load().await;
    let custom_endpoint = shared.endpoint_url().is_some() || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some();
    let config = aws_sdk_s3::config::Builder::from(&shared).force_path_style(custom_endpoint).build();
    Client::from_conf(config)
}

/// An S3 call that failed: the service's error code and message when it answered, else the
/// SDK's error chain (connection refused, timeout, credentials).
fn failed<E, R>(what: &str, url: String, e: SdkError<E, R>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let detail = match e.code() {
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
    };
    Error::output(url, std::io::Error::other(format!("{what}: {detail}")))
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
