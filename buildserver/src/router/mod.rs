//! The router (DESIGN §3.11): HTTP/1.1 on `--router-listen` and HTTPS (HTTP/2 or HTTP/1.1, by
//! ALPN) on `--router-tls-listen`, by hostname (an app's `<app>.<domain>` or one of its custom
//! domains) to the app's healthy web dynos in turn (a client connection keeps its dyno and its
//! dyno connection while that dyno is up: no pool lookup per request), with `X-Forwarded-For`,
//! `-Proto` and `-Port`, `X-Request-Start` and `X-Request-Id` (as Heroku's router); bodies
//! stream both ways. Per app (`paas router`, `paas maintenance`,
//! `paas domains:redirect-https`): a maintenance page (503 with
//! `Retry-After`), a redirect from HTTP to HTTPS, a limit on request bodies (413) and on the wait
//! for a dyno's response (504, Heroku's H12; `--router-timeout` by default). Unknown hosts get
//! 404, apps without a running web dyno 503, every error page names its request id; request heads
//! over 32 KiB are answered 431. ACME HTTP-01 challenges are answered before anything else.
//! Hop-by-hop headers (RFC 9110 §7.6.1) are dropped both ways; every request to an app writes a
//! `paas[router]` line to its log.
//!
//! HTTP/1.1 clients (plain or over TLS) are served by the router's own proxy loop ([`h1`]);
//! HTTP/2 ones by hyper, their requests sent on to dynos with hyper's client. Both decide on a
//! request the same way ([`Client::decide`]).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, Uri, Version, header};
use axum::response::{IntoResponse, Response};
use hyper::body::{Body as HttpBody, Frame, SizeHint};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::logs::Logs;
use crate::store::Store;

mod flow;
mod h1;
mod routes;
mod tls;
mod wire;

pub use flow::Flow;
use flow::Refusal;
pub use routes::{
    Backend, CANARY_COOKIE, EJECT_AFTER, EJECT_FOR, Edge, Routes, ServedCert, Split, Turn,
    name_matches,
};
pub use tls::{Challenges, NO_CERTIFICATE, certified_key};

struct Router {
    routes: Routes,
    challenges: Challenges,
    metrics: crate::metrics::Metrics,
    store: Store,
    logs: Logs,
    suffix: String,
    /// The TLS listener's port, for redirects to HTTPS (left out of the URL when 443).
    tls_port: Option<u16>,
    /// hyper's connections to dynos that no HTTP/2 client connection holds, by the dyno's
    /// address: a client connection's first request takes one before it opens a new one.
    idle: Mutex<HashMap<SocketAddr, Vec<SendRequest<Body>>>>,
    /// The same for the HTTP/1.1 proxy loop's connections.
    idle_dynos: Mutex<h1::IdleDynos>,
    /// How long a dyno has to begin its response, unless the app says otherwise.
    timeout: std::time::Duration,
    /// How long a client may send nothing of a request's body (`--header-timeout`).
    body_idle: std::time::Duration,
}

/// The most idle connections kept to one dyno (as nginx's `keepalive`).
const IDLE_PER_DYNO: usize = 64;

/// A connection to a dyno.
struct Upstream {
    addr: SocketAddr,
    sender: SendRequest<Body>,
}

impl Router {
    /// A ready connection to the dyno at `addr`: an idle one, else a new one (then `true`).
    async fn connect(&self, addr: SocketAddr) -> Result<(SendRequest<Body>, bool), RouteFailure> {
        loop {
            let idle = self
                .idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get_mut(&addr)
                .and_then(Vec::pop);
            let Some(mut sender) = idle else { break };
            if sender.ready().await.is_ok() {
                return Ok((sender, false));
            }
        }
        Ok((self.open(addr).await?, true))
    }

    /// A new connection to the dyno at `addr`.
    async fn open(&self, addr: SocketAddr) -> Result<SendRequest<Body>, RouteFailure> {
        let stream = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|_| RouteFailure::NoAnswer)?;
        let _ = stream.set_nodelay(true);
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|_| RouteFailure::NoAnswer)?;
        // Ends when the dyno or the router closes it.
        tokio::spawn(connection);
        Ok(sender)
    }

    fn give_back(&self, upstream: Upstream) {
        if upstream.sender.is_closed() {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        // Connections to dynos that stopped are closed: they go, and their dynos' entries too.
        idle.retain(|_, senders| {
            senders.retain(|s| !s.is_closed());
            !senders.is_empty()
        });
        let senders = idle.entry(upstream.addr).or_default();
        if senders.len() < IDLE_PER_DYNO {
            senders.push(upstream.sender);
        }
    }
}

/// The listening sockets of the router: plain HTTP, and TLS when there is one.
pub struct Listeners {
    pub http: std::net::TcpListener,
    pub tls: Option<std::net::TcpListener>,
}

