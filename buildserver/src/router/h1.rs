//! The router's HTTP/1.1 proxy loop: one task per client connection reads a request head
//! (`httparse`), decides on it ([`Client::decide`]), writes it again for the dyno (hop-by-hop
//! fields dropped, `X-Forwarded-*`, `X-Request-Start` and `X-Request-Id` added) over this connection's own
//! keep-alive connection to that dyno, streams the request body there while it reads the
//! response head, and copies the response back, framing both bodies again by RFC 9112
//! ([`wire`]). `Expect: 100-continue` is answered here; interim 1xx responses are not passed on;
//! a `101 Switching Protocols` joins both connections byte for byte (WebSocket).
//!
//! Hand-written rather than hyper's server and client: a request through hyper's server, a
//! client connection task, its dispatch channel, a oneshot and a body channel cost 7.8 µs of
//! router CPU per request where nginx spends 2.8 µs (perf, stop 32), which made the router 0.72×
//! as fast as the dyno itself; routing requests is what paas exists for. HTTP/2 clients are still
//! served by hyper.

use std::net::SocketAddr;

use axum::http::StatusCode;
use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use super::wire::{self, BodyReader, ConnectionOptions, Framing, Piece};
use super::{
    Answer, Client, Decision, Forward, Head, IDLE_PER_DYNO, INTERRUPTED, RouteFailure, Router,
};

/// The largest response head a dyno may send.
const MAX_RESPONSE_HEAD: usize = 64 * 1024;
/// How much is read from a socket at a time, and written to one at most once.
const CHUNK: usize = 64 * 1024;
/// How long a response may take to begin before the router watches its client for leaving.
const WATCH_CLIENT_AFTER: std::time::Duration = std::time::Duration::from_millis(100);
/// How long a connection closed with a request body unread still reads (and drops) what the
/// client sends, so that the client reads the response rather than a reset (nginx's
/// `lingering_close`).
const LINGER: std::time::Duration = std::time::Duration::from_secs(2);

/// A keep-alive connection to a dyno.
pub(super) struct Dyno {
    addr: SocketAddr,
    stream: TcpStream,
    /// What was read from the dyno and not used yet.
    buf: BytesMut,
}

impl Dyno {
    async fn connect(addr: SocketAddr) -> Result<Dyno, RouteFailure> {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|_| RouteFailure::NoAnswer)?;
        let _ = stream.set_nodelay(true);
        Ok(Dyno {
            addr,
            stream,
            buf: BytesMut::with_capacity(8 * 1024),
        })
    }

    /// Whether the dyno has neither closed this idle connection nor sent anything on it: no
    /// system call unless the socket became readable.
    fn open(&self) -> bool {
        self.buf.is_empty()
            && matches!(self.stream.try_read(&mut [0u8; 1]), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
    }
}

/// How often the idle connections to every dyno are checked for being closed (those to dynos
/// that stopped go, with their entries): not at every [`Router::keep_dyno`], which a client
/// moving between dynos calls at every request.
const SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// The HTTP/1.1 proxy loop's idle connections to dynos, by the dyno's address.
#[derive(Default)]
pub(super) struct IdleDynos {
    kept: std::collections::HashMap<SocketAddr, Vec<Dyno>>,
    /// When every kept connection was last checked.
    swept: Option<std::time::Instant>,
}

impl Router {
    /// An idle connection to the dyno at `addr` that is still open, if there is one.
    fn idle_dyno(&self, addr: SocketAddr) -> Option<Dyno> {
        let mut idle = self
            .idle_dynos
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let kept = idle.kept.get_mut(&addr)?;
        std::iter::from_fn(|| kept.pop()).find(Dyno::open)
    }

    /// Keeps `dyno` for another client connection's requests.
    fn keep_dyno(&self, dyno: Dyno) {
        if !dyno.open() {
            return;
        }
        let mut idle = self
            .idle_dynos
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Connections to dynos that stopped are closed: they go, and their dynos' entries too.
        let now = std::time::Instant::now();
        if idle
            .swept
            .is_none_or(|at| now.duration_since(at) >= SWEEP_EVERY)
        {
            idle.kept.retain(|_, kept| {
                kept.retain(Dyno::open);
                !kept.is_empty()
            });
            idle.swept = Some(now);
        }
        let kept = idle.kept.entry(dyno.addr).or_default();
        if kept.len() < IDLE_PER_DYNO {
            kept.push(dyno);
        }
    }
}

/// Serves the HTTP/1.1 client connection `stream` to its end: each request's head within
/// `limits.header_timeout` (from the connection's start, then from the previous response; the
/// connection closes silently past it), at most `limits.max_header_bytes` (431 beyond). Once
/// `stopping` turns true, an idle connection closes and a busy one after its response.
pub(super) async fn serve<S>(
    client: Client,
    mut stream: S,
    limits: crate::http::Limits,
    stopping: tokio::sync::watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let mut connection = Connection {
        client,
        limits,
        buf: BytesMut::with_capacity(8 * 1024),
        head: Vec::with_capacity(1024),
        reply: Vec::with_capacity(8 * 1024),
        dyno: None,
    };
    connection.run(&mut stream, stopping).await;
    if let Some(dyno) = connection.dyno.take() {
        connection.client.router.keep_dyno(dyno);
    }
}

struct Connection {
    client: Client,
    limits: crate::http::Limits,
    /// What was read from the client and not used yet.
    buf: BytesMut,
    /// The request head as the dyno gets it.
    head: Vec<u8>,
    /// What is being written to the client.
    reply: Vec<u8>,
    /// The dyno connection the last request went through.
    dyno: Option<Dyno>,
}

