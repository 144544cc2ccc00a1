//! Who may do what (DESIGN §5 "access"), in one place: every route declares a [`Rule`] in the
//! route table, and [`guard`] runs before its handler. It authenticates the bearer token, checks
//! the caller's role on the app (or add-on) the path names, answers 401, 403 or 404 itself, and
//! appends every change (any method but GET), allowed or not, to the audit log. A change runs to
//! its end (and is recorded) also when its client goes away meanwhile.
//!
//! Apps the caller may not see answer 404, as if they did not exist (GitHub's rule); apps they
//! may see but not change answer 403 with the role they have and the role it needs.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};

use axum::extract::{ConnectInfo, FromRequestParts, MatchedPath, RawPathParams, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use paas_share::models::Role;
use paas_share::names::excerpt;
use paas_share::{AppName, UserName};

use super::{ApiFailure, AppState};
use crate::addons::Access;
use crate::store::{AuditRecord, User};
use crate::token;

/// What a route asks of its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Nothing: no token (health, the OpenAPI document).
    Nothing,
    /// Any valid token, scoped or not.
    Token,
    /// A login token: scoped tokens never manage keys or tokens, nor make apps.
    Login,
    /// A server admin's login token.
    ServerAdmin,
    /// At least this role on the path's `{app}`.
    App(Role),
    /// At least this role on the app that owns the path's `{addon}` (with [`Access::Attached`],
    /// or on an app it is attached to).
    Addon(Role, Access),
}

/// A route's [`Need`], and for a change the action its audit entries name.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    pub need: Need,
    /// `config.update`, …; None for reads, which are not audited.
    pub action: Option<&'static str>,
}

/// The caller's role on the app of the path, for handlers that show less to viewers (a route
/// without an app gives the least, [`Role::Viewer`]).
#[derive(Debug, Clone, Copy)]
pub struct Granted(pub Role);

/// The CSRF token of the dashboard session a request came with (None with a bearer token), as
/// [`guard`] found it.
#[derive(Debug, Clone)]
pub struct SessionCsrf(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for SessionCsrf {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<Self>()
            .cloned()
            .unwrap_or(Self(None)))
    }
}

impl Granted {
    /// `vars` as the caller may see them: values only from deployer up.
    pub fn shown(self, mut vars: paas_share::models::ConfigVars) -> paas_share::models::ConfigVars {
        if self.0 < Role::Deployer {
            for value in vars.values_mut() {
                paas_share::models::REDACTED.clone_into(value);
            }
        }
        vars
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Granted {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<Self>()
            .copied()
            .unwrap_or(Self(Role::Viewer)))
    }
}

/// What a handler adds to its request's audit entry: the app it made, the config keys it
/// changed, … (never secrets).
#[derive(Clone, Default)]
pub struct AuditNote(Arc<Mutex<Note>>);

#[derive(Default)]
struct Note {
    app: Option<(String, String)>,
    detail: serde_json::Map<String, serde_json::Value>,
}

impl AuditNote {
    /// Adds `key: value` to the entry's detail.
    pub fn set(&self, key: &str, value: impl Into<serde_json::Value>) {
        self.lock().detail.insert(key.to_owned(), value.into());
    }

    /// Files the entry under this app (one the request made or found by other means).
    pub fn app(&self, id: &str, name: &str) {
        self.lock().app = Some((id.to_owned(), name.to_owned()));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Note> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for AuditNote {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(parts.extensions.get::<Self>().cloned().unwrap_or_default())
    }
}

/// Every route's rule by `(method, path)`, from the route table.
fn rules() -> &'static HashMap<(&'static str, &'static str), Rule> {
    static RULES: OnceLock<HashMap<(&'static str, &'static str), Rule>> = OnceLock::new();
    RULES.get_or_init(|| super::routes().rules.into_iter().collect())
}

