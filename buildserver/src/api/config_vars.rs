//! `/apps/{app}/config-vars`: read the app's config; change it, recording one release per change.

use axum::Json;
use axum::extract::{Path, State};
use paas_share::ConfigKey;
use paas_share::models::{ConfigPatch, ConfigVars, Release};
use paas_share::names::MAX_CONFIG_VALUE_BYTES;

use super::guard::{AuditNote, Granted};
use super::{ApiFailure, ApiJson, ApiResult, AppState, CurrentUser, IdempotencyKey, find_app};
use crate::scheduler::{HEALTH_CHECK_PATH_VAR, valid_health_check_path};

/// What every dyno gets from the platform, whatever the config says (as on Heroku).
const DYNO_VARS: &[&str] = &["PORT", "DYNO", "PS"];

/// The app's config vars; a viewer gets every value as [`paas_share::models::REDACTED`].
pub async fn show(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    granted: Granted,
    Path(name): Path<String>,
) -> ApiResult<Json<ConfigVars>> {
    let app = find_app(&state, &user, &name).await?;
    let vars = state.store.call(move |db| db.config_vars(&app.id)).await?;
    Ok(Json(granted.shown(vars)))
}

/// Applies `{"K": "v", "OLD": null}` and answers with the release it recorded (with an
/// `Idempotency-Key`, a repeated request gets that release again: see [`IdempotencyKey`]).
pub async fn update(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(name): Path<String>,
    key: IdempotencyKey,
    note: AuditNote,
    ApiJson(patch): ApiJson<ConfigPatch>,
) -> ApiResult<Json<Release>> {
    // Keys only: values are secrets.
    let (set, unset): (Vec<_>, Vec<_>) = patch.iter().partition(|(_, v)| v.is_some());
    note.set(
        "set",
        set.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
    );
    note.set(
        "unset",
        unset.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
    );
    if patch.is_empty() {
        return Err(ApiFailure::invalid("no config vars given")
            .hint("send {\"KEY\": \"value\"} to set, {\"KEY\": null} to unset"));
    }
    for (key, value) in &patch {
        ConfigKey::parse(key).map_err(|e| ApiFailure::invalid(e.to_string()))?;
        if DYNO_VARS.contains(&key.as_str()) && value.is_some() {
            return Err(ApiFailure::invalid(format!(
                "{key} is set by paas in every dyno (its own value for each); a config var of that name would be ignored"
            ))
            .hint("read it in the app instead of setting it"));
        }
        if value.as_ref().is_some_and(|v| v.contains('\0')) {
            return Err(ApiFailure::invalid(format!(
                "the value of {key} contains a NUL byte, which no process environment can hold"
            ))
            .hint("remove it; to pass binary data, set the value base64-encoded"));
        }
        if value
            .as_ref()
            .is_some_and(|v| v.len() > MAX_CONFIG_VALUE_BYTES)
        {
            return Err(ApiFailure::invalid(format!(
                "the value of {key} is longer than {} KiB",
                MAX_CONFIG_VALUE_BYTES / 1024
            )));
        }
        if key == HEALTH_CHECK_PATH_VAR
            && let Some(path) = value.as_deref().filter(|p| !valid_health_check_path(p))
        {
            return Err(ApiFailure::invalid(format!(
                "{HEALTH_CHECK_PATH_VAR} {path:?} is not a URL path"
            ))
            .hint(format!(
                "set it to the path web dynos answer when ready, such as {HEALTH_CHECK_PATH_VAR}=/health"
            )));
        }
    }
    let app = find_app(&state, &user, &name).await?;
    // An attachment's var follows its add-on (attach, rotate, detach), as on Heroku.
    let id = app.id.clone();
    let attached = state.store.call(move |db| db.attachment_names(&id)).await?;
    if let Some(var) = patch
        .keys()
        .find(|k| attached.iter().any(|a| format!("{a}_URL") == **k))
    {
        return Err(ApiFailure::invalid(format!(
            "{var} belongs to an add-on attached to {name}: it changes with the add-on"
        ))
        .hint("`paas addons` names it; paas addons:detach NAME removes the var, paas addons:credentials:rotate NAME changes it"));
    }
    let idempotency = key.with_request(&user, &format!("PATCH config-vars {}", app.id), &patch);
    let ended = state
        .releases
        .change_config(&app, &user, patch, idempotency)
        .await
        .map_err(|e| super::release_failure(&name, e))?;
    tracing::info!(app = %name, release = ended.version, "config changed");
    Ok(Json(ended))
}