/// What the router serves and with what: the route table, the ACME challenges, the server's
/// domain (apps' default hostnames are under it) and the default wait for a dyno's response.
pub struct Settings {
    pub routes: Routes,
    pub challenges: Challenges,
    /// Where each request to an app is counted.
    pub metrics: crate::metrics::Metrics,
    pub domain: String,
    pub timeout: std::time::Duration,
    pub limits: crate::http::Limits,
}

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_PORT: HeaderName = HeaderName::from_static("x-forwarded-port");
const X_REQUEST_START: HeaderName = HeaderName::from_static("x-request-start");
const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Serves until `stop` turns true, on single-threaded runtimes (one per two cores), each accepting
/// from the same listening sockets and keeping its own pool of keep-alive connections to dynos: a
/// request, its dyno connection and their wake-ups stay on one thread. `limits` hold for the
/// router as a whole (the connection budget is shared out between the threads and listeners).
pub async fn serve(
    listeners: Listeners,
    settings: Settings,
    store: Store,
    logs: Logs,
    stop: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<()> {
    // Half the cores: the dynos the router serves run on this machine too (on 2 cores, a second
    // router thread took CPU from the app and cut throughput by a third).
    let threads = std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1));
    let sockets = if listeners.tls.is_some() { 2 } else { 1 };
    let per_listener = crate::http::Limits {
        max_connections: (settings.limits.max_connections / threads / sockets).max(1),
        ..settings.limits
    };
    let tls_port = match &listeners.tls {
        Some(listener) => Some(listener.local_addr()?.port()),
        None => None,
    };
    let http_port = listeners.http.local_addr()?.port();
    let suffix = format!(".{}", settings.domain);
    let tls_config = tls::server_config(settings.routes.clone(), suffix.clone());
    let mut finished = Vec::new();
    for index in 0..threads {
        let http = listeners.http.try_clone()?;
        let tls = match (&listeners.tls, tls_port) {
            (Some(listener), Some(port)) => Some((listener.try_clone()?, port)),
            _ => None,
        };
        let tls_config = Arc::clone(&tls_config);
        let router = Arc::new(Router {
            routes: settings.routes.clone(),
            challenges: settings.challenges.clone(),
            metrics: settings.metrics.clone(),
            store: store.clone(),
            logs: logs.clone(),
            suffix: suffix.clone(),
            tls_port,
            timeout: settings.timeout,
            body_idle: settings.limits.header_timeout,
            idle: Mutex::default(),
            idle_dynos: Mutex::default(),
        });
        let (done, outcome) = tokio::sync::oneshot::channel();
        let stop = stop.clone();
        std::thread::Builder::new()
            .name(format!("router-{index}"))
            .spawn(move || {
                let served = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .and_then(|runtime| {
                        runtime.block_on(async move {
                            let stopped = |mut stop: tokio::sync::watch::Receiver<bool>| async move {
                                let _ = stop.wait_for(|stop| *stop).await;
                            };
                            let plain = crate::http::serve(
                                TcpListener::from_std(http)?,
                                Arc::new(Connections {
                                    router: Arc::clone(&router),
                                    https: false,
                                    port: HeaderValue::from(http_port),
                                }),
                                per_listener,
                                None,
                                stopped(stop.clone()),
                            );
                            let Some((tls, tls_port)) = tls else {
                                return plain.await;
                            };
                            let secure = crate::http::serve(
                                TcpListener::from_std(tls)?,
                                Arc::new(Connections {
                                    router,
                                    https: true,
                                    port: HeaderValue::from(tls_port),
                                }),
                                per_listener,
                                Some(tls_config),
                                stopped(stop),
                            );
                            let (plain, secure) = tokio::join!(plain, secure);
                            plain.and(secure)
                        })
                    });
                let _ = done.send(served);
            })?;
        finished.push(outcome);
    }
    for outcome in finished {
        outcome.await.unwrap_or(Ok(()))?;
    }
    Ok(())
}

/// The router's client connections on one listener (`https`: the TLS one, on `port`).
struct Connections {
    router: Arc<Router>,
    https: bool,
    port: HeaderValue,
}

impl crate::http::Connections for Connections {
    fn service(&self, peer: SocketAddr) -> crate::http::Service {
        let connection = Arc::new(ClientConnection {
            client: Client::new(
                Arc::clone(&self.router),
                peer,
                self.https,
                self.port.clone(),
            ),
            upstream: Mutex::new(None),
        });
        crate::http::Service::new(move |request| {
            let connection = Arc::clone(&connection);
            Box::pin(async move { Ok(connection.proxy(request.map(Body::new)).await) })
        })
    }

    fn http1<S>(
        &self,
        peer: SocketAddr,
        stream: S,
        limits: crate::http::Limits,
        stopping: tokio::sync::watch::Receiver<bool>,
    ) -> impl Future<Output = ()> + Send + 'static
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let client = Client::new(
            Arc::clone(&self.router),
            peer,
            self.https,
            self.port.clone(),
        );
        h1::serve(client, stream, limits, stopping)
    }
}

/// A request's head as the router decides on it, whichever protocol brought it.
struct Head<'a> {
    method: &'a str,
    /// The target's path and query (`*` for `OPTIONS *`).
    path_and_query: &'a str,
    /// The target's authority: an absolute-form target's (RFC 9112 §3.2.2), or HTTP/2's
    /// `:authority`.
    authority: Option<&'a str>,
    /// The first Host field, and whether there is another.
    host: Option<&'a str>,
    more_hosts: bool,
    content_length: Option<u64>,
    /// The value of the canary cookie ([`CANARY_COOKIE`]), if the request has one.
    canary: Option<&'a str>,
    /// The client's own `X-Request-Id`, if it sent one (kept when [`client_request_id`]).
    request_id: Option<&'a str>,
}

impl Head<'_> {
    fn path(&self) -> &str {
        self.path_and_query
            .split_once('?')
            .map_or(self.path_and_query, |(path, _)| path)
    }
}

/// The methods the router passes to apps, as `Allow` lists them (`OPTIONS *`, a 405).
const ALLOWED_METHODS: &str = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS";

/// The host a request is routed by, lowercase: its target's authority when it has one (then Host
/// is ignored, RFC 9112 §3.2.2), else its Host field.
fn routed_host(authority: Option<&str>, host: Option<&str>) -> String {
    authority.or(host).unwrap_or_default().to_ascii_lowercase()
}

/// A host's name: without its port, or the final dot a fully qualified name may end with
/// (`shop.example.com.`, RFC 1034 §3.1).
fn bare_name(host: &str) -> &str {
    let name = host.rsplit_once(':').map_or(host, |(name, _)| name);
    name.strip_suffix('.').unwrap_or(name)
}