/// The middleware of every route: see the module's documentation.
pub async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    // HEAD is answered by the GET route (RFC 9110 §9.3.2), under its rule.
    let method = match request.method().as_str() {
        "HEAD" => "get".to_owned(),
        other => other.to_ascii_lowercase(),
    };
    let rule = request
        .extensions()
        .get::<MatchedPath>()
        .and_then(|path| rules().get(&(method.as_str(), path.as_str())))
        .copied();
    let Some(rule) = rule else {
        // A route without a rule cannot happen (the table makes both): refuse rather than serve.
        return ApiFailure::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "this route has no access rule",
        )
        .into_response();
    };
    if rule.need == Need::Nothing {
        return next.run(request).await;
    }
    let (mut parts, body) = request.into_parts();
    let (user, csrf) = match identify(&state, &parts.headers).await {
        Ok(found) => found,
        Err(refused) => return refused.into_response(),
    };
    if let Some(csrf) = &csrf
        && parts.method != axum::http::Method::GET
        && let Err(refused) = check_csrf(&parts, csrf)
    {
        return refused.into_response();
    }
    let params: HashMap<String, String> = RawPathParams::from_request_parts(&mut parts, &state)
        .await
        .map(|p| {
            p.iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect()
        })
        .unwrap_or_default();
    let source = source(&parts.extensions);
    let note = AuditNote::default();
    let checked = check(&state, &user, rule.need, &params, &note).await;
    let denied = checked.is_err();
    let handled = {
        let (user, note) = (user.clone(), note.clone());
        async move {
            match checked {
                Ok(granted) => {
                    parts.extensions.insert(user);
                    parts.extensions.insert(SessionCsrf(csrf));
                    parts.extensions.insert(note);
                    if let Some(role) = granted {
                        parts.extensions.insert(Granted(role));
                    }
                    next.run(Request::from_parts(parts, body)).await
                }
                Err(refused) => refused.into_response(),
            }
        }
    };
    let Some(action) = rule.action else {
        return handled.await;
    };
    // A change runs to its end and is recorded also when its client goes away meanwhile (a
    // Ctrl-C, a closed laptop): dropped with the connection, it would stop half way, unrecorded.
    let recorded = tokio::spawn(async move {
        let response = handled.await;
        let status = response.status();
        let outcome = match status.as_u16() {
            200..=399 => "success",
            _ if denied => "denied",
            _ => "failure",
        };
        let Note { app, mut detail } = std::mem::take(&mut *note.lock());
        for (key, value) in &params {
            if key != "app" {
                // Cut only what no real name reaches (a fingerprint is 50 characters).
                let shown: String = value.chars().take(200).collect();
                detail.entry(key.clone()).or_insert_with(|| shown.into());
            }
        }
        let (app_id, app) = match (app, params.get("app")) {
            (Some((id, name)), _) => (Some(id), Some(name)),
            (None, Some(name)) => (
                app_id_named(&state, name).await,
                Some(excerpt(name).to_string()),
            ),
            (None, None) => (None, None),
        };
        state
            .store
            .audit(AuditRecord {
                actor: user.name.to_string(),
                token_id: user.token.as_ref().map(|t| t.token_id.clone()),
                source,
                app_id,
                app,
                action: action.to_owned(),
                detail: detail.into(),
                outcome,
                status: Some(status.as_u16()),
            })
            .await;
        response
    });
    recorded.await.unwrap_or_else(|e| {
        ApiFailure::internal(&anyhow::Error::new(e), "a change to the server").into_response()
    })
}

/// The client's address, as audit entries name it.
pub fn source(extensions: &axum::http::Extensions) -> String {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or_else(|| "unknown".to_owned(), |c| c.0.ip().to_string())
}

/// The id of app `name`, if there is one (whoever may see it).
async fn app_id_named(state: &AppState, name: &str) -> Option<String> {
    let name = AppName::parse(name).ok()?;
    state
        .store
        .call(move |db| db.app_id_named(&name))
        .await
        .ok()
        .flatten()
}

