//! `/apps/{app}/formation`: how many dynos of each process type the app should run.

use axum::Json;
use axum::extract::{Path, State};
use paas_share::models::{Formation, FormationPatch};

use crate::release::ScaledBy;

use super::guard::AuditNote;
use super::{ApiJson, ApiResult, AppState, CurrentUser, find_app};

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

/// `{"web": 2, "worker": "+1"}`: through the release controller's scale path
/// ([`crate::release::Controller::scale`]), which the autoscaler uses too. Answers once the new
/// dynos are started (`GET /apps/{app}/dynos` shows them come up).
pub async fn update(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(name): Path<String>,
    note: AuditNote,
    ApiJson(patch): ApiJson<FormationPatch>,
) -> ApiResult<Json<Vec<Formation>>> {
    note.set("scale", serde_json::to_value(&patch).unwrap_or_default());
    let app = find_app(&state, &user, &name).await?;
    let formation = state
        .releases
        .scale(&app, patch, ScaledBy::User)
        .await
        .map_err(super::scale_failure)?;
    Ok(Json(formation))
}
