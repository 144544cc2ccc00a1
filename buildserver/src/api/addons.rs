//! Add-ons (Heroku's Add-on and Add-on Attachment objects): `GET|POST /apps/{app}/addons`,
//! `GET|DELETE /addons/{addon}`, `POST /addons/{addon}/attachments`, `DELETE
//! /addons/{addon}/attachments/{app}`, credential rotation, PostgreSQL backups (list, capture,
//! download, restore) and client sessions (`paas pg:psql`, `redis:cli`: a one-off dyno of the
//! services image to attach to). An add-on is reached by users of the app that owns it; users of
//! an app it is attached to may see it and detach it from their app ([`Access`]); to others it
//! does not exist. No route ever answers with its credentials.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use paas_share::models::{
    Addon, AddonAttachment, AttachAddon, Backup, CreateAddon, CreateDyno, Dyno, Release, Role,
};

use super::{
    ApiFailure, ApiJson, ApiQuery, ApiResult, AppState, CurrentUser, RequestHost, find_app,
};
use crate::addons::{Access, AddonError};
use crate::store::AddonRecord;

pub async fn list(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(app): Path<String>,
) -> ApiResult<Json<Vec<Addon>>> {
    let app = find_app(&state, &user, &app).await?;
    Ok(Json(state.addons.list(&app).await.map_err(failure)?))
}

pub async fn create(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(app): Path<String>,
    note: super::guard::AuditNote,
    ApiJson(body): ApiJson<CreateAddon>,
) -> ApiResult<(StatusCode, Json<Addon>)> {
    note.set("kind", paas_share::names::excerpt(&body.kind));
    let app = find_app(&state, &user, &app).await?;
    let (addon, release) = state
        .addons
        .create(&app, &user, body)
        .await
        .map_err(failure)?;
    tracing::info!(app = %app.name, addon = %addon.name, release = release.version, user = %user.name, "add-on created");
    Ok((StatusCode::CREATED, Json(addon)))
}

pub async fn info(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(addon): Path<String>,
) -> ApiResult<Json<Addon>> {
    let record = find(&state, &user, &addon, Access::Attached).await?;
    Ok(Json(state.addons.view(&record).await.map_err(failure)?))
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DestroyQuery {
    /// Detach it from every app first (one release each).
    #[serde(default)]
    force: bool,
}

pub async fn destroy(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(addon): Path<String>,
    ApiQuery(query): ApiQuery<DestroyQuery>,
) -> ApiResult<Json<Addon>> {
    let record = find(&state, &user, &addon, Access::Owner).await?;
    let view = state.addons.view(&record).await.map_err(failure)?;
    state
        .addons
        .destroy(&record, &user, query.force)
        .await
        .map_err(failure)?;
    Ok(Json(Addon {
        state: "destroyed".to_owned(),
        attachments: Vec::new(),
        ..view
    }))
}

pub async fn attach(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(addon): Path<String>,
    ApiJson(body): ApiJson<AttachAddon>,
) -> ApiResult<(StatusCode, Json<AddonAttachment>)> {
    let record = find(&state, &user, &addon, Access::Owner).await?;
    let app = super::guard::app_needing(&state, &user, &body.app, Role::Admin).await?;
    let (attachment, _) = state
        .addons
        .attach(&record, &app, &user, body.attach_as.as_deref())
        .await
        .map_err(failure)?;
    Ok((StatusCode::CREATED, Json(attachment)))
}

pub async fn detach(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path((addon, app)): Path<(String, String)>,
) -> ApiResult<Json<Release>> {
    let record = find(&state, &user, &addon, Access::Attached).await?;
    let app = find_app(&state, &user, &app).await?;
    Ok(Json(
        state
            .addons
            .detach(&record, &app, &user)
            .await
            .map_err(failure)?,
    ))
}

pub async fn rotate(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(addon): Path<String>,
) -> ApiResult<Json<Vec<Release>>> {
    let record = find(&state, &user, &addon, Access::Owner).await?;
    Ok(Json(
        state.addons.rotate(&record, &user).await.map_err(failure)?,
    ))
}

pub async fn backups(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(addon): Path<String>,
) -> ApiResult<Json<Vec<Backup>>> {
    let record = find(&state, &user, &addon, Access::Owner).await?;
    Ok(Json(state.addons.backups(&record).await.map_err(failure)?))
}

pub async fn capture(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(addon): Path<String>,
) -> ApiResult<(StatusCode, Json<Backup>)> {
    let record = find(&state, &user, &addon, Access::Owner).await?;
    let backup = state.addons.capture(&record).await.map_err(failure)?;
    Ok((StatusCode::CREATED, Json(backup)))
}

/// The backup's bytes (`pg_dump` custom format), streamed, with its length.
pub async fn download(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path((addon, backup)): Path<(String, String)>,
) -> ApiResult<Response> {
    let record = find(&state, &user, &addon, Access::Owner).await?;
    let (file, size) = state
        .addons
        .backup_file(&record, &backup)
        .await
        .map_err(failure)?;
    let stream =
        tokio_util::io::ReaderStream::with_capacity(tokio::fs::File::from_std(file), 256 * 1024);
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
            (header::CONTENT_LENGTH, size.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{}-{backup}.dump\"", record.name),
            ),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}

