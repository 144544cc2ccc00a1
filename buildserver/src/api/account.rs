//! `/account` and `/account/keys`: who the caller is, and the SSH keys they push with.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use paas_share::models::{Account, AddKey, SshKey};

use super::{ApiFailure, ApiJson, ApiResult, AppState, CurrentUser};
use crate::store::PublicKey;

/// Who the caller is, with the limits of the scoped token the request came with.
pub async fn show(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
) -> ApiResult<Json<Account>> {
    let max_age = state.token_max_age;
    Ok(Json(
        state
            .store
            .call(move |db| {
                let mut account = db.account(&user.id)?;
                if user.scoped() {
                    account.token = db.tokens(&user, max_age)?.into_iter().find(|t| t.current);
                }
                Ok::<_, crate::store::StoreError>(account)
            })
            .await?,
    ))
}

pub async fn list_keys(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
) -> ApiResult<Json<Vec<SshKey>>> {
    Ok(Json(state.store.call(move |db| db.keys(&user.id)).await?))
}

pub async fn add_key(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    note: super::guard::AuditNote,
    ApiJson(body): ApiJson<AddKey>,
) -> ApiResult<(StatusCode, Json<SshKey>)> {
    let key = PublicKey::parse(&body.public_key).map_err(|e| ApiFailure::invalid(e.to_string()))?;
    note.set("fingerprint", key.fingerprint.as_str());
    let added = state
        .store
        .call(move |db| db.add_key(&user.id, &key))
        .await?;
    tracing::info!(fingerprint = %added.fingerprint, "ssh key added");
    Ok((StatusCode::CREATED, Json(added)))
}

pub async fn remove_key(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(fingerprint): Path<String>,
) -> ApiResult<StatusCode> {
    let (fp, who) = (fingerprint.clone(), user.name.clone());
    if state
        .store
        .call(move |db| db.remove_key(&user.id, &fp))
        .await?
    {
        tracing::info!(fingerprint = %fingerprint, user = %who, "ssh key removed");
        Ok(StatusCode::NO_CONTENT)
    } else {
        // The path is the caller's text: a fingerprint is 50 characters, more is cut.
        let shown: String = fingerprint.chars().take(60).collect();
        let cut = if shown.len() < fingerprint.len() {
            "…"
        } else {
            ""
        };
        Err(
            ApiFailure::not_found(format!("you have no key with fingerprint {shown}{cut}"))
                .hint("run `paas keys` to list your keys"),
        )
    }
}