/// A request head, as much of it as the router keeps after writing it again for the dyno.
struct Parsed {
    method: String,
    path_and_query: String,
    authority: Option<String>,
    host: Option<String>,
    more_hosts: bool,
    content_length: Option<u64>,
    canary: Option<String>,
    /// The client's own `X-Request-Id`.
    request_id: Option<String>,
    framing: Framing,
    http10: bool,
    /// The client keeps the connection for another request.
    keep_alive: bool,
    /// It asks to switch protocols (`Upgrade`).
    upgrade: bool,
    expect_continue: bool,
}

impl Parsed {
    fn is_head(&self) -> bool {
        self.method == "HEAD"
    }
}

/// Why a request head was not read.
enum Unread {
    /// The client closed the connection, or sent nothing in time.
    Gone,
    /// It sent something the router answers so, then closes.
    Refused(Answer),
}

/// A response head from a dyno, its parts the router needs.
struct ResponseHead {
    status: StatusCode,
    /// How the dyno delimits the body.
    framing: Framing,
    /// The client gets it chunked (a chunked or close-delimited body to an HTTP/1.1 client).
    chunked: bool,
    /// The client's connection closes after it (a body to an HTTP/1.0 client that only its
    /// end delimits).
    closes: bool,
    /// The dyno closes its connection after it.
    dyno_closes: bool,
}

impl ResponseHead {
    /// The body's length when the head says it, for the log line.
    fn length(&self) -> u64 {
        match self.framing {
            Framing::Length(length) => length,
            _ => 0,
        }
    }
}

/// Why a dyno's response did not begin.
enum Failure {
    Route(RouteFailure),
    /// The dyno closed or reset the connection without sending a byte: a kept connection it
    /// closed while the request was on its way (otherwise as [`RouteFailure::NoAnswer`]).
    Silent,
    /// The client's request body did not come whole.
    Client(ClientFault),
}

/// Why a request body did not come whole from the client.
#[derive(Clone, Copy)]
enum ClientFault {
    /// It closed its connection (or its sending side) before its response began (Heroku's
    /// H27, logged with nginx's 499).
    Gone,
    /// It framed the body wrong.
    Malformed(wire::Malformed),
}

impl From<RouteFailure> for Failure {
    fn from(failure: RouteFailure) -> Self {
        Failure::Route(failure)
    }
}

