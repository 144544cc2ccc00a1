//! `/apps/{app}/dynos`: what runs (`paas ps`), and restarting it (`paas restart`).

use axum::Json;
use axum::extract::{Path, State};
use paas_share::models::{Dyno, Restart};
use paas_share::names::excerpt;

use super::{ApiFailure, ApiJson, ApiResult, AppState, CurrentUser, find_app};

pub async fn list(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(name): Path<String>,
) -> ApiResult<Json<Vec<Dyno>>> {
    let app = find_app(&state, &user, &name).await?;
    let mut dynos = super::dynos_of(&state, &app).await?;
    dynos.extend(state.one_offs.list(&app.id));
    Ok(Json(dynos))
}

/// Replaces the app's dynos with fresh ones (all, one type, or one dyno), web dynos one at a time
/// with each new one up before its old one stops.
pub async fn restart(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<Restart>,
) -> ApiResult<Json<Vec<Dyno>>> {
    let app = find_app(&state, &user, &name).await?;
    let running = super::dynos_of(&state, &app).await?;
    let wanted = body.dyno.as_deref().or(body.process_type.as_deref());
    if let Some(wanted) = wanted
        && !running
            .iter()
            .any(|d| d.name == wanted || d.process_type == wanted)
    {
        return Err(ApiFailure::not_found(format!(
            "app {name:?} runs no dyno or process type {:?}",
            excerpt(wanted)
        ))
        .hint("run `paas ps` to see its dynos"));
    }
    let restarted = state
        .releases
        .restart(&app, wanted.map(str::to_owned))
        .await
        .map_err(super::scale_failure)?;
    if !restarted {
        return Err(
            ApiFailure::invalid(format!("app {name:?} has no release to run"))
                .hint("push code first: git push paas main"),
        );
    }
    Ok(Json(super::dynos_of(&state, &app).await?))
}