/// Whether `user` may do what `need` asks with these path parameters; `Some(role)` is the role
/// they have on the path's app.
async fn check(
    state: &AppState,
    user: &User,
    need: Need,
    params: &HashMap<String, String>,
    note: &AuditNote,
) -> Result<Option<Role>, ApiFailure> {
    match need {
        Need::Nothing | Need::Token => Ok(None),
        Need::Login if user.scoped() => Err(ApiFailure::forbidden(
            "a scoped token cannot manage keys or tokens, nor create apps",
        )
        .hint("use your login token (`paas login`) for that")),
        Need::Login => Ok(None),
        Need::ServerAdmin if user.admin && !user.scoped() => Ok(None),
        Need::ServerAdmin => Err(ApiFailure::forbidden(
            "only the server's admins, with their login token, may do that",
        )
        .hint("`paas audit -a APP` shows the audit log of an app you are an admin of")),
        Need::App(role) => {
            let name = params.get("app").map_or("", String::as_str);
            let (app, had) = app_role(state, user, name).await?;
            note.app(&app.id, app.name.as_str());
            allowed(user, app.name.as_str(), had, role).map(Some)
        }
        Need::Addon(role, access) => {
            let name = params.get("addon").map_or("", String::as_str);
            let (record, had) = state
                .addons
                .find(user, name, access)
                .await
                .map_err(super::addons::failure)?;
            note.app(&record.app_id, &record.app_name);
            allowed(user, &record.app_name, had, role).map(Some)
        }
    }
}

/// 403 unless `had` (what `user`'s request may do on `app`) is at least `need`, saying whether
/// the user's role or their token's limit is short.
fn allowed(user: &User, app: &str, had: Role, need: Role) -> Result<Role, ApiFailure> {
    if had >= need {
        return Ok(had);
    }
    if let Some(most) = user.token.as_ref().and_then(|t| t.role)
        && most < need
    {
        return Err(ApiFailure::forbidden(format!(
            "this token may do at most what {} {most} may: this needs {need}",
            article(most)
        ))
        .hint(format!(
            "use a token made with --role {need} (`paas tokens:create`), or your login token"
        )));
    }
    Err(ApiFailure::forbidden(format!(
        "you are {} {had} of {app}: this needs {need}",
        article(had)
    ))
    .hint(format!(
        "ask an admin of {app} for the {need} role (`paas access -a {app}` lists them)"
    )))
}

/// `a` or `an`, for a role's name.
pub fn article(role: Role) -> &'static str {
    match role {
        Role::Admin => "an",
        Role::Viewer | Role::Deployer => "a",
    }
}

/// App `name` if `user` has at least role `need` on it: 404 or 403 as [`guard`] answers (for an
/// app a request names in its body).
pub async fn app_needing(
    state: &AppState,
    user: &User,
    name: &str,
    need: Role,
) -> Result<crate::store::AppRecord, ApiFailure> {
    let (app, had) = app_role(state, user, name).await?;
    allowed(user, app.name.as_str(), had, need)?;
    Ok(app)
}

/// App `name` and `user`'s role on it; 404 when they may not see it (also for another user's
/// app, so as not to reveal that it exists).
pub async fn app_role(
    state: &AppState,
    user: &User,
    name: &str,
) -> Result<(crate::store::AppRecord, Role), ApiFailure> {
    let not_found = || {
        ApiFailure::not_found(format!("app {:?} not found", excerpt(name)))
            .hint("run `paas apps` to list the apps you can access")
    };
    let app_name = AppName::parse(name).map_err(|_| not_found())?;
    let user = user.clone();
    state
        .store
        .call(move |db| db.app_role(&user, &app_name))
        .await?
        .ok_or_else(not_found)
}

/// The cookie a dashboard session is in (HttpOnly, SameSite=Strict).
pub const SESSION_COOKIE: &str = "paas_session";

/// The header a dashboard request that changes something carries its session's CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The user behind the request: the API token in its one `Authorization` header (`Bearer
/// <token>`, RFC 6750 §2.1), else the dashboard session in its [`SESSION_COOKIE`], with the
/// token's grant; 401 when it is missing, repeated, malformed, unknown, revoked or expired. Long
/// responses (`logs --tail`) call [`recheck`] as they go, so that a revoked token or a removed
/// collaborator stops them too.
pub async fn authenticate(
    state: &AppState,
    headers: &header::HeaderMap,
) -> Result<User, ApiFailure> {
    identify(state, headers).await.map(|(user, _)| user)
}