impl Connection {
    async fn run<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        stream: &mut S,
        mut stopping: tokio::sync::watch::Receiver<bool>,
    ) {
        let idle = tokio::time::sleep(self.limits.header_timeout);
        tokio::pin!(idle);
        loop {
            let read = tokio::select! {
                biased;
                read = self.read_head(stream) => read,
                () = &mut idle => return,
                _ = stopping.wait_for(|stop| *stop) => return,
            };
            let parsed = match read {
                Ok(parsed) => parsed,
                Err(Unread::Gone) => return,
                Err(Unread::Refused(answer)) => {
                    self.reply.clear();
                    put_answer(&mut self.reply, &answer, false, false, false);
                    let _ = write(stream, &self.reply).await;
                    linger(stream).await;
                    return;
                }
            };
            let keep = self.dyno.as_ref().map(|d| d.addr);
            let decision = {
                let head = Head {
                    method: &parsed.method,
                    path_and_query: &parsed.path_and_query,
                    authority: parsed.authority.as_deref(),
                    host: parsed.host.as_deref(),
                    more_hosts: parsed.more_hosts,
                    content_length: parsed.content_length,
                    canary: parsed.canary.as_deref(),
                    request_id: parsed.request_id.as_deref(),
                };
                self.client.decide(&head, keep).await
            };
            let kept = match decision {
                Decision::Answer(answer) => {
                    // Its body is not read: the connection closes after, as after a bad request.
                    let keep = parsed.keep_alive
                        && parsed.framing == Framing::Empty
                        && answer.status != StatusCode::BAD_REQUEST
                        && !*stopping.borrow();
                    self.answer(stream, &parsed, &answer, keep).await
                }
                Decision::Forward(forward) => {
                    let stop = *stopping.borrow();
                    self.forward(stream, &parsed, forward, stop).await
                }
            };
            if !kept {
                if parsed.framing != Framing::Empty {
                    linger(stream).await;
                }
                return;
            }
            idle.as_mut()
                .reset(tokio::time::Instant::now() + self.limits.header_timeout);
        }
    }

    /// Writes the router's own `answer` to the request `parsed`: whether the connection is kept
    /// (`keep`, unless the client is gone).
    async fn answer<S: AsyncWrite + Unpin>(
        &mut self,
        stream: &mut S,
        parsed: &Parsed,
        answer: &Answer,
        keep: bool,
    ) -> bool {
        self.reply.clear();
        put_answer(
            &mut self.reply,
            answer,
            parsed.is_head(),
            parsed.http10,
            keep,
        );
        write(stream, &self.reply).await.is_ok() && keep
    }

    /// Reads the next request head and writes it again into `self.head` for the dyno (all but
    /// its `X-Request-Id` and the empty line that ends it).
    async fn read_head<S: AsyncRead + Unpin>(&mut self, stream: &mut S) -> Result<Parsed, Unread> {
        loop {
            if !self.buf.is_empty() {
                let parsed = self.parse_request()?;
                let length = parsed
                    .as_ref()
                    .map_or(self.buf.len(), |(length, _)| *length);
                if length > self.limits.max_header_bytes {
                    return Err(refused(
                        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                        "the request head is too large",
                    ));
                }
                if let Some((length, parsed)) = parsed {
                    self.buf.advance(length);
                    return Ok(parsed);
                }
            }
            self.buf.reserve(4 * 1024);
            match stream.read_buf(&mut self.buf).await {
                Ok(0) | Err(_) => return Err(Unread::Gone),
                Ok(_) => {}
            }
        }
    }

    /// The request head at the start of `self.buf` and its length, `None` while incomplete.
    fn parse_request(&mut self) -> Result<Option<(usize, Parsed)>, Unread> {
        let mut fields = [httparse::EMPTY_HEADER; wire::MAX_HEADERS];
        let mut request = httparse::Request::new(&mut fields);
        let length = match request.parse(&self.buf) {
            Ok(httparse::Status::Complete(length)) => length,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(httparse::Error::TooManyHeaders) => {
                return Err(refused(
                    StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                    "too many header fields",
                ));
            }
            // A later HTTP/1 (`HTTP/1.2`) is served as HTTP/1.1, the highest minor version the
            // router implements (RFC 9110 §6.2); HTTP/2 over plain TCP (`PRI * HTTP/2.0`, h2c)
            // or another major version is refused (§15.6.6); a request line that only looks
            // wrong there (a space in its target) is malformed.
            Err(httparse::Error::Version) => match other_version(&self.buf) {
                Some((b'1', minor_at)) => {
                    self.buf[minor_at] = b'1';
                    return self.parse_request();
                }
                Some(_) => {
                    return Err(refused(
                        StatusCode::HTTP_VERSION_NOT_SUPPORTED,
                        "only HTTP/1.0 and HTTP/1.1 are served on this connection",
                    ));
                }
                None => {
                    return Err(refused(StatusCode::BAD_REQUEST, "a malformed request head"));
                }
            },
            Err(_) => {
                return Err(refused(StatusCode::BAD_REQUEST, "a malformed request head"));
            }
        };
        let bad = |text| refused(StatusCode::BAD_REQUEST, text);
        let (Some(method), Some(target), Some(version)) =
            (request.method, request.path, request.version)
        else {
            return Err(bad("a malformed request head"));
        };
        let fields = &*request.headers;
        let http10 = version == 0;
        let framing = wire::request_framing(fields, http10).map_err(|e| {
            if e == wire::OTHER_CODING {
                refused(
                    StatusCode::NOT_IMPLEMENTED,
                    "transfer codings other than chunked are not supported",
                )
            } else {
                bad(e.0)
            }
        })?;
        if method == "CONNECT" {
            let mut answer = Answer::text(
                StatusCode::METHOD_NOT_ALLOWED,
                "CONNECT is not supported here\n",
            );
            // RFC 9110 §15.5.6: a 405 lists the methods the target allows.
            answer.headers.push((
                axum::http::header::ALLOW,
                axum::http::HeaderValue::from_static(super::ALLOWED_METHODS),
            ));
            return Err(Unread::Refused(answer));
        }
        // RFC 9112 §3.2: a request target carries no fragment.
        if target.contains('#') {
            return Err(bad("a malformed request target (a fragment)"));
        }
        // The origin form (`/path?query`), `*` for OPTIONS, or the absolute form (RFC 9112 §3.2).
        let (path_and_query, authority) = if target.starts_with('/') {
            (target.to_owned(), None)
        } else if target == "*" && method == "OPTIONS" {
            ("*".to_owned(), None)
        } else {
            let uri = target
                .parse::<axum::http::Uri>()
                .map_err(|_| bad("a malformed request target"))?;
            // The authority form (`host:port`) is CONNECT's only (RFC 9112 §3.2.3); an http(s)
            // URI has no user info (RFC 9110 §4.2.4).
            let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
                return Err(bad("a malformed request target"));
            };
            if !matches!(scheme, "http" | "https") || !is_host(authority.as_str().as_bytes()) {
                return Err(bad("a malformed request target"));
            }
            (
                uri.path_and_query().map_or("/", |p| p.as_str()).to_owned(),
                Some(authority.as_str().to_owned()),
            )
        };
        let options = ConnectionOptions::of(fields);
        let mut hosts = fields
            .iter()
            .filter(|f| f.name.eq_ignore_ascii_case("host"))
            .map(|f| f.value);
        let (host, more_hosts) = (hosts.next(), hosts.next().is_some());
        // RFC 9112 §3.2: an HTTP/1.1 request without Host, or with an invalid one, is answered
        // 400.
        match host {
            None if !http10 && authority.is_none() => {
                return Err(bad("an HTTP/1.1 request needs a Host header"));
            }
            Some(host) if !is_host(host) => return Err(bad("an invalid Host header")),
            _ => {}
        }
        let host = host.and_then(|host| std::str::from_utf8(host).ok());
        let content_length = wire::content_length(fields).ok().flatten();
        let canary = fields
            .iter()
            .filter(|f| f.name.eq_ignore_ascii_case("cookie"))
            .filter_map(|f| std::str::from_utf8(f.value).ok())
            .find_map(super::canary_in)
            .map(str::to_owned);
        let upgrade = fields
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case("upgrade"));
        let expect_continue = fields.iter().any(|f| {
            f.name.eq_ignore_ascii_case("expect") && f.value.eq_ignore_ascii_case(b"100-continue")
        });

        // The head as the dyno gets it.
        let out = &mut self.head;
        out.clear();
        out.extend_from_slice(method.as_bytes());
        out.push(b' ');
        out.extend_from_slice(path_and_query.as_bytes());
        out.extend_from_slice(b" HTTP/1.1\r\n");
        let mut forwarded_for: Vec<&[u8]> = Vec::new();
        let mut forwarded: Vec<&[u8]> = Vec::new();
        let mut request_id = None;
        for field in fields {
            let name = field.name;
            if options.drops(name)
                || name.eq_ignore_ascii_case("content-length")
                || name.eq_ignore_ascii_case("x-forwarded-proto")
                || name.eq_ignore_ascii_case("x-forwarded-port")
                || name.eq_ignore_ascii_case("x-request-start")
                || wire::imitates_router_field(name)
                || (name.eq_ignore_ascii_case("host") && authority.is_some())
                || (name.eq_ignore_ascii_case("expect") && expect_continue)
            {
                continue;
            }
            if name.eq_ignore_ascii_case("x-forwarded-for") {
                if !wire::is_empty_list(field.value) {
                    forwarded_for.push(field.value);
                }
                continue;
            }
            if name.eq_ignore_ascii_case("x-request-id") {
                request_id.get_or_insert(field.value);
                continue;
            }
            if name.eq_ignore_ascii_case("forwarded") {
                forwarded.push(field.value);
                continue;
            }
            wire::put_header(out, name, field.value);
        }
        // The dyno is told the host it was routed by (RFC 9112 §3.2.2: a proxy replaces Host),
        // and an HTTP/1.0 request without one gets it.
        if authority.is_some() || host.is_none() {
            let routed = super::routed_host(authority.as_deref(), host);
            if !routed.is_empty() {
                wire::put_header(out, "host", routed.as_bytes());
            }
        }
        match framing {
            Framing::Length(length) => {
                wire::put_length(out, length);
            }
            Framing::Chunked => wire::put_header(out, "transfer-encoding", b"chunked"),
            Framing::Empty if content_length.is_some() => {
                wire::put_header(out, "content-length", b"0");
            }
            Framing::Empty | Framing::Close => {}
        }
        if let Some(upgrade) = upgrade {
            wire::put_header(out, "connection", b"upgrade");
            wire::put_header(out, "upgrade", upgrade.value);
        }
        // Every X-Forwarded-For field the client sent, in order, then the client (RFC 9110
        // §5.3: fields of one name combine as one list).
        out.extend_from_slice(b"x-forwarded-for: ");
        for previous in forwarded_for {
            out.extend_from_slice(previous);
            out.extend_from_slice(b", ");
        }
        out.extend_from_slice(self.client.peer_ip.as_bytes());
        out.extend_from_slice(b"\r\n");
        let proto: &[u8] = if self.client.https { b"https" } else { b"http" };
        wire::put_header(out, "x-forwarded-proto", proto);
        wire::put_header(out, "x-forwarded-port", self.client.port.as_bytes());
        if !forwarded.is_empty() {
            out.extend_from_slice(b"forwarded: ");
            let (peer, https) = (self.client.peer, self.client.https);
            wire::put_forwarded(out, forwarded.into_iter(), peer, https);
            out.extend_from_slice(b"\r\n");
        }
        {
            use std::io::Write;
            let _ = write!(out, "x-request-start: t={}\r\n", super::routes::now_ms());
        }

        let parsed = Parsed {
            method: method.to_owned(),
            path_and_query,
            authority,
            host: host.map(str::to_owned),
            more_hosts,
            content_length,
            canary,
            request_id: request_id
                .and_then(|id| std::str::from_utf8(id).ok())
                .map(str::to_owned),
            framing,
            http10,
            keep_alive: if http10 {
                options.keep_alive && !options.close
            } else {
                !options.close
            },
            upgrade: upgrade.is_some(),
            expect_continue,
        };
        Ok(Some((length, parsed)))
    }

    /// Sends the request to its dyno and the response to the client: whether the client's
    /// connection is kept for another request (not once the router is `stopping`).
    async fn forward<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        stream: &mut S,
        parsed: &Parsed,
        forward: Forward,
        stopping: bool,
    ) -> bool {
        let router = std::sync::Arc::clone(&self.client.router);
        wire::put_header(
            &mut self.head,
            "x-request-id",
            forward.ticket.request_id.as_bytes(),
        );
        self.head.extend_from_slice(b"\r\n");
        // The dyno may have closed it since the last request (Node does after 5 s idle).
        let pinned = match self.dyno.take() {
            Some(dyno) if dyno.addr == forward.backend.addr => Some(dyno).filter(Dyno::open),
            Some(other) => {
                router.keep_dyno(other);
                None
            }
            None => None,
        };
        if parsed.expect_continue
            && parsed.framing != Framing::Empty
            && !parsed.http10
            && self.buf.is_empty()
            && write(stream, b"HTTP/1.1 100 Continue\r\n\r\n")
                .await
                .is_err()
        {
            return false;
        }
        let mut body = BodyReader::new(parsed.framing);
        // A GET or HEAD without a body can be sent again (it is idempotent, RFC 9110 §9.2.2): if
        // its dyno gave no answer (it refused the connection, or closed a kept one, as it
        // stopped), another dyno that is up gets it, as nginx's `proxy_next_upstream error`
        // does.
        let replayable =
            matches!(parsed.method.as_str(), "GET" | "HEAD") && body.is_done() && !parsed.upgrade;
        // The response must begin by the deadline; the time the client takes to send its body
        // does not count (it has its own, between reads).
        let mut deadline = forward.deadline;
        let exchanged = async {
            let mut backend = std::sync::Arc::clone(&forward.backend);
            let mut dyno = pinned.or_else(|| router.idle_dyno(backend.addr));
            let mut replayed = false;
            loop {
                let reused = dyno.is_some();
                let mut connection = match dyno.take() {
                    Some(dyno) => dyno,
                    None => match tokio::time::timeout_at(deadline, Dyno::connect(backend.addr))
                        .await
                        .unwrap_or(Err(RouteFailure::Timeout))
                    {
                        Ok(dyno) => dyno,
                        Err(failure) => {
                            forward.observe(&self.client, &backend, false);
                            if replayable
                                && !replayed
                                && let Some(other) = router.routes.pick(&forward.ticket.app_id)
                            {
                                (backend, replayed) = (other, true);
                                continue;
                            }
                            return Err(Failure::Route(failure));
                        }
                    },
                };
                // A kept connection the dyno closes as the request goes out (Node closes idle
                // ones after 5 s) got nothing of it: the request goes again on a new one, if its
                // body is all read already (kept here to be sent again).
                let fresh_again = reused && body.ends_within(&self.buf);
                let kept_body =
                    (fresh_again && !body.is_done()).then(|| (self.buf.clone(), body.clone()));
                let exchanged = self
                    .exchange(
                        stream,
                        &mut connection,
                        parsed,
                        &mut body,
                        forward.max_body,
                        &mut deadline,
                    )
                    .await;
                match exchanged {
                    Ok((head, sent)) => {
                        forward.observe(&self.client, &backend, !head.status.is_server_error());
                        return Ok((connection, head, sent));
                    }
                    Err(Failure::Silent) if fresh_again => {
                        if let Some((buf, kept)) = kept_body {
                            (self.buf, body) = (buf, kept);
                        }
                    }
                    Err(Failure::Route(RouteFailure::NoAnswer) | Failure::Silent)
                        if replayable && !replayed =>
                    {
                        forward.observe(&self.client, &backend, false);
                        match router.routes.pick(&forward.ticket.app_id) {
                            Some(other) => (backend, replayed) = (other, true),
                            None => return Err(Failure::Route(RouteFailure::NoAnswer)),
                        }
                    }
                    // The client's doing: the dyno is well.
                    Err(Failure::Route(
                        refused @ (RouteFailure::OverLimit | RouteFailure::BodyIdle),
                    )) => {
                        forward.observe(&self.client, &backend, true);
                        return Err(Failure::Route(refused));
                    }
                    Err(failure) => {
                        if matches!(failure, Failure::Route(_) | Failure::Silent) {
                            forward.observe(&self.client, &backend, false);
                        }
                        return Err(failure);
                    }
                }
            }
        }
        .await;
        let (mut dyno, head, sent) = match exchanged {
            Ok(exchanged) => exchanged,
            Err(Failure::Client(fault)) => {
                let (status, error, page) = match fault {
                    ClientFault::Gone => (INTERRUPTED.0, INTERRUPTED.1, None),
                    ClientFault::Malformed(malformed) => (
                        400,
                        ("", "Malformed request body"),
                        Some((
                            "Bad request",
                            format!("The request body is malformed: {}.", malformed.0),
                        )),
                    ),
                };
                let status = StatusCode::from_u16(status).expect("a status");
                forward.ticket.log(&self.client, status, Some(error), 0);
                if let Some((title, text)) = page {
                    let answer = super::page(status, title, &text, &forward.ticket.request_id);
                    self.reply.clear();
                    put_answer(
                        &mut self.reply,
                        &answer,
                        parsed.is_head(),
                        parsed.http10,
                        false,
                    );
                    let _ = write(stream, &self.reply).await;
                }
                return false;
            }
            Err(failure) => {
                let failure = match failure {
                    Failure::Route(failure) => failure,
                    Failure::Silent | Failure::Client(_) => RouteFailure::NoAnswer,
                };
                let answer = forward.failed(&self.client, &failure);
                let keep = parsed.keep_alive && body.is_done() && !stopping;
                return self.answer(stream, parsed, &answer, keep).await;
            }
        };
        if let Some(cookie) = forward.responded(&self.client, head.status, head.length()) {
            wire::put_header(&mut self.reply, "set-cookie", cookie.as_bytes());
        }
        if head.status == StatusCode::SWITCHING_PROTOCOLS {
            self.reply.extend_from_slice(b"\r\n");
            self.reply.extend_from_slice(&dyno.buf);
            dyno.buf.clear();
            if write(stream, &self.reply).await.is_err()
                || dyno.stream.write_all(&self.buf).await.is_err()
            {
                return false;
            }
            self.buf.clear();
            let _ = tokio::io::copy_bidirectional(stream, &mut dyno.stream).await;
            return false;
        }
        let keep = parsed.keep_alive && sent && !head.closes && !stopping;
        put_connection(&mut self.reply, parsed.http10, keep);
        self.reply.extend_from_slice(b"\r\n");
        match relay(
            stream,
            &mut dyno,
            head.framing,
            head.chunked,
            &mut self.reply,
        )
        .await
        {
            Ok(()) => {
                if sent
                    && !head.dyno_closes
                    && head.framing != Framing::Close
                    && dyno.buf.is_empty()
                    && !parsed.upgrade
                {
                    self.dyno = Some(dyno);
                }
                keep
            }
            Err(()) => false,
        }
    }

    /// One round with a dyno: the request head (`self.head`) and its body go to `dyno` while its
    /// response head is read; the response head (written again for the client into
    /// `self.reply`, all but its last fields) and whether the request's body was sent whole.
    /// The response must begin by `deadline`, which moves on by the time the body took to come.
    async fn exchange<S: AsyncRead + Unpin>(
        &mut self,
        stream: &mut S,
        dyno: &mut Dyno,
        parsed: &Parsed,
        body: &mut BodyReader,
        max_body: Option<u64>,
        deadline: &mut tokio::time::Instant,
    ) -> Result<(ResponseHead, bool), Failure> {
        // The client is not read while a body it sent whole may go again from a copy of `buf`
        // (`kept_body`): what it sent meanwhile would be lost with the copy put back.
        let resendable = !body.is_done() && body.ends_within(&self.buf);
        let limit = (!resendable).then_some(self.limits.max_header_bytes);
        if body.is_done() {
            let (head, reply) = (&self.head, &mut self.reply);
            let round = async {
                dyno.stream
                    .write_all(head)
                    .await
                    .map_err(|_| Failure::Silent)?;
                read_response(&mut dyno.stream, &mut dyno.buf, parsed, reply).await
            };
            tokio::pin!(round);
            let head = await_response(stream, &mut self.buf, limit, round, *deadline).await?;
            return Ok((head, true));
        }
        let started = tokio::time::Instant::now();
        let (mut from_dyno, mut to_dyno) = dyno.stream.split();
        let receiving = read_response(&mut from_dyno, &mut dyno.buf, parsed, &mut self.reply);
        tokio::pin!(receiving);
        // Whether the body was sent whole.
        let sent = {
            let sending = send_body(
                stream,
                &mut self.buf,
                body,
                &mut to_dyno,
                &self.head,
                max_body,
                self.limits.header_timeout,
            );
            tokio::pin!(sending);
            tokio::select! {
                biased;
                head = &mut receiving => return Ok((head?, false)),
                result = &mut sending => match result {
                    Ok(()) => true,
                    // The dyno stopped reading: its response may still come.
                    Err(Sending::Dyno) => false,
                    Err(Sending::Client(fault)) => return Err(Failure::Client(fault)),
                    Err(Sending::OverLimit) => return Err(Failure::Route(RouteFailure::OverLimit)),
                    Err(Sending::Idle) => return Err(Failure::Route(RouteFailure::BodyIdle)),
                },
            }
        };
        *deadline += started.elapsed();
        let head = await_response(stream, &mut self.buf, limit, receiving, *deadline).await?;
        Ok((head, sent))
    }
}

