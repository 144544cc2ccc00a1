//! `/apps/{app}/releases`: list and show releases, and roll back by creating a new one.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use paas_share::models::{CreateRelease, Release, ReleaseStatus, parse_release_version};

use super::{ApiFailure, ApiJson, ApiResult, AppState, CurrentUser, find_app};
use crate::release;

pub async fn list(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(name): Path<String>,
) -> ApiResult<Json<Vec<Release>>> {
    let app = find_app(&state, &user, &name).await?;
    Ok(Json(
        state.store.call(move |db| db.releases(&app.id)).await?,
    ))
}

pub async fn info(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path((name, version)): Path<(String, String)>,
) -> ApiResult<Json<Release>> {
    let app = find_app(&state, &user, &name).await?;
    let number = parse_release_version(&version).ok_or_else(|| {
        ApiFailure::invalid(format!("invalid release version {version:?}"))
            .hint("use a version such as v3 or 3")
    })?;
    let found = state
        .store
        .call(move |db| db.release(&app.id, number))
        .await?;
    found
        .map(Json)
        .ok_or_else(|| release_not_found(&name, number))
}

/// `{"rollback_to": N}`: a new release with vN's build and config vars, no rebuild (DESIGN §3.4).
pub async fn rollback(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<CreateRelease>,
) -> ApiResult<(StatusCode, Json<Release>)> {
    let app = find_app(&state, &user, &name).await?;
    let record = app.clone();
    let user_name = user.name.clone();
    let layout = std::sync::Arc::clone(&state.layout);
    let target = body.rollback_to;
    let app_name = name.clone();
    let created = state
        .store
        .call(move |db| {
            let from = db
                .release(&app.id, target)?
                .ok_or_else(|| release_not_found(&app_name, target))?;
            if let Some(image) = from.image.as_deref().filter(|d| !layout.has_blob(d)) {
                return Err(ApiFailure::invalid(format!(
                    "v{target}'s image ({image}) was removed by garbage collection"
                ))
                .hint("push that code again to rebuild it, or roll back to a newer release"));
            }
            if from.image.is_none() {
                return Err(ApiFailure::invalid(format!(
                    "v{target} has no build to run: it only changed config vars before the app's \
                     first successful deploy"
                ))
                .hint("roll back to a release that deployed code (`paas releases` lists them), or set the config with `paas config set`"));
            }
            match from.status {
                ReleaseStatus::Succeeded => {}
                ReleaseStatus::Failed => {
                    return Err(ApiFailure::invalid(format!(
                        "v{target} failed to deploy; roll back to a release that succeeded"
                    ))
                    .hint("run `paas releases` to see each release's status"));
                }
                ReleaseStatus::Pending | ReleaseStatus::Deploying => {
                    return Err(ApiFailure::invalid(format!(
                        "v{target} is still {}; roll back to a release that succeeded",
                        from.status.as_str()
                    ))
                    .hint("run `paas releases` to see each release's status"));
                }
            }
            Ok(db.copy_release(
                &app.id,
                &user,
                &from,
                &release::rollback_description(target),
            )?)
        })
        .await?;
    let ended = super::announce_and_deploy(&state, &record, &created, &user_name).await?;
    tracing::info!(app = %name, release = created.version, from = target, "rolled back");
    Ok((StatusCode::CREATED, Json(ended)))
}

fn release_not_found(app: &str, version: u32) -> ApiFailure {
    ApiFailure::not_found(format!("app {app:?} has no release v{version}"))
        .hint("run `paas releases` to list them")
}
