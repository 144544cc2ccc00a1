//! `/apps/{app}/formation`: how many dynos of each process type the app should run.

use axum::Json;
use axum::extract::{Path, State};
use paas_share::models::{Formation, FormationPatch, Quantity};
use paas_share::names::excerpt;

use super::{ApiFailure, ApiJson, ApiResult, AppState, CurrentUser, find_app};

pub async fn show(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(name): Path<String>,
) -> ApiResult<Json<Vec<Formation>>> {
    let app = find_app(&state, &user, &name).await?;
    Ok(Json(
        state.store.call(move |db| db.formation(&app.id)).await?,
    ))
}

/// `{"web": 2, "worker": "+1"}`: sets or changes only the named types, each of which the running
/// release must define, and starts or stops only their dynos. Relative changes apply to the
/// counts the store has when the change is recorded. Answers once the new dynos are started (`GET
/// /apps/{app}/dynos` shows them come up). Scaling records no release (DESIGN §3.4).
pub async fn update(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(name): Path<String>,
    ApiJson(patch): ApiJson<FormationPatch>,
) -> ApiResult<Json<Vec<Formation>>> {
    if patch.is_empty() {
        return Err(ApiFailure::invalid("no process types given")
            .hint("send {\"web\": 2} to run two web dynos"));
    }
    let app = find_app(&state, &user, &name).await?;
    let (app_id, limit) = (app.id.clone(), state.max_dynos_per_app);
    let formation = state
        .store
        .call(move |db| {
            let Some(types) = db.running_release(&app_id)?.map(|r| r.process_types) else {
                return Err(ApiFailure::invalid(format!(
                    "app {name:?} has no running release to scale: it has not been built, or \
                     none of its releases started"
                ))
                .hint("push code that starts (git push paas main); `paas releases` shows why the last one failed"));
            };
            if patch.contains_key(crate::scheduler::RELEASE_PHASE_TYPE) {
                return Err(ApiFailure::invalid(
                    "release is the release phase's command: it runs once per release, before \
                     the dynos start, and is not scaled",
                )
                .hint("scale the app's dyno types, such as web or worker"));
            }
            if let Some(unknown) = patch.keys().find(|t| !types.contains_key(*t)) {
                let known: Vec<&str> = types
                    .keys()
                    .map(String::as_str)
                    .filter(|t| *t != crate::scheduler::RELEASE_PHASE_TYPE)
                    .collect();
                return Err(ApiFailure::invalid(format!(
                    "unknown process type {:?}; the current release has: {}",
                    excerpt(unknown),
                    if known.is_empty() {
                        "none".to_owned()
                    } else {
                        known.join(", ")
                    }
                )));
            }
            let now = db.formation(&app_id)?;
            let mut counts = std::collections::BTreeMap::new();
            for (process_type, change) in &patch {
                let current = now
                    .iter()
                    .find(|f| f.process_type == *process_type)
                    .map_or(0, |f| f.quantity);
                let Some(count) = change.apply(current) else {
                    return Err(ApiFailure::invalid(match change {
                        Quantity::Add(n) => format!(
                            "cannot run {} dynos: this server allows at most {limit} per app",
                            u64::from(current) + u64::from(*n)
                        ),
                        _ => format!("cannot scale {process_type} below 0 (it runs {current})"),
                    }));
                };
                counts.insert(process_type.clone(), count);
            }
            let unchanged = now
                .iter()
                .filter(|f| types.contains_key(&f.process_type) && !counts.contains_key(&f.process_type))
                .map(|f| f.quantity);
            let total: u64 = counts.values().copied().chain(unchanged).map(u64::from).sum();
            if total > u64::from(limit) {
                return Err(ApiFailure::invalid(format!(
                    "cannot run {total} dynos: this server allows at most {limit} per app"
                ))
                .hint("ask the operator to raise --max-dynos-per-app"));
            }
            Ok(db.update_formation(&app_id, &counts)?)
        })
        .await?;
    // After any deploy in flight: the counts recorded above then apply to what it ran.
    super::change_dynos(&state, &app, super::DynoChange::Scale).await?;
    Ok(Json(formation))
}