/// Waits for the dyno's response head (`round`) until `deadline` (then H12's timeout). Once it
/// is slow to begin ([`WATCH_CLIENT_AFTER`]; a quick one costs no read of the client), a client
/// that leaves ends the wait (Heroku's H27, nginx's 499; a half-close counts as leaving, as with
/// both). What else the client sends meanwhile (its next pipelined request, or the rest of a
/// body the dyno stopped reading) is kept in `buf`, up to `limit` bytes (`None`: the client is
/// not read).
async fn await_response<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut BytesMut,
    limit: Option<usize>,
    mut round: std::pin::Pin<&mut impl Future<Output = Result<ResponseHead, Failure>>>,
    deadline: tokio::time::Instant,
) -> Result<ResponseHead, Failure> {
    let watch_from = (tokio::time::Instant::now() + WATCH_CLIENT_AFTER).min(deadline);
    if let Ok(head) = tokio::time::timeout_at(watch_from, &mut round).await {
        return head;
    }
    let late = tokio::time::sleep_until(deadline);
    tokio::pin!(late);
    loop {
        tokio::select! {
            biased;
            head = &mut round => return head,
            read = stream.read_buf(buf), if limit.is_some_and(|limit| buf.len() < limit) => {
                if matches!(read, Ok(0) | Err(_)) {
                    return Err(Failure::Client(ClientFault::Gone));
                }
            }
            () = &mut late => return Err(Failure::Route(RouteFailure::Timeout)),
        }
    }
}

