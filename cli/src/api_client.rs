//! The HTTP client for the paas API: bearer auth, JSON bodies, and failures turned into
//! [`CliError`]s that say what happened and how to fix it.

use std::time::{Duration, Instant};

use paas_share::ApiError;
use serde::Serialize;
use serde::de::DeserializeOwned;
use ureq::http;

use crate::error::CliError;

pub struct ApiClient {
    agent: ureq::Agent,
    host: String,
    token: Option<String>,
}

impl ApiClient {
    /// `host` is a base URL such as `http://127.0.0.1:5500`.
    pub fn new(host: String, token: Option<String>) -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(10)))
            .timeout_global(Some(Duration::from_secs(120)))
            .user_agent(concat!("paas-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Self { agent, host, token }
    }

    pub fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, CliError> {
        let response = self.authorized(self.agent.get(self.url(path))).call();
        self.finish("GET", path, response)
    }

    pub fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, CliError> {
        let response = self
            .authorized(self.agent.post(self.url(path)))
            .send_json(body);
        self.finish("POST", path, response)
    }

    pub fn patch<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, CliError> {
        let response = self
            .authorized(self.agent.patch(self.url(path)))
            .send_json(body);
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
        method: &http::Method,
        path: &str,
        body: &B,
    ) -> Result<T, CliError> {
        let key = format!("\"{}\"", random_key());
        let retrying_until = Instant::now() + RELEASE_REQUEST_RETRIES;
        let mut sent = false;
        loop {
            let request = if *method == http::Method::PATCH {
                self.agent.patch(self.url(path))
            } else {
                self.agent.post(self.url(path))
            };
            let response = self
                .authorized(request.config().timeout_global(None).build())
                .header("Idempotency-Key", &key)
                .send_json(body);
            match response {
                Err(e) if Instant::now() < retrying_until => {
                    // A connection cut after it was made: the server may have the request.
                    sent |= matches!(&e, ureq::Error::Io(io)
                        if io.kind() != std::io::ErrorKind::ConnectionRefused);
                    std::thread::sleep(Duration::from_secs(1));
                }
                Err(e) if sent => {
                    let mut failure = self.unreachable(e);
                    failure.hint = Some(
                        "the server got the request before it stopped answering: it may have made a release (`paas releases` shows it, marked failed if the server restarted meanwhile)".to_owned(),
                    );
                    return Err(failure);
                }
                response => return self.finish(method.as_str(), path, response),
            }
        }
    }

    /// DELETE; a `204 No Content` answer decodes as JSON `null` (ask for `()`).
    pub fn delete<T: DeserializeOwned>(&self, path: &str) -> Result<T, CliError> {
        let response = self.authorized(self.agent.delete(self.url(path))).call();
        self.finish("DELETE", path, response)
    }

    /// A streamed text body (build output), read as it arrives, with no overall time limit.
    pub fn stream(&self, path: &str) -> Result<impl std::io::Read + use<>, CliError> {
        let request = self
            .authorized(self.agent.get(self.url(path)))
            .config()
            .timeout_global(None)
            .build();
        let mut response = request.call().map_err(|e| self.unreachable(e))?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            return Err(self.api_error(&mut response, "GET", path));
        }
        Ok(response.into_body().into_reader())
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
            http::HeaderValue::from_static("v5.channel.k8s.io"),
        );
        if let Some(token) = &self.token
            && let Ok(value) = http::HeaderValue::from_str(&format!("Bearer {token}"))
        {
            headers.insert("Authorization", value);
        }
        Ok(request)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.host)
    }

    fn authorized<B>(&self, request: ureq::RequestBuilder<B>) -> ureq::RequestBuilder<B> {
        match &self.token {
            Some(token) => request.header("Authorization", format!("Bearer {token}")),
            None => request,
        }
    }

    fn finish<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        response: Result<http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<T, CliError> {
        let mut response = response.map_err(|e| self.unreachable(e))?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            return Err(self.api_error(&mut response, method, path));
        }
        if status == 204 {
            return serde_json::from_value(serde_json::Value::Null)
                .map_err(|e| self.bad_response(e));
        }
        response
            .body_mut()
            .read_json::<T>()
            .map_err(|e| self.bad_response(e))
    }

    /// The API's error body as a [`CliError`], or a generic one when the body is not ours.
    fn api_error(
        &self,
        response: &mut http::Response<ureq::Body>,
        method: &str,
        path: &str,
    ) -> CliError {
        let status = response.status().as_u16();
        let error = response
            .body_mut()
            .read_json::<ApiError>()
            .unwrap_or_else(|_| ApiError {
                id: "http_error".to_owned(),
                message: format!("the server answered {method} {path} with HTTP {status}"),
                hint: None,
            });
        let mut failure = CliError::new(&error.id, error.message);
        failure.hint = error.hint;
        failure
    }

    fn unreachable(&self, e: ureq::Error) -> CliError {
        CliError::new(
            "connection_failed",
            format!("cannot reach the paas server at {}: {e}", self.host),
        )
        .hint("check that the server is running and that PAAS_HOST or `paas login --host` names it")
    }

    fn bad_response(&self, e: impl std::fmt::Display) -> CliError {
        CliError::new(
            "bad_response",
            format!("unexpected response from {}: {e}", self.host),
        )
        .hint("is this a paas server of a matching version?")
    }
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
