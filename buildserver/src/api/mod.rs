//! The HTTP API (DESIGN §3.3): axum routes, bearer-token auth, the shared error body.
//!
//! Handlers check who may do what and shape responses; every row is read and written through
//! [`crate::store`]. Errors never leak paths or SQL: internal failures are logged here with their
//! detail and answered with a bare `internal_error`.

mod access;
mod account;
mod addons;
mod alerts;
mod apps;
mod autoscale;
mod builds;
mod canary;
mod config_vars;
mod dashboard;
mod domains;
mod drains;
mod dynos;
mod formation;
mod guard;
mod logs;
mod metrics;
mod one_offs;
mod openapi;
mod releases;
mod stacks;

use std::future::Future;
use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Request};
use axum::handler::Handler;
use axum::http::request::Parts;
use axum::http::{Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, on};
use axum::{Json, Router};
use paas_share::ApiError;
use paas_share::models::Health;
use serde::de::DeserializeOwned;
use tokio::net::TcpListener;

use crate::addons::Access;
use crate::build::live::LiveBuilds;
use crate::data_dir::DataDir;
use crate::logs::Logs;
use crate::store::{AppRecord, Store, StoreError, User};
use crate::urls::PublicUrls;
use guard::{Need, Rule};
use paas_share::models::Role;

/// Largest request body accepted (413 beyond).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// Backing services (PostgreSQL, Redis).
    pub addons: Arc<crate::addons::Addons>,
    /// Custom domains, certificates and router settings.
    pub domains: Arc<crate::domains::Domains>,
    /// Every app's request and resource figures.
    pub metrics: crate::metrics::Metrics,
    /// Webhooks on crashes, failed releases and thresholds.
    pub alerts: crate::alerts::Alerts,
    /// Where apps' logs are forwarded.
    pub drains: Arc<crate::drains::Drains>,
    pub store: Store,
    pub data: DataDir,
    /// Output of the builds running now.
    pub builds: LiveBuilds,
    /// Every app's recent log lines.
    pub logs: Logs,
    /// The images releases run.
    pub layout: Arc<crate::oci::Layout>,
    /// Where releases run.
    pub scheduler: Arc<dyn crate::scheduler::Scheduler>,
    /// Runs releases in version order, recording their states.
    pub releases: Arc<crate::release::Controller>,
    pub urls: Arc<PublicUrls>,
    /// Renames take this one at a time: each reads the name it changes after the last one ended,
    /// and the scheduler's routes follow them in the order the store records them.
    pub renames: Arc<tokio::sync::Mutex<()>>,
    /// One-off dynos (`paas run`).
    pub one_offs: crate::one_off::OneOffs,
    /// Pushes in flight: destroying an app stops its build.
    pub pushes: crate::git::push::Pushes,
    /// Login tokens stop working this many seconds after they were made (`--token-max-age`).
    pub token_max_age: Option<u64>,
}

/// The router, with every route's [`Rule`] recorded: for [`guard::guard`], and so that the OpenAPI
/// document can be checked against it.
struct Routes {
    router: Router<AppState>,
    rules: Vec<((&'static str, &'static str), Rule)>,
}

impl Routes {
    fn add<H, T>(mut self, method: &'static str, path: &'static str, rule: Rule, handler: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        let filter = match method {
            "get" => MethodFilter::GET,
            "post" => MethodFilter::POST,
            "patch" => MethodFilter::PATCH,
            "delete" => MethodFilter::DELETE,
            other => unreachable!("no route uses method {other}"),
        };
        assert_eq!(
            method == "get",
            rule.action.is_none(),
            "{method} {path}: reads have no audit action, changes have one"
        );
        self.router = self.router.route(path, on(filter, handler));
        self.rules.push(((method, path), rule));
        self
    }
}

/// A read that needs `need`.
const fn read(need: Need) -> Rule {
    Rule { need, action: None }
}

/// A change that needs `need`, audited as `action`.
const fn change(need: Need, action: &'static str) -> Rule {
    Rule {
        need,
        action: Some(action),
    }
}

