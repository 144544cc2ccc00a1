//! The router (DESIGN §3.11): HTTP/1.1 on `--router-listen`, by `Host: <app>.<domain>` to the
//! app's healthy web dynos in turn, with `X-Forwarded-For`, `X-Forwarded-Proto` and
//! `X-Request-Id`; bodies stream both ways; unknown hosts get 404, apps without a running web
//! dyno 503; every request writes a `paas[router]` line to the app's log.

use std::net::SocketAddr;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Response};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

use crate::logs::Logs;
use crate::scheduler::local::Routes;
use crate::store::Store;

#[derive(Clone)]
struct Router {
    routes: Routes,
    store: Store,
    logs: Logs,
    suffix: String,
    client: Client<HttpConnector, Body>,
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

pub async fn serve(
    listener: TcpListener,
    domain: String,
    routes: Routes,
    store: Store,
    logs: Logs,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let router = Router {
        routes,
        store,
        logs,
        suffix: format!(".{domain}"),
        client: Client::builder(TokioExecutor::new()).build_http(),
    };
    let app = axum::Router::new().fallback(proxy).with_state(router);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

async fn proxy(
    State(router): State<Router>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut request: Request,
) -> Response {
    let started = Instant::now();
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let name = host
        .rsplit_once(':')
        .map_or(host.as_str(), |(name, _)| name);
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
    let route = router.routes.get(app.as_str());
    let Some((route, port)) = route.and_then(|r| r.pick().map(|port| (r, port))) else {
        let lookup = app.clone();
        return match router.store.call(move |db| db.app_exists(&lookup)).await {
            Ok(true) => (
                StatusCode::SERVICE_UNAVAILABLE,
                Html(
                    "<h1>Application unavailable</h1><p>No web dyno of this app is up.</p>\n",
                ),
            )
                .into_response(),
            _ => no_such_app(),
        };
    };
    let (method, path) = (request.method().clone(), request.uri().path().to_owned());
    let target = format!(
        "http://127.0.0.1:{port}{}",
        request.uri().path_and_query().map_or("/", |p| p.as_str())
    );
    *request.uri_mut() = target.parse::<Uri>().expect("a valid URI");
    let request_id = uuid::Uuid::new_v4().to_string();
    // A protocol upgrade (WebSocket) is passed on: the dyno answers 101 and both connections are
    // then joined byte for byte.
    let upgrade = request.headers().get(header::UPGRADE).cloned();
    let client_side = upgrade.is_some().then(|| hyper::upgrade::on(&mut request));
    let headers = request.headers_mut();
    for name in HOP_BY_HOP {
        headers.remove(*name);
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
    let response = router.client.request(request).await;
    let (status, response) = match response {
        Ok(mut response) => {
            if response.status() == StatusCode::SWITCHING_PROTOCOLS
                && let Some(client_side) = client_side
            {
                let dyno_side = hyper::upgrade::on(&mut response);
                tokio::spawn(join_upgraded(client_side, dyno_side));
            }
            let (parts, body) = response.into_parts();
            (parts.status, Response::from_parts(parts, Body::new(body)))
        }
        Err(_) => (
            StatusCode::BAD_GATEWAY,
            (
                StatusCode::BAD_GATEWAY,
                Html("<h1>Bad gateway</h1><p>The app did not answer.</p>\n"),
            )
                .into_response(),
        ),
    };
    router.logs.emit(
        &route.app_id,
        "paas",
        "router",
        &format!(
            "at=info method={method} path={path} host={host} request_id={request_id} fwd={} status={} service={}ms",
            peer.ip(),
            status.as_u16(),
            started.elapsed().as_millis()
        ),
    );
    response
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
