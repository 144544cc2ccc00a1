//! Release rules shared by every way a release is made (DESIGN §3.4): how each release describes
//! itself, and what happens when one is run.

use paas_share::models::ConfigPatch;

use crate::scheduler::{Deployment, Scheduler};
use crate::store::Store;

/// Runs a release; one that does not start is marked failed, the scheduler has left the previous
/// release serving, and that release's config is the app's config again. The error says why (with
/// the dyno's last log lines).
pub async fn deploy(
    store: &Store,
    scheduler: &dyn Scheduler,
    deployment: &Deployment,
) -> anyhow::Result<()> {
    let Err(e) = scheduler.deploy(deployment).await else {
        return Ok(());
    };
    let (app_id, version) = (deployment.app_id.clone(), deployment.release);
    if let Err(store_error) = store
        .call(move |db| db.fail_release(&app_id, version))
        .await
    {
        tracing::error!(error = %anyhow::Error::from(store_error), "cannot mark the release failed");
    }
    Err(e)
}

/// "Set A, B config vars", "Remove C config vars", or "Set A and remove C config vars".
pub fn config_change_description(patch: &ConfigPatch) -> String {
    let set: Vec<&str> = patch
        .iter()
        .filter(|(_, v)| v.is_some())
        .map(|(k, _)| k.as_str())
        .collect();
    let removed: Vec<&str> = patch
        .iter()
        .filter(|(_, v)| v.is_none())
        .map(|(k, _)| k.as_str())
        .collect();
    match (set.is_empty(), removed.is_empty()) {
        (false, true) => format!("Set {} config vars", set.join(", ")),
        (true, false) => format!("Remove {} config vars", removed.join(", ")),
        _ => format!(
            "Set {} and remove {} config vars",
            set.join(", "),
            removed.join(", ")
        ),
    }
}

/// The log line a new release writes: `Release v5 created by alice: Set GREETING config vars`.
pub fn event(release: &paas_share::models::Release, user: &paas_share::UserName) -> String {
    format!(
        "Release v{} created by {user}: {}",
        release.version, release.description
    )
}

pub fn rollback_description(version: u32) -> String {
    format!("Rollback to v{version}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions() {
        let patch = |pairs: &[(&str, Option<&str>)]| -> ConfigPatch {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.map(str::to_owned)))
                .collect()
        };
        assert_eq!(
            config_change_description(&patch(&[("B", Some("1")), ("A", Some("2"))])),
            "Set A, B config vars"
        );
        assert_eq!(
            config_change_description(&patch(&[("A", None)])),
            "Remove A config vars"
        );
        assert_eq!(
            config_change_description(&patch(&[("A", Some("1")), ("B", None)])),
            "Set A and remove B config vars"
        );
        assert_eq!(rollback_description(3), "Rollback to v3");
    }
}
