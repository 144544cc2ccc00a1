//! The web dashboard (DESIGN §5 "api/ + dashboard"): static assets compiled into the binary,
//! served at `/` by the API listener, and `/session`, which trades an API token for a session
//! cookie. The page does everything through the same API routes as the CLI, with the same role
//! checks ([`super::guard`]); a session's requests that change something carry its CSRF token.
//!
//! The page builds every element with `textContent`, never HTML from data, and the
//! Content-Security-Policy allows only this origin's own script and style: app names, config
//! values, log lines and build output cannot run script.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use paas_share::models::{CreateSession, Session};

use super::guard::{SESSION_COOKIE, SessionCsrf, session_cookie, session_id, user_of_token};
use super::{ApiJson, ApiResult, AppState, CurrentUser};
use crate::store::AuditRecord;

/// How long a session lasts: 12 hours, in seconds.
const SESSION_SECONDS: u64 = 12 * 3600;

/// The policy of every page: this origin's script, style and API only; no frames, no plugins,
/// no inline script or style.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
    connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// `(path, content type, body)` of each asset.
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "/",
        "text/html; charset=utf-8",
        include_str!("dashboard/index.html"),
    ),
    (
        "/dashboard.js",
        "text/javascript; charset=utf-8",
        include_str!("dashboard/dashboard.js"),
    ),
    (
        "/dashboard.css",
        "text/css; charset=utf-8",
        include_str!("dashboard/dashboard.css"),
    ),
];

/// The dashboard's static routes (no token: the page signs in itself).
pub fn assets() -> axum::Router<AppState> {
    ASSETS.iter().fold(
        axum::Router::new(),
        |router, &(path, content_type, body)| {
            router.route(
                path,
                axum::routing::get(move || async move { asset(content_type, body) }),
            )
        },
    )
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_TYPE, content_type),
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "no-cache"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// `POST /session`: signs in with an API token: a session cookie (HttpOnly, SameSite=Strict,
/// Secure behind HTTPS) for 12 hours, and the session's CSRF token in the answer.
pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    extensions: axum::http::Extensions,
    ApiJson(body): ApiJson<CreateSession>,
) -> ApiResult<Response> {
    let source = super::guard::source(&extensions);
    // No signing a browser in to someone else's account from another site's page.
    super::guard::same_origin(&headers)?;
    let user = match user_of_token(&state, body.token.trim()).await {
        Ok(user) => user,
        Err(refused) => {
            tracing::info!(%source, "dashboard sign-in refused");
            return Err(refused);
        }
    };
    let token_id = user
        .token
        .as_ref()
        .map(|t| t.token_id.clone())
        .unwrap_or_default();
    let secret = crate::token::random_hex(32);
    let csrf = crate::token::random_hex(32);
    let (id, stored_csrf, stored_token) = (session_id(&secret), csrf.clone(), token_id.clone());
    state
        .store
        .call(move |db| db.create_session(&id, &stored_token, &stored_csrf, SESSION_SECONDS))
        .await?;
    state
        .store
        .audit(AuditRecord {
            actor: user.name.to_string(),
            token_id: Some(token_id),
            source,
            app_id: None,
            app: None,
            action: "session.create".to_owned(),
            detail: serde_json::json!({}),
            outcome: "success",
            status: Some(201),
        })
        .await;
    let https = headers
        .get("x-forwarded-proto")
        .is_some_and(|p| p.as_bytes().eq_ignore_ascii_case(b"https"));
    let cookie = cookie::Cookie::build((SESSION_COOKIE, secret))
        .http_only(true)
        .same_site(cookie::SameSite::Strict)
        .secure(https)
        .path("/")
        .max_age(cookie::time::Duration::seconds(SESSION_SECONDS as i64))
        .build();
    let mut response = (
        StatusCode::CREATED,
        Json(Session {
            user: user.name,
            admin: user.admin,
            csrf,
        }),
    )
        .into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie.to_string()).expect("a cookie is a header value"),
    );
    Ok(response)
}

/// `GET /session`: who the session is, and its CSRF token (for a page loaded again).
pub async fn show(
    CurrentUser(user): CurrentUser,
    SessionCsrf(csrf): SessionCsrf,
) -> ApiResult<Json<Session>> {
    let csrf = csrf.ok_or_else(|| {
        super::ApiFailure::not_found("this request has no dashboard session")
            .hint("sign in with POST /session {\"token\": …}")
    })?;
    Ok(Json(Session {
        user: user.name,
        admin: user.admin,
        csrf,
    }))
}

/// `DELETE /session`: signs out (the cookie is cleared and the session forgotten).
pub async fn destroy(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    if let Some(secret) = session_cookie(&headers) {
        let id = session_id(&secret);
        state.store.call(move |db| db.delete_session(&id)).await?;
    }
    let gone = cookie::Cookie::build((SESSION_COOKIE, ""))
        .http_only(true)
        .same_site(cookie::SameSite::Strict)
        .path("/")
        .max_age(cookie::time::Duration::ZERO)
        .build();
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&gone.to_string()).expect("a cookie is a header value"),
    );
    Ok(response)
}