/// Why a request body did not reach its dyno whole.
enum Sending {
    /// The client did not send it whole.
    Client(ClientFault),
    /// The dyno closed its connection.
    Dyno,
    /// It went over the app's limit.
    OverLimit,
    /// The client sent nothing of it for [`crate::http::Limits::header_timeout`].
    Idle,
}

/// Writes `head` and then the request body `body` reads out of the client's bytes (`buf`, then
/// `stream`) to the dyno, framed again; at most `max_body` bytes of it, the client silent for at
/// most `idle` at a time.
async fn send_body<S: AsyncRead + Unpin, W: AsyncWrite + Unpin>(
    stream: &mut S,
    buf: &mut BytesMut,
    body: &mut BodyReader,
    dyno: &mut W,
    head: &[u8],
    max_body: Option<u64>,
    idle: std::time::Duration,
) -> Result<(), Sending> {
    let chunked = body.framing() == Framing::Chunked;
    let mut out = head.to_vec();
    let mut sent = 0u64;
    let mut eof = false;
    loop {
        // A body cut short by the client's leaving is not a malformed one.
        let (used, piece) = body.step(buf, eof).map_err(|e| {
            Sending::Client(if eof {
                ClientFault::Gone
            } else {
                ClientFault::Malformed(e)
            })
        })?;
        match piece {
            Piece::Data(data) => {
                sent += data.len() as u64;
                if max_body.is_some_and(|max| sent > max) {
                    return Err(Sending::OverLimit);
                }
                wire::put_data(&mut out, data, chunked);
                buf.advance(used);
                if out.len() >= CHUNK {
                    dyno.write_all(&out).await.map_err(|_| Sending::Dyno)?;
                    out.clear();
                }
            }
            Piece::More => {
                buf.advance(used);
                if !out.is_empty() {
                    dyno.write_all(&out).await.map_err(|_| Sending::Dyno)?;
                    out.clear();
                }
                buf.reserve(CHUNK);
                match tokio::time::timeout(idle, stream.read_buf(buf)).await {
                    Ok(Ok(0)) => eof = true,
                    Ok(Ok(_)) => {}
                    Ok(Err(_)) => return Err(Sending::Client(ClientFault::Gone)),
                    Err(_) => return Err(Sending::Idle),
                }
            }
            Piece::Done => {
                buf.advance(used);
                wire::put_end(&mut out, chunked);
                return dyno.write_all(&out).await.map_err(|_| Sending::Dyno);
            }
        }
    }
}

