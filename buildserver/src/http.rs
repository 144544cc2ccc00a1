//! Serving HTTP/1.1 for the API and the router with the deadlines and the connection budget that
//! `axum::serve` has no settings for: a client has [`Limits::header_timeout`] to send a request's
//! head, counted from connecting and, on a keep-alive connection, from the previous response (so
//! a slow-loris client or an idle connection is closed then; hyper's `header_read_timeout`), and a
//! listener holds at most [`Limits::max_connections`] connections, a quarter of them from any one
//! address (one beyond is answered 503 and closed at accept), so that one listener's clients
//! cannot take every file descriptor of the daemon, nor one client every place of a listener.
//!
//! A listener may also speak TLS (rustls, by `tokio-rustls`): the handshake is held to the same
//! deadline, and ALPN picks HTTP/2 or HTTP/1.1.
//!
//! hyper's HTTP/1.1 and HTTP/2 connections do the HTTP (the router serves HTTP/1.1 itself, see
//! [`Connections`]); this module only accepts, counts, shakes hands and drains.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper::server::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;

/// How long requests in flight get to finish once `shutdown` resolves.
const DRAIN: Duration = Duration::from_secs(10);
/// The least often a listener logs that it refused connections (with how many since).
const REFUSALS_LOGGED_EVERY: Duration = Duration::from_secs(10);
/// What a connection beyond the listener's budget is told before it is closed.
const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nRetry-After: 1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 53\r\n\r\nthis server has too many connections open; try again\n";
/// What a connection beyond its address's share is told before it is closed.
const BUSY_ADDRESS: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nRetry-After: 1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 59\r\n\r\nyour address has too many connections open here; try again\n";

/// When a request's body must have arrived whole: [`Limits::header_timeout`] after its head was
/// read. In every request's extensions; the API's JSON bodies are held to it (the router streams
/// bodies of any length to dynos, so it does not).
#[derive(Debug, Clone, Copy)]
pub struct BodyDeadline(pub tokio::time::Instant);

/// A listener's deadlines and budget.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// From connecting, or from the previous response, to a request's complete head.
    pub header_timeout: Duration,
    /// Connections open at once.
    pub max_connections: usize,
    /// The largest request head, in bytes: answered 431 beyond (RFC 6585 §5). At least 8 KiB.
    pub max_header_bytes: usize,
}

/// The soft limit on open file descriptors, raised to the hard limit first (as Go's runtime and
/// nginx's `worker_rlimit_nofile` do): the listeners' budgets are carved out of it.
pub fn raise_descriptor_limit() -> u64 {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) => {
            if soft < hard && setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() {
                hard
            } else {
                soft
            }
        }
        Err(_) => 1024,
    }
}

/// The service a connection from a peer gets: made once per connection, so that it may keep
/// what the connection's requests share (the router's dyno connection).
pub struct Service(Box<dyn Fn(axum::http::Request<Incoming>) -> ResponseFuture + Send + Sync>);

impl Service {
    pub fn new(
        handle: impl Fn(axum::http::Request<Incoming>) -> ResponseFuture + Send + Sync + 'static,
    ) -> Self {
        Self(Box::new(handle))
    }
}

impl hyper::service::Service<axum::http::Request<Incoming>> for Service {
    type Response = axum::response::Response;
    type Error = std::convert::Infallible;
    type Future = ResponseFuture;

    fn call(&self, request: axum::http::Request<Incoming>) -> ResponseFuture {
        (self.0)(request)
    }
}

pub type ResponseFuture = std::pin::Pin<
    Box<dyn Future<Output = Result<axum::response::Response, std::convert::Infallible>> + Send>,
>;

