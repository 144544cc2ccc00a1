//! Pushing images to a registry (OCI distribution spec): `GET /v2/` and its auth challenge (Basic,
//! or a Bearer token for `repository:<name>:pull,push`, cached until ~80 % of its lifetime and
//! renewed once if the registry refuses it), per blob a `HEAD` that skips what the registry has,
//! else `POST` + one `PUT ?digest=` streamed from the file (monolithic: registries that cap chunks
//! are fine with it; up to 4 blobs at a time), then the manifest by digest and the tags. 5xx, 429
//! (honouring `Retry-After`) and connection failures are retried with backoff, restarting an
//! upload from the file. Redirects are not followed. Credentials are never logged. Pulls (`stack
//! import`) stream each blob to its file, checking its digest as the bytes arrive.
//!
//! Every call is async (reqwest), for the build's task to await; a sync caller blocks on a
//! runtime of its own.
//!
//! Layers can begin their upload while they are written ([`EarlyUploads`], in `early`).
//!
//! It must not assemble images (that is `oci/`) nor decide when to push (the build step does).

mod early;

pub use early::EarlyUploads;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures_util::{StreamExt as _, TryStreamExt as _};
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderMap};
use reqwest::{RequestBuilder, Response, StatusCode};
use tokio::io::AsyncWriteExt as _;

use crate::oci::{Descriptor, Layout, Manifest, valid_digest};

const ATTEMPTS: u32 = 4;
const PARALLEL_UPLOADS: usize = 4;
/// How long a registry may go without reading what is sent or answering, by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// A registry to push to: `host[:port]` and an optional repository prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryRef {
    pub host: String,
    pub prefix: String,
}

impl fmt::Display for RegistryRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.prefix.is_empty() {
            f.write_str(&self.host)
        } else {
            write!(f, "{}/{}", self.host, self.prefix)
        }
    }
}

/// Stack layers are uploaded once, here (under the prefix), and mounted into each app's repository.
const STACK_REPOSITORY: &str = "paas-stack";

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("the registry {registry} is unreachable: {}", cause(.source))]
    Unreachable {
        registry: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("the registry {registry} answered {what} with HTTP {status}{detail}")]
    Status {
        registry: String,
        what: String,
        status: u16,
        detail: String,
    },
    #[error("the registry {registry} stored {what} as {got}, not {expected}")]
    DigestMismatch {
        registry: String,
        what: String,
        expected: String,
        got: String,
    },
    #[error(
        "the registry {registry} stopped answering {what}: nothing moved for {seconds} s (it accepts connections but hangs; --registry-timeout sets the wait)"
    )]
    Stalled {
        registry: String,
        what: String,
        seconds: u64,
    },
    #[error("cannot read {what} from the local image layout")]
    Local {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

/// Registry credentials.
#[derive(Clone)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Credentials {{ username: {:?}, password: <hidden> }}",
            self.username
        )
    }
}

pub struct Registry {
    client: reqwest::Client,
    target: RegistryRef,
    base: String,
    credentials: Option<Credentials>,
    /// The current Authorization header value, and when it must be renewed.
    auth: Mutex<Option<(String, Option<Instant>)>>,
    /// The repository and actions the current token is for, to renew it.
    scope: Mutex<Option<(Vec<String>, String)>>,
    /// How long the registry may go without reading or answering.
    timeout: Duration,
}

/// When bytes last moved on a request: a body stream touches it as the registry reads it.
#[derive(Clone)]
struct Clock(std::sync::Arc<Mutex<tokio::time::Instant>>);

impl Clock {
    fn new() -> Clock {
        Clock(std::sync::Arc::new(Mutex::new(tokio::time::Instant::now())))
    }

    fn touch(&self) {
        *lock(&self.0) = tokio::time::Instant::now();
    }

    fn last(&self) -> tokio::time::Instant {
        *lock(&self.0)
    }
}

