//! `/apps/{app}/builds`: the builds of pushed commits, and their output (streamed while running).

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use futures_util::stream;
use paas_share::models::{Build, Role};
use tokio::sync::broadcast;

use super::{ApiFailure, ApiResult, AppState, CurrentUser, find_app};
use crate::data_dir::is_id;
use crate::store::AppRecord;

pub async fn list(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(name): Path<String>,
) -> ApiResult<Json<Vec<Build>>> {
    let app = find_app(&state, &user, &name).await?;
    Ok(Json(state.store.call(move |db| db.builds(&app.id)).await?))
}

pub async fn info(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path((name, id)): Path<(String, String)>,
) -> ApiResult<Json<Build>> {
    let app = find_app(&state, &user, &name).await?;
    let found = if is_id(&id) {
        state.store.call(move |db| db.build(&app.id, &id)).await?
    } else {
        None
    };
    found.map(Json).ok_or_else(|| build_not_found(&name))
}

/// The build's output as text: all of it for a finished build; for a running one, what it printed
/// so far and then each line as it comes, until the build ends.
pub async fn output(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    headers: axum::http::HeaderMap,
    Path((name, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let app: AppRecord = find_app(&state, &user, &name).await?;
    if !is_id(&id) {
        return Err(build_not_found(&name));
    }
    let text = [(header::CONTENT_TYPE, "text/plain; charset=utf-8")];
    if let Some((past, rx)) = state.builds.subscribe(&id) {
        let past: String = past.iter().map(|l| format!("{l}\n")).collect();
        let rest = stream::unfold(rx, |mut rx| async move {
            let text = match rx.recv().await {
                Ok(line) => format!("{line}\n"),
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    format!("[{n} lines skipped: this reader fell behind]\n")
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            };
            Some((Ok::<_, std::io::Error>(text), rx))
        });
        let body = futures_util::StreamExt::chain(stream::once(async move { Ok(past) }), rest);
        let revoked = super::guard::revoked(state, headers, name, Role::Viewer);
        return Ok((
            text,
            Body::from_stream(super::guard::until_revoked(body, revoked)),
        )
            .into_response());
    }
    let app_id = app.id.clone();
    let stored = state
        .store
        .call(move |db| db.build_output(&app_id, &id))
        .await?;
    let output = stored.ok_or_else(|| build_not_found(&name))?;
    Ok((text, output).into_response())
}

fn build_not_found(app: &str) -> ApiFailure {
    ApiFailure::not_found(format!("app {app:?} has no such build"))
        .hint("run `paas builds` to list them")
}