/// Reads the dyno's response head (passing over interim 1xx ones) and writes it again into
/// `out` for the client, all but the connection's own fields and the empty line.
async fn read_response<R: AsyncRead + Unpin>(
    dyno: &mut R,
    buf: &mut BytesMut,
    request: &Parsed,
    out: &mut Vec<u8>,
) -> Result<ResponseHead, Failure> {
    let mut heard = !buf.is_empty();
    loop {
        if !buf.is_empty() {
            match parse_response(buf, request, out) {
                Ok(Some((length, head))) => {
                    buf.advance(length);
                    let interim = head.status.is_informational()
                        && head.status != StatusCode::SWITCHING_PROTOCOLS;
                    if !interim {
                        return Ok(head);
                    }
                    continue;
                }
                Ok(None) if buf.len() <= MAX_RESPONSE_HEAD => {}
                Ok(None) | Err(()) => return Err(Failure::Route(RouteFailure::NoAnswer)),
            }
        }
        buf.reserve(8 * 1024);
        match dyno.read_buf(buf).await {
            Ok(0) | Err(_) if !heard => return Err(Failure::Silent),
            Ok(0) | Err(_) => return Err(Failure::Route(RouteFailure::NoAnswer)),
            Ok(_) => heard = true,
        }
    }
}

