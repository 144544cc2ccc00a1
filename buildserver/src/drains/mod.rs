//! Log drains (Heroku's): every line of an app's log — its dynos' output, the router's lines and
//! the platform's — forwarded to a syslog server (RFC 5424 with octet counting, over TCP or TLS)
//! or to an HTTPS endpoint (batched POSTs of the same frames, Logplex's `application/logplex-1`).
//!
//! Each drain runs two tasks: a reader that takes lines from the app's live log into a bounded
//! queue of [`QUEUE_LINES`] (a full queue drops the line and counts it: a drain never slows the
//! dynos or the router, and a drain that is down or stalled holds at most that much), and a
//! writer that connects, sends and, on any failure, reconnects with backoff (1 s doubling to
//! 30 s), keeping the batch it was sending. A write that does not complete in [`WRITE_TIMEOUT`]
//! counts as a failure (a receiver that accepts and then stalls). The drains that run follow the
//! store: [`Drains::sync`] after every change, and every [`SYNC_EVERY`].

pub mod syslog;

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::Context;
use paas_share::models::Drain;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use crate::logs::{Filter, Logs};
use crate::outbound::Targets;
use crate::store::{DrainRecord, Store};

/// Lines a drain holds while its receiver is slow or down; more are dropped and counted.
pub const QUEUE_LINES: usize = 4096;
/// The longest one write (syslog) or POST (HTTPS) may take.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the running drains are matched with the store.
pub const SYNC_EVERY: Duration = Duration::from_secs(10);
/// Lines per HTTPS POST, at most.
const BATCH_LINES: usize = 500;
/// The longest drain URL.
const MAX_URL_BYTES: usize = 2048;

/// Where a drain sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `syslog://host:port` (TCP) or `syslog+tls://host:port`.
    Syslog { host: String, port: u16, tls: bool },
    /// `https://…` or `http://…`.
    Http(reqwest::Url),
}

impl Target {
    /// The host it connects to.
    pub fn host(&self) -> &str {
        match self {
            Self::Syslog { host, .. } => host,
            Self::Http(url) => url.host_str().unwrap_or_default(),
        }
    }

    /// Parses a drain URL; `Err` says what is wrong.
    pub fn parse(url: &str) -> Result<Self, String> {
        let examples = "give syslog+tls://logs.example.com:6514, syslog://logs.example.com:514 or https://logs.example.com/drain";
        if url.len() > MAX_URL_BYTES {
            return Err(format!("the drain URL is over {MAX_URL_BYTES} bytes"));
        }
        if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(
                "the drain URL holds spaces or control characters: percent-encode them".to_owned(),
            );
        }
        let parsed = reqwest::Url::parse(url).map_err(|e| {
            format!(
                "{:?} is not a URL ({e}): {examples}",
                paas_share::names::excerpt(url)
            )
        })?;
        // Some(tls) for syslog, None for HTTP.
        let syslog_tls = match parsed.scheme() {
            "http" | "https" => None,
            "syslog" => Some(false),
            "syslog+tls" => Some(true),
            other => {
                return Err(format!(
                    "a drain URL cannot have the scheme {:?}: {examples}",
                    paas_share::names::excerpt(other)
                ));
            }
        };
        let host = parsed.host_str().unwrap_or_default().to_owned();
        if host.is_empty() {
            return Err(format!("the drain URL has no host: {examples}"));
        }
        let Some(tls) = syslog_tls else {
            if parsed.port() == Some(0) {
                return Err(format!(
                    "the drain URL has port 0, which nothing listens on: {examples}"
                ));
            }
            return Ok(Self::Http(parsed));
        };
        let Some(port) = parsed.port().filter(|p| *p > 0) else {
            return Err(format!(
                "a syslog drain needs a port ({}://{host}:PORT)",
                parsed.scheme()
            ));
        };
        if !parsed.username().is_empty()
            || parsed.password().is_some()
            || !matches!(parsed.path(), "" | "/")
            || parsed.query().is_some()
            || parsed.fragment().is_some()
        {
            return Err(format!(
                "a syslog drain URL is only {}://HOST:PORT: syslog has no user, password, path or query",
                parsed.scheme()
            ));
        }
        // Hosts of non-special schemes keep their case and numeric form in a WHATWG URL; DNS
        // ignores case, and the resolver reads `127.1` as 127.0.0.1 (said so from the start).
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let host = match crate::outbound::inet_aton(host) {
            Some(ip) => ip.to_string(),
            None => host.to_ascii_lowercase(),
        };
        Ok(Self::Syslog { host, port, tls })
    }
}

