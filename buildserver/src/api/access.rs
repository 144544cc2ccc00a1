//! Access: `/apps/{app}/collaborators` (who may use an app, and as what), `/account/tokens`
//! (scoped tokens for CI and scripts) and the audit log (`/apps/{app}/audit`, `/audit`). Who may
//! call each is in the route table ([`super::guard`]).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use paas_share::models::{
    AddCollaborator, AuditEntry, Collaborator, CreateToken, CreatedToken, TokenInfo,
    UpdateCollaborator,
};
use paas_share::names::excerpt;
use serde::Deserialize;

use super::guard::{AuditNote, app_role, article, user_named};
use super::{ApiFailure, ApiJson, ApiQuery, ApiResult, AppState, CurrentUser, find_app};
use crate::token;

// ---- collaborators ----

pub async fn collaborators(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(name): Path<String>,
) -> ApiResult<Json<Vec<Collaborator>>> {
    let app = find_app(&state, &user, &name).await?;
    Ok(Json(
        state
            .store
            .call(move |db| db.collaborators(&app.id))
            .await?,
    ))
}

/// Gives a user a role on the app. 404 for an unknown user, 409 for one who has a role there,
/// 422 for the owner.
pub async fn add_collaborator(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    note: AuditNote,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<AddCollaborator>,
) -> ApiResult<(StatusCode, Json<Collaborator>)> {
    note.set("user", body.user.as_str());
    note.set("role", body.role.as_str());
    let app = find_app(&state, &user, &name).await?;
    let added = user_named(&state, body.user.as_str()).await?;
    if added.name == app.owner {
        return Err(ApiFailure::invalid(format!(
            "{} owns {}: an owner has every right already",
            added.name, app.name
        )));
    }
    let role = body.role;
    let collaborator = state
        .store
        .call(move |db| db.set_collaborator(&app.id, &added, role, false))
        .await
        .map_err(|e| match e {
            crate::store::StoreError::AlreadyExists(_) => ApiFailure::new(
                StatusCode::CONFLICT,
                "conflict",
                format!("{} has a role on {name} already", body.user),
            )
            .hint(format!(
                "change it with `paas access:update {} --role ROLE`",
                body.user
            )),
            other => other.into(),
        })?;
    Ok((StatusCode::CREATED, Json(collaborator)))
}

/// Changes a collaborator's role.
pub async fn update_collaborator(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    note: AuditNote,
    Path((name, who)): Path<(String, String)>,
    ApiJson(body): ApiJson<UpdateCollaborator>,
) -> ApiResult<Json<Collaborator>> {
    note.set("role", body.role.as_str());
    let app = find_app(&state, &user, &name).await?;
    let target = collaborator_of(&state, &app, &who).await?;
    let role = body.role;
    Ok(Json(
        state
            .store
            .call(move |db| db.set_collaborator(&app.id, &target, role, true))
            .await?,
    ))
}

