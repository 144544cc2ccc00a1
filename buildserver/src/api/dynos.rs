//! `/apps/{app}/dynos`: what runs (`paas ps`), and restarting it (`paas restart`).

use axum::Json;
use axum::extract::{Path, State};
use paas_share::models::{Dyno, Restart};

use super::{ApiFailure, ApiJson, ApiResult, AppState, CurrentUser, find_app};

pub async fn list(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(name): Path<String>,
) -> ApiResult<Json<Vec<Dyno>>> {
    let app = find_app(&state, &user, &name).await?;
    Ok(Json(state.scheduler.status(&app.id).await))
}

/// Restarts the app's dynos by running the current release again, health-gated like any deploy
/// (new dynos first, then the old ones stop). A type or dyno name narrows what is checked to
/// exist; the release is restarted as a whole.
pub async fn restart(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<Restart>,
) -> ApiResult<Json<Vec<Dyno>>> {
    let app = find_app(&state, &user, &name).await?;
    let running = state.scheduler.status(&app.id).await;
    let wanted = body.dyno.as_deref().or(body.process_type.as_deref());
    if let Some(wanted) = wanted
        && !running
            .iter()
            .any(|d| d.name == wanted || d.process_type == wanted)
    {
        return Err(
            ApiFailure::not_found(format!("app {name:?} runs no dyno {wanted:?}"))
                .hint("run `paas ps` to see its dynos"),
        );
    }
    let app_id = app.id.clone();
    let Some(release) = state
        .store
        .call(move |db| db.running_release(&app_id))
        .await?
    else {
        return Err(
            ApiFailure::invalid(format!("app {name:?} has no release to run"))
                .hint("push code first: git push paas main"),
        );
    };
    super::deploy(&state, &app, &release).await?;
    Ok(Json(state.scheduler.status(&app.id).await))
}