/// What the router does with a request.
enum Decision {
    /// Answers it itself (an error page, a redirect, an ACME challenge), its log line written.
    Answer(Answer),
    /// Sends it to a dyno.
    Forward(Forward),
}

/// A response of the router's own.
struct Answer {
    status: StatusCode,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: String,
}

impl Answer {
    /// The router's refusal of a request it cannot route (malformed, or a method or version it
    /// does not serve): `text` (one line), then a request id, also in `X-Request-Id`, for the
    /// client to quote (the refusal is not logged: no app is known yet).
    fn text(status: StatusCode, text: &str) -> Answer {
        let request_id = request_id();
        let mut headers = vec![(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        )];
        if let Ok(value) = HeaderValue::from_str(&request_id) {
            headers.push((X_REQUEST_ID, value));
        }
        Answer {
            status,
            headers,
            body: format!("{text}Request ID: {request_id}\n"),
        }
    }

    fn into_response(self) -> Response {
        let mut response = (self.status, self.body).into_response();
        let headers = response.headers_mut();
        headers.remove(header::CONTENT_TYPE);
        for (name, value) in self.headers {
            headers.append(name, value);
        }
        response
    }
}

/// What the log line and the metrics of a request routed to an app need.
struct Ticket {
    app_id: Arc<str>,
    placed: Option<routes::Placed>,
    started: Instant,
    method: String,
    path: String,
    host: String,
    request_id: String,
    _in_flight: crate::metrics::InFlight,
}

/// A request on its way to a dyno: which one, until when, within which limits.
struct Forward {
    ticket: Ticket,
    backend: Arc<Backend>,
    /// The request's deadline for the response to begin (covering a wait in the app's queue and
    /// a retry): `timeout` after the request came.
    deadline: tokio::time::Instant,
    timeout: std::time::Duration,
    /// The app's limit on request bodies, in bytes.
    max_body: Option<u64>,
    /// The request's place among the app's, kept until its response's body ends.
    _slot: Option<flow::Slot>,
}

/// Why a request got no response from a dyno.
enum RouteFailure {
    /// Refused, closed or reset without an answer (Heroku's H13).
    NoAnswer,
    /// No response began within the router's timeout (H12).
    Timeout,
    /// The request's body went over the app's limit (it did not say its length).
    OverLimit,
    /// The client sent nothing of the request's body for the header timeout (Heroku's H28,
    /// nginx's `client_body_timeout`).
    BodyIdle,
}

/// A client connection, as the router decides on its requests.
struct Client {
    router: Arc<Router>,
    /// The client's address, and as `X-Forwarded-For` and the log line give it.
    peer: std::net::IpAddr,
    peer_ip: HeaderValue,
    /// Whether it came in over TLS.
    https: bool,
    /// The port it connected to, as `X-Forwarded-Port` gives it.
    port: HeaderValue,
}

impl Client {
    fn new(router: Arc<Router>, peer: SocketAddr, https: bool, port: HeaderValue) -> Client {
        Client {
            router,
            peer: peer.ip(),
            peer_ip: HeaderValue::from_str(&peer.ip().to_string())
                .expect("an address is a header value"),
            https,
            port,
        }
    }