/// [`authenticate`], with the session's CSRF token when the request came with a session cookie.
async fn identify(
    state: &AppState,
    headers: &header::HeaderMap,
) -> Result<(User, Option<String>), ApiFailure> {
    let mut sent = headers.get_all(header::AUTHORIZATION).iter();
    let Some(header) = sent.next() else {
        let secret =
            session_cookie(headers).ok_or_else(|| ApiFailure::unauthorized("missing API token"))?;
        let id = session_id(&secret);
        let session = state.store.call(move |db| db.session(&id)).await?;
        let (token_id, csrf) = session.ok_or_else(|| {
            ApiFailure::unauthorized("the dashboard session ended (signed out, expired or revoked)")
        })?;
        return Ok((token_user(state, &token_id, None).await?, Some(csrf)));
    };
    if sent.next().is_some() {
        return Err(ApiFailure::unauthorized(
            "send one Authorization header, not several",
        ));
    }
    let token = header
        .to_str()
        .ok()
        // The scheme is case-insensitive (RFC 9110 §11.1).
        .and_then(|h| {
            h.get(..7)
                .filter(|scheme| scheme.eq_ignore_ascii_case("bearer "))
                .map(|_| &h[7..])
        })
        .map(|t| t.trim().to_owned())
        .ok_or_else(|| {
            ApiFailure::unauthorized("the Authorization header must be `Bearer <token>`")
        })?;
    Ok((user_of_token(state, &token).await?, None))
}

/// The user of API token `token` (`paas_<id>_<secret>`), as [`authenticate`] answers.
pub async fn user_of_token(state: &AppState, token: &str) -> Result<User, ApiFailure> {
    let id = token::id_of(token).ok_or_else(invalid_token)?.to_owned();
    token_user(state, &id, Some(token)).await
}

fn invalid_token() -> ApiFailure {
    ApiFailure::unauthorized("invalid or revoked API token")
}

/// The user of token `id`, checked against the whole `token` when one was sent (a session proved
/// it when it was made); 401 when unknown, wrong or expired.
async fn token_user(state: &AppState, id: &str, token: Option<&str>) -> Result<User, ApiFailure> {
    let max_age = state.token_max_age;
    let lookup = id.to_owned();
    let found = state
        .store
        .call(move |db| db.token_owner(&lookup, max_age))
        .await?;
    let found = match found {
        Some(found) if token.is_none_or(|t| token::verify(t, &found.sha256)) => found,
        _ => return Err(invalid_token()),
    };
    if let Some(at) = found.expired {
        let hint = if found.user.scoped() {
            "create another with `paas tokens:create` (and revoke this one: `paas tokens:revoke ID`)"
        } else {
            "ask an operator for a new one (`paas-buildserver user tokens revoke --new NAME`), then `paas login`"
        };
        return Err(ApiFailure::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            format!("this API token expired at {at}"),
        )
        .hint(hint));
    }
    if found.stale_use {
        // At most once a minute per token: `paas tokens` shows when each was last used.
        let id = id.to_owned();
        let _ = state.store.call(move |db| db.touch_token(&id)).await;
    }
    Ok(found.user)
}

/// The value of the request's session cookie, if it has one.
pub fn session_cookie(headers: &header::HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|h| h.to_str().ok())
        .flat_map(cookie::Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == SESSION_COOKIE)
        .map(|c| c.value().to_owned())
}

/// How the store finds a session: the SHA-256 of its cookie's secret, in hex.
pub fn session_id(secret: &str) -> String {
    use sha2::Digest;
    format!("{:x}", sha2::Sha256::digest(secret.as_bytes()))
}

