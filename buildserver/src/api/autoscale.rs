//! `/apps/{app}/autoscale`: which process types the autoscaler manages, within which range and
//! to which targets, and its last decisions ([`crate::autoscale`]).

use axum::Json;
use axum::extract::{Path, State};
use paas_share::models::{AutoscaleRule, AutoscaleSettings, Autoscaling};
use paas_share::names::excerpt;

use super::{ApiFailure, ApiJson, ApiResult, AppState, CurrentUser, find_app};
use crate::scheduler::RELEASE_PHASE_TYPE;

pub async fn show(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(name): Path<String>,
) -> ApiResult<Json<Autoscaling>> {
    let app = find_app(&state, &user, &name).await?;
    let autoscaling = state
        .store
        .call(move |db| {
            Ok::<_, crate::store::StoreError>(Autoscaling {
                rules: db.autoscale_rules(&app.id)?,
                decisions: db.autoscale_decisions(&app.id)?,
            })
        })
        .await?;
    Ok(Json(autoscaling))
}

/// Sets `process_type`'s range and targets (replacing earlier ones). The running release must
/// define the type. The autoscaler applies it at its next look: a count outside the range goes
/// to the nearest bound then.
pub async fn update(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path((name, process_type)): Path<(String, String)>,
    ApiJson(settings): ApiJson<AutoscaleSettings>,
) -> ApiResult<Json<AutoscaleRule>> {
    let app = find_app(&state, &user, &name).await?;
    crate::autoscale::check(
        &process_type,
        &settings,
        state.releases.max_dynos_per_app(),
        state.scheduler.routes_web(),
        state.scheduler.autoscales_cpu(),
    )
    .map_err(|r| ApiFailure::invalid(r.message).hint(r.hint))?;
    let (app_id, wanted) = (app.id.clone(), process_type.clone());
    let rules = state
        .store
        .call(move |db| {
            let Some(types) = db.running_release(&app_id)?.map(|r| r.process_types) else {
                return Err(ApiFailure::invalid(format!(
                    "app {name:?} has no running release: push code before autoscaling it"
                ))
                .hint("git push paas main"));
            };
            if wanted == RELEASE_PHASE_TYPE || !types.contains_key(&wanted) {
                let known: Vec<&str> = types
                    .keys()
                    .map(String::as_str)
                    .filter(|t| *t != RELEASE_PHASE_TYPE)
                    .collect();
                return Err(ApiFailure::invalid(format!(
                    "unknown process type {:?}; the current release has: {}",
                    excerpt(&wanted),
                    known.join(", ")
                )));
            }
            db.put_autoscale(&app_id, &wanted, &settings)?;
            Ok(db.autoscale_rules(&app_id)?)
        })
        .await?;
    publish(&state, &app, &rules).await?;
    let rule = rules
        .into_iter()
        .find(|r| r.process_type == process_type)
        .ok_or_else(|| ApiFailure::not_found("the app was destroyed meanwhile"))?;
    Ok(Json(rule))
}

/// Stops autoscaling `process_type`: its count stays where the autoscaler left it.
pub async fn destroy(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path((name, process_type)): Path<(String, String)>,
) -> ApiResult<Json<AutoscaleRule>> {
    let app = find_app(&state, &user, &name).await?;
    let (app_id, wanted) = (app.id.clone(), process_type.clone());
    let (removed, rules) = state
        .store
        .call(move |db| {
            let removed = db
                .autoscale_rules(&app_id)?
                .into_iter()
                .find(|r| r.process_type == wanted);
            if removed.is_some() {
                db.delete_autoscale(&app_id, &wanted)?;
            }
            Ok::<_, crate::store::StoreError>((removed, db.autoscale_rules(&app_id)?))
        })
        .await?;
    let Some(removed) = removed else {
        return Err(ApiFailure::not_found(format!(
            "{:?} of app {name:?} is not autoscaled",
            excerpt(&process_type)
        ))
        .hint("`paas autoscale` lists the autoscaled types"));
    };
    publish(&state, &app, &rules).await?;
    Ok(Json(removed))
}

/// Hands the app's rules to a scheduler that autoscales by itself (Kubernetes).
async fn publish(
    state: &AppState,
    app: &crate::store::AppRecord,
    rules: &[AutoscaleRule],
) -> ApiResult<()> {
    state
        .scheduler
        .publish_autoscaling(&app.app_ref(), rules)
        .await
        .map_err(|e| super::scheduler_failure("cannot publish the autoscaling rules", &e))
}
