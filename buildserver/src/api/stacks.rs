//! `/stacks`: the stacks installed on the server, for `paas stack`.

use axum::Json;
use axum::extract::State;
use paas_share::models::Stack;

use super::{ApiFailure, ApiResult, AppState, CurrentUser};
use crate::build::stack;

/// `GET /stacks`: every installed stack apps can build on, by name, with its runtimes and whether
/// it is the default (Heroku's `GET /stacks`); not the add-ons' services image. Any signed-in
/// user may list them.
pub async fn list(
    State(state): State<AppState>,
    CurrentUser(_): CurrentUser,
) -> ApiResult<Json<Vec<Stack>>> {
    let data = state.data.clone();
    let listed = tokio::task::spawn_blocking(move || {
        let default = stack::default_name(&data);
        stack::installed(&data).map(|stacks| {
            stacks
                .into_iter()
                .filter(|s| s.name != stack::SERVICES)
                .map(|s| Stack {
                    default: default.as_deref() == Some(s.name.as_str()),
                    python: s.runtimes().python.clone(),
                    node: s.runtimes().node.clone(),
                    name: s.name,
                })
                .collect()
        })
    })
    .await
    .expect("listing the stacks does not panic")
    .map_err(|e| ApiFailure::internal(&e, "cannot list the stacks"))?;
    Ok(Json(listed))
}