/// Serves `app` on `listener` as [`serve`] does (plain HTTP/1.1): its handlers see the peer as
/// `ConnectInfo<SocketAddr>` and the request's [`BodyDeadline`].
pub async fn serve_axum(
    listener: TcpListener,
    app: axum::Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let header_timeout = limits.header_timeout;
    let connections = move |peer| {
        let app = app.clone();
        Service::new(move |mut request| {
            let extensions = request.extensions_mut();
            extensions.insert(ConnectInfo::<SocketAddr>(peer));
            extensions.insert(BodyDeadline(tokio::time::Instant::now() + header_timeout));
            Box::pin(app.clone().oneshot(request.map(axum::body::Body::new)))
        })
    };
    serve(listener, Arc::new(connections), limits, None, shutdown).await
}

/// How a listener's connections are served once accepted (and, with TLS, once their handshake is
/// done): by hyper with [`Connections::service`], unless an implementation serves HTTP/1.1
/// connections itself ([`Connections::http1`], the router's proxy loop).
pub trait Connections {
    /// The service for the requests of a connection from `peer`.
    fn service(&self, peer: SocketAddr) -> Service;

    /// Serves an HTTP/1.1 connection from `peer` to its end: by default with hyper (protocol
    /// upgrades included), holding each request head to `limits`, finishing gracefully once
    /// `stopping` turns true. `stream`'s first bytes are there to read (over TLS, after the
    /// handshake).
    fn http1<S>(
        &self,
        peer: SocketAddr,
        stream: S,
        limits: Limits,
        stopping: tokio::sync::watch::Receiver<bool>,
    ) -> impl Future<Output = ()> + Send + 'static
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let mut builder = http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_timeout)
            .max_header_size(limits.max_header_bytes);
        let connection = builder
            .serve_connection(TokioIo::new(stream), self.service(peer))
            .with_upgrades();
        drive(connection, |c| c.graceful_shutdown(), stopping)
    }
}

impl<F: Fn(SocketAddr) -> Service> Connections for F {
    fn service(&self, peer: SocketAddr) -> Service {
        self(peer)
    }
}

/// Serves on `listener` within `limits` until `shutdown` resolves, each connection as
/// `connections` serves it, then lets requests in flight finish for up to 10 s. With `tls`, each
/// connection is a TLS one first, and speaks HTTP/2 when ALPN chose `h2`.
pub async fn serve(
    listener: TcpListener,
    connections: Arc<impl Connections + Send + Sync + 'static>,
    limits: Limits,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let tls = tls.map(tokio_rustls::TlsAcceptor::from);
    let budget = Arc::new(Semaphore::new(limits.max_connections));
    let per_address = PerAddress::new((limits.max_connections / 4).max(1));
    let mut refusals = Refusals::default();
    // HTTP/1.1 on plain connections (not version-sniffing: such a server waits for a whole
    // HTTP/2 preface, and a client that sends its first byte and no more was never held to the
    // deadline).
    let mut h2 = http2::Builder::new(TokioExecutor::new());
    h2.timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX));
    let (stop, stopping) = tokio::sync::watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors, most likely: wait rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(place) = per_address.admit(peer.ip()) else {
            let _ = stream.try_write(BUSY_ADDRESS);
            refusals.count(
                peer,
                "this address's share of the connection budget is spent",
            );
            continue;
        };
        let Ok(permit) = Arc::clone(&budget).try_acquire_owned() else {
            let _ = stream.try_write(BUSY);
            refusals.count(peer, "the connection budget is spent");
            continue;
        };
        let permit = (permit, place);
        let _ = stream.set_nodelay(true);
        let (connections, h2, tls, stopping) = (
            Arc::clone(&connections),
            h2.clone(),
            tls.clone(),
            stopping.clone(),
        );
        tokio::spawn(async move {
            // hyper's head timer starts at the first byte: a client that sends nothing at all is
            // held to the same deadline here, and so is its TLS handshake.
            if tokio::time::timeout(limits.header_timeout, stream.peek(&mut [0u8; 1]))
                .await
                .is_err()
            {
                drop(permit);
                return;
            }
            match tls {
                None => connections.http1(peer, stream, limits, stopping).await,
                Some(acceptor) => {
                    // The handshake and the first bytes after it are held to the deadline too:
                    // hyper's timers start at the first byte of a request (or HTTP/2 preface).
                    let accepted = tokio::time::timeout(limits.header_timeout, async {
                        let mut stream = acceptor.accept(stream).await?;
                        let mut first = vec![0u8; 4096];
                        let read = tokio::io::AsyncReadExt::read(&mut stream, &mut first).await?;
                        first.truncate(read);
                        std::io::Result::Ok((stream, first))
                    })
                    .await;
                    let Ok(Ok((stream, first))) = accepted else {
                        drop(permit);
                        return;
                    };
                    if first.is_empty() {
                        drop(permit);
                        return;
                    }
                    let alpn_h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
                    let stream = Prefixed {
                        prefix: first,
                        read: 0,
                        inner: stream,
                    };
                    if alpn_h2 {
                        let connection =
                            h2.serve_connection(TokioIo::new(stream), connections.service(peer));
                        drive(connection, |c| c.graceful_shutdown(), stopping).await;
                    } else {
                        connections.http1(peer, stream, limits, stopping).await;
                    }
                }
            }
            drop(permit);
        });
    }
    drop(listener);
    stop.send_replace(true);
    // Every connection gives its permit back when it ends: all of them back means drained.
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    if tokio::time::timeout(DRAIN, budget.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!(grace = ?DRAIN, "connections still open after the drain period; closing them");
    }
    Ok(())
}