/// Every route with who may use it (the README's role table says the same).
#[rustfmt::skip]
fn routes() -> Routes {
    use Role::{Admin, Deployer, Viewer};
    let app = Need::App;
    let owned = |role| Need::Addon(role, Access::Owner);
    Routes {
        router: Router::new(),
        rules: Vec::new(),
    }
    .add("get", "/healthz", read(Need::Nothing), healthz)
    .add("get", "/openapi.json", read(Need::Nothing), openapi::document)
    // Sign-in records its own audit entry: before it, there is no user.
    .add("post", "/session", change(Need::Nothing, "session.create"), dashboard::create)
    .add("get", "/session", read(Need::Token), dashboard::show)
    .add("delete", "/session", change(Need::Token, "session.delete"), dashboard::destroy)
    .add("get", "/account", read(Need::Token), account::show)
    .add("get", "/account/keys", read(Need::Login), account::list_keys)
    .add("post", "/account/keys", change(Need::Login, "key.add"), account::add_key)
    .add("delete", "/account/keys/{fingerprint}", change(Need::Login, "key.remove"), account::remove_key)
    .add("get", "/account/tokens", read(Need::Login), access::tokens)
    .add("post", "/account/tokens", change(Need::Login, "token.create"), access::create_token)
    .add("delete", "/account/tokens/{id}", change(Need::Login, "token.revoke"), access::revoke_token)
    .add("get", "/audit", read(Need::ServerAdmin), access::server_audit)
    .add("get", "/stacks", read(Need::Token), stacks::list)
    .add("get", "/apps", read(Need::Token), apps::list)
    .add("post", "/apps", change(Need::Login, "app.create"), apps::create)
    .add("get", "/apps/{app}", read(app(Viewer)), apps::info)
    .add("patch", "/apps/{app}", change(app(Admin), "app.update"), apps::update)
    .add("delete", "/apps/{app}", change(app(Admin), "app.destroy"), apps::destroy)
    .add("get", "/apps/{app}/audit", read(app(Admin)), access::app_audit)
    .add("get", "/apps/{app}/collaborators", read(app(Viewer)), access::collaborators)
    .add("post", "/apps/{app}/collaborators", change(app(Admin), "access.add"), access::add_collaborator)
    .add("patch", "/apps/{app}/collaborators/{user}", change(app(Admin), "access.update"), access::update_collaborator)
    .add("delete", "/apps/{app}/collaborators/{user}", change(app(Admin), "access.remove"), access::remove_collaborator)
    .add("get", "/apps/{app}/builds", read(app(Viewer)), builds::list)
    .add("get", "/apps/{app}/builds/{id}", read(app(Viewer)), builds::info)
    .add("get", "/apps/{app}/builds/{id}/output", read(app(Viewer)), builds::output)
    .add("get", "/apps/{app}/config-vars", read(app(Viewer)), config_vars::show)
    .add("patch", "/apps/{app}/config-vars", change(app(Deployer), "config.update"), config_vars::update)
    .add("get", "/apps/{app}/releases", read(app(Viewer)), releases::list)
    .add("post", "/apps/{app}/releases", change(app(Deployer), "release.rollback"), releases::rollback)
    .add("post", "/apps/{app}/releases/retry", change(app(Deployer), "release.retry"), releases::retry)
    .add("get", "/apps/{app}/releases/{version}", read(app(Viewer)), releases::info)
    .add("get", "/apps/{app}/releases/{version}/output", read(app(Viewer)), releases::output)
    .add("get", "/apps/{app}/logs", read(app(Viewer)), logs::show)
    .add("get", "/apps/{app}/metrics", read(app(Viewer)), metrics::show)
    // Drain and webhook URLs often hold a credential: not a viewer's to read.
    .add("get", "/apps/{app}/log-drains", read(app(Deployer)), drains::list)
    .add("post", "/apps/{app}/log-drains", change(app(Admin), "drain.add"), drains::create)
    .add("delete", "/apps/{app}/log-drains/{id}", change(app(Admin), "drain.remove"), drains::destroy)
    .add("get", "/apps/{app}/alerts", read(app(Deployer)), alerts::list)
    .add("post", "/apps/{app}/alerts", change(app(Admin), "alert.add"), alerts::create)
    .add("delete", "/apps/{app}/alerts/{id}", change(app(Admin), "alert.remove"), alerts::destroy)
    .add("get", "/apps/{app}/canary", read(app(Viewer)), canary::show)
    .add("patch", "/apps/{app}/canary/settings", change(app(Deployer), "canary.configure"), canary::update_settings)
    .add("post", "/apps/{app}/canary/next", change(app(Deployer), "canary.start"), canary::start_next)
    .add("delete", "/apps/{app}/canary/next", change(app(Deployer), "canary.cancel"), canary::cancel_next)
    .add("post", "/apps/{app}/canary/promote", change(app(Deployer), "canary.promote"), canary::promote)
    .add("post", "/apps/{app}/canary/abort", change(app(Deployer), "canary.abort"), canary::abort)
    .add("get", "/apps/{app}/autoscale", read(app(Viewer)), autoscale::show)
    .add("patch", "/apps/{app}/autoscale/{type}", change(app(Deployer), "autoscale.update"), autoscale::update)
    .add("delete", "/apps/{app}/autoscale/{type}", change(app(Deployer), "autoscale.disable"), autoscale::destroy)
    .add("get", "/apps/{app}/dynos", read(app(Viewer)), dynos::list)
    .add("post", "/apps/{app}/dynos", change(app(Deployer), "run"), one_offs::create)
    .add("post", "/apps/{app}/dynos/restart", change(app(Deployer), "restart"), dynos::restart)
    .add("get", "/apps/{app}/dynos/{dyno}/attach", read(app(Deployer)), one_offs::attach)
    .add("post", "/apps/{app}/dynos/{dyno}/actions/stop", change(app(Deployer), "dyno.stop"), one_offs::stop)
    .add("get", "/apps/{app}/formation", read(app(Viewer)), formation::show)
    .add("patch", "/apps/{app}/formation", change(app(Deployer), "formation.update"), formation::update)
    .add("get", "/apps/{app}/domains", read(app(Viewer)), domains::list)
    .add("post", "/apps/{app}/domains", change(app(Admin), "domain.add"), domains::add)
    .add("get", "/apps/{app}/domains/{hostname}", read(app(Viewer)), domains::info)
    .add("delete", "/apps/{app}/domains/{hostname}", change(app(Admin), "domain.remove"), domains::remove)
    .add("get", "/apps/{app}/certs", read(app(Viewer)), domains::certs)
    .add("post", "/apps/{app}/certs", change(app(Admin), "cert.add"), domains::add_cert)
    .add("delete", "/apps/{app}/certs/{cert}", change(app(Admin), "cert.remove"), domains::remove_cert)
    .add("get", "/apps/{app}/router", read(app(Viewer)), domains::settings)
    .add("patch", "/apps/{app}/router", change(app(Admin), "router.update"), domains::update_settings)
    .add("get", "/apps/{app}/addons", read(app(Viewer)), addons::list)
    .add("post", "/apps/{app}/addons", change(app(Admin), "addon.create"), addons::create)
    .add("get", "/addons/{addon}", read(Need::Addon(Viewer, Access::Attached)), addons::info)
    .add("delete", "/addons/{addon}", change(owned(Admin), "addon.destroy"), addons::destroy)
    .add("post", "/addons/{addon}/attachments", change(owned(Admin), "addon.attach"), addons::attach)
    .add("delete", "/addons/{addon}/attachments/{app}", change(app(Admin), "addon.detach"), addons::detach)
    .add("post", "/addons/{addon}/actions/rotate-credentials", change(owned(Admin), "addon.rotate"), addons::rotate)
    .add("post", "/addons/{addon}/sessions", change(owned(Deployer), "addon.session"), addons::session)
    .add("get", "/addons/{addon}/backups", read(owned(Viewer)), addons::backups)
    .add("post", "/addons/{addon}/backups", change(owned(Deployer), "backup.capture"), addons::capture)
    .add("get", "/addons/{addon}/backups/{backup}/download", read(owned(Deployer)), addons::download)
    .add("post", "/addons/{addon}/backups/{backup}/actions/restore", change(owned(Admin), "backup.restore"), addons::restore)
}

