//! `/apps/{app}/canary`: the canary that runs beside the app's release, with both sides'
//! figures, its promotion and abort by hand, and how the app's canaries run
//! ([`crate::release::Controller::start_canary`]).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use paas_share::models::{
    CanarySettings, CanarySide, CanaryStatus, Release, StartCanary, UpdateCanarySettings,
};

use super::{ApiFailure, ApiJson, ApiResult, AppState, CurrentUser, find_app};
use crate::release::CanaryError;

pub async fn show(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(name): Path<String>,
) -> ApiResult<Json<CanaryStatus>> {
    let app = find_app(&state, &user, &name).await?;
    let id = app.id.clone();
    let (canary, settings, next_push) = state
        .store
        .call(move |db| {
            Ok::<_, crate::store::StoreError>((
                db.canary(&id)?,
                db.canary_settings(&id)?,
                db.next_canary(&id)?,
            ))
        })
        .await?;
    let now = crate::unix_now();
    let sides = match (&canary, state.metrics.canary_figures(&app.id)) {
        (Some(canary), Some((baseline, side))) => {
            let minutes = (now - canary.started_at).max(1) as f64 / 60.0;
            let figures = |release, m: &crate::metrics::Minute| CanarySide {
                release,
                requests: m.total_requests(),
                requests_per_minute: m.total_requests() as f64 / minutes,
                server_errors_percent: m.server_error_percent(),
                p95_ms: m.latency_quantile(0.95),
            };
            vec![
                figures(canary.baseline, &baseline),
                figures(canary.release, &side),
            ]
        }
        _ => Vec::new(),
    };
    let promotes_in_seconds = canary.as_ref().and_then(|c| {
        let end = c.started_at + i64::from(c.duration_seconds?);
        Some(u64::try_from(end - now).unwrap_or(0))
    });
    Ok(Json(CanaryStatus {
        canary,
        sides,
        promotes_in_seconds,
        settings,
        next_push,
    }))
}

/// Changes how the app's canaries run (a canary that runs keeps the settings it started with).
pub async fn update_settings(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(name): Path<String>,
    ApiJson(update): ApiJson<UpdateCanarySettings>,
) -> ApiResult<Json<CanarySettings>> {
    let app = find_app(&state, &user, &name).await?;
    check(
        update.weight.flatten(),
        update.duration_seconds.flatten(),
        update.max_5xx_points,
        update.max_p95_factor,
    )?;
    let id = app.id.clone();
    let settings = state
        .store
        .call(move |db| {
            let before = db.canary_settings(&id)?;
            let after = CanarySettings {
                weight: update.weight.unwrap_or(before.weight),
                duration_seconds: update.duration_seconds.unwrap_or(before.duration_seconds),
                max_5xx_points: update.max_5xx_points.unwrap_or(before.max_5xx_points),
                max_p95_factor: update.max_p95_factor.unwrap_or(before.max_p95_factor),
            };
            db.set_canary_settings(&id, &after)?;
            Ok::<_, crate::store::StoreError>(after)
        })
        .await?;
    Ok(Json(settings))
}

/// Refuses a weight outside 1 to 99, a duration outside 10 s to 7 days, a 5xx threshold
/// outside 0 to under 100 points or a p95 factor outside 1 to 100.
fn check(
    weight: Option<u8>,
    duration_seconds: Option<u32>,
    max_5xx_points: Option<f64>,
    max_p95_factor: Option<f64>,
) -> Result<(), ApiFailure> {
    if let Some(weight) = weight
        && !(1..=99).contains(&weight)
    {
        return Err(ApiFailure::invalid(format!(
            "a canary's weight is a percent from 1 to 99, not {weight}"
        )));
    }
    if duration_seconds.is_some_and(|s| !(10..=7 * 24 * 3600).contains(&s)) {
        return Err(ApiFailure::invalid(
            "a canary's duration is from 10 s to 7 days".to_owned(),
        ));
    }
    if max_5xx_points.is_some_and(|p| !(p.is_finite() && (0.0..100.0).contains(&p))) {
        return Err(ApiFailure::invalid(
            "the 5xx threshold is from 0 to under 100 percentage points over the baseline's"
                .to_owned(),
        ));
    }
    if max_p95_factor.is_some_and(|f| !(f.is_finite() && (1.0..=100.0).contains(&f))) {
        return Err(ApiFailure::invalid(
            "the p95 threshold is a factor of the baseline's p95 from 1 to 100".to_owned(),
        ));
    }
    Ok(())
}