/// Takes a collaborator's role away: their requests, streams and pushes to the app stop.
pub async fn remove_collaborator(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path((name, who)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let app = find_app(&state, &user, &name).await?;
    let target = collaborator_of(&state, &app, &who).await?;
    state
        .store
        .call(move |db| db.remove_collaborator(&app.id, &target))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Collaborator `who` of `app` (not its owner, whose role is fixed): 404 or 422 otherwise.
async fn collaborator_of(
    state: &AppState,
    app: &crate::store::AppRecord,
    who: &str,
) -> ApiResult<crate::store::User> {
    let target = user_named(state, who).await?;
    if target.name == app.owner {
        return Err(ApiFailure::invalid(format!(
            "{} owns {}: the owner's role cannot change, and the owner cannot be removed",
            target.name, app.name
        ))
        .hint("destroy the app to end it, or ask an operator to hand it over"));
    }
    let (id, name) = (app.id.clone(), target.name.clone());
    let is_one = state
        .store
        .call(move |db| db.collaborator(&id, &name))
        .await?
        .is_some();
    if !is_one {
        return Err(
            ApiFailure::not_found(format!("{} has no role on {}", target.name, app.name))
                .hint(format!("`paas access -a {}` lists who has", app.name)),
        );
    }
    Ok(target)
}

// ---- tokens ----

/// The longest a scoped token may live: ten years (of 365.25 days), in seconds.
const MAX_TOKEN_SECONDS: u64 = 315_576_000;

/// The furthest back the audit log is read: a hundred years (of 365.25 days), in seconds.
const MAX_AUDIT_SECONDS: u64 = 3_155_760_000;

pub async fn tokens(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
) -> ApiResult<Json<Vec<TokenInfo>>> {
    let max_age = state.token_max_age;
    Ok(Json(
        state
            .store
            .call(move |db| db.tokens(&user, max_age))
            .await?,
    ))
}

/// Makes a scoped token; the answer is the only place its secret appears.
pub async fn create_token(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    note: AuditNote,
    ApiJson(body): ApiJson<CreateToken>,
) -> ApiResult<(StatusCode, Json<CreatedToken>)> {
    note.set("role", body.role.as_str());
    let description = body.description.trim().to_owned();
    if description.is_empty()
        || description.chars().count() > 100
        || description.chars().any(char::is_control)
    {
        return Err(ApiFailure::invalid(
            "a token's description is 1 to 100 characters, without control characters",
        )
        .hint("say what holds it: --description \"GitHub Actions deploy\""));
    }
    if body
        .expires_in
        .is_some_and(|s| s == 0 || s > MAX_TOKEN_SECONDS)
    {
        return Err(ApiFailure::invalid(
            "a token expires in 1 second to 10 years (expires_in is in seconds)",
        ));
    }
    let app_id = match &body.app {
        None => None,
        Some(name) => {
            let (app, had) = app_role(&state, &user, name.as_str()).await?;
            note.app(&app.id, app.name.as_str());
            if had < body.role {
                return Err(ApiFailure::invalid(format!(
                    "you are {} {had} of {name}: a token of yours cannot be {} {}",
                    article(had),
                    article(body.role),
                    body.role
                ))
                .hint(format!("ask for --role {had} or less")));
            }
            Some(app.id)
        }
    };
    let new = token::generate();
    note.set("token", new.id.as_str());
    note.set("description", excerpt(&description));
    let role = body.role;
    let info = state
        .store
        .call(move |db| {
            db.create_token(
                &user,
                &new,
                &description,
                app_id.as_deref(),
                role,
                body.expires_in,
            )
            .map(|info| CreatedToken {
                info,
                token: new.token.clone(),
            })
        })
        .await?;
    Ok((StatusCode::CREATED, Json(info)))
}

/// Revokes one of the caller's tokens (the one in use too, if asked).
pub async fn revoke_token(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    note: AuditNote,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let wanted = id.clone();
    let revoked = state
        .store
        .call(move |db| db.revoke_token(&user, &wanted))
        .await?;
    if let Some(scope) = revoked {
        // Filed under the app a scoped token was for, so that the app's admins see it.
        if let Some((app_id, app)) = scope {
            note.app(&app_id, &app);
        }
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(
            ApiFailure::not_found(format!("you have no token {:?}", excerpt(&id)))
                .hint("`paas tokens` lists yours, with their ids"),
        )
    }
}

// ---- audit ----

/// `?since=SECONDS&limit=N` of the audit routes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// How far back, in seconds (default a week).
    #[serde(default = "a_week")]
    since: u64,
    /// The most entries, newest kept (default 100, at most 1000).
    #[serde(default = "a_hundred")]
    limit: u32,
}

fn a_week() -> u64 {
    7 * 24 * 3600
}

fn a_hundred() -> u32 {
    100
}

impl AuditQuery {
    fn checked(self) -> ApiResult<(u64, u32)> {
        if self.since == 0 || self.since > MAX_AUDIT_SECONDS || !(1..=1000).contains(&self.limit) {
            return Err(ApiFailure::invalid(
                "since is 1 second to 100 years (in seconds), limit 1 to 1000",
            ));
        }
        Ok((self.since, self.limit))
    }
}

pub async fn app_audit(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(name): Path<String>,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> ApiResult<Json<Vec<AuditEntry>>> {
    let (since, limit) = query.checked()?;
    let app = find_app(&state, &user, &name).await?;
    Ok(Json(
        state
            .store
            .call(move |db| db.audit(Some(&app.id), since, limit))
            .await?,
    ))
}

pub async fn server_audit(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> ApiResult<Json<Vec<AuditEntry>>> {
    let (since, limit) = query.checked()?;
    Ok(Json(
        state
            .store
            .call(move |db| db.audit(None, since, limit))
            .await?,
    ))
}
