//! `s3://` locations as DataFusion object stores, for the nodes of a cluster, which read a span
//! store or a metrics output on S3 themselves (and write the records they derive beside it)
//! where a local run downloads it first.
//!
//! [`S3Stores`] is an object store registry that makes the store of a bucket the first time a
//! plan names it, configured as the rest of spanlens reaches S3 ([`super::shared_config`]):
//! region, endpoint (path-style addressing for an S3-compatible server), anonymous requests,
//! requester pays, and credentials from the AWS SDK's chain (environment, profiles, SSO, web
//! identity, container and instance roles), held until shortly before they expire.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use aws_sdk_s3::config::{ProvideCredentials, SharedCredentialsProvider};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::object_store::{DefaultObjectStoreRegistry, ObjectStoreRegistry};
use object_store::aws::{AmazonS3Builder, AwsCredential};
use object_store::{CredentialProvider, ObjectStore, RetryConfig};
use url::Url;

use super::S3Options;

/// Credentials are fetched again when they expire within this.
const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(300);

/// An object store registry: local files as DataFusion's default registry has them, and the
/// store of each `s3://` bucket, made when first asked for.
///
/// The AWS configuration is loaded when the first bucket is asked for, not before: a role or a
/// client that never reads S3 does no AWS work (no region or credentials lookup) at start-up.
#[derive(Debug)]
pub struct S3Stores {
    stores: DefaultObjectStoreRegistry,
    opts: S3Options,
    settings: OnceLock<Settings>,
}

/// How the store of a bucket is made.
#[derive(Debug, Clone)]
struct Settings {
    region: String,
    endpoint: Option<String>,
    request_payer: bool,
    /// `None`: unsigned requests (`--no-sign-request`).
    credentials: Option<Arc<SdkCredentials>>,
}

impl S3Stores {
    /// The registry for `opts` over the environment's AWS configuration (the flags of a client
    /// command; the defaults on a scheduler or executor, whose environment configures it).
    pub fn new(opts: &S3Options) -> Self {
        S3Stores { stores: DefaultObjectStoreRegistry::new(), opts: opts.clone(), settings: OnceLock::new() }
    }

    /// How stores are made, from the AWS configuration, loaded on first use. It is loaded on a
    /// thread of its own, as this is called from synchronous code that may run inside an async
    /// runtime (which cannot be blocked on from within).
    fn settings(&self) -> &Settings {
        self.settings.get_or_init(|| {
            let opts = self.opts.clone();
            let load = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
                Some(runtime.block_on(Settings::load(&opts)))
            });
            load.join().ok().flatten().unwrap_or_else(|| Settings::load_failed(&self.opts))
        })
    }

    /// The store of `bucket`.
    fn make(&self, bucket: &str) -> object_store::Result<Arc<dyn ObjectStore>> {
        let s = self.settings();
        let retry = RetryConfig { max_retries: 10, retry_timeout: Duration::from_secs(180), ..RetryConfig::default() };
        let mut builder = AmazonS3Builder::new().with_bucket_name(bucket).with_region(&s.region).with_retry(retry);
        builder = match &s.endpoint {
            Some(url) => builder.with_endpoint(url).with_allow_http(url.starts_with("http://")),
            None => builder.with_virtual_hosted_style_request(true),
        };
        if s.request_payer {
            builder = builder.with_request_payer(true);
        }
        builder = match &s.credentials {
            Some(credentials) => builder.with_credentials(credentials.clone()),
            None => builder.with_skip_signature(true),
        };
        Ok(Arc::new(builder.build()?))
    }
}

impl Settings {
    /// The settings of `opts` over the environment's AWS configuration.
    async fn load(opts: &S3Options) -> Self {
        let shared = super::shared_config(opts).await;
        let credentials = match (opts.no_sign_request, shared.credentials_provider()) {
            (false, Some(provider)) => Some(Arc::new(SdkCredentials::new(provider))),
            _ => None,
        };
        Settings {
            region: shared.region().map_or_else(|| "us-east-1".to_string(), ToString::to_string),
            endpoint: super::endpoint_url(opts, &shared),
            request_payer: opts.request_payer,
            credentials,
        }
    }

