//! The HTTP client for the paas API: bearer auth, JSON bodies, and failures turned into
//! [`CliError`]s that say what happened and how to fix it.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use paas_share::ApiError;
use reqwest::blocking::{Client, RequestBuilder, Response};
use reqwest::header::HeaderValue;
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::CliError;

/// How long an ordinary request may take, from connecting to its answer's last byte. Requests
/// that make a release and streams have no limit.
const TIMEOUT: Duration = Duration::from_secs(120);

pub struct ApiClient {
    client: Client,
    host: String,
    token: Option<String>,
}

impl ApiClient {
    /// `host` is a base URL such as `http://127.0.0.1:5500`. Fails only if the client's I/O
    /// thread cannot start.
    pub fn new(host: String, token: Option<String>) -> anyhow::Result<Self> {
        use_ring();
        let client = Client::builder()
            .connect_timeout(Duration::from_secs(10))
            // Set per request: [`TIMEOUT`], or none.
            .timeout(None)
            .user_agent(concat!("paas-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("starting the HTTP client")?;
        Ok(Self {
            client,
            host,
            token,
        })
    }

    pub fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, CliError> {
        let response = self.request(Method::GET, path).timeout(TIMEOUT).send();
        self.finish("GET", path, response)
    }

    pub fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, CliError> {
        let response = self
            .request(Method::POST, path)
            .timeout(TIMEOUT)
            .json(body)
            .send();
        self.finish("POST", path, response)
    }

    pub fn patch<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, CliError> {
        let response = self
            .request(Method::PATCH, path)
            .timeout(TIMEOUT)
            .json(body)
            .send();
        self.finish("PATCH", path, response)
    }

    /// Sends a request that makes a release (a config change, a rollback, a retry: `POST` or
    /// `PATCH`) with an `Idempotency-Key` (draft-ietf-httpapi-idempotency-key-header), and waits
    /// as long as the release takes (its release phase may run for many minutes). When no answer
    /// comes (the server restarted, the connection dropped), the same request goes again with the
    /// same key, for up to [`RELEASE_REQUEST_RETRIES`]: the server answers with the release the
    /// first one made, as it ended, instead of making a second.
    pub fn send_release_request<B: Serialize, T: DeserializeOwned>(
        &self,
        method: &Method,
        path: &str,
        body: &B,
    ) -> Result<T, CliError> {
        let key = format!("\"{}\"", random_key());
        let retrying_until = Instant::now() + RELEASE_REQUEST_RETRIES;
        let mut sent = false;
        loop {
            let response = self
                .request(method.clone(), path)
                .header("Idempotency-Key", &key)
                .json(body)
                .send();
            match response {
                Err(e) if Instant::now() < retrying_until => {
                    // A failure after the connection was made (a cut, a reset): the server may
                    // have the request.
                    sent |= !e.is_connect();
                    std::thread::sleep(Duration::from_secs(1));
                }
                Err(e) if sent => {
                    let mut failure = self.unreachable(&e);
                    failure.hint = Some(
                        "the server got the request before it stopped answering: it may have made a release (`paas releases` shows it, marked failed if the server restarted meanwhile)".to_owned(),
                    );
                    return Err(failure);
                }
                response => return self.finish(method.as_str(), path, response),
            }
        }
    }

    /// A request that runs as long as the server's work on it (provisioning an add-on, a backup,
    /// the releases of an attachment): no time limit and no retry, `body` as JSON if any.
    pub fn send_waiting<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<T, CliError> {
        let mut request = self.request(method.clone(), path);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send();
        self.finish(method.as_str(), path, response)
    }

    /// DELETE; a `204 No Content` answer decodes as JSON `null` (ask for `()`).
    pub fn delete<T: DeserializeOwned>(&self, path: &str) -> Result<T, CliError> {
        let response = self.request(Method::DELETE, path).timeout(TIMEOUT).send();
        self.finish("DELETE", path, response)
    }

    /// A streamed body (build output, a backup), read as it arrives, with no overall time
    /// limit; its `content_length()` when the server gave one.
    pub fn stream(&self, path: &str) -> Result<Response, CliError> {
        let response = self
            .request(Method::GET, path)
            .send()
            .map_err(|e| self.unreachable(&e))?;
        if !response.status().is_success() {
            return Err(self.api_error(response, "GET", path));
        }
        Ok(response)
    }

    /// The request that opens the WebSocket at `path` (`http` becomes `ws`, `https` `wss`), with
    /// the token and the attach stream's subprotocol (`v5.channel.k8s.io`).
    pub fn attach_request(
        &self,
        path: &str,
    ) -> Result<tokio_tungstenite::tungstenite::handshake::client::Request, CliError> {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let url = self.url(path);
        let url = match url.split_once("://") {
            Some(("https", rest)) => format!("wss://{rest}"),
            Some((_, rest)) => format!("ws://{rest}"),
            None => url,
        };
        let mut request = url
            .into_client_request()
            .map_err(|e| self.bad_response(e))?;
        let headers = request.headers_mut();
        headers.insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_static("v5.channel.k8s.io"),
        );
        if let Some(token) = &self.token
            && let Ok(value) = HeaderValue::from_str(&format!("Bearer {token}"))
        {
            headers.insert("Authorization", value);
        }
        Ok(request)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.host)
    }