/// `(method, path)` of every route, lowercase methods, `{param}` paths as in OpenAPI.
pub fn route_table() -> Vec<(&'static str, &'static str)> {
    routes().rules.into_iter().map(|(route, _)| route).collect()
}

pub fn router(state: AppState) -> Router {
    routes()
        .router
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            guard::guard,
        ))
        .merge(dashboard::assets())
        .fallback(|method: Method, uri: Uri| async move {
            ApiFailure::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("no route for {method} {}", uri.path()),
            )
        })
        .method_not_allowed_fallback(|method: Method, uri: Uri| async move {
            ApiFailure::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                format!("{method} is not allowed on {}", uri.path()),
            )
        })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// Serves `GET /metrics` (the Prometheus text exposition of every app's figures) on `listener`,
/// for an admin's token only (Prometheus's `authorization: credentials`), until `shutdown`.
pub async fn serve_prometheus(
    listener: TcpListener,
    state: AppState,
    limits: crate::http::Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let router = Router::new()
        .route("/metrics", axum::routing::get(metrics::prometheus))
        .fallback(|uri: Uri| async move {
            ApiFailure::not_found(format!(
                "no route for {}: Prometheus scrapes /metrics",
                uri.path()
            ))
        })
        .with_state(state);
    crate::http::serve_axum(listener, router, limits, shutdown).await
}

