//! Pushing images to a registry (OCI distribution spec): `GET /v2/` and its auth challenge (Basic,
//! or a Bearer token for `repository:<name>:pull,push`, cached until ~80 % of its lifetime and
//! renewed once if the registry refuses it), per
//! blob a `HEAD` that skips what the registry has, else `POST` + one streamed `PUT ?digest=`
//! (monolithic: registries that cap chunks are fine with it; up to 4 blobs at a time), then the
//! manifest by digest and the tags. 5xx, 429 (honouring `Retry-After`) and connection failures are retried with backoff,
//! restarting an upload from the file. Credentials are never logged.
//!
//! It must not assemble images (that is `oci/`) nor decide when to push (the build step does).

use std::fmt;
use std::time::{Duration, Instant};

use ureq::http::{HeaderMap, Response, StatusCode};

use crate::oci::{Descriptor, Layout, Manifest, valid_digest};

const ATTEMPTS: u32 = 4;
const PARALLEL_UPLOADS: usize = 4;

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
    #[error("the registry {registry} is unreachable: {source}")]
    Unreachable {
        registry: String,
        #[source]
        source: ureq::Error,
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
    agent: ureq::Agent,
    target: RegistryRef,
    base: String,
    credentials: Option<Credentials>,
    /// The current Authorization header value, and when it must be renewed.
    auth: std::sync::Mutex<Option<(String, Option<Instant>)>>,
    /// The repository and actions the current token is for, to renew it.
    scope: std::sync::Mutex<Option<(Vec<String>, String)>>,
}

