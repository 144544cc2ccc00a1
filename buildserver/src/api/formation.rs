//! `/apps/{app}/formation`: how many dynos of each process type the app should run.

use axum::Json;
use axum::extract::{Path, State};
use paas_share::models::{Formation, FormationPatch, MAX_QUANTITY};

use super::{ApiFailure, ApiJson, ApiResult, AppState, CurrentUser, find_app};

pub async fn show(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(name): Path<String>,
) -> ApiResult<Json<Vec<Formation>>> {
    let app = find_app(&state, &user, &name).await?;
    Ok(Json(
        state.store.call(move |db| db.formation(&app.id)).await?,
    ))
}

/// `{"web": 2, "worker": 1}`: sets only the named types, each of which the newest release must
/// define. Scaling records no release (DESIGN §3.4).
pub async fn update(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(name): Path<String>,
    ApiJson(patch): ApiJson<FormationPatch>,
) -> ApiResult<Json<Vec<Formation>>> {
    if patch.is_empty() {
        return Err(ApiFailure::invalid("no process types given")
            .hint("send {\"web\": 2} to run two web dynos"));
    }
    if let Some((process_type, quantity)) = patch.iter().find(|(_, q)| **q > MAX_QUANTITY) {
        return Err(ApiFailure::invalid(format!(
            "cannot scale {process_type} to {quantity}: at most {MAX_QUANTITY} dynos per process type"
        )));
    }
    let app = find_app(&state, &user, &name).await?;
    let record = app.clone();
    let formation = state
        .store
        .call(move |db| {
            let types = db
                .latest_release(&app.id)?
                .filter(|r| r.build_id.is_some())
                .map(|r| r.process_types);
            let Some(types) = types else {
                return Err(ApiFailure::invalid(format!(
                    "app {name:?} has no process types yet: it has not been built"
                ))
                .hint("push code first: git push paas main"));
            };
            if let Some(unknown) = patch.keys().find(|t| !types.contains_key(*t)) {
                let known: Vec<&str> = types.keys().map(String::as_str).collect();
                return Err(ApiFailure::invalid(format!(
                    "unknown process type {unknown:?}; the current release has: {}",
                    if known.is_empty() {
                        "none".to_owned()
                    } else {
                        known.join(", ")
                    }
                )));
            }
            Ok(db.update_formation(&app.id, &patch)?)
        })
        .await?;
    let app_id = record.id.clone();
    if let Some(release) = state
        .store
        .call(move |db| db.running_release(&app_id))
        .await?
    {
        super::deploy(&state, &record, &release).await?;
    }
    Ok(Json(formation))
}
