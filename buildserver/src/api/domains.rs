//! Custom domains, certificates and router settings: `GET|POST /apps/{app}/domains`,
//! `GET|DELETE /apps/{app}/domains/{hostname}`, `GET|POST /apps/{app}/certs`,
//! `DELETE /apps/{app}/certs/{cert}`, `GET|PATCH /apps/{app}/router` (Heroku's Domain, SNI
//! Endpoint and ACM). No route answers with a private key.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use paas_share::models::{
    Certificate, CreateCertificate, CreateDomain, Domain, RouterSettings, UpdateRouterSettings,
};

use super::{ApiFailure, ApiJson, ApiResult, AppState, CurrentUser, find_app};
use crate::domains::DomainError;

pub async fn list(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(app): Path<String>,
) -> ApiResult<Json<Vec<Domain>>> {
    let app = find_app(&state, &user, &app).await?;
    Ok(Json(state.domains.list(&app).await.map_err(failure)?))
}

pub async fn add(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(app): Path<String>,
    note: super::guard::AuditNote,
    ApiJson(body): ApiJson<CreateDomain>,
) -> ApiResult<(StatusCode, Json<Domain>)> {
    note.set("hostname", paas_share::names::excerpt(&body.hostname));
    let app = find_app(&state, &user, &app).await?;
    let domain = state
        .domains
        .add(&app, &user, &body.hostname)
        .await
        .map_err(failure)?;
    tracing::info!(app = %app.name, domain = %domain.hostname, user = %user.name, "domain added");
    Ok((StatusCode::CREATED, Json(domain)))
}

pub async fn info(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path((app, hostname)): Path<(String, String)>,
) -> ApiResult<Json<Domain>> {
    let app = find_app(&state, &user, &app).await?;
    state
        .domains
        .find(&app, &hostname)
        .await
        .map_err(failure)?
        .map(Json)
        .ok_or_else(|| {
            ApiFailure::not_found(format!(
                "app {} has no domain {}",
                app.name,
                paas_share::names::excerpt(&hostname)
            ))
            .hint("`paas domains` lists them; `paas domains:add HOST` adds one")
        })
}

pub async fn remove(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path((app, hostname)): Path<(String, String)>,
) -> ApiResult<Json<Domain>> {
    let app = find_app(&state, &user, &app).await?;
    let domain = state
        .domains
        .remove(&app, &hostname)
        .await
        .map_err(failure)?;
    tracing::info!(app = %app.name, domain = %domain.hostname, user = %user.name, "domain removed");
    Ok(Json(domain))
}

pub async fn certs(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(app): Path<String>,
) -> ApiResult<Json<Vec<Certificate>>> {
    let app = find_app(&state, &user, &app).await?;
    Ok(Json(state.domains.certs(&app).await.map_err(failure)?))
}

pub async fn add_cert(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(app): Path<String>,
    ApiJson(body): ApiJson<CreateCertificate>,
) -> ApiResult<(StatusCode, Json<Certificate>)> {
    let app = find_app(&state, &user, &app).await?;
    let cert = state
        .domains
        .add_cert(&app, &body.certificate_chain, &body.private_key)
        .await
        .map_err(failure)?;
    tracing::info!(app = %app.name, cert = %cert.name, user = %user.name, "certificate added");
    Ok((StatusCode::CREATED, Json(cert)))
}

pub async fn remove_cert(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path((app, cert)): Path<(String, String)>,
) -> ApiResult<Json<Certificate>> {
    let app = find_app(&state, &user, &app).await?;
    let cert = state
        .domains
        .remove_cert(&app, &cert)
        .await
        .map_err(failure)?;
    tracing::info!(app = %app.name, cert = %cert.name, user = %user.name, "certificate removed");
    Ok(Json(cert))
}

pub async fn settings(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(app): Path<String>,
) -> ApiResult<Json<RouterSettings>> {
    let app = find_app(&state, &user, &app).await?;
    Ok(Json(state.domains.settings(&app).await.map_err(failure)?))
}

pub async fn update_settings(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(app): Path<String>,
    ApiJson(body): ApiJson<UpdateRouterSettings>,
) -> ApiResult<Json<RouterSettings>> {
    let app = find_app(&state, &user, &app).await?;
    let settings = state
        .domains
        .update_settings(&app, body)
        .await
        .map_err(failure)?;
    tracing::info!(app = %app.name, ?settings, user = %user.name, "router settings changed");
    Ok(Json(settings))
}

fn failure(e: DomainError) -> ApiFailure {
    match e {
        DomainError::Invalid(message) => ApiFailure::invalid(message),
        taken @ DomainError::Taken(_) => {
            ApiFailure::new(StatusCode::CONFLICT, "conflict", taken.to_string())
        }
        DomainError::NotFound(message) => ApiFailure::not_found(message),
        DomainError::Store(e) => e.into(),
        DomainError::Publish(e) => {
            ApiFailure::internal(&e, "cannot publish the app's domains and certificates")
        }
    }
}