    /// What to do with the request `head`: an answer of the router's own, or a dyno to send it
    /// to (the one at `keep`, this connection's last, while it is routed and up).
    async fn decide(&self, head: &Head<'_>, keep: Option<SocketAddr>) -> Decision {
        let router = &*self.router;
        let started = Instant::now();
        // RFC 9112 §3.2: a request with more than one Host field is answered 400.
        if head.more_hosts {
            return Decision::Answer(Answer::text(
                StatusCode::BAD_REQUEST,
                "more than one Host header\n",
            ));
        }
        // `OPTIONS *` asks about the server, not a resource (RFC 9110 §9.3.7): answered here.
        if head.method == "OPTIONS" && head.path_and_query == "*" {
            return Decision::Answer(Answer {
                status: StatusCode::OK,
                headers: vec![(header::ALLOW, HeaderValue::from_static(ALLOWED_METHODS))],
                body: String::new(),
            });
        }
        // ACME's HTTP-01 validation (RFC 8555 §8.3) is a plain-HTTP GET of a token the router
        // holds while an order is under way, for whatever hostname is being validated.
        if !self.https
            && let Some(token) = head.path().strip_prefix("/.well-known/acme-challenge/")
            && let Some(key_authorization) = router.challenges.key_authorization(token)
        {
            return Decision::Answer(Answer {
                status: StatusCode::OK,
                headers: vec![(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/octet-stream"),
                )],
                body: key_authorization,
            });
        }
        let host = routed_host(head.authority, head.host);
        let name = bare_name(&host);
        let request_id = head
            .request_id
            .filter(|id| client_request_id(id))
            .map_or_else(request_id, str::to_owned);
        let Some(routed) = router.routes.route(name, &router.suffix, keep, head.canary) else {
            // An app the route table has not heard of yet (created, never deployed): it has no
            // dyno up (Heroku's H14, in its log).
            let known = match name
                .strip_suffix(&router.suffix)
                .and_then(|a| paas_share::AppName::parse(a).ok())
            {
                Some(app) => router
                    .store
                    .call(move |db| db.app_id_named(&app))
                    .await
                    .ok()
                    .flatten(),
                None => None,
            };
            let Some(app_id) = known else {
                return Decision::Answer(page(
                    StatusCode::NOT_FOUND,
                    "No such app",
                    "Nothing is deployed at this address.",
                    &request_id,
                ));
            };
            let app_id: Arc<str> = Arc::from(app_id);
            let ticket = Ticket {
                _in_flight: router.metrics.begin(&app_id),
                app_id,
                placed: None,
                started,
                method: head.method.to_owned(),
                path: head.path().to_owned(),
                request_id,
                host,
            };
            return Decision::Answer(ticket.no_web_dyno(self));
        };
        let ticket = Ticket {
            _in_flight: router.metrics.begin(&routed.app_id),
            app_id: routed.app_id,
            placed: routed.placed,
            started,
            method: head.method.to_owned(),
            path: head.path().to_owned(),
            request_id,
            host,
        };
        let name = bare_name(&ticket.host);
        let settings = routed.edge.as_ref().map(|e| &e.settings);
        if settings.is_some_and(|s| s.maintenance) {
            ticket.log(
                self,
                StatusCode::SERVICE_UNAVAILABLE,
                Some(("H80", "Maintenance mode")),
                0,
            );
            let mut answer = page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Down for maintenance",
                "This app is undergoing maintenance; please try again in a few minutes.",
                &ticket.request_id,
            );
            answer
                .headers
                .push((header::RETRY_AFTER, HeaderValue::from_static("60")));
            return Decision::Answer(answer);
        }
        if !self.https
            && settings.is_some_and(|s| s.redirect_https)
            && router.tls_port.is_some()
            && routed
                .edge
                .as_ref()
                .is_some_and(|e| e.certificate(name, crate::unix_now()).is_some())
        {
            let port = match router.tls_port {
                Some(443) | None => String::new(),
                Some(port) => format!(":{port}"),
            };
            // 301 as Heroku's ACM does; 308 keeps other methods and their bodies (RFC 9110 §15.4.9).
            let status = if matches!(head.method, "GET" | "HEAD") {
                StatusCode::MOVED_PERMANENTLY
            } else {
                StatusCode::PERMANENT_REDIRECT
            };
            let location =
                HeaderValue::from_str(&format!("https://{name}{port}{}", head.path_and_query));
            let Ok(location) = location else {
                ticket.log(
                    self,
                    StatusCode::BAD_REQUEST,
                    Some(("", "Bad request target")),
                    0,
                );
                return Decision::Answer(page(
                    StatusCode::BAD_REQUEST,
                    "Bad request",
                    "The request target cannot be redirected to HTTPS.",
                    &ticket.request_id,
                ));
            };
            ticket.log(self, status, None, 0);
            return Decision::Answer(Answer {
                status,
                headers: vec![(header::LOCATION, location)],
                body: String::new(),
            });
        }
        let max_body = settings.and_then(|s| s.max_body_bytes);
        if let Some(max) = max_body
            && head.content_length.is_some_and(|length| length > max)
        {
            ticket.log(
                self,
                StatusCode::PAYLOAD_TOO_LARGE,
                Some(("", "Request body too large")),
                0,
            );
            return Decision::Answer(too_large(max, &ticket.request_id));
        }
        let Some(backend) = routed.backend else {
            return Decision::Answer(ticket.no_web_dyno(self));
        };
        let timeout = settings
            .and_then(|s| s.timeout_seconds)
            .map_or(router.timeout, |s| {
                std::time::Duration::from_secs(u64::from(s))
            });
        // The deadline covers a wait in the app's queue and a retry too: the client waits at
        // most `timeout` for the response.
        let deadline = tokio::time::Instant::now() + timeout;
        let slot = match routed.edge.as_ref().and_then(|e| e.flow.as_ref()) {
            None => None,
            Some(flow) => match flow.admit(self.peer, routed.up, deadline).await {
                Ok(slot) => Some(slot),
                Err(refusal) => return Decision::Answer(ticket.refused(self, refusal)),
            },
        };
        Decision::Forward(Forward {
            ticket,
            backend,
            deadline,
            timeout,
            max_body,
            _slot: slot,
        })
    }
}

impl Ticket {
    /// Counts the request and writes its log line, once its response (or the router's answer)
    /// begins: `bytes` is the body's length when the response says it.
    fn log(&self, client: &Client, status: StatusCode, error: Option<(&str, &str)>, bytes: u64) {
        let router = &*client.router;
        let elapsed = self.started.elapsed();
        let ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
        router
            .metrics
            .request(&self.app_id, status.as_u16(), ms, bytes);
        // A canary is judged by its dynos' answers (H12 and H13 are theirs), not by the router's
        // own (limits, maintenance).
        if let Some(placed) = self.placed
            && error.is_none_or(|(code, _)| matches!(code, "H12" | "H13"))
        {
            router
                .metrics
                .canary_request(&self.app_id, placed.to_canary, status.as_u16(), ms);
        }
        // Heroku's router log line, written once into a buffer sized for it (a line per request).
        let mut line = String::with_capacity(256);
        let _ = match error {
            Some(("", desc)) => write!(line, "at=error desc=\"{desc}\""),
            Some((code, desc)) => write!(line, "at=error code={code} desc=\"{desc}\""),
            None => write!(line, "at=info"),
        };
        let _ = write!(
            line,
            " method={} path={} host={} request_id={} fwd={} protocol={} status={} service={}ms",
            self.method,
            self.path,
            self.host,
            self.request_id,
            client.peer_ip.to_str().unwrap_or_default(),
            if client.https { "https" } else { "http" },
            status.as_u16(),
            elapsed.as_millis()
        );
        router.logs.emit(&self.app_id, "paas", "router", line);
    }

