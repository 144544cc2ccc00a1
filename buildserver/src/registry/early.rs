//! Layer uploads that begin while the layer is still being written: its gzip bytes, as
//! [`crate::oci::layer`] writes them (a [`Tee`]), go to the registry as `POST` and one streamed
//! `PATCH`, and once the layer is whole and its digest known, `PUT ?digest=` closes the upload
//! (OCI distribution spec, "Pushing a blob in chunks"; Docker's distribution calls it a stream
//! upload). Assembly and upload then overlap instead of following each other.
//!
//! An early upload is only a head start: one that fails is logged and dropped, and
//! [`Registry::push`], which runs after [`EarlyUploads::finish`], finds the blob missing and
//! uploads it from the layout as it always did. A layer of under [`EARLY_FROM`] bytes is left to
//! `push` whole, so that an unchanged code layer (re-written on every build) is never sent again.

use std::sync::{Arc, Mutex};

use reqwest::StatusCode;
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE};
use tokio::sync::{mpsc, oneshot};

use super::{Clock, Registry, RegistryError, lock, with_digest};
use crate::oci::layer::{Layer, Tee};

/// The size from which a layer's upload begins while it is written, in bytes: what was written
/// until then is held and sent first.
const EARLY_FROM: usize = 4 << 20;
/// Writes (up to 1 MiB each) queued between the layer writer and its upload: the writer waits
/// for a registry slower than it.
const QUEUED: usize = 8;

/// The early uploads of one image's layers to one app's repository.
pub struct EarlyUploads {
    registry: Arc<Registry>,
    app: String,
    runtime: tokio::runtime::Handle,
    /// Each begun upload: the bytes it sent, once done.
    begun: Mutex<Vec<tokio::task::JoinHandle<Result<u64, RegistryError>>>>,
}

impl EarlyUploads {
    /// Early uploads of layers of `app`'s next image to `registry`, run on the current tokio
    /// runtime (panics outside one).
    pub fn new(registry: Arc<Registry>, app: &str) -> Arc<Self> {
        Arc::new(EarlyUploads {
            registry,
            app: app.to_owned(),
            runtime: tokio::runtime::Handle::current(),
            begun: Mutex::new(Vec::new()),
        })
    }

    /// A tee for the next layer written, its upload begun once [`EARLY_FROM`] bytes are. Its
    /// writes block (the layer writer runs off the runtime) while [`QUEUED`] wait.
    pub fn tee(self: &Arc<Self>) -> Box<dyn Tee> {
        Box::new(EarlyTee {
            uploads: Arc::clone(self),
            held: Vec::new(),
            sending: None,
            stopped: false,
        })
    }

    /// Waits for every upload begun: the bytes they sent. One that failed is logged, not an
    /// error (the push sends its blob again).
    pub async fn finish(&self) -> u64 {
        let begun = std::mem::take(&mut *lock(&self.begun));
        let mut sent = 0;
        for upload in begun {
            match upload.await {
                Ok(Ok(bytes)) => sent += bytes,
                Ok(Err(e)) => {
                    tracing::warn!(registry = %self.registry.name(), error = %e, "an early layer upload failed; the push sends the layer again");
                }
                Err(e) => tracing::error!(error = %e, "an early layer upload panicked"),
            }
        }
        sent
    }

    /// One layer's upload: its bytes from `body` (as the layer writer sends them), then its
    /// digest from `digest` (none: the layer failed, and the upload is cancelled). Returns the
    /// bytes sent.
    async fn upload(
        self: Arc<Self>,
        body: mpsc::Receiver<Vec<u8>>,
        digest: oneshot::Receiver<String>,
    ) -> Result<u64, RegistryError> {
        let registry = &*self.registry;
        let repository = registry.repository(&self.app);
        registry
            .authenticate(&registry.scopes(&self.app, true), "pull,push")
            .await?;
        let what = "an early layer upload";
        let location = registry.open_upload(what, &repository).await?;
        // Not through `send`: a streamed body goes once (a failure leaves the layer to `push`).
        // The clock is touched as the registry takes each chunk: one that stops reading (or,
        // once the body ended, answering) for the timeout fails the upload.
        let sent = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let (counted, clock) = (Arc::clone(&sent), Clock::new());
        let touched = clock.clone();
        let chunks = futures_util::stream::unfold(body, move |mut body| {
            let (counted, touched) = (Arc::clone(&counted), touched.clone());
            async move {
                let chunk = body.recv().await?;
                touched.touch();
                counted.fetch_add(chunk.len() as u64, std::sync::atomic::Ordering::Relaxed);
                Some((Ok::<_, std::io::Error>(chunk), body))
            }
        });
        let patch = registry
            .authorized(registry.client.patch(&location))
            .header(CONTENT_TYPE, "application/octet-stream")
            .body(reqwest::Body::wrap_stream(chunks))
            .send();
        let response = registry
            .within(what, &clock, async {
                patch.await.map_err(|e| registry.unreachable(e))
            })
            .await?;
        let location = registry.upload_location(what, response).await?;
        let Ok(digest) = digest.await else {
            // The layer failed: the registry may drop what it got (DELETE is optional for it).
            let delete = registry
                .authorized(registry.client.delete(&location))
                .send();
            let _ = registry
                .within(what, &Clock::new(), async {
                    delete.await.map_err(|e| registry.unreachable(e))
                })
                .await;
            return Ok(0);
        };
        let url = with_digest(&location, &digest);
        let response = registry
            .send(what, || {
                registry
                    .authorized(registry.client.put(&url))
                    .header(CONTENT_LENGTH, 0)
            })
            .await?;
        registry
            .expect(what, response, StatusCode::CREATED, Some(&digest))
            .await?;
        Ok(sent.load(std::sync::atomic::Ordering::Relaxed))
    }
}

/// A layer's copy for its early upload.
struct EarlyTee {
    uploads: Arc<EarlyUploads>,
    /// What was written before the upload began.
    held: Vec<u8>,
    /// The upload's body and, at the end, the layer's digest.
    sending: Option<(mpsc::Sender<Vec<u8>>, oneshot::Sender<String>)>,
    /// The upload stopped: the rest is not copied.
    stopped: bool,
}

impl Tee for EarlyTee {
    fn write(&mut self, bytes: &[u8]) {
        if self.stopped {
            return;
        }
        if let Some((body, _)) = &self.sending {
            // Err: the upload ended early (it failed, and is logged).
            if body.blocking_send(bytes.to_vec()).is_err() {
                (self.stopped, self.sending) = (true, None);
            }
            return;
        }
        self.held.extend_from_slice(bytes);
        if self.held.len() < EARLY_FROM {
            return;
        }
        let (body, body_out) = mpsc::channel(QUEUED);
        let (digest, digest_out) = oneshot::channel();
        let upload = Arc::clone(&self.uploads).upload(body_out, digest_out);
        let task = self.uploads.runtime.spawn(upload);
        lock(&self.uploads.begun).push(task);
        if body.blocking_send(std::mem::take(&mut self.held)).is_err() {
            self.stopped = true;
            return;
        }
        self.sending = Some((body, digest));
    }

    fn finish(self: Box<Self>, layer: &Layer) {
        if let Some((body, digest)) = self.sending {
            drop(body);
            let _ = digest.send(layer.digest.clone());
        }
    }
}
