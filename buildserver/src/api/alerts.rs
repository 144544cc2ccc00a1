//! `/apps/{app}/alerts`: webhooks called on crashes, failed releases and thresholds
//! ([`crate::alerts`]).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use paas_share::models::{Alert, CreateAlert};
use paas_share::names::excerpt;

use super::{ApiFailure, ApiJson, ApiResult, AppState, CurrentUser, find_app};
use crate::alerts::{Trigger, check_webhook};
use crate::store::AlertRecord;

/// The most alerts one app may have.
const MAX_ALERTS_PER_APP: usize = 20;

fn shown(state: &AppState, record: AlertRecord) -> Alert {
    Alert {
        firing: state.alerts.firing(&record.id),
        id: record.id,
        on: record.trigger,
        webhook: record.webhook,
        secret: None,
        created_at: record.created_at,
        last_delivery: record.last_delivery,
    }
}

pub async fn list(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(name): Path<String>,
) -> ApiResult<Json<Vec<Alert>>> {
    let app = find_app(&state, &user, &name).await?;
    let records = state.store.call(move |db| db.alerts(&app.id)).await?;
    Ok(Json(
        records.into_iter().map(|r| shown(&state, r)).collect(),
    ))
}

/// Adds an alert; the answer holds its signing secret, which is never shown again.
pub async fn create(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<CreateAlert>,
) -> ApiResult<(StatusCode, Json<Alert>)> {
    let app = find_app(&state, &user, &name).await?;
    let trigger = Trigger::parse(&body.on).map_err(|e| {
        ApiFailure::invalid(e).hint("for example --on crash, --on p95>300ms or --on 5xx>2%")
    })?;
    let webhook = check_webhook(&body.webhook).map_err(ApiFailure::invalid)?;
    if let Some(why) = state.alerts.targets().url_refusal(&webhook) {
        return Err(ApiFailure::invalid(why).hint("give a webhook at a public address"));
    }
    let secret = format!("whsec_{}", crate::token::random_hex(24));
    let (app_id, key) = (app.id.clone(), secret.clone());
    let record = state
        .store
        .call(move |db| {
            if db.alerts(&app_id)?.len() >= MAX_ALERTS_PER_APP {
                return Err(ApiFailure::invalid(format!(
                    "app {name:?} has {MAX_ALERTS_PER_APP} alerts, the most one app may have"
                ))
                .hint("remove one with `paas alerts:remove ID`"));
            }
            Ok(db.add_alert(&app_id, &trigger.to_string(), &webhook, &key)?)
        })
        .await?;
    let mut alert = shown(&state, record);
    alert.secret = Some(secret);
    Ok((StatusCode::CREATED, Json(alert)))
}

pub async fn destroy(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path((name, id)): Path<(String, String)>,
) -> ApiResult<Json<Alert>> {
    let app = find_app(&state, &user, &name).await?;
    let wanted = id.clone();
    let removed = state
        .store
        .call(move |db| {
            let found = db.alerts(&app.id)?.into_iter().find(|a| a.id == wanted);
            if found.is_some() {
                db.delete_alert(&app.id, &wanted)?;
            }
            Ok::<_, crate::store::StoreError>(found)
        })
        .await?;
    let Some(removed) = removed else {
        return Err(
            ApiFailure::not_found(format!("app {name:?} has no alert {:?}", excerpt(&id)))
                .hint("`paas alerts` lists them"),
        );
    };
    Ok(Json(shown(&state, removed)))
}