    /// The answer when no web dyno of the app is up (Heroku's H14), logged.
    fn no_web_dyno(&self, client: &Client) -> Answer {
        self.log(
            client,
            StatusCode::SERVICE_UNAVAILABLE,
            Some(("H14", "No web dynos running")),
            0,
        );
        page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Application unavailable",
            "No web dyno of this app is up.",
            &self.request_id,
        )
    }

    /// The answer to a request the app's flow control refused (429 or 503 with `Retry-After`).
    fn refused(&self, client: &Client, refusal: Refusal) -> Answer {
        let (status, retry_after, code, desc, title, text) = match refusal {
            Refusal::Limited {
                retry_after,
                client,
            } => (
                StatusCode::TOO_MANY_REQUESTS,
                retry_after,
                "",
                if client {
                    "Client rate limit exceeded"
                } else {
                    "Rate limit exceeded"
                },
                "Too many requests",
                "This app takes a limited number of requests per second; please try again in a moment.",
            ),
            Refusal::Shed => (
                StatusCode::SERVICE_UNAVAILABLE,
                1,
                "H11",
                "Backlog too deep",
                "Too busy",
                "This app is answering as many requests as it can; please try again in a moment.",
            ),
        };
        client.router.metrics.refused(
            &self.app_id,
            if status == StatusCode::TOO_MANY_REQUESTS {
                crate::metrics::Refused::Limited
            } else {
                crate::metrics::Refused::Shed
            },
        );
        self.log(client, status, Some((code, desc)), 0);
        let mut answer = page(status, title, text, &self.request_id);
        answer
            .headers
            .push((header::RETRY_AFTER, HeaderValue::from(retry_after)));
        answer
    }
}

impl Forward {
    /// Records whether `backend` answered well: a dyno's health is what its responses say (a body
    /// cut for being over the limit is the client's doing, not the dyno's); a dyno that fails too
    /// often in a row leaves the rotation for a while.
    fn observe(&self, client: &Client, backend: &Backend, ok: bool) {
        let (at, desc) = match backend.health.record(ok) {
            None => return,
            Some(Turn::Out { again: false }) => (
                "warning",
                format!(
                    "taken out of rotation for {} s after {EJECT_AFTER} failed responses in a row",
                    EJECT_FOR.as_secs()
                ),
            ),
            Some(Turn::Out { again: true }) => (
                "warning",
                format!(
                    "taken out of rotation again for {} s: it failed after its pause",
                    EJECT_FOR.as_secs()
                ),
            ),
            Some(Turn::Back) => ("info", "back in rotation".to_owned()),
        };
        client.router.logs.emit(
            &self.ticket.app_id,
            "paas",
            "router",
            format!("at={at} dyno={} desc=\"{desc}\"", backend.dyno),
        );
    }

    /// Logs a dyno's response as it begins (`bytes`: its length when it says it); the
    /// `Set-Cookie` value a client new to the canary split gets, to stay on its side.
    fn responded(&self, client: &Client, status: StatusCode, bytes: u64) -> Option<HeaderValue> {
        self.ticket.log(client, status, None, bytes);
        let placed = self.ticket.placed.filter(|p| p.fresh)?;
        HeaderValue::from_str(&placed.cookie()).ok()
    }

    /// The router's answer when no dyno's response began: Heroku's router error codes, H12 for
    /// a response that did not begin in time, H13 for a connection the dyno closed (or refused)
    /// without answering.
    fn failed(&self, client: &Client, failure: &RouteFailure) -> Answer {
        let request_id = &self.ticket.request_id;
        match failure {
            RouteFailure::OverLimit => {
                self.ticket.log(
                    client,
                    StatusCode::PAYLOAD_TOO_LARGE,
                    Some(("", "Request body too large")),
                    0,
                );
                too_large(self.max_body.unwrap_or_default(), request_id)
            }
            RouteFailure::Timeout => {
                self.ticket.log(
                    client,
                    StatusCode::GATEWAY_TIMEOUT,
                    Some(("H12", "Request timeout")),
                    0,
                );
                page(
                    StatusCode::GATEWAY_TIMEOUT,
                    "Request timeout",
                    &format!(
                        "The app did not begin its response within {} s.",
                        self.timeout.as_secs()
                    ),
                    request_id,
                )
            }
            RouteFailure::BodyIdle => {
                self.ticket.log(
                    client,
                    StatusCode::REQUEST_TIMEOUT,
                    Some(("H28", "Client Connection Idle")),
                    0,
                );
                page(
                    StatusCode::REQUEST_TIMEOUT,
                    "Request body timeout",
                    &format!(
                        "The request body stopped coming for {} s.",
                        client.router.body_idle.as_secs()
                    ),
                    request_id,
                )
            }
            RouteFailure::NoAnswer => {
                self.ticket.log(
                    client,
                    StatusCode::BAD_GATEWAY,
                    Some(("H13", "Connection closed without response")),
                    0,
                );
                page(
                    StatusCode::BAD_GATEWAY,
                    "Bad gateway",
                    "The app closed the connection without answering.",
                    request_id,
                )
            }
        }
    }
}

/// What an HTTP/2 request's client is told when it leaves before its response begins, and the
/// HTTP/1 one's too: Heroku's H27, logged with nginx's 499.
const INTERRUPTED: (u16, (&str, &str)) = (499, ("H27", "Client Request Interrupted"));

/// Logs its request as [`INTERRUPTED`] when dropped: forgotten once a response (or the router's
/// own answer) is there.
struct Waiting<'a> {
    forward: &'a Forward,
    client: &'a Client,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let (status, error) = INTERRUPTED;
        let status = StatusCode::from_u16(status).expect("a status");
        self.forward.ticket.log(self.client, status, Some(error), 0);
    }
}

/// An HTTP/2 connection (hyper serves it): each request is decided on and sent to a dyno over
/// HTTP/1.1 with hyper's client, and keeps its dyno connection for the next.
struct ClientConnection {
    client: Client,
    upstream: Mutex<Option<Upstream>>,
}

impl Drop for ClientConnection {
    fn drop(&mut self) {
        let upstream = self
            .upstream
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(upstream) = upstream.take() {
            self.client.router.give_back(upstream);
        }
    }
}

