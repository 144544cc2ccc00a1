//! The router (DESIGN §3.11): HTTP/1.1 on `--router-listen`, by `Host: <app>.<domain>` to the
//! app's healthy web dynos in turn, with `X-Forwarded-For`, `X-Forwarded-Proto` and
//! `X-Request-Id`; bodies stream both ways; unknown hosts get 404, apps without a running web
//! dyno 503, a dyno whose response does not begin within `--router-timeout` 503 (Heroku's H12);
//! hop-by-hop headers (RFC 9110 §7.6.1) are dropped both ways; every request writes a
//! `paas[router]` line to the app's log.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Response};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

use crate::logs::Logs;
use crate::store::Store;

mod routes;

pub use routes::{Backend, Routes};

struct Router {
    routes: Routes,
    store: Store,
    logs: Logs,
    suffix: String,
    client: Client<HttpConnector, Body>,
    /// How long a dyno has to begin its response.
    timeout: std::time::Duration,
}

/// Headers that belong to one hop and are not forwarded.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Serves until `stop` turns true, on single-threaded runtimes (one per two cores), each accepting
/// from the same listening socket and keeping its own pool of keep-alive connections to dynos: a
/// request, its dyno connection and their wake-ups stay on one thread. `limits` hold for the
/// router as a whole (the connection budget is shared out between the threads).
#[allow(clippy::too_many_arguments)]
pub async fn serve(
    listener: std::net::TcpListener,
    domain: String,
    timeout: std::time::Duration,
    limits: crate::http::Limits,
    routes: Routes,
    store: Store,
    logs: Logs,
    stop: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<()> {
    // Half the cores: the dynos the router serves run on this machine too (on 2 cores, a second
    // router thread took CPU from the app and cut throughput by a third).
    let threads = std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1));
    let per_thread = crate::http::Limits {
        max_connections: (limits.max_connections / threads).max(1),
        ..limits
    };
    let mut finished = Vec::new();
    for index in 0..threads {
        let listener = listener.try_clone()?;
        let router = Arc::new(Router {
            routes: routes.clone(),
            store: store.clone(),
            logs: logs.clone(),
            suffix: format!(".{domain}"),
            timeout,
            client: Client::builder(TokioExecutor::new()).build({
                let mut connector = HttpConnector::new();
                connector.set_nodelay(true);
                connector
            }),
        });
        let (done, outcome) = tokio::sync::oneshot::channel();
        let mut stop = stop.clone();
        std::thread::Builder::new()
            .name(format!("router-{index}"))
            .spawn(move || {
                let served = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .and_then(|runtime| {
                        runtime.block_on(async move {
                            let app = axum::Router::new().fallback(proxy).with_state(router);
                            crate::http::serve(
                                TcpListener::from_std(listener)?,
                                app,
                                per_thread,
                                async move {
                                    let _ = stop.wait_for(|stop| *stop).await;
                                },
                            )
                            .await
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

async fn proxy(
    State(router): State<Arc<Router>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut request: Request,
) -> Response {
    let started = Instant::now();
    // RFC 9112 §3.2: a request with more than one Host field is answered 400.
    if request
        .headers()
        .get_all(header::HOST)
        .iter()
        .nth(1)
        .is_some()
    {
        return (StatusCode::BAD_REQUEST, "more than one Host header\n").into_response();
    }
    // `OPTIONS *` asks about the server, not a resource (RFC 9110 §9.3.7): answered here.
    if request.method() == Method::OPTIONS && request.uri() == "*" {
        return (
            StatusCode::OK,
            [(
                header::ALLOW,
                "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS",
            )],
        )
            .into_response();
    }
    // An absolute-form target names the host itself, and Host is then ignored (RFC 9112 §3.2.2).
    let host = match request.uri().authority() {
        Some(authority) => authority.as_str(),
        None => request
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default(),
    }
    .to_ascii_lowercase();
    // A fully qualified name may end with a dot (`shop.example.com.`, RFC 1034 §3.1).
    let name = host
        .rsplit_once(':')
        .map_or(host.as_str(), |(name, _)| name);
    let name = name.strip_suffix('.').unwrap_or(name);
    let no_such_app = || {
        (
            StatusCode::NOT_FOUND,
            Html("<h1>No such app</h1><p>Nothing is deployed at this address.</p>\n"),
        )
            .into_response()
    };
    let Some(app) = name
        .strip_suffix(&router.suffix)
        .and_then(|a| paas_share::AppName::parse(a).ok())
    else {
        return no_such_app();
    };
    let Some((app_id, port)) = router.routes.pick(app.as_str()) else {
        let lookup = app.clone();
        return match router.store.call(move |db| db.app_exists(&lookup)).await {
            Ok(true) => (
                StatusCode::SERVICE_UNAVAILABLE,
                Html("<h1>Application unavailable</h1><p>No web dyno of this app is up.</p>\n"),
            )
                .into_response(),
            _ => no_such_app(),
        };
    };
    let absolute_form = request.uri().authority().is_some();
    let (method, path) = (request.method().clone(), request.uri().path().to_owned());
    let path_and_query = request
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let target = |port: u16| {
        format!("http://127.0.0.1:{port}{path_and_query}")
            .parse::<Uri>()
            .expect("a valid URI")
    };
    *request.uri_mut() = target(port);
    let request_id = request_id();
    // A protocol upgrade (WebSocket) is passed on: the dyno answers 101 and both connections are
    // then joined byte for byte.
    let upgrade = request.headers().get(header::UPGRADE).cloned();
    let client_side = upgrade.is_some().then(|| hyper::upgrade::on(&mut request));
    let headers = request.headers_mut();
    remove_hop_by_hop(headers);
    // The dyno is told the host it was routed by (RFC 9112 §3.2.2: a proxy replaces Host).
    if absolute_form && let Ok(value) = HeaderValue::from_str(&host) {
        headers.insert(header::HOST, value);
    }
    if let Some(protocol) = upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, protocol);
    }
    let forwarded_for = match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
        Some(previous) => format!("{previous}, {}", peer.ip()),
        None => peer.ip().to_string(),
    };
    let set = |headers: &mut axum::http::HeaderMap, name: &'static str, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    };
    set(headers, "x-forwarded-for", &forwarded_for);
    set(headers, "x-forwarded-proto", "http");
    set(headers, "x-request-id", &request_id);
    // A GET or HEAD without a body can be sent again (it is idempotent, RFC 9110 §9.2.2): if its
    // dyno gave no answer (it refused the connection, or closed a pooled one, as it stopped),
    // another dyno that is up gets it, as nginx's `proxy_next_upstream error` does.
    let replay = (matches!(method, Method::GET | Method::HEAD)
        && client_side.is_none()
        && axum::body::HttpBody::is_end_stream(request.body()))
    .then(|| (request.headers().clone(), request.version()));
    // The deadline covers the retry too: the client waits at most `timeout` for the response.
    let deadline = tokio::time::Instant::now() + router.timeout;
    let mut response = tokio::time::timeout_at(deadline, router.client.request(request)).await;
    if let (Ok(Err(_)), Some((headers, version))) = (&response, replay)
        && let Some((_, other)) = router.routes.pick(app.as_str())
    {
        let mut again = Request::new(Body::empty());
        *again.method_mut() = method.clone();
        *again.uri_mut() = target(other);
        *again.headers_mut() = headers;
        *again.version_mut() = version;
        response = tokio::time::timeout_at(deadline, router.client.request(again)).await;
    }
    // Heroku's router error codes: H12 for a response that did not begin in time, H13 for a
    // connection the dyno closed (or refused) without answering.
    let (status, error, response) = match response {
        Ok(Ok(mut response)) => {
            if response.status() == StatusCode::SWITCHING_PROTOCOLS
                && let Some(client_side) = client_side
            {
                let dyno_side = hyper::upgrade::on(&mut response);
                tokio::spawn(join_upgraded(client_side, dyno_side));
            } else {
                // The dyno's connection management is its own (a `Connection: close` to the
                // router must not close the client's connection).
                remove_hop_by_hop(response.headers_mut());
            }
            let (parts, body) = response.into_parts();
            (parts.status, None, Response::from_parts(parts, Body::new(body)))
        }
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Some(("H12", "Request timeout")),
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Html(format!(
                    "<h1>Request timeout</h1><p>The app did not begin its response within {} s.</p>\n",
                    router.timeout.as_secs()
                )),
            )
                .into_response(),
        ),
        Ok(Err(_)) => (
            StatusCode::BAD_GATEWAY,
            Some(("H13", "Connection closed without response")),
            (
                StatusCode::BAD_GATEWAY,
                Html("<h1>Bad gateway</h1><p>The app did not answer.</p>\n"),
            )
                .into_response(),
        ),
    };
    let at = match error {
        Some((code, desc)) => format!("at=error code={code} desc=\"{desc}\""),
        None => "at=info".to_owned(),
    };
    router.logs.emit(
        &app_id,
        "paas",
        "router",
        &format!(
            "{at} method={method} path={path} host={host} request_id={request_id} fwd={} status={} service={}ms",
            peer.ip(),
            status.as_u16(),
            started.elapsed().as_millis()
        ),
    );
    response
}

/// Removes the hop-by-hop headers: the fixed list and every header the `Connection` field names
/// (RFC 9110 §7.6.1).
fn remove_hop_by_hop(headers: &mut axum::http::HeaderMap) {
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
    for name in HOP_BY_HOP {
        headers.remove(*name);
    }
}

/// Copies bytes both ways between an upgraded client connection and the dyno's, until either
/// side closes.
async fn join_upgraded(client: hyper::upgrade::OnUpgrade, dyno: hyper::upgrade::OnUpgrade) {
    let (Ok(client), Ok(dyno)) = tokio::join!(client, dyno) else {
        return;
    };
    let (mut client, mut dyno) = (TokioIo::new(client), TokioIo::new(dyno));
    let _ = tokio::io::copy_bidirectional(&mut client, &mut dyno).await;
}

/// A fresh `X-Request-Id` in UUID v4 form: a random per-process half and a counter, unique
/// without a `getrandom` system call per request (which cost the router 13% of its syscall time).
fn request_id() -> String {
    static PROCESS: std::sync::OnceLock<[u8; 8]> = std::sync::OnceLock::new();
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let process = PROCESS.get_or_init(|| {
        *uuid::Uuid::new_v4()
            .as_bytes()
            .first_chunk()
            .expect("16 bytes")
    });
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(process);
    bytes[8..].copy_from_slice(
        &NEXT
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            .to_be_bytes(),
    );
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .hyphenated()
        .to_string()
}