/// Makes the app's next push a canary (`paas canary:start`), with the app's settings where
/// `start` leaves them out. Answers with what the next push will use.
pub async fn start_next(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(name): Path<String>,
    ApiJson(start): ApiJson<StartCanary>,
) -> ApiResult<Json<CanarySettings>> {
    let app = find_app(&state, &user, &name).await?;
    check(
        Some(start.weight),
        start.duration_seconds.flatten(),
        start.max_5xx_points,
        start.max_p95_factor,
    )?;
    let id = app.id.clone();
    let next = state
        .store
        .call(move |db| {
            let settings = db.canary_settings(&id)?;
            let next = CanarySettings {
                weight: Some(start.weight),
                duration_seconds: start.duration_seconds.unwrap_or(settings.duration_seconds),
                max_5xx_points: start.max_5xx_points.unwrap_or(settings.max_5xx_points),
                max_p95_factor: start.max_p95_factor.unwrap_or(settings.max_p95_factor),
            };
            db.set_next_canary(&id, &next)?;
            Ok::<_, crate::store::StoreError>(next)
        })
        .await?;
    Ok(Json(next))
}

/// Forgets the canary set for the app's next push; answers with it, 404 when none was.
pub async fn cancel_next(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(name): Path<String>,
) -> ApiResult<Json<CanarySettings>> {
    let app = find_app(&state, &user, &name).await?;
    let id = app.id.clone();
    let next = state
        .store
        .call(move |db| {
            let next = db.next_canary(&id)?;
            db.delete_next_canary(&id)?;
            Ok::<_, crate::store::StoreError>(next)
        })
        .await?;
    next.map(Json).ok_or_else(|| {
        ApiFailure::not_found(format!("no canary is set for the next push of {name}"))
    })
}

/// Promotes the canary: its release is deployed with the app's formation (the baseline's dynos
/// drain and stop). Answers with the release, once it runs.
pub async fn promote(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(name): Path<String>,
) -> ApiResult<Json<Release>> {
    decide(&state, &user, &name, Decision::Promote).await
}

/// Aborts the canary: no more requests go to it, its dynos stop, its release is failed.
pub async fn abort(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(name): Path<String>,
) -> ApiResult<Json<Release>> {
    decide(&state, &user, &name, Decision::Abort).await
}

enum Decision {
    Promote,
    Abort,
}

/// Promotes or aborts the app's canary in `user`'s name; answers with its release as it ended.
async fn decide(
    state: &AppState,
    user: &crate::store::User,
    name: &str,
    decision: Decision,
) -> ApiResult<Json<Release>> {
    let app = find_app(state, user, name).await?;
    let (app_ref, why) = (app.app_ref(), format!("by {}", user.name));
    let version = match decision {
        Decision::Promote => state.releases.promote_canary(&app_ref, &why).await,
        Decision::Abort => state.releases.abort_canary(&app_ref, &why).await,
    }
    .map_err(failure)?;
    let id = app.id.clone();
    state
        .store
        .call(move |db| db.release(&id, version))
        .await?
        .map(Json)
        .ok_or_else(|| ApiFailure::not_found("the app was destroyed meanwhile"))
}

fn failure(e: CanaryError) -> ApiFailure {
    match e {
        CanaryError::NoCanary => ApiFailure::new(
            StatusCode::CONFLICT,
            "conflict",
            "the app has no canary running",
        )
        .hint("start one with a push: git push -o canary=10 paas main"),
        CanaryError::Refused(message) => ApiFailure::invalid(message),
        e @ CanaryError::Promotion(..) => {
            super::scheduler_failure("promotion", &anyhow::anyhow!("{e}"))
        }
        CanaryError::Deploy(e) => ApiFailure::internal(&anyhow::Error::from(e), "canary"),
        CanaryError::Store(e) => e.into(),
    }
}