/// A request that came with a session cookie and changes something must carry the session's
/// CSRF token in [`CSRF_HEADER`], and, when it says where it comes from (`Origin`), come from the
/// dashboard's own origin (OWASP's CSRF prevention: a synchronizer token plus an origin check).
fn check_csrf(parts: &axum::http::request::Parts, csrf: &str) -> Result<(), ApiFailure> {
    use subtle::ConstantTimeEq;
    let sent = parts
        .headers
        .get(CSRF_HEADER)
        .map(|v| v.as_bytes().ct_eq(csrf.as_bytes()).into())
        .unwrap_or(false);
    if !sent {
        return Err(ApiFailure::forbidden(
            "this request came with the dashboard's cookie but without its CSRF token",
        )
        .hint("reload the dashboard; scripts send `Authorization: Bearer TOKEN` instead"));
    }
    same_origin(&parts.headers)
}

/// 403 when the request says it comes from a page (`Origin`) of another origin than the one it
/// was sent to (`Host`).
pub fn same_origin(headers: &header::HeaderMap) -> Result<(), ApiFailure> {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let same = origin
        .to_str()
        .ok()
        .and_then(|o| o.split_once("://"))
        .is_some_and(|(_, authority)| Some(authority) == host);
    if same {
        Ok(())
    } else {
        Err(ApiFailure::forbidden(
            "this request came from another site's page",
        ))
    }
}

/// How often a long response (a log tail, build or release output while it runs, a one-off
/// dyno's session) checks again that its request may go on.
pub const RECHECK: std::time::Duration = std::time::Duration::from_secs(5);

/// Why the request behind `headers` may no longer do `need` on app `name`, if it may not: its
/// token revoked or expired, its session ended, its user's role taken away, the app destroyed.
/// A store failure is not a reason: the next check decides.
pub async fn refused_now(
    state: &AppState,
    headers: &header::HeaderMap,
    name: &str,
    need: Role,
) -> Option<String> {
    let checked = async {
        let user = authenticate(state, headers).await?;
        let (app, had) = app_role(state, &user, name).await?;
        allowed(&user, app.name.as_str(), had, need).map(drop)
    };
    let refused = checked.await.err()?;
    match refused.status() {
        StatusCode::NOT_FOUND => {
            Some("the app was destroyed, or you no longer have access to it".to_owned())
        }
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Some(refused.message().to_owned()),
        _ => None,
    }
}

/// Resolves, with the reason, once [`refused_now`] says the request may no longer go on
/// (checked every [`RECHECK`]).
pub async fn revoked(
    state: AppState,
    headers: header::HeaderMap,
    name: String,
    need: Role,
) -> String {
    let mut every = tokio::time::interval_at(tokio::time::Instant::now() + RECHECK, RECHECK);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        if let Some(reason) = refused_now(&state, &headers, &name, need).await {
            return reason;
        }
    }
}

/// `body`, a text stream, cut short once `revoked` resolves, with a last line saying why.
pub fn until_revoked<S>(
    body: S,
    revoked: impl std::future::Future<Output = String> + Send + 'static,
) -> impl futures_util::Stream<Item = std::io::Result<String>> + Send
where
    S: futures_util::Stream<Item = std::io::Result<String>> + Send + 'static,
{
    use futures_util::StreamExt;
    let state = Some((body.boxed(), Box::pin(revoked)));
    futures_util::stream::unfold(state, |state| async move {
        let (mut body, mut revoked) = state?;
        tokio::select! {
            next = body.next() => next.map(|item| (item, Some((body, revoked)))),
            reason = &mut revoked => Some((Ok(format!("[this stream ended: {reason}]\n")), None)),
        }
    })
}

/// User `name`, for a request that names one; 404 with a hint when there is none.
pub async fn user_named(state: &AppState, name: &str) -> Result<User, ApiFailure> {
    let not_found = || {
        ApiFailure::not_found(format!("there is no user {:?}", excerpt(name)))
            .hint("user names are as `paas whoami` prints them; an operator creates users (`paas-buildserver user create NAME`)")
    };
    let parsed = UserName::parse(name).map_err(|_| not_found())?;
    state
        .store
        .call(move |db| db.user_named(&parsed))
        .await?
        .ok_or_else(not_found)
}