/// A stream whose first bytes were read already: they come first, then the rest of `inner`.
/// Written here: hyper-util's `Rewind`, which does this, is private.
struct Prefixed<S> {
    prefix: Vec<u8>,
    /// How much of `prefix` was read.
    read: usize,
    inner: S,
}

impl<S: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for Prefixed<S> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        if self.read < self.prefix.len() {
            let rest = &self.prefix[self.read..];
            let n = rest.len().min(buf.remaining());
            buf.put_slice(&rest[..n]);
            self.read += n;
            if self.read == self.prefix.len() {
                self.prefix = Vec::new();
                self.read = 0;
            }
            return std::task::Poll::Ready(Ok(()));
        }
        std::pin::Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for Prefixed<S> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Runs `connection` to its end; once `stopping` turns true, asks it to finish gracefully (the
/// requests in flight complete, no new one begins) and waits for that. Errors are the client's (a
/// reset, a timed-out head): nothing to report.
async fn drive<C: Future>(
    connection: C,
    graceful_shutdown: impl FnOnce(std::pin::Pin<&mut C>),
    mut stopping: tokio::sync::watch::Receiver<bool>,
) {
    tokio::pin!(connection);
    tokio::select! {
        _ = connection.as_mut() => {}
        () = async { drop(stopping.wait_for(|stop| *stop).await) } => {
            graceful_shutdown(connection.as_mut());
            let _ = connection.await;
        }
    }
}

/// Connections open per address, each at most `max`.
#[derive(Clone)]
struct PerAddress {
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
    max: usize,
}

/// A connection's place in its address's share; given back on drop.
struct Place {
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
    ip: IpAddr,
}

impl PerAddress {
    fn new(max: usize) -> Self {
        Self {
            open: Arc::default(),
            max,
        }
    }

    fn admit(&self, ip: IpAddr) -> Option<Place> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(ip).or_default();
        if *count >= self.max {
            return None;
        }
        *count += 1;
        Some(Place {
            open: Arc::clone(&self.open),
            ip,
        })
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// Refused connections, logged at most every [`REFUSALS_LOGGED_EVERY`]: a flood is one warning
/// every few seconds, not one per connection.
#[derive(Default)]
struct Refusals {
    since_logged: u64,
    logged_at: Option<Instant>,
}

impl Refusals {
    fn count(&mut self, peer: SocketAddr, why: &str) {
        self.since_logged += 1;
        if self
            .logged_at
            .is_none_or(|at| at.elapsed() >= REFUSALS_LOGGED_EVERY)
        {
            tracing::warn!(%peer, refused = self.since_logged, "{why}; answered 503 and closed new connections");
            self.since_logged = 0;
            self.logged_at = Some(Instant::now());
        }
    }
}