    /// A request to `path` with the token, if there is one.
    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let request = self.client.request(method, self.url(path));
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    fn finish<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        response: reqwest::Result<Response>,
    ) -> Result<T, CliError> {
        let response = response.map_err(|e| self.unreachable(&e))?;
        if !response.status().is_success() {
            return Err(self.api_error(response, method, path));
        }
        if response.status() == StatusCode::NO_CONTENT {
            return serde_json::from_value(serde_json::Value::Null)
                .map_err(|e| self.bad_response(e));
        }
        response
            .json::<T>()
            .map_err(|e| self.bad_response(cause(&e)))
    }

    /// The API's error body as a [`CliError`], or a generic one when the body is not ours.
    fn api_error(&self, response: Response, method: &str, path: &str) -> CliError {
        let status = response.status().as_u16();
        let error = response.json::<ApiError>().unwrap_or_else(|_| ApiError {
            id: "http_error".to_owned(),
            message: format!(
                "{} answered {method} {path} with HTTP {status}, not as a paas API does",
                self.host
            ),
            hint: Some(
                "is PAAS_HOST (or `paas login --host`) the API's address (port 5500 by default), not the router's or another server's?"
                    .to_owned(),
            ),
        });
        let mut failure = CliError::new(&error.id, error.message);
        failure.hint = error.hint;
        failure
    }

    fn unreachable(&self, e: &reqwest::Error) -> CliError {
        if let Some(tls) = tls_error(e) {
            return self.tls_failure(tls);
        }
        CliError::new(
            "connection_failed",
            format!(
                "cannot reach the paas server at {}: {}",
                self.host,
                cause(e)
            ),
        )
        .hint("check that the server is running and that PAAS_HOST or `paas login --host` names it")
    }

    /// A TLS handshake that failed, said for a person: whose certificate, what is wrong with it,
    /// and what to do (rustls's own words are for programmers).
    fn tls_failure(&self, e: &rustls::Error) -> CliError {
        use rustls::CertificateError as Cert;
        let host = &self.host;
        let untrusted = |why: String| {
            CliError::new(
                "tls_untrusted",
                format!("the server at {host} showed a certificate this machine does not accept: {why}"),
            )
            .hint(
                "if the server's certificate comes from a private CA, add that CA to this machine's trust store \
                 (/usr/local/share/ca-certificates, then update-ca-certificates) or point SSL_CERT_FILE at a bundle with it",
            )
        };
        match e {
            rustls::Error::InvalidCertificate(cert) => untrusted(match cert {
                Cert::UnknownIssuer => {
                    "it is signed by a CA this machine does not trust".to_owned()
                }
                Cert::NotValidForName | Cert::NotValidForNameContext { .. } => {
                    "it is for another host name".to_owned()
                }
                Cert::Expired | Cert::ExpiredContext { .. } => "it has expired".to_owned(),
                Cert::NotValidYet | Cert::NotValidYetContext { .. } => {
                    "it is not valid yet".to_owned()
                }
                Cert::Revoked => "it was revoked".to_owned(),
                Cert::Other(other) if other.to_string().contains("CaUsedAsEndEntity") => {
                    "it is a CA's certificate, not a server's".to_owned()
                }
                other => format!("{other:?}"),
            }),
            // Not TLS at all on the other end: a plain-HTTP server answered.
            rustls::Error::InvalidMessage(_) => CliError::new(
                "tls_failed",
                format!("the server at {host} does not speak TLS (https://) on that port"),
            )
            .hint("use http:// for it: paas login --host http://HOST:PORT (or PAAS_HOST)"),
            other => CliError::new(
                "tls_failed",
                format!("the TLS handshake with the server at {host} failed: {other}"),
            )
            .hint("check the address, and that the server's TLS setup works with curl -v"),
        }
    }

    fn bad_response(&self, e: impl std::fmt::Display) -> CliError {
        CliError::new(
            "bad_response",
            format!("unexpected response from {}: {e}", self.host),
        )
        .hint("is this a paas server of a matching version?")
    }
}

/// The TLS error under a failed request, if that is what failed. rustls's error travels inside
/// io::Errors (nested), whose `source()` skips what they wrap: those are opened too.
fn tls_error(e: &reqwest::Error) -> Option<&rustls::Error> {
    fn within<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        let wrapped = e
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
            .and_then(|inner| within(inner));
        wrapped.or_else(|| e.source().and_then(within))
    }
    within(e)
}

/// What went wrong under a failed request (`Connection refused (os error 111)`, `expected value
/// at line 1 column 1`): reqwest's own message names only the URL or the step.
fn cause(e: &reqwest::Error) -> &(dyn std::error::Error + 'static) {
    anyhow::Chain::new(e).last().unwrap_or(e)
}

/// How long a request that makes a release is sent again while no answer comes.
pub const RELEASE_REQUEST_RETRIES: Duration = Duration::from_secs(60);

/// 128 random bits as hex: a request's Idempotency-Key.
fn random_key() -> String {
    let mut bytes = [0u8; 16];
    // The key only has to differ from the user's other keys: the clock does if randomness fails.
    if getrandom::fill(&mut bytes).is_err() {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        bytes = now.as_nanos().to_le_bytes();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Percent-encodes one path segment (fingerprints contain `/` and `+`).
pub fn path_segment(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b':' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// rustls's crypto is ring's (no OpenSSL, no aws-lc-rs): made the process's default, which
/// reqwest takes with the platform's verifier, so that the host's trust store (CAs an operator
/// added, as behind a TLS-inspecting proxy) is trusted.
fn use_ring() {
    // Already installed by an earlier client: the same provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
}