impl ClientConnection {
    async fn proxy(&self, mut request: Request) -> Response {
        let client = &self.client;
        let router = &*client.router;
        // The dyno this connection's last request went to, while it is routed and up.
        let pinned = self.upstream().take();
        let decision = {
            let headers = request.headers();
            let mut hosts = headers
                .get_all(header::HOST)
                .iter()
                .filter_map(|h| h.to_str().ok());
            let head = Head {
                method: request.method().as_str(),
                path_and_query: request.uri().path_and_query().map_or("/", |p| p.as_str()),
                authority: request.uri().authority().map(|a| a.as_str()),
                host: hosts.next(),
                more_hosts: hosts.next().is_some(),
                content_length: headers
                    .get(header::CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok()?.parse().ok()),
                canary: canary_cookie(headers),
                request_id: headers.get(X_REQUEST_ID).and_then(|v| v.to_str().ok()),
            };
            client.decide(&head, pinned.as_ref().map(|u| u.addr)).await
        };
        let forward = match decision {
            Decision::Answer(answer) => {
                if let Some(pinned) = pinned {
                    router.give_back(pinned);
                }
                return answer.into_response();
            }
            Decision::Forward(forward) => forward,
        };
        let pinned = match pinned {
            Some(upstream) if upstream.addr == forward.backend.addr => Some(upstream.sender),
            Some(other) => {
                router.give_back(other);
                None
            }
            None => None,
        };
        let absolute_form = request.uri().authority().is_some();
        let method = request.method().clone();
        // The dyno gets the origin form (`/path?query`) over HTTP/1.1, whatever the client spoke.
        if absolute_form {
            let target = request
                .uri()
                .path_and_query()
                .map_or("/", |p| p.as_str())
                .parse::<Uri>()
                .expect("a path and query is a valid URI");
            *request.uri_mut() = target;
        }
        *request.version_mut() = Version::HTTP_11;
        let headers = request.headers_mut();
        remove_hop_by_hop(headers);
        let imitations: Vec<HeaderName> = headers
            .keys()
            .filter(|name| wire::imitates_router_field(name.as_str()))
            .cloned()
            .collect();
        for name in imitations {
            headers.remove(name);
        }
        // The dyno is told the host it was routed by (RFC 9112 §3.2.2: a proxy replaces Host).
        if (absolute_form || !headers.contains_key(header::HOST))
            && let Ok(value) = HeaderValue::from_str(&forward.ticket.host)
        {
            headers.insert(header::HOST, value);
        }
        // Every X-Forwarded-For field the client sent, in order, then the client (RFC 9110
        // §5.3: fields of one name combine as one list); without one, the client's address as
        // it is (no copy per request).
        let forwarded_for = {
            let previous = headers.get_all(X_FORWARDED_FOR);
            let blank = |v: &HeaderValue| wire::is_empty_list(v.as_bytes());
            if previous.iter().all(blank) {
                Some(client.peer_ip.clone())
            } else {
                let mut list = Vec::new();
                for value in previous.iter().filter(|v| !blank(v)) {
                    list.extend_from_slice(value.as_bytes());
                    list.extend_from_slice(b", ");
                }
                list.extend_from_slice(client.peer_ip.as_bytes());
                HeaderValue::from_bytes(&list).ok()
            }
        };
        if let Some(forwarded_for) = forwarded_for {
            headers.insert(X_FORWARDED_FOR, forwarded_for);
        }
        headers.insert(
            X_FORWARDED_PROTO,
            HeaderValue::from_static(if client.https { "https" } else { "http" }),
        );
        headers.insert(X_FORWARDED_PORT, client.port.clone());
        if headers.contains_key(header::FORWARDED) {
            let mut list = Vec::new();
            let previous = headers.get_all(header::FORWARDED);
            let previous = previous.iter().map(HeaderValue::as_bytes);
            wire::put_forwarded(&mut list, previous, client.peer, client.https);
            if let Ok(value) = HeaderValue::from_bytes(&list) {
                headers.insert(header::FORWARDED, value);
            }
        }
        if let Ok(start) = HeaderValue::try_from(format!("t={}", routes::now_ms())) {
            headers.insert(X_REQUEST_START, start);
        }
        if let Ok(request_id) = HeaderValue::from_str(&forward.ticket.request_id) {
            headers.insert(X_REQUEST_ID, request_id);
        }
        // A body is watched as it goes: over the app's limit (if it did not say its length, where
        // it passes it), silent for the header timeout, and when it ended (the response's
        // deadline counts from there, as over HTTP/1.1).
        let body = (!axum::body::HttpBody::is_end_stream(request.body())).then(|| {
            let watch = Arc::new(BodyWatch::default());
            let (max, idle, started) = (forward.max_body, router.body_idle, Instant::now());
            let watched = Arc::clone(&watch);
            request = std::mem::take(&mut request).map(|body| {
                Body::new(WatchedBody {
                    body,
                    left: max,
                    idle,
                    silence: Box::pin(tokio::time::sleep(idle)),
                    started,
                    watch: watched,
                })
            });
            watch
        });
        // A GET or HEAD without a body can be sent again (it is idempotent, RFC 9110 §9.2.2): if
        // its dyno gave no answer (it refused the connection, or closed a kept one, as it
        // stopped), another dyno that is up gets it, as nginx's `proxy_next_upstream error`
        // does.
        let replay = (matches!(method, Method::GET | Method::HEAD)
            && axum::body::HttpBody::is_end_stream(request.body()))
        .then(|| (request.uri().clone(), request.headers().clone()));
        // The client's fault, not the dyno's.
        let refused = || body.as_ref().and_then(|watch| watch.refused());
        let answered = |response: &Result<axum::http::Response<_>, RouteFailure>| match response {
            Ok(response) => !response.status().is_server_error(),
            Err(_) => refused().is_some(),
        };
        // Until a response begins: hyper drops this future when the client resets the stream
        // or leaves, and the request is then logged as interrupted.
        let waiting = Waiting {
            forward: &forward,
            client,
        };
        let mut response = self
            .send(
                forward.backend.addr,
                pinned,
                request,
                forward.deadline,
                body.as_ref(),
            )
            .await;
        forward.observe(client, &forward.backend, answered(&response));
        if let (Err(RouteFailure::NoAnswer), Some((uri, headers))) = (&response, replay)
            && let Some(other) = router.routes.pick(&forward.ticket.app_id)
        {
            let mut again = Request::new(Body::empty());
            *again.method_mut() = method;
            *again.uri_mut() = uri;
            *again.headers_mut() = headers;
            response = self
                .send(other.addr, None, again, forward.deadline, None)
                .await;
            forward.observe(client, &other, answered(&response));
        }
        std::mem::forget(waiting);
        match response {
            Ok(mut response) => {
                // The dyno's connection management is its own (a `Connection: close` to the
                // router must not close the client's connection).
                remove_hop_by_hop(response.headers_mut());
                let (mut parts, body) = response.into_parts();
                let length = parts
                    .headers
                    .get(header::CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok()?.parse().ok())
                    .unwrap_or(0);
                if let Some(cookie) = forward.responded(client, parts.status, length) {
                    parts.headers.append(header::SET_COOKIE, cookie);
                }
                // The request keeps its slot among the app's until its response's body ends.
                let body = http_body_util::BodyExt::map_err(body, move |e| {
                    let _forward = &forward;
                    e
                });
                Response::from_parts(parts, Body::new(body))
            }
            Err(failure) => {
                let failure = refused().unwrap_or(failure);
                forward.failed(client, &failure).into_response()
            }
        }
    }