/// Serves the API on `listener` within `limits` until `shutdown` resolves, then finishes
/// in-flight requests.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    limits: crate::http::Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    crate::http::serve_axum(listener, router(state), limits, shutdown).await
}

async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
    })
}

// ---- errors ----

/// A failed request: a status and the shared error body.
#[derive(Debug)]
pub struct ApiFailure {
    status: StatusCode,
    body: ApiError,
}

pub type ApiResult<T> = Result<T, ApiFailure>;

impl ApiFailure {
    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn message(&self) -> &str {
        &self.body.message
    }

    pub fn new(status: StatusCode, id: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            body: ApiError {
                id: id.to_owned(),
                message: message.into(),
                hint: None,
            },
        }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.body.hint = Some(hint.into());
        self
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 422: the request is well-formed but asks for something invalid.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_params", message)
    }

    /// 500 with a bare `internal_error` body; `error`'s detail goes to the server log only.
    pub fn internal(error: &anyhow::Error, what: &str) -> Self {
        tracing::error!(error = %format!("{error:#}"), "{what}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "internal server error",
        )
        .hint("the server log has the details")
    }

    /// 403: the caller may see this but not do it.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    fn unauthorized(message: &str) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
            .hint("run `paas login` with a valid token (or set PAAS_API_TOKEN)")
    }
}

impl IntoResponse for ApiFailure {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

impl From<StoreError> for ApiFailure {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::AlreadyExists(what) => Self::new(
                StatusCode::CONFLICT,
                "conflict",
                format!("{what} already exists"),
            ),
            StoreError::ConfigTooLarge(total) => Self::invalid(format!(
                "the app's config vars would hold {total} bytes together, over the limit of {} bytes (64 KiB)",
                paas_share::names::MAX_CONFIG_TOTAL_BYTES
            ))
            .hint("keep large data elsewhere (a file in the app, an add-on) and put its location in a config var"),
            StoreError::DiskFull => {
                tracing::error!("the data disk is full: a write was refused");
                Self::new(
                    StatusCode::INSUFFICIENT_STORAGE,
                    "insufficient_storage",
                    "the server's data disk is full; nothing was changed",
                )
                .hint("an operator must free space on the server (`paas-buildserver gc` removes unused images)")
            }
            StoreError::Gone => Self::not_found("the app was destroyed while this request ran")
                .hint("run `paas apps` to list the apps you can access"),
            other => Self::internal(&anyhow::Error::from(other), "store failure"),
        }
    }
}

// ---- extractors ----