impl std::fmt::Display for Target {
    /// The drain's URL, normalized: `syslog+tls://host:port`, or the HTTP URL as WHATWG
    /// normalizes it (lowercase scheme and host). Two spellings of one drain print the same.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Syslog { host, port, tls } => {
                let scheme = if *tls { "syslog+tls" } else { "syslog" };
                if host.contains(':') {
                    write!(f, "{scheme}://[{host}]:{port}")
                } else {
                    write!(f, "{scheme}://{host}:{port}")
                }
            }
            Self::Http(url) => f.write_str(url.as_str()),
        }
    }
}

/// What one drain has done since the server started.
#[derive(Default)]
struct Status {
    sent: AtomicU64,
    dropped: AtomicU64,
    /// `None` while connecting the first time; `Ok` when connected; `Err` with the last failure.
    state: Mutex<Option<Result<(), String>>>,
}

impl Status {
    fn set(&self, state: Result<(), String>) {
        *self.state.lock().unwrap_or_else(PoisonError::into_inner) = Some(state);
    }
}

/// A drain that runs: its tasks and status.
struct Running {
    /// The app name it was started with (a rename restarts it).
    app_name: String,
    status: Arc<Status>,
    tasks: [tokio::task::AbortHandle; 2],
}

impl Drop for Running {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Runs every app's drains. One per server.
pub struct Drains {
    store: Store,
    logs: Logs,
    tls: tokio_rustls::TlsConnector,
    http: reqwest::Client,
    /// Where drains may connect (`--allow-private-targets`).
    targets: Targets,
    /// Drain id → what runs.
    running: Mutex<HashMap<String, Running>>,
}

impl Drains {
    /// `ca_file`: PEM CA certificates to trust for TLS drains besides the system's
    /// (`--drain-ca-file`); `targets`: the addresses drains may reach. Errors: the file cannot
    /// be read or holds no certificate.
    pub fn new(
        store: Store,
        logs: Logs,
        ca_file: Option<&Path>,
        targets: Targets,
    ) -> anyhow::Result<Self> {
        crate::registry::use_ring();
        let extra = match ca_file {
            Some(path) => {
                let pem = std::fs::read(path)
                    .with_context(|| format!("cannot read --drain-ca-file {}", path.display()))?;
                use rustls::pki_types::pem::PemObject;
                let certs: Vec<rustls::pki_types::CertificateDer<'static>> =
                    rustls::pki_types::CertificateDer::pem_slice_iter(&pem)
                        .collect::<Result<_, _>>()
                        .ok()
                        .filter(|c: &Vec<_>| !c.is_empty())
                        .with_context(|| {
                            format!(
                                "--drain-ca-file {} holds no PEM certificate",
                                path.display()
                            )
                        })?;
                certs
            }
            None => Vec::new(),
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = rustls_platform_verifier::Verifier::new_with_extra_roots(
            extra.clone(),
            Arc::clone(&provider),
        )
        .context("cannot load the system's CA certificates")?;
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .context("TLS versions")?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth();
        let mut http = reqwest::Client::builder()
            .connect_timeout(WRITE_TIMEOUT)
            .timeout(WRITE_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(targets.resolver())
            .user_agent(concat!("paas/", env!("CARGO_PKG_VERSION")));
        for cert in extra {
            http = http.add_root_certificate(
                reqwest::Certificate::from_der(&cert).context("a --drain-ca-file certificate")?,
            );
        }
        Ok(Self {
            store,
            logs,
            tls: tokio_rustls::TlsConnector::from(Arc::new(config)),
            http: http.build().context("building the drains' HTTP client")?,
            targets,
            running: Mutex::new(HashMap::new()),
        })
    }

    /// Where drains may connect.
    pub fn targets(&self) -> Targets {
        self.targets
    }

    /// The drain as the API shows it.
    pub fn shown(&self, record: DrainRecord) -> Drain {
        let running = self.lock();
        let status = running.get(&record.id).map(|r| Arc::clone(&r.status));
        let state = status.as_ref().and_then(|s| {
            s.state
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone()
        });
        Drain {
            token: format!("d.{}", record.id),
            id: record.id,
            url: record.url,
            created_at: record.created_at,
            state: match &state {
                None => "connecting",
                Some(Ok(())) => "connected",
                Some(Err(_)) => "failing",
            }
            .to_owned(),
            last_error: state.and_then(Result::err),
            sent: status
                .as_ref()
                .map_or(0, |s| s.sent.load(Ordering::Relaxed)),
            dropped: status.map_or(0, |s| s.dropped.load(Ordering::Relaxed)),
        }
    }

    /// Starts the drains the store has and this does not run, and stops those it no longer has.
    pub async fn sync(&self) -> anyhow::Result<()> {
        let wanted = self
            .store
            .call(|db| {
                let mut wanted = Vec::new();
                for drain in db.all_drains()? {
                    let app = db.app_by_id(&drain.app_id)?;
                    wanted.push((drain, app.name.to_string()));
                }
                Ok::<_, crate::store::StoreError>(wanted)
            })
            .await?;
        let mut running = self.lock();
        running.retain(|id, r| {
            wanted
                .iter()
                .any(|(d, name)| d.id == *id && r.app_name == *name)
        });
        for (drain, app_name) in wanted {
            if running.contains_key(&drain.id) {
                continue;
            }
            let Ok(target) = Target::parse(&drain.url) else {
                continue; // checked when added
            };
            let id = drain.id.clone();
            running.insert(id, self.start(drain, app_name, target));
        }
        Ok(())
    }

    /// Syncs every [`SYNC_EVERY`] until `stop` turns true (an app destroyed takes its drains).
    pub async fn sync_forever(self: Arc<Self>, mut stop: tokio::sync::watch::Receiver<bool>) {
        loop {
            if let Err(e) = self.sync().await {
                tracing::warn!(error = %format!("{e:#}"), "cannot start the log drains");
            }
            tokio::select! {
                () = tokio::time::sleep(SYNC_EVERY) => {}
                _ = stop.wait_for(|stop| *stop) => {
                    self.lock().clear();
                    return;
                }
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Running>> {
        self.running.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn start(&self, drain: DrainRecord, app_name: String, target: Target) -> Running {
        let status = Arc::new(Status::default());
        let (tx, rx) = mpsc::channel::<Vec<u8>>(QUEUE_LINES);
        let (_, mut live) = self.logs.read(&drain.app_id, 0, &Filter::default());
        let reader = {
            let (status, app) = (Arc::clone(&status), app_name.clone());
            tokio::spawn(async move {
                use tokio::sync::broadcast::error::RecvError;
                loop {
                    match live.recv().await {
                        Ok(line) => {
                            if tx.try_send(syslog::frame(&app, &line)).is_err() {
                                status.dropped.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        Err(RecvError::Lagged(missed)) => {
                            status.dropped.fetch_add(missed, Ordering::Relaxed);
                        }
                        Err(RecvError::Closed) => return,
                    }
                }
            })
        };
        let writer = {
            let status = Arc::clone(&status);
            let (tls, http, targets) = (self.tls.clone(), self.http.clone(), self.targets);
            let token = format!("d.{}", drain.id);
            tokio::spawn(async move {
                match target {
                    Target::Syslog {
                        host,
                        port,
                        tls: secure,
                    } => {
                        let tls = secure.then_some(tls);
                        write_syslog(&host, port, tls, targets, rx, &status).await;
                    }
                    Target::Http(url) => {
                        post_batches(&http, url, &token, targets, rx, &status).await;
                    }
                }
            })
        };
        Running {
            app_name,
            status,
            tasks: [reader.abort_handle(), writer.abort_handle()],
        }
    }
}

/// Why a connection failed, for `paas drains`: a TLS certificate problem in words, with what to
/// do, else the innermost cause ("Connection refused (os error 111)").
fn connect_failure(error: &(dyn std::error::Error + 'static)) -> String {
    use rustls::{CertificateError, Error as TlsError};
    let mut innermost = error.to_string();
    let mut next = Some(error);
    while let Some(e) = next {
        let tls = e.downcast_ref::<TlsError>().or_else(|| {
            e.downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .and_then(|inner| inner.downcast_ref::<TlsError>())
        });
        if let Some(tls) = tls {
            let untrusted = "the receiver's certificate is not signed by a CA this server trusts: give the server that CA with --drain-ca-file";
            return match tls {
                TlsError::InvalidCertificate(
                    CertificateError::UnknownIssuer | CertificateError::BadSignature,
                ) => untrusted.to_owned(),
                TlsError::InvalidCertificate(CertificateError::Other(other))
                    if format!("{other:?}").contains("CaUsedAsEndEntity") =>
                {
                    "the receiver presents a CA certificate as its own (self-signed): give it a certificate signed by a CA, and that CA to --drain-ca-file".to_owned()
                }
                TlsError::InvalidCertificate(
                    CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
                ) => "the receiver's certificate is not valid for the drain's host name".to_owned(),
                TlsError::InvalidCertificate(
                    CertificateError::Expired | CertificateError::ExpiredContext { .. },
                ) => "the receiver's certificate has expired".to_owned(),
                other => format!("TLS failed: {other}"),
            };
        }
        innermost = e.to_string();
        next = e.source();
    }
    innermost
}

/// Backoff after a failure: 1 s, doubling, at most 30 s.
fn next_backoff(backoff: Duration) -> Duration {
    (backoff * 2).min(Duration::from_secs(30))
}

/// Up to `max` frames: the first waited for, the rest already queued. `None` when the queue
/// closed.
async fn batch(rx: &mut mpsc::Receiver<Vec<u8>>, max: usize) -> Option<Vec<Vec<u8>>> {
    let mut frames = vec![rx.recv().await?];
    while frames.len() < max {
        match rx.try_recv() {
            Ok(frame) => frames.push(frame),
            Err(_) => break,
        }
    }
    Some(frames)
}

type Connection = Box<dyn AsyncWrite + Unpin + Send>;

async fn connect(
    host: &str,
    port: u16,
    tls: Option<&tokio_rustls::TlsConnector>,
    targets: Targets,
) -> anyhow::Result<Connection> {
    let addrs = targets.resolve(host, port).await?;
    let tcp = tokio::time::timeout(WRITE_TIMEOUT, tokio::net::TcpStream::connect(&addrs[..]))
        .await
        .context("timed out connecting")?
        .context("cannot connect")?;
    let Some(tls) = tls else {
        return Ok(Box::new(tcp));
    };
    let name = rustls::pki_types::ServerName::try_from(host.to_owned())
        .context("not a TLS server name")?;
    let stream = tokio::time::timeout(WRITE_TIMEOUT, tls.connect(name, tcp))
        .await
        .context("timed out in the TLS handshake")?
        .context("TLS handshake failed")?;
    Ok(Box::new(stream))
}

/// Sends frames to a syslog server over one connection, reconnecting after a failure.
async fn write_syslog(
    host: &str,
    port: u16,
    tls: Option<tokio_rustls::TlsConnector>,
    targets: Targets,
    mut rx: mpsc::Receiver<Vec<u8>>,
    status: &Status,
) {
    let mut backoff = Duration::from_secs(1);
    let mut pending: Option<Vec<Vec<u8>>> = None;
    loop {
        let mut connection = match connect(host, port, tls.as_ref(), targets).await {
            Ok(connection) => connection,
            Err(e) => {
                status.set(Err(format!(
                    "cannot connect: {}",
                    connect_failure(e.as_ref())
                )));
                tokio::time::sleep(backoff).await;
                backoff = next_backoff(backoff);
                continue;
            }
        };
        status.set(Ok(()));
        loop {
            let frames = match pending.take() {
                Some(frames) => frames,
                None => match batch(&mut rx, BATCH_LINES).await {
                    Some(frames) => frames,
                    None => return,
                },
            };
            let bytes = frames.concat();
            let written = tokio::time::timeout(WRITE_TIMEOUT, async {
                connection.write_all(&bytes).await?;
                connection.flush().await
            })
            .await;
            match written {
                Ok(Ok(())) => {
                    status
                        .sent
                        .fetch_add(frames.len() as u64, Ordering::Relaxed);
                    backoff = Duration::from_secs(1);
                }
                failed => {
                    status.set(Err(match failed {
                        Ok(Err(e)) => format!("cannot send: {e}"),
                        _ => format!("the receiver took no data for {}s", WRITE_TIMEOUT.as_secs()),
                    }));
                    pending = Some(frames);
                    tokio::time::sleep(backoff).await;
                    backoff = next_backoff(backoff);
                    break;
                }
            }
        }
    }
}

/// POSTs batches of frames to an HTTPS drain, retrying a batch that fails.
async fn post_batches(
    http: &reqwest::Client,
    url: reqwest::Url,
    token: &str,
    targets: Targets,
    mut rx: mpsc::Receiver<Vec<u8>>,
    status: &Status,
) {
    // reqwest resolves names through `targets`; an address literal is checked here.
    if let Some(why) = url.host_str().and_then(|host| targets.refusal(host)) {
        status.set(Err(format!("cannot connect: {why}")));
        while rx.recv().await.is_some() {
            status.dropped.fetch_add(1, Ordering::Relaxed);
        }
        return;
    }
    let mut backoff = Duration::from_secs(1);
    while let Some(frames) = batch(&mut rx, BATCH_LINES).await {
        let body = frames.concat();
        loop {
            let sent = http
                .post(url.clone())
                .header(reqwest::header::CONTENT_TYPE, "application/logplex-1")
                .header("Logplex-Msg-Count", frames.len())
                .header("Logplex-Frame-Id", uuid::Uuid::new_v4().to_string())
                .header("Logplex-Drain-Token", token)
                .body(body.clone())
                .send()
                .await;
            let failure = match sent {
                Ok(response) if response.status().is_success() => None,
                Ok(response) => Some(format!("answered {}", response.status())),
                Err(e) if e.is_timeout() => Some("timed out".to_owned()),
                Err(e) if e.is_connect() => {
                    Some(format!("cannot connect: {}", connect_failure(&e)))
                }
                Err(e) => Some(e.without_url().to_string()),
            };
            match failure {
                None => {
                    status.set(Ok(()));
                    status
                        .sent
                        .fetch_add(frames.len() as u64, Ordering::Relaxed);
                    backoff = Duration::from_secs(1);
                    break;
                }
                Some(reason) => {
                    status.set(Err(reason));
                    tokio::time::sleep(backoff).await;
                    backoff = next_backoff(backoff);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drain_urls_parse() {
        assert_eq!(
            Target::parse("syslog+tls://logs.example.com:6514"),
            Ok(Target::Syslog {
                host: "logs.example.com".into(),
                port: 6514,
                tls: true
            })
        );
        assert_eq!(
            Target::parse("syslog://127.0.0.1:514"),
            Ok(Target::Syslog {
                host: "127.0.0.1".into(),
                port: 514,
                tls: false
            })
        );
        assert!(matches!(
            Target::parse("https://logs.example.com/drain?token=x"),
            Ok(Target::Http(_))
        ));
        for (spelled, normal) in [
            (
                "SYSLOG://Logs.Example.com:514",
                "syslog://logs.example.com:514",
            ),
            ("syslog+tls://[::1]:6514/", "syslog+tls://[::1]:6514"),
            ("HTTPS://Logs.Example.com/d", "https://logs.example.com/d"),
            ("syslog://127.1:514", "syslog://127.0.0.1:514"),
            ("syslog://2130706433:514", "syslog://127.0.0.1:514"),
            ("http://2130706433/d", "http://127.0.0.1/d"),
        ] {
            assert_eq!(
                Target::parse(spelled).map(|t| t.to_string()).as_deref(),
                Ok(normal)
            );
        }
        for (bad, says) in [
            ("syslog://logs.example.com", "needs a port"),
            ("ftp://logs.example.com:21", "cannot have the scheme"),
            ("logs.example.com:514", "cannot have the scheme"),
            ("not-a-url", "is not a URL"),
            ("https://", "is not a URL"),
            ("syslog://127.0.0.1:0", "needs a port"),
            ("https://logs.example.com:0/d", "port 0"),
            (
                "syslog://user:secret@127.0.0.1:514",
                "only syslog://HOST:PORT",
            ),
            ("syslog://127.0.0.1:514/path?x=1", "only syslog://HOST:PORT"),
            ("syslog://127.0.0.1:514/a\nb", "control characters"),
        ] {
            let e = Target::parse(bad).expect_err(bad);
            assert!(e.contains(says), "{bad}: {e}");
        }
    }
}
