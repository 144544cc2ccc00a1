//! `/apps`: create, list, show, rename, move to another stack, and destroy apps.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use paas_share::AppName;
use paas_share::models::{App, CreateApp, Role, UpdateApp};
use paas_share::names::excerpt;

use super::guard::AuditNote;
use super::{ApiFailure, ApiJson, ApiResult, AppState, CurrentUser, RequestHost, find_app};
use crate::git;
use crate::store::{AppRecord, StoreError};

impl AppState {
    /// The API view of an app, with the URLs to push to and to browse.
    /// `app` as the API shows it to a caller with `role` on it.
    fn app_view(&self, app: AppRecord, role: Role, host: &RequestHost) -> App {
        let urls = &self.urls;
        let ssh_host = host.0.as_deref().unwrap_or(&urls.domain);
        App {
            git_url: format!("ssh://git@{ssh_host}:{}/{}.git", urls.ssh_port, app.name),
            web_url: urls.web_url(app.name.as_str()),
            id: app.id,
            name: app.name,
            owner: app.owner,
            release: app.release,
            stack: app
                .stack
                .or_else(|| crate::build::stack::default_name(&self.data)),
            created_at: app.created_at,
            updated_at: app.updated_at,
            role: Some(role),
        }
    }
}

pub async fn list(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    host: RequestHost,
) -> ApiResult<Json<Vec<App>>> {
    let apps = state.store.call(move |db| db.apps(&user)).await?;
    Ok(Json(
        apps.into_iter()
            .map(|(a, role)| state.app_view(a, role, &host))
            .collect(),
    ))
}

pub async fn create(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    host: RequestHost,
    note: AuditNote,
    ApiJson(body): ApiJson<CreateApp>,
) -> ApiResult<(StatusCode, Json<App>)> {
    // New apps get the server's default stack, and keep it when the default moves on (Heroku).
    let stack = crate::build::stack::default_name(&state.data);
    let app = state
        .store
        .call(move |db| match body.name {
            Some(name) => db.create_app(&user, &name, stack.as_deref()),
            // A generated name may collide; a few tries make that vanishingly rare.
            None => {
                let mut attempt = 0;
                loop {
                    match db.create_app(&user, &generated_name(), stack.as_deref()) {
                        Err(StoreError::AlreadyExists(_)) if attempt < 5 => attempt += 1,
                        other => break other,
                    }
                }
            }
        })
        .await?;
    let (data, id) = (state.data.clone(), app.id.clone());
    let created = tokio::task::spawn_blocking(move || git::create(&data, &id))
        .await
        .expect("repo task");
    if let Err(e) = created {
        // No app without its repo: undo the row, so that a retry starts clean.
        let id = app.id.clone();
        state.store.call(move |db| db.delete_app(&id)).await?;
        return Err(ApiFailure::internal(
            &anyhow::Error::from(e),
            "cannot create the app's repository",
        ));
    }
    tracing::info!(app = %app.name, "app created");
    note.app(&app.id, app.name.as_str());
    Ok((
        StatusCode::CREATED,
        Json(state.app_view(app, Role::Admin, &host)),
    ))
}

pub async fn info(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    granted: super::guard::Granted,
    host: RequestHost,
    Path(name): Path<String>,
) -> ApiResult<Json<App>> {
    let app = find_app(&state, &user, &name).await?;
    Ok(Json(state.app_view(app, granted.0, &host)))
}

/// `PATCH /apps/{app}`: renames the app and/or moves it to another installed stack (from its
/// next build, as Heroku's `stack:set`).
pub async fn update(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    host: RequestHost,
    Path(name): Path<String>,
    note: AuditNote,
    ApiJson(body): ApiJson<UpdateApp>,
) -> ApiResult<Json<App>> {
    note.set("change", serde_json::to_value(&body).unwrap_or_default());
    let renames = Arc::clone(&state.renames);
    let _one_rename_at_a_time = match body.name {
        Some(_) => Some(renames.lock().await),
        None => None,
    };
    let mut app = find_app(&state, &user, &name).await?;
    if body.name.is_none() && body.stack.is_none() {
        return Err(ApiFailure::invalid("nothing to change")
            .hint("send {\"name\": NEW} to rename the app or {\"stack\": NAME} to move it"));
    }
    if body.name.as_ref() == Some(&app.name) {
        return Err(
            ApiFailure::invalid(format!("the app is already named {}", app.name))
                .hint("give another name: paas apps:rename NEW -a APP"),
        );
    }
    if let Some(stack) = body.stack {
        let data = state.data.clone();
        let checked = tokio::task::spawn_blocking(move || {
            let installed = crate::build::stack::Stack::open(&data, &stack);
            (stack, installed, crate::build::stack::installed_line(&data))
        })
        .await
        .expect("the stack lookup does not panic");
        let stack = match checked {
            (stack, Ok(Some(_)), installed) if stack == crate::build::stack::SERVICES => {
                return Err(ApiFailure::invalid(format!(
                    "stack {stack} runs the add-ons' services; apps do not build on it ({installed})"
                ))
                .hint("run `paas stack` to list the stacks"));
            }
            (stack, Ok(Some(_)), _) => stack,
            (stack, Ok(None), installed) => {
                return Err(ApiFailure::invalid(format!(
                    "there is no stack {:?} on this server ({installed})",
                    excerpt(&stack)
                ))
                .hint("run `paas stack` to list the stacks"));
            }
            (_, Err(e), _) => {
                return Err(ApiFailure::invalid(format!("{e:#}"))
                    .hint("run `paas stack` to list the stacks"));
            }
        };
        let id = app.id.clone();
        app = state
            .store
            .call(move |db| db.set_app_stack(&id, &stack))
            .await?;
        tracing::info!(app = %app.name, stack = ?app.stack, "app moved to another stack");
    }
    let Some(new_name) = body.name else {
        return Ok(Json(state.app_view(app, Role::Admin, &host)));
    };
    // The scheduler may refuse (Kubernetes namespaces keep their names); then the store, which
    // refuses a name taken; only then does the route move (told first, a route took the other
    // app's hostname, then removed it when the store's refusal undid it).
    let before = app.app_ref();
    if let Err(e) = state.scheduler.can_rename(&before) {
        return Err(ApiFailure::invalid(format!("{e:#}"))
            .hint("create a new app and push the code to it, then destroy this one"));
    }
    let renamed = state
        .store
        .call({
            let new_name = new_name.clone();
            move |db| db.rename_app(&app.id, &new_name)
        })
        .await?;
    state.scheduler.renamed(&before, &new_name).await;
    tracing::info!(from = %name, to = %renamed.name, "app renamed");
    state.logs.emit(
        &renamed.id,
        "paas",
        "api",
        format!("Renamed from {name} to {} by {}", renamed.name, user.name),
    );
    Ok(Json(state.app_view(renamed, Role::Admin, &host)))
}

