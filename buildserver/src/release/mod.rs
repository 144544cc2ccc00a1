//! Release rules shared by every way a release is made (DESIGN §3.4, §5): how each release
//! describes itself, and how releases run — one app at a time, in version order, through the
//! states `pending → deploying → succeeded | failed`.

use std::sync::Arc;

use paas_share::models::{ConfigPatch, Release, ReleaseStatus};

use crate::scheduler::{AppLocks, Deployment, Scheduler};
use crate::store::Store;

/// What the server says of a release it found `pending` or `deploying` at start.
pub const INTERRUPTED: &str = "interrupted: the server stopped before this release was up";

/// Runs releases on the scheduler and records their states. Deploys of one app are applied one
/// at a time and in version order: a release older than the one running is never deployed over
/// it (it is marked succeeded, as the newer release includes its changes).
pub struct Deployer {
    store: Store,
    scheduler: Arc<dyn Scheduler>,
    turns: AppLocks,
}

/// How a deploy ended well.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deployed {
    /// The release runs.
    Up,
    /// The release has no build (a config change before the first push): nothing to run.
    NothingToRun,
    /// A newer release (this version) already runs and includes this one's changes.
    Superseded(u32),
}

impl Deployer {
    pub fn new(store: Store, scheduler: Arc<dyn Scheduler>) -> Self {
        Self {
            store,
            scheduler,
            turns: AppLocks::default(),
        }
    }

    /// Runs `release` of app `app_id` (named `app`) with the app's formation, health-gated. A
    /// release that does not start is marked failed with the reason, the scheduler has left the
    /// previous release serving, and that release's config is the app's config again; the error
    /// says why (with the dyno's last log lines).
    pub async fn deploy(
        &self,
        app_id: &str,
        app: &str,
        release: &Release,
    ) -> anyhow::Result<Deployed> {
        let _turn = self.turns.lock(app_id).await;
        let (id, version) = (app_id.to_owned(), release.version);
        let (running, formation) = self
            .store
            .call(move |db| {
                Ok::<_, crate::store::StoreError>((db.running_release(&id)?, db.formation(&id)?))
            })
            .await?;
        let outcome = match (running, Deployment::of(app_id, app, release, &formation)) {
            (Some(running), _) if running.version > version => {
                Deployed::Superseded(running.version)
            }
            (_, None) => Deployed::NothingToRun,
            (_, Some(deployment)) => {
                self.set(app_id, version, ReleaseStatus::Deploying).await?;
                if let Err(e) = self.scheduler.deploy(&deployment).await {
                    let (id, reason) = (app_id.to_owned(), format!("{e:#}"));
                    if let Err(store_error) = self
                        .store
                        .call(move |db| db.fail_release(&id, version, &reason))
                        .await
                    {
                        tracing::error!(error = %anyhow::Error::from(store_error), "cannot mark the release failed");
                    }
                    return Err(e);
                }
                Deployed::Up
            }
        };
        self.set(app_id, version, ReleaseStatus::Succeeded).await?;
        Ok(outcome)
    }

    async fn set(&self, app_id: &str, version: u32, status: ReleaseStatus) -> anyhow::Result<()> {
        let id = app_id.to_owned();
        Ok(self
            .store
            .call(move |db| db.set_release_status(&id, version, status))
            .await?)
    }
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