    /// Sends `request` to the dyno at `addr` over `pinned` (this connection's, to that dyno) or
    /// another connection, and keeps the connection for this client's next request once the
    /// response has begun. The response must begin by `deadline`, moved on by the time the
    /// request's `body` (its watch) took to come whole, or, while it is still coming, until it
    /// last moved.
    async fn send(
        &self,
        addr: SocketAddr,
        pinned: Option<SendRequest<Body>>,
        request: Request,
        deadline: tokio::time::Instant,
        body: Option<&Arc<BodyWatch>>,
    ) -> Result<axum::http::Response<hyper::body::Incoming>, RouteFailure> {
        let router = &*self.client.router;
        let exchange = async {
            let (mut sender, mut fresh) = match pinned {
                Some(sender) => (sender, false),
                None => router.connect(addr).await?,
            };
            let mut request = request;
            let response = loop {
                if sender.ready().await.is_err() {
                    (sender, fresh) = (router.open(addr).await?, true);
                }
                match sender.try_send_request(request).await {
                    Ok(response) => break response,
                    // A kept connection the dyno had closed: the request was not sent, and goes
                    // again on a new one.
                    Err(mut failed) => match failed.take_message() {
                        Some(unsent) if !fresh => {
                            request = unsent;
                            (sender, fresh) = (router.open(addr).await?, true);
                        }
                        _ => return Err(RouteFailure::NoAnswer),
                    },
                }
            };
            *self.upstream() = Some(Upstream { addr, sender });
            Ok(response)
        };
        tokio::pin!(exchange);
        let mut until = deadline;
        loop {
            if let Ok(response) = tokio::time::timeout_at(until, &mut exchange).await {
                return response;
            }
            let Some(watch) = body else {
                return Err(RouteFailure::Timeout);
            };
            // Still coming, the deadline is as far from the body's last progress as it was
            // from its start: a body the dyno stopped taking (or a connection that never
            // opened) still times out.
            let took = watch.took().unwrap_or_else(|| watch.moved());
            if deadline + took <= tokio::time::Instant::now() {
                return Err(RouteFailure::Timeout);
            }
            until = deadline + took;
        }
    }

    fn upstream(&self) -> std::sync::MutexGuard<'_, Option<Upstream>> {
        self.upstream.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The value of the canary cookie ([`CANARY_COOKIE`]) among the request's cookies, if any.
fn canary_cookie(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(canary_in)
}

/// The value of the canary cookie in one `Cookie` field's value.
fn canary_in(cookies: &str) -> Option<&str> {
    cookies
        .split(';')
        .find_map(|pair| pair.trim().strip_prefix(CANARY_COOKIE)?.strip_prefix('='))
}

/// Removes the hop-by-hop headers: the fixed list and every header the `Connection` field names
/// (RFC 9110 §7.6.1).
fn remove_hop_by_hop(headers: &mut axum::http::HeaderMap) {
    if headers.contains_key(header::CONNECTION) {
        let named: Vec<HeaderName> = headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
            .collect();
        for name in named {
            headers.remove(name);
        }
    }
    for name in wire::HOP_BY_HOP {
        headers.remove(name);
    }
}

/// An error page of the router's: what happened, in a sentence, and the request's id (which the
/// app's `paas[router]` log line has too).
fn page(status: StatusCode, title: &str, text: &str, request_id: &str) -> Answer {
    let mut headers = vec![(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    )];
    if let Ok(value) = HeaderValue::from_str(request_id) {
        headers.push((X_REQUEST_ID, value));
    }
    Answer {
        status,
        headers,
        body: format!(
            "<!DOCTYPE html>\n<title>{title}</title>\n<h1>{title}</h1>\n<p>{text}</p>\n<p>Request ID: <code>{request_id}</code></p>\n"
        ),
    }
}

fn too_large(max: u64, request_id: &str) -> Answer {
    page(
        StatusCode::PAYLOAD_TOO_LARGE,
        "Request body too large",
        &format!("This app accepts request bodies of at most {max} bytes."),
        request_id,
    )
}

/// What became of an HTTP/2 request's body as it went to the dyno ([`WatchedBody`]).
#[derive(Default)]
struct BodyWatch {
    over_limit: std::sync::atomic::AtomicBool,
    idle: std::sync::atomic::AtomicBool,
    /// When it ended: one more than the nanoseconds after sending began (0 until then).
    ended_after: std::sync::atomic::AtomicU64,
    /// When a piece of it last went on (nanoseconds after sending began).
    moved_after: std::sync::atomic::AtomicU64,
}

impl BodyWatch {
    /// How long the body took to come whole, once it has.
    fn took(&self) -> Option<std::time::Duration> {
        let nanos = self.ended_after.load(std::sync::atomic::Ordering::Acquire);
        (nanos != 0).then(|| std::time::Duration::from_nanos(nanos - 1))
    }