impl Registry {
    pub fn new(target: RegistryRef, insecure: bool, credentials: Option<Credentials>) -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(10)))
            .max_redirects(0)
            .build()
            .into();
        let scheme = if insecure { "http" } else { "https" };
        let base = format!("{scheme}://{}", target.host);
        Self {
            agent,
            target,
            base,
            credentials,
            auth: std::sync::Mutex::new(None),
            scope: std::sync::Mutex::new(None),
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

    /// Pushes the image `manifest` of `layout` as `<prefix>/<app>`, tagged with each of `tags`.
    /// Returns the number of blob bytes uploaded (blobs the registry had are skipped).
    pub fn push(
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
        let manifest_bytes =
            std::fs::read(layout.blob_path(&manifest.digest)).map_err(local("the manifest"))?;
        let blobs: Vec<(String, u64)> = Manifest::parse(&manifest_bytes)
            .map_err(local("the manifest"))?
            .blobs()
            .map(|d| (d.digest.clone(), d.size))
            .collect();
        let scopes = if stack_layers.is_empty() {
            vec![repository.clone()]
        } else {
            vec![repository.clone(), stack_repository.clone()]
        };
        self.authenticate(&scopes, "pull,push")?;
        let mut missing = Vec::new();
        for (digest, size) in &blobs {
            if !self.has_blob(&repository, digest)? {
                missing.push((digest.as_str(), *size, stack_layers.contains(digest)));
            }
        }
        // Up to PARALLEL_UPLOADS blobs at a time; the manifest goes only after all of them.
        let queue = std::sync::Mutex::new(missing.iter());
        let results: Vec<Result<u64, RegistryError>> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..PARALLEL_UPLOADS.min(missing.len()))
                .map(|_| {
                    scope.spawn(|| {
                        let mut sent = 0;
                        loop {
                            let next = queue
                                .lock()
                                .unwrap_or_else(std::sync::PoisonError::into_inner)
                                .next();
                            let Some((digest, size, shared)) = next else {
                                return Ok(sent);
                            };
                            sent += if *shared {
                                self.mount_stack_layer(
                                    layout,
                                    &repository,
                                    &stack_repository,
                                    digest,
                                    *size,
                                )?
                            } else {
                                self.upload_blob(layout, &repository, digest, *size)?;
                                *size
                            };
                        }
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|w| w.join().expect("upload threads do not panic"))
                .collect()
        });
        let mut uploaded = 0;
        for result in results {
            uploaded += result?;
        }
        for reference in std::iter::once(&manifest.digest).chain(tags) {
            self.put_manifest(&repository, manifest, &manifest_bytes, reference)?;
        }
        Ok(uploaded)
    }

    /// Adds tag `tag` to an image already pushed with [`Registry::push`].
    pub fn tag(
        &self,
        layout: &Layout,
        manifest: &Descriptor,
        app: &str,
        tag: &str,
    ) -> Result<(), RegistryError> {
        let repository = self.repository(app);
        let bytes = std::fs::read(layout.blob_path(&manifest.digest)).map_err(|source| {
            RegistryError::Local {
                what: "the manifest".into(),
                source,
            }
        })?;
        self.authenticate(std::slice::from_ref(&repository), "pull,push")?;
        self.put_manifest(&repository, manifest, &bytes, tag)
    }

    /// Fetches manifest `reference` of `repository` (image indexes resolved to linux/amd64),
    /// checking its digest when `reference` is one. Returns the manifest's bytes.
    pub fn pull_manifest(
        &self,
        repository: &str,
        reference: &str,
    ) -> Result<Vec<u8>, RegistryError> {
        self.authenticate(&[repository.to_owned()], "pull")?;
        let bytes = self.get_manifest(repository, reference)?;
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
        self.get_manifest(repository, &chosen)
    }

    fn get_manifest(&self, repository: &str, reference: &str) -> Result<Vec<u8>, RegistryError> {
        const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, \
             application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";
        let url = format!("{}/v2/{repository}/manifests/{reference}", self.base);
        let what = format!("the manifest {reference}");
        let mut response = self.send(&what, || {
            self.authorized(self.agent.get(&url))
                .header("Accept", ACCEPT)
                .call()
        })?;
        if response.status() != StatusCode::OK {
            return Err(self.status_error(&what, response.status().as_u16(), detail_of(response)));
        }
        let bytes = response
            .body_mut()
            .with_config()
            .limit(4 << 20)
            .read_to_vec()
            .map_err(|source| RegistryError::Unreachable {
                registry: self.name(),
                source,
            })?;
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
    /// match its digest is refused (and `dest` removed).
    pub fn pull_blob(
        &self,
        repository: &str,
        digest: &str,
        dest: &std::path::Path,
    ) -> Result<u64, RegistryError> {
        let url = format!("{}/v2/{repository}/blobs/{digest}", self.base);
        let what = format!("the blob {digest}");
        let response = self.send(&what, || self.authorized(self.agent.get(&url)).call())?;
        if response.status() != StatusCode::OK {
            return Err(self.status_error(&what, response.status().as_u16(), detail_of(response)));
        }
        let local = |source| RegistryError::Local {
            what: format!("{digest} (writing it)"),
            source,
        };
        let mut file = std::fs::File::create(dest).map_err(local)?;
        let mut reader = response.into_body().into_reader();
        let mut hasher = <sha2::Sha256 as sha2::Digest>::new();
        let mut buf = vec![0u8; 1 << 16];
        let mut size = 0u64;
        loop {
            let n =
                std::io::Read::read(&mut reader, &mut buf).map_err(|e| RegistryError::Local {
                    what: what.clone(),
                    source: e,
                })?;
            if n == 0 {
                break;
            }
            sha2::Digest::update(&mut hasher, &buf[..n]);
            std::io::Write::write_all(&mut file, &buf[..n]).map_err(local)?;
            size += n as u64;
        }
        let got = format!(
            "sha256:{}",
            crate::oci::hex(&sha2::Digest::finalize(hasher))
        );
        if got != digest {
            let _ = std::fs::remove_file(dest);
            return Err(RegistryError::DigestMismatch {
                registry: self.name(),
                what,
                expected: digest.to_owned(),
                got,
            });
        }
        Ok(size)
    }

    fn bad_content(&self, reference: &str, problem: &str) -> RegistryError {
        RegistryError::Status {
            registry: self.name(),
            what: format!("the manifest {reference}"),
            status: 200,
            detail: format!(", but it {problem}"),
        }
    }

    fn put_manifest(
        &self,
        repository: &str,
        manifest: &Descriptor,
        bytes: &[u8],
        reference: &str,
    ) -> Result<(), RegistryError> {
        let url = format!("{}/v2/{repository}/manifests/{reference}", self.base);
        let what = format!("the manifest {reference}");
        let response = self.send(&what, || {
            self.authorized(self.agent.put(&url))
                .header("Content-Type", manifest.media_type.as_str())
                .send(bytes)
        })?;
        self.expect(&what, response, StatusCode::CREATED, Some(&manifest.digest))
    }

    /// `GET /v2/`: learns the auth scheme and gets a token if the registry wants one.
    fn authenticate(&self, repositories: &[String], actions: &str) -> Result<(), RegistryError> {
        *self
            .scope
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) =
            Some((repositories.to_vec(), actions.to_owned()));
        if let Some((_, Some(renew_at))) = &*self
            .auth
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            && Instant::now() < *renew_at
        {
            return Ok(());
        }
        let url = format!("{}/v2/", self.base);
        let response = self.send("the API check (GET /v2/)", || self.agent.get(&url).call())?;
        match response.status() {
            StatusCode::OK => Ok(()),
            StatusCode::UNAUTHORIZED => {
                let challenge = header(response.headers(), "www-authenticate").unwrap_or_default();
                self.answer_challenge(&challenge, repositories, actions)
            }
            status => {
                Err(self.status_error("the API check (GET /v2/)", status.as_u16(), String::new()))
            }
        }
    }

    fn answer_challenge(
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
        let mut auth = self
            .auth
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if challenge.to_ascii_lowercase().starts_with("basic") {
            let credentials = self.credentials.as_ref().ok_or_else(no_credentials)?;
            *auth = Some((basic(credentials), None));
            return Ok(());
        }
        let params = challenge_params(challenge);
        let realm = params
            .iter()
            .find(|(k, _)| k == "realm")
            .map(|(_, v)| v.clone())
            .ok_or_else(no_credentials)?;
        let mut request = self.agent.get(&realm);
        for repository in repositories {
            request = request.query("scope", format!("repository:{repository}:{actions}"));
        }
        if let Some((_, service)) = params.iter().find(|(k, _)| k == "service") {
            request = request.query("service", service);
        }
        if let Some(credentials) = &self.credentials {
            request = request.header("Authorization", basic(credentials));
        }
        let mut response = request
            .call()
            .map_err(|source| RegistryError::Unreachable {
                registry: self.name(),
                source,
            })?;
        if response.status() != StatusCode::OK {
            return Err(self.status_error(
                "the token request",
                response.status().as_u16(),
                String::new(),
            ));
        }
        let body: serde_json::Value = response.body_mut().read_json().unwrap_or_default();
        let token = body["token"]
            .as_str()
            .or(body["access_token"].as_str())
            .unwrap_or_default();
        let lifetime = body["expires_in"].as_u64().unwrap_or(60);
        *auth = Some((
            format!("Bearer {token}"),
            Some(Instant::now() + Duration::from_secs(lifetime * 8 / 10)),
        ));
        Ok(())
    }

    fn has_token(&self) -> bool {
        self.auth
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
            .is_some_and(|(value, _)| value.starts_with("Bearer "))
    }

    fn renew_token(&self) -> Result<(), RegistryError> {
        *self
            .auth
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
        let scope = self
            .scope
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        match scope {
            Some((repositories, actions)) => self.authenticate(&repositories, &actions),
            None => Ok(()),
        }
    }

    fn authorized<B>(&self, request: ureq::RequestBuilder<B>) -> ureq::RequestBuilder<B> {
        match &*self
            .auth
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
        {
            Some((value, _)) => request.header("Authorization", value.as_str()),
            None => request,
        }
    }

    fn has_blob(&self, repository: &str, digest: &str) -> Result<bool, RegistryError> {
        let url = format!("{}/v2/{repository}/blobs/{digest}", self.base);
        let what = format!("the blob check of {digest}");
        let response = self.send(&what, || self.authorized(self.agent.head(&url)).call())?;
        match response.status() {
            StatusCode::OK => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            status => Err(self.status_error(&what, status.as_u16(), String::new())),
        }
    }

    /// Puts a stack layer into `repository` by mounting it from the stack repository (uploading
    /// it there first if needed). Returns the bytes uploaded.
    fn mount_stack_layer(
        &self,
        layout: &Layout,
        repository: &str,
        stack_repository: &str,
        digest: &str,
        size: u64,
    ) -> Result<u64, RegistryError> {
        let mut uploaded = 0;
        if !self.has_blob(stack_repository, digest)? {
            self.upload_blob(layout, stack_repository, digest, size)?;
            uploaded = size;
        }
        let url = format!(
            "{}/v2/{repository}/blobs/uploads/?mount={digest}&from={stack_repository}",
            self.base
        );
        let what = format!("the mount of {digest}");
        let response = self.send(&what, || {
            self.authorized(self.agent.post(&url)).send_empty()
        })?;
        match response.status() {
            StatusCode::CREATED => Ok(uploaded),
            // 202: the registry opened an upload instead of mounting; send the bytes.
            StatusCode::ACCEPTED => self
                .upload_blob(layout, repository, digest, size)
                .map(|()| uploaded + size),
            status => Err(self.status_error(&what, status.as_u16(), detail_of(response))),
        }
    }

    fn upload_blob(
        &self,
        layout: &Layout,
        repository: &str,
        digest: &str,
        size: u64,
    ) -> Result<(), RegistryError> {
        let what = format!("the upload of {digest}");
        let start = format!("{}/v2/{repository}/blobs/uploads/", self.base);
        let response = self.send(&what, || {
            self.authorized(self.agent.post(&start)).send_empty()
        })?;
        if response.status() != StatusCode::ACCEPTED {
            return Err(self.status_error(&what, response.status().as_u16(), detail_of(response)));
        }
        let location = header(response.headers(), "location").unwrap_or_default();
        let location = if location.starts_with('/') {
            format!("{}{location}", self.base)
        } else {
            location
        };
        let separator = if location.contains('?') { '&' } else { '?' };
        let url = format!("{location}{separator}digest={digest}");
        let path = layout.blob_path(digest);
        let response = self.send(&what, || {
            // Reopened on every attempt: a retried upload starts again from the first byte.
            let mut file = std::fs::File::open(&path).map_err(ureq::Error::Io)?;
            self.authorized(self.agent.put(&url))
                .header("Content-Type", "application/octet-stream")
                .header("Content-Length", size.to_string())
                .send(ureq::SendBody::from_reader(&mut file))
        })?;
        self.expect(&what, response, StatusCode::CREATED, Some(digest))
    }

    /// Sends with retries on 5xx, 429 and connection failures.
    fn send(
        &self,
        what: &str,
        request: impl Fn() -> Result<Response<ureq::Body>, ureq::Error>,
    ) -> Result<Response<ureq::Body>, RegistryError> {
        let mut delay = Duration::from_millis(200);
        let mut renewed = false;
        for attempt in 1..=ATTEMPTS {
            let last = attempt == ATTEMPTS;
            match request() {
                // A token that expired early (or was revoked): get a new one, once.
                Ok(response)
                    if response.status() == StatusCode::UNAUTHORIZED
                        && !renewed
                        && self.has_token() =>
                {
                    renewed = true;
                    self.renew_token()?;
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
                    std::thread::sleep(wait);
                }
                Ok(response) => return Ok(response),
                Err(e) if !last => {
                    tracing::warn!(registry = %self.name(), what, error = %e, attempt, "registry unreachable; retrying");
                    std::thread::sleep(delay);
                }
                Err(source) => {
                    return Err(RegistryError::Unreachable {
                        registry: self.name(),
                        source,
                    });
                }
            }
            delay *= 4;
        }
        unreachable!("the last attempt returns")
    }

    /// Checks the status and, where given, that the registry computed the same digest.
    fn expect(
        &self,
        what: &str,
        response: Response<ureq::Body>,
        status: StatusCode,
        digest: Option<&str>,
    ) -> Result<(), RegistryError> {
        if response.status() != status {
            return Err(self.status_error(what, response.status().as_u16(), detail_of(response)));
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
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The registry's error code, as `: CODE (message)`, from a distribution-spec error body.
fn detail_of(mut response: Response<ureq::Body>) -> String {
    let body: serde_json::Value = response.body_mut().read_json().unwrap_or_default();
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