    /// The settings of `opts` alone, when the AWS configuration could not be loaded (no
    /// thread or runtime to load it on): requests are then unsigned and fail with S3's answer.
    fn load_failed(opts: &S3Options) -> Self {
        Settings {
            region: opts.region.clone().unwrap_or_else(|| "us-east-1".to_string()),
            endpoint: opts.endpoint_url.clone(),
            request_payer: opts.request_payer,
            credentials: None,
        }
    }
}

impl ObjectStoreRegistry for S3Stores {
    fn register_store(&self, url: &Url, store: Arc<dyn ObjectStore>) -> Option<Arc<dyn ObjectStore>> {
        self.stores.register_store(url, store)
    }

    fn deregister_store(&self, url: &Url) -> DfResult<Arc<dyn ObjectStore>> {
        self.stores.deregister_store(url)
    }

    fn get_store(&self, url: &Url) -> DfResult<Arc<dyn ObjectStore>> {
        if url.scheme() != "s3" {
            return self.stores.get_store(url);
        }
        if let Ok(store) = self.stores.get_store(url) {
            return Ok(store);
        }
        let bucket = url.host_str().filter(|b| !b.is_empty()).ok_or_else(|| {
            DataFusionError::Configuration(format!("{url}: an s3:// location needs a bucket (s3://bucket/prefix)"))
        })?;
        let store = self.make(bucket).map_err(|e| DataFusionError::External(Box::new(e)))?;
        self.stores.register_store(url, store.clone());
        Ok(store)
    }
}

/// The AWS SDK's credentials provider as the object store's, with the last credentials kept
/// until they are about to expire (the SDK's chain does not cache by itself).
#[derive(Debug)]
struct SdkCredentials {
    provider: SharedCredentialsProvider,
    held: tokio::sync::Mutex<Option<(Arc<AwsCredential>, Option<SystemTime>)>>,
}

impl SdkCredentials {
    fn new(provider: SharedCredentialsProvider) -> Self {
        SdkCredentials { provider, held: tokio::sync::Mutex::new(None) }
    }
}

#[async_trait::async_trait]
impl CredentialProvider for SdkCredentials {
    type Credential = AwsCredential;

    async fn get_credential(&self) -> object_store::Result<Arc<AwsCredential>> {
        let mut held = self.held.lock().await;
        if let Some((credential, expiry)) = held.as_ref() {
            let fresh = expiry.is_none_or(|at| SystemTime::now() + REFRESH_BEFORE_EXPIRY < at);
            if fresh {
                return Ok(credential.clone());
            }
        }
        let provided = self
            .provider
            .provide_credentials()
            .await
            .map_err(|e| object_store::Error::Generic { store: "S3", source: Box::new(e) })?;
        let credential = Arc::new(AwsCredential {
            key_id: provided.access_key_id().to_string(),
            secret_key: provided.secret_access_key().to_string(),
            token: provided.session_token().map(str::to_string),
        });
        *held = Some((credential.clone(), provided.expiry()));
        Ok(credential)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(endpoint: Option<&str>) -> S3Stores {
        let settings = Settings {
            region: "eu-west-1".into(),
            endpoint: endpoint.map(str::to_string),
            request_payer: false,
            credentials: None,
        };
        S3Stores { stores: DefaultObjectStoreRegistry::new(), opts: S3Options::default(), settings: settings.into() }
    }

    #[test]
    fn a_bucket_gets_one_store_and_local_files_keep_theirs() {
        let stores = settings(Some("http://127.0.0.1:9"));
        let a = stores.get_store(&Url::parse("s3://traces/store/spans/").unwrap()).unwrap();
        let again = stores.get_store(&Url::parse("s3://traces/other").unwrap()).unwrap();
        assert!(Arc::ptr_eq(&a, &again), "one store per bucket");
        let b = stores.get_store(&Url::parse("s3://archive/x").unwrap()).unwrap();
        assert!(!Arc::ptr_eq(&a, &b));
        assert!(a.to_string().contains("traces"), "{a}");
        assert!(stores.get_store(&Url::parse("file:///tmp").unwrap()).is_ok());
        assert!(stores.get_store(&Url::parse("gs://elsewhere/x").unwrap()).is_err());
    }
}