/// A JSON body, with bad bodies answered in the shared error format: 400 unparsable, 408 not
/// whole by its [`crate::http::BodyDeadline`] (a slow-loris body), 413 too large, 415 not JSON,
/// 422 wrong shape or unknown field.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiFailure;

    /// Every body the API takes is a JSON object: serde would also build a struct from an array
    /// of its fields (`["demo"]`), which the OpenAPI document does not allow.
    async fn from_request(req: Request, state: &S) -> Result<Self, ApiFailure> {
        let deadline = req.extensions().get::<crate::http::BodyDeadline>().copied();
        let read = Json::<serde_json::Value>::from_request(req, state);
        let read = match deadline {
            Some(deadline) => tokio::time::timeout_at(deadline.0, read).await,
            None => Ok(read.await),
        };
        let value = match read {
            Ok(Ok(Json(value))) => value,
            Ok(Err(rejection)) => return Err(json_rejection(&rejection)),
            Err(_) => {
                return Err(ApiFailure::new(
                    StatusCode::REQUEST_TIMEOUT,
                    "request_timeout",
                    "the request body did not arrive in time",
                )
                .hint("send the whole body at once; the server waits as long as for a request's head (--header-timeout)"));
            }
        };
        if !value.is_object() {
            return Err(ApiFailure::invalid(
                "invalid request body: expected a JSON object",
            ));
        }
        serde_json::from_value(value)
            .map(Self)
            .map_err(|e| ApiFailure::invalid(format!("invalid request body: {e}")))
    }
}

fn json_rejection(rejection: &JsonRejection) -> ApiFailure {
    let status = rejection.status();
    match status {
        StatusCode::PAYLOAD_TOO_LARGE => ApiFailure::new(
            status,
            "payload_too_large",
            format!("request body is larger than {} KiB", MAX_BODY_BYTES / 1024),
        ),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiFailure::new(
            status,
            "unsupported_media_type",
            "request body must be JSON (Content-Type: application/json)",
        ),
        _ => {
            let text = rejection.body_text();
            let detail = text
                .split_once(": ")
                .map_or(text.as_str(), |(_, detail)| detail);
            let id = if status == StatusCode::UNPROCESSABLE_ENTITY {
                "invalid_params"
            } else {
                "bad_request"
            };
            ApiFailure::new(status, id, format!("invalid request body: {detail}"))
        }
    }
}

/// A query string, with bad ones answered in the shared error format (422).
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiFailure;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiFailure> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Self(value)),
            Err(rejection) => {
                let text = rejection.body_text();
                let detail = text
                    .split_once(": ")
                    .map_or(text.as_str(), |(_, detail)| detail);
                Err(ApiFailure::invalid(format!("invalid query: {detail}")))
            }
        }
    }
}

/// The user behind the request's bearer token, as [`guard::guard`] found it (with the token's
/// grant).
pub struct CurrentUser(pub User);

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = ApiFailure;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiFailure> {
        match parts.extensions.get::<User>() {
            Some(user) => Ok(Self(user.clone())),
            None => guard::authenticate(state, &parts.headers).await.map(Self),
        }
    }
}

/// The host the client used to reach the API (from `Host`), so that URLs handed back work from
/// where the client is. Falls back to the apps domain when the header is absent or odd.
pub struct RequestHost(pub Option<String>);

/// The `Idempotency-Key` request header (draft-ietf-httpapi-idempotency-key-header) of a request
/// that makes a release (config change, rollback, retry): 1 to 255 visible ASCII characters,
/// quoted (the draft's structured-field string) or not. The same request sent again with the same
/// key gets the release the first one made, as it ended, instead of making another; a key sent
/// with another request is refused (422).
pub struct IdempotencyKey(Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiFailure;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiFailure> {
        let Some(value) = parts.headers.get("idempotency-key") else {
            return Ok(Self(None));
        };
        value
            .to_str()
            .ok()
            .map(|v| {
                let v = v.trim();
                v.strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .unwrap_or(v)
            })
            .filter(|k| (1..=255).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()))
            .map(|k| Self(Some(k.to_owned())))
            .ok_or_else(|| {
                ApiFailure::invalid(
                    "the Idempotency-Key header must be 1 to 255 visible ASCII characters",
                )
                .hint("send a random key such as a UUID, and the same one only to repeat a request")
            })
    }
}

impl IdempotencyKey {
    /// The key with a digest of the request it came with: who sent `body` to `route`.
    fn with_request(
        self,
        user: &User,
        route: &str,
        body: &impl serde::Serialize,
    ) -> Option<crate::store::Idempotency> {
        use sha2::Digest;
        let key = self.0?;
        let mut request = sha2::Sha256::new();
        for part in [user.id.as_bytes(), route.as_bytes()] {
            request.update(part);
            request.update(b"\n");
        }
        request.update(serde_json::to_vec(body).unwrap_or_default());
        Some(crate::store::Idempotency {
            key,
            digest: format!("{:x}", request.finalize()),
        })
    }
}