pub async fn restore(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path((addon, backup)): Path<(String, String)>,
) -> ApiResult<Json<Backup>> {
    let record = find(&state, &user, &addon, Access::Owner).await?;
    state
        .addons
        .restore(&record, &backup)
        .await
        .map_err(failure)?;
    let backups = state.addons.backups(&record).await.map_err(failure)?;
    let restored = backups
        .into_iter()
        .find(|b| b.id == backup)
        .ok_or_else(|| ApiFailure::not_found(format!("backup {backup} is gone")))?;
    Ok(Json(restored))
}

/// A one-off dyno running the add-on's client (`psql`, `redis-cli`) connected as the app, to
/// attach to as `paas run` does: `tty` gives it a terminal; `command` must be empty.
pub async fn session(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    host: RequestHost,
    Path(addon): Path<String>,
    ApiJson(body): ApiJson<CreateDyno>,
) -> ApiResult<(StatusCode, Json<Dyno>)> {
    let record = find(&state, &user, &addon, Access::Owner).await?;
    // The add-on's own client, with nothing that changes what it runs or where it connects.
    if !body.command.is_empty() || body.env.keys().any(|k| k != "TERM") {
        return Err(ApiFailure::invalid(
            "a session runs the add-on's own client: leave the command out, and give no variables but TERM",
        )
        .hint("for other commands, use paas run"));
    }
    let (deployment, command, env) = state.addons.client(&record).await.map_err(failure)?;
    let mut request = super::one_offs::checked(CreateDyno {
        command,
        attach: true,
        ..body
    })?;
    request.env.extend(env);
    let mut dyno = state
        .one_offs
        .create(deployment, request)
        .map_err(super::one_offs::failure)?;
    let authority = host.0.as_deref().unwrap_or("localhost");
    dyno.attach_url = Some(format!(
        "ws://{authority}/apps/{}/dynos/{}/attach",
        record.app_name, dyno.name
    ));
    tracing::info!(addon = %record.name, dyno = %dyno.name, user = %user.name, "add-on client session created");
    Ok((StatusCode::CREATED, Json(dyno)))
}

async fn find(
    state: &AppState,
    user: &crate::store::User,
    name: &str,
    access: Access,
) -> ApiResult<AddonRecord> {
    state
        .addons
        .find(user, name, access)
        .await
        .map(|(record, _)| record)
        .map_err(failure)
}

/// How an add-on request failed, as the API answers it.
pub(super) fn failure(e: AddonError) -> ApiFailure {
    match e {
        AddonError::UnknownKind(kind) => {
            ApiFailure::invalid(format!("there is no add-on kind {kind:?}"))
                .hint("paas addons:create postgresql, or paas addons:create redis")
        }
        AddonError::NotFound(name) => ApiFailure::not_found(format!(
            "there is no add-on {}",
            paas_share::names::excerpt(&name)
        ))
        .hint("`paas addons -a APP` lists an app's add-ons"),
        AddonError::Refused { message, hint } => ApiFailure::invalid(message).hint(hint),
        AddonError::NameTaken(message) => ApiFailure::invalid(message)
            .hint("give another name with --as, or detach the add-on that has it first"),
        AddonError::Busy { addon, busy } => ApiFailure::new(
            StatusCode::CONFLICT,
            "addon_busy",
            format!(
                "{addon} is busy with {} (running for {} s): nothing was started",
                busy.what,
                busy.running_for.as_secs()
            ),
        )
        .hint("run this again once it has ended (`paas logs` shows how it goes)"),
        AddonError::Destroyed(name) => ApiFailure::not_found(format!(
            "add-on {name} was destroyed while this ran: its task was stopped, and its data and backups are gone"
        )),
        AddonError::Incomplete { message, hint } => {
            ApiFailure::new(StatusCode::UNPROCESSABLE_ENTITY, "release_failed", message).hint(hint)
        }
        AddonError::Failed(message) => {
            ApiFailure::new(StatusCode::BAD_GATEWAY, "addon_failed", message).hint(
                "`paas logs --ps ADDON` shows the service's output; nothing was left half made",
            )
        }
        AddonError::Release(e) => super::release_failure("", e),
        AddonError::Store(e) => e.into(),
        AddonError::Internal(e) => ApiFailure::internal(&e, "add-on request failed"),
    }
}