/// How long destroying an app waits for its cancelled push to end.
const PUSH_END_LIMIT: std::time::Duration = std::time::Duration::from_secs(10);

pub async fn destroy(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    host: RequestHost,
    Path(name): Path<String>,
) -> ApiResult<Json<App>> {
    let app = find_app(&state, &user, &name).await?;
    // Its add-ons go with it (as on Heroku), unless another app uses one.
    state
        .addons
        .destroy_owned(&app)
        .await
        .map_err(super::addons::failure)?;
    let id = app.id.clone();
    state.store.call(move |db| db.delete_app(&id)).await?;
    state.pushes.app_destroyed(&app.id);
    state.one_offs.stop_all(&app.id);
    // Its release phase in flight stops and its queued releases never run: nothing deploys
    // the app again once the scheduler has taken it down.
    let _turn = state.releases.destroying(&app.id).await;
    state.scheduler.destroy(&app.app_ref()).await;
    // Its push, cancelled (or its rollout ended above), ends before its repository goes: git
    // then ends the push with the push's own message. A push that does not end soon loses its
    // repository anyway.
    if !state.pushes.ended(&app.id, PUSH_END_LIMIT).await {
        tracing::warn!(app = %app.name, "a push to the destroyed app did not end in time");
    }
    let (data, id) = (state.data.clone(), app.id.clone());
    let removed = tokio::task::spawn_blocking(move || {
        let cache = std::fs::remove_dir_all(data.cache(&id));
        (git::remove(&data, &id), cache)
    })
    .await
    .expect("repo task");
    // The app is gone; a leftover directory named by its id harms nothing but disk.
    if let Err(e) = removed.0 {
        tracing::warn!(error = %anyhow::Error::from(e), app = %app.name, "cannot remove the app's repository");
    }
    if let Err(e) = removed.1
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(error = %e, app = %app.name, "cannot remove the app's build cache");
    }
    state.logs.forget(&app.id);
    state.metrics.forget(&app.id);
    // Its drains went with its rows: stop them now rather than at the next sync.
    if let Err(e) = state.drains.sync().await {
        tracing::warn!(error = %format!("{e:#}"), "cannot stop the app's log drains");
    }
    tracing::info!(app = %app.name, "app destroyed");
    Ok(Json(state.app_view(app, Role::Admin, &host)))
}

/// `adjective-noun-1234`, like Heroku's generated names.
fn generated_name() -> AppName {
    const ADJECTIVES: &[&str] = &[
        "amber", "brave", "calm", "dusty", "eager", "fuzzy", "gentle", "hidden", "icy", "jolly",
        "lively", "misty", "noble", "polar", "quiet", "rapid", "shiny", "sunny", "tidy", "vast",
        "warm", "young",
    ];
    const NOUNS: &[&str] = &[
        "brook", "canyon", "dawn", "ember", "fjord", "glade", "harbor", "island", "lake", "meadow",
        "oasis", "peak", "river", "shore", "summit", "thicket", "valley", "wave", "willow",
        "forest",
    ];
    let mut bytes = [0u8; 6];
    getrandom::fill(&mut bytes).expect("the OS random source is available");
    let pick = |list: &[&'static str], b: u8| list[usize::from(b) % list.len()];
    let number = u16::from_le_bytes([bytes[2], bytes[3]]) % 10_000;
    let name = format!(
        "{}-{}-{number:04}",
        pick(ADJECTIVES, bytes[0]),
        pick(NOUNS, bytes[1])
    );
    AppName::parse(&name).expect("generated names follow the app name rule")
}

#[cfg(test)]
mod tests {
    #[test]
    fn generated_names_are_valid_and_vary() {
        let names: std::collections::BTreeSet<_> =
            (0..20).map(|_| super::generated_name()).collect();
        assert!(names.len() > 1);
    }
}