    /// How long after sending began a piece of the body last went on to the dyno.
    fn moved(&self) -> std::time::Duration {
        let nanos = self.moved_after.load(std::sync::atomic::Ordering::Acquire);
        std::time::Duration::from_nanos(nanos)
    }

    /// The failure the client's body caused, if it did.
    fn refused(&self) -> Option<RouteFailure> {
        use std::sync::atomic::Ordering::Acquire;
        if self.over_limit.load(Acquire) {
            Some(RouteFailure::OverLimit)
        } else if self.idle.load(Acquire) {
            Some(RouteFailure::BodyIdle)
        } else {
            None
        }
    }
}

/// An HTTP/2 request's body on its way to the dyno, as HTTP/1.1's is watched ([`h1`]): it ends
/// in an error once more than `left` bytes came through, or when nothing came for `idle`; the
/// watch says which, and when the body ended.
struct WatchedBody {
    body: Body,
    left: Option<u64>,
    idle: std::time::Duration,
    silence: std::pin::Pin<Box<tokio::time::Sleep>>,
    started: Instant,
    watch: Arc<BodyWatch>,
}

impl WatchedBody {
    fn nanos(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_nanos()).unwrap_or(u64::MAX - 1)
    }

    fn moved(&self) {
        let nanos = self.nanos();
        self.watch
            .moved_after
            .store(nanos, std::sync::atomic::Ordering::Release);
    }

    fn ended(&self) {
        // Stored plus one: zero is "not yet".
        let nanos = self.nanos() + 1;
        self.watch
            .ended_after
            .store(nanos, std::sync::atomic::Ordering::Release);
    }
}

impl HttpBody for WatchedBody {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        use std::task::Poll;
        let polled = std::pin::Pin::new(&mut self.body).poll_frame(cx);
        match &polled {
            Poll::Pending => {
                if self.silence.as_mut().poll(cx).is_ready() {
                    self.watch
                        .idle
                        .store(true, std::sync::atomic::Ordering::Release);
                    return Poll::Ready(Some(Err(axum::Error::new(
                        "the request body stopped coming",
                    ))));
                }
                return Poll::Pending;
            }
            Poll::Ready(None) => self.ended(),
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    let length = data.len() as u64;
                    if self.left.is_some_and(|left| length > left) {
                        self.watch
                            .over_limit
                            .store(true, std::sync::atomic::Ordering::Release);
                        return Poll::Ready(Some(Err(axum::Error::new(
                            "the request body is over the app's limit",
                        ))));
                    }
                    if let Some(left) = &mut self.left {
                        *left -= length;
                    }
                }
                let next = tokio::time::Instant::now() + self.idle;
                self.silence.as_mut().reset(next);
                self.moved();
                // A body of a said length ends with its last byte: the dyno's HTTP/1.1 client
                // stops polling it there, before a separate END_STREAM would be seen.
                if self.body.is_end_stream() || self.body.size_hint().exact() == Some(0) {
                    self.ended();
                }
            }
            Poll::Ready(Some(Err(_))) => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// Whether a client's own `X-Request-Id` is kept, as Heroku's router keeps it: 20 to 200
/// characters of letters, digits, `+`, `/`, `=` and `-` (anything else gets a fresh one).
fn client_request_id(id: &str) -> bool {
    (20..=200).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'-'))
}

/// A fresh `X-Request-Id`: a random UUID v4 (RFC 9562 §5.4), as Heroku's router sends. Random,
/// not a counter, so that ids do not tell a client how many requests the router has served.
/// uuid's `fast-rng` draws from rand's thread-local ChaCha generator: no `getrandom` system
/// call per request (which cost the router 13% of its system-call time).
fn request_id() -> String {
    uuid::Uuid::new_v4().hyphenated().to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn request_ids_are_random_uuids() {
        let [a, b] = [super::request_id(), super::request_id()]
            .map(|id| uuid::Uuid::parse_str(&id).expect("a UUID"));
        assert_eq!(a.get_version_num(), 4);
        // Nothing in common: a counter in either half would tell clients the router's traffic.
        assert_ne!(a.as_bytes()[..8], b.as_bytes()[..8]);
        assert_ne!(a.as_bytes()[8..], b.as_bytes()[8..]);
    }

    #[test]
    fn a_clients_request_id_is_kept_when_heroku_would() {
        use super::client_request_id as kept;
        assert!(kept("0123456789abcdefghij"));
        assert!(kept(&"aZ09+/=-".repeat(25)));
        assert!(!kept("0123456789abcdefghi"), "19 characters");
        assert!(!kept(&"a".repeat(201)));
        assert!(!kept("0123456789abcdefghij\r\nx-evil: 1"));
        assert!(!kept("0123456789 abcdefghij"));
    }
}
