//! Release rules shared by every way a release is made (DESIGN §3.4, §5): how each release
//! describes itself, and how releases run — one app at a time, in version order, through the
//! states `pending → deploying → succeeded | failed`.

use std::sync::Arc;
use std::time::Duration;

use paas_share::models::{ConfigPatch, Release, ReleaseStatus};
use tokio::sync::mpsc;

use crate::container::Exit;
use crate::logs::Logs;
use crate::scheduler::{AppLocks, Deployment, Scheduler};
use crate::store::{Store, StoreError};

/// What the server says of a release it found `pending` or `deploying` at start.
pub const INTERRUPTED: &str = "interrupted: the server stopped before this release was up";

/// The most of a release phase's output kept with the release (its log lines all go to the
/// app's log).
const RELEASE_OUTPUT_LIMIT: usize = 1024 * 1024;

/// Runs releases on the scheduler and records their states. Deploys of one app are applied one
/// at a time and in version order: a release older than the one running is never deployed over
/// it (it is marked succeeded, as the newer release includes its changes). A release whose
/// Procfile has a `release` command runs it first, once, as one-off dyno `release.N` of its
/// image with its config (Heroku's release phase); the release deploys only if it exits 0.
pub struct Deployer {
    store: Store,
    scheduler: Arc<dyn Scheduler>,
    logs: Logs,
    release_timeout: Duration,
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

/// Why a release did not go live; it is recorded as failed with this reason, and the previous
/// release keeps serving with its config.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// The release command exited non-zero, timed out or could not run.
    #[error("the release phase failed: {0}")]
    ReleasePhase(String),
    /// The new dynos did not come up (with the dyno's last log lines).
    #[error("{0:#}")]
    Start(anyhow::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Deployer {
    /// `release_timeout` bounds the release phase (`--release-timeout`).
    pub fn new(
        store: Store,
        scheduler: Arc<dyn Scheduler>,
        logs: Logs,
        release_timeout: Duration,
    ) -> Self {
        Self {
            store,
            scheduler,
            logs,
            release_timeout,
            turns: AppLocks::default(),
        }
    }

    /// Runs `release` of app `app_id` (named `app`) with the app's formation: its release phase
    /// if it has one, then its dynos, health-gated. A release that does not go live is marked
    /// failed with the reason, the scheduler has left the previous release serving, and that
    /// release's config is the app's config again. `progress` gets the release phase's output
    /// (for a push).
    pub async fn deploy(
        &self,
        app_id: &str,
        app: &str,
        release: &Release,
        progress: Option<&mpsc::Sender<String>>,
    ) -> Result<Deployed, DeployError> {
        let _turn = self.turns.lock(app_id).await;
        let (id, version) = (app_id.to_owned(), release.version);
        let (running, formation) = self
            .store
            .call(move |db| Ok::<_, StoreError>((db.running_release(&id)?, db.formation(&id)?)))
            .await?;
        let outcome = match (running, Deployment::of(app_id, app, release, &formation)) {
            (Some(running), _) if running.version > version => {
                Deployed::Superseded(running.version)
            }
            (_, None) => Deployed::NothingToRun,
            (_, Some(deployment)) => {
                if let Some(command) = &deployment.release_command
                    && let Err(reason) = self.release_phase(&deployment, command, progress).await
                {
                    self.fail(app_id, version, format!("release phase: {reason}"))
                        .await;
                    return Err(DeployError::ReleasePhase(reason));
                }
                self.set(app_id, version, ReleaseStatus::Deploying).await?;
                if let Err(e) = self.scheduler.deploy(&deployment).await {
                    self.fail(app_id, version, format!("{e:#}")).await;
                    return Err(DeployError::Start(e));
                }
                Deployed::Up
            }
        };
        self.set(app_id, version, ReleaseStatus::Succeeded).await?;
        Ok(outcome)
    }

    /// Runs the release command as `release.N`; its lines go to the app's log, to `progress`
    /// and (up to [`RELEASE_OUTPUT_LIMIT`]) to the release's stored output. `Err` says why it
    /// failed.
    async fn release_phase(
        &self,
        deployment: &Deployment,
        command: &str,
        progress: Option<&mpsc::Sender<String>>,
    ) -> Result<(), String> {
        let name = format!("release.{}", deployment.release);
        let say = |line: String| async move {
            if let Some(progress) = progress {
                let _ = progress.send(line).await;
            }
        };
        say(format!("-----> Running release command: {command}")).await;
        let (tx, mut rx) = mpsc::channel::<String>(256);
        let run = self
            .scheduler
            .run_once(deployment, &name, command, self.release_timeout, tx);
        tokio::pin!(run);
        let mut output = String::new();
        let mut keep = |line: &str| {
            if output.len() + line.len() < RELEASE_OUTPUT_LIMIT {
                output.push_str(line);
                output.push('\n');
            } else if !output.ends_with("[output truncated]\n") {
                output.push_str("[output truncated]\n");
            }
        };
        let outcome = loop {
            tokio::select! {
                Some(line) = rx.recv() => {
                    self.logs.emit(&deployment.app_id, "app", &name, &line);
                    keep(&line);
                    say(format!("       {line}")).await;
                }
                outcome = &mut run => break outcome,
            }
        };
        while let Ok(line) = rx.try_recv() {
            self.logs.emit(&deployment.app_id, "app", &name, &line);
            keep(&line);
            say(format!("       {line}")).await;
        }
        let (id, version) = (deployment.app_id.clone(), deployment.release);
        if let Err(e) = self
            .store
            .call(move |db| db.set_release_output(&id, version, &output))
            .await
        {
            tracing::error!(error = %anyhow::Error::from(e), "cannot store the release phase's output");
        }
        let timeout = self.release_timeout.as_secs();
        match outcome {
            Ok(o) if o.oom_killed && o.exit != Exit::Code(0) => {
                Err("the release command ran out of memory".to_owned())
            }
            Ok(o) => match o.exit {
                Exit::Code(0) => {
                    say("-----> Release command done".to_owned()).await;
                    Ok(())
                }
                Exit::Code(code) => Err(format!("the release command exited with status {code}")),
                Exit::Signal(signal) => {
                    Err(format!("the release command was killed by signal {signal}"))
                }
                Exit::TimedOut => Err(format!(
                    "the release command ran longer than {timeout}s (--release-timeout) and was stopped"
                )),
            },
            Err(e) => Err(format!("{e:#}")),
        }
    }

    async fn set(
        &self,
        app_id: &str,
        version: u32,
        status: ReleaseStatus,
    ) -> Result<(), StoreError> {
        let id = app_id.to_owned();
        self.store
            .call(move |db| db.set_release_status(&id, version, status))
            .await
    }

    async fn fail(&self, app_id: &str, version: u32, reason: String) {
        let id = app_id.to_owned();
        if let Err(e) = self
            .store
            .call(move |db| db.fail_release(&id, version, &reason))
            .await
        {
            tracing::error!(error = %anyhow::Error::from(e), "cannot mark the release failed");
        }
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
