//! Reading `s3://` objects: many GETs in flight at once, fetched ahead of the decoder in input
//! order within a cap on bytes, and bodies that break off (a reset connection, fewer bytes than
//! announced) resumed with a ranged GET from where they stopped, so that a flaky network changes
//! nothing in the output. Large objects are streamed, never held whole.

use std::collections::HashMap;
use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::types::RequestPayer;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

use super::{S3Options, error_text};
use crate::error::{Error, Result};

/// Attempts at one object's body (each a GET, ranged after the first), beyond the SDK's own
/// retries of each request.
const BODY_ATTEMPTS: u32 = 8;

/// The unit of the in-flight byte budget.
const BUDGET_UNIT: u64 = 64 << 10;

/// The client and runtime the objects of a run are read with.
pub struct S3Source {
    /// Taken only when the source is dropped.
    runtime: Option<tokio::runtime::Runtime>,
    handle: tokio::runtime::Handle,
    client: Client,
    opts: S3Options,
    /// Bodies being fetched ahead, by URL: taken by the reader of each object.
    prefetched: Mutex<HashMap<String, oneshot::Receiver<Result<Fetched>>>>,
}

impl std::fmt::Debug for S3Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Source").field("opts", &self.opts).finish_non_exhaustive()
    }
}

impl Drop for S3Source {
    fn drop(&mut self) {
        // Fetches still running (a run that stopped early) are dropped, not awaited.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// A body fetched ahead, with its share of the in-flight budget, released when it is taken.
type Fetched = (Vec<u8>, Option<OwnedSemaphorePermit>);

impl S3Source {
    /// A source for `opts`: its own runtime (GETs wait on the network, not the CPU) and client.
    pub fn new(opts: &S3Options) -> Result<Arc<Self>> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("spanlens-s3")
            .enable_all()
            .build()
            .map_err(|e| Error::Config(format!("cannot start the S3 client runtime: {e}")))?;
        let client = runtime.block_on(super::client_with(opts));
        let handle = runtime.handle().clone();
        Ok(Arc::new(S3Source {
            runtime: Some(runtime),
            handle,
            client,
            opts: opts.clone(),
            prefetched: Mutex::new(HashMap::new()),
        }))
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn options(&self) -> &S3Options {
        &self.opts
    }

    /// Run `future` on this source's runtime, from outside it.
    pub fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.handle.block_on(future)
    }

    /// Start fetching `objects` (of this source) in order, `concurrency` at a time and within
    /// the in-flight budget; objects larger than `whole_below` bytes are left to be streamed.
    pub fn prefetch(self: &Arc<Self>, objects: &[Arc<S3Object>], whole_below: u64) {
        let budget = (self.opts.max_in_flight_bytes / BUDGET_UNIT).clamp(1, u64::from(u32::MAX >> 4)) as usize;
        let mut jobs = Vec::new();
        if let Ok(mut slots) = self.prefetched.lock() {
            for object in objects.iter().filter(|o| o.size <= whole_below) {
                let (tx, rx) = oneshot::channel();
                slots.insert(object.url(), rx);
                jobs.push((object.clone(), tx));
            }
        }
        if jobs.is_empty() {
            return;
        }
        let bytes = Arc::new(Semaphore::new(budget));
        let requests = Arc::new(Semaphore::new(self.opts.concurrency.max(1)));
        let source = self.clone();
        self.handle.spawn(async move {
            for (object, tx) in jobs {
                let units = object.size.div_ceil(BUDGET_UNIT).clamp(1, budget as u64) as u32;
                let (Ok(share), Ok(slot)) =
                    (bytes.clone().acquire_many_owned(units).await, requests.clone().acquire_owned().await)
                else {
                    return;
                };
                let client = source.client.clone();
                let payer = source.opts.request_payer;
                tokio::spawn(async move {
                    let result = fetch_whole(&client, &object, payer).await.map(|body| (body, Some(share)));
                    drop(slot);
                    let _ = tx.send(result);
                });
            }
        });
    }
}

/// One object of an `s3://` input, as listed.
#[derive(Debug)]
pub struct S3Object {
    pub source: Arc<S3Source>,
    pub bucket: String,
    pub key: String,
    /// Size when listed.
    pub size: u64,
}

impl PartialEq for S3Object {
    fn eq(&self, other: &Self) -> bool {
        (&self.bucket, &self.key) == (&other.bucket, &other.key)
    }
}

impl Eq for S3Object {}

impl std::hash::Hash for S3Object {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (&self.bucket, &self.key).hash(state);
    }
}

impl S3Object {
    /// `s3://bucket/key`.
    pub fn url(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }

    /// Read the whole object into `buf`, replacing what it held: the body fetched ahead if it
    /// was, else fetched now.
    pub fn read_into(&self, buf: &mut Vec<u8>) -> Result<()> {
        let url = self.url();
        let ahead = self.source.prefetched.lock().ok().and_then(|mut slots| slots.remove(&url));
        let fetched = match ahead {
            Some(rx) => rx.blocking_recv().map_err(|_| unreadable(&url, "the fetch was stopped".into()))?,
            None => self
                .source
                .block_on(fetch_whole(&self.source.client, self, self.source.opts.request_payer))
                .map(|b| (b, None)),
        };
        let (body, share) = fetched?;
        *buf = body;
        drop(share);
        Ok(())
    }

    /// A reader of the object's body, streamed (a large object is never held whole), resumed
    /// with a ranged GET where it breaks off.
    pub fn open(self: &Arc<Self>) -> Result<Box<dyn Read + Send>> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<std::io::Result<bytes::Bytes>>(8);
        let object = self.clone();
        self.source.handle.spawn(async move {
            let client = object.source.client.clone();
            let payer = object.source.opts.request_payer;
            let result = fetch(&client, &object, payer, |chunk: bytes::Bytes| tx.send(Ok(chunk)).is_ok()).await;
            if let Err(e) = result {
                let _ = tx.send(Err(std::io::Error::other(format!("{e}: {}", error_source(&e)))));
            }
        });
        Ok(Box::new(ChannelReader { rx, chunk: bytes::Bytes::new() }))
    }
}

/// The body of a streamed object, chunk by chunk from the fetching task.
struct ChannelReader {
    rx: std::sync::mpsc::Receiver<std::io::Result<bytes::Bytes>>,
    chunk: bytes::Bytes,
}

impl Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.chunk.is_empty() {
            match self.rx.recv() {
                Ok(Ok(chunk)) => self.chunk = chunk,
                Ok(Err(e)) => return Err(e),
                Err(_) => return Ok(0),
            }
        }
        let n = out.len().min(self.chunk.len());
        out[..n].copy_from_slice(&self.chunk[..n]);
        self.chunk = self.chunk.slice(n..);
        Ok(n)
    }
}

/// The cause an error wraps, as text.
fn error_source(e: &Error) -> String {
    std::error::Error::source(e).map(|s| s.to_string()).unwrap_or_default()
}

fn unreadable(url: &str, why: String) -> Error {
    Error::Input { path: url.to_string(), source: std::io::Error::other(why) }
}

/// The whole body of `object`.
async fn fetch_whole(client: &Client, object: &S3Object, payer: bool) -> Result<Vec<u8>> {
    let mut body = Vec::with_capacity(usize::try_from(object.size).unwrap_or(0));
    fetch(client, object, payer, |chunk| {
        body.extend_from_slice(&chunk);
        true
    })
    .await?;
    Ok(body)
}

/// Fetch `object`'s body, handing each chunk to `sink` (which returns false to stop): a GET,
/// and where the body breaks off, ranged GETs from the first byte not yet received, until the
/// length the first response announced is reached.
async fn fetch(
    client: &Client,
    object: &S3Object,
    payer: bool,
    mut sink: impl FnMut(bytes::Bytes) -> bool,
) -> Result<()> {
    let url = object.url();
    let mut received = 0u64;
    let mut total: Option<u64> = None;
    let mut last = String::new();
    for attempt in 0..BODY_ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(50 << attempt.min(6))).await;
        }
        let mut request = client.get_object().bucket(&object.bucket).key(&object.key);
        if received > 0 {
            request = request.range(format!("bytes={received}-"));
        }
        if payer {
            request = request.request_payer(RequestPayer::Requester);
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => {
                last = error_text(&e);
                // Throttling, server errors and broken connections are worth another try; a
                // missing object or denied access is not.
                if e.raw_response().is_none_or(|r| r.status().as_u16() >= 500 || r.status().as_u16() == 429) {
                    continue;
                }
                return Err(unreadable(&url, last));
            }
        };
        if received == 0 {
            total = response.content_length().and_then(|n| u64::try_from(n).ok());
        }
        let mut stream = response.body;
        let broke = loop {
            match stream.try_next().await {
                Ok(Some(chunk)) => {
                    received += chunk.len() as u64;
                    if !sink(chunk) {
                        return Ok(());
                    }
                }
                Ok(None) => break None,
                Err(e) => break Some(e.to_string()),
            }
        };
        last = match (broke, total) {
            (None, None) => return Ok(()),
            (None, Some(total)) if received >= total => return Ok(()),
            (None, Some(total)) => format!("the body ended after {received} of {total} bytes"),
            (Some(e), _) => format!("the body broke off after {received} bytes: {e}"),
        };
    }
    Err(unreadable(&url, format!("gave up after {BODY_ATTEMPTS} attempts: {last}")))
}
