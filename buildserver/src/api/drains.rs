//! `/apps/{app}/log-drains` (Heroku's path): where the app's log is forwarded
//! ([`crate::drains`]).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use paas_share::models::{CreateDrain, Drain};
use paas_share::names::excerpt;

use super::{ApiFailure, ApiJson, ApiResult, AppState, CurrentUser, find_app};
use crate::drains::Target;

/// The most drains one app may have.
const MAX_DRAINS_PER_APP: usize = 5;

pub async fn list(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(name): Path<String>,
) -> ApiResult<Json<Vec<Drain>>> {
    let app = find_app(&state, &user, &name).await?;
    let records = state.store.call(move |db| db.drains(&app.id)).await?;
    Ok(Json(
        records.into_iter().map(|r| state.drains.shown(r)).collect(),
    ))
}

/// Adds a drain and starts forwarding to it. A receiver that is down does not refuse it: the
/// drain shows `failing` with the reason, and keeps trying.
pub async fn create(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<CreateDrain>,
) -> ApiResult<(StatusCode, Json<Drain>)> {
    let app = find_app(&state, &user, &name).await?;
    let target = Target::parse(&body.url).map_err(ApiFailure::invalid)?;
    if let Some(why) = state.drains.targets().refusal(target.host()) {
        return Err(ApiFailure::invalid(why).hint("give a drain at a public address"));
    }
    let url = target.to_string();
    let record = state
        .store
        .call(move |db| {
            if db.drains(&app.id)?.len() >= MAX_DRAINS_PER_APP {
                return Err(ApiFailure::invalid(format!(
                    "app {name:?} has {MAX_DRAINS_PER_APP} drains, the most one app may have"
                ))
                .hint("remove one with `paas drains:remove ID`"));
            }
            Ok(db.add_drain(&app.id, &url)?)
        })
        .await?;
    if let Err(e) = state.drains.sync().await {
        return Err(ApiFailure::internal(&e, "cannot start a log drain"));
    }
    Ok((StatusCode::CREATED, Json(state.drains.shown(record))))
}

/// Removes the drain named by its id or its URL (any spelling of it), as Heroku's API does.
pub async fn destroy(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path((name, id)): Path<(String, String)>,
) -> ApiResult<Json<Drain>> {
    let app = find_app(&state, &user, &name).await?;
    let url = Target::parse(&id).map(|t| t.to_string()).ok();
    let wanted = id.clone();
    let removed = state
        .store
        .call(move |db| {
            let found = db
                .drains(&app.id)?
                .into_iter()
                .find(|d| d.id == wanted || Some(&d.url) == url.as_ref());
            if let Some(drain) = &found {
                db.delete_drain(&app.id, &drain.id)?;
            }
            Ok::<_, crate::store::StoreError>(found)
        })
        .await?;
    let Some(removed) = removed else {
        return Err(
            ApiFailure::not_found(format!("app {name:?} has no drain {:?}", excerpt(&id)))
                .hint("`paas drains` lists them"),
        );
    };
    let shown = state.drains.shown(removed);
    if let Err(e) = state.drains.sync().await {
        return Err(ApiFailure::internal(&e, "cannot stop a log drain"));
    }
    Ok(Json(shown))
}