impl<S: Send + Sync> FromRequestParts<S> for RequestHost {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let host = parts
            .headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .and_then(|h| {
                let name = match h.strip_prefix('[') {
                    Some(v6) => &h[..v6.find(']')? + 2],
                    None => h.rsplit_once(':').map_or(h, |(name, _)| name),
                };
                let ok = !name.is_empty()
                    && name.bytes().all(|b| {
                        b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']')
                    });
                ok.then(|| name.to_ascii_lowercase())
            });
        Ok(Self(host))
    }
}

/// The API's answer when the release controller refused or failed a release.
fn release_failure(app: &str, e: crate::release::ReleaseError) -> ApiFailure {
    use crate::release::{DeployError, ReleaseError};
    match e {
        ReleaseError::NoSuchRelease(version) => {
            ApiFailure::not_found(format!("app {app:?} has no release v{version}"))
                .hint("run `paas releases` to list them")
        }
        ReleaseError::Refused { message, hint } => ApiFailure::invalid(message).hint(hint),
        // Recorded, and failed: not bad input, so an id of its own for scripts.
        ReleaseError::NotDeployed(version, e @ DeployError::ReleasePhase(_)) => release_failed(
            format!("v{version} was not deployed: {e}"),
            format!(
                "the previous release keeps serving, with its config vars; `paas releases:output v{version}` shows what the release command printed"
            ),
        ),
        ReleaseError::NotDeployed(version, e @ DeployError::Recorded(_)) => release_failed(
            format!("v{version} did not start: {e}"),
            format!(
                "the previous release keeps serving, with its config vars; `paas releases info v{version}` says why"
            ),
        ),
        ReleaseError::NotDeployed(version, DeployError::Destroyed) => ApiFailure::not_found(
            format!("v{version} was not deployed: app {app:?} was destroyed meanwhile"),
        )
        .hint("run `paas apps` to list your apps"),
        ReleaseError::NotDeployed(version, e) => release_failed(
            format!("v{version} did not start: {e}"),
            "the previous release keeps serving, with its config vars; `paas logs` shows why"
                .to_owned(),
        ),
        ReleaseError::Store(e) => e.into(),
    }
}

/// 422 `release_failed`: the request made a release, and it failed.
fn release_failed(message: String, hint: String) -> ApiFailure {
    ApiFailure::new(StatusCode::UNPROCESSABLE_ENTITY, "release_failed", message).hint(hint)
}

/// A scheduler operation on running dynos that did not complete; what ran before keeps running.
fn scheduler_failure(what: &str, e: &anyhow::Error) -> ApiFailure {
    ApiFailure::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "scheduler_error",
        format!("{what}: {e:#}"),
    )
    .hint("the dynos that were running keep running; `paas logs` shows more")
}

/// The API's answer when a change of the dynos was refused or did not complete.
fn scale_failure(e: crate::release::ScaleError) -> ApiFailure {
    use crate::release::ScaleError;
    match e {
        ScaleError::Refused { message, hint } => {
            let failure = ApiFailure::invalid(message);
            match hint {
                Some(hint) => failure.hint(hint),
                None => failure,
            }
        }
        ScaleError::Scheduler { what, error } => scheduler_failure(what, &error),
        ScaleError::Destroyed => ApiFailure::not_found("the app was destroyed meanwhile")
            .hint("run `paas apps` to list your apps"),
        ScaleError::Store(e) => e.into(),
    }
}

/// What the scheduler runs for the app.
async fn dynos_of(state: &AppState, app: &AppRecord) -> ApiResult<Vec<paas_share::models::Dyno>> {
    state
        .scheduler
        .status(&app.app_ref())
        .await
        .map_err(|e| scheduler_failure("cannot read the app's dynos", &e))
}

/// App `name` if `user` may see it; 404 otherwise (also for another user's app, so as not to
/// reveal that it exists). What they may do there, [`guard::guard`] checked before the handler.
async fn find_app(state: &AppState, user: &User, name: &str) -> ApiResult<AppRecord> {
    guard::app_role(state, user, name).await.map(|(app, _)| app)
}

#[cfg(test)]
mod tests;
