//! `/apps/{app}/releases`: list and show releases and their release phase's output, roll back
//! by creating a new one, and retry the newest.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::stream;
use paas_share::models::{
    CreateRelease, LogLine, Release, ReleaseStatus, Role, parse_release_version,
};
use paas_share::names::excerpt;
use tokio::sync::broadcast;

use super::guard::{AuditNote, Granted};
use super::{ApiFailure, ApiJson, ApiResult, AppState, CurrentUser, IdempotencyKey, find_app};
use crate::store::Store;

/// `GET /apps/{app}/releases`: newest first, each without its config vars (an app's releases
/// each keep a copy of them; `GET /apps/{app}/releases/{version}` has them).
pub async fn list(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(name): Path<String>,
) -> ApiResult<Json<Vec<serde_json::Value>>> {
    let app = find_app(&state, &user, &name).await?;
    let releases = state.store.call(move |db| db.releases(&app.id)).await?;
    Ok(Json(
        releases
            .into_iter()
            .map(|release| {
                let mut value = serde_json::to_value(release).expect("a release serializes");
                if let Some(fields) = value.as_object_mut() {
                    fields.remove("config_vars");
                }
                value
            })
            .collect(),
    ))
}

fn version_of(version: &str) -> Result<u32, ApiFailure> {
    parse_release_version(version).ok_or_else(|| {
        ApiFailure::invalid(format!("invalid release version {:?}", excerpt(version)))
            .hint("use a version such as v3 or 3")
    })
}

/// What the release's release phase printed, as text: stored once it ended; while it runs (the
/// release is `pending`), the lines so far from the app's log, then each line as it comes,
/// until the release leaves `pending`.
pub async fn output(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    headers: axum::http::HeaderMap,
    Path((name, version)): Path<(String, String)>,
) -> ApiResult<Response> {
    let app = find_app(&state, &user, &name).await?;
    let number = version_of(&version)?;
    let app_id = app.id.clone();
    let (found, stored) = state
        .store
        .call(move |db| {
            Ok::<_, crate::store::StoreError>((
                db.release(&app_id, number)?,
                db.release_output(&app_id, number)?,
            ))
        })
        .await?;
    let found = found.ok_or_else(|| release_not_found(&name, number))?;
    let text = [(header::CONTENT_TYPE, "text/plain; charset=utf-8")];
    if found.status != ReleaseStatus::Pending {
        return Ok((text, stored.unwrap_or_default()).into_response());
    }
    let filter = crate::logs::Filter {
        process: Some(format!("release.{number}")),
        source: Some("app".to_owned()),
        after: None,
    };
    let (past, rx) = state.logs.read(&app.id, 2000, &filter);
    let past: String = past.iter().map(|l| format!("{}\n", l.message)).collect();
    let follow = Follow {
        rx,
        filter,
        store: state.store.clone(),
        app_id: app.id.clone(),
        version: number,
        ended: false,
    };
    let rest = stream::unfold(follow, Follow::next);
    let body = futures_util::StreamExt::chain(stream::once(async move { Ok(past) }), rest);
    let revoked = super::guard::revoked(state, headers, name, Role::Viewer);
    Ok((
        text,
        Body::from_stream(super::guard::until_revoked(body, revoked)),
    )
        .into_response())
}

/// A running release phase's lines, until its release leaves `pending`.
struct Follow {
    rx: broadcast::Receiver<Arc<LogLine>>,
    filter: crate::logs::Filter,
    store: Store,
    app_id: String,
    version: u32,
    ended: bool,
}

impl Follow {
    async fn next(mut self) -> Option<(Result<String, std::io::Error>, Self)> {
        loop {
            if self.ended {
                // The phase is over: what is left in the channel, then the end.
                return match self.rx.try_recv() {
                    Ok(line) if self.filter.matches(&line) => {
                        Some((Ok(format!("{}\n", line.message)), self))
                    }
                    Ok(_) | Err(broadcast::error::TryRecvError::Lagged(_)) => continue,
                    Err(_) => None,
                };
            }
            tokio::select! {
                biased;
                got = self.rx.recv() => match got {
                    Ok(line) if self.filter.matches(&line) => {
                        return Some((Ok(format!("{}\n", line.message)), self));
                    }
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        return Some((Ok(format!("[{n} lines skipped: this reader fell behind]\n")), self));
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
                () = tokio::time::sleep(std::time::Duration::from_millis(250)) => {
                    let (id, version) = (self.app_id.clone(), self.version);
                    let pending = self
                        .store
                        .call(move |db| db.release(&id, version))
                        .await
                        .ok()
                        .flatten()
                        .is_some_and(|r| r.status == ReleaseStatus::Pending);
                    self.ended = !pending;
                }
            }
        }
    }
}

/// `POST /apps/{app}/releases/retry`: the newest release again, as a new release (release phase
/// included), when it failed; as `heroku releases:retry`.
pub async fn retry(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(name): Path<String>,
    key: IdempotencyKey,
) -> ApiResult<(StatusCode, Json<Release>)> {
    let app = find_app(&state, &user, &name).await?;
    let idempotency = key.with_request(&user, &format!("POST retry {}", app.id), &());
    let ended = state
        .releases
        .retry(&app, &user, idempotency)
        .await
        .map_err(|e| super::release_failure(&name, e))?;
    tracing::info!(app = %name, release = ended.version, "retried");
    Ok((StatusCode::CREATED, Json(ended)))
}

/// One release with its config vars (values redacted for a viewer).
pub async fn info(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    granted: Granted,
    Path((name, version)): Path<(String, String)>,
) -> ApiResult<Json<Release>> {
    let app = find_app(&state, &user, &name).await?;
    let number = version_of(&version)?;
    let found = state
        .store
        .call(move |db| db.release(&app.id, number))
        .await?;
    let mut release = found.ok_or_else(|| release_not_found(&name, number))?;
    release.config_vars = granted.shown(release.config_vars);
    Ok(Json(release))
}

/// `{"rollback_to": N}`: a new release with vN's build and config vars, no rebuild (DESIGN §3.4).
pub async fn rollback(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(name): Path<String>,
    key: IdempotencyKey,
    note: AuditNote,
    ApiJson(body): ApiJson<CreateRelease>,
) -> ApiResult<(StatusCode, Json<Release>)> {
    note.set("rollback_to", body.rollback_to);
    let app = find_app(&state, &user, &name).await?;
    let target = body.rollback_to;
    let idempotency = key.with_request(&user, &format!("POST releases {}", app.id), &target);
    let ended = state
        .releases
        .rollback(&app, &user, target, idempotency)
        .await
        .map_err(|e| super::release_failure(&name, e))?;
    tracing::info!(app = %name, release = ended.version, from = target, "rolled back");
    Ok((StatusCode::CREATED, Json(ended)))
}

fn release_not_found(app: &str, version: u32) -> ApiFailure {
    ApiFailure::not_found(format!("app {app:?} has no release v{version}"))
        .hint("run `paas releases` to list them")
}