impl Registry {
    /// A client for `target`, over plain HTTP if `insecure`. Nothing is sent until a call.
    pub fn new(target: RegistryRef, insecure: bool, credentials: Option<Credentials>) -> Self {
        use_ring();
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("reqwest takes a rustls::ClientConfig of the rustls it is built with");
        let scheme = if insecure { "http" } else { "https" };
        let base = format!("{scheme}://{}", target.host);
        Self {
            client,
            target,
            base,
            credentials,
            auth: Mutex::new(None),
            scope: Mutex::new(None),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// This client with `timeout` as how long the registry may go without reading what is
    /// sent or answering (default [`DEFAULT_TIMEOUT`]).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The next bytes of `response`'s body (of `what`), within the timeout.
    async fn next_chunk(
        &self,
        what: &str,
        response: &mut Response,
    ) -> Result<Option<bytes::Bytes>, RegistryError> {
        self.within(what, &Clock::new(), async {
            response.chunk().await.map_err(|e| self.unreachable(e))
        })
        .await
    }

    /// Runs `request` until it is done, or fails it once `clock` stood still for the timeout.
    async fn within<T>(
        &self,
        what: &str,
        clock: &Clock,
        request: impl Future<Output = Result<T, RegistryError>>,
    ) -> Result<T, RegistryError> {
        clock.touch();
        tokio::pin!(request);
        loop {
            let by = clock.last() + self.timeout;
            tokio::select! {
                done = &mut request => return done,
                () = tokio::time::sleep_until(by) => {
                    if clock.last() + self.timeout <= tokio::time::Instant::now() {
                        return Err(RegistryError::Stalled {
                            registry: self.name(),
                            what: what.to_owned(),
                            seconds: self.timeout.as_secs(),
                        });
                    }
                }
            }
        }
    }

    /// `host[:port]/prefix/<app>`, as users pull it.
    pub fn reference(&self, app: &str) -> String {
        format!("{}/{}", self.target, app)
    }

    fn repository(&self, app: &str) -> String {
        if self.target.prefix.is_empty() {
            app.to_owned()
        } else {
            format!("{}/{app}", self.target.prefix)
        }
    }

    fn name(&self) -> String {
        self.target.to_string()
    }

    /// The repositories a push to `app` needs a token for: its own, and the stack repository
    /// its stack layers are mounted from (`stack`).
    fn scopes(&self, app: &str, stack: bool) -> Vec<String> {
        let mut scopes = vec![self.repository(app)];
        if stack {
            scopes.push(self.repository(STACK_REPOSITORY));
        }
        scopes
    }

    /// Pushes the image `manifest` of `layout` as `<prefix>/<app>`, tagged with each of `tags`.
    /// Returns the number of blob bytes uploaded (blobs the registry had are skipped).
    pub async fn push(
        &self,
        layout: &Layout,
        manifest: &Descriptor,
        app: &str,
        tags: &[String],
        stack_layers: &[String],
    ) -> Result<u64, RegistryError> {
        let repository = self.repository(app);
        let stack_repository = self.repository(STACK_REPOSITORY);
        let local = |what: &str| {
            let what = what.to_owned();
            move |source| RegistryError::Local { what, source }
        };
        let manifest_bytes = tokio::fs::read(layout.blob_path(&manifest.digest))
            .await
            .map_err(local("the manifest"))?;
        let blobs: Vec<(String, u64)> = Manifest::parse(&manifest_bytes)
            .map_err(local("the manifest"))?
            .blobs()
            .map(|d| (d.digest.clone(), d.size))
            .collect();
        self.authenticate(&self.scopes(app, !stack_layers.is_empty()), "pull,push")
            .await?;
        let mut missing = Vec::new();
        for (digest, size) in &blobs {
            if !self.has_blob(&repository, digest).await? {
                missing.push((digest.as_str(), *size, stack_layers.contains(digest)));
            }
        }
        // Up to PARALLEL_UPLOADS blobs at a time; the manifest goes only after all of them.
        let (repository, stack_repository) = (repository.as_str(), stack_repository.as_str());
        // Collected first: a stream mapped by a closure that borrows makes rustc fail to prove
        // the build's future Send ("not general enough", rust-lang/rust#110338).
        let uploads: Vec<_> = missing
            .into_iter()
            .map(|(digest, size, shared)| async move {
                if shared {
                    self.mount_stack_layer(layout, repository, stack_repository, digest, size)
                        .await
                } else {
                    self.upload_blob(layout, repository, digest, size)
                        .await
                        .map(|()| size)
                }
            })
            .collect();
        let mut uploads = futures_util::stream::iter(uploads).buffer_unordered(PARALLEL_UPLOADS);
        let mut uploaded = 0;
        while let Some(sent) = uploads.next().await {
            uploaded += sent?;
        }
        for reference in std::iter::once(&manifest.digest).chain(tags) {
            self.put_manifest(repository, manifest, &manifest_bytes, reference)
                .await?;
        }
        Ok(uploaded)
    }

    /// Adds tag `tag` to an image already pushed with [`Registry::push`].
    pub async fn tag(
        &self,
        layout: &Layout,
        manifest: &Descriptor,
        app: &str,
        tag: &str,
    ) -> Result<(), RegistryError> {
        let repository = self.repository(app);
        let bytes = tokio::fs::read(layout.blob_path(&manifest.digest))
            .await
            .map_err(|source| RegistryError::Local {
                what: "the manifest".into(),
                source,
            })?;
        self.authenticate(std::slice::from_ref(&repository), "pull,push")
            .await?;
        self.put_manifest(&repository, manifest, &bytes, tag).await
    }

    /// Fetches manifest `reference` of `repository` (image indexes resolved to linux/amd64),
    /// checking its digest when `reference` is one. Returns the manifest's bytes.
    pub async fn pull_manifest(
        &self,
        repository: &str,
        reference: &str,
    ) -> Result<Vec<u8>, RegistryError> {
        self.authenticate(&[repository.to_owned()], "pull").await?;
        let bytes = self.get_manifest(repository, reference).await?;
        let parsed: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|_| self.bad_content(reference, "is not JSON"))?;
        if !parsed["manifests"].is_array() {
            return Ok(bytes);
        }
        let chosen = parsed["manifests"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|m| m["platform"]["os"] == "linux" && m["platform"]["architecture"] == "amd64")
            .and_then(|m| m["digest"].as_str())
            .ok_or_else(|| self.bad_content(reference, "has no linux/amd64 image"))?
            .to_owned();
        self.get_manifest(repository, &chosen).await
    }

    async fn get_manifest(
        &self,
        repository: &str,
        reference: &str,
    ) -> Result<Vec<u8>, RegistryError> {
        const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, \
             application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";
        const LIMIT: usize = 4 << 20;
        let url = format!("{}/v2/{repository}/manifests/{reference}", self.base);
        let what = format!("the manifest {reference}");
        let mut response = self
            .send(&what, || {
                self.authorized(self.client.get(&url))
                    .header("Accept", ACCEPT)
            })
            .await?;
        if response.status() != StatusCode::OK {
            return Err(self.status_error(
                &what,
                response.status().as_u16(),
                detail_of(response).await,
            ));
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = self.next_chunk(&what, &mut response).await? {
            if bytes.len() + chunk.len() > LIMIT {
                return Err(self.bad_content(reference, "is larger than 4 MiB"));
            }
            bytes.extend_from_slice(&chunk);
        }
        if valid_digest(reference) && crate::oci::sha256_digest(&bytes) != reference {
            return Err(RegistryError::DigestMismatch {
                registry: self.name(),
                what,
                expected: reference.to_owned(),
                got: crate::oci::sha256_digest(&bytes),
            });
        }
        Ok(bytes)
    }

    /// Downloads blob `digest` into `dest`, hashing as it streams; a blob whose bytes do not
    /// match its digest is refused. On any error `dest` is removed (no half blob stays under a
    /// digest's name). Returns its size in bytes.
    pub async fn pull_blob(
        &self,
        repository: &str,
        digest: &str,
        dest: &Path,
        mut progress: impl FnMut(u64),
    ) -> Result<u64, RegistryError> {
        let url = format!("{}/v2/{repository}/blobs/{digest}", self.base);
        let what = format!("the blob {digest}");
        let mut response = self
            .send(&what, || self.authorized(self.client.get(&url)))
            .await?;
        if response.status() != StatusCode::OK {
            return Err(self.status_error(
                &what,
                response.status().as_u16(),
                detail_of(response).await,
            ));
        }
        let local = |source| RegistryError::Local {
            what: format!("{digest} (writing it)"),
            source,
        };
        let mut file = tokio::fs::File::create(dest).await.map_err(local)?;
        let streamed = async {
            let mut hasher = <sha2::Sha256 as sha2::Digest>::new();
            let mut size = 0u64;
            while let Some(chunk) = self.next_chunk(&what, &mut response).await? {
                sha2::Digest::update(&mut hasher, &chunk);
                file.write_all(&chunk).await.map_err(local)?;
                size += chunk.len() as u64;
                progress(size);
            }
            // tokio writes in the background: the last write's error shows only here.
            file.flush().await.map_err(local)?;
            let got = format!(
                "sha256:{}",
                crate::oci::hex(&sha2::Digest::finalize(hasher))
            );
            if got != digest {
                return Err(RegistryError::DigestMismatch {
                    registry: self.name(),
                    what: what.clone(),
                    expected: digest.to_owned(),
                    got,
                });
            }
            Ok(size)
        }
        .await;
        if streamed.is_err() {
            let _ = tokio::fs::remove_file(dest).await;
        }
        streamed
    }

    fn bad_content(&self, reference: &str, problem: &str) -> RegistryError {
        RegistryError::Status {
            registry: self.name(),
            what: format!("the manifest {reference}"),
            status: 200,
            detail: format!(", but it {problem}"),
        }
    }

    async fn put_manifest(
        &self,
        repository: &str,
        manifest: &Descriptor,
        bytes: &[u8],
        reference: &str,
    ) -> Result<(), RegistryError> {
        let url = format!("{}/v2/{repository}/manifests/{reference}", self.base);
        let what = format!("the manifest {reference}");
        let response = self
            .send(&what, || {
                self.authorized(self.client.put(&url))
                    .header(CONTENT_TYPE, manifest.media_type.as_str())
                    .body(bytes.to_vec())
            })
            .await?;
        self.expect(&what, response, StatusCode::CREATED, Some(&manifest.digest))
            .await
    }

    /// `GET /v2/`: learns the auth scheme and gets a token if the registry wants one.
    async fn authenticate(
        &self,
        repositories: &[String],
        actions: &str,
    ) -> Result<(), RegistryError> {
        let scope = Some((repositories.to_vec(), actions.to_owned()));
        // A token is for its scope: another scope needs another.
        let same_scope = *lock(&self.scope) == scope;
        *lock(&self.scope) = scope;
        if same_scope
            && let Some((_, Some(renew_at))) = &*lock(&self.auth)
            && Instant::now() < *renew_at
        {
            return Ok(());
        }
        let url = format!("{}/v2/", self.base);
        let response = self
            .send("the API check (GET /v2/)", || self.client.get(&url))
            .await?;
        match response.status() {
            StatusCode::OK => Ok(()),
            StatusCode::UNAUTHORIZED => {
                let challenge = header(response.headers(), "www-authenticate").unwrap_or_default();
                self.answer_challenge(&challenge, repositories, actions)
                    .await
            }
            status => {
                Err(self.status_error("the API check (GET /v2/)", status.as_u16(), String::new()))
            }
        }
    }

    async fn answer_challenge(
        &self,
        challenge: &str,
        repositories: &[String],
        actions: &str,
    ) -> Result<(), RegistryError> {
        let no_credentials = || RegistryError::Status {
            registry: self.name(),
            what: "the API check (GET /v2/)".into(),
            status: 401,
            detail: ": it needs credentials (--registry-username and PAAS_REGISTRY_PASSWORD)"
                .into(),
        };
        if challenge.to_ascii_lowercase().starts_with("basic") {
            let credentials = self.credentials.as_ref().ok_or_else(no_credentials)?;
            *lock(&self.auth) = Some((basic(credentials), None));
            return Ok(());
        }
        let params = challenge_params(challenge);
        let realm = params
            .iter()
            .find(|(k, _)| k == "realm")
            .map(|(_, v)| v.clone())
            .ok_or_else(no_credentials)?;
        let mut request = self.client.get(&realm);
        for repository in repositories {
            request = request.query(&[("scope", format!("repository:{repository}:{actions}"))]);
        }
        if let Some((_, service)) = params.iter().find(|(k, _)| k == "service") {
            request = request.query(&[("service", service)]);
        }
        if let Some(credentials) = &self.credentials {
            request = request.header("Authorization", basic(credentials));
        }
        let what = "the token request";
        let response = self
            .within(what, &Clock::new(), async {
                request.send().await.map_err(|e| self.unreachable(e))
            })
            .await?;
        if response.status() != StatusCode::OK {
            return Err(self.status_error(
                "the token request",
                response.status().as_u16(),
                String::new(),
            ));
        }
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        let token = body["token"]
            .as_str()
            .or(body["access_token"].as_str())
            .unwrap_or_default();
        let lifetime = body["expires_in"].as_u64().unwrap_or(60);
        *lock(&self.auth) = Some((
            format!("Bearer {token}"),
            Some(Instant::now() + Duration::from_secs(lifetime * 8 / 10)),
        ));
        Ok(())
    }

    fn has_token(&self) -> bool {
        lock(&self.auth)
            .as_ref()
            .is_some_and(|(value, _)| value.starts_with("Bearer "))
    }

    async fn renew_token(&self) -> Result<(), RegistryError> {
        *lock(&self.auth) = None;
        let scope = lock(&self.scope).clone();
        match scope {
            Some((repositories, actions)) => self.authenticate(&repositories, &actions).await,
            None => Ok(()),
        }
    }

    fn authorized(&self, request: RequestBuilder) -> RequestBuilder {
        match &*lock(&self.auth) {
            Some((value, _)) => request.header("Authorization", value.as_str()),
            None => request,
        }
    }

    async fn has_blob(&self, repository: &str, digest: &str) -> Result<bool, RegistryError> {
        let url = format!("{}/v2/{repository}/blobs/{digest}", self.base);
        let what = format!("the blob check of {digest}");
        let response = self
            .send(&what, || self.authorized(self.client.head(&url)))
            .await?;
        match response.status() {
            StatusCode::OK => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            status => Err(self.status_error(&what, status.as_u16(), String::new())),
        }
    }

    /// Puts a stack layer into `repository` by mounting it from the stack repository (uploading
    /// it there first if needed). Returns the bytes uploaded.
    async fn mount_stack_layer(
        &self,
        layout: &Layout,
        repository: &str,
        stack_repository: &str,
        digest: &str,
        size: u64,
    ) -> Result<u64, RegistryError> {
        let mut uploaded = 0;
        if !self.has_blob(stack_repository, digest).await? {
            self.upload_blob(layout, stack_repository, digest, size)
                .await?;
            uploaded = size;
        }
        let url = format!(
            "{}/v2/{repository}/blobs/uploads/?mount={digest}&from={stack_repository}",
            self.base
        );
        let what = format!("the mount of {digest}");
        let response = self
            .send(&what, || self.authorized(self.client.post(&url)))
            .await?;
        match response.status() {
            StatusCode::CREATED => Ok(uploaded),
            // 202: the registry opened an upload instead of mounting; send the bytes.
            StatusCode::ACCEPTED => self
                .upload_blob(layout, repository, digest, size)
                .await
                .map(|()| uploaded + size),
            status => Err(self.status_error(&what, status.as_u16(), detail_of(response).await)),
        }
    }

    async fn upload_blob(
        &self,
        layout: &Layout,
        repository: &str,
        digest: &str,
        size: u64,
    ) -> Result<(), RegistryError> {
        let what = format!("the upload of {digest}");
        let location = self.open_upload(&what, repository).await?;
        let url = with_digest(&location, digest);
        let path = layout.blob_path(digest);
        let clock = Clock::new();
        let response = self
            .send_with(&what, &clock, || {
                self.authorized(self.client.put(&url))
                    .header(CONTENT_TYPE, "application/octet-stream")
                    .header(CONTENT_LENGTH, size)
                    .body(file_body(path.clone(), clock.clone()))
            })
            .await?;
        self.expect(&what, response, StatusCode::CREATED, Some(digest))
            .await
    }

    /// Opens an upload of a blob to `repository` (`POST`): where it goes on.
    async fn open_upload(&self, what: &str, repository: &str) -> Result<String, RegistryError> {
        let start = format!("{}/v2/{repository}/blobs/uploads/", self.base);
        let response = self
            .send(what, || self.authorized(self.client.post(&start)))
            .await?;
        self.upload_location(what, response).await
    }

    /// Where an upload goes on, from the registry's `202 Accepted` to its start (`POST`) or a
    /// chunk of it (`PATCH`): the `Location` header, absolute.
    async fn upload_location(
        &self,
        what: &str,
        response: Response,
    ) -> Result<String, RegistryError> {
        if response.status() != StatusCode::ACCEPTED {
            return Err(self.status_error(
                what,
                response.status().as_u16(),
                detail_of(response).await,
            ));
        }
        let location = header(response.headers(), "location").unwrap_or_default();
        Ok(if location.starts_with('/') {
            format!("{}{location}", self.base)
        } else {
            location
        })
    }

    /// Sends the request `request` builds (again on each attempt), with retries on 5xx, 429
    /// and connection failures; one the registry leaves hanging fails.
    async fn send(
        &self,
        what: &str,
        request: impl Fn() -> RequestBuilder,
    ) -> Result<Response, RegistryError> {
        self.send_with(what, &Clock::new(), request).await
    }

    /// [`Registry::send`] of a request whose body touches `clock` as it is read.
    async fn send_with(
        &self,
        what: &str,
        clock: &Clock,
        request: impl Fn() -> RequestBuilder,
    ) -> Result<Response, RegistryError> {
        let mut delay = Duration::from_millis(200);
        let mut renewed = false;
        for attempt in 1..=ATTEMPTS {
            let last = attempt == ATTEMPTS;
            let sent = self.within(what, clock, async { Ok(request().send().await) });
            match sent.await? {
                // A token that expired early (or was revoked): get a new one, once.
                Ok(response)
                    if response.status() == StatusCode::UNAUTHORIZED
                        && !renewed
                        && self.has_token() =>
                {
                    renewed = true;
                    // Boxed: renewing sends the API check through here.
                    Box::pin(self.renew_token()).await?;
                }
                Ok(response)
                    if !last
                        && (response.status().is_server_error()
                            || response.status() == StatusCode::TOO_MANY_REQUESTS) =>
                {
                    let wait = header(response.headers(), "retry-after")
                        .and_then(|s| s.parse::<u64>().ok())
                        .map_or(delay, |s| Duration::from_secs(s.min(30)));
                    tracing::warn!(registry = %self.name(), what, status = response.status().as_u16(), attempt, "registry error; retrying");
                    tokio::time::sleep(wait).await;
                }
                Ok(response) => return Ok(response),
                Err(e) if !last => {
                    tracing::warn!(registry = %self.name(), what, error = %cause(&e), attempt, "registry unreachable; retrying");
                    tokio::time::sleep(delay).await;
                }
                Err(source) => return Err(self.unreachable(source)),
            }
            delay *= 4;
        }
        unreachable!("the last attempt returns")
    }

    /// Checks the status and, where given, that the registry computed the same digest.
    async fn expect(
        &self,
        what: &str,
        response: Response,
        status: StatusCode,
        digest: Option<&str>,
    ) -> Result<(), RegistryError> {
        if response.status() != status {
            return Err(self.status_error(
                what,
                response.status().as_u16(),
                detail_of(response).await,
            ));
        }
        if let (Some(expected), Some(got)) =
            (digest, header(response.headers(), "docker-content-digest"))
            && got != expected
        {
            return Err(RegistryError::DigestMismatch {
                registry: self.name(),
                what: what.to_owned(),
                expected: expected.to_owned(),
                got,
            });
        }
        Ok(())
    }

    fn status_error(&self, what: &str, status: u16, detail: String) -> RegistryError {
        RegistryError::Status {
            registry: self.name(),
            what: what.to_owned(),
            status,
            detail,
        }
    }

    fn unreachable(&self, source: reqwest::Error) -> RegistryError {
        RegistryError::Unreachable {
            registry: self.name(),
            source,
        }
    }
}

/// The auth state stays consistent under a panic elsewhere: each update is one assignment.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The file at `path` as a request body, opened when the body is first read: a retried upload
/// starts again from the first byte. Each chunk the registry takes touches `clock`.
fn file_body(path: PathBuf, clock: Clock) -> reqwest::Body {
    // Each read is a trip to tokio's blocking pool: 256 KiB, not ReaderStream's default 4 KiB.
    const CHUNK: usize = 256 << 10;
    let chunks = futures_util::stream::once(tokio::fs::File::open(path))
        .map_ok(|file| tokio_util::io::ReaderStream::with_capacity(file, CHUNK))
        .try_flatten()
        .inspect(move |_| clock.touch());
    reqwest::Body::wrap_stream(chunks)
}

/// What went wrong under a failed request (`Connection refused (os error 111)`): reqwest's own
/// message names only the URL.
fn cause(e: &reqwest::Error) -> &(dyn std::error::Error + 'static) {
    anyhow::Chain::new(e).last().unwrap_or(e)
}

/// An upload's `location` with the `digest` query parameter that completes it (`PUT`).
fn with_digest(location: &str, digest: &str) -> String {
    let separator = if location.contains('?') { '&' } else { '?' };
    format!("{location}{separator}digest={digest}")
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The registry's error code, as `: CODE (message)`, from a distribution-spec error body.
async fn detail_of(response: Response) -> String {
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    match (
        body["errors"][0]["code"].as_str(),
        body["errors"][0]["message"].as_str(),
    ) {
        (Some(code), Some(message)) => format!(": {code} ({message})"),
        (Some(code), None) => format!(": {code}"),
        _ => String::new(),
    }
}

fn basic(credentials: &Credentials) -> String {
    format!(
        "Basic {}",
        base64(format!("{}:{}", credentials.username, credentials.password).as_bytes())
    )
}

pub(crate) fn base64(bytes: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(TABLE[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// `Bearer realm="https://auth",service="registry",scope="…"` → key/value pairs.
fn challenge_params(challenge: &str) -> Vec<(String, String)> {
    let params = challenge.split_once(' ').map_or("", |(_, p)| p);
    params
        .split(',')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| {
            (
                k.trim().to_ascii_lowercase(),
                v.trim().trim_matches('"').to_owned(),
            )
        })
        .collect()
}

/// rustls's crypto is ring's (no OpenSSL, no aws-lc-rs): made the process's default, which
/// reqwest takes with the platform's verifier, so that the host's trust store (CAs an operator
/// added, as behind a TLS-inspecting proxy) is trusted.
pub fn use_ring() {
    // Already installed by an earlier client: the same provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_and_challenges() {
        assert_eq!(base64(b"user:pass"), "dXNlcjpwYXNz");
        assert_eq!(base64(b"a"), "YQ==");
        assert_eq!(base64(b"ab"), "YWI=");
        let params = challenge_params(
            r#"Bearer realm="https://auth.example/token",service="registry.example""#,
        );
        assert_eq!(
            params[0],
            ("realm".into(), "https://auth.example/token".into())
        );
        assert_eq!(params[1], ("service".into(), "registry.example".into()));
    }
}