/// The response head at the start of `buf` and its length, `None` while incomplete; for a final
/// response, written again into `out` for the client of `request`.
fn parse_response(
    buf: &[u8],
    request: &Parsed,
    out: &mut Vec<u8>,
) -> Result<Option<(usize, ResponseHead)>, ()> {
    let mut fields = [httparse::EMPTY_HEADER; wire::MAX_HEADERS];
    let mut response = httparse::Response::new(&mut fields);
    let length = match response.parse(buf) {
        Ok(httparse::Status::Complete(length)) => length,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(()),
    };
    let code = response.code.ok_or(())?;
    let status = StatusCode::from_u16(code).map_err(|_| ())?;
    let fields = &*response.headers;
    let switching = status == StatusCode::SWITCHING_PROTOCOLS;
    if status.is_informational() && !switching {
        let head = ResponseHead {
            status,
            framing: Framing::Empty,
            chunked: false,
            closes: false,
            dyno_closes: false,
        };
        return Ok(Some((length, head)));
    }
    if switching && !request.upgrade {
        return Err(());
    }
    let framing = wire::response_framing(code, request.is_head(), fields).map_err(|_| ())?;
    let options = ConnectionOptions::of(fields);
    let delimited_by_end = matches!(framing, Framing::Chunked | Framing::Close);
    let chunked = delimited_by_end && !request.http10;
    out.clear();
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    match response.reason {
        Some(reason) if !reason.is_empty() => out.extend_from_slice(reason.as_bytes()),
        _ => out.extend_from_slice(reason(status).as_bytes()),
    }
    out.extend_from_slice(b"\r\n");
    for field in fields {
        if options.drops(field.name) || field.name.eq_ignore_ascii_case("content-length") {
            continue;
        }
        wire::put_header(out, field.name, field.value);
    }
    if switching
        && let Some(upgrade) = fields
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case("upgrade"))
    {
        wire::put_header(out, "connection", b"upgrade");
        wire::put_header(out, "upgrade", upgrade.value);
    }
    match framing {
        Framing::Length(n) => wire::put_length(out, n),
        // A response to HEAD (or a 304) says the length its body would have.
        Framing::Empty => {
            if status != StatusCode::NO_CONTENT
                && !switching
                && let Ok(Some(n)) = wire::content_length(fields)
            {
                wire::put_length(out, n);
            }
        }
        Framing::Chunked | Framing::Close => {
            if chunked {
                wire::put_header(out, "transfer-encoding", b"chunked");
            }
        }
    }
    let head = ResponseHead {
        status,
        framing,
        chunked,
        closes: delimited_by_end && request.http10,
        dyno_closes: options.close || (response.version == Some(0) && !options.keep_alive),
    };
    Ok(Some((length, head)))
}

/// Copies a response body delimited by `framing` from the dyno to the client (`chunked`: framed
/// as chunks), after what `out` holds already (its head).
async fn relay<S: AsyncWrite + Unpin>(
    stream: &mut S,
    dyno: &mut Dyno,
    framing: Framing,
    chunked: bool,
    out: &mut Vec<u8>,
) -> Result<(), ()> {
    let mut body = BodyReader::new(framing);
    let mut eof = false;
    loop {
        let (used, piece) = body.step(&dyno.buf, eof).map_err(|_| ())?;
        match piece {
            Piece::Data(data) => {
                wire::put_data(out, data, chunked);
                dyno.buf.advance(used);
                if out.len() >= CHUNK {
                    write(stream, out).await?;
                    out.clear();
                }
            }
            Piece::More => {
                dyno.buf.advance(used);
                if !out.is_empty() {
                    write(stream, out).await?;
                    out.clear();
                }
                dyno.buf.reserve(CHUNK);
                match dyno.stream.read_buf(&mut dyno.buf).await {
                    Ok(0) => eof = true,
                    Ok(_) => {}
                    Err(_) => return Err(()),
                }
            }
            Piece::Done => {
                dyno.buf.advance(used);
                wire::put_end(out, chunked);
                return write(stream, out).await;
            }
        }
    }
}

/// Whether `host` is a `Host` field's value: `uri-host [ ":" port ]` (RFC 9110 §7.2), its
/// characters those of a registered name, an IPv4 address or an IP literal (RFC 3986 §3.2.2),
/// its port (if any) a number up to 65535.
fn is_host(host: &[u8]) -> bool {
    let (name, port) = match host.iter().rposition(|&b| b == b':') {
        // An IPv6 literal's colons are inside its brackets.
        Some(colon) if !host[colon..].contains(&b']') => (&host[..colon], Some(&host[colon + 1..])),
        _ => (host, None),
    };
    let port_ok = port.is_none_or(|port| {
        port.is_empty()
            || (port.len() <= 5
                && port.iter().all(u8::is_ascii_digit)
                && std::str::from_utf8(port)
                    .is_ok_and(|p| p.parse::<u32>().is_ok_and(|p| p <= 65535)))
    });
    let reg_name = |name: &[u8]| {
        name.iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"-._~%!$&'()*+,;=".contains(&b))
    };
    // Colons and brackets only in an IP literal, which is all in brackets.
    let name_ok = match name.strip_prefix(b"[").and_then(|n| n.strip_suffix(b"]")) {
        Some(literal) => {
            !literal.is_empty() && literal.iter().all(|&b| b == b':' || reg_name(&[b]))
        }
        None => reg_name(name),
    };
    port_ok && name_ok
}

/// Whether the request line at the start of `buf` is `method target HTTP/<digit>.<digit>` (so
/// of an HTTP version other than 1.0 and 1.1, as httparse refused it), rather than malformed:
/// the major version's digit and the index of the minor one in `buf`.
fn other_version(buf: &[u8]) -> Option<(u8, usize)> {
    let line = buf.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let words: Vec<&[u8]> = line.split(|&b| b == b' ').collect();
    match words.as_slice() {
        [_, _, [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            Some((*major, line.len() - 1))
        }
        _ => None,
    }
}

/// The router's answer to a request it will not read further: `text` as a plain page.
fn refused(status: StatusCode, text: &str) -> Unread {
    Unread::Refused(Answer::text(status, &format!("{text}\n")))
}

/// The reason phrase for `status`: RFC 9110's (§15), which renamed two the http crate still
/// spells as RFC 7231 did.
fn reason(status: StatusCode) -> &'static str {
    match status {
        StatusCode::PAYLOAD_TOO_LARGE => "Content Too Large",
        StatusCode::UNPROCESSABLE_ENTITY => "Unprocessable Content",
        _ => status.canonical_reason().unwrap_or(""),
    }
}

/// Writes `bytes` to the client and flushes them (a TLS stream holds them until then).
async fn write<S: AsyncWrite + Unpin>(stream: &mut S, bytes: &[u8]) -> Result<(), ()> {
    stream.write_all(bytes).await.map_err(|_| ())?;
    stream.flush().await.map_err(|_| ())
}

/// Appends the router's own response `answer` to a request (no body for a HEAD one), with the
/// `Connection` field [`put_connection`] gives.
fn put_answer(out: &mut Vec<u8>, answer: &Answer, head: bool, http10: bool, keep: bool) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(answer.status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(reason(answer.status).as_bytes());
    out.extend_from_slice(b"\r\n");
    // An origin server with a clock sends Date (RFC 9110 §6.6.1): the router is the origin here.
    wire::put_header(
        out,
        "date",
        httpdate::fmt_http_date(std::time::SystemTime::now()).as_bytes(),
    );
    for (name, value) in &answer.headers {
        wire::put_header(out, name.as_str(), value.as_bytes());
    }
    wire::put_length(out, answer.body.len() as u64);
    put_connection(out, http10, keep);
    out.extend_from_slice(b"\r\n");
    if !head {
        out.extend_from_slice(answer.body.as_bytes());
    }
}

/// Appends the `Connection` field the client is told whether its connection is kept with: only
/// an HTTP/1.0 client's kept one, and a closing HTTP/1.1 one, need it (RFC 9112 §9.3).
fn put_connection(out: &mut Vec<u8>, http10: bool, keep: bool) {
    if !keep {
        wire::put_header(out, "connection", b"close");
    } else if http10 {
        wire::put_header(out, "connection", b"keep-alive");
    }
}

/// Closes the client's connection without a reset: stops writing, then reads and drops what the
/// client still sends (the rest of a body the router did not read) for up to [`LINGER`].
async fn linger<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S) {
    if stream.shutdown().await.is_err() {
        return;
    }
    let _ = tokio::time::timeout(LINGER, async {
        let mut sink = [0u8; 16 * 1024];
        let mut left: usize = 1024 * 1024;
        while left > 0 {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_names_addresses_or_ip_literals_with_one_port() {
        for ok in [
            "shop.localhost",
            "shop.localhost:8000",
            "shop.localhost:",
            "127.0.0.1:80",
            "[::1]:8000",
            "[::1]",
            "xn--bcher-kva.example",
        ] {
            assert!(is_host(ok.as_bytes()), "{ok}");
        }
        for bad in [
            "shop.localhost:8000:99",
            "shop:localhost",
            "shop.localhost:65536",
            "[::1",
            "::1]",
            "[]",
            "a b",
            "shop/x",
            "[::1]]:80",
        ] {
            assert!(!is_host(bad.as_bytes()), "{bad}");
        }
    }
}
